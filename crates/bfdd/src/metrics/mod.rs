//! Prometheus metrics at `/metrics`: rendered from a snapshot on each scrape, so a session
//! removed by a reload is gone from the next scrape, and the packet path never touches a metric.

mod render;
mod text;

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

pub use render::render;

use crate::clients::{send_answer, serve_clients};
use crate::routes::RouteHandle;
use crate::status::Snapshot;
use crate::to_driver::ToDriver;

/// Scrapes served at once (see [`crate::clients`]); Prometheus makes one at a time.
const MAX_CLIENTS: usize = 8;

/// Asks the driver for a snapshot.
pub type SnapshotRequest = oneshot::Sender<Snapshot>;

/// Serves `GET /metrics` until the listener fails; each scrape asks the driver for a snapshot.
pub async fn serve(
    listener: TcpListener,
    driver: ToDriver<SnapshotRequest>,
    routes: Option<RouteHandle>,
) {
    serve_clients("metrics", listener, MAX_CLIENTS, move |stream| {
        answer(stream, driver.clone(), routes.clone())
    })
    .await;
}

async fn answer(
    mut stream: TcpStream,
    driver: ToDriver<SnapshotRequest>,
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
    let (method, target) = {
        let mut words = line.split(|&b| b == b' ' || b == b'\r');
        (
            words.next().unwrap_or_default(),
            words.next().unwrap_or_default(),
        )
    };
    let head_only = method == b"HEAD";
    let path_ok = (method == b"GET" || head_only)
        && (target == b"/metrics" || target.starts_with(b"/metrics?"));
    let (status, body) = if path_ok {
        let (tx, rx) = oneshot::channel();
        if driver.send(tx).await.is_err() {
            (
                "503 Service Unavailable",
                "daemon is stopping\n".to_string(),
            )
        } else {
            let snapshot = match rx.await {
                Ok(mut snapshot) => {
                    if let Some(routes) = &routes {
                        snapshot.routes = Some(routes.metrics().await);
                    }
                    Ok(snapshot)
                }
                Err(e) => Err(e),
            };
            // Rendering is O(sessions) and large (about 1 KB per session): off the runtime's
            // thread, so a scrape never delays the driver's packets.
            let rendered = match snapshot {
                Ok(s) => tokio::task::spawn_blocking(move || render(&s)).await.ok(),
                Err(_) => None,
            };
            match rendered {
                Some(text) => ("200 OK", text),
                None => (
                    "503 Service Unavailable",
                    "daemon is stopping\n".to_string(),
                ),
            }
        }
    } else {
        ("404 Not Found", "see /metrics\n".to_string())
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        body.len(),
        if head_only { "" } else { body.as_str() }
    );
    send_answer(&mut stream, response.as_bytes()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A metrics server over a driver that answers every scrape with an empty snapshot.
    async fn server() -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let (tx, mut rx) = tokio::sync::mpsc::channel::<SnapshotRequest>(8);
        tokio::spawn(async move {
            while let Some(reply) = rx.recv().await {
                let _ = reply.send(Snapshot::default());
            }
        });
        let driver = ToDriver::new(tx, std::thread::current());
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

    #[tokio::test]
    async fn get_head_and_hand_typed_requests() {
        let address = server().await;
        let get = exchange(address, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(get.starts_with("HTTP/1.1 200 OK\r\n"), "{get}");
        let (head, body) = get.split_once("\r\n\r\n").expect("head and body");
        assert!(body.contains("# TYPE bfd_sessions gauge"), "{body}");
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{head}"
        );

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
}
