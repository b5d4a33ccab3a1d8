//! Property tests: parse(emit(x)) == x for every valid packet, and parse never panics and only
//! accepts bytes it can reproduce.

use bfd_wire::{parse, Auth, ControlPacket, Diagnostic, Password, State, HEADER_LEN};
use proptest::prelude::*;

fn state() -> impl Strategy<Value = State> {
    (0u8..4).prop_map(State::from_bits)
}

fn diag() -> impl Strategy<Value = Diagnostic> {
    // Every five-bit value, the reserved 9-31 included.
    (0u8..32).prop_map(Diagnostic::from_bits)
}

fn auth() -> impl Strategy<Value = Option<Auth>> {
    prop_oneof![
        Just(None),
        (any::<u8>(), prop::collection::vec(any::<u8>(), 1..=16)).prop_map(|(key_id, pw)| {
            Some(Auth::SimplePassword {
                key_id,
                password: Password::new(&pw).expect("1 to 16 bytes"),
            })
        }),
        (any::<bool>(), any::<u8>(), any::<u32>(), any::<[u8; 16]>()).prop_map(
            |(meticulous, key_id, sequence, digest)| Some(Auth::Md5 {
                meticulous,
                key_id,
                sequence,
                digest,
            })
        ),
        (any::<bool>(), any::<u8>(), any::<u32>(), any::<[u8; 20]>()).prop_map(
            |(meticulous, key_id, sequence, hash)| Some(Auth::Sha1 {
                meticulous,
                key_id,
                sequence,
                hash,
            })
        ),
    ]
}

prop_compose! {
    /// Any packet §6.8.6 lets through.
    fn valid_packet()(
        diag in diag(),
        state in state(),
        // At most one of Poll and Final (§6.5).
        poll_final in prop_oneof![Just((false, false)), Just((true, false)), Just((false, true))],
        control_plane_independent in any::<bool>(),
        demand in any::<bool>(),
        detect_mult in 1u8..=255,
        my_discriminator in 1u32..=u32::MAX,
        your_discriminator in any::<u32>(),
        nonzero_your in 1u32..=u32::MAX,
        desired_min_tx in any::<u32>(),
        required_min_rx in any::<u32>(),
        required_min_echo_rx in any::<u32>(),
        auth in auth(),
    ) -> ControlPacket {
        // Your Discriminator may be zero only in Down and AdminDown.
        let your_discriminator = match state {
            State::Down | State::AdminDown => your_discriminator,
            _ => nonzero_your,
        };
        ControlPacket {
            diag,
            state,
            poll: poll_final.0,
            final_: poll_final.1,
            control_plane_independent,
            demand,
            detect_mult,
            my_discriminator,
            your_discriminator,
            desired_min_tx,
            required_min_rx,
            required_min_echo_rx,
            auth,
        }
    }
}

/// Bytes close to a valid packet: an emitted one with a few bytes overwritten, cut or extended,
/// so that both acceptance and every rejection path are reached often.
fn near_valid_bytes() -> impl Strategy<Value = Vec<u8>> {
    (
        valid_packet(),
        prop::collection::vec((0usize..80, any::<u8>()), 0..3),
        prop::collection::vec(any::<u8>(), 0..8),
        0usize..80,
    )
        .prop_map(|(pkt, edits, tail, cut)| {
            let mut bytes = Vec::new();
            pkt.emit(&mut bytes);
            bytes.extend_from_slice(&tail);
            let n = bytes.len();
            for (at, value) in edits {
                bytes[at % n] = value;
            }
            if cut < bytes.len() && cut % 3 == 0 {
                bytes.truncate(cut);
            }
            bytes
        })
}

/// What emit must reproduce for accepted `bytes`: the Length prefix, with the two fields parse
/// is allowed to normalise put back to their canonical values.
fn canonical(bytes: &[u8]) -> Vec<u8> {
    let length = usize::from(bytes[3]);
    let mut expected = bytes[..length].to_vec();
    let has_auth = bytes[1] & 0x04 != 0;
    if !has_auth && length > HEADER_LEN {
        // §6.8.6 does not discard a Length above 24 without the A bit; the bytes past the
        // mandatory section carry nothing and emit writes the 24-byte packet.
        expected.truncate(HEADER_LEN);
        expected[3] = HEADER_LEN as u8;
    }
    if has_auth && (2..=5).contains(&bytes[HEADER_LEN]) {
        // Keyed sections: Reserved is ignored on receipt and written as zero (§4.3, §4.4).
        expected[HEADER_LEN + 3] = 0;
    }
    expected
}

fn check_bytes(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(pkt) = parse(bytes) {
        let mut out = Vec::new();
        pkt.emit(&mut out);
        prop_assert_eq!(out.len(), pkt.buffer_len());
        prop_assert_eq!(&out, &canonical(bytes));
        prop_assert_eq!(parse(&out), Ok(pkt));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn parse_emit_roundtrip(pkt in valid_packet()) {
        let mut bytes = Vec::new();
        pkt.emit(&mut bytes);
        prop_assert_eq!(bytes.len(), pkt.buffer_len());
        prop_assert_eq!(usize::from(bytes[3]), bytes.len());
        prop_assert_eq!(parse(&bytes), Ok(pkt));
    }

    #[test]
    fn parse_ignores_bytes_beyond_length(
        pkt in valid_packet(),
        tail in prop::collection::vec(any::<u8>(), 1..32),
    ) {
        let mut bytes = Vec::new();
        pkt.emit(&mut bytes);
        bytes.extend_from_slice(&tail);
        prop_assert_eq!(parse(&bytes), Ok(pkt));
    }

    #[test]
    fn parse_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        check_bytes(&bytes)?;
    }

    #[test]
    fn parse_near_valid_bytes(bytes in near_valid_bytes()) {
        check_bytes(&bytes)?;
    }
}
