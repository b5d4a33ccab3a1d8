//! The Unix control socket: one JSON request line in, one JSON response line out.
//!
//! Each connection gets its own small task, so a client that stalls or vanishes mid-answer (a
//! probe killed on timeout) costs only that task: the driver hands over its answer through a
//! channel and never waits on a client.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bfd_control::{ReadyStatus, Request, Response, MAX_REQUEST_LEN};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{oneshot, watch};

use crate::clients::{serve_clients, ANSWER_CHUNK, DRIVER_TIMEOUT, ROUTES_TIMEOUT};
use crate::figures::{Cut, DriverFigures, FiguresRequest, PeerFigures};
use crate::heartbeat::Heartbeat;
use crate::reload::Reloader;
use crate::routes::RouteHandle;
use crate::status;
use crate::to_driver::ToDriver;

/// A request on its way to the driver, with the way back.
pub type ControlRequest = (Request, oneshot::Sender<Answer>);

/// The answer to a request.
#[derive(Debug)]
pub enum Answer {
    /// Complete.
    Done(Response),
    /// `peers`: written here from the driver's figures, taken a chunk at a time as the answer
    /// is written (at thousands of sessions, formatting on the driver's thread would hold back
    /// its packets, and a copy of every session's figures at once the daemon's memory).
    Peers(DriverFigures),
}

/// How long a client may take to send its request line.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Clients served at once (see [`crate::clients`]).
const MAX_CLIENTS: usize = 32;

/// Binds the control socket, replacing a stale socket file from an earlier run, but not one
/// a running daemon answers on: taking it over would leave that daemon without probes and
/// `bfdctl`. Nor anything but a socket: a mistyped path must not delete a file. A std
/// listener, so it can be bound before the runtime that serves it exists. Returns the file
/// too, which removes it when dropped.
pub fn bind(path: &Path) -> io::Result<(std::os::unix::net::UnixListener, SocketFile)> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
        Ok(found) if !found.file_type().is_socket() => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "something other than a socket is there; not replacing it",
            ))
        }
        Ok(_) => {
            left_by_a_stopped_daemon(path)?;
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    listener.set_nonblocking(true)?;
    let file = SocketFile {
        path: path.to_path_buf(),
        inode: std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_PATH | nix::libc::O_NOFOLLOW)
            .open(path)?,
    };
    Ok((listener, file))
}

/// `Ok` when the socket file at `path` is stale: connecting is refused, so no process
/// listens on it (or the file went meanwhile). Anything else keeps it: a daemon that answers, one whose listen queue is
/// full (bounded: a plain connect to it would hold the start-up for ever; Linux bounds a Unix
/// socket's connect by its send timeout), or a socket this process may not connect to.
fn left_by_a_stopped_daemon(path: &Path) -> io::Result<()> {
    let address = socket2::SockAddr::unix(path)?;
    let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
    socket.set_write_timeout(Some(Duration::from_secs(1)))?;
    match socket.connect(&address) {
        // Refused: nobody listens. Gone: its daemon removed it as it stopped, just now.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
            ) =>
        {
            Ok(())
        }
        Ok(()) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "another daemon answers on it",
        )),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                "another daemon listens on it (its queue is full)",
            ))
        }
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("cannot tell whether another daemon listens on it: {e}"),
        )),
    }
}

