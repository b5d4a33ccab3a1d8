//! Which series `/metrics` shows, from the daemon's figures and its peers' (see
//! [`crate::figures`]).

use std::collections::HashSet;
use std::fmt::Write;
use std::ops::Range;

use bfd_core::State;

use super::text::{Exposition, Kind};
use crate::figures::{Cut, DaemonFigures, PeerFigures};
use crate::routes::RouteMetrics;
use crate::status::SessionFigures;
use crate::transmit_timing::{TransmitTiming, DELAY_BUCKETS};

const STATES: [State; 4] = [State::AdminDown, State::Down, State::Init, State::Up];

/// Bytes of text per session, to size the buffer once.
const BYTES_PER_SESSION: usize = 1400;

/// A session's label values written out, into one buffer used again for every session: a
/// scrape holds no label text beyond the session being written.
#[derive(Default)]
struct LabelText {
    text: String,
    peer: Range<usize>,
    local: Range<usize>,
    interface: Range<usize>,
}

impl LabelText {
    fn fill(&mut self, figures: &SessionFigures) {
        let text = &mut self.text;
        text.clear();
        let field = |text: &mut String, value: Option<&dyn std::fmt::Display>| {
            let start = text.len();
            if let Some(value) = value {
                let _ = write!(text, "{value}");
            }
            start..text.len()
        };
        self.peer = field(text, Some(&figures.peer));
        self.local = field(text, figures.local.as_ref().map(|a| a as _));
        self.interface = field(text, figures.interface.as_ref().map(|i| i as _));
    }

    fn peer(&self) -> &str {
        &self.text[self.peer.clone()]
    }

    /// "" when not pinned.
    fn local(&self) -> &str {
        &self.text[self.local.clone()]
    }

    /// "" when not bound.
    fn interface(&self) -> &str {
        &self.text[self.interface.clone()]
    }
}

fn state(figures: &SessionFigures) -> Option<State> {
    figures.state.map(|(state, _)| state)
}

/// A session's labels, and `extra` (the state, say) if any. What tells sessions apart: a
/// single-hop and a multihop session to the same peer may both be configured, so a multihop
/// session's series also carry `multihop="true"`. Only theirs: the label on every single-hop
/// series would make a scrape of 10,000 sessions 5 MB larger.
fn session_labels<'s>(
    labels: &'s LabelText,
    multihop: bool,
    extra: Option<(&'static str, &'s str)>,
) -> ([(&'static str, &'s str); 5], usize) {
    let mut list = [("", ""); 5];
    let mut n = 0;
    let mut push = |label| {
        list[n] = label;
        n += 1;
    };
    push(("interface", labels.interface()));
    push(("local", labels.local()));
    if multihop {
        push(("multihop", "true"));
    }
    push(("peer", labels.peer()));
    if let Some(extra) = extra {
        push(extra);
    }
    (list, n)
}

/// A family with series per session, each session's written by `write` with its labels; one
/// pass over the peers' figures.
fn session_family(
    e: &mut Exposition,
    peers: &dyn PeerFigures,
    name: &'static str,
    help: &'static str,
    kind: Kind,
    mut write: impl FnMut(&mut Exposition, &LabelText, &SessionFigures),
) -> Result<(), Cut> {
    e.family(name, help, kind);
    let mut labels = LabelText::default();
    peers.for_each_chunk(&mut |chunk| {
        for figures in chunk {
            labels.fill(figures);
            write(e, &labels, figures);
        }
        if e.stopped() {
            return Err(Cut::Gone);
        }
        Ok(())
    })
}

/// A family with one series per session; a session without a value is left out.
fn per_session<V: std::fmt::Display>(
    e: &mut Exposition,
    peers: &dyn PeerFigures,
    name: &'static str,
    help: &'static str,
    kind: Kind,
    value: impl Fn(&SessionFigures) -> Option<V>,
) -> Result<(), Cut> {
    session_family(e, peers, name, help, kind, |e, labels, figures| {
        if let Some(v) = value(figures) {
            let (labels, n) = session_labels(labels, figures.multihop, None);
            e.sample(name, &labels[..n], v);
        }
    })
}

/// The text exposition, whole.
pub fn render(daemon: &DaemonFigures, peers: &dyn PeerFigures) -> Result<String, Cut> {
    let mut e = Exposition::with_capacity(4096 + peers.total() * BYTES_PER_SESSION);
    write(daemon, peers, &mut e)?;
    Ok(e.finish())
}

/// The text exposition, handed to `sink` in chunks as it is written (see
/// [`Exposition::streaming`]). Cut short when the sink stops taking chunks, or the peers'
/// figures cannot all be had (see [`PeerFigures`]): then the last chunk is not handed on.
pub fn render_streaming(
    daemon: &DaemonFigures,
    peers: &dyn PeerFigures,
    sink: impl FnMut(String) -> bool + Send + 'static,
) -> Result<(), Cut> {
    let mut e = Exposition::streaming(sink);
    write(daemon, peers, &mut e)?;
    e.flush();
    if e.stopped() {
        return Err(Cut::Gone);
    }
    Ok(())
}

