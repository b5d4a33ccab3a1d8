//! Log output: human-readable lines by default, JSON for log collectors.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use bfd_core::{Diagnostic, State};
use tracing::info;

use crate::config::{LogFormat, PeerConfig};

/// Installs the global subscriber. `RUST_LOG` overrides the default `info` level.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// The one line per state change operators grep for (FRR's `state-change:` line).
pub fn state_change(config: &PeerConfig, old: State, new: State, diag: Diagnostic) {
    let l = crate::peers::labels(config);
    let local = if l.local.is_empty() {
        "-"
    } else {
        l.local.as_str()
    };
    let interface = if l.interface.is_empty() {
        "-"
    } else {
        l.interface.as_str()
    };
    info!(
        peer = %l.peer,
        local,
        interface,
        old = %old,
        new = %new,
        diag = %diag,
        "state-change: [mhop:{} peer:{} local:{} interface:{}] {} -> {} ({})",
        if config.multihop { "yes" } else { "no" },
        l.peer,
        local,
        interface,
        old,
        new,
        diag
    );
}
