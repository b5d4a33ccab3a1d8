//! The bfdd control socket protocol, shared by the daemon and `bfdctl`.
//!
//! A client connects to the Unix stream socket, writes one [`Request`] as a JSON line, and reads
//! one [`Response`] as a JSON line. The field names are a stable interface: `bfdctl --json`
//! prints these types as they are, so scripts and probes depend on them.
#![warn(missing_docs)]

use serde::{Deserialize, Serialize};

/// Default path of the control socket; `BFDD_SOCKET` overrides it for bfdd and bfdctl.
pub const DEFAULT_SOCKET: &str = "/run/bfdd/bfdd.sock";
/// Environment variable naming the control socket.
pub const SOCKET_ENV: &str = "BFDD_SOCKET";
/// Longest request line the daemon reads; anything longer is refused.
pub const MAX_REQUEST_LEN: usize = 4096;

/// What a client asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "kebab-case")]
pub enum Request {
    /// Every session, briefly.
    Peers,
    /// One session in full, by peer address (and optionally local address or interface when
    /// several sessions share the peer).
    Peer {
        /// Peer address as text.
        address: String,
        /// Local address, to pick among sessions with the same peer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        local: Option<String>,
        /// Interface, to pick among sessions with the same peer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interface: Option<String>,
        /// Hop mode, to pick between a single-hop and a multihop session to the peer; absent,
        /// the single-hop one if there is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        multihop: Option<bool>,
    },
    /// Whether the daemon runs with its configuration loaded and sockets bound.
    Ready,
    /// Re-read the configuration file.
    Reload,
    /// The daemon's version.
    Version,
    /// The configured routes and whether each is installed.
    Routes,
}

/// What the daemon answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "kebab-case")]
pub enum Response {
    /// Answer to [`Request::Peers`].
    Peers {
        /// One entry per session, in configuration order.
        peers: Vec<PeerSummary>,
    },
    /// Answer to [`Request::Peer`].
    Peer {
        /// The session.
        peer: Box<PeerDetail>,
    },
    /// Answer to [`Request::Ready`].
    Ready(ReadyStatus),
    /// Answer to [`Request::Reload`].
    Reloaded(ReloadSummary),
    /// Answer to [`Request::Version`].
    Version {
        /// Crate version of the daemon.
        version: String,
    },
    /// Answer to [`Request::Routes`].
    Routes {
        /// One entry per configured destination.
        routes: Vec<RouteStatus>,
    },
    /// The request failed; `message` says why in one line.
    Error {
        /// What went wrong.
        message: String,
        /// bfdd could not answer now (stopping, its session driver or route installer held
        /// up, the peers changed while it answered): ask again. Not a negative answer.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        unavailable: bool,
    },
}

/// One line of `bfdctl peers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerSummary {
    /// Local discriminator: FRR's "session id".
    pub id: u32,
    /// Peer address.
    pub peer: String,
    /// Local address, if configured.
    pub local: Option<String>,
    /// Interface, if configured.
    pub interface: Option<String>,
    /// RFC 5883 multihop.
    pub multihop: bool,
    /// `admin_down`, `down`, `init` or `up`.
    pub state: String,
    /// Local diagnostic, e.g. `control-expired`.
    pub diag: String,
    /// Seconds in the current state, if it ever changed.
    pub state_seconds: Option<u64>,
}

/// Everything about one session: `bfdctl peer ADDRESS`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerDetail {
    /// The brief part.
    #[serde(flatten)]
    pub summary: PeerSummary,
    /// Remote discriminator, zero while not heard.
    pub remote_id: u32,
    /// Passive role.
    pub passive: bool,
    /// Authentication type, if configured.
    pub auth: Option<String>,
    /// Configured Desired Min TX, microseconds.
    pub desired_min_tx_us: u32,
    /// Configured Required Min RX, microseconds.
    pub required_min_rx_us: u32,
    /// Configured Detect Mult.
    pub detect_multiplier: u8,
    /// Desired Min TX as currently advertised (1 s while not Up).
    pub advertised_min_tx_us: u32,
    /// Negotiated transmit interval, microseconds.
    pub tx_interval_us: u32,
    /// Detection time, microseconds, once the peer has been heard. 64 bits: a peer may ask
    /// for up to 255 x 71 minutes.
    pub detection_time_us: Option<u64>,
    /// The peer's state.
    pub remote_state: String,
    /// The peer's diagnostic.
    pub remote_diag: String,
    /// The peer's Desired Min TX, microseconds.
    pub remote_min_tx_us: u32,
    /// The peer's Required Min RX, microseconds.
    pub remote_min_rx_us: u32,
    /// The peer's Required Min Echo RX, microseconds.
    pub remote_min_echo_rx_us: u32,
    /// The peer's Detect Mult.
    pub remote_detect_multiplier: u8,
    /// Whether a Poll sequence is running.
    pub poll_active: bool,
    /// Control packets sent.
    pub tx_packets: u64,
    /// Control packets the kernel refused to send (socket buffer full, no route); absent from
    /// older daemons' answers.
    #[serde(default)]
    pub tx_errors: u64,
    /// Control packets received and accepted.
    pub rx_packets: u64,
    /// Packets for this session that were discarded (TTL, authentication).
    pub rx_errors: u64,
    /// Transitions into Up.
    pub up_count: u64,
    /// Transitions out of Up.
    pub down_count: u64,
}

