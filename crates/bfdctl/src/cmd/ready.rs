//! `bfdctl ready`: a readiness probe.

use bfd_control::{Request, Response};

use crate::client::{unexpected, Client};
use crate::error::{Error, Status};
use crate::output::{keep_verdict, print, print_json};

/// Options of `bfdctl ready`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the answer as JSON (fields: ready, config, sessions, and problem when
    /// the daemon knows why it is not ready); the exit status is the same.
    #[arg(long)]
    pub json: bool,
}

/// Runs `bfdctl ready`: exit 0 when ready, 1 when not (yet), 2 when bfdd is unreachable.
pub fn run(client: &Client, args: &Args) -> Result<Status, Error> {
    let status = match client.ask(&Request::Ready)? {
        Response::Ready(status) => status,
        other => return Err(unexpected("ready", &other)),
    };
    let printed = if args.json {
        print_json(&status)
    } else {
        print(&format!(
            "{}: {} sessions, config {}{}\n",
            if status.ready { "ready" } else { "not ready" },
            status.sessions,
            status.config,
            status
                .problem
                .as_deref()
                .map_or(String::new(), |p| format!(" ({p})"))
        ))
    };
    let verdict = if status.ready {
        Status::Success
    } else {
        Status::Negative
    };
    keep_verdict(printed, verdict)
}
