//! Authentication sections (RFC 5880 §4.2-4.4) and their digests (§6.7).
//!
//! ```text
//! Simple Password (§4.2)           Keyed MD5 / SHA1 (§4.3, §4.4)
//! +--------+--------+--------+     +--------+--------+--------+--------+
//! |  Type  |  Len   | Key ID |     |  Type  |  Len   | Key ID |Reserved|
//! +--------+--------+--------+     +--------+--------+--------+--------+
//! |  Password, 1-16 bytes ...|     |          Sequence Number          |
//! +--------------------------+     +-----------------------------------+
//!                                  |  Digest (16 bytes) / Hash (20)... |
//!                                  +-----------------------------------+
//! ```
//!
//! A digest covers the whole packet with the key, zero-padded, in place of the digest field.
//! Sequence numbers and their replay window are session state and live in bfd-core.

use bytes::BufMut;
use md5::{Digest, Md5};
use sha1::Sha1;
use std::fmt;

use crate::packet::HEADER_LEN;

/// Longest simple password (§4.2).
pub const MAX_PASSWORD_LEN: usize = 16;
/// Longest keyed MD5 key: the digest field it is padded into (§4.3).
pub const MAX_MD5_KEY_LEN: usize = 16;
/// Longest keyed SHA1 key: the hash field it is padded into (§4.4).
pub const MAX_SHA1_KEY_LEN: usize = 20;

/// The Auth Type field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthType {
    /// 1
    SimplePassword,
    /// 2
    KeyedMd5,
    /// 3
    MeticulousKeyedMd5,
    /// 4
    KeyedSha1,
    /// 5
    MeticulousKeyedSha1,
}

impl AuthType {
    /// Decodes the Auth Type field; 0 and 6-255 are reserved.
    pub fn from_u8(v: u8) -> Option<AuthType> {
        Some(match v {
            1 => AuthType::SimplePassword,
            2 => AuthType::KeyedMd5,
            3 => AuthType::MeticulousKeyedMd5,
            4 => AuthType::KeyedSha1,
            5 => AuthType::MeticulousKeyedSha1,
            _ => return None,
        })
    }

    /// The wire value.
    pub fn as_u8(self) -> u8 {
        match self {
            AuthType::SimplePassword => 1,
            AuthType::KeyedMd5 => 2,
            AuthType::MeticulousKeyedMd5 => 3,
            AuthType::KeyedSha1 => 4,
            AuthType::MeticulousKeyedSha1 => 5,
        }
    }

    /// Whether the sequence number must grow with every packet (§6.7.3, §6.7.4).
    pub fn is_meticulous(self) -> bool {
        matches!(
            self,
            AuthType::MeticulousKeyedMd5 | AuthType::MeticulousKeyedSha1
        )
    }

    /// Name as used in bfdd.toml (`keyed-md5`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::SimplePassword => "simple-password",
            AuthType::KeyedMd5 => "keyed-md5",
            AuthType::MeticulousKeyedMd5 => "meticulous-keyed-md5",
            AuthType::KeyedSha1 => "keyed-sha1",
            AuthType::MeticulousKeyedSha1 => "meticulous-keyed-sha1",
        }
    }

    /// Longest key (password) this type accepts.
    pub fn max_key_len(self) -> usize {
        match self {
            AuthType::SimplePassword => MAX_PASSWORD_LEN,
            AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => MAX_MD5_KEY_LEN,
            AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => MAX_SHA1_KEY_LEN,
        }
    }
}