/// The control socket's file, removed when the daemon stops if it is still the one this
/// daemon bound: a daemon started after it (this one being stopped, or taking over a path
/// after a crash) may have replaced it.
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    /// Held open (`O_PATH`), so that the inode is not freed and given to another file.
    inode: std::fs::File,
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        use std::os::unix::fs::MetadataExt;
        let same =
            |a: &std::fs::Metadata, b: &std::fs::Metadata| (a.dev(), a.ino()) == (b.dev(), b.ino());
        if let (Ok(there), Ok(ours)) =
            (std::fs::symlink_metadata(&self.path), self.inode.metadata())
        {
            if same(&there, &ours) {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// The driver's side of [`Readiness`]: what it publishes, and its heartbeat.
#[derive(Debug)]
pub struct ReadinessSource {
    /// Updated on reload.
    pub status: watch::Sender<ReadyStatus>,
    /// Beaten on every turn of the driver's loop.
    pub heartbeat: Heartbeat,
}

/// Both ends of readiness: ready with `status` from now on, the driver having just turned.
pub fn readiness(status: ReadyStatus) -> (ReadinessSource, Readiness) {
    let (tx, rx) = watch::channel(status);
    let heartbeat = Heartbeat::new(crate::driver::now());
    let source = ReadinessSource {
        status: tx,
        heartbeat: heartbeat.clone(),
    };
    (
        source,
        Readiness {
            status: rx,
            heartbeat,
        },
    )
}

/// What `ready` is answered from: what the driver last published, and whether it still turns.
#[derive(Clone, Debug)]
pub struct Readiness {
    /// Published by the driver.
    pub status: watch::Receiver<ReadyStatus>,
    /// Beaten by the driver on every turn of its loop.
    pub heartbeat: Heartbeat,
}

impl Readiness {
    /// The answer to `ready` at `now`: not ready while the driver is stuck.
    pub fn answer(&self, now: std::time::Instant) -> ReadyStatus {
        let mut status = self.status.borrow().clone();
        if let Some(problem) = self.heartbeat.problem(now) {
            status.ready = false;
            status.problem = Some(problem);
        }
        status
    }
}

/// Accepts clients until the listener fails, forwarding each request to the driver.
///
/// `ready` is answered here, from what the driver last published and its heartbeat: readiness
/// probes get their answer even while the driver is busy starting thousands of sessions, and
/// a driver that stopped turning is not ready (nor alive, to the liveness probe). `routes` is
/// answered here too, by the route installer, which runs on this thread: the driver has no
/// part in it. `reload` reads the file here ([`Reloader`]) before the driver applies it.
pub async fn serve(
    listener: UnixListener,
    driver: ToDriver<ControlRequest>,
    figures: ToDriver<FiguresRequest>,
    reloader: Reloader,
    ready: Readiness,
    routes: Option<RouteHandle>,
) {
    serve_clients("control", listener, MAX_CLIENTS, move |stream| {
        answer(
            stream,
            driver.clone(),
            figures.clone(),
            reloader.clone(),
            ready.clone(),
            routes.clone(),
        )
    })
    .await;
}

async fn answer(
    stream: UnixStream,
    driver: ToDriver<ControlRequest>,
    figures: ToDriver<FiguresRequest>,
    reloader: Reloader,
    ready: Readiness,
    routes: Option<RouteHandle>,
) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read).take(MAX_REQUEST_LEN as u64 + 1);
    let mut line = String::new();
    let error = |message: String| Answer::Done(Response::error(message));
    let unavailable = |message: String| Answer::Done(Response::unavailable(message));
    let answer = match tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut line)).await {
        Err(_) => error("no request received in time".into()),
        Ok(Err(e)) => error(format!("unreadable request: {e}")),
        Ok(Ok(_)) if line.len() > MAX_REQUEST_LEN => error("request too long".into()),
        Ok(Ok(_)) => match serde_json::from_str::<Request>(line.trim_end()) {
            Err(e) => error(format!("bad request: {e}")),
            Ok(Request::Ready) => Answer::Done(Response::Ready(ready.answer(crate::driver::now()))),
            // No installer is not "no routes": nothing is installed, and the operator must
            // hear why.
            Ok(Request::Routes) => match &routes {
                Some(routes) => match tokio::time::timeout(ROUTES_TIMEOUT, routes.try_status())
                    .await
                {
                    Ok(Some(routes)) => Answer::Done(Response::Routes { routes }),
                    Ok(None) => {
                        unavailable("the route installer has stopped; see bfdd's log".into())
                    }
                    Err(_) => unavailable(format!(
                        "the route installer did not answer within {} ms (held up by the kernel; see bfdd's log)",
                        ROUTES_TIMEOUT.as_millis()
                    )),
                },
                None => error(
                    "no route installer: netlink was unavailable at start (see bfdd's log); no route is installed"
                        .into(),
                ),
            },
            Ok(Request::Reload) => {
                match tokio::time::timeout(DRIVER_TIMEOUT, reloader.reload()).await {
                    Ok(answer) => {
                        answer.unwrap_or_else(|| unavailable("daemon is stopping".into()))
                    }
                    Err(_) => unavailable(format!(
                        "{}; the reload may still be applied",
                        driver_late()
                    )),
                }
            }
            Ok(Request::Peers) => match DriverFigures::start(figures).await {
                Ok(peers) => Answer::Peers(peers),
                Err(Cut::Late) => unavailable(driver_late()),
                Err(cut) => unavailable(cut.to_string()),
            },
            Ok(request) => {
                let ask = async {
                    let (tx, rx) = oneshot::channel();
                    driver.send((request, tx)).await.ok()?;
                    rx.await.ok()
                };
                match tokio::time::timeout(DRIVER_TIMEOUT, ask).await {
                    Ok(answer) => {
                        answer.unwrap_or_else(|| unavailable("daemon is stopping".into()))
                    }
                    Err(_) => unavailable(driver_late()),
                }
            }
        },
    };
    // Thousands of sessions make a large answer: encoded off the runtime's thread, so the
    // driver's timers do not wait for it, and handed on in chunks as the client reads, so it
    // is never held whole (2 MB at 10,000 sessions, beside their summaries).
    let (chunks_tx, mut chunks) = tokio::sync::mpsc::channel::<Vec<u8>>(1);
    let encode = tokio::task::spawn_blocking(move || {
        let mut out = ChunkWriter::new(chunks_tx);
        let written = match &answer {
            Answer::Peers(peers) => serde_json::to_writer(&mut out, &PeersAnswer(peers)),
            Answer::Done(response) => serde_json::to_writer(&mut out, response),
        };
        written
            .map_err(io::Error::other)
            .and_then(|()| out.finish())
    });
    let sent = async {
        while let Some(chunk) = chunks.recv().await {
            write.write_all(&chunk).await?;
        }
        encode.await.map_err(io::Error::other)??;
        write.shutdown().await
    };
    crate::clients::in_time(sent).await
}

