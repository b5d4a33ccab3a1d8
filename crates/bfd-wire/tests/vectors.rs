//! Hex vectors for the RFC 5880 codec.
//!
//! Every packet below was built field by field and every digest computed by `vectors.py` (Python
//! `struct` + `hashlib`, no code shared with this crate). Positive vectors are checked both ways:
//! `parse` gives the expected value and `emit` of that value gives the same bytes. Negative
//! vectors break exactly one rule of a valid packet and check the exact error value.
//!
//! Unless a comment says otherwise a header is: Vers 1, Diag 0, Sta 3 (Up), no flags,
//! Detect Mult 3, Length 24, My Discr 0x12345678, Your Discr 0x9abcdef0,
//! Desired Min TX 1 000 000 us (000f4240), Required Min RX 300 000 us (000493e0),
//! Required Min Echo RX 50 000 us (0000c350).

use bfd_wire::auth::{self, SignError};
use bfd_wire::{parse, Auth, AuthType, ControlPacket, Diagnostic, ParseError, Password, State};

/// Decodes hex, ignoring whitespace.
fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert_eq!(digits.len() % 2, 0, "odd number of hex digits in {s:?}");
    digits
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).expect("ASCII");
            u8::from_str_radix(pair, 16).expect("hex digits")
        })
        .collect()
}

/// The packet every vector starts from: the default header described in the module comment.
fn base() -> ControlPacket {
    ControlPacket {
        diag: Diagnostic::NoDiagnostic,
        state: State::Up,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: 0x1234_5678,
        your_discriminator: 0x9abc_def0,
        desired_min_tx: 1_000_000,
        required_min_rx: 300_000,
        required_min_echo_rx: 50_000,
        auth: None,
    }
}

/// parse(bytes) == expected, emit(expected) == bytes, and Length/buffer_len agree.
fn check_positive(vector: &str, expected: ControlPacket) {
    let bytes = hex(vector);
    assert_eq!(parse(&bytes), Ok(expected), "parse of {vector}");
    let mut out = Vec::new();
    expected.emit(&mut out);
    assert_eq!(out, bytes, "emit of {expected:?}");
    assert_eq!(expected.buffer_len(), bytes.len());
    assert_eq!(usize::from(bytes[3]), bytes.len(), "Length field");
}

fn check_negative(vector: &str, expected: ParseError) {
    assert_eq!(parse(&hex(vector)), Err(expected), "parse of {vector}");
}

// ---------------------------------------------------------------------------------------------
// Positive vectors, no authentication
// ---------------------------------------------------------------------------------------------

// 20: Vers 1, Diag 0 | c0: Sta 3 (Up), P0 F0 C0 A0 D0 M0 | 03: Detect Mult 3 | 18: Length 24
// 12345678: My Discr | 9abcdef0: Your Discr | 000f4240: Desired Min TX 1000000
// 000493e0: Required Min RX 300000 | 0000c350: Required Min Echo RX 50000
const NO_AUTH: &str = "20 c0 03 18 12345678 9abcdef0 000f4240 000493e0 0000c350";

#[test]
fn rfc5880_4_1_no_auth_vector() {
    check_positive(NO_AUTH, base());
}

// 21: Vers 1, Diag 1 (Control Detection Time Expired) | 40: Sta 1 (Down), no flags
// 03: Detect Mult 3 | 18: Length 24 | 12345678: My Discr | 00000000: Your Discr 0
// 000f4240 000493e0 0000c350: intervals
const DOWN_ZERO_YOUR: &str = "21 40 03 18 12345678 00000000 000f4240 000493e0 0000c350";

#[test]
fn rfc5880_6_8_6_accept_zero_your_discriminator_in_down() {
    check_positive(
        DOWN_ZERO_YOUR,
        ControlPacket {
            diag: Diagnostic::ControlDetectionTimeExpired,
            state: State::Down,
            your_discriminator: 0,
            ..base()
        },
    );
}

// 27: Vers 1, Diag 7 (Administratively Down) | 00: Sta 0 (AdminDown), no flags
// 03: Detect Mult 3 | 18: Length 24 | 12345678: My Discr | 00000000: Your Discr 0
// 000f4240 000493e0 0000c350: intervals
const ADMIN_DOWN_ZERO_YOUR: &str = "27 00 03 18 12345678 00000000 000f4240 000493e0 0000c350";