impl fmt::Display for AuthType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A simple password of 1 to 16 bytes, stored inline so packets stay `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Password {
    len: u8,
    // Bytes past `len` are always zero, so the derived equality is the right one.
    bytes: [u8; MAX_PASSWORD_LEN],
}

impl Password {
    /// `None` unless 1 to 16 bytes long (§4.2).
    pub fn new(password: &[u8]) -> Option<Password> {
        if password.is_empty() || password.len() > MAX_PASSWORD_LEN {
            return None;
        }
        let mut bytes = [0; MAX_PASSWORD_LEN];
        bytes[..password.len()].copy_from_slice(password);
        Some(Password {
            len: password.len() as u8,
            bytes,
        })
    }

    /// The password's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print secrets into logs.
        write!(f, "Password(<{} bytes>)", self.len)
    }
}

/// An authentication section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// §4.2: the password in clear.
    SimplePassword {
        /// Key ID
        key_id: u8,
        /// Password
        password: Password,
    },
    /// §4.3: Keyed MD5 or Meticulous Keyed MD5.
    Md5 {
        /// Meticulous: Auth Type 3 instead of 2.
        meticulous: bool,
        /// Key ID
        key_id: u8,
        /// Sequence Number
        sequence: u32,
        /// Auth Key/Digest
        digest: [u8; 16],
    },
    /// §4.4: Keyed SHA1 or Meticulous Keyed SHA1.
    Sha1 {
        /// Meticulous: Auth Type 5 instead of 4.
        meticulous: bool,
        /// Key ID
        key_id: u8,
        /// Sequence Number
        sequence: u32,
        /// Auth Key/Hash
        hash: [u8; 20],
    },
}

/// Auth Len of a keyed MD5 section.
pub const MD5_AUTH_LEN: usize = 24;
/// Auth Len of a keyed SHA1 section.
pub const SHA1_AUTH_LEN: usize = 28;

impl Auth {
    /// The Auth Type this section carries.
    pub fn auth_type(&self) -> AuthType {
        match *self {
            Auth::SimplePassword { .. } => AuthType::SimplePassword,
            Auth::Md5 {
                meticulous: false, ..
            } => AuthType::KeyedMd5,
            Auth::Md5 {
                meticulous: true, ..
            } => AuthType::MeticulousKeyedMd5,
            Auth::Sha1 {
                meticulous: false, ..
            } => AuthType::KeyedSha1,
            Auth::Sha1 {
                meticulous: true, ..
            } => AuthType::MeticulousKeyedSha1,
        }
    }

    /// Key ID
    pub fn key_id(&self) -> u8 {
        match *self {
            Auth::SimplePassword { key_id, .. }
            | Auth::Md5 { key_id, .. }
            | Auth::Sha1 { key_id, .. } => key_id,
        }
    }

    /// Sequence Number, for the keyed types.
    pub fn sequence(&self) -> Option<u32> {
        match *self {
            Auth::SimplePassword { .. } => None,
            Auth::Md5 { sequence, .. } | Auth::Sha1 { sequence, .. } => Some(sequence),
        }
    }

    /// A section of `auth_type` for sending, digest zeroed until [`sign`] fills it in.
    /// `secret` is used only as the simple password; `None` when it is not a valid one.
    pub fn unsigned(auth_type: AuthType, key_id: u8, sequence: u32, secret: &[u8]) -> Option<Auth> {
        Some(match auth_type {
            AuthType::SimplePassword => Auth::SimplePassword {
                key_id,
                password: Password::new(secret)?,
            },
            AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => Auth::Md5 {
                meticulous: auth_type.is_meticulous(),
                key_id,
                sequence,
                digest: [0; 16],
            },
            AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => Auth::Sha1 {
                meticulous: auth_type.is_meticulous(),
                key_id,
                sequence,
                hash: [0; 20],
            },
        })
    }

    /// Auth Len: bytes of this section.
    pub fn len(&self) -> usize {
        match self {
            Auth::SimplePassword { password, .. } => 3 + password.as_bytes().len(),
            Auth::Md5 { .. } => MD5_AUTH_LEN,
            Auth::Sha1 { .. } => SHA1_AUTH_LEN,
        }
    }

    /// Never true: a section always has its type, length and key id.
    pub fn is_empty(&self) -> bool {
        false
    }

    pub(crate) fn emit<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(self.auth_type().as_u8());
        // At most 28: the cast cannot truncate.
        buf.put_u8(self.len() as u8);
        buf.put_u8(self.key_id());
        match self {
            Auth::SimplePassword { password, .. } => buf.put_slice(password.as_bytes()),
            Auth::Md5 {
                sequence, digest, ..
            } => {
                buf.put_u8(0);
                buf.put_u32(*sequence);
                buf.put_slice(digest);
            }
            Auth::Sha1 { sequence, hash, .. } => {
                buf.put_u8(0);
                buf.put_u32(*sequence);
                buf.put_slice(hash);
            }
        }
    }
}

/// Offset of the digest in a packet with a keyed section: header, then type, len, key id,
/// reserved and the sequence number.
const DIGEST_OFFSET: usize = HEADER_LEN + 8;

/// Why [`sign`] could not sign a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The bytes are not a packet with a keyed MD5 or SHA1 section.
    #[error("packet of {0} bytes has no keyed MD5 or SHA1 section to sign")]
    NotKeyed(usize),
    /// The key is longer than the digest field it is padded into.
    #[error("key of {len} bytes is longer than the {max} bytes the digest field holds")]
    KeyTooLong {
        /// Key length
        len: usize,
        /// Digest field length
        max: usize,
    },
}

fn digest_len(packet: &[u8]) -> Option<usize> {
    // The auth type byte sits right after the header; the total length decides the type.
    match (
        packet.get(HEADER_LEN).copied().and_then(AuthType::from_u8),
        packet.len(),
    ) {
        (Some(AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5), n)
            if n == HEADER_LEN + MD5_AUTH_LEN =>
        {
            Some(16)
        }
        (Some(AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1), n)
            if n == HEADER_LEN + SHA1_AUTH_LEN =>
        {
            Some(20)
        }
        _ => None,
    }
}

/// Computes the digest of an emitted packet (exactly its Length bytes) with `key` in place of the
/// digest field, as §6.7.3 and §6.7.4 describe for transmission.
fn compute(packet: &[u8], key: &[u8], out: &mut [u8]) -> Result<(), SignError> {
    let n = digest_len(packet).ok_or(SignError::NotKeyed(packet.len()))?;
    if key.len() > n {
        return Err(SignError::KeyTooLong {
            len: key.len(),
            max: n,
        });
    }
    let mut padded = [0u8; 20];
    padded[..key.len()].copy_from_slice(key);
    let prefix = &packet[..DIGEST_OFFSET];
    if n == 16 {
        let mut h = Md5::new();
        h.update(prefix);
        h.update(&padded[..16]);
        out[..16].copy_from_slice(&h.finalize());
    } else {
        let mut h = Sha1::new();
        h.update(prefix);
        h.update(&padded[..20]);
        out[..20].copy_from_slice(&h.finalize());
    }
    Ok(())
}

/// Fills in the digest of an emitted keyed MD5 / SHA1 packet (exactly its Length bytes).
pub fn sign(packet: &mut [u8], key: &[u8]) -> Result<(), SignError> {
    let mut out = [0u8; 20];
    compute(packet, key, &mut out)?;
    let n = packet.len() - DIGEST_OFFSET;
    packet[DIGEST_OFFSET..].copy_from_slice(&out[..n]);
    Ok(())
}

/// Checks a received packet's authentication against `key` (§6.7.2-6.7.4, without the sequence
/// number window, which is session state). `packet` is exactly the Length bytes that
/// [`parse`](crate::parse) accepted.
pub fn verify(packet: &[u8], auth: &Auth, key: &[u8]) -> bool {
    match auth {
        Auth::SimplePassword { password, .. } => constant_time_eq(password.as_bytes(), key),
        Auth::Md5 { digest, .. } => {
            let mut out = [0u8; 20];
            compute(packet, key, &mut out).is_ok() && constant_time_eq(&out[..16], digest)
        }
        Auth::Sha1 { hash, .. } => {
            let mut out = [0u8; 20];
            compute(packet, key, &mut out).is_ok() && constant_time_eq(&out, hash)
        }
    }
}

/// Compares without an early exit, so the time taken says nothing about where a guess went wrong.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
