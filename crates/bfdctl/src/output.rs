//! Writing to stdout without `println!`, whose panic on a closed pipe would turn
//! `bfdctl peers | head -1` into a crash.

use std::io::{self, Write};

use serde::Serialize;

use crate::error::{Error, Status};

/// Writes `text` to stdout and flushes; a closed stdout comes back as [`Error::Stdout`], which
/// exits 0 quietly when it is a broken pipe.
pub fn print(text: &str) -> Result<(), Error> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Error::Stdout)
}

/// Prints `value` as pretty JSON followed by a newline.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<(), Error> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::Usage(format!("cannot encode JSON: {e}")))?;
    text.push('\n');
    print(&text)
}

/// A probe's verdict after printing its answer with `printed`: a reader that stopped reading
/// (`bfdctl peers --check | head -1`) does not turn a failed check into a passed one.
pub fn keep_verdict(printed: Result<(), Error>, verdict: Status) -> Result<Status, Error> {
    match printed {
        Err(Error::Stdout(e)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(verdict),
        other => other.map(|()| verdict),
    }
}
