//! Per-session authentication state: RFC 5880 §6.7 sequence numbers and replay window.

use bfd_wire::auth::{self, Auth};
use bfd_wire::{AuthType, ControlPacket};

use crate::config::AuthKey;
use crate::error::RxError;

/// bfd.XmitAuthSeq, bfd.RcvAuthSeq and bfd.AuthSeqKnown for one session.
#[derive(Clone, Debug)]
pub(crate) struct AuthState {
    pub(crate) key: AuthKey,
    xmit_seq: u32,
    rcv_seq: u32,
    pub(crate) seq_known: bool,
}

impl AuthState {
    /// `initial_seq` must be random (§6.8.1, bfd.XmitAuthSeq).
    pub(crate) fn new(key: AuthKey, initial_seq: u32) -> AuthState {
        AuthState {
            key,
            xmit_seq: initial_seq,
            rcv_seq: 0,
            seq_known: false,
        }
    }

    /// Signs and checks with `key` from now on. The transmit sequence carries on; the peer's is
    /// learnt afresh, since it may have changed key by restarting.
    pub(crate) fn rekey(&mut self, key: AuthKey) {
        self.key = key;
        self.seq_known = false;
    }

    /// The section for the next packet; advances the sequence for every packet, which both the
    /// meticulous types require and the plain keyed types allow (§6.7.3, §6.7.4).
    pub(crate) fn next_section(&mut self) -> Option<Auth> {
        let seq = self.xmit_seq;
        if self.key.auth_type != AuthType::SimplePassword {
            self.xmit_seq = self.xmit_seq.wrapping_add(1);
        }
        Auth::unsigned(self.key.auth_type, self.key.key_id, seq, &self.key.secret)
    }

    /// Fills the digest into an emitted packet, if the type has one.
    pub(crate) fn sign(&self, bytes: &mut [u8]) {
        if self.key.auth_type != AuthType::SimplePassword {
            // The key length was checked when the session was created, so this cannot fail.
            let _ = auth::sign(bytes, &self.key.secret);
        }
    }

    /// §6.7.2-6.7.4 reception. `raw` is the packet's Length bytes. Commits the sequence number
    /// only when everything else passes.
    pub(crate) fn check(&mut self, packet: &ControlPacket, raw: &[u8]) -> Result<(), RxError> {
        let Some(section) = &packet.auth else {
            return Err(RxError::AuthMissing);
        };
        let got = section.auth_type();
        if got != self.key.auth_type {
            return Err(RxError::AuthTypeMismatch {
                expected: self.key.auth_type,
                got,
            });
        }
        if section.key_id() != self.key.key_id {
            return Err(RxError::AuthKeyId {
                expected: self.key.key_id,
                got: section.key_id(),
            });
        }
        if let Some(seq) = section.sequence() {
            if self.seq_known {
                let ahead = seq.wrapping_sub(self.rcv_seq);
                let window = 3 * u32::from(packet.detect_mult);
                let lowest = u32::from(got.is_meticulous());
                if ahead < lowest || ahead > window {
                    return Err(RxError::AuthSequence {
                        got: seq,
                        last: self.rcv_seq,
                    });
                }
            }
        }
        if !auth::verify(raw, section, &self.key.secret) {
            return Err(RxError::AuthFailed);
        }
        if let Some(seq) = section.sequence() {
            self.rcv_seq = seq;
            self.seq_known = true;
        }
        Ok(())
    }
}
