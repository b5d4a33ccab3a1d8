use crate::auth::AuthType;
use crate::packet::State;

/// Why a received packet was discarded: one variant per stateless reception rule of RFC 5880
/// §6.8.6 (and the section formats of §4), carrying the offending value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The UDP payload cannot hold even the 24-byte mandatory section.
    #[error("payload of {payload} bytes is shorter than the 24-byte BFD header")]
    Truncated {
        /// UDP payload length
        payload: usize,
    },
    /// §6.8.6: version other than 1.
    #[error("version {0} is not 1")]
    BadVersion(u8),
    /// §6.8.6: Length below 24, or below 26 with the A bit.
    #[error("length field {length} is below the minimum {min}")]
    LengthTooShort {
        /// Length field
        length: u8,
        /// 24, or 26 with the A bit set
        min: u8,
    },
    /// §6.8.6: Length greater than the UDP payload.
    #[error("length field {length} exceeds the {payload}-byte payload")]
    LengthExceedsPayload {
        /// Length field
        length: u8,
        /// UDP payload length
        payload: usize,
    },
    /// §6.8.6: Detect Mult zero.
    #[error("detect multiplier is zero")]
    ZeroDetectMult,
    /// §6.8.6: Multipoint bit set.
    #[error("multipoint bit is set")]
    Multipoint,
    /// §6.8.6: My Discriminator zero.
    #[error("my discriminator is zero")]
    ZeroMyDiscriminator,
    /// §6.8.6: Your Discriminator zero while the state is neither Down nor AdminDown.
    #[error("your discriminator is zero in state {0}")]
    ZeroYourDiscriminator(State),
    /// §6.5: a packet must not carry both Poll and Final; OVN drops such packets too.
    #[error("poll and final bits are both set")]
    PollAndFinal,
    /// §4.1: Auth Type 0 or 6-255 is reserved.
    #[error("auth type {0} is reserved")]
    UnknownAuthType(u8),
    /// §4.2-4.4, §6.7: Auth Len wrong for the Auth Type.
    #[error("auth length {auth_len} is invalid for {auth_type}")]
    BadAuthLen {
        /// Auth Type
        auth_type: AuthType,
        /// Auth Len field
        auth_len: u8,
    },
    /// §4.1: the authentication section does not end where Length says the packet does.
    #[error("auth length {auth_len} does not fill the {length}-byte packet")]
    AuthLenMismatch {
        /// Auth Len field
        auth_len: u8,
        /// Length field
        length: u8,
    },
}

impl ParseError {
    /// Short stable label, e.g. for a metric's `reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            ParseError::Truncated { .. } => "truncated",
            ParseError::BadVersion(_) => "bad_version",
            ParseError::LengthTooShort { .. } => "length_too_short",
            ParseError::LengthExceedsPayload { .. } => "length_exceeds_payload",
            ParseError::ZeroDetectMult => "zero_detect_mult",
            ParseError::Multipoint => "multipoint",
            ParseError::ZeroMyDiscriminator => "zero_my_discriminator",
            ParseError::ZeroYourDiscriminator(_) => "zero_your_discriminator",
            ParseError::PollAndFinal => "poll_and_final",
            ParseError::UnknownAuthType(_) => "unknown_auth_type",
            ParseError::BadAuthLen { .. } => "bad_auth_len",
            ParseError::AuthLenMismatch { .. } => "auth_len_mismatch",
        }
    }
}
