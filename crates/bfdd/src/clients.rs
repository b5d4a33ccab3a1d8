//! Serving local clients (the control socket, the metrics endpoint): a bounded number at once,
//! none holding its answer for ever. Each client holds its rendered answer (megabytes at tens
//! of thousands of sessions) until it has read it, so a script that connects and never reads
//! must not grow the daemon without bound or take the descriptors it needs.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tracing::debug;

/// How long a server waits after a failed accept (out of descriptors, say) before the next:
/// retrying at once would spin the services thread.
pub const ACCEPT_RETRY: Duration = Duration::from_millis(10);

/// How long a client may take to read its answer (bfdctl and Prometheus read as fast as it
/// comes).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request waits for the driver (figures, an answer): a driver that stopped
/// turning must not hold every client slot. `bfdctl reload` waits 15 s, to hear this answer.
pub const DRIVER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a request waits for the route installer, which may be held up by the kernel
/// (each netlink operation may take up to a second under rtnl contention): `bfdctl routes`
/// must not keep the slot the liveness probe needs, nor a scrape fail for its route series.
/// Under bfdctl's default `--timeout` (2 s), so that bfdctl hears why.
pub const ROUTES_TIMEOUT: Duration = Duration::from_millis(1500);

/// Large answers (`/metrics`, `bfdctl peers`) are handed to the client in pieces of about
/// this size, one waiting while the one before is written: what such an answer holds at a
/// time, beside the figures it is written from.
pub const ANSWER_CHUNK: usize = 32 * 1024;

/// A listening socket, Unix or TCP.
pub trait Acceptor {
    /// A connected client.
    type Stream: Send + 'static;
    /// The next client.
    fn accept_one(&self) -> impl Future<Output = io::Result<Self::Stream>> + Send + '_;
}

impl Acceptor for UnixListener {
    type Stream = UnixStream;
    async fn accept_one(&self) -> io::Result<UnixStream> {
        self.accept().await.map(|(stream, _)| stream)
    }
}

impl Acceptor for TcpListener {
    type Stream = TcpStream;
    async fn accept_one(&self) -> io::Result<TcpStream> {
        self.accept().await.map(|(stream, _)| stream)
    }
}

/// Accepts clients until the listener is dropped, serving each with `serve` in a task of its
/// own, at most `max_clients` at once: the rest wait in the listen queue. `what` names the
/// server in debug logs.
pub async fn serve_clients<L, F, Fut>(what: &'static str, listener: L, max_clients: usize, serve: F)
where
    L: Acceptor,
    F: Fn(L::Stream) -> Fut,
    Fut: Future<Output = io::Result<()>> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(max_clients));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept_one().await {
            Ok(stream) => stream,
            Err(e) => {
                debug!(error = %e, server = what, "accept failed");
                tokio::time::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        let served = serve(stream);
        tokio::spawn(async move {
            if let Err(e) = served.await {
                debug!(error = %e, server = what, "client");
            }
            drop(slot);
        });
    }
}

/// Writes `answer` and closes the writing side; a client that has not read it within
/// [`ANSWER_TIMEOUT`] is given up on. A client that left already gets EPIPE, which only ends
/// its task.
pub async fn send_answer<W: AsyncWrite + Unpin>(writer: &mut W, answer: &[u8]) -> io::Result<()> {
    in_time(async {
        writer.write_all(answer).await?;
        writer.shutdown().await
    })
    .await
}

/// `sent`, the writing of an answer (whole or in chunks), given up on after
/// [`ANSWER_TIMEOUT`].
pub async fn in_time(sent: impl std::future::Future<Output = io::Result<()>>) -> io::Result<()> {
    match tokio::time::timeout(ANSWER_TIMEOUT, sent).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "client did not read its answer in time",
        )),
    }
}