/// Answer to `bfdctl ready`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyStatus {
    /// Configuration loaded and sockets bound.
    pub ready: bool,
    /// Path of the configuration in force.
    pub config: String,
    /// Number of configured sessions.
    pub sessions: usize,
    /// Why not ready, when the daemon knows (its session driver has stopped turning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// What a reload changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadSummary {
    /// Sessions started.
    pub added: usize,
    /// Sessions removed (after AdminDown).
    pub removed: usize,
    /// Sessions whose settings changed in place.
    pub changed: usize,
    /// Sessions left as they were.
    pub unchanged: usize,
    /// `[daemon]` settings that changed, as `daemon.<key>`: they take effect only when bfdd
    /// restarts, and until then the running values stay.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restart_needed: Vec<String>,
}

/// One configured route destination: `bfdctl routes`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteStatus {
    /// Destination prefix.
    pub destination: String,
    /// Routing table.
    pub table: u32,
    /// Whether a route for the destination is in the kernel now.
    pub installed: bool,
    /// The configured next hops.
    pub nexthops: Vec<NexthopStatus>,
    /// Why it is not installed, or the last kernel error.
    pub reason: Option<String>,
}

/// A next hop of a route.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NexthopStatus {
    /// Gateway address.
    pub gateway: String,
    /// Follows the BFD session to the gateway.
    pub bfd: bool,
    /// Part of the installed route now.
    pub active: bool,
}

impl Response {
    /// An error response.
    pub fn error(message: impl Into<String>) -> Response {
        Response::Error {
            message: message.into(),
            unavailable: false,
        }
    }

    /// An error response saying bfdd could not answer now.
    pub fn unavailable(message: impl Into<String>) -> Response {
        Response::Error {
            message: message.into(),
            unavailable: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_wire_format_is_stable() {
        let text = serde_json::to_string(&Request::Peer {
            address: "198.51.100.4".into(),
            local: None,
            interface: None,
            multihop: None,
        })
        .unwrap();
        assert_eq!(text, r#"{"request":"peer","address":"198.51.100.4"}"#);
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"request":"peers"}"#).unwrap(),
            Request::Peers
        );
    }

    #[test]
    fn response_round_trips() {
        let r = Response::Peers {
            peers: vec![PeerSummary {
                id: 7,
                peer: "2001:db8::2".into(),
                local: Some("2001:db8::1".into()),
                interface: Some("net1".into()),
                multihop: false,
                state: "up".into(),
                diag: "ok".into(),
                state_seconds: Some(12),
            }],
        };
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.starts_with(r#"{"response":"peers","peers":[{"id":7,"peer":"2001:db8::2""#));
        assert_eq!(serde_json::from_str::<Response>(&text).unwrap(), r);
    }

    /// A refusal reads as before; only "ask again" carries the flag, and an older daemon's
    /// errors (no flag) read as refusals.
    #[test]
    fn errors_say_whether_to_ask_again() {
        let refused = serde_json::to_string(&Response::error("no such peer")).unwrap();
        assert_eq!(refused, r#"{"response":"error","message":"no such peer"}"#);
        let busy = serde_json::to_string(&Response::unavailable("daemon is stopping")).unwrap();
        assert_eq!(
            busy,
            r#"{"response":"error","message":"daemon is stopping","unavailable":true}"#
        );
        assert_eq!(
            serde_json::from_str::<Response>(&refused).unwrap(),
            Response::error("no such peer")
        );
        assert_eq!(
            serde_json::from_str::<Response>(&busy).unwrap(),
            Response::unavailable("daemon is stopping")
        );
    }
}
