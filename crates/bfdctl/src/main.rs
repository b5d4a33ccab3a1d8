//! `bfdctl`: the command-line client of bfdd.
//!
//! Every read command talks to bfdd's control socket (one JSON request line, one JSON response
//! line, see `bfd-control`) and has a `--json` form with stable field names. Exit codes are part
//! of the interface, so that probes and scripts can rely on them:
//!
//! * 0: success, or the queried state is healthy;
//! * 1: the queried state is negative (a session not Up, not ready, a request bfdd refused);
//! * 2: usage error, or bfdd could not be reached or answered nonsense.
//!
//! A closed stdout (`bfdctl peers | head -1`) ends the program quietly with 0.

mod client;
mod cmd;
mod error;
mod format;
mod output;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::client::Client;

/// Query and control bfdd, the BFD daemon.
///
/// Exit status: 0 ok or healthy, 1 the queried state is negative (probes), 2 usage error or bfdd
/// not reachable.
#[derive(Debug, Parser)]
#[command(
    name = "bfdctl",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    /// bfdd's control socket (empty: the default, as bfdd reads an empty BFDD_SOCKET).
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        env = bfd_control::SOCKET_ENV,
        default_value = bfd_control::DEFAULT_SOCKET,
        value_parser = clap::value_parser!(OsString)
    )]
    socket: OsString,

    /// How long to wait for bfdd's answer: "2s", "500ms" or plain seconds [default: 2s;
    /// reload: 15s].
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        value_parser = format::parse_timeout
    )]
    timeout: Option<Duration>,

    #[command(subcommand)]
    command: Command,
}

/// The subcommands; each lives in its own module under `cmd/`.
#[derive(Debug, Subcommand)]
enum Command {
    /// List every BFD session, one line each (like FRR's `show bfd peers brief`).
    ///
    /// With --check, exit 0 only when every session is Up (--any: at least one), sessions shut
    /// down in the configuration left out, else print the sessions that are not Up and exit 1;
    /// usable as a readiness or liveness probe.
    Peers(cmd::peers::Args),
    /// Show one session in full (like FRR's `show bfd peer ADDRESS`).
    Peer(cmd::peer::Args),
    /// Exit 0 when bfdd has its configuration loaded and sockets bound, 1 when not yet.
    Ready(cmd::ready::Args),
    /// Make bfdd re-read its configuration file; prints what changed.
    Reload(cmd::reload::Args),
    /// Print bfdctl's version and, when reachable, bfdd's.
    Version(cmd::version::Args),
    /// List the configured routes and whether each is installed.
    Routes(cmd::routes::Args),
    /// Convert an FRR frr.conf (bfd peers, profiles, static routes) into bfdd.toml on stdout.
    ///
    /// Every line that cannot be converted is reported on stderr with its line number, and the
    /// exit status is then 1 (the TOML is still printed); irrelevant boilerplate (hostname, log,
    /// service, password, debug, line vty, ...) is ignored silently.
    ImportFrr(cmd::import_frr::Args),
}

/// The wait for an answer when `--timeout` is not given.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// A reload waits longer: bfdd itself gives up on a held-up reload after 10 s and says whether
/// it may still apply, which a shorter wait would hide behind "did not answer".
const RELOAD_TIMEOUT: Duration = Duration::from_secs(15);

impl Cli {
    fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(match self.command {
            Command::Reload(_) => RELOAD_TIMEOUT,
            _ => DEFAULT_TIMEOUT,
        })
    }
}

fn main() -> ExitCode {
    run(std::env::args_os())
}

fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // Help and --version go to stdout with status 0; usage errors to stderr with 2.
            // A failure to print them (closed pipe) changes nothing worth reporting.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    // A template that renders `BFDD_SOCKET: ""` must not break every probe.
    let socket = if cli.socket.is_empty() {
        PathBuf::from(bfd_control::DEFAULT_SOCKET)
    } else {
        PathBuf::from(&cli.socket)
    };
    let client = Client::new(socket, cli.timeout());
    let result = match cli.command {
        Command::Peers(args) => cmd::peers::run(&client, &args),
        Command::Peer(args) => cmd::peer::run(&client, &args),
        Command::Ready(args) => cmd::ready::run(&client, &args),
        Command::Reload(args) => cmd::reload::run(&client, &args),
        Command::Version(args) => cmd::version::run(&client, &args),
        Command::Routes(args) => cmd::routes::run(&client, &args),
        Command::ImportFrr(args) => cmd::import_frr::run(&args),
    };
    match result {
        Ok(status) => status.exit_code(),
        Err(e) => e.report(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn timeout_and_socket_are_global() {
        let cli = Cli::try_parse_from([
            "bfdctl",
            "peers",
            "--socket",
            "/tmp/x.sock",
            "--timeout",
            "250ms",
        ])
        .unwrap();
        assert_eq!(cli.socket, PathBuf::from("/tmp/x.sock"));
        assert_eq!(cli.timeout(), Duration::from_millis(250));
    }

    /// A reload outwaits bfdd's own 10 s limit, so its "may still be applied" is heard; an
    /// explicit --timeout still rules.
    #[test]
    fn reload_waits_longer_than_bfdd_does_unless_told() {
        let timeout = |args: &[&str]| Cli::try_parse_from(args).unwrap().timeout();
        assert_eq!(timeout(&["bfdctl", "peers"]), Duration::from_secs(2));
        assert_eq!(timeout(&["bfdctl", "ready"]), Duration::from_secs(2));
        assert_eq!(timeout(&["bfdctl", "reload"]), Duration::from_secs(15));
        assert_eq!(
            timeout(&["bfdctl", "reload", "--timeout", "1s"]),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn check_conflicts_with_json() {
        assert!(Cli::try_parse_from(["bfdctl", "peers", "--check", "--json"]).is_err());
        assert!(Cli::try_parse_from(["bfdctl", "peers", "--any"]).is_err());
        assert!(Cli::try_parse_from(["bfdctl", "peers", "--check", "--any"]).is_ok());
        assert!(Cli::try_parse_from(["bfdctl", "peers", "--format", "frr"]).is_ok());
        assert!(Cli::try_parse_from(["bfdctl", "peers", "--format", "frr", "--json"]).is_err());
    }
}
