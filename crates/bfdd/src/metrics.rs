//! Prometheus metrics: rendered from a snapshot on each scrape, so a session removed by a reload
//! is gone from the next scrape, and the packet path never touches a metric.

use std::time::Duration;

use bfd_core::State;
use prometheus::{Encoder, GaugeVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use crate::routes::{RouteHandle, RouteMetrics};
use crate::status::Snapshot;

const STATES: [State; 4] = [State::AdminDown, State::Down, State::Init, State::Up];
const SESSION_LABELS: [&str; 3] = ["peer", "local", "interface"];

fn gauge(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<GaugeVec> {
    let g = GaugeVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(g.clone()))?;
    Ok(g)
}

fn counter(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

/// The text exposition of a snapshot.
pub fn render(snapshot: &Snapshot) -> prometheus::Result<String> {
    let r = Registry::new();
    let up = gauge(
        &r,
        "bfd_session_up",
        "1 when the BFD session is Up, else 0.",
        &SESSION_LABELS,
    )?;
    let state = gauge(
        &r,
        "bfd_session_state",
        "Current state of the session, one-hot over admin_down, down, init, up.",
        &["peer", "local", "interface", "state"],
    )?;
    let changes = counter(
        &r,
        "bfd_session_state_changes_total",
        "State transitions of the session, by the state entered.",
        &["peer", "local", "interface", "to"],
    )?;
    let sent = counter(
        &r,
        "bfd_control_packets_sent_total",
        "BFD control packets sent.",
        &SESSION_LABELS,
    )?;
    let received = counter(
        &r,
        "bfd_control_packets_received_total",
        "BFD control packets received and accepted by the session.",
        &SESSION_LABELS,
    )?;
    let detection = gauge(
        &r,
        "bfd_session_detection_time_seconds",
        "Negotiated detection time: silence longer than this takes the session down.",
        &SESSION_LABELS,
    )?;
    let interval = gauge(
        &r,
        "bfd_session_tx_interval_seconds",
        "Negotiated interval between transmitted control packets, before jitter.",
        &SESSION_LABELS,
    )?;
    let dropped = counter(
        &r,
        "bfd_packets_dropped_total",
        "Received packets discarded, by reason.",
        &["reason"],
    )?;
    let count = IntGauge::new("bfd_sessions", "Configured BFD sessions.")?;
    r.register(Box::new(count.clone()))?;
    count.set(i64::try_from(snapshot.sessions.len()).unwrap_or(i64::MAX));

    for s in &snapshot.sessions {
        let l = [
            s.labels.peer.as_str(),
            s.labels.local.as_str(),
            s.labels.interface.as_str(),
        ];
        up.with_label_values(&l)
            .set(f64::from(u8::from(s.state == Some(State::Up))));
        for st in STATES {
            let v = f64::from(u8::from(s.state.unwrap_or(State::Down) == st));
            state
                .with_label_values(&[l[0], l[1], l[2], st.as_str()])
                .set(v);
            changes
                .with_label_values(&[l[0], l[1], l[2], st.as_str()])
                .inc_by(s.state_changes[usize::from(st.bits())]);
        }
        sent.with_label_values(&l).inc_by(s.tx_packets);
        received.with_label_values(&l).inc_by(s.rx_packets);
        if let Some(d) = s.detection_time {
            detection.with_label_values(&l).set(d);
        }
        if let Some(i) = s.tx_interval {
            interval.with_label_values(&l).set(i);
        }
    }
    for (reason, n) in &snapshot.dropped {
        dropped.with_label_values(&[reason]).inc_by(*n);
    }
    if let Some(routes) = &snapshot.routes {
        render_routes(&r, routes)?;
    }

    if snapshot.frr_exporter {
        // The names frr_exporter derives from FRR, so dashboards built on it keep working.
        let fs = gauge(
            &r,
            "frr_bfd_peer_state",
            "State of the bfd peer, 1 up, 0 otherwise.",
            &["local", "peer"],
        )?;
        let fu = gauge(
            &r,
            "frr_bfd_peer_uptime",
            "Uptime of the bfd peer in seconds.",
            &["local", "peer"],
        )?;
        let fc = IntGauge::new("frr_bfd_peer_count", "Number of peers detected.")?;
        r.register(Box::new(fc.clone()))?;
        fc.set(i64::try_from(snapshot.sessions.len()).unwrap_or(i64::MAX));
        for s in &snapshot.sessions {
            let l = [s.labels.local.as_str(), s.labels.peer.as_str()];
            let is_up = s.state == Some(State::Up);
            fs.with_label_values(&l).set(f64::from(u8::from(is_up)));
            fu.with_label_values(&l)
                .set(if is_up { s.state_seconds.floor() } else { 0.0 });
        }
    }

    let mut out = Vec::new();
    TextEncoder::new().encode(&r.gather(), &mut out)?;
    String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
}

fn render_routes(r: &Registry, routes: &RouteMetrics) -> prometheus::Result<()> {
    let installed = IntGauge::new("bfd_routes_installed", "Routes of ours in the kernel now.")?;
    r.register(Box::new(installed.clone()))?;
    installed.set(i64::try_from(routes.installed).unwrap_or(i64::MAX));
    let ops = counter(
        r,
        "bfd_route_operations_total",
        "Netlink route operations, by operation and result.",
        &["op", "result"],
    )?;
    for (op, result, n) in &routes.operations {
        ops.with_label_values(&[op, result]).inc_by(*n);
    }
    let latency = gauge(
        r,
        "bfd_route_withdraw_latency_seconds",
        "From a session leaving Up to the kernel's ack of the route change, over recent withdrawals.",
        &["quantile"],
    )?;
    let w = &routes.withdraw_latency;
    for (q, v) in [("0.5", w.p50_us), ("0.99", w.p99_us), ("1", w.max_us)] {
        if let Some(us) = v {
            latency.with_label_values(&[q]).set(us as f64 / 1e6);
        }
    }
    Ok(())
}

/// Asks the driver for a snapshot.
pub type SnapshotRequest = oneshot::Sender<Snapshot>;

/// Serves `GET /metrics` until the listener fails; each scrape asks the driver for a snapshot.
pub async fn serve(
    listener: TcpListener,
    driver: mpsc::Sender<SnapshotRequest>,
    routes: Option<RouteHandle>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let driver = driver.clone();
        let routes = routes.clone();
        tokio::spawn(async move {
            if let Err(e) = answer(stream, driver, routes).await {
                debug!(error = %e, "metrics client");
            }
        });
    }
}

async fn answer(
    mut stream: TcpStream,
    driver: mpsc::Sender<SnapshotRequest>,
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
            match snapshot.map(|s| render(&s)) {
                Ok(Ok(text)) => ("200 OK", text),
                Ok(Err(e)) => ("500 Internal Server Error", format!("{e}\n")),
                Err(_) => (
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
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::Labels;
    use crate::status::SessionSnapshot;

    fn session(peer: &str, state: Option<State>) -> SessionSnapshot {
        SessionSnapshot {
            labels: Labels {
                peer: peer.into(),
                local: "198.51.100.1".into(),
                interface: "net1".into(),
            },
            state,
            state_seconds: 42.7,
            state_changes: [0, 1, 1, 2],
            tx_packets: 10,
            rx_packets: 9,
            detection_time: Some(0.9),
            tx_interval: Some(0.3),
        }
    }

    #[test]
    fn series_follow_prometheus_naming_and_session_state() {
        let text = render(&Snapshot {
            sessions: vec![
                session("198.51.100.2", Some(State::Up)),
                session("198.51.100.3", None),
            ],
            dropped: vec![("ttl", 3)],
            frr_exporter: false,
            routes: None,
        })
        .unwrap();
        let l = r#"interface="net1",local="198.51.100.1",peer="198.51.100.2""#;
        assert!(text.contains(&format!("bfd_session_up{{{l}}} 1")), "{text}");
        assert!(text.contains(
            r#"bfd_session_up{interface="net1",local="198.51.100.1",peer="198.51.100.3"} 0"#
        ));
        assert!(text.contains(&format!("bfd_session_state{{{l},state=\"up\"}} 1")));
        assert!(text.contains(&format!("bfd_session_state{{{l},state=\"down\"}} 0")));
        assert!(text.contains(r#"bfd_session_state{interface="net1",local="198.51.100.1",peer="198.51.100.3",state="down"} 1"#));
        assert!(text.contains(&format!(
            "bfd_session_state_changes_total{{{l},to=\"up\"}} 2"
        )));
        assert!(text.contains(&format!("bfd_control_packets_sent_total{{{l}}} 10")));
        assert!(text.contains(&format!("bfd_control_packets_received_total{{{l}}} 9")));
        assert!(text.contains(&format!("bfd_session_detection_time_seconds{{{l}}} 0.9")));
        assert!(text.contains(&format!("bfd_session_tx_interval_seconds{{{l}}} 0.3")));
        assert!(text.contains(r#"bfd_packets_dropped_total{reason="ttl"} 3"#));
        assert!(text.contains("bfd_sessions 2"));
        assert!(!text.contains("frr_bfd"));
    }

    #[test]
    fn frr_exporter_series_on_request() {
        let text = render(&Snapshot {
            sessions: vec![
                session("198.51.100.2", Some(State::Up)),
                session("198.51.100.3", Some(State::Down)),
            ],
            dropped: vec![],
            frr_exporter: true,
            routes: None,
        })
        .unwrap();
        assert!(
            text.contains(r#"frr_bfd_peer_state{local="198.51.100.1",peer="198.51.100.2"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"frr_bfd_peer_uptime{local="198.51.100.1",peer="198.51.100.2"} 42"#)
        );
        assert!(text.contains(r#"frr_bfd_peer_state{local="198.51.100.1",peer="198.51.100.3"} 0"#));
        assert!(text.contains("frr_bfd_peer_count 2"));
    }
}
