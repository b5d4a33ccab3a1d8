use std::fmt;
use std::time::Duration;

use bfd_wire::AuthType;

/// How received packets must arrive: RFC 5881 §5 for one hop, RFC 5883 §2 for several.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HopMode {
    /// Directly connected peer: sent with TTL 255 and only TTL 255 accepted, so a packet from
    /// off-link cannot reach the session.
    SingleHop,
    /// Peer several hops away (RFC 5883): accepted with a TTL of at least `min_ttl`.
    MultiHop {
        /// Lowest TTL / hop limit accepted.
        min_ttl: u8,
    },
}

impl HopMode {
    /// Whether this is RFC 5883 multihop.
    pub fn is_multihop(self) -> bool {
        matches!(self, HopMode::MultiHop { .. })
    }
}

/// The key a session authenticates with (RFC 5880 §6.7).
#[derive(Clone, PartialEq, Eq)]
pub struct AuthKey {
    /// bfd.AuthType
    pub auth_type: AuthType,
    /// Key ID sent and required on receive.
    pub key_id: u8,
    /// The password or key, at most [`AuthType::max_key_len`] bytes.
    pub secret: Vec<u8>,
}

impl fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthKey")
            .field("auth_type", &self.auth_type)
            .field("key_id", &self.key_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// What the operator configures for one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// bfd.DesiredMinTxInterval once Up; while not Up at least one second is used (§6.8.3).
    pub desired_min_tx: Duration,
    /// bfd.RequiredMinRxInterval, advertised from the first packet.
    pub required_min_rx: Duration,
    /// bfd.DetectMult
    pub detect_mult: u8,
    /// Passive role (§6.1): send nothing until the peer has been heard.
    pub passive: bool,
    /// Held in AdminDown (§6.8.16).
    pub admin_down: bool,
    /// Authentication, or none.
    pub auth: Option<AuthKey>,
    /// TTL rules for received packets.
    pub hop_mode: HopMode,
}

impl Default for SessionConfig {
    /// The values the FRR setup bfdd replaces uses: 300 ms, 300 ms, 3.
    fn default() -> Self {
        SessionConfig {
            desired_min_tx: Duration::from_millis(300),
            required_min_rx: Duration::from_millis(300),
            detect_mult: 3,
            passive: false,
            admin_down: false,
            auth: None,
            hop_mode: HopMode::SingleHop,
        }
    }
}
