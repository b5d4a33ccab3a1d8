//! Prometheus metrics at `/metrics`: rendered from the driver's figures on each scrape (see
//! [`crate::figures`]), so a session removed by a reload is gone from the next scrape, and the
//! packet path never touches a metric.

mod render;
mod text;

use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub use render::render;

use crate::clients::{send_answer, serve_clients, DRIVER_TIMEOUT};
use crate::figures::{self, Cut, DriverFigures, FiguresRequest};
use crate::routes::RouteHandle;
use crate::to_driver::ToDriver;

/// Scrapes served at once (see [`crate::clients`]); Prometheus makes one at a time.
const MAX_CLIENTS: usize = 8;

/// Serves `GET /metrics` until the listener fails; each scrape asks the driver for its figures.
pub async fn serve(
    listener: TcpListener,
    driver: ToDriver<FiguresRequest>,
    routes: Option<RouteHandle>,
) {
    serve_clients("metrics", listener, MAX_CLIENTS, move |stream| {
        answer(stream, driver.clone(), routes.clone())
    })
    .await;
}

async fn answer(
    mut stream: TcpStream,
    driver: ToDriver<FiguresRequest>,
    routes: Option<RouteHandle>,
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let read_head = async {
        // The blank line ending the head; bare LF endings too (hand-typed requests).
        while !(head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n"))
            && head.len() < 8192
        {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&chunk[..n]);
        }
        Ok::<_, std::io::Error>(())
    };
    tokio::time::timeout(Duration::from_secs(5), read_head)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "request head"))??;
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let (method, target, version) = {
        let mut words = line.split(|&b| b == b' ' || b == b'\r');
        (
            words.next().unwrap_or_default(),
            words.next().unwrap_or_default(),
            words.next().unwrap_or_default(),
        )
    };
    let head_only = method == b"HEAD";
    let path_ok = (method == b"GET" || head_only)
        && (target == b"/metrics" || target.starts_with(b"/metrics?"));
    if !path_ok {
        return send_answer(
            &mut stream,
            &small_answer("404 Not Found", "see /metrics\n"),
        )
        .await;
    }
    // Bounded: a driver that stopped turning must not hold every scrape slot.
    let figures = tokio::time::timeout(DRIVER_TIMEOUT, async {
        let mut daemon = figures::daemon_figures(&driver).await?;
        if let Some(routes) = &routes {
            daemon.routes = Some(routes.metrics().await);
        }
        let peers = DriverFigures::start(driver).await?;
        Ok::<_, Cut>((daemon, peers))
    })
    .await
    .unwrap_or(Err(Cut::Late));
    let (daemon, peers) = match figures {
        Ok(figures) => figures,
        Err(cut) => {
            let answer = small_answer("503 Service Unavailable", &format!("{cut}\n"));
            return send_answer(&mut stream, &answer).await;
        }
    };
    // HTTP/1.1 clients (Prometheus) get the body chunked, so a cut-off answer shows as one;
    // HTTP/1.0 clients get it up to the connection's close.
    // Only to a client that said HTTP/1.1 or later (RFC 9112 §6.1).
    let chunked = version.starts_with(b"HTTP/1.") && version != b"HTTP/1.0";
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n{}Connection: close\r\n\r\n",
        if chunked { "Transfer-Encoding: chunked\r\n" } else { "" }
    );
    if head_only {
        return send_answer(&mut stream, head.as_bytes()).await;
    }
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

/// A short answer with its length.
fn small_answer(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

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
