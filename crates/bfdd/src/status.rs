//! What the daemon tells about its sessions: control-socket answers and metric snapshots, built
//! from the same data so `bfdctl` and `/metrics` always agree.

use std::time::{Duration, Instant};

use bfd_control::{PeerDetail, PeerSummary};
use bfd_core::{Session, Sessions, State};

use crate::peers::{Labels, PeerRef, Peers};

fn us(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

fn summary(
    now: Instant,
    id: u32,
    peer: &crate::config::PeerConfig,
    session: Option<&Session>,
) -> PeerSummary {
    PeerSummary {
        id,
        peer: peer.address.to_string(),
        local: peer.local_address.map(|a| a.to_string()),
        interface: peer.interface.clone(),
        multihop: peer.multihop,
        state: session.map_or("down", |s| s.state().as_str()).to_string(),
        diag: session
            .map_or("not-started", |s| s.local_diag().as_str())
            .to_string(),
        state_seconds: session
            .and_then(Session::last_state_change)
            .map(|t| now.saturating_duration_since(t).as_secs()),
    }
}

/// `bfdctl peers`: every configured peer, running or not, in configuration order.
pub fn peer_summaries(now: Instant, peers: &Peers, sessions: &Sessions) -> Vec<PeerSummary> {
    peers
        .iter(sessions)
        .map(|p| match p {
            PeerRef::Running { id, config, .. } => {
                let session = sessions.get(id);
                let discr = session.map_or(0, Session::local_discriminator);
                summary(now, discr, &config, session)
            }
            PeerRef::Pending(pending) => summary(now, 0, &pending.config, None),
        })
        .collect()
}

/// `bfdctl peer ADDRESS`: the first peer with that address (and local address / interface,
/// when given).
pub fn peer_detail(
    now: Instant,
    peers: &Peers,
    sessions: &Sessions,
    address: &str,
    local: Option<&str>,
    interface: Option<&str>,
) -> Result<PeerDetail, String> {
    let address: std::net::IpAddr = address
        .parse()
        .map_err(|_| format!("{address:?} is not an IP address"))?;
    let local: Option<std::net::IpAddr> = match local {
        Some(l) => Some(
            l.parse()
                .map_err(|_| format!("{l:?} is not an IP address"))?,
        ),
        None => None,
    };
    let found = peers.iter(sessions).find(|p| {
        let config = match p {
            PeerRef::Running { config, .. } => config,
            PeerRef::Pending(pending) => &pending.config,
        };
        config.address == address
            && local.is_none_or(|l| config.local_address == Some(l))
            && interface.is_none_or(|i| config.interface.as_deref() == Some(i))
    });
    let Some(found) = found else {
        return Err(format!("no session with peer {address}"));
    };
    let (config, session, tx_errors) = match found {
        PeerRef::Running {
            id,
            ref config,
            entry,
        } => (config, sessions.get(id), entry.send_errors),
        PeerRef::Pending(pending) => (&pending.config, None, 0),
    };
    let discr = session.map_or(0, Session::local_discriminator);
    let stats = session.map(|s| *s.stats()).unwrap_or_default();
    let remote = session.map(|s| *s.remote());
    Ok(PeerDetail {
        summary: summary(now, discr, config, session),
        remote_id: remote.map_or(0, |r| r.discriminator),
        passive: config.passive,
        auth: config
            .auth
            .as_ref()
            .map(|a| a.auth_type.as_str().to_string()),
        desired_min_tx_us: us(config.desired_min_tx),
        required_min_rx_us: us(config.required_min_rx),
        detect_multiplier: config.detect_multiplier,
        advertised_min_tx_us: session.map_or(0, |s| us(s.advertised_desired_min_tx())),
        tx_interval_us: session.map_or(0, |s| us(s.transmit_interval())),
        detection_time_us: session.and_then(Session::detection_time).map(us),
        remote_state: remote.map_or(State::Down, |r| r.state).as_str().to_string(),
        remote_diag: remote
            .map_or(bfd_core::Diagnostic::NoDiagnostic, |r| r.diag)
            .as_str()
            .to_string(),
        remote_min_tx_us: remote.map_or(0, |r| us(r.desired_min_tx)),
        remote_min_rx_us: remote.map_or(0, |r| us(r.min_rx)),
        remote_min_echo_rx_us: remote.map_or(0, |r| us(r.min_echo_rx)),
        remote_detect_multiplier: remote.map_or(0, |r| r.detect_mult),
        poll_active: session.is_some_and(Session::poll_active),
        tx_packets: stats.tx_packets,
        tx_errors,
        rx_packets: stats.rx_packets,
        rx_errors: stats.rx_errors,
        up_count: stats.up_count,
        down_count: stats.down_count,
    })
}

/// One session's figures for `/metrics`, copied out of the driver so rendering happens elsewhere.
#[derive(Clone, Debug)]
pub struct SessionSnapshot {
    /// Label values.
    pub labels: Labels,
    /// Current state; `None` for a peer not started.
    pub state: Option<State>,
    /// Seconds since the last state change (FRR's uptime when Up).
    pub state_seconds: f64,
    /// Transitions into each state, by `State::bits()`.
    pub state_changes: [u64; 4],
    /// Packets sent.
    pub tx_packets: u64,
    /// Packets the kernel refused to send.
    pub send_errors: u64,
    /// Packets received and accepted.
    pub rx_packets: u64,
    /// Detection time, seconds.
    pub detection_time: Option<f64>,
    /// Negotiated transmit interval, seconds.
    pub tx_interval: Option<f64>,
}

/// Everything `/metrics` shows.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Per session.
    pub sessions: Vec<SessionSnapshot>,
    /// Dropped packets by reason.
    pub dropped: Vec<(&'static str, u64)>,
    /// How punctually periodic packets have left.
    pub transmit: crate::transmit_timing::TransmitTiming,
    /// Also emit frr_exporter's series.
    pub frr_exporter: bool,
    /// The route installer's figures, filled in outside the driver.
    pub routes: Option<crate::routes::RouteMetrics>,
}

/// Copies the metric figures of every configured peer.
pub fn snapshot(now: Instant, peers: &Peers, sessions: &Sessions) -> Vec<SessionSnapshot> {
    peers
        .iter(sessions)
        .map(|p| match p {
            PeerRef::Running { id, entry, config } => {
                let session = sessions.get(id);
                SessionSnapshot {
                    labels: crate::peers::labels(&config),
                    state: session.map(Session::state),
                    state_seconds: session
                        .and_then(Session::last_state_change)
                        .map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64()),
                    state_changes: entry.state_changes.map(u64::from),
                    tx_packets: session.map_or(0, |s| s.stats().tx_packets),
                    send_errors: entry.send_errors,
                    rx_packets: session.map_or(0, |s| s.stats().rx_packets),
                    detection_time: session
                        .and_then(Session::detection_time)
                        .map(|d| d.as_secs_f64()),
                    tx_interval: session.map(|s| s.transmit_interval().as_secs_f64()),
                }
            }
            PeerRef::Pending(pending) => SessionSnapshot {
                labels: crate::peers::labels(&pending.config),
                state: None,
                state_seconds: 0.0,
                state_changes: [0; 4],
                tx_packets: 0,
                send_errors: 0,
                rx_packets: 0,
                detection_time: None,
                tx_interval: None,
            },
        })
        .collect()
}
