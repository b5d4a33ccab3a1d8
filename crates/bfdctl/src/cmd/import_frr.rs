//! `bfdctl import-frr FILE`: frr.conf in, bfdd.toml out.
//!
//! Converted: the `bfd` block (peers with multihop, local-address, interface, receive-interval,
//! transmit-interval, detect-multiplier, passive-mode, shutdown, minimum-ttl and profiles) and
//! static routes (`ip route` / `ipv6 route` via a gateway, with or without `bfd`). Reported on
//! stderr with their line number, and exit status 1: everything else that changes behaviour
//! (echo mode, VRFs, interface-only routes, distances, other daemons' blocks, ...). Ignored
//! silently: boilerplate that only concerns FRR itself (version, hostname, logging, services,
//! passwords, debug switches, `line vty`).

mod emit;
mod parse;

use std::io::Read;
use std::path::PathBuf;

use crate::error::{eprint_line, os_reason, Error, Status};
use crate::output::{keep_verdict, print};

/// Options of `bfdctl import-frr`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The frr.conf to convert, or "-" for stdin.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// Runs `bfdctl import-frr`.
pub fn run(args: &Args) -> Result<Status, Error> {
    let stdin = args.file.as_os_str() == "-";
    let source = if stdin {
        "stdin".to_owned()
    } else {
        args.file.display().to_string()
    };
    let mut bytes = Vec::new();
    let read = if stdin {
        std::io::stdin().lock().read_to_end(&mut bytes).map(|_| ())
    } else {
        std::fs::read(&args.file).map(|b| bytes = b)
    };
    read.map_err(|e| Error::Read {
        path: source.clone(),
        reason: os_reason(&e),
    })?;
    let text = String::from_utf8_lossy(&bytes);

    // Comments in the TOML name the file only: it will live on another path, or machine.
    let label = args
        .file
        .file_name()
        .filter(|_| !stdin)
        .map_or_else(|| source.clone(), |n| n.to_string_lossy().into_owned());
    let frr = parse::parse(&text);
    let converted = emit::convert(&frr, &label);
    let mut problems = frr.problems;
    problems.extend(converted.problems);
    problems.sort_by_key(|p| p.line);

    // A reader that stops early (`| grep -q`) takes nothing from the verdict: the lines not
    // converted are reported and the exit status says so all the same.
    let printed = print(&converted.toml);
    for p in &problems {
        let block = match p.block_end {
            Some(end) if end > p.line => format!(" (block to line {end})"),
            _ => String::new(),
        };
        eprint_line(&format!(
            "{source}:{}: cannot convert \"{}\"{block}: {}",
            p.line, p.text, p.reason
        ));
    }
    let verdict = if problems.is_empty() {
        Status::Success
    } else {
        eprint_line(&format!(
            "bfdctl: {} line(s) of {source} not converted; review them before using the result",
            problems.len()
        ));
        Status::Negative
    };
    keep_verdict(printed, verdict)
}