#[test]
fn rfc5880_6_8_6_accept_zero_your_discriminator_in_admin_down() {
    check_positive(
        ADMIN_DOWN_ZERO_YOUR,
        ControlPacket {
            diag: Diagnostic::AdministrativelyDown,
            state: State::AdminDown,
            your_discriminator: 0,
            ..base()
        },
    );
}

// 3f: Vers 1, Diag 31 (reserved) | c0: Sta 3 (Up), no flags | 03: Detect Mult 3 | 18: Length 24
// 12345678 9abcdef0: discriminators | 000f4240 000493e0 0000c350: intervals
const RESERVED_DIAG: &str = "3f c0 03 18 12345678 9abcdef0 000f4240 000493e0 0000c350";

#[test]
fn rfc5880_4_1_reserved_diag_is_kept() {
    check_positive(
        RESERVED_DIAG,
        ControlPacket {
            diag: Diagnostic::Reserved(31),
            ..base()
        },
    );
}

// 20: Vers 1, Diag 0 | e0: Sta 3 (Up), P1 F0 C0 A0 D0 M0 | 03: Detect Mult 3 | 18: Length 24
// 12345678 9abcdef0: discriminators | 000f4240 000493e0 0000c350: intervals
const POLL: &str = "20 e0 03 18 12345678 9abcdef0 000f4240 000493e0 0000c350";

#[test]
fn rfc5880_6_5_poll_vector() {
    check_positive(
        POLL,
        ControlPacket {
            poll: true,
            ..base()
        },
    );
}

// 20: Vers 1, Diag 0 | d0: Sta 3 (Up), P0 F1 C0 A0 D0 M0 | 03: Detect Mult 3 | 18: Length 24
// 12345678 9abcdef0: discriminators | 000f4240 000493e0 0000c350: intervals
const FINAL: &str = "20 d0 03 18 12345678 9abcdef0 000f4240 000493e0 0000c350";

#[test]
fn rfc5880_6_5_final_vector() {
    check_positive(
        FINAL,
        ControlPacket {
            final_: true,
            ..base()
        },
    );
}

// 20: Vers 1, Diag 0 | ca: Sta 3 (Up), P0 F0 C1 A0 D1 M0 | 03: Detect Mult 3 | 18: Length 24
// 12345678 9abcdef0: discriminators | 000f4240 000493e0 0000c350: intervals
const CPI_DEMAND: &str = "20 ca 03 18 12345678 9abcdef0 000f4240 000493e0 0000c350";

#[test]
fn rfc5880_4_1_control_plane_independent_and_demand_vector() {
    check_positive(
        CPI_DEMAND,
        ControlPacket {
            control_plane_independent: true,
            demand: true,
            ..base()
        },
    );
}

#[test]
fn rfc5880_6_8_6_bytes_beyond_length_are_ignored() {
    let mut bytes = hex(NO_AUTH);
    bytes.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(parse(&bytes), Ok(base()));
}

/// §6.8.6 only discards a Length *below* 24 without the A bit, so a longer one is accepted; the
/// bytes between 24 and Length carry nothing and emit writes the canonical 24-byte packet.
#[test]
fn rfc5880_6_8_6_accept_length_above_24_without_auth() {
    // 20 c0 03 | 1c: Length 28 | header fields as NO_AUTH | 00000000: 4 bytes inside Length
    let bytes = hex("20 c0 03 1c 12345678 9abcdef0 000f4240 000493e0 0000c350 00000000");
    assert_eq!(parse(&bytes), Ok(base()));
    let mut out = Vec::new();
    base().emit(&mut out);
    assert_eq!(out, hex(NO_AUTH));
}

// ---------------------------------------------------------------------------------------------
// Positive vectors, authentication
// ---------------------------------------------------------------------------------------------

// 20: Vers 1, Diag 0 | c4: Sta 3 (Up), P0 F0 C0 A1 D0 M0 | 03: Detect Mult 3 | 21: Length 33
// 12345678 9abcdef0: discriminators | 000f4240 000493e0 0000c350: intervals
// 01: Auth Type 1 (Simple Password) | 09: Auth Len 9 | 01: Key ID 1 | 736563726574: "secret"
const SIMPLE_PASSWORD: &str =
    "20 c4 03 21 12345678 9abcdef0 000f4240 000493e0 0000c350 01 09 01 736563726574";