/// `peers`' answer written from the driver's figures one summary at a time: the same JSON as
/// `Response::Peers`, without a summary of every session held at once. Figures that cannot
/// all be had (see [`PeerFigures`]) fail it: the client gets an answer cut short.
struct PeersAnswer<'a, P: ?Sized>(&'a P);

impl<P: PeerFigures + ?Sized> serde::Serialize for PeersAnswer<'_, P> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeMap, SerializeSeq};
        struct Summaries<'a, P: ?Sized>(&'a P);
        impl<P: PeerFigures + ?Sized> serde::Serialize for Summaries<'_, P> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut seq = serializer.serialize_seq(Some(self.0.total()))?;
                let mut failed = None;
                let passed = self.0.for_each_chunk(&mut |chunk| {
                    for figures in chunk {
                        if let Err(e) = seq.serialize_element(&status::summary(figures)) {
                            failed = Some(e);
                            return Err(Cut::Gone);
                        }
                    }
                    Ok(())
                });
                if let Some(e) = failed {
                    return Err(e);
                }
                passed.map_err(S::Error::custom)?;
                seq.end()
            }
        }
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("response", "peers")?;
        map.serialize_entry("peers", &Summaries(self.0))?;
        map.end()
    }
}

/// Hands what is written on in chunks of about [`ANSWER_CHUNK`]; fails once nobody reads them.
struct ChunkWriter {
    buf: Vec<u8>,
    out: tokio::sync::mpsc::Sender<Vec<u8>>,
}

impl ChunkWriter {
    fn new(out: tokio::sync::mpsc::Sender<Vec<u8>>) -> ChunkWriter {
        ChunkWriter {
            buf: Vec::with_capacity(ANSWER_CHUNK + 4096),
            out,
        }
    }

