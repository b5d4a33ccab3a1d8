//! The RFC 5880 §4.1 Generic BFD Control Packet Format.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       My Discriminator                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Your Discriminator                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Desired Min TX Interval                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                   Required Min RX Interval                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Required Min Echo RX Interval                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Auth Type   |   Auth Len    |    Authentication Data...     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use bytes::BufMut;
use std::fmt;

use crate::auth::Auth;

/// The only protocol version RFC 5880 defines.
pub const BFD_VERSION: u8 = 1;
/// Length of the mandatory section, without authentication.
pub const HEADER_LEN: usize = 24;

pub(crate) const FLAG_POLL: u8 = 0x20;
pub(crate) const FLAG_FINAL: u8 = 0x10;
pub(crate) const FLAG_CPI: u8 = 0x08;
pub(crate) const FLAG_AUTH: u8 = 0x04;
pub(crate) const FLAG_DEMAND: u8 = 0x02;
pub(crate) const FLAG_MULTIPOINT: u8 = 0x01;

/// Session state as carried in the Sta field (RFC 5880 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// 0: administratively held down.
    AdminDown,
    /// 1: down, or just created.
    Down,
    /// 2: the remote has been heard; waiting for it to hear us.
    Init,
    /// 3: both sides hear each other.
    Up,
}

impl State {
    /// Decodes the two-bit Sta field; every value is defined.
    pub fn from_bits(bits: u8) -> State {
        match bits & 0x3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    /// The two-bit wire value.
    pub fn bits(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }

    /// Lower-case name as operators know it from FRR (`admin_down`, `down`, `init`, `up`).
    pub fn as_str(self) -> &'static str {
        match self {
            State::AdminDown => "admin_down",
            State::Down => "down",
            State::Init => "init",
            State::Up => "up",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Diagnostic code (RFC 5880 §4.1). Values 9-31 are reserved; they are kept, not rejected, so a
/// peer using a later extension still interoperates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Diagnostic {
    /// 0
    NoDiagnostic,
    /// 1
    ControlDetectionTimeExpired,
    /// 2
    EchoFunctionFailed,
    /// 3
    NeighborSignaledSessionDown,
    /// 4
    ForwardingPlaneReset,
    /// 5
    PathDown,
    /// 6
    ConcatenatedPathDown,
    /// 7
    AdministrativelyDown,
    /// 8
    ReverseConcatenatedPathDown,
    /// 9-31, reserved for future use.
    Reserved(u8),
}

impl Diagnostic {
    /// Decodes the five-bit Diag field.
    pub fn from_bits(bits: u8) -> Diagnostic {
        match bits & 0x1f {
            0 => Diagnostic::NoDiagnostic,
            1 => Diagnostic::ControlDetectionTimeExpired,
            2 => Diagnostic::EchoFunctionFailed,
            3 => Diagnostic::NeighborSignaledSessionDown,
            4 => Diagnostic::ForwardingPlaneReset,
            5 => Diagnostic::PathDown,
            6 => Diagnostic::ConcatenatedPathDown,
            7 => Diagnostic::AdministrativelyDown,
            8 => Diagnostic::ReverseConcatenatedPathDown,
            other => Diagnostic::Reserved(other),
        }
    }

    /// The five-bit wire value.
    pub fn bits(self) -> u8 {
        match self {
            Diagnostic::NoDiagnostic => 0,
            Diagnostic::ControlDetectionTimeExpired => 1,
            Diagnostic::EchoFunctionFailed => 2,
            Diagnostic::NeighborSignaledSessionDown => 3,
            Diagnostic::ForwardingPlaneReset => 4,
            Diagnostic::PathDown => 5,
            Diagnostic::ConcatenatedPathDown => 6,
            Diagnostic::AdministrativelyDown => 7,
            Diagnostic::ReverseConcatenatedPathDown => 8,
            Diagnostic::Reserved(v) => v & 0x1f,
        }
    }

    /// Short name, as in FRR's `show bfd peer` (`control-expired`, `neighbor-down`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Diagnostic::NoDiagnostic => "ok",
            Diagnostic::ControlDetectionTimeExpired => "control-expired",
            Diagnostic::EchoFunctionFailed => "echo-failed",
            Diagnostic::NeighborSignaledSessionDown => "neighbor-down",
            Diagnostic::ForwardingPlaneReset => "forwarding-reset",
            Diagnostic::PathDown => "path-down",
            Diagnostic::ConcatenatedPathDown => "concatenated-path-down",
            Diagnostic::AdministrativelyDown => "administratively-down",
            Diagnostic::ReverseConcatenatedPathDown => "reverse-concatenated-path-down",
            Diagnostic::Reserved(_) => "reserved",
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diagnostic::Reserved(v) => write!(f, "reserved({v})"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// A validated BFD Control packet.
///
/// Intervals are in microseconds, as on the wire. The Version is always [`BFD_VERSION`] and the
/// Multipoint bit always clear (§6.8.6 discards anything else), so neither is a field. The A bit
/// is set exactly when `auth` is `Some`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlPacket {
    /// Diag: why the sender's session last changed state.
    pub diag: Diagnostic,
    /// Sta: the sender's session state.
    pub state: State,
    /// P: the sender is running a Poll sequence.
    pub poll: bool,
    /// F: the answer to a Poll.
    pub final_: bool,
    /// C: the sender's BFD does not share fate with its control plane.
    pub control_plane_independent: bool,
    /// D: the sender wishes to run in Demand mode.
    pub demand: bool,
    /// Detect Mult, never zero.
    pub detect_mult: u8,
    /// My Discriminator, never zero.
    pub my_discriminator: u32,
    /// Your Discriminator, zero until the sender has heard us.
    pub your_discriminator: u32,
    /// Desired Min TX Interval, microseconds.
    pub desired_min_tx: u32,
    /// Required Min RX Interval, microseconds.
    pub required_min_rx: u32,
    /// Required Min Echo RX Interval, microseconds; zero when the sender supports no echo.
    pub required_min_echo_rx: u32,
    /// The authentication section, present exactly when the A bit is set.
    pub auth: Option<Auth>,
}

impl ControlPacket {
    /// Bytes [`emit`](Self::emit) writes: the Length field's value.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.auth.map_or(0, |a| a.len())
    }

    /// Writes the packet as it is, digest included. To sign it, emit and then call
    /// [`auth::sign`](crate::auth::sign) on the written bytes.
    pub fn emit<B: BufMut>(&self, buf: &mut B) {
        let mut flags = 0;
        for (set, bit) in [
            (self.poll, FLAG_POLL),
            (self.final_, FLAG_FINAL),
            (self.control_plane_independent, FLAG_CPI),
            (self.auth.is_some(), FLAG_AUTH),
            (self.demand, FLAG_DEMAND),
        ] {
            if set {
                flags |= bit;
            }
        }
        buf.put_u8(BFD_VERSION << 5 | self.diag.bits());
        buf.put_u8(self.state.bits() << 6 | flags);
        buf.put_u8(self.detect_mult);
        // Length is at most 24 + 28; the cast cannot truncate.
        buf.put_u8(self.buffer_len() as u8);
        buf.put_u32(self.my_discriminator);
        buf.put_u32(self.your_discriminator);
        buf.put_u32(self.desired_min_tx);
        buf.put_u32(self.required_min_rx);
        buf.put_u32(self.required_min_echo_rx);
        if let Some(auth) = &self.auth {
            auth.emit(buf);
        }
    }
}