#[test]
fn rfc5880_4_2_simple_password_vector() {
    check_positive(
        SIMPLE_PASSWORD,
        ControlPacket {
            auth: Some(Auth::SimplePassword {
                key_id: 1,
                password: Password::new(b"secret").unwrap(),
            }),
            ..base()
        },
    );
}

// 20 | c4: Sta 3 (Up), A1 | 03: Detect Mult 3 | 30: Length 48
// 12345678 9abcdef0: discriminators | 000f4240 000493e0 0000c350: intervals
// 02: Auth Type 2 (Keyed MD5) | 18: Auth Len 24 | 01: Key ID 1 | 00: Reserved
// 0000002a: Sequence 42 | 35e0...be2e: MD5 with key "bfd-md5-key" zero-padded to 16
const KEYED_MD5: &str = "20 c4 03 30 12345678 9abcdef0 000f4240 000493e0 0000c350 \
                         02 18 01 00 0000002a 35e0bff6387f67369d9ee10a601abe2e";
const KEYED_MD5_KEY: &[u8] = b"bfd-md5-key";
const KEYED_MD5_DIGEST: &str = "35e0bff6387f67369d9ee10a601abe2e";

// 20 | c4: Sta 3 (Up), A1 | 03: Detect Mult 3 | 30: Length 48
// 12345678 9abcdef0: discriminators | 000f4240 000493e0 0000c350: intervals
// 03: Auth Type 3 (Meticulous Keyed MD5) | 18: Auth Len 24 | 02: Key ID 2 | 00: Reserved
// deadbeef: Sequence | 8604...807a: MD5 with the 16-byte key "0123456789abcdef" (no padding)
const METICULOUS_KEYED_MD5: &str = "20 c4 03 30 12345678 9abcdef0 000f4240 000493e0 0000c350 \
                                    03 18 02 00 deadbeef 86041e248a87e304afd48b3ede28807a";
const METICULOUS_KEYED_MD5_KEY: &[u8] = b"0123456789abcdef";
const METICULOUS_KEYED_MD5_DIGEST: &str = "86041e248a87e304afd48b3ede28807a";

// 20 | c4: Sta 3 (Up), A1 | 03: Detect Mult 3 | 34: Length 52
// 12345678 9abcdef0: discriminators | 000f4240 000493e0 0000c350: intervals
// 04: Auth Type 4 (Keyed SHA1) | 1c: Auth Len 28 | 03: Key ID 3 | 00: Reserved
// 00000064: Sequence 100 | 722c...52c8: SHA1 with key "bfd-sha1-key" zero-padded to 20
const KEYED_SHA1: &str = "20 c4 03 34 12345678 9abcdef0 000f4240 000493e0 0000c350 \
                          04 1c 03 00 00000064 722cf00482b6e0d24f729af06ea60bfd4e6652c8";
const KEYED_SHA1_KEY: &[u8] = b"bfd-sha1-key";
const KEYED_SHA1_DIGEST: &str = "722cf00482b6e0d24f729af06ea60bfd4e6652c8";

// 20 | c4: Sta 3 (Up), A1 | 03: Detect Mult 3 | 34: Length 52
// 12345678 9abcdef0: discriminators | 000f4240 000493e0 0000c350: intervals
// 05: Auth Type 5 (Meticulous Keyed SHA1) | 1c: Auth Len 28 | 04: Key ID 4 | 00: Reserved
// fffffffe: Sequence | 0471...95b5: SHA1 with the 20-byte key "0123456789abcdefghij"
const METICULOUS_KEYED_SHA1: &str = "20 c4 03 34 12345678 9abcdef0 000f4240 000493e0 0000c350 \
                                     05 1c 04 00 fffffffe 047158833f12c86da2f65555dfcb80481d0795b5";
const METICULOUS_KEYED_SHA1_KEY: &[u8] = b"0123456789abcdefghij";
const METICULOUS_KEYED_SHA1_DIGEST: &str = "047158833f12c86da2f65555dfcb80481d0795b5";

fn md5_auth(meticulous: bool, key_id: u8, sequence: u32, digest: &str) -> Auth {
    Auth::Md5 {
        meticulous,
        key_id,
        sequence,
        digest: hex(digest).try_into().expect("16-byte digest"),
    }
}

fn sha1_auth(meticulous: bool, key_id: u8, sequence: u32, hash: &str) -> Auth {
    Auth::Sha1 {
        meticulous,
        key_id,
        sequence,
        hash: hex(hash).try_into().expect("20-byte hash"),
    }
}

