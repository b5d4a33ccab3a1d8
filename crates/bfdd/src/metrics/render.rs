//! Which series `/metrics` shows, from a [`Snapshot`].

use bfd_core::State;

use super::text::{Exposition, Kind};
use crate::peers::Labels;
use crate::routes::RouteMetrics;
use crate::status::{SessionFigures, Snapshot};
use crate::transmit_timing::{TransmitTiming, DELAY_BUCKETS};

const STATES: [State; 4] = [State::AdminDown, State::Down, State::Init, State::Up];

/// Bytes of text per session, to size the buffer once.
const BYTES_PER_SESSION: usize = 1400;

/// A session's figures with its label values written out (here, not on the driver's thread).
struct SessionSnapshot<'a> {
    labels: Labels,
    figures: &'a SessionFigures,
}

impl SessionSnapshot<'_> {
    fn state(&self) -> Option<State> {
        self.figures.state.map(|(state, _)| state)
    }
}

impl<'a> From<&'a SessionFigures> for SessionSnapshot<'a> {
    fn from(figures: &'a SessionFigures) -> SessionSnapshot<'a> {
        SessionSnapshot {
            labels: Labels::new(figures.peer, figures.local, figures.interface.as_deref()),
            figures,
        }
    }
}

/// A session's labels, and `extra` (the state, say) if any. What tells sessions apart: a
/// single-hop and a multihop session to the same peer may both be configured, so a multihop
/// session's series also carry `multihop="true"`. Only theirs: the label on every single-hop
/// series would make a scrape of 10,000 sessions 5 MB larger.
fn session_labels<'s>(
    s: &'s SessionSnapshot<'_>,
    extra: Option<(&'static str, &'s str)>,
) -> ([(&'static str, &'s str); 5], usize) {
    let mut labels = [("", ""); 5];
    let mut n = 0;
    let mut push = |label| {
        labels[n] = label;
        n += 1;
    };
    push(("interface", s.labels.interface.as_str()));
    push(("local", s.labels.local.as_str()));
    if s.figures.multihop {
        push(("multihop", "true"));
    }
    push(("peer", s.labels.peer.as_str()));
    if let Some(extra) = extra {
        push(extra);
    }
    (labels, n)
}

/// A family with one series per session; a session without a value is left out.
fn per_session<V: std::fmt::Display>(
    e: &mut Exposition,
    sessions: &[SessionSnapshot],
    name: &'static str,
    help: &'static str,
    kind: Kind,
    value: impl Fn(&SessionSnapshot) -> Option<V>,
) {
    e.family(name, help, kind);
    for s in sessions {
        if let Some(v) = value(s) {
            let (labels, n) = session_labels(s, None);
            e.sample(name, &labels[..n], v);
        }
    }
}

/// The text exposition of a snapshot, whole.
pub fn render(snapshot: &Snapshot) -> String {
    let mut e = Exposition::with_capacity(4096 + snapshot.sessions.len() * BYTES_PER_SESSION);
    write(snapshot, &mut e);
    e.finish()
}

/// The text exposition of a snapshot, handed to `sink` in chunks as it is written (see
/// [`Exposition::streaming`]).
pub fn render_streaming(snapshot: &Snapshot, sink: impl FnMut(String) -> bool + Send + 'static) {
    let mut e = Exposition::streaming(sink);
    write(snapshot, &mut e);
    e.finish();
}

