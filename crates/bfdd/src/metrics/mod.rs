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
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
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
    let path_ok = line.starts_with(b"GET /metrics ") || line.starts_with(b"GET /metrics?");
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
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    send_answer(&mut stream, response.as_bytes()).await
}