fn with_auth(auth: Auth) -> ControlPacket {
    ControlPacket {
        auth: Some(auth),
        ..base()
    }
}

#[test]
fn rfc5880_4_3_keyed_md5_vector() {
    check_positive(
        KEYED_MD5,
        with_auth(md5_auth(false, 1, 42, KEYED_MD5_DIGEST)),
    );
}

#[test]
fn rfc5880_4_3_meticulous_keyed_md5_vector() {
    check_positive(
        METICULOUS_KEYED_MD5,
        with_auth(md5_auth(true, 2, 0xdead_beef, METICULOUS_KEYED_MD5_DIGEST)),
    );
}

#[test]
fn rfc5880_4_4_keyed_sha1_vector() {
    check_positive(
        KEYED_SHA1,
        with_auth(sha1_auth(false, 3, 100, KEYED_SHA1_DIGEST)),
    );
}

#[test]
fn rfc5880_4_4_meticulous_keyed_sha1_vector() {
    check_positive(
        METICULOUS_KEYED_SHA1,
        with_auth(sha1_auth(
            true,
            4,
            0xffff_fffe,
            METICULOUS_KEYED_SHA1_DIGEST,
        )),
    );
}

/// §4.3: Reserved "MUST be set to zero on transmit, and ignored on receipt".
#[test]
fn rfc5880_4_3_reserved_byte_ignored_on_receipt_zeroed_on_transmit() {
    let mut bytes = hex(KEYED_MD5);
    bytes[27] = 0xff;
    let pkt = parse(&bytes).unwrap();
    assert_eq!(pkt, parse(&hex(KEYED_MD5)).unwrap());
    let mut out = Vec::new();
    pkt.emit(&mut out);
    assert_eq!(out, hex(KEYED_MD5));
    // The digest covers the whole packet, reserved byte included.
    assert!(!auth::verify(&bytes, &pkt.auth.unwrap(), KEYED_MD5_KEY));
}

// ---------------------------------------------------------------------------------------------
// Digests: sign and verify against the hashlib results
// ---------------------------------------------------------------------------------------------

/// `sign` of the unsigned packet yields the hashlib digest; `verify` accepts the vector with the
/// key and rejects a wrong key and every single-bit corruption of the packet.
fn check_keyed(vector: &str, digest: &str, auth_type: AuthType, key: &[u8]) {
    let bytes = hex(vector);
    let parsed = parse(&bytes).expect("positive vector");
    let auth = parsed.auth.expect("keyed vector");
    assert_eq!(auth.auth_type(), auth_type);

    // Sign: emit with a zero digest, then fill it in.
    let unsigned = ControlPacket {
        auth: Auth::unsigned(
            auth_type,
            auth.key_id(),
            auth.sequence().expect("keyed section"),
            b"unused",
        ),
        ..parsed
    };
    let mut buf = Vec::new();
    unsigned.emit(&mut buf);
    assert_eq!(buf.len(), bytes.len());
    assert!(buf[32..].iter().all(|&b| b == 0), "unsigned digest is zero");
    auth::sign(&mut buf, key).expect("keyed packet, key fits");
    assert_eq!(hex(digest), &buf[32..], "digest differs from hashlib");
    assert_eq!(buf, bytes);

    // Verify: the right key passes.
    assert!(auth::verify(&bytes, &auth, key));

    // A wrong key fails: one byte changed, one byte short, empty, one byte too long.
    let mut changed = key.to_vec();
    *changed.last_mut().expect("nonempty key") ^= 0x01;
    assert!(!auth::verify(&bytes, &auth, &changed));
    assert!(!auth::verify(&bytes, &auth, &key[..key.len() - 1]));
    assert!(!auth::verify(&bytes, &auth, b""));
    let too_long = vec![b'k'; auth_type.max_key_len() + 1];
    assert!(!auth::verify(&bytes, &auth, &too_long));

    // Any flipped bit fails. The receiver verifies with the section it parsed from the corrupted
    // packet (so a flip in the digest itself is caught); when that packet no longer parses to an
    // authenticated one, the original section stands in.
    for bit in 0..bytes.len() * 8 {
        let mut corrupt = bytes.clone();
        corrupt[bit / 8] ^= 0x80 >> (bit % 8);
        let section = parse(&corrupt).ok().and_then(|p| p.auth).unwrap_or(auth);
        assert!(
            !auth::verify(&corrupt, &section, key),
            "bit {bit} flipped and still verified"
        );
    }
}