fn write(daemon: &DaemonFigures, peers: &dyn PeerFigures, e: &mut Exposition) -> Result<(), Cut> {
    e.family("bfd_sessions", "Configured BFD sessions.", Kind::Gauge);
    e.sample("bfd_sessions", &[], peers.total());

    let name = "bfd_session_up";
    session_family(
        e,
        peers,
        name,
        "1 when the BFD session is Up, else 0.",
        Kind::Gauge,
        |e, labels, f| {
            let (labels, n) = session_labels(labels, f.multihop, None);
            e.sample(name, &labels[..n], u8::from(state(f) == Some(State::Up)));
        },
    )?;

    let name = "bfd_session_state";
    session_family(
        e,
        peers,
        name,
        "Current state of the session, one-hot over admin_down, down, init, up.",
        Kind::Gauge,
        |e, labels, f| {
            // A peer not started yet counts as down.
            let current = state(f).unwrap_or(State::Down);
            for st in STATES {
                let (labels, n) = session_labels(labels, f.multihop, Some(("state", st.as_str())));
                e.sample(name, &labels[..n], u8::from(current == st));
            }
        },
    )?;

    let name = "bfd_session_state_changes_total";
    session_family(
        e,
        peers,
        name,
        "State transitions of the session, by the state entered.",
        Kind::Counter,
        |e, labels, f| {
            for st in STATES {
                let (labels, n) = session_labels(labels, f.multihop, Some(("to", st.as_str())));
                e.sample(name, &labels[..n], f.state_changes[usize::from(st.bits())]);
            }
        },
    )?;

    per_session(
        e,
        peers,
        "bfd_control_packets_sent_total",
        "BFD control packets sent.",
        Kind::Counter,
        |f| Some(f.tx_packets),
    )?;
    per_session(
        e,
        peers,
        "bfd_control_packets_send_errors_total",
        "BFD control packets the kernel refused to send (socket buffer full, no route).",
        Kind::Counter,
        |f| Some(f.send_errors),
    )?;
    per_session(
        e,
        peers,
        "bfd_control_packets_received_total",
        "BFD control packets received and accepted by the session.",
        Kind::Counter,
        |f| Some(f.rx_packets),
    )?;
    per_session(
        e,
        peers,
        "bfd_session_detection_time_seconds",
        "Negotiated detection time: silence longer than this takes the session down.",
        Kind::Gauge,
        |f| f.detection_time.map(|d| d.as_secs_f64()),
    )?;
    per_session(
        e,
        peers,
        "bfd_session_tx_interval_seconds",
        "Negotiated interval between transmitted control packets, before jitter.",
        Kind::Gauge,
        |f| f.tx_interval.map(|d| d.as_secs_f64()),
    )?;

    let name = "bfd_packets_dropped_total";
    e.family(
        name,
        "Received packets discarded, by reason.",
        Kind::Counter,
    );
    for (reason, n) in &daemon.dropped {
        e.sample(name, &[("reason", reason)], n);
    }

    render_transmit_timing(e, &daemon.transmit);
    if let Some(routes) = &daemon.routes {
        render_routes(e, routes);
    }
    if daemon.frr_exporter {
        render_frr_exporter(e, peers)?;
    }
    Ok(())
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
        "From a session leaving Up to the kernel's ack of the route change: quantiles over recent withdrawals, sum and count since start.",
        Kind::Summary,
    );
    let w = &routes.withdraw_latency;
    for (q, v) in [("0.5", w.p50_us), ("0.99", w.p99_us), ("1", w.max_us)] {
        if let Some(us) = v {
            e.sample(name, &[("quantile", q)], us as f64 / 1e6);
        }
    }
    e.sample(
        "bfd_route_withdraw_latency_seconds_sum",
        &[],
        w.sum_us as f64 / 1e6,
    );
    e.sample("bfd_route_withdraw_latency_seconds_count", &[], w.count);
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
/// since two samples of one series make Prometheus keep one of them at random. Telling them
/// apart takes a set of every pair seen while the scrape is written (about 60 B a session,
/// only while this is on).
fn render_frr_exporter(e: &mut Exposition, peers: &dyn PeerFigures) -> Result<(), Cut> {
    fn up(f: &SessionFigures) -> u64 {
        u64::from(state(f) == Some(State::Up))
    }
    fn uptime(f: &SessionFigures) -> u64 {
        let up = state(f) == Some(State::Up);
        f.in_state.filter(|_| up).unwrap_or_default().as_secs()
    }
    type Value = fn(&SessionFigures) -> u64;
    let families: [(&'static str, &'static str, Value); 2] = [
        (
            "frr_bfd_peer_state",
            "State of the bfd peer, 1 up, 0 otherwise.",
            up,
        ),
        (
            "frr_bfd_peer_uptime",
            "Uptime of the bfd peer in seconds.",
            uptime,
        ),
    ];
    let mut seen = HashSet::new();
    for (name, help, value) in families {
        seen.clear();
        session_family(e, peers, name, help, Kind::Gauge, |e, labels, f| {
            if seen.insert((f.local, f.peer)) {
                let labels = [("local", labels.local()), ("peer", labels.peer())];
                e.sample(name, &labels, value(f));
            }
        })?;
    }
    e.family(
        "frr_bfd_peer_count",
        "Number of peers detected.",
        Kind::Gauge,
    );
    e.sample("frr_bfd_peer_count", &[], peers.total());
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::figures::{Cut, DaemonFigures};
    use crate::routes::RouteMetrics;
    use crate::status::SessionFigures;
    use crate::transmit_timing::TransmitTiming;
    use bfd_core::{Diagnostic, Punctuality, State};
    use std::time::Duration;

    /// What a test renders: the daemon's figures and its peers'.
    #[derive(Default)]
    struct Snapshot {
        sessions: Vec<SessionFigures>,
        dropped: Vec<(&'static str, u64)>,
        transmit: TransmitTiming,
        frr_exporter: bool,
        routes: Option<RouteMetrics>,
    }

    impl Snapshot {
        fn daemon(&self) -> DaemonFigures {
            DaemonFigures {
                dropped: self.dropped.clone(),
                transmit: self.transmit.clone(),
                frr_exporter: self.frr_exporter,
                routes: self.routes.clone(),
            }
        }
    }

    fn render(snapshot: &Snapshot) -> String {
        super::render(&snapshot.daemon(), &snapshot.sessions).expect("whole")
    }

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

    /// Streamed, the text is the same as rendered whole, in chunks of about ANSWER_CHUNK: a scrape
    /// never holds the whole text (13 MB at 10,000 sessions). The peers' figures come in
    /// chunks too (see `crate::figures`), each family a pass over them.
    #[test]
    fn streamed_text_is_the_whole_text_in_bounded_chunks() {
        let snapshot = Snapshot {
            sessions: up_sessions(1300),
            dropped: vec![("ttl", 3)],
            frr_exporter: true,
            ..Snapshot::default()
        };
        let whole = render(&snapshot);
        let chunks = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let into = chunks.clone();
        super::render_streaming(&snapshot.daemon(), &snapshot.sessions, move |chunk| {
            into.lock().expect("lock").push(chunk);
            true
        })
        .expect("whole");
        let chunks = chunks.lock().expect("lock");
        assert!(chunks.len() > 3, "{} chunks", chunks.len());
        let bound = crate::clients::ANSWER_CHUNK + 1024;
        assert!(chunks.iter().all(|c| c.len() < bound));
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
        let rendered = super::render_streaming(&snapshot.daemon(), &snapshot.sessions, move |_| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            false
        });
        assert_eq!(rendered, Err(Cut::Gone));
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

    /// Quantiles over recent withdrawals belong to a summary, with its `_sum` and `_count`.
    #[test]
    fn withdraw_latency_renders_as_a_summary() {
        let routes = crate::routes::RouteMetrics {
            installed: 2,
            operations: vec![("delete", "ok", 3)],
            withdraw_latency: crate::routes::LatencySummary {
                count: 3,
                sum_us: 4_500,
                last_us: Some(1_000),
                p50_us: Some(1_500),
                p99_us: Some(2_000),
                max_us: Some(2_000),
                recent_us: vec![1_000, 1_500, 2_000],
            },
        };
        let text = render(&Snapshot {
            routes: Some(routes),
            ..Snapshot::default()
        });
        assert!(
            text.contains("# TYPE bfd_route_withdraw_latency_seconds summary\n"),
            "{text}"
        );
        for line in [
            "bfd_route_withdraw_latency_seconds{quantile=\"0.5\"} 0.0015\n",
            "bfd_route_withdraw_latency_seconds{quantile=\"1\"} 0.002\n",
            "bfd_route_withdraw_latency_seconds_sum 0.0045\n",
            "bfd_route_withdraw_latency_seconds_count 3\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
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
            frr_exporter: true,
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

    /// frr_exporter's one series per (local, peer) holds across chunks of figures: a session
    /// that repeats the first one's pair far down the list adds no second series.
    #[test]
    fn frr_exporter_pairs_are_told_apart_across_chunks() {
        let mut sessions = up_sessions(1300);
        let mut repeat = sessions[0].clone();
        repeat.multihop = true;
        repeat.state = None;
        sessions.push(repeat);
        let text = render(&Snapshot {
            sessions,
            frr_exporter: true,
            ..Snapshot::default()
        });
        let first = "frr_bfd_peer_state{local=\"198.51.100.1\",peer=\"198.18.0.1\"}";
        assert_eq!(text.matches(first).count(), 1, "{text}");
        assert!(text.contains(&format!("{first} 1\n")));
        assert_eq!(text.matches("frr_bfd_peer_uptime{").count(), 1300);
        assert!(text.contains("frr_bfd_peer_count 1301\n"));
        assert!(text.contains("bfd_sessions 1301\n"));
    }
}
