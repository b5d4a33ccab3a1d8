//! `bfdctl reload`: make bfdd re-read its configuration.

use bfd_control::{Request, Response};

use crate::client::{unexpected, Client};
use crate::error::{eprint_line, Error, Status};
use crate::output::{print, print_json};

/// Options of `bfdctl reload`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print what changed as JSON (fields: added, removed, changed, unchanged, and
    /// restart_needed when `[daemon]` settings changed).
    #[arg(long)]
    pub json: bool,
}

/// Runs `bfdctl reload`. A configuration bfdd refuses is reported on stderr with exit 1; bfdd
/// then keeps running with the previous one. Changed `[daemon]` settings, which wait for a
/// restart, are named on stderr; the rest of the reload took effect, so the exit is 0.
pub fn run(client: &Client, args: &Args) -> Result<Status, Error> {
    let summary = match client.ask(&Request::Reload)? {
        Response::Reloaded(summary) => summary,
        other => return Err(unexpected("reload", &other)),
    };
    if args.json {
        print_json(&summary)?;
    } else {
        print(&format!(
            "reloaded: {} added, {} removed, {} changed, {} unchanged\n",
            summary.added, summary.removed, summary.changed, summary.unchanged
        ))?;
    }
    if !summary.restart_needed.is_empty() {
        eprint_line(&format!(
            "bfdctl: not applied until bfdd restarts: {}",
            summary.restart_needed.join(", ")
        ));
    }
    Ok(Status::Success)
}