#[test]
fn rfc5880_6_7_3_keyed_md5_sign_and_verify() {
    check_keyed(
        KEYED_MD5,
        KEYED_MD5_DIGEST,
        AuthType::KeyedMd5,
        KEYED_MD5_KEY,
    );
}

#[test]
fn rfc5880_6_7_3_meticulous_keyed_md5_sign_and_verify() {
    check_keyed(
        METICULOUS_KEYED_MD5,
        METICULOUS_KEYED_MD5_DIGEST,
        AuthType::MeticulousKeyedMd5,
        METICULOUS_KEYED_MD5_KEY,
    );
}

#[test]
fn rfc5880_6_7_4_keyed_sha1_sign_and_verify() {
    check_keyed(
        KEYED_SHA1,
        KEYED_SHA1_DIGEST,
        AuthType::KeyedSha1,
        KEYED_SHA1_KEY,
    );
}

#[test]
fn rfc5880_6_7_4_meticulous_keyed_sha1_sign_and_verify() {
    check_keyed(
        METICULOUS_KEYED_SHA1,
        METICULOUS_KEYED_SHA1_DIGEST,
        AuthType::MeticulousKeyedSha1,
        METICULOUS_KEYED_SHA1_KEY,
    );
}

#[test]
fn rfc5880_6_7_2_simple_password_verify() {
    let bytes = hex(SIMPLE_PASSWORD);
    let auth = parse(&bytes).unwrap().auth.unwrap();
    assert!(auth::verify(&bytes, &auth, b"secret"));
    for wrong in [
        &b"Secret"[..],
        b"secreT",
        b"secre",
        b"secret!",
        b"",
        b"secret\0",
    ] {
        assert!(!auth::verify(&bytes, &auth, wrong), "{wrong:?} accepted");
    }
}

#[test]
fn rfc5880_6_7_sign_refuses_unkeyed_packets_and_long_keys() {
    let mut plain = hex(NO_AUTH);
    assert_eq!(auth::sign(&mut plain, b"k"), Err(SignError::NotKeyed(24)));
    let mut simple = hex(SIMPLE_PASSWORD);
    assert_eq!(auth::sign(&mut simple, b"k"), Err(SignError::NotKeyed(33)));
    // Trailing bytes beyond Length: not exactly a keyed packet.
    let mut long = hex(KEYED_SHA1);
    long.push(0);
    assert_eq!(auth::sign(&mut long, b"k"), Err(SignError::NotKeyed(53)));

    let mut md5 = hex(KEYED_MD5);
    assert_eq!(
        auth::sign(&mut md5, &[b'k'; 17]),
        Err(SignError::KeyTooLong { len: 17, max: 16 })
    );
    assert_eq!(
        md5,
        hex(KEYED_MD5),
        "a refused sign leaves the packet alone"
    );
    let mut sha1 = hex(KEYED_SHA1);
    assert_eq!(
        auth::sign(&mut sha1, &[b'k'; 21]),
        Err(SignError::KeyTooLong { len: 21, max: 20 })
    );
}

// ---------------------------------------------------------------------------------------------
// Negative vectors: one per ParseError variant (and per case of each)
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc5880_6_8_6_discard_truncated() {
    // NO_AUTH without its last byte: 23 bytes cannot hold the mandatory section.
    check_negative(
        "20 c0 03 18 12345678 9abcdef0 000f4240 000493e0 0000c3",
        ParseError::Truncated { payload: 23 },
    );
    check_negative("", ParseError::Truncated { payload: 0 });
}

#[test]
fn rfc5880_6_8_6_discard_bad_version() {
    // 40: Vers 2, Diag 0 | rest as NO_AUTH
    check_negative(
        "40 c0 03 18 12345678 9abcdef0 000f4240 000493e0 0000c350",
        ParseError::BadVersion(2),
    );
    // 00: Vers 0, Diag 0 | rest as NO_AUTH
    check_negative(
        "00 c0 03 18 12345678 9abcdef0 000f4240 000493e0 0000c350",
        ParseError::BadVersion(0),
    );
}

#[test]
fn rfc5880_6_8_6_discard_length_too_short() {
    // 20 c0 03 | 17: Length 23 (< 24 with the A bit clear) | rest as NO_AUTH
    check_negative(
        "20 c0 03 17 12345678 9abcdef0 000f4240 000493e0 0000c350",
        ParseError::LengthTooShort {
            length: 23,
            min: 24,
        },
    );
}