    fn hand_on(&mut self) -> io::Result<()> {
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(ANSWER_CHUNK + 4096));
        self.out
            .blocking_send(chunk)
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }

    /// The answer's end: its newline, and the last chunk.
    fn finish(mut self) -> io::Result<()> {
        self.buf.push(b'\n');
        self.hand_on()
    }
}

impl io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= ANSWER_CHUNK {
            self.hand_on()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn driver_late() -> String {
    format!(
        "the session driver did not answer within {} s (see `bfdctl ready`)",
        DRIVER_TIMEOUT.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn a_socket_a_daemon_answers_on_is_not_taken_over_but_a_stale_one_is() {
        let dir = std::env::temp_dir().join(format!("bfdd-bind-test-{}", std::process::id()));
        let path = dir.join("control.sock");
        let (running, file) = bind(&path).expect("first bind");
        let e = bind(&path).expect_err("second bind while the first listens");
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        // The first daemon's socket still works.
        std::os::unix::net::UnixStream::connect(&path).expect("first still answers");
        // Gone without removing its file (killed): the next start replaces it.
        std::mem::forget(file);
        drop(running);
        assert!(path.exists());
        let replaced = bind(&path);
        let _ = std::fs::remove_dir_all(&dir);
        replaced.expect("stale socket replaced");
    }

    /// A mistyped `control-socket` naming a file (the state file, say) must not delete it.
    #[test]
    fn a_file_other_than_a_socket_is_left_alone() {
        let dir = std::env::temp_dir().join(format!("bfdd-bind-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("discriminators.json");
        std::fs::write(&path, "{}").expect("write");
        let result = bind(&path).map(drop);
        let kept = std::fs::read_to_string(&path);
        let _ = std::fs::remove_dir_all(&dir);
        let e = result.expect_err("bound over a file");
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(kept.expect("the file is still there"), "{}");
    }

    /// A daemon stopping after another took the path over (its own socket stale, replaced)
    /// leaves the other's socket in place.
    #[test]
    fn stopping_removes_only_the_socket_this_daemon_bound() {
        let dir = std::env::temp_dir().join(format!("bfdd-bind-succ-{}", std::process::id()));
        let path = dir.join("control.sock");
        let (first, first_file) = bind(&path).expect("first bind");
        drop(first);
        let (_second, second_file) = bind(&path).expect("stale socket replaced");
        drop(first_file);
        let answers = std::os::unix::net::UnixStream::connect(&path).map(drop);
        drop(second_file);
        let removed = !path.exists();
        let _ = std::fs::remove_dir_all(&dir);
        answers.expect("the second daemon's socket kept");
        assert!(
            removed,
            "the second daemon's own file removed when it stops"
        );
    }

    /// A daemon that stopped accepting, its listen queue full: the start-up check gives up
    /// after a second and counts the socket as taken, rather than hanging.
    #[test]
    fn a_socket_with_a_full_queue_is_taken_and_the_check_does_not_hang() {
        use socket2::{Domain, SockAddr, Socket, Type};
        let dir = std::env::temp_dir().join(format!("bfdd-bind-full-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("control.sock");
        let address = SockAddr::unix(&path).expect("address");
        let listener = Socket::new(Domain::UNIX, Type::STREAM, None).expect("socket");
        listener.bind(&address).expect("bind");
        listener.listen(0).expect("listen");
        let mut queued = Vec::new();
        loop {
            let c = Socket::new(Domain::UNIX, Type::STREAM, None).expect("socket");
            c.set_nonblocking(true).expect("nonblocking");
            if c.connect(&address).is_err() {
                break;
            }
            queued.push(c);
            assert!(queued.len() < 64, "the listen queue never filled");
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let checked = path.clone();
        std::thread::spawn(move || {
            let _ = tx.send(bind(&checked).map(drop));
        });
        let result = rx.recv_timeout(Duration::from_secs(10));
        let _ = std::fs::remove_dir_all(&dir);
        let e = result.expect("bind hung").expect_err("taken");
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
    }
    use crate::config::{RouteConfig, RoutesConfig};
    use crate::routes::{self, FakeBackend};
    use tokio::sync::mpsc;

    fn ready_status() -> ReadyStatus {
        ReadyStatus {
            ready: true,
            config: "/etc/bfdd/bfdd.toml".into(),
            sessions: 3,
            problem: None,
        }
    }

    /// A driver that stopped turning (stuck in a loop, deadlocked) makes the daemon not ready,
    /// and so not alive to the liveness probe, which asks the same.
    #[test]
    fn a_stuck_driver_is_not_ready() {
        let start = std::time::Instant::now();
        let (_ready_tx, status) = watch::channel(ready_status());
        let ready = Readiness {
            status,
            heartbeat: Heartbeat::new(start),
        };
        assert_eq!(ready.answer(start + Duration::from_secs(5)), ready_status());
        let stuck = ready.answer(start + Duration::from_secs(60));
        assert!(!stuck.ready);
        assert!(
            stuck.problem.as_deref().is_some_and(|p| p.contains("60 s")),
            "{stuck:?}"
        );
    }

    /// A control server on a socket of its own, over `driver`; removed on drop.
    struct Server {
        dir: std::path::PathBuf,
        path: std::path::PathBuf,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn server(
        name: &str,
        driver: mpsc::Sender<ControlRequest>,
        routes: Option<RouteHandle>,
    ) -> Server {
        let (figures_tx, figures_rx) = mpsc::channel(1);
        // Held, never read: a driver that does not answer `peers`.
        tokio::spawn(async move {
            let _held = figures_rx;
            std::future::pending::<()>().await
        });
        server_with_figures(
            name,
            driver,
            ToDriver::new(figures_tx, std::thread::current()),
            routes,
        )
    }

    fn server_with_figures(
        name: &str,
        driver: mpsc::Sender<ControlRequest>,
        figures: ToDriver<FiguresRequest>,
        routes: Option<RouteHandle>,
    ) -> Server {
        let dir = std::env::temp_dir().join(format!("bfdd-control-{name}-{}", std::process::id()));
        let path = dir.join("control.sock");
        // The file stays until the directory goes.
        let (listener, file) = bind(&path).expect("bind");
        std::mem::forget(file);
        let listener = UnixListener::from_std(listener).expect("listener");
        let driver = ToDriver::new(driver, std::thread::current());
        let (_source, ready) = readiness(ready_status());
        // Nothing serves reloads here: the tests do not reload.
        let (reload_tx, _) = mpsc::channel(1);
        let (reloader, _) = crate::reload::channel(
            dir.join("bfdd.toml"),
            ToDriver::new(reload_tx, std::thread::current()),
        );
        tokio::spawn(serve(listener, driver, figures, reloader, ready, routes));
        Server { dir, path }
    }

    /// A new connection that has sent `request`.
    async fn ask(path: &Path, request: &Request) -> UnixStream {
        let mut stream = UnixStream::connect(path).await.expect("connect");
        let mut line = serde_json::to_vec(request).expect("encode");
        line.push(b'\n');
        stream.write_all(&line).await.expect("send");
        stream
    }

    /// The answer on `stream`, waiting at most `limit`.
    async fn answer_within(stream: UnixStream, limit: Duration) -> String {
        let mut line = String::new();
        tokio::time::timeout(limit, BufReader::new(stream).read_line(&mut line))
            .await
            .expect("answered in time")
            .expect("read");
        line
    }

    /// Connections that never send a request hold the daemon's client slots only until
    /// REQUEST_TIMEOUT: a probe waits behind such a flood, and is then answered.
    #[tokio::test(start_paused = true)]
    async fn a_flood_of_idle_clients_holds_others_only_until_it_times_out() {
        let (driver_tx, _driver_rx) = mpsc::channel(1);
        let server = server("flood", driver_tx, None);
        let mut idle = Vec::new();
        for _ in 0..MAX_CLIENTS {
            idle.push(UnixStream::connect(&server.path).await.expect("connect"));
        }
        let start = tokio::time::Instant::now();
        let probe = ask(&server.path, &Request::Ready).await;
        let line = answer_within(probe, REQUEST_TIMEOUT * 6).await;
        let waited = start.elapsed();
        assert!(
            matches!(serde_json::from_str(&line), Ok(Response::Ready(r)) if r.ready),
            "{line}"
        );
        assert!(
            (REQUEST_TIMEOUT..REQUEST_TIMEOUT * 2).contains(&waited),
            "answered after {waited:?}"
        );
    }

    /// `peers` written from the figures is the JSON of `Response::Peers`, and a large answer
    /// arrives whole through the chunks, of the driver's figures and of the text.
    #[tokio::test]
    async fn peers_answer_is_response_peers_written_in_chunks() {
        let figures = crate::figures::test_figures(2000);
        let expected = serde_json::to_string(&Response::Peers {
            peers: figures.iter().map(status::summary).collect(),
        })
        .expect("encode");
        assert_eq!(
            serde_json::to_string(&PeersAnswer(&figures)).expect("encode"),
            expected
        );
        let (driver_tx, _driver_rx) = mpsc::channel::<ControlRequest>(4);
        let source = crate::figures::test_driver(figures, Default::default(), None);
        let server = server_with_figures("peers-chunks", driver_tx, source, None);
        let line = answer_within(
            ask(&server.path, &Request::Peers).await,
            Duration::from_secs(10),
        )
        .await;
        assert!(line.len() > 2 * ANSWER_CHUNK, "{} bytes", line.len());
        assert_eq!(line.trim_end(), expected);
    }

    /// A reload that changes the peers while `peers` is being written cuts the answer short
    /// (no newline, not JSON) rather than mixing two configurations in one list.
    #[tokio::test]
    async fn peers_changed_in_mid_answer_cut_it_short() {
        let (driver_tx, _driver_rx) = mpsc::channel::<ControlRequest>(4);
        let source = crate::figures::test_driver(
            crate::figures::test_figures(2000),
            Default::default(),
            Some(1),
        );
        let server = server_with_figures("peers-cut", driver_tx, source, None);
        let line = answer_within(
            ask(&server.path, &Request::Peers).await,
            Duration::from_secs(10),
        )
        .await;
        assert!(!line.ends_with('\n'), "{line}");
        assert!(serde_json::from_str::<Response>(&line).is_err());
        assert!(
            line.starts_with(r#"{"response":"peers","peers":[{"#),
            "{line}"
        );
    }

    /// A driver that stopped answering holds a request only for DRIVER_TIMEOUT: the client
    /// gets an error, and a crowd of such requests does not keep `ready` from its answer.
    #[tokio::test(start_paused = true)]
    async fn requests_to_a_driver_that_stopped_answering_end_with_an_error() {
        // Held, never read, like `server`'s figures channel, which `peers` takes: the first
        // request queues, the rest wait to queue.
        let (driver_tx, _driver_rx) = mpsc::channel::<ControlRequest>(1);
        let server = server("stuck-driver", driver_tx, None);
        let mut stuck = Vec::new();
        for _ in 0..MAX_CLIENTS {
            stuck.push(ask(&server.path, &Request::Peers).await);
        }
        let start = tokio::time::Instant::now();
        let probe = ask(&server.path, &Request::Ready).await;
        let line = answer_within(probe, DRIVER_TIMEOUT * 6).await;
        assert!(line.contains("\"ready\""), "{line}");
        assert!(
            start.elapsed() < DRIVER_TIMEOUT * 2,
            "answered after {:?}",
            start.elapsed()
        );
        for client in stuck {
            let line = answer_within(client, Duration::from_secs(1)).await;
            assert!(
                matches!(serde_json::from_str(&line), Ok(Response::Error { message, unavailable: true }) if message.contains("did not answer within 10 s")),
                "{line}"
            );
        }
    }

    /// A client that asks and never reads a large answer is given up on after ANSWER_TIMEOUT:
    /// a crowd of them fills every client slot only for that long.
    #[tokio::test(start_paused = true)]
    async fn clients_that_never_read_their_answer_are_dropped() {
        // A driver whose every answer is far larger than a socket buffer.
        let (driver_tx, mut driver_rx) = mpsc::channel::<ControlRequest>(64);
        tokio::spawn(async move {
            while let Some((_, reply)) = driver_rx.recv().await {
                let _ = reply.send(Answer::Done(Response::error("x".repeat(1 << 20))));
            }
        });
        let server = server("unread", driver_tx, None);
        let mut unread = Vec::new();
        for _ in 0..MAX_CLIENTS {
            unread.push(ask(&server.path, &Request::Version).await);
        }
        let start = tokio::time::Instant::now();
        let probe = ask(&server.path, &Request::Ready).await;
        let timeout = crate::clients::ANSWER_TIMEOUT;
        let line = answer_within(probe, timeout * 6).await;
        let waited = start.elapsed();
        assert!(line.contains("\"ready\""), "{line}");
        assert!(
            (timeout..timeout * 2).contains(&waited),
            "answered after {waited:?}"
        );
    }

    /// `bfdctl routes` is the route installer's to answer: it must not wait for the driver,
    /// which may be asleep between two points of its transmit grid, or busy.
    #[tokio::test]
    async fn routes_are_answered_while_the_driver_does_not_listen() {
        // The driver's end is held and never read.
        let (driver_tx, _driver_rx) = mpsc::channel(1);
        let routes = routes::spawn(
            RoutesConfig {
                routes: vec![RouteConfig {
                    destination: "203.0.113.0/24".parse().expect("prefix"),
                    gateway: "192.0.2.2".parse().expect("address"),
                    bfd: true,
                }],
                ..RoutesConfig::default()
            },
            FakeBackend::new(),
        );
        let server = server("routes", driver_tx, Some(routes));
        let stream = ask(&server.path, &Request::Routes).await;
        let line = answer_within(stream, Duration::from_secs(5)).await;
        match serde_json::from_str::<Response>(&line).expect("decode") {
            Response::Routes { routes } => {
                assert_eq!(routes.len(), 1);
                assert_eq!(routes[0].destination, "203.0.113.0/24");
                // The gateway's session is not Up: nothing installed.
                assert!(!routes[0].installed);
            }
            other => panic!("not a routes answer: {other:?}"),
        }
    }

    /// A route installer held up by the kernel: `bfdctl routes` gets an error in bounded
    /// time, and the slot is free again for the probes.
    #[tokio::test(start_paused = true)]
    async fn routes_from_a_stuck_installer_time_out() {
        let (driver_tx, _driver_rx) = mpsc::channel(1);
        let (routes, _task) = routes::unresponsive();
        let server = server("stuck-installer", driver_tx, Some(routes));
        let start = tokio::time::Instant::now();
        let stream = ask(&server.path, &Request::Routes).await;
        let line = answer_within(stream, Duration::from_secs(30)).await;
        assert!(
            matches!(serde_json::from_str(&line), Ok(Response::Error { message, unavailable: true }) if message.starts_with("the route installer did not answer")),
            "{line}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }

    /// Without a route installer (netlink unavailable at start) `bfdctl routes` must not look
    /// like a configuration without routes.
    #[tokio::test]
    async fn routes_without_an_installer_is_an_error_not_an_empty_list() {
        let (driver_tx, _driver_rx) = mpsc::channel(1);
        let server = server("no-installer", driver_tx, None);
        let stream = ask(&server.path, &Request::Routes).await;
        let line = answer_within(stream, Duration::from_secs(5)).await;
        assert!(
            matches!(serde_json::from_str(&line), Ok(Response::Error { message, unavailable: false }) if message.starts_with("no route installer")),
            "{line}"
        );
    }
}