fn write(snapshot: &Snapshot, e: &mut Exposition) {
    let sessions: &[SessionSnapshot] = &snapshot
        .sessions
        .iter()
        .map(SessionSnapshot::from)
        .collect::<Vec<_>>();

    e.family("bfd_sessions", "Configured BFD sessions.", Kind::Gauge);
    e.sample("bfd_sessions", &[], sessions.len());

    let name = "bfd_session_up";
    e.family(name, "1 when the BFD session is Up, else 0.", Kind::Gauge);
    for s in sessions {
        let (labels, n) = session_labels(s, None);
        e.sample(name, &labels[..n], u8::from(s.state() == Some(State::Up)));
    }

    let name = "bfd_session_state";
    e.family(
        name,
        "Current state of the session, one-hot over admin_down, down, init, up.",
        Kind::Gauge,
    );
    for s in sessions {
        // A peer not started yet counts as down.
        let current = s.state().unwrap_or(State::Down);
        for st in STATES {
            let (labels, n) = session_labels(s, Some(("state", st.as_str())));
            e.sample(name, &labels[..n], u8::from(current == st));
        }
    }

    let name = "bfd_session_state_changes_total";
    e.family(
        name,
        "State transitions of the session, by the state entered.",
        Kind::Counter,
    );
    for s in sessions {
        for st in STATES {
            let (labels, n) = session_labels(s, Some(("to", st.as_str())));
            e.sample(
                name,
                &labels[..n],
                s.figures.state_changes[usize::from(st.bits())],
            );
        }
    }

    per_session(
        e,
        sessions,
        "bfd_control_packets_sent_total",
        "BFD control packets sent.",
        Kind::Counter,
        |s| Some(s.figures.tx_packets),
    );
    per_session(
        e,
        sessions,
        "bfd_control_packets_send_errors_total",
        "BFD control packets the kernel refused to send (socket buffer full, no route).",
        Kind::Counter,
        |s| Some(s.figures.send_errors),
    );
    per_session(
        e,
        sessions,
        "bfd_control_packets_received_total",
        "BFD control packets received and accepted by the session.",
        Kind::Counter,
        |s| Some(s.figures.rx_packets),
    );
    per_session(
        e,
        sessions,
        "bfd_session_detection_time_seconds",
        "Negotiated detection time: silence longer than this takes the session down.",
        Kind::Gauge,
        |s| s.figures.detection_time.map(|d| d.as_secs_f64()),
    );
    per_session(
        e,
        sessions,
        "bfd_session_tx_interval_seconds",
        "Negotiated interval between transmitted control packets, before jitter.",
        Kind::Gauge,
        |s| s.figures.tx_interval.map(|d| d.as_secs_f64()),
    );

    let name = "bfd_packets_dropped_total";
    e.family(
        name,
        "Received packets discarded, by reason.",
        Kind::Counter,
    );
    for (reason, n) in &snapshot.dropped {
        e.sample(name, &[("reason", reason)], n);
    }

    render_transmit_timing(e, &snapshot.transmit);
    if let Some(routes) = &snapshot.routes {
        render_routes(e, routes);
    }
    if snapshot.frr_exporter {
        render_frr_exporter(e, sessions);
    }
}

fn render_routes(e: &mut Exposition, routes: &RouteMetrics) {
    e.family(
        "bfd_routes_installed",
        "Routes of ours in the kernel now.",
        Kind::Gauge,
    );
    e.sample("bfd_routes_installed", &[], routes.installed);
    let name = "bfd_route_operations_total";
    e.family(
        name,
        "Netlink route operations, by operation and result.",
        Kind::Counter,
    );
    for (op, result, n) in &routes.operations {
        e.sample(name, &[("op", op), ("result", result)], n);
    }
    let name = "bfd_route_withdraw_latency_seconds";
    e.family(
        name,
        "From a session leaving Up to the kernel's ack of the route change, over recent withdrawals.",
        Kind::Gauge,
    );
    let w = &routes.withdraw_latency;
    for (q, v) in [("0.5", w.p50_us), ("0.99", w.p99_us), ("1", w.max_us)] {
        if let Some(us) = v {
            e.sample(name, &[("quantile", q)], us as f64 / 1e6);
        }
    }
}

fn render_transmit_timing(e: &mut Exposition, t: &TransmitTiming) {
    let name = "bfd_transmit_late_total";
    e.family(
        name,
        "Periodic control packets sent after the top of the RFC 5880 6.8.7 jitter window: the daemon did not get a CPU in time.",
        Kind::Counter,
    );
    e.sample(name, &[], t.late);
    e.family(
        "bfd_transmit_delay_seconds",
        "How long after its scheduled time each periodic control packet left.",
        Kind::Histogram,
    );
    let mut cumulative = 0;
    for (bound, n) in DELAY_BUCKETS.iter().zip(&t.delay_counts) {
        cumulative += n;
        let le = bound.to_string();
        e.sample(
            "bfd_transmit_delay_seconds_bucket",
            &[("le", &le)],
            cumulative,
        );
    }
    let count = t.count();
    e.sample(
        "bfd_transmit_delay_seconds_bucket",
        &[("le", "+Inf")],
        count,
    );
    e.sample("bfd_transmit_delay_seconds_sum", &[], t.delay_sum);
    e.sample("bfd_transmit_delay_seconds_count", &[], count);
}