#[test]
fn rfc5880_6_8_6_discard_length_too_short_with_auth() {
    // 20 | c4: Up, A1 | 03 | 19: Length 25 (< 26 with the A bit set) | header as NO_AUTH
    // 01 04 01 78: Simple Password, Auth Len 4, Key ID 1, "x" (28 bytes in the payload)
    check_negative(
        "20 c4 03 19 12345678 9abcdef0 000f4240 000493e0 0000c350 01 04 01 78",
        ParseError::LengthTooShort {
            length: 25,
            min: 26,
        },
    );
}

#[test]
fn rfc5880_6_8_6_discard_length_exceeds_payload() {
    // 20 c0 03 | 19: Length 25 in a 24-byte payload | rest as NO_AUTH
    check_negative(
        "20 c0 03 19 12345678 9abcdef0 000f4240 000493e0 0000c350",
        ParseError::LengthExceedsPayload {
            length: 25,
            payload: 24,
        },
    );
}

#[test]
fn rfc5880_6_8_6_discard_zero_detect_mult() {
    // 20 c0 | 00: Detect Mult 0 | 18 | rest as NO_AUTH
    check_negative(
        "20 c0 00 18 12345678 9abcdef0 000f4240 000493e0 0000c350",
        ParseError::ZeroDetectMult,
    );
}

#[test]
fn rfc5880_6_8_6_discard_multipoint() {
    // 20 | c1: Sta 3 (Up), M1 | 03 18 | rest as NO_AUTH
    check_negative(
        "20 c1 03 18 12345678 9abcdef0 000f4240 000493e0 0000c350",
        ParseError::Multipoint,
    );
}

#[test]
fn rfc5880_6_8_6_discard_zero_my_discriminator() {
    // 20 c0 03 18 | 00000000: My Discr 0 | rest as NO_AUTH
    check_negative(
        "20 c0 03 18 00000000 9abcdef0 000f4240 000493e0 0000c350",
        ParseError::ZeroMyDiscriminator,
    );
}

#[test]
fn rfc5880_6_8_6_discard_zero_your_discriminator_in_up() {
    // 20 | c0: Sta 3 (Up) | 03 18 12345678 | 00000000: Your Discr 0 | intervals
    check_negative(
        "20 c0 03 18 12345678 00000000 000f4240 000493e0 0000c350",
        ParseError::ZeroYourDiscriminator(State::Up),
    );
}

#[test]
fn rfc5880_6_8_6_discard_zero_your_discriminator_in_init() {
    // 20 | 80: Sta 2 (Init) | 03 18 12345678 | 00000000: Your Discr 0 | intervals
    check_negative(
        "20 80 03 18 12345678 00000000 000f4240 000493e0 0000c350",
        ParseError::ZeroYourDiscriminator(State::Init),
    );
}

#[test]
fn rfc5880_6_5_discard_poll_and_final() {
    // 20 | f0: Sta 3 (Up), P1 F1 | 03 18 | rest as NO_AUTH
    check_negative(
        "20 f0 03 18 12345678 9abcdef0 000f4240 000493e0 0000c350",
        ParseError::PollAndFinal,
    );
}

#[test]
fn rfc5880_4_1_discard_reserved_auth_type_0() {
    // SIMPLE_PASSWORD with 00: Auth Type 0 (reserved)
    check_negative(
        "20 c4 03 21 12345678 9abcdef0 000f4240 000493e0 0000c350 00 09 01 736563726574",
        ParseError::UnknownAuthType(0),
    );
}

#[test]
fn rfc5880_4_1_discard_reserved_auth_type_6() {
    // SIMPLE_PASSWORD with 06: Auth Type 6 (reserved)
    check_negative(
        "20 c4 03 21 12345678 9abcdef0 000f4240 000493e0 0000c350 06 09 01 736563726574",
        ParseError::UnknownAuthType(6),
    );
}

#[test]
fn rfc5880_4_2_discard_simple_password_empty() {
    // 20 c4 03 | 1b: Length 27 | header | 01: Simple Password | 03: Auth Len 3 | 01: Key ID,
    // no password
    check_negative(
        "20 c4 03 1b 12345678 9abcdef0 000f4240 000493e0 0000c350 01 03 01",
        ParseError::BadAuthLen {
            auth_type: AuthType::SimplePassword,
            auth_len: 3,
        },
    );
}

