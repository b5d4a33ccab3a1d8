//! `bfdctl version`: both versions, whether or not bfdd is reachable.

use bfd_control::{Request, Response};
use serde::Serialize;

use crate::client::{unexpected, Client};
use crate::error::{eprint_line, Error, Status};
use crate::output::{print, print_json};

/// Options of `bfdctl version`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print {"bfdctl": "X.Y.Z", "bfdd": "X.Y.Z" or null} as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Versions<'a> {
    bfdctl: &'a str,
    bfdd: Option<String>,
}

/// Runs `bfdctl version`; always exits 0 (unless stdout fails).
pub fn run(client: &Client, args: &Args) -> Result<Status, Error> {
    let daemon = match client.ask(&Request::Version) {
        Ok(Response::Version { version }) => Ok(version),
        Ok(other) => Err(unexpected("version", &other)),
        Err(e) => Err(e),
    };
    let versions = Versions {
        bfdctl: env!("CARGO_PKG_VERSION"),
        bfdd: daemon.as_ref().ok().cloned(),
    };
    if args.json {
        print_json(&versions)?;
    } else {
        let daemon_line = match &versions.bfdd {
            Some(v) => format!("bfdd {v}"),
            None => "bfdd: not reachable".to_owned(),
        };
        print(&format!("bfdctl {}\n{daemon_line}\n", versions.bfdctl))?;
    }
    if let Err(e) = daemon {
        eprint_line(&format!("bfdctl: {e}"));
    }
    Ok(Status::Success)
}
