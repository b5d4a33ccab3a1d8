//! What can go wrong, and which exit status each failure maps to.

use std::io::{self, Write};
use std::process::ExitCode;

/// Exit status for a negative answer (probes).
pub const EXIT_NEGATIVE: u8 = 1;
/// Exit status for usage and connection errors.
pub const EXIT_ERROR: u8 = 2;

/// How a command that ran to its end went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Exit 0: done, or the queried state is healthy.
    Success,
    /// Exit 1: the queried state is negative; the command already said why.
    Negative,
}

impl Status {
    /// The process exit code.
    pub fn exit_code(self) -> ExitCode {
        match self {
            Status::Success => ExitCode::SUCCESS,
            Status::Negative => ExitCode::from(EXIT_NEGATIVE),
        }
    }
}

/// A failure; its `Display` is the one-line message printed after `bfdctl: `.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The socket could not be connected to.
    #[error("cannot reach bfdd at {socket}: {reason} ({hint})")]
    Connect {
        /// Socket path.
        socket: String,
        /// The OS error, without its errno suffix.
        reason: String,
        /// What to do about it.
        hint: &'static str,
    },
    /// bfdd closed the connection before answering.
    #[error("bfdd at {socket} closed the connection without answering (check bfdd's log)")]
    Closed {
        /// Socket path.
        socket: String,
    },
    /// bfdd closed the connection in mid-answer.
    #[error("bfdd at {socket} stopped its answer after {bytes} bytes (a reload changed the peers, or bfdd is stopping or stuck: see its log; ask again)")]
    CutShort {
        /// Socket path.
        socket: String,
        /// What arrived.
        bytes: usize,
    },
    /// No answer within `--timeout`.
    #[error("bfdd at {socket} did not answer within {timeout} (is it hung? check its log, or raise --timeout)")]
    Timeout {
        /// Socket path.
        socket: String,
        /// The timeout, formatted.
        timeout: String,
    },
    /// Reading or writing the socket failed.
    #[error("lost the connection to bfdd at {socket}: {reason}")]
    Io {
        /// Socket path.
        socket: String,
        /// The OS error.
        reason: String,
    },
    /// The answer was not a valid response line.
    #[error("cannot understand bfdd's answer: {0} (are bfdd and bfdctl the same version?)")]
    BadAnswer(String),
    /// The answer was valid, but to another question.
    #[error(
        "bfdd answered a {asked} request with \"{got}\" (are bfdd and bfdctl the same version?)"
    )]
    Unexpected {
        /// The request sent.
        asked: &'static str,
        /// The response kind received.
        got: String,
    },
    /// bfdd refused the request (`Response::Error`): exit 1.
    #[error("bfdd: {0}")]
    Refused(String),
    /// bfdd could not answer now (`Response::Error` marked unavailable: stopping, held up):
    /// exit 2, as when it cannot be reached.
    #[error("bfdd: {0} (ask again)")]
    Unavailable(String),
    /// Bad arguments that clap could not catch.
    #[error("{0}")]
    Usage(String),
    /// An input file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// Writing to stdout failed.
    #[error("cannot write to stdout: {0}")]
    Stdout(#[source] io::Error),
}

impl Error {
    /// Prints the message (unless stdout was merely closed) and returns the exit status.
    pub fn report(self) -> ExitCode {
        match &self {
            // `bfdctl peers | head -1`: the reader has all it wants.
            Error::Stdout(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Error::Refused(_) => {
                eprint_line(&format!("bfdctl: {self}"));
                ExitCode::from(EXIT_NEGATIVE)
            }
            _ => {
                eprint_line(&format!("bfdctl: {self}"));
                ExitCode::from(EXIT_ERROR)
            }
        }
    }
}

/// Writes one line to stderr, ignoring failure (there is nowhere left to complain to).
pub fn eprint_line(line: &str) {
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
}

/// `io::Error`'s text without the trailing " (os error N)", which helps nobody here.
pub fn os_reason(e: &io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_owned(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_reason_drops_errno() {
        let e = io::Error::from_raw_os_error(2);
        assert_eq!(os_reason(&e), "No such file or directory");
        let e = io::Error::other("plain");
        assert_eq!(os_reason(&e), "plain");
    }

    #[test]
    fn connect_message_is_one_line_with_a_hint() {
        let e = Error::Connect {
            socket: "/run/bfdd/bfdd.sock".into(),
            reason: "No such file or directory".into(),
            hint: "is bfdd running? set --socket or BFDD_SOCKET",
        };
        assert_eq!(
            e.to_string(),
            "cannot reach bfdd at /run/bfdd/bfdd.sock: No such file or directory (is bfdd running? set --socket or BFDD_SOCKET)"
        );
    }
}
