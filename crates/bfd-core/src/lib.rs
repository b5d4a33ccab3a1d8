//! Sans-IO BFD sessions: the RFC 5880 state machine, timers, Poll/Final and authentication,
//! with the RFC 5881 / 5883 TTL rules.
//!
//! Nothing here reads a clock, draws global randomness or touches a socket. The caller feeds in
//! received datagrams and the current time, and drains what comes out: packets to send, events,
//! and the next deadline. See [`Sessions`] for the call order.
#![warn(missing_docs)]

mod auth;
mod config;
mod error;
mod event;
mod session;
mod sessions;
mod timers;

pub use config::{AuthKey, HopMode, SessionConfig};
pub use error::{InsertError, RxError};
pub use event::Event;
pub use session::{Punctuality, RemoteParams, Session, SessionStats, SLOW_TX_INTERVAL};
pub use sessions::{PeerKey, RxMeta, SessionId, Sessions, Transmit, MAX_GRID_STEP};

pub use bfd_wire::{AuthType, ControlPacket, Diagnostic, State};
