//! RFC 5880 BFD Control packet codec.
//!
//! [`parse`] turns the UDP payload of a received packet into a validated [`ControlPacket`], or a
//! [`ParseError`] naming the RFC 5880 §6.8.6 rule the packet breaks. [`ControlPacket::emit`] writes
//! a packet into a caller's buffer; [`auth`] computes and checks the §6.7 digests.
//!
//! The crate does no I/O and knows nothing of time: it is the pure bottom layer of bfdd.
#![warn(missing_docs)]

pub mod auth;
mod error;
mod packet;
mod parse;

pub use auth::{Auth, AuthType, Password};
pub use error::ParseError;
pub use packet::{ControlPacket, Diagnostic, State, BFD_VERSION, HEADER_LEN};
pub use parse::parse;
