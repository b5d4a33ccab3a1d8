//! RFC 5880 codec rules not already covered by `vectors.rs`: the order of the §6.8.6 checks, the
//! fixed fields every emitted packet carries (§6.8.7) and the authentication section lengths
//! and digests on transmission (§6.7). `docs/conformance.md` maps every rule to its test.

use bfd_wire::auth::{self, MAX_PASSWORD_LEN};
use bfd_wire::{parse, Auth, AuthType, ControlPacket, Diagnostic, ParseError, Password, State};

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
        required_min_echo_rx: 0,
        auth: None,
    }
}

fn emit(p: &ControlPacket) -> Vec<u8> {
    let mut b = Vec::new();
    p.emit(&mut b);
    b
}

const KEYED: [AuthType; 4] = [
    AuthType::KeyedMd5,
    AuthType::MeticulousKeyedMd5,
    AuthType::KeyedSha1,
    AuthType::MeticulousKeyedSha1,
];

/// §6.8.6: "the following procedure MUST be followed, in the order specified". A packet that
/// breaks every stateless rule is reported for the first one; repairing that one reveals the
/// next, in the RFC's order.
#[test]
fn rfc5880_6_8_6_stateless_checks_in_rfc_order() {
    // Vers 2 | Sta Init, M1 | Detect Mult 0 | Length 23 | My Discr 0 | Your Discr 0
    let mut b = emit(&base());
    b[0] = 2 << 5;
    b[1] = (State::Init.bits() << 6) | 0x01;
    b[2] = 0;
    b[3] = 23;
    b[4..12].fill(0);
    let expected = [
        ParseError::BadVersion(2),
        ParseError::LengthTooShort {
            length: 23,
            min: 24,
        },
        ParseError::LengthExceedsPayload {
            length: 25,
            payload: 24,
        },
        ParseError::ZeroDetectMult,
        ParseError::Multipoint,
        ParseError::ZeroMyDiscriminator,
        ParseError::ZeroYourDiscriminator(State::Init),
    ];
    let repairs: [fn(&mut Vec<u8>); 7] = [
        |b| b[0] = 1 << 5,
        |b| b[3] = 25,
        |b| b[3] = 24,
        |b| b[2] = 3,
        |b| b[1] &= !0x01,
        |b| b[4..8].copy_from_slice(&1u32.to_be_bytes()),
        |b| b[8..12].copy_from_slice(&2u32.to_be_bytes()),
    ];
    for (want, repair) in expected.into_iter().zip(repairs) {
        assert_eq!(parse(&b), Err(want));
        repair(&mut b);
    }
    assert!(parse(&b).is_ok(), "all rules repaired");
}

/// §6.8.7: Version 1, Multipoint 0, A bit exactly when authenticated, Length = 24 + section,
/// whatever the rest of the packet holds.
#[test]
fn rfc5880_6_8_7_emit_version_multipoint_a_bit_and_length() {
    let sections = [
        None,
        Some(Auth::SimplePassword {
            key_id: 1,
            password: Password::new(b"p").expect("password"),
        }),
        Auth::unsigned(AuthType::KeyedMd5, 1, 5, b""),
        Auth::unsigned(AuthType::MeticulousKeyedSha1, 1, 5, b""),
    ];
    for auth in sections {
        for state in [State::AdminDown, State::Down, State::Init, State::Up] {
            for (poll, final_) in [(false, false), (true, false), (false, true)] {
                for flags in 0..4u8 {
                    let p = ControlPacket {
                        state,
                        poll,
                        final_,
                        control_plane_independent: flags & 1 != 0,
                        demand: flags & 2 != 0,
                        diag: Diagnostic::from_bits(flags * 7),
                        auth,
                        ..base()
                    };
                    let b = emit(&p);
                    assert_eq!(b[0] >> 5, 1, "Version");
                    assert_eq!(b[1] & 0x01, 0, "Multipoint");
                    assert_eq!(b[1] & 0x04 != 0, auth.is_some(), "A bit");
                    assert_eq!(b[1] >> 6, state.bits(), "Sta");
                    let len = 24 + auth.map_or(0, |a| a.len());
                    assert_eq!((usize::from(b[3]), b.len()), (len, len), "Length");
                    assert_eq!(parse(&b), Ok(p));
                }
            }
        }
    }
}

