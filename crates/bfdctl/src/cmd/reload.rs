//! `bfdctl reload`: make bfdd re-read its configuration.

use bfd_control::{Request, Response};

use crate::client::{unexpected, Client};
use crate::error::{Error, Status};
use crate::output::{print, print_json};

/// Options of `bfdctl reload`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print what changed as JSON (fields: added, removed, changed, unchanged).
    #[arg(long)]
    pub json: bool,
}

/// Runs `bfdctl reload`. A configuration bfdd refuses is reported on stderr with exit 1; bfdd
/// then keeps running with the previous one.
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
    Ok(Status::Success)
}