#[test]
fn rfc5880_4_2_discard_simple_password_too_long() {
    // 20 c4 03 | 2c: Length 44 | header | 01: Simple Password | 14: Auth Len 20 | 01: Key ID
    // 17-byte password "0123456789abcdefg"
    check_negative(
        "20 c4 03 2c 12345678 9abcdef0 000f4240 000493e0 0000c350 01 14 01 \
         3031323334353637383961626364656667",
        ParseError::BadAuthLen {
            auth_type: AuthType::SimplePassword,
            auth_len: 20,
        },
    );
}

#[test]
fn rfc5880_4_3_discard_keyed_md5_bad_auth_len() {
    // 20 c4 03 | 34: Length 52 | header | 02: Keyed MD5 | 1c: Auth Len 28 (SHA1's) | 01: Key ID
    // 00: Reserved | 0000002a: Sequence | 20 zero bytes
    check_negative(
        "20 c4 03 34 12345678 9abcdef0 000f4240 000493e0 0000c350 02 1c 01 00 0000002a \
         0000000000000000000000000000000000000000",
        ParseError::BadAuthLen {
            auth_type: AuthType::KeyedMd5,
            auth_len: 28,
        },
    );
}

#[test]
fn rfc5880_4_3_discard_meticulous_keyed_md5_bad_auth_len() {
    // 20 c4 03 | 2f: Length 47 | header | 03: Meticulous Keyed MD5 | 17: Auth Len 23 | 01: Key ID
    // 00: Reserved | 0000002a: Sequence | 15 zero bytes
    check_negative(
        "20 c4 03 2f 12345678 9abcdef0 000f4240 000493e0 0000c350 03 17 01 00 0000002a \
         000000000000000000000000000000",
        ParseError::BadAuthLen {
            auth_type: AuthType::MeticulousKeyedMd5,
            auth_len: 23,
        },
    );
}

#[test]
fn rfc5880_4_4_discard_keyed_sha1_bad_auth_len() {
    // 20 c4 03 | 30: Length 48 | header | 04: Keyed SHA1 | 18: Auth Len 24 (MD5's) | 01: Key ID
    // 00: Reserved | 0000002a: Sequence | 16 zero bytes
    check_negative(
        "20 c4 03 30 12345678 9abcdef0 000f4240 000493e0 0000c350 04 18 01 00 0000002a \
         00000000000000000000000000000000",
        ParseError::BadAuthLen {
            auth_type: AuthType::KeyedSha1,
            auth_len: 24,
        },
    );
}

#[test]
fn rfc5880_4_4_discard_meticulous_keyed_sha1_bad_auth_len() {
    // 20 c4 03 | 35: Length 53 | header | 05: Meticulous Keyed SHA1 | 1d: Auth Len 29
    // 01: Key ID | 00: Reserved | 0000002a: Sequence | 21 zero bytes
    check_negative(
        "20 c4 03 35 12345678 9abcdef0 000f4240 000493e0 0000c350 05 1d 01 00 0000002a \
         000000000000000000000000000000000000000000",
        ParseError::BadAuthLen {
            auth_type: AuthType::MeticulousKeyedSha1,
            auth_len: 29,
        },
    );
}

#[test]
fn rfc5880_4_1_discard_auth_len_mismatch() {
    // SIMPLE_PASSWORD with 22: Length 34 and one extra 00 byte: Auth Len 9 ends at byte 33.
    check_negative(
        "20 c4 03 22 12345678 9abcdef0 000f4240 000493e0 0000c350 01 09 01 736563726574 00",
        ParseError::AuthLenMismatch {
            auth_len: 9,
            length: 34,
        },
    );
}

#[test]
fn rfc5880_4_1_discard_keyed_md5_auth_len_mismatch() {
    // 20 c4 03 | 34: Length 52 | header | 02: Keyed MD5 | 18: Auth Len 24 | 01 00 0000002a
    // 20 zero bytes: the section runs 4 bytes past its Auth Len.
    check_negative(
        "20 c4 03 34 12345678 9abcdef0 000f4240 000493e0 0000c350 02 18 01 00 0000002a \
         0000000000000000000000000000000000000000",
        ParseError::AuthLenMismatch {
            auth_len: 24,
            length: 52,
        },
    );
}