/// The series frr_exporter derives from FRR, so dashboards built on it keep working.
///
/// Its labels are `local` and `peer` only: of sessions that differ in nothing else (single hop
/// and multihop, or a link-local peer on two interfaces) the first configured stands for all,
/// since two samples of one series make Prometheus keep one of them at random.
fn render_frr_exporter(e: &mut Exposition, sessions: &[SessionSnapshot]) {
    let mut seen = std::collections::HashSet::new();
    let distinct: Vec<&SessionSnapshot> = sessions
        .iter()
        .filter(|s| seen.insert((s.labels.local.as_str(), s.labels.peer.as_str())))
        .collect();
    let name = "frr_bfd_peer_state";
    e.family(
        name,
        "State of the bfd peer, 1 up, 0 otherwise.",
        Kind::Gauge,
    );
    for s in &distinct {
        let labels = [
            ("local", s.labels.local.as_str()),
            ("peer", s.labels.peer.as_str()),
        ];
        e.sample(name, &labels, u8::from(s.state() == Some(State::Up)));
    }
    let name = "frr_bfd_peer_uptime";
    e.family(name, "Uptime of the bfd peer in seconds.", Kind::Gauge);
    for s in &distinct {
        let labels = [
            ("local", s.labels.local.as_str()),
            ("peer", s.labels.peer.as_str()),
        ];
        let up = s.state() == Some(State::Up);
        let uptime = s.figures.in_state.filter(|_| up).unwrap_or_default();
        e.sample(name, &labels, uptime.as_secs());
    }
    e.family(
        "frr_bfd_peer_count",
        "Number of peers detected.",
        Kind::Gauge,
    );
    e.sample("frr_bfd_peer_count", &[], sessions.len());
}

#[cfg(test)]
mod tests {
    use super::super::render;
    use crate::status::{SessionFigures, Snapshot};
    use crate::transmit_timing::TransmitTiming;
    use bfd_core::{Diagnostic, Punctuality, State};
    use std::time::Duration;

    fn session(peer: &str, state: Option<State>) -> SessionFigures {
        SessionFigures {
            id: 7,
            peer: peer.parse().expect("test address"),
            local: Some("198.51.100.1".parse().expect("test address")),
            interface: Some("net1".into()),
            multihop: false,
            state: state.map(|s| (s, Diagnostic::NoDiagnostic)),
            in_state: Some(Duration::from_millis(42_700)),
            state_changes: [0, 1, 1, 2],
            tx_packets: 10,
            send_errors: 1,
            rx_packets: 9,
            detection_time: Some(Duration::from_millis(900)),
            tx_interval: Some(Duration::from_millis(300)),
        }
    }

    /// `n` sessions Up, to distinct peers.
    fn up_sessions(n: u32) -> Vec<SessionFigures> {
        (0..n)
            .map(|i| {
                session(
                    &format!("198.18.{}.{}", i / 250, 1 + i % 250),
                    Some(State::Up),
                )
            })
            .collect()
    }

    /// Streamed, the text is the same as rendered whole, in chunks of about 64 KiB: a scrape
    /// never holds the whole text (13 MB at 10,000 sessions).
    #[test]
    fn streamed_text_is_the_whole_text_in_bounded_chunks() {
        let snapshot = Snapshot {
            sessions: up_sessions(500),
            dropped: vec![("ttl", 3)],
            frr_exporter: true,
            ..Snapshot::default()
        };
        let whole = render(&snapshot);
        let chunks = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let into = chunks.clone();
        super::render_streaming(&snapshot, move |chunk| {
            into.lock().expect("lock").push(chunk);
            true
        });
        let chunks = chunks.lock().expect("lock");
        assert!(chunks.len() > 3, "{} chunks", chunks.len());
        assert!(chunks.iter().all(|c| c.len() < 80 * 1024));
        assert_eq!(chunks.concat(), whole);
    }

