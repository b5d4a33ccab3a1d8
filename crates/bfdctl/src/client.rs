//! The control socket client: one request line out, one response line back, all within
//! `--timeout`.
//!
//! Synchronous std I/O on purpose: a probe runs this once and exits, so a runtime would only
//! add start-up time.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bfd_control::{Request, Response};

use crate::error::{os_reason, Error};
use crate::format::format_timeout;

/// Longest response accepted; far above any real one, it only stops a runaway peer.
const MAX_RESPONSE_LEN: usize = 16 << 20;

/// Talks to bfdd.
#[derive(Debug)]
pub struct Client {
    socket: PathBuf,
    timeout: Duration,
}

impl Client {
    /// A client of the socket at `socket`, giving up after `timeout` per request.
    pub fn new(socket: PathBuf, timeout: Duration) -> Client {
        Client { socket, timeout }
    }

    fn socket_name(&self) -> String {
        self.socket.display().to_string()
    }

    /// Sends `request` and returns bfdd's response, `Response::Error` included.
    pub fn request(&self, request: &Request) -> Result<Response, Error> {
        let deadline = Instant::now() + self.timeout;
        let mut stream = self.connect(deadline)?;
        let mut line = serde_json::to_vec(request)
            .map_err(|e| Error::Usage(format!("cannot encode the request: {e}")))?;
        line.push(b'\n');
        stream
            .set_write_timeout(Some(remaining(deadline).max(Duration::from_millis(1))))
            .and_then(|()| stream.write_all(&line))
            .map_err(|e| self.io_error(&e))?;
        let (answer, ended) = self.read_line(&mut stream, deadline)?;
        serde_json::from_slice(&answer).map_err(|e| {
            if !ended && e.is_eof() {
                Error::CutShort {
                    socket: self.socket_name(),
                    bytes: answer.len(),
                }
            } else {
                Error::BadAnswer(e.to_string())
            }
        })
    }

    /// Connects within the deadline: a daemon that stopped accepting leaves its listen queue
    /// full, and a plain `connect` then waits for ever. Linux bounds a Unix socket's blocking
    /// connect by the socket's send timeout, which is set before connecting.
    fn connect(&self, deadline: Instant) -> Result<UnixStream, Error> {
        let connect_error = |e: io::Error| Error::Connect {
            socket: self.socket_name(),
            reason: os_reason(&e),
            hint: connect_hint(&e),
        };
        let address = socket2::SockAddr::unix(&self.socket).map_err(connect_error)?;
        let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)
            .map_err(|e| self.io_error(&e))?;
        socket
            .set_write_timeout(Some(remaining(deadline).max(Duration::from_millis(1))))
            .map_err(|e| self.io_error(&e))?;
        match socket.connect(&address) {
            Ok(()) => Ok(socket.into()),
            // The timeout ran out with the daemon's queue still full.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(self.timeout_error())
            }
            Err(e) => Err(connect_error(e)),
        }
    }

    /// Like [`Client::request`], but turns `Response::Error` into [`Error::Refused`], or
    /// [`Error::Unavailable`] when bfdd could not answer now.
    pub fn ask(&self, request: &Request) -> Result<Response, Error> {
        match self.request(request)? {
            Response::Error {
                message,
                unavailable: false,
            } => Err(Error::Refused(message)),
            Response::Error {
                message,
                unavailable: true,
            } => Err(Error::Unavailable(message)),
            other => Ok(other),
        }
    }

    /// Reads up to the first newline (or end of stream), never past `deadline`; and whether
    /// the newline came (bfdd ends every whole answer with one).
    fn read_line(
        &self,
        stream: &mut UnixStream,
        deadline: Instant,
    ) -> Result<(Vec<u8>, bool), Error> {
        let mut answer = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let left = remaining(deadline);
            if left.is_zero() {
                return Err(self.timeout_error());
            }
            stream
                .set_read_timeout(Some(left))
                .map_err(|e| self.io_error(&e))?;
            match stream.read(&mut chunk) {
                Ok(0) if answer.iter().all(u8::is_ascii_whitespace) => {
                    return Err(Error::Closed {
                        socket: self.socket_name(),
                    })
                }
                // A final line without its newline is still a line, if it is whole.
                Ok(0) => return Ok((answer, false)),
                Ok(n) => {
                    let got = &chunk[..n];
                    if let Some(end) = got.iter().position(|&b| b == b'\n') {
                        answer.extend_from_slice(&got[..end]);
                        return Ok((answer, true));
                    }
                    answer.extend_from_slice(got);
                    if answer.len() > MAX_RESPONSE_LEN {
                        return Err(Error::BadAnswer(format!(
                            "longer than {} MiB",
                            MAX_RESPONSE_LEN >> 20
                        )));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(self.timeout_error())
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return Err(Error::Closed {
                        socket: self.socket_name(),
                    })
                }
                Err(e) => return Err(self.io_error(&e)),
            }
        }
    }

    fn timeout_error(&self) -> Error {
        Error::Timeout {
            socket: self.socket_name(),
            timeout: format_timeout(self.timeout),
        }
    }

    fn io_error(&self, e: &io::Error) -> Error {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => self.timeout_error(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => Error::Closed {
                socket: self.socket_name(),
            },
            _ => Error::Io {
                socket: self.socket_name(),
                reason: os_reason(e),
            },
        }
    }
}

/// Time left until `deadline`; zero once it has passed (callers check before using it as a
/// socket timeout, where zero would mean "no timeout").
fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

fn connect_hint(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::PermissionDenied => {
            "run bfdctl as a user allowed to use the socket, e.g. root"
        }
        _ => "is bfdd running? set --socket or BFDD_SOCKET",
    }
}

/// The wire name of a response, for "unexpected answer" messages.
pub fn response_kind(r: &Response) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.get("response")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// Builds the error for a response that does not answer `asked`.
pub fn unexpected(asked: &'static str, got: &Response) -> Error {
    Error::Unexpected {
        asked,
        got: response_kind(got),
    }
}