/// §6.7.2: Auth Type 1, Auth Len 4 to 19 = password length + 3, password 1 to 16 bytes.
#[test]
fn rfc5880_6_7_2_simple_password_lengths() {
    assert!(Password::new(b"").is_none());
    assert!(Password::new(&[b'x'; MAX_PASSWORD_LEN + 1]).is_none());
    for n in 1..=MAX_PASSWORD_LEN {
        let password = vec![b'a' + n as u8; n];
        let auth = Auth::unsigned(AuthType::SimplePassword, 9, 0, &password).expect("1-16 bytes");
        let b = emit(&ControlPacket {
            auth: Some(auth),
            ..base()
        });
        assert_eq!(b[24], 1, "Auth Type");
        assert_eq!(usize::from(b[25]), n + 3, "Auth Len");
        assert_eq!(b[26], 9, "Key ID");
        assert_eq!(&b[27..], &password[..]);
        assert!(auth::verify(&b, &auth, &password));
        // A password one byte shorter or longer than the one carried does not match.
        assert!(!auth::verify(&b, &auth, &password[1..]));
        let mut longer = password.clone();
        longer.push(b'a');
        assert!(!auth::verify(&b, &auth, &longer));
    }
}

/// §6.7.3 / §6.7.4 transmission: Auth Type, Auth Len 24 / 28, Key ID, Sequence Number as given,
/// and a digest over the whole packet in place of the key, which is not carried.
#[test]
fn rfc5880_6_7_3_6_7_4_keyed_section_on_transmission() {
    let key = b"K3y!";
    for t in KEYED {
        let section = Auth::unsigned(t, 42, 0xfeed_0001, key).expect("keyed");
        let mut b = emit(&ControlPacket {
            auth: Some(section),
            ..base()
        });
        auth::sign(&mut b, key).expect("sign");
        let (auth_len, digest_len) = match t {
            AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => (24, 16),
            _ => (28, 20),
        };
        assert_eq!(b[24], t.as_u8(), "{t}: Auth Type");
        assert_eq!(usize::from(b[25]), auth_len, "{t}: Auth Len");
        assert_eq!(b[26], 42, "{t}: Key ID");
        assert_eq!(b[27], 0, "{t}: Reserved");
        assert_eq!(&b[28..32], &0xfeed_0001u32.to_be_bytes(), "{t}: Sequence");
        assert_eq!(b.len(), 24 + auth_len);
        // The digest field holds a digest, not the zero-padded key.
        let mut padded = vec![0u8; digest_len];
        padded[..key.len()].copy_from_slice(key);
        assert_ne!(&b[32..], &padded[..], "{t}");
        assert!(!b.windows(key.len()).any(|w| w == key), "{t}: key carried");
        let parsed = parse(&b).expect("valid").auth.expect("auth");
        assert!(auth::verify(&b, &parsed, key), "{t}");
        // Over the entire packet: a change in the header breaks it.
        let mut changed = b.clone();
        changed[2] = 4;
        assert!(
            !auth::verify(&changed, &parsed, key),
            "{t}: header not covered"
        );
    }
}

/// §6.7.3 / §6.7.4 reception: Auth Len other than 24 / 28 is discarded for every keyed type, and
/// an Auth Type outside 1-5 never reaches authentication.
#[test]
fn rfc5880_6_7_3_6_7_4_wrong_auth_len_discarded() {
    for t in KEYED {
        let good = emit(&ControlPacket {
            auth: Auth::unsigned(t, 1, 1, b""),
            ..base()
        });
        assert!(parse(&good).is_ok());
        for delta in [-1i8, 1, 4, -4] {
            let mut b = good.clone();
            let auth_len = (b[25] as i8 + delta) as u8;
            b[25] = auth_len;
            b.resize(24 + usize::from(auth_len), 0);
            b[3] = b.len() as u8;
            assert_eq!(
                parse(&b),
                Err(ParseError::BadAuthLen {
                    auth_type: t,
                    auth_len
                }),
                "{t} Auth Len {auth_len}"
            );
        }
    }
}
