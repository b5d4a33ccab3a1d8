//! Prometheus metrics at `/metrics`: rendered from the driver's figures on each scrape (see
//! [`crate::figures`]), so a session removed by a reload is gone from the next scrape, and the
//! packet path never touches a metric.

mod render;
mod text;

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

pub use render::render;

use crate::clients::{send_answer, serve_clients, DRIVER_TIMEOUT, ROUTES_TIMEOUT};
use crate::figures::{self, Cut, DriverFigures, FiguresRequest};
use crate::routes::RouteHandle;
use crate::to_driver::ToDriver;

/// Connections open at once (see [`crate::clients`]). Most only send a request head, which
/// costs little; a listener on every address of a pod (`metrics-address` 0.0.0.0 without
/// `BFDD_METRICS_ADDRESS`) is on its external network too, so connections that send nothing
/// must not keep Prometheus out.
const MAX_CONNECTIONS: usize = 64;
/// Scrapes answered at once: each holds the driver's figures and a rendering thread.
/// Prometheus makes one at a time.
const MAX_SCRAPES: usize = 8;
/// How long a client may take to send its request head. Prometheus sends it as it connects.
const HEAD_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest request head read.
const MAX_HEAD: usize = 8192;

/// Serves `GET /metrics` until the listener fails; each scrape asks the driver for its figures.
pub async fn serve(
    listener: TcpListener,
    driver: ToDriver<FiguresRequest>,
    routes: Option<RouteHandle>,
) {
    let scrapes = Arc::new(Semaphore::new(MAX_SCRAPES));
    serve_clients("metrics", listener, MAX_CONNECTIONS, move |stream| {
        answer(stream, driver.clone(), routes.clone(), scrapes.clone())
    })
    .await;
}

/// Whether `head` holds the blank line ending a request head (bare LF endings too, for
/// hand-typed requests), looking only at what came after the first `searched` bytes and the
/// three before them: a client sending its head a byte at a time must not cost a scan of the
/// whole head per byte.
fn head_ends(head: &[u8], searched: usize) -> bool {
    let tail = &head[searched.saturating_sub(3)..];
    tail.windows(4).any(|w| w == b"\r\n\r\n") || tail.windows(2).any(|w| w == b"\n\n")
}

async fn answer(
    mut stream: TcpStream,
    driver: ToDriver<FiguresRequest>,
    routes: Option<RouteHandle>,
    scrapes: Arc<Semaphore>,
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let read_head = async {
        let mut searched = 0;
        while !head_ends(&head, searched) {
            if head.len() >= MAX_HEAD {
                return Ok(false);
            }
            searched = head.len();
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                // What came before the client's half-close is the request.
                break;
            }
            head.extend_from_slice(&chunk[..n]);
        }
        Ok::<_, std::io::Error>(true)
    };
    let complete = tokio::time::timeout(HEAD_TIMEOUT, read_head)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "request head"))??;
    if head.is_empty() {
        return Ok(());
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let (method, target, version) = {
        let mut words = line
            .strip_suffix(b"\r")
            .unwrap_or(line)
            .split(|&b| b == b' ');
        (
            words.next().unwrap_or_default(),
            words.next().unwrap_or_default(),
            words.next().unwrap_or_default(),
        )
    };
    let head_only = method == b"HEAD";
    let refusal = if !complete {
        Some(("431 Request Header Fields Too Large", ""))
    } else if target.is_empty() || !(version.is_empty() || version.starts_with(b"HTTP/1.")) {
        Some(("400 Bad Request", ""))
    } else if method != b"GET" && !head_only {
        Some(("405 Method Not Allowed", "Allow: GET, HEAD\r\n"))
    } else if !(target == b"/metrics" || target.starts_with(b"/metrics?")) {
        Some(("404 Not Found", ""))
    } else {
        None
    };
    if let Some((status, extra)) = refusal {
        let answer = small_answer(status, extra, "see GET /metrics\n", head_only);
        return send_answer(&mut stream, &answer).await;
    }
    // HTTP/1.1 clients (Prometheus) get the body chunked, so a cut-off answer shows as one;
    // HTTP/1.0 clients get it up to the connection's close.
    // Only to a client that said HTTP/1.1 or later (RFC 9112 §6.1).
    let chunked = version.starts_with(b"HTTP/1.") && version != b"HTTP/1.0";
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n{}Connection: close\r\n\r\n",
        if chunked { "Transfer-Encoding: chunked\r\n" } else { "" }
    );
    if head_only {
        // Nothing to render: the driver is not asked.
        return send_answer(&mut stream, head.as_bytes()).await;
    }
    // Bounded: a driver that stopped turning must not hold every scrape slot.
    let figures = tokio::time::timeout(DRIVER_TIMEOUT, async {
        // Held until the answer is written.
        let scrape = scrapes.acquire_owned().await.map_err(|_| Cut::Stopped)?;
        let mut daemon = figures::daemon_figures(&driver).await?;
        if let Some(routes) = &routes {
            // Without them rather than none at all when the installer is held up.
            daemon.routes = tokio::time::timeout(ROUTES_TIMEOUT, routes.metrics())
                .await
                .ok();
        }
        let peers = DriverFigures::start(driver).await?;
        Ok::<_, Cut>((daemon, peers, scrape))
    })
    .await
    .unwrap_or(Err(Cut::Late));
    let (daemon, peers, _scrape) = match figures {
        Ok(figures) => figures,
        Err(cut) => {
            let answer = small_answer("503 Service Unavailable", "", &format!("{cut}\n"), false);
            return send_answer(&mut stream, &answer).await;
        }
    };
    // Rendering is O(sessions) and large (about 1.3 KB per session): off the runtime's thread,
    // so a scrape never delays the driver's packets, and in chunks, so it never holds the
    // whole text (13 MB at 10,000 sessions). One chunk waits while the next is written.
    let (chunks_tx, mut chunks) = tokio::sync::mpsc::channel::<String>(1);
    let render = tokio::task::spawn_blocking(move || {
        render::render_streaming(&daemon, &peers, move |chunk| {
            chunks_tx.blocking_send(chunk).is_ok()
        })
    });
    // Each chunk in one write, its framing included (a vectored write: no copy), and no Nagle
    // delay on the last short segment of each (a peer's delayed ACK would hold it for up to
    // 40 ms).
    let _ = stream.set_nodelay(true);
    let sent = async {
        stream.write_all(head.as_bytes()).await?;
        while let Some(chunk) = chunks.recv().await {
            let chunk = Bytes::from(chunk);
            if chunked {
                let size = Bytes::from(format!("{:x}\r\n", chunk.len()));
                let mut framed = size.chain(chunk).chain(&b"\r\n"[..]);
                stream.write_all_buf(&mut framed).await?;
            } else {
                stream.write_all(&chunk).await?;
            }
        }
        match render.await {
            Ok(Ok(())) => {}
            // No last chunk, so the client sees the answer cut off.
            Ok(Err(cut)) => {
                return Err(std::io::Error::other(format!("/metrics cut short: {cut}")))
            }
            Err(_) => return Err(std::io::Error::other("rendering /metrics failed")),
        }
        if chunked {
            stream.write_all(b"0\r\n\r\n").await?;
        }
        stream.shutdown().await
    };
    crate::clients::in_time(sent).await
}

