use std::net::IpAddr;

use bfd_wire::{AuthType, ParseError};

/// Why a received datagram was discarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RxError {
    /// A stateless RFC 5880 §6.8.6 check failed.
    #[error("malformed packet: {0}")]
    Malformed(#[from] ParseError),
    /// §6.8.6: no session has this Your Discriminator.
    #[error("no session with discriminator {0}")]
    UnknownDiscriminator(u32),
    /// §6.8.6: Your Discriminator is zero and no session matches the addresses.
    #[error("no session for peer {peer} at local address {local}")]
    NoSessionForPeer {
        /// Source address
        peer: IpAddr,
        /// Destination address
        local: IpAddr,
    },
    /// The discriminator names a session with a different peer.
    #[error("discriminator {discriminator} belongs to another peer, not {peer}")]
    PeerMismatch {
        /// Your Discriminator of the packet
        discriminator: u32,
        /// Source address
        peer: IpAddr,
    },
    /// The discriminator names a session bound to another local address or interface than
    /// the packet arrived at (RFC 5881 §3: a single-hop session is bound to its interface).
    #[error("discriminator {discriminator} belongs to a session bound elsewhere, not to {local} on interface {ifindex:?}")]
    PathMismatch {
        /// Your Discriminator of the packet
        discriminator: u32,
        /// Destination address
        local: IpAddr,
        /// Arrival interface
        ifindex: Option<u32>,
    },
    /// RFC 5881 §5 / RFC 5883 §2: TTL below what the session accepts.
    #[error("TTL {ttl} below the required {min}")]
    Ttl {
        /// Received TTL / hop limit
        ttl: u8,
        /// Required minimum
        min: u8,
    },
    /// The socket layer did not report the TTL / hop limit, so it cannot be checked.
    #[error("TTL of the packet unknown")]
    TtlUnknown,
    /// A single-hop packet for a multihop session or the other way round.
    #[error("packet arrived on the {got} port for a {expected} session")]
    HopModeMismatch {
        /// "single-hop" or "multihop"
        expected: &'static str,
        /// The port's kind
        got: &'static str,
    },
    /// §6.8.6: A bit clear but the session requires authentication.
    #[error("authentication required but the packet has none")]
    AuthMissing,
    /// §6.8.6: A bit set but the session has no authentication.
    #[error("packet is authenticated but the session has no authentication configured")]
    AuthUnexpected,
    /// §6.7: Auth Type differs from the configured one.
    #[error("auth type {got} where {expected} is configured")]
    AuthTypeMismatch {
        /// Configured
        expected: AuthType,
        /// Received
        got: AuthType,
    },
    /// §6.7: unknown Key ID.
    #[error("auth key id {got} where {expected} is configured")]
    AuthKeyId {
        /// Configured
        expected: u8,
        /// Received
        got: u8,
    },
    /// §6.7: wrong password or digest.
    #[error("authentication failed: wrong password or digest")]
    AuthFailed,
    /// §6.7.3-6.7.4: sequence number outside the replay window.
    #[error("auth sequence {got} outside the window after {last}")]
    AuthSequence {
        /// Received
        got: u32,
        /// Last accepted
        last: u32,
    },
}

impl RxError {
    /// Every value [`RxError::reason`] returns: a counter per reason exists from the start,
    /// so that the first drop shows as an increase.
    pub const REASONS: [&'static str; 5] =
        ["malformed", "unknown_session", "ttl", "hop_mode", "auth"];

    /// Label for the `reason` of a dropped-packet counter.
    pub fn reason(&self) -> &'static str {
        match self {
            RxError::Malformed(_) => "malformed",
            RxError::UnknownDiscriminator(_)
            | RxError::NoSessionForPeer { .. }
            | RxError::PeerMismatch { .. }
            | RxError::PathMismatch { .. } => "unknown_session",
            RxError::Ttl { .. } | RxError::TtlUnknown => "ttl",
            RxError::HopModeMismatch { .. } => "hop_mode",
            RxError::AuthMissing
            | RxError::AuthUnexpected
            | RxError::AuthTypeMismatch { .. }
            | RxError::AuthKeyId { .. }
            | RxError::AuthFailed
            | RxError::AuthSequence { .. } => "auth",
        }
    }
}

/// Why a session could not be added.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InsertError {
    /// Another session has the same peer key.
    #[error("a session for this peer already exists")]
    Duplicate,
    /// The auth key does not fit its type.
    #[error("{auth_type} key of {len} bytes: must be 1 to {max}")]
    BadKey {
        /// Type
        auth_type: AuthType,
        /// Given length
        len: usize,
        /// Longest allowed
        max: usize,
    },
    /// Detect multiplier zero.
    #[error("detect multiplier must be at least 1")]
    ZeroDetectMult,
    /// Desired Min TX zero (RFC 5880 §4.1: reserved), or an interval past the packet's
    /// 32-bit microsecond fields.
    #[error("desired min tx must be 1 µs to {max} µs, required min rx at most {max} µs", max = u32::MAX)]
    BadInterval,
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use bfd_wire::{AuthType, ParseError};

    use super::RxError;

    #[test]
    fn every_reason_is_listed_and_every_listed_reason_occurs() {
        let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let all = [
            RxError::Malformed(ParseError::BadVersion(2)),
            RxError::UnknownDiscriminator(7),
            RxError::NoSessionForPeer {
                peer: ip,
                local: ip,
            },
            RxError::PeerMismatch {
                discriminator: 7,
                peer: ip,
            },
            RxError::PathMismatch {
                discriminator: 7,
                local: ip,
                ifindex: Some(3),
            },
            RxError::Ttl { ttl: 1, min: 255 },
            RxError::TtlUnknown,
            RxError::HopModeMismatch {
                expected: "single hop",
                got: "multihop",
            },
            RxError::AuthMissing,
            RxError::AuthUnexpected,
            RxError::AuthTypeMismatch {
                expected: AuthType::KeyedSha1,
                got: AuthType::KeyedMd5,
            },
            RxError::AuthKeyId {
                expected: 1,
                got: 2,
            },
            RxError::AuthFailed,
            RxError::AuthSequence { got: 1, last: 9 },
        ];
        for e in &all {
            assert!(RxError::REASONS.contains(&e.reason()), "{e:?}");
        }
        for reason in RxError::REASONS {
            assert!(all.iter().any(|e| e.reason() == reason), "{reason}");
        }
    }
}