    /// A reader that leaves stops the render: no further chunk is made.
    #[test]
    fn a_render_nobody_reads_stops() {
        let snapshot = Snapshot {
            sessions: up_sessions(500),
            ..Snapshot::default()
        };
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = calls.clone();
        super::render_streaming(&snapshot, move |_| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            false
        });
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
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
            ..Snapshot::default()
        });
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
        assert!(text.contains(&format!("bfd_control_packets_send_errors_total{{{l}}} 1")));
        assert!(text.contains(&format!("bfd_session_detection_time_seconds{{{l}}} 0.9")));
        assert!(text.contains(&format!("bfd_session_tx_interval_seconds{{{l}}} 0.3")));
        assert!(text.contains(r#"bfd_packets_dropped_total{reason="ttl"} 3"#));
        assert!(text.contains("bfd_sessions 2"));
        assert!(!text.contains("frr_bfd"));
    }

    #[test]
    fn single_hop_and_multihop_sessions_to_one_peer_are_separate_series() {
        let mut multihop = session("198.51.100.2", Some(State::Down));
        multihop.multihop = true;
        // With frr_exporter's series too, whose labels cannot tell the two apart.
        let text = render(&Snapshot {
            sessions: vec![session("198.51.100.2", Some(State::Up)), multihop],
            frr_exporter: true,
            ..Snapshot::default()
        });
        let series: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("bfd_session_up{"))
            .collect();
        assert_eq!(series.len(), 2, "{text}");
        assert!(!series[0].contains("multihop") && series[0].ends_with(" 1"));
        assert!(series[1].contains(r#"multihop="true""#) && series[1].ends_with(" 0"));
        // No series appears twice.
        let samples: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series))
            .collect();
        let distinct: std::collections::HashSet<&&str> = samples.iter().collect();
        assert_eq!(distinct.len(), samples.len(), "{text}");
        // The first configured (here the single-hop session) stands for both there.
        assert!(
            text.contains("frr_bfd_peer_state{local=\"198.51.100.1\",peer=\"198.51.100.2\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("frr_bfd_peer_count 2\n"), "{text}");
    }

    #[test]
    fn transmit_delays_render_as_a_cumulative_histogram() {
        let mut transmit = TransmitTiming::default();
        for (delay_us, late) in [(300, false), (1_200, false), (1_900, false), (8_000, true)] {
            transmit.record(Punctuality {
                delay: Duration::from_micros(delay_us),
                late,
            });
        }
        let text = render(&Snapshot {
            transmit,
            ..Snapshot::default()
        });
        assert!(
            text.contains("# TYPE bfd_transmit_delay_seconds histogram"),
            "{text}"
        );
        assert!(text.contains("bfd_transmit_late_total 1\n"));
        assert!(text.contains("bfd_transmit_delay_seconds_bucket{le=\"0.0005\"} 1\n"));
        assert!(text.contains("bfd_transmit_delay_seconds_bucket{le=\"0.001\"} 1\n"));
        assert!(text.contains("bfd_transmit_delay_seconds_bucket{le=\"0.002\"} 3\n"));
        assert!(text.contains("bfd_transmit_delay_seconds_bucket{le=\"0.01\"} 4\n"));
        assert!(text.contains("bfd_transmit_delay_seconds_bucket{le=\"+Inf\"} 4\n"));
        assert!(text.contains("bfd_transmit_delay_seconds_count 4\n"));
        assert!(text.contains("bfd_transmit_delay_seconds_sum 0.0114\n"));
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
            ..Snapshot::default()
        });
        assert!(
            text.contains(r#"frr_bfd_peer_state{local="198.51.100.1",peer="198.51.100.2"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("frr_bfd_peer_uptime{local=\"198.51.100.1\",peer=\"198.51.100.2\"} 42\n")
        );
        assert!(text.contains(r#"frr_bfd_peer_state{local="198.51.100.1",peer="198.51.100.3"} 0"#));
        assert!(text.contains("frr_bfd_peer_count 2"));
    }
}
