//! What the daemon tells about its sessions: `bfdctl` answers and `/metrics` are both written
//! from the figures here, so they always agree.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use bfd_control::{PeerDetail, PeerSummary};
use bfd_core::{Diagnostic, Session, Sessions, State};

use crate::figures::{self, FiguresChunk};
use crate::peers::{PeerRef, Peers};

fn us(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

fn us64(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// One session's figures, copied by the driver with nothing formatted: `bfdctl peers` and
/// `/metrics` are written from them on other threads, so a query at thousands of sessions
/// holds the driver's packets back as little as possible.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionFigures {
    /// Local discriminator; 0 for a peer not started.
    pub id: u32,
    /// Peer address.
    pub peer: IpAddr,
    /// Local address, if configured.
    pub local: Option<IpAddr>,
    /// Interface, if configured.
    pub interface: Option<Box<str>>,
    /// RFC 5883 multihop.
    pub multihop: bool,
    /// Current state and local diagnostic; `None` for a peer not started.
    pub state: Option<(State, Diagnostic)>,
    /// Time in the current state, if it ever changed.
    pub in_state: Option<Duration>,
    /// Transitions into each state, by `State::bits()`.
    pub state_changes: [u32; 4],
    /// Packets sent.
    pub tx_packets: u64,
    /// Packets the kernel refused to send.
    pub send_errors: u64,
    /// Packets received and accepted.
    pub rx_packets: u64,
    /// Detection time.
    pub detection_time: Option<Duration>,
    /// Negotiated transmit interval.
    pub tx_interval: Option<Duration>,
}

fn figures_of(now: Instant, peer: &PeerRef<'_>) -> SessionFigures {
    let (address, local, interface) = peer.addresses();
    let not_started = SessionFigures {
        id: 0,
        peer: address,
        local,
        interface: interface.map(Box::from),
        multihop: false,
        state: None,
        in_state: None,
        state_changes: [0; 4],
        tx_packets: 0,
        send_errors: 0,
        rx_packets: 0,
        detection_time: None,
        tx_interval: None,
    };
    match *peer {
        PeerRef::Running {
            entry,
            core_key,
            session,
            ..
        } => SessionFigures {
            id: session.local_discriminator(),
            multihop: core_key.multihop,
            state: Some((session.state(), session.local_diag())),
            in_state: session
                .last_state_change()
                .map(|t| now.saturating_duration_since(t)),
            state_changes: entry.state_changes,
            tx_packets: sent(session, entry.send_errors),
            send_errors: entry.send_errors,
            rx_packets: session.stats().rx_packets,
            detection_time: session.detection_time(),
            tx_interval: Some(session.transmit_interval()),
            ..not_started
        },
        // Shut down, it would be AdminDown if it ran: so it reads, for probes and alerts that
        // leave peers shut down on purpose out.
        PeerRef::Pending(pending) => SessionFigures {
            multihop: pending.config.multihop,
            state: pending
                .config
                .shutdown
                .then_some((State::AdminDown, Diagnostic::AdministrativelyDown)),
            ..not_started
        },
    }
}

/// Packets that left: the core counts every packet it builds, and the kernel refused
/// `send_errors` of them (counted apart, so a dead link does not look like a sending one).
fn sent(session: &Session, send_errors: u64) -> u64 {
    session.stats().tx_packets.saturating_sub(send_errors)
}

/// Up to [`figures::CHUNK`] configured peers' figures, running or not, from the place `from`
/// in configuration order.
pub fn figures_chunk(
    now: Instant,
    peers: &Peers,
    sessions: &Sessions,
    from: usize,
) -> FiguresChunk {
    let mut chunk = FiguresChunk {
        generation: peers.generation(),
        total: peers.len(),
        figures: Vec::with_capacity(figures::CHUNK.min(peers.len().saturating_sub(from))),
        next: None,
    };
    for (place, peer) in peers.iter_from(sessions, from) {
        if chunk.figures.len() == figures::CHUNK {
            chunk.next = Some(place);
            break;
        }
        chunk.figures.push(figures_of(now, &peer));
    }
    chunk
}

/// A line of `bfdctl peers`.
pub fn summary(f: &SessionFigures) -> PeerSummary {
    PeerSummary {
        id: f.id,
        peer: f.peer.to_string(),
        local: f.local.map(|a| a.to_string()),
        interface: f.interface.as_deref().map(str::to_string),
        multihop: f.multihop,
        state: f
            .state
            .map_or(State::Down, |(state, _)| state)
            .as_str()
            .to_string(),
        diag: f
            .state
            .map_or("not-started", |(_, diag)| diag.as_str())
            .to_string(),
        state_seconds: f.in_state.map(|d| d.as_secs()),
    }
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
    multihop: Option<bool>,
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
    let matches = |p: &PeerRef<'_>, hop_mode: Option<bool>| {
        let (peer, peer_local, peer_interface) = p.addresses();
        peer == address
            && local.is_none_or(|l| peer_local == Some(l))
            && interface.is_none_or(|i| peer_interface == Some(i))
            && hop_mode.is_none_or(|m| p.key().multihop == m)
    };
    // Without a hop mode asked for, the single-hop session first, then any.
    let found = peers
        .iter(sessions)
        .find(|p| matches(p, Some(multihop.unwrap_or(false))))
        .or_else(|| {
            multihop
                .is_none()
                .then(|| peers.iter(sessions).find(|p| matches(p, None)))
                .flatten()
        });
    let Some(found) = found else {
        let mode = match multihop {
            Some(true) => "multihop ",
            Some(false) => "single-hop ",
            None => "",
        };
        return Err(format!("no {mode}session with peer {address}"));
    };
    let config = found.config();
    let (session, tx_errors) = match found {
        PeerRef::Running { session, entry, .. } => (Some(session), entry.send_errors),
        PeerRef::Pending(_) => (None, 0),
    };
    let stats = session.map(|s| *s.stats()).unwrap_or_default();
    let remote = session.map(|s| *s.remote());
    Ok(PeerDetail {
        summary: summary(&figures_of(now, &found)),
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
        detection_time_us: session.and_then(Session::detection_time).map(us64),
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
        tx_packets: session.map_or(0, |s| sent(s, tx_errors)),
        tx_errors,
        rx_packets: stats.rx_packets,
        rx_errors: stats.rx_errors,
        up_count: stats.up_count,
        down_count: stats.down_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(state: Option<(State, Diagnostic)>) -> SessionFigures {
        SessionFigures {
            id: 0,
            peer: "192.0.2.2".parse().expect("test address"),
            local: None,
            interface: Some("net1".into()),
            multihop: true,
            state,
            in_state: state.map(|_| Duration::from_millis(61_900)),
            state_changes: [0; 4],
            tx_packets: 0,
            send_errors: 0,
            rx_packets: 0,
            detection_time: None,
            tx_interval: None,
        }
    }

    #[test]
    fn a_peer_not_started_reads_down_and_not_started() {
        let line = summary(&figures(None));
        assert_eq!(
            (line.state.as_str(), line.diag.as_str()),
            ("down", "not-started")
        );
        assert_eq!(line.state_seconds, None);
        assert_eq!(line.peer, "192.0.2.2");
        assert_eq!((line.local, line.interface), (None, Some("net1".into())));
        assert!(line.multihop);
    }

    #[test]
    fn a_running_peer_reads_its_state_diagnostic_and_whole_seconds() {
        let line = summary(&figures(Some((
            State::Down,
            Diagnostic::ControlDetectionTimeExpired,
        ))));
        assert_eq!(
            (line.state.as_str(), line.diag.as_str()),
            ("down", "control-expired")
        );
        assert_eq!(line.state_seconds, Some(61));
    }
}
