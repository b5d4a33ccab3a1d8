//! Reception: bytes to a validated [`ControlPacket`], applying every §6.8.6 rule that needs no
//! session. nom stays inside this module.

use nom::bytes::complete::take;
use nom::number::complete::{be_u32, be_u8};
use nom::IResult;

use crate::auth::{Auth, AuthType, Password, MD5_AUTH_LEN, SHA1_AUTH_LEN};
use crate::error::ParseError;
use crate::packet::*;

struct Header {
    version: u8,
    diag: u8,
    state: u8,
    flags: u8,
    detect_mult: u8,
    length: u8,
    my_discriminator: u32,
    your_discriminator: u32,
    desired_min_tx: u32,
    required_min_rx: u32,
    required_min_echo_rx: u32,
}

fn header(i: &[u8]) -> IResult<&[u8], Header> {
    let (i, b0) = be_u8(i)?;
    let (i, b1) = be_u8(i)?;
    let (i, detect_mult) = be_u8(i)?;
    let (i, length) = be_u8(i)?;
    let (i, my_discriminator) = be_u32(i)?;
    let (i, your_discriminator) = be_u32(i)?;
    let (i, desired_min_tx) = be_u32(i)?;
    let (i, required_min_rx) = be_u32(i)?;
    let (i, required_min_echo_rx) = be_u32(i)?;
    Ok((
        i,
        Header {
            version: b0 >> 5,
            diag: b0 & 0x1f,
            state: b1 >> 6,
            flags: b1 & 0x3f,
            detect_mult,
            length,
            my_discriminator,
            your_discriminator,
            desired_min_tx,
            required_min_rx,
            required_min_echo_rx,
        },
    ))
}

/// The keyed section after type and length: key id, reserved, sequence, digest of `N` bytes.
fn keyed<const N: usize>(i: &[u8]) -> IResult<&[u8], (u8, u32, [u8; N])> {
    let (i, key_id) = be_u8(i)?;
    let (i, _reserved) = be_u8(i)?;
    let (i, sequence) = be_u32(i)?;
    let (i, digest) = take(N)(i)?;
    let mut out = [0u8; N];
    out.copy_from_slice(digest);
    Ok((i, (key_id, sequence, out)))
}

/// Parses the UDP payload of a BFD Control packet (RFC 5880 §4.1) and applies the stateless
/// reception checks of §6.8.6. Bytes beyond the Length field are ignored.
pub fn parse(payload: &[u8]) -> Result<ControlPacket, ParseError> {
    let truncated = ParseError::Truncated {
        payload: payload.len(),
    };
    let (_, h) = header(payload).map_err(|_| truncated)?;

    if h.version != BFD_VERSION {
        return Err(ParseError::BadVersion(h.version));
    }
    let has_auth = h.flags & FLAG_AUTH != 0;
    let min = if has_auth { 26 } else { 24 };
    if h.length < min {
        return Err(ParseError::LengthTooShort {
            length: h.length,
            min,
        });
    }
    if usize::from(h.length) > payload.len() {
        return Err(ParseError::LengthExceedsPayload {
            length: h.length,
            payload: payload.len(),
        });
    }
    if h.detect_mult == 0 {
        return Err(ParseError::ZeroDetectMult);
    }
    if h.flags & FLAG_MULTIPOINT != 0 {
        return Err(ParseError::Multipoint);
    }
    if h.my_discriminator == 0 {
        return Err(ParseError::ZeroMyDiscriminator);
    }
    let state = State::from_bits(h.state);
    if h.your_discriminator == 0 && !matches!(state, State::Down | State::AdminDown) {
        return Err(ParseError::ZeroYourDiscriminator(state));
    }
    let poll = h.flags & FLAG_POLL != 0;
    let final_ = h.flags & FLAG_FINAL != 0;
    if poll && final_ {
        return Err(ParseError::PollAndFinal);
    }

    let auth = if has_auth {
        Some(parse_auth(
            &payload[HEADER_LEN..usize::from(h.length)],
            h.length,
        )?)
    } else {
        None
    };

    Ok(ControlPacket {
        diag: Diagnostic::from_bits(h.diag),
        state,
        poll,
        final_,
        control_plane_independent: h.flags & FLAG_CPI != 0,
        demand: h.flags & FLAG_DEMAND != 0,
        detect_mult: h.detect_mult,
        my_discriminator: h.my_discriminator,
        your_discriminator: h.your_discriminator,
        desired_min_tx: h.desired_min_tx,
        required_min_rx: h.required_min_rx,
        required_min_echo_rx: h.required_min_echo_rx,
        auth,
    })
}

/// `section` is everything from the Auth Type byte to the end of Length (at least 2 bytes).
fn parse_auth(section: &[u8], length: u8) -> Result<Auth, ParseError> {
    let (type_byte, auth_len) = (section[0], section[1]);
    let auth_type = AuthType::from_u8(type_byte).ok_or(ParseError::UnknownAuthType(type_byte))?;
    let bad_len = ParseError::BadAuthLen {
        auth_type,
        auth_len,
    };
    let valid_len = match auth_type {
        // Type, length, key id and a password of 1 to 16 bytes.
        AuthType::SimplePassword => (4..=19).contains(&auth_len),
        AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => usize::from(auth_len) == MD5_AUTH_LEN,
        AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => {
            usize::from(auth_len) == SHA1_AUTH_LEN
        }
    };
    if !valid_len {
        return Err(bad_len);
    }
    if usize::from(auth_len) != section.len() {
        return Err(ParseError::AuthLenMismatch { auth_len, length });
    }
    let body = &section[2..];
    let meticulous = auth_type.is_meticulous();
    let auth = match auth_type {
        AuthType::SimplePassword => Auth::SimplePassword {
            key_id: body[0],
            password: Password::new(&body[1..]).ok_or(bad_len)?,
        },
        AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => {
            let (_, (key_id, sequence, digest)) = keyed::<16>(body).map_err(|_| bad_len)?;
            Auth::Md5 {
                meticulous,
                key_id,
                sequence,
                digest,
            }
        }
        AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => {
            let (_, (key_id, sequence, hash)) = keyed::<20>(body).map_err(|_| bad_len)?;
            Auth::Sha1 {
                meticulous,
                key_id,
                sequence,
                hash,
            }
        }
    };
    Ok(auth)
}