/// A short answer with its length; `extra` is more header lines, each ending in CRLF. The
/// body is left out for a HEAD request.
fn small_answer(status: &str, extra: &str, body: &str, head_only: bool) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{}",
        body.len(),
        if head_only { "" } else { body }
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// The head's end is found when it arrives a byte at a time, the blank line split across
    /// reads, with only the new bytes (and the three before them) searched each time.
    #[tokio::test]
    async fn a_head_sent_a_byte_at_a_time_is_answered() {
        for ending in ["\r\n\r\n", "\n\n"] {
            let head = format!("GET /metrics HTTP/1.1{ending}");
            let mut seen = Vec::new();
            let mut searched = 0;
            let mut ended_at = None;
            for (i, &b) in head.as_bytes().iter().enumerate() {
                seen.push(b);
                if head_ends(&seen, searched) {
                    ended_at = Some(i + 1);
                    break;
                }
                searched = seen.len();
            }
            assert_eq!(ended_at, Some(head.len()), "{ending:?}");
        }
        let address = server().await;
        let mut stream = TcpStream::connect(address).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        for b in b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" {
            stream.write_all(&[*b]).await.expect("write");
        }
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("read");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    /// A metrics server over a driver that answers every scrape with no peers.
    async fn server() -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let driver = figures::test_driver(Vec::new(), Default::default(), None);
        tokio::spawn(serve(listener, driver, None));
        address
    }

    async fn exchange(address: std::net::SocketAddr, request: &str) -> String {
        let mut stream = TcpStream::connect(address).await.expect("connect");
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer))
            .await
            .expect("answered in time")
            .expect("read");
        answer
    }

    /// The body of a chunked answer; panics unless it ends with the last chunk.
    fn dechunk(mut rest: &str) -> String {
        let mut body = String::new();
        loop {
            let (size, after) = rest.split_once("\r\n").expect("chunk size line");
            let size = usize::from_str_radix(size, 16).expect("hex size");
            if size == 0 {
                assert_eq!(after, "\r\n", "after the last chunk");
                return body;
            }
            body.push_str(&after[..size]);
            rest = after[size..].strip_prefix("\r\n").expect("chunk end");
        }
    }

    #[tokio::test]
    async fn get_head_and_hand_typed_requests() {
        let address = server().await;
        // HTTP/1.1 (Prometheus): chunked, ending with the last (empty) chunk.
        let get = exchange(address, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(get.starts_with("HTTP/1.1 200 OK\r\n"), "{get}");
        let (head, chunked) = get.split_once("\r\n\r\n").expect("head and body");
        assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
        let body = dechunk(chunked);
        assert!(body.contains("# TYPE bfd_sessions gauge"), "{body}");

        // HTTP/1.0, or no version at all (typed into nc): the body runs to the connection's
        // close, never chunked, which only HTTP/1.1 may get.
        for request in ["GET /metrics HTTP/1.0\r\n\r\n", "GET /metrics\r\n\r\n"] {
            let plain = exchange(address, request).await;
            let (plain_head, plain_body) = plain.split_once("\r\n\r\n").expect("head and body");
            assert!(!plain_head.contains("Transfer-Encoding"), "{plain_head}");
            assert_eq!(plain_body, body);
        }

        // HEAD: the same head, no body.
        let head_only = exchange(address, "HEAD /metrics HTTP/1.1\r\n\r\n").await;
        assert!(head_only.starts_with("HTTP/1.1 200 OK\r\n"), "{head_only}");
        assert!(head_only.ends_with("\r\n\r\n"), "{head_only}");

        // Bare LF line endings, as typed into nc.
        let lf = exchange(address, "GET /metrics HTTP/1.0\n\n").await;
        assert!(lf.starts_with("HTTP/1.1 200 OK\r\n"), "{lf}");

        let other = exchange(address, "GET /other HTTP/1.1\r\n\r\n").await;
        assert!(other.starts_with("HTTP/1.1 404 Not Found\r\n"), "{other}");
    }

    #[tokio::test]
    async fn requests_other_than_a_scrape_get_their_status() {
        let address = server().await;
        let answer = exchange(address, "POST /metrics HTTP/1.1\r\n\r\n").await;
        assert!(
            answer.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{answer}"
        );
        assert!(answer.contains("\r\nAllow: GET, HEAD\r\n"), "{answer}");
        for garbage in ["\u{1}\u{2}\r\n\r\n", "GET /metrics SPDY/3\r\n\r\n"] {
            let answer = exchange(address, garbage).await;
            assert!(
                answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
                "{answer}"
            );
        }
        // HEAD gets no body, whatever the status.
        let answer = exchange(address, "HEAD /other HTTP/1.1\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\n"), "{answer}");
        // A head that never ends.
        let endless = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n", "a".repeat(9000));
        let mut stream = TcpStream::connect(address).await.expect("connect");
        stream.write_all(endless.as_bytes()).await.expect("send");
        let mut answer = vec![0; 64];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
            .await
            .expect("answered in time")
            .expect("read");
        let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
        assert!(
            answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{answer}"
        );
    }

    /// Connections that send nothing (from anywhere the listener is reachable) cannot keep
    /// Prometheus out: it is answered while they are still open, not after they time out.
    #[tokio::test]
    async fn idle_connections_do_not_hold_off_a_scrape() {
        let address = server().await;
        let mut idle = Vec::new();
        for _ in 0..2 * MAX_SCRAPES {
            idle.push(TcpStream::connect(address).await.expect("connect"));
        }
        // Accepted and waiting for their heads before the scrape comes.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let answer = exchange(address, "GET /metrics HTTP/1.1\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        let mut buf = [0; 16];
        for stream in &idle {
            match stream.try_read(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                other => panic!("an idle connection was let go before the scrape: {other:?}"),
            }
        }
    }

    /// A route installer held up by the kernel costs the scrape its route series only.
    #[tokio::test(start_paused = true)]
    async fn a_stuck_route_installer_leaves_its_series_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let driver = figures::test_driver(figures::test_figures(3), Default::default(), None);
        let (routes, _task) = crate::routes::unresponsive();
        tokio::spawn(serve(listener, driver, Some(routes)));
        let answer = exchange(address, "GET /metrics HTTP/1.1\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.contains("bfd_session_state{"), "{answer}");
        assert!(!answer.contains("bfd_route"), "{answer}");
    }

    /// A reload that changes the peers in mid-scrape: the answer has no last chunk, so
    /// Prometheus counts a failed scrape instead of storing a mix of two configurations.
    #[tokio::test]
    async fn a_scrape_cut_by_a_reload_shows_as_cut() {
        let peers = figures::test_figures(2000);
        for (change_after, whole) in [(None, true), (Some(1), false)] {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let address = listener.local_addr().expect("address");
            let driver = figures::test_driver(peers.clone(), Default::default(), change_after);
            tokio::spawn(serve(listener, driver, None));
            let answer = exchange(address, "GET /metrics HTTP/1.1\r\n\r\n").await;
            assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
            assert_eq!(answer.ends_with("\r\n0\r\n\r\n"), whole, "{change_after:?}");
        }
    }
}
