//! RFC 5880 §6 / RFC 5881 §5 conformance: one test per normative sentence that the other test
//! files did not already prove. `docs/conformance.md` maps every MUST / SHOULD to its test.
//!
//! Tests marked `#[ignore = "..."]` show a requirement bfd-core does not meet yet; they fail when
//! run with `--ignored`, and the doc row says "not yet".

mod harness;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bfd_core::{
    AuthKey, Event, InsertError, PeerKey, RxError, RxMeta, Session, SessionConfig, Sessions, State,
};
use bfd_wire::{auth, Auth, AuthType, ControlPacket, Diagnostic};
use harness::*;

/// My Discriminator of the packets a test writes on B's behalf.
const PEER_DISCR: u32 = 0x0b0b_0001;

const KEYED: [AuthType; 4] = [
    AuthType::KeyedMd5,
    AuthType::MeticulousKeyedMd5,
    AuthType::KeyedSha1,
    AuthType::MeticulousKeyedSha1,
];

const ALL_AUTH: [AuthType; 5] = [
    AuthType::SimplePassword,
    AuthType::KeyedMd5,
    AuthType::MeticulousKeyedMd5,
    AuthType::KeyedSha1,
    AuthType::MeticulousKeyedSha1,
];

/// A packet as B would send it: Detect Mult 3, 1 s / 300 ms, no auth.
fn from_b(state: State, your: u32) -> ControlPacket {
    ControlPacket {
        diag: Diagnostic::NoDiagnostic,
        state,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: PEER_DISCR,
        your_discriminator: your,
        desired_min_tx: 1_000_000,
        required_min_rx: 300_000,
        required_min_echo_rx: 0,
        auth: None,
    }
}

fn bytes(p: &ControlPacket) -> Vec<u8> {
    let mut b = Vec::new();
    p.emit(&mut b);
    b
}

/// `p` with an authentication section for `key` and `seq`, signed.
fn signed(mut p: ControlPacket, key: &AuthKey, seq: u32) -> Vec<u8> {
    p.auth = Auth::unsigned(key.auth_type, key.key_id, seq, &key.secret);
    let mut b = bytes(&p);
    if key.auth_type != AuthType::SimplePassword {
        auth::sign(&mut b, &key.secret).expect("keyed packet");
    }
    b
}

fn auth_key(auth_type: AuthType, secret: &[u8]) -> AuthKey {
    AuthKey {
        auth_type,
        key_id: 7,
        secret: secret.to_vec(),
    }
}

fn auth_config(auth_type: AuthType, secret: &[u8]) -> SessionConfig {
    SessionConfig {
        auth: Some(auth_key(auth_type, secret)),
        ..config(300, 300, 3)
    }
}

/// A on its own: B is switched off and the test writes B's packets itself.
fn lone(seed: u64, config_a: SessionConfig) -> Pair {
    let mut pair = Pair::new(seed, config_a, config(300, 300, 3));
    pair.b.silent = true;
    pair
}

/// Both Up at 300 ms / 300 ms / 3, the slow-start Poll finished.
fn up_pair(seed: u64) -> Pair {
    let mut pair = Pair::new(seed, config(300, 300, 3), config(300, 300, 3));
    pair.run_until_cond(ms(5000), |p| p.both_up());
    pair.run_for(ms(2000));
    assert!(!pair.a.session().poll_active());
    pair
}

fn sent_after(node: &Node, t: Instant) -> Vec<(Instant, ControlPacket)> {
    node.sent
        .iter()
        .filter(|(at, _)| *at > t)
        .cloned()
        .collect()
}

fn last_heard_from(pair: &Pair, side: Side) -> Flight {
    pair.delivered
        .iter()
        .rev()
        .find(|f| f.from == side)
        .expect("heard the peer")
        .clone()
}

/// Runs until A has just sent a packet, then a further `after`.
fn just_after_a_sends(pair: &mut Pair, after: Duration) -> Instant {
    let n = pair.a.sent.len();
    pair.run_until_cond(ms(2000), |p| p.a.sent.len() > n);
    pair.run_for(after);
    pair.now
}

// ---- §6.1 ----------------------------------------------------------------------------------

#[test]
fn rfc5880_6_1_active_role_sends_before_hearing_the_peer() {
    let mut pair = lone(101, config(300, 300, 3));
    pair.run_for(ms(3500));
    let sent = &pair.a.sent;
    assert_eq!(sent[0].0, pair.start, "the first packet goes out at once");
    assert!(sent.len() >= 4, "{} packets in 3.5 s", sent.len());
    assert!(sent
        .iter()
        .all(|(_, p)| p.state == State::Down && p.your_discriminator == 0));
}

// ---- §6.5 ----------------------------------------------------------------------------------

/// A peer that went silent cannot answer a Poll: going Down on a detection timeout slows
/// the session to 1 s without one (§6.8.1 forgets the peer first). Polls sent into the
/// silence would each count as a Final still in flight, and when the peer came back its
/// genuine Finals for the sequence of coming Up were thrown away for a detection time.
#[test]
fn rfc5880_6_5_no_poll_to_a_peer_that_timed_out() {
    let mut pair = Pair::new(171, config(300, 300, 3), config(300, 300, 3));
    pair.run_until_cond(ms(5000), |p| p.both_up());
    pair.run_for(ms(1000));
    pair.loss = Box::new(|f| f.from == Side::B);
    pair.run_until_cond(ms(2000), |p| p.a.state() == State::Down);
    let down = pair.now;
    pair.run_for(ms(10_000));
    let silent = sent_after(&pair.a, down);
    assert!(silent.len() >= 9, "{} packets in 10 s", silent.len());
    assert!(
        silent.iter().all(|(_, p)| !p.poll),
        "Polls to a peer that timed out: {silent:?}"
    );
    pair.loss = Box::new(|_| false);
    pair.run_until_cond(ms(5000), |p| p.both_up());
    let up = pair.now;
    // The sequence of coming Up (1 s -> 300 ms) ends with the first Final.
    pair.run_until_cond(ms(1500), |p| !p.a.session().poll_active());
    assert!(
        !pair.a.session().poll_active(),
        "Poll still running {:?} after coming Up",
        pair.now - up
    );
}

/// Nor does a sequence the operator started while the peer was already silent outlive the
/// timeout (at 1 s, going Down changes no interval, so nothing else would end it).
#[test]
fn rfc5880_6_5_a_poll_running_at_the_timeout_ends_with_it() {
    let mut pair = Pair::new(172, config(1000, 1000, 3), config(1000, 1000, 3));
    pair.run_until_cond(ms(10_000), |p| p.both_up());
    pair.run_for(ms(2000));
    pair.loss = Box::new(|f| f.from == Side::B);
    let change = pair.now;
    pair.a
        .sessions
        .set_config(change, pair.a.id, config(1000, 2000, 3))
        .expect("config");
    // A longer detection time takes effect at once (6 s).
    pair.run_until_cond(ms(10_000), |p| p.a.state() == State::Down);
    assert!(
        sent_after(&pair.a, change).iter().any(|(_, p)| p.poll),
        "the change was announced while Up"
    );
    let down = pair.now;
    pair.run_for(ms(5000));
    let silent = sent_after(&pair.a, down);
    assert!(silent.len() >= 4, "{} packets in 5 s", silent.len());
    assert!(
        silent
            .iter()
            .all(|(_, p)| !p.poll && p.required_min_rx == 2_000_000),
        "{silent:?}"
    );
}

#[test]
fn rfc5880_6_5_poll_rides_on_periodic_packets_no_extra_packets() {
    let mut pair = up_pair(102);
    let change = just_after_a_sends(&mut pair, ms(10));
    let before = pair.a.sent.last().expect("sent").0;
    // Only Required Min RX grows: the transmit schedule is not affected.
    pair.a
        .sessions
        .set_config(change, pair.a.id, config(300, 500, 3))
        .expect("config");
    pair.run_for(ms(3000));
    let after = sent_after(&pair.a, change);
    assert_eq!(
        after.first().map(|(t, p)| (p.poll, *t - before >= ms(225))),
        Some((true, true)),
        "the Poll is the next periodic packet, not an extra one"
    );
    // Every packet until the Final arrives carries P, and they stay on the periodic schedule.
    let final_at = pair
        .delivered
        .iter()
        .find(|f| f.from == Side::B && f.packet.final_ && f.sent_at > change)
        .expect("B answered")
        .deliver_at;
    let polling: Vec<_> = after.iter().filter(|(t, _)| *t < final_at).collect();
    assert!(!polling.is_empty());
    assert!(polling.iter().all(|(_, p)| p.poll));
    let mut prev = before;
    for (t, p) in &after {
        assert!(*t - prev >= ms(225), "extra packet {p:?} {:?}", *t - prev);
        prev = *t;
    }
    assert!(after
        .iter()
        .filter(|(t, _)| *t > final_at)
        .all(|(_, p)| !p.poll));
}

// ---- §6.8.1 --------------------------------------------------------------------------------

#[test]
fn rfc5880_6_8_1_state_variables_initial_values() {
    let now = origin();
    let s = Session::new(now, 77, config(50, 300, 3), 1).expect("session");
    assert_eq!(s.state(), State::Down, "bfd.SessionState");
    assert_eq!(s.remote().state, State::Down, "bfd.RemoteSessionState");
    assert_eq!(s.remote().discriminator, 0, "bfd.RemoteDiscr");
    assert_eq!(s.local_diag(), Diagnostic::NoDiagnostic, "bfd.LocalDiag");
    assert_eq!(
        s.remote().min_rx,
        Duration::from_micros(1),
        "bfd.RemoteMinRxInterval"
    );
    assert!(!s.remote().demand, "bfd.RemoteDemandMode");
    assert_eq!(
        s.advertised_desired_min_tx(),
        Duration::from_secs(1),
        "bfd.DesiredMinTxInterval starts at 1 s even when 50 ms is configured"
    );
    assert_eq!(s.local_discriminator(), 77);
}

#[test]
fn rfc5880_6_8_1_detect_mult_must_be_nonzero() {
    let now = origin();
    assert!(matches!(
        Session::new(now, 1, config(300, 300, 0), 1),
        Err(InsertError::ZeroDetectMult)
    ));
    let mut sessions = Sessions::new(1);
    let key = PeerKey {
        peer: ADDR_B,
        local: None,
        ifindex: None,
        multihop: false,
    };
    assert_eq!(
        sessions.insert(now, key.clone(), config(300, 300, 0), None),
        Err(InsertError::ZeroDetectMult)
    );
    let id = sessions
        .insert(now, key, config(300, 300, 3), None)
        .expect("insert");
    assert_eq!(
        sessions.set_config(now, id, config(300, 300, 0)),
        Err(InsertError::ZeroDetectMult)
    );
    assert_eq!(sessions.get(id).expect("session").config().detect_mult, 3);
}

#[test]
fn rfc5880_6_8_1_local_discriminator_nonzero_and_random() {
    let now = origin();
    let discrs: HashSet<u32> = (0..64u64)
        .map(|seed| {
            let mut s = Sessions::new(seed);
            let key = PeerKey {
                peer: ADDR_B,
                local: None,
                ifindex: None,
                multihop: false,
            };
            let id = s
                .insert(now, key, config(300, 300, 3), None)
                .expect("insert");
            s.get(id).expect("session").local_discriminator()
        })
        .collect();
    // The same first session in 64 daemons: 64 different values, spread over 32 bits, not a
    // counter starting at 1.
    assert_eq!(discrs.len(), 64);
    assert!(!discrs.contains(&0));
    assert!(discrs.iter().filter(|&&d| d > 1 << 24).count() >= 60);
}

#[test]
fn rfc5880_6_8_1_xmit_auth_seq_initialised_randomly() {
    let now = origin();
    let mut buf = Vec::new();
    let seqs: HashSet<u32> = (0..64u64)
        .map(|seed| {
            let mut s = Session::new(
                now,
                1,
                auth_config(AuthType::MeticulousKeyedSha1, b"k"),
                seed,
            )
            .expect("session");
            let p = s.poll_transmit(now, &mut buf).expect("first packet");
            p.auth.and_then(|a| a.sequence()).expect("keyed")
        })
        .collect();
    assert_eq!(seqs.len(), 64);
    assert!(seqs.iter().filter(|&&s| s > 1 << 24).count() >= 60);
}

#[test]
fn rfc5880_6_8_1_auth_seq_unknown_at_start_any_sequence_accepted() {
    for (i, t) in KEYED.into_iter().enumerate() {
        for seq in [0, 1, 0x7fff_ffff, 0xffff_ffff] {
            let key = auth_key(t, b"k");
            let mut pair = lone(110 + i as u64, auth_config(t, b"k"));
            let p = signed(from_b(State::Down, 0), &key, seq);
            assert!(pair.inject(Side::A, &p).is_ok(), "{t} seq {seq}");
            if t.is_meticulous() {
                // Now known: the same number again is a replay.
                assert!(
                    matches!(pair.inject(Side::A, &p), Err(RxError::AuthSequence { .. })),
                    "{t} seq {seq}"
                );
            }
        }
    }
}

#[test]
fn rfc5880_6_8_1_remote_discr_zeroed_after_a_detection_time_in_init_and_down() {
    // Init: heard B's Down once, then nothing.
    let mut pair = lone(120, config(300, 300, 3));
    pair.run_for(ms(10));
    let t0 = pair.now;
    pair.inject(Side::A, &bytes(&from_b(State::Down, 0)))
        .expect("accepted");
    assert_eq!(pair.a.state(), State::Init);
    // B's Detect Mult 3 x max(our Required Min RX 300 ms, B's Desired Min TX 1 s).
    assert_eq!(pair.a.session().detection_time(), Some(ms(3000)));
    pair.run_until(t0 + ms(2999));
    assert_eq!(pair.a.state(), State::Init);
    assert_eq!(pair.a.session().remote().discriminator, PEER_DISCR);
    pair.run_until(t0 + ms(3000));
    // §6.8.4 from Init too: Down with diag 1.
    assert_eq!(pair.a.state(), State::Down);
    assert_eq!(
        pair.a.session().local_diag(),
        Diagnostic::ControlDetectionTimeExpired
    );
    assert_eq!(pair.a.session().remote().discriminator, 0);
    assert_eq!(pair.a.entered(State::Down), vec![t0 + ms(3000)]);

    // Down: B's AdminDown keeps us Down; its discriminator is forgotten all the same.
    let mut pair = lone(121, config(300, 300, 3));
    pair.run_for(ms(10));
    let t0 = pair.now;
    pair.inject(Side::A, &bytes(&from_b(State::AdminDown, 0)))
        .expect("accepted");
    assert_eq!(pair.a.state(), State::Down);
    assert_eq!(pair.a.session().remote().discriminator, PEER_DISCR);
    pair.run_until(t0 + ms(2999));
    assert_eq!(pair.a.session().remote().discriminator, PEER_DISCR);
    pair.run_until(t0 + ms(3000));
    assert_eq!(pair.a.session().remote().discriminator, 0);
    let last = pair.a.sent.last().expect("A keeps sending").1;
    assert_eq!(last.your_discriminator, 0);
}

#[test]
fn rfc5880_6_8_1_session_state_preserved_for_a_detection_time() {
    let mut pair = up_pair(122);
    let b_discr = pair.b.session().local_discriminator();
    pair.b.silent = true;
    let last = last_heard_from(&pair, Side::B).deliver_at;
    let detect = pair.a.session().detection_time().expect("heard B");
    assert_eq!(detect, ms(900));
    pair.run_until(last + detect - ms(1));
    let remote = *pair.a.session().remote();
    assert_eq!(remote.discriminator, b_discr);
    assert_eq!(remote.min_rx, ms(300));
    assert_eq!(remote.desired_min_tx, ms(300));
    assert_eq!(remote.detect_mult, 3);
    pair.run_until(last + detect + ms(10));
    assert_eq!(pair.a.state(), State::Down);
    // The session survives the failure; once the Detection Time has passed the peer's Required
    // Min RX goes back to its initial 1 us (§6.8.18 SHOULD), the rest of its timing is kept.
    let s = pair.a.sessions.get(pair.a.id).expect("session kept");
    assert_eq!(s.remote().min_rx, Duration::from_micros(1));
    assert_eq!(s.detection_time(), Some(ms(900)));
}

#[test]
fn rfc5880_6_8_18_remote_min_rx_reset_after_a_detection_time() {
    let mut pair = up_pair(123);
    // B asks for no packets at all, then disappears.
    pair.b
        .sessions
        .set_config(pair.now, pair.b.id, config(300, 0, 3))
        .expect("config");
    pair.run_for(ms(1000));
    assert_eq!(pair.a.session().remote().min_rx, Duration::ZERO);
    pair.b.silent = true;
    pair.run_for(ms(3000));
    assert_eq!(pair.a.state(), State::Down);
    let quiet = pair.now;
    pair.run_for(ms(3000));
    assert_eq!(
        pair.a.session().remote().min_rx,
        Duration::from_micros(1),
        "back to the initial value"
    );
    assert!(
        sent_after(&pair.a, quiet).len() >= 2,
        "A transmits at its own rate again"
    );
}

// ---- §6.8.3 --------------------------------------------------------------------------------

#[test]
fn rfc5880_6_8_3_poll_when_intervals_change_while_not_up() {
    let mut pair = lone(130, config(300, 300, 3));
    pair.run_for(ms(10));
    pair.inject(Side::A, &bytes(&from_b(State::Down, 0)))
        .expect("accepted");
    assert_eq!(pair.a.state(), State::Init);
    let change = pair.now;
    pair.a
        .sessions
        .set_config(change, pair.a.id, config(300, 500, 3))
        .expect("config");
    pair.run_for(ms(1100));
    let after = sent_after(&pair.a, change);
    assert!(after.iter().all(|(_, p)| p.required_min_rx == 500_000));
    assert!(after.iter().any(|(_, p)| p.poll), "{after:?}");
}

#[test]
fn rfc5880_6_8_3_other_changes_take_effect_immediately() {
    // B wants packets every 100 ms; A sends at 300 ms until it lowers its Desired Min TX.
    let mut pair = Pair::new(131, config(300, 300, 3), config(300, 100, 3));
    pair.run_until_cond(ms(5000), |p| p.both_up());
    pair.run_for(ms(2000));
    // Every Final from B is lost from now on: A's Poll never terminates.
    pair.loss = Box::new(|f| f.from == Side::B && f.packet.final_);
    let change = just_after_a_sends(&mut pair, ms(1));
    // Faster transmission and a longer Detection Time need no Poll to take effect.
    pair.a
        .sessions
        .set_config(change, pair.a.id, config(100, 600, 3))
        .expect("config");
    assert_eq!(pair.a.session().detection_time(), Some(ms(1800)));
    pair.run_for(ms(1500));
    assert!(pair.a.session().poll_active());
    let after = sent_after(&pair.a, change);
    assert!(after.len() >= 14, "{} packets in 1.5 s", after.len());
    let times: Vec<_> = after.iter().map(|(t, _)| *t).collect();
    for w in times.windows(2) {
        let gap = w[1] - w[0];
        assert!(gap >= ms(75) && gap <= ms(100), "gap {gap:?}");
    }
    assert!(pair.both_up());
}

#[test]
fn rfc5880_6_8_3_reduced_remote_min_rx_honoured_immediately() {
    // A could send every 100 ms but B only wants one packet a second.
    let mut pair = Pair::new(132, config(100, 300, 3), config(300, 1000, 3));
    pair.run_until_cond(ms(5000), |p| p.both_up());
    pair.run_for(ms(3000));
    assert_eq!(pair.a.session().transmit_interval(), ms(1000));
    let change = just_after_a_sends(&mut pair, ms(1));
    pair.b
        .sessions
        .set_config(change, pair.b.id, config(300, 100, 3))
        .expect("config");
    pair.run_for(ms(2000));
    let heard = pair
        .delivered
        .iter()
        .find(|f| f.from == Side::B && f.packet.required_min_rx == 100_000)
        .expect("B advertised 100 ms")
        .deliver_at;
    // The next periodic packet may not wait longer than the new 100 ms (the Final does not
    // count: it is outside the schedule).
    let next_periodic = sent_after(&pair.a, heard)
        .into_iter()
        .find(|(_, p)| !p.final_)
        .expect("A sent")
        .0;
    assert!(
        next_periodic - heard <= ms(100),
        "next periodic packet {:?} after the peer lowered its Required Min RX",
        next_periodic - heard
    );
}

#[test]
fn rfc5880_6_8_7_raised_remote_min_rx_respected_by_the_next_packet() {
    let mut pair = Pair::new(133, config(100, 300, 3), config(300, 100, 3));
    pair.run_until_cond(ms(5000), |p| p.both_up());
    pair.run_for(ms(3000));
    assert_eq!(pair.a.session().transmit_interval(), ms(100));
    let change = pair.now;
    pair.b
        .sessions
        .set_config(change, pair.b.id, config(300, 1000, 3))
        .expect("config");
    pair.run_for(ms(3000));
    let heard = pair
        .delivered
        .iter()
        .find(|f| f.from == Side::B && f.packet.required_min_rx == 1_000_000)
        .expect("B advertised 1 s")
        .deliver_at;
    let periodic: Vec<Instant> = pair
        .a
        .sent
        .iter()
        .filter(|(_, p)| !p.final_)
        .map(|(t, _)| *t)
        .collect();
    for w in periodic.windows(2).filter(|w| w[1] > heard) {
        assert!(
            w[1] - w[0] >= ms(750),
            "periodic packet {:?} after the previous one, peer wants 1 s",
            w[1] - w[0]
        );
    }
}

#[test]
fn rfc5880_6_8_3_second_change_not_confirmed_by_a_final_for_older_values() {
    // Round trip (300 ms) longer than the transmit interval (250 ms): the Final for a Poll
    // with the old values arrives after the first Poll with the new ones has gone out. With two
    // packets lost, completing on that Final slows A to 1 s before B knows, and B times out.
    let mut pair = Pair::new(134, config(300, 300, 3), config(300, 300, 3));
    pair.latency = ms(150);
    pair.run_until_cond(ms(10_000), |p| p.both_up());
    pair.run_for(ms(5000));
    assert!(!pair.a.session().poll_active());
    // Change 1: faster, 250 ms.
    pair.a
        .sessions
        .set_config(pair.now, pair.a.id, config(250, 300, 3))
        .expect("config");
    let c1 = pair.now;
    pair.run_until_cond(ms(1000), |p| {
        p.a.sent.iter().any(|(t, pk)| *t >= c1 && pk.poll)
    });
    pair.run_for(ms(10));
    // Change 2: slower, 1 s. Its first two packets are lost.
    let mut dropped = 0;
    pair.loss = Box::new(move |f| {
        if f.from == Side::A && f.packet.desired_min_tx == 1_000_000 && dropped < 2 {
            dropped += 1;
            return true;
        }
        false
    });
    let c2 = pair.now;
    pair.a
        .sessions
        .set_config(c2, pair.a.id, config(1000, 300, 3))
        .expect("config");
    pair.run_for(ms(6000));
    let b_heard_v2 = pair
        .delivered
        .iter()
        .filter(|f| f.from == Side::A && f.sent_at >= c2 && f.packet.desired_min_tx == 1_000_000)
        .map(|f| f.deliver_at)
        .min()
        .expect("B heard the 1 s value");
    // The sequence running at change 2 completes for the 250 ms values it carried; the 1 s
    // value gets a sequence of its own, completed only by a Final to a Poll that carried it.
    let completions: Vec<_> = pair
        .a
        .events
        .iter()
        .filter(|(t, e)| *t > c2 && *e == Event::PollCompleted)
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(completions.len(), 2, "{completions:?}");
    let completed = completions[1];
    assert!(
        completed >= b_heard_v2 + pair.latency,
        "Poll completed at {:?}, before a Final for the 1 s value could exist (B heard it at {:?})",
        completed - c2,
        b_heard_v2 - c2
    );
    assert_eq!(pair.b.session().stats().down_count, 0, "B flapped");
}

// ---- §6.8.4 --------------------------------------------------------------------------------

#[test]
fn rfc5880_6_8_4_detection_time_from_received_detect_mult_and_intervals() {
    let mut pair = lone(140, config(300, 300, 3));
    let slow = ControlPacket {
        detect_mult: 5,
        desired_min_tx: 2_000_000,
        ..from_b(State::Down, 0)
    };
    pair.inject(Side::A, &bytes(&slow)).expect("accepted");
    // Received Detect Mult x max(bfd.RequiredMinRxInterval, received Desired Min TX).
    assert_eq!(pair.a.session().detection_time(), Some(ms(10_000)));
    let a_discr = pair.a.session().local_discriminator();
    let fast = ControlPacket {
        detect_mult: 5,
        desired_min_tx: 100_000,
        ..from_b(State::Down, a_discr)
    };
    pair.run_for(ms(500));
    let t = pair.now;
    pair.inject(Side::A, &bytes(&fast)).expect("accepted");
    assert_eq!(pair.a.session().detection_time(), Some(ms(1500)));
    assert_eq!(pair.a.state(), State::Init);
    pair.run_for(ms(3000));
    assert_eq!(pair.a.entered(State::Down), vec![t + ms(1500)]);
}

#[test]
fn rfc5880_6_8_4_discarded_packets_do_not_count_as_received() {
    let mut pair = up_pair(141);
    pair.b.silent = true;
    let last = last_heard_from(&pair, Side::B);
    let rx_before = pair.a.session().stats().rx_packets;
    // Copies of B's last packet, each discarded for another reason, every 100 ms.
    let mut bad_version = last.bytes.clone();
    bad_version[0] = 0x40;
    let mut unknown_discr = last.bytes.clone();
    unknown_discr[8..12].copy_from_slice(&0xdead_0001u32.to_be_bytes());
    for i in 1..=15u32 {
        pair.run_until(last.deliver_at + ms(100) * i);
        pair.ttl = 254;
        assert!(matches!(
            pair.inject(Side::A, &last.bytes),
            Err(RxError::Ttl { .. })
        ));
        pair.ttl = 255;
        assert!(matches!(
            pair.inject(Side::A, &bad_version),
            Err(RxError::Malformed(_))
        ));
        assert!(matches!(
            pair.inject(Side::A, &unknown_discr),
            Err(RxError::UnknownDiscriminator(_))
        ));
    }
    assert_eq!(pair.a.session().stats().rx_packets, rx_before);
    assert_eq!(pair.a.entered(State::Down), vec![last.deliver_at + ms(900)]);
}

// ---- §6.8.6 --------------------------------------------------------------------------------

/// A (lone) brought into `state` by packets written for B.
fn lone_in(seed: u64, state: State) -> Pair {
    let mut pair = lone(seed, config(300, 300, 3));
    pair.run_for(ms(1));
    let a_discr = pair.a.session().local_discriminator();
    match state {
        State::Down => {}
        State::Init => {
            pair.inject(Side::A, &bytes(&from_b(State::Down, 0)))
                .expect("accepted");
        }
        State::Up => {
            pair.inject(Side::A, &bytes(&from_b(State::Init, a_discr)))
                .expect("accepted");
        }
        State::AdminDown => unreachable!("configured, not reached by packets"),
    }
    assert_eq!(pair.a.state(), state);
    pair
}

#[test]
fn rfc5880_6_8_6_state_machine_transition_table() {
    use Diagnostic::{NeighborSignaledSessionDown as Neighbor, NoDiagnostic as No};
    use State::*;
    let table = [
        // (local, received, new local state, new bfd.LocalDiag)
        (Down, AdminDown, Down, No),
        (Down, Down, Init, No),
        (Down, Init, Up, No),
        (Down, Up, Down, No),
        (Init, AdminDown, Down, Neighbor),
        (Init, Down, Init, No),
        (Init, Init, Up, No),
        (Init, Up, Up, No),
        (Up, AdminDown, Down, Neighbor),
        (Up, Down, Down, Neighbor),
        (Up, Init, Up, No),
        (Up, Up, Up, No),
    ];
    for (i, (local, received, want, diag)) in table.into_iter().enumerate() {
        let mut pair = lone_in(150 + i as u64, local);
        let a_discr = pair.a.session().local_discriminator();
        pair.run_for(ms(100));
        pair.inject(Side::A, &bytes(&from_b(received, a_discr)))
            .expect("accepted");
        assert_eq!(
            (pair.a.state(), pair.a.session().local_diag()),
            (want, diag),
            "{local} + received {received}"
        );
    }
}

#[test]
fn rfc5880_6_8_6_admin_down_discards_after_updating_remote_variables() {
    let held = SessionConfig {
        admin_down: true,
        ..config(300, 300, 3)
    };
    let mut pair = lone(170, held);
    let a_discr = pair.a.session().local_discriminator();
    for (i, received) in [State::AdminDown, State::Down, State::Init, State::Up]
        .into_iter()
        .enumerate()
    {
        pair.run_for(ms(200));
        let p = ControlPacket {
            poll: true,
            required_min_rx: 100_000 * (i as u32 + 1),
            ..from_b(received, a_discr)
        };
        pair.inject(Side::A, &bytes(&p)).expect("accepted");
        assert_eq!(pair.a.state(), State::AdminDown);
        assert_eq!(pair.a.session().remote().state, received);
        assert_eq!(pair.a.session().remote().discriminator, PEER_DISCR);
        assert_eq!(pair.a.session().remote().min_rx, ms(100) * (i as u32 + 1));
    }
    pair.run_for(ms(3000));
    assert!(pair.a.state_changes().is_empty());
    assert!(pair.a.sent.len() >= 3, "AdminDown keeps transmitting");
    assert!(
        pair.a.sent.iter().all(|(_, p)| !p.final_),
        "a discarded Poll gets no Final"
    );
}

#[test]
fn rfc5880_6_8_6_remote_variables_from_every_accepted_packet() {
    let mut pair = lone(171, config(300, 300, 3));
    let first = ControlPacket {
        diag: Diagnostic::PathDown,
        detect_mult: 4,
        desired_min_tx: 456_000,
        required_min_rx: 123_000,
        required_min_echo_rx: 789,
        ..from_b(State::Down, 0)
    };
    pair.inject(Side::A, &bytes(&first)).expect("accepted");
    let r = *pair.a.session().remote();
    assert_eq!(r.discriminator, PEER_DISCR);
    assert_eq!(r.state, State::Down);
    assert_eq!(r.diag, Diagnostic::PathDown);
    assert_eq!(r.detect_mult, 4);
    assert_eq!(r.desired_min_tx, ms(456));
    assert_eq!(r.min_rx, ms(123));
    assert_eq!(r.min_echo_rx, Duration::from_micros(789));
    assert!(!r.demand);
    // Everything follows the next packet, the discriminator included (§6.3: a system may change
    // its own).
    let a_discr = pair.a.session().local_discriminator();
    let second = ControlPacket {
        my_discriminator: PEER_DISCR + 1,
        demand: true,
        detect_mult: 2,
        desired_min_tx: 50_000,
        required_min_rx: 60_000,
        ..from_b(State::Init, a_discr)
    };
    pair.run_for(ms(100));
    pair.inject(Side::A, &bytes(&second)).expect("accepted");
    let r = *pair.a.session().remote();
    assert_eq!(r.discriminator, PEER_DISCR + 1);
    assert_eq!(r.state, State::Init);
    assert!(r.demand);
    assert_eq!(r.detect_mult, 2);
    assert_eq!(r.desired_min_tx, ms(50));
    assert_eq!(r.min_rx, ms(60));
    let next = pair.a.sent.last().expect("sent").1;
    assert_eq!(next.your_discriminator, PEER_DISCR + 1);
}

#[test]
fn rfc5880_6_8_6_poll_answered_with_final_in_every_state() {
    let mut pair = lone(172, config(300, 300, 3));
    pair.run_for(ms(100));
    let a_discr = pair.a.session().local_discriminator();
    for (received, local_after) in [
        (State::Down, State::Init),
        (State::Down, State::Init),
        (State::Init, State::Up),
        (State::Up, State::Up),
    ] {
        pair.run_for(ms(100));
        let t = pair.now;
        let p = ControlPacket {
            poll: true,
            ..from_b(received, a_discr)
        };
        pair.inject(Side::A, &bytes(&p)).expect("accepted");
        assert_eq!(pair.a.state(), local_after);
        let (at, reply) = pair.a.sent.last().copied().expect("answered");
        assert_eq!(at, t, "answered at once in {local_after}");
        assert!(reply.final_ && !reply.poll);
    }
}

// ---- §6.7 ----------------------------------------------------------------------------------

#[test]
fn rfc5880_6_7_wrong_auth_type_discarded_for_every_pair() {
    for (i, configured) in ALL_AUTH.into_iter().enumerate() {
        let mut pair = lone(175 + i as u64, auth_config(configured, b"k"));
        for got in ALL_AUTH.into_iter().filter(|&t| t != configured) {
            assert_eq!(
                pair.inject(
                    Side::A,
                    &signed(from_b(State::Down, 0), &auth_key(got, b"k"), 1)
                ),
                Err(RxError::AuthTypeMismatch {
                    expected: configured,
                    got
                }),
                "{configured} session, {got} packet"
            );
        }
        assert_eq!(
            pair.inject(Side::A, &bytes(&from_b(State::Down, 0))),
            Err(RxError::AuthMissing),
            "{configured}"
        );
        assert_eq!(pair.a.session().remote().discriminator, 0);
        assert_eq!(pair.a.session().stats().rx_packets, 0);
    }
}

#[test]
fn rfc5880_6_7_auth_key_id_mismatch_discarded() {
    for (i, t) in ALL_AUTH.into_iter().enumerate() {
        let mut pair = lone(173 + i as u64, auth_config(t, b"k"));
        let wrong_id = AuthKey {
            key_id: 8,
            ..auth_key(t, b"k")
        };
        assert_eq!(
            pair.inject(Side::A, &signed(from_b(State::Down, 0), &wrong_id, 1)),
            Err(RxError::AuthKeyId {
                expected: 7,
                got: 8
            }),
            "{t}"
        );
        assert_eq!(pair.a.state(), State::Down, "{t}");
        assert_eq!(pair.a.session().remote().discriminator, 0, "{t}");
        // The right key ID with the same secret passes.
        assert!(pair
            .inject(
                Side::A,
                &signed(from_b(State::Down, 0), &auth_key(t, b"k"), 2)
            )
            .is_ok());
    }
}

#[test]
fn rfc5880_6_7_3_6_7_4_sequence_window_inclusive_and_circular() {
    for (i, t) in KEYED.into_iter().enumerate() {
        let key = auth_key(t, b"k");
        let mut pair = lone(180 + i as u64, auth_config(t, b"k"));
        let send = |pair: &mut Pair, seq: u32| {
            pair.inject(Side::A, &signed(from_b(State::Down, 0), &key, seq))
        };
        // Detect Mult 3: the window is 3 x 3 = 9 past the last accepted number.
        let start = 0xffff_fffa;
        assert!(send(&mut pair, start).is_ok(), "{t}");
        let same = send(&mut pair, start);
        if t.is_meticulous() {
            assert!(
                matches!(same, Err(RxError::AuthSequence { .. })),
                "{t}: equal"
            );
        } else {
            assert!(same.is_ok(), "{t}: equal is fine for the plain keyed types");
        }
        // +9 wraps through zero and is still inside.
        let top = start.wrapping_add(9);
        assert_eq!(top, 3);
        assert!(send(&mut pair, top).is_ok(), "{t}: +9 across the wrap");
        assert!(
            matches!(send(&mut pair, top - 1), Err(RxError::AuthSequence { .. })),
            "{t}: one behind"
        );
        assert!(
            matches!(send(&mut pair, top + 10), Err(RxError::AuthSequence { .. })),
            "{t}: +10"
        );
        assert!(send(&mut pair, top + 9).is_ok(), "{t}: +9 again");
    }
}

#[test]
fn rfc5880_6_7_3_6_7_4_failed_digest_commits_no_sequence_number() {
    for (i, t) in KEYED.into_iter().enumerate() {
        let key = auth_key(t, b"k");
        let mut pair = lone(185 + i as u64, auth_config(t, b"k"));
        assert!(pair
            .inject(Side::A, &signed(from_b(State::Down, 0), &key, 100))
            .is_ok());
        let mut forged = signed(from_b(State::Down, 0), &key, 109);
        *forged.last_mut().expect("digest") ^= 1;
        assert_eq!(pair.inject(Side::A, &forged), Err(RxError::AuthFailed));
        // 101 is still inside the window: 109 was not remembered.
        assert!(
            pair.inject(Side::A, &signed(from_b(State::Down, 0), &key, 101))
                .is_ok(),
            "{t}"
        );
    }
}

#[test]
fn rfc5880_6_7_transmitted_auth_section_every_type() {
    let secret = b"Zq7-secret-K";
    for t in ALL_AUTH {
        let mut pair = Pair::new(190, auth_config(t, secret), auth_config(t, secret));
        pair.run_until_cond(ms(5000), |p| p.both_up());
        pair.run_for(ms(3000));
        let flights: Vec<_> = pair
            .delivered
            .iter()
            .filter(|f| f.from == Side::A)
            .collect();
        assert!(flights.len() >= 10);
        let mut prev_seq: Option<u32> = None;
        for f in &flights {
            let b = &f.bytes;
            assert_eq!(b[1] & 0x04, 0x04, "{t}: A bit");
            assert_eq!(b[24], t.as_u8(), "{t}: Auth Type");
            assert_eq!(usize::from(b[3]), b.len(), "{t}: Length");
            // Parsed from the wire: the packet the engine returns predates its signature.
            let section = bfd_wire::parse(b).expect("valid").auth.expect("auth");
            assert_eq!(section.key_id(), 7);
            match section {
                Auth::SimplePassword { password, .. } => {
                    assert_eq!(password.as_bytes(), secret);
                    assert_eq!(usize::from(b[25]), 3 + secret.len(), "{t}: Auth Len");
                }
                _ => {
                    let want_len = if matches!(t, AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5)
                    {
                        24
                    } else {
                        28
                    };
                    assert_eq!(b[25], want_len, "{t}: Auth Len");
                    assert_eq!(b[27], 0, "{t}: Reserved");
                    assert!(
                        !b.windows(secret.len()).any(|w| w == secret),
                        "{t}: the key is in the packet"
                    );
                    assert!(auth::verify(b, &section, secret), "{t}: digest");
                    let seq = section.sequence().expect("keyed");
                    if let Some(prev) = prev_seq {
                        // Every packet: what the meticulous types require, allowed for the others.
                        assert_eq!(seq, prev.wrapping_add(1), "{t}");
                    }
                    prev_seq = Some(seq);
                }
            }
        }
    }
}

// ---- §6.8.7 --------------------------------------------------------------------------------

#[test]
fn rfc5880_6_8_7_packet_contents_mirror_state_variables() {
    let mut pair = up_pair(200);
    pair.run_for(ms(1000));
    let f = last_heard_from(&pair, Side::A);
    let s = pair.a.session();
    let b = &f.bytes;
    assert_eq!(b[0] >> 5, 1, "Version");
    assert_eq!(b[1] & 0x01, 0, "Multipoint");
    assert_eq!(b[1] & 0x04, 0, "A bit without authentication");
    assert_eq!(b[3], 24, "Length");
    assert_eq!(b.len(), 24);
    let p = f.packet;
    assert_eq!(p.diag, s.local_diag());
    assert_eq!(p.state, s.state());
    assert!(!p.poll && !p.final_);
    assert!(
        !p.control_plane_independent,
        "bfdd shares fate with its host"
    );
    assert!(!p.demand);
    assert_eq!(p.detect_mult, s.config().detect_mult);
    assert_eq!(p.my_discriminator, s.local_discriminator());
    assert_eq!(p.your_discriminator, s.remote().discriminator);
    assert_eq!(
        u128::from(p.desired_min_tx),
        s.advertised_desired_min_tx().as_micros()
    );
    assert_eq!(
        u128::from(p.required_min_rx),
        s.advertised_required_min_rx().as_micros()
    );
    assert_eq!(p.required_min_echo_rx, 0);
    assert_eq!(p.auth, None);
}

#[test]
fn rfc5880_6_8_7_changed_contents_sent_before_the_next_periodic_packet() {
    let mut pair = up_pair(201);
    // Detect Mult changes: no Poll needed (§6.8.12), but the packet goes out now.
    let t = just_after_a_sends(&mut pair, ms(20));
    pair.a
        .sessions
        .set_config(t, pair.a.id, config(300, 300, 5))
        .expect("config");
    pair.run_until(t);
    let (at, p) = *pair.a.sent.last().expect("sent");
    assert_eq!((at, p.detect_mult, p.poll), (t, 5, false));
    // A state change too.
    let t = just_after_a_sends(&mut pair, ms(20));
    pair.a.sessions.set_admin_down(t, pair.a.id, true);
    pair.run_until(t);
    let (at, p) = *pair.a.sent.last().expect("sent");
    assert_eq!((at, p.state), (t, State::AdminDown));
}

#[test]
fn rfc5880_6_8_7_final_rate_limit_within_advertised_desired_min_tx() {
    // A advertises 20 ms; B wants periodic packets only once a second, so each Final within
    // 20 ms of a Poll is the rate limiter's doing, not a periodic packet's.
    let mut pair = Pair::new(202, config(20, 20, 3), config(20, 1000, 3));
    pair.run_until_cond(ms(5000), |p| p.both_up());
    pair.run_for(ms(2000));
    assert_eq!(pair.a.session().transmit_interval(), ms(1000));
    pair.b.silent = true;
    let template = last_heard_from(&pair, Side::B).packet;
    let poll = bytes(&ControlPacket {
        poll: true,
        final_: false,
        ..template
    });
    let mut polls = Vec::new();
    for _ in 0..100 {
        pair.run_for(ms(3));
        polls.push(pair.now);
        pair.inject(Side::A, &poll).expect("accepted");
    }
    pair.run_for(ms(50));
    let advertised = ms(20);
    for t in polls {
        let answered = pair
            .a
            .sent
            .iter()
            .any(|(at, p)| *at >= t && *at <= t + advertised && p.final_);
        assert!(
            answered,
            "Poll at {:?} unanswered for 20 ms",
            t - pair.start
        );
    }
    assert!(pair
        .a
        .sent
        .iter()
        .filter(|(at, _)| *at > pair.start + ms(3000))
        .all(|(_, p)| p.desired_min_tx == 20_000));
}

#[test]
fn rfc5880_6_8_7_passive_silent_again_once_the_peer_is_forgotten() {
    let passive = SessionConfig {
        passive: true,
        ..config(300, 300, 3)
    };
    let mut pair = Pair::new(203, passive, config(300, 300, 3));
    pair.run_until_cond(ms(5000), |p| p.both_up());
    pair.run_for(ms(1000));
    pair.b.silent = true;
    pair.run_for(ms(2000));
    assert_eq!(pair.a.session().remote().discriminator, 0);
    let down_at = *pair.a.entered(State::Down).first().expect("timed out");
    pair.run_for(ms(5000));
    assert!(
        sent_after(&pair.a, down_at - Duration::from_nanos(1)).is_empty(),
        "a passive session sends nothing while bfd.RemoteDiscr is zero"
    );
}

#[test]
fn rfc5880_6_8_7_final_sent_while_peer_demand_is_active() {
    let mut pair = up_pair(204);
    pair.b.silent = true;
    let template = last_heard_from(&pair, Side::B).packet;
    let demand = ControlPacket {
        demand: true,
        poll: false,
        final_: false,
        ..template
    };
    pair.inject(Side::A, &bytes(&demand)).expect("accepted");
    pair.run_for(ms(400));
    let t = pair.now;
    pair.inject(
        Side::A,
        &bytes(&ControlPacket {
            poll: true,
            ..demand
        }),
    )
    .expect("accepted");
    pair.run_for(ms(400));
    let after = sent_after(&pair.a, t - Duration::from_nanos(1));
    assert_eq!(after.len(), 1, "only the Final: {after:?}");
    assert_eq!(after[0].0, t);
    assert!(after[0].1.final_ && !after[0].1.demand);
}

// ---- §6.6 / §6.8.14 ------------------------------------------------------------------------

#[test]
fn rfc5880_6_8_14_periodic_transmission_resumes_when_peer_leaves_demand() {
    let mut pair = up_pair(205);
    pair.b.silent = true;
    let template = last_heard_from(&pair, Side::B).packet;
    let demand = ControlPacket {
        demand: true,
        poll: false,
        final_: false,
        ..template
    };
    pair.inject(Side::A, &bytes(&demand)).expect("accepted");
    let t = pair.now;
    pair.run_for(ms(600));
    assert!(sent_after(&pair.a, t).is_empty());
    pair.inject(
        Side::A,
        &bytes(&ControlPacket {
            demand: false,
            ..demand
        }),
    )
    .expect("accepted");
    let resumed = pair.now;
    pair.run_for(ms(800));
    let after = sent_after(&pair.a, resumed - Duration::from_nanos(1));
    assert_eq!(after.first().map(|(at, _)| *at), Some(resumed));
    assert!(after.len() >= 3, "{} packets in 800 ms", after.len());
    assert!(pair.a.session().remote().demand.eq(&false));
}

#[test]
fn rfc5880_6_6_changed_contents_start_a_poll_while_peer_demands() {
    let mut pair = up_pair(206);
    pair.b.silent = true;
    let template = last_heard_from(&pair, Side::B).packet;
    let demand = ControlPacket {
        demand: true,
        poll: false,
        final_: false,
        ..template
    };
    pair.inject(Side::A, &bytes(&demand)).expect("accepted");
    pair.run_for(ms(300));
    let t = pair.now;
    pair.a
        .sessions
        .set_config(t, pair.a.id, config(300, 300, 5))
        .expect("config");
    pair.run_for(ms(500));
    let after = sent_after(&pair.a, t - Duration::from_nanos(1));
    assert!(
        after.iter().any(|(_, p)| p.poll && p.detect_mult == 5),
        "no Poll carried the new Detect Mult: {after:?}"
    );
}

// ---- §6.8.16 -------------------------------------------------------------------------------

#[test]
fn rfc5880_6_8_16_admin_down_keeps_transmitting_then_enable_goes_down() {
    let mut pair = up_pair(207);
    let t = pair.now;
    pair.a.sessions.set_admin_down(t, pair.a.id, true);
    pair.run_for(ms(5000));
    let after = sent_after(&pair.a, t - Duration::from_nanos(1));
    assert_eq!(after[0].0, t);
    assert!(after.iter().all(|(_, p)| p.state == State::AdminDown
        && p.diag == Diagnostic::AdministrativelyDown
        && p.desired_min_tx >= 1_000_000));
    // At least B's Detection Time of A (3 x 1 s) and beyond, with no gap B could time out in.
    let b_detect = pair.b.session().detection_time().expect("heard A");
    assert_eq!(b_detect, ms(3000));
    assert!(after.last().expect("sent").0 - t >= b_detect);
    let times: Vec<_> = after.iter().map(|(at, _)| *at).collect();
    assert!(times.windows(2).all(|w| w[1] - w[0] <= ms(1000)));
    // Enabling: AdminDown -> Down, nothing else.
    let t = pair.now;
    pair.a.sessions.set_admin_down(t, pair.a.id, false);
    pair.run_until(t);
    assert_eq!(pair.a.state(), State::Down);
    assert_eq!(
        pair.a.state_changes().last().copied(),
        Some((t, State::AdminDown, State::Down))
    );
}

#[test]
fn rfc5880_6_8_1_peer_forgotten_in_admin_down_so_a_restarted_passive_peer_is_reached() {
    let passive = SessionConfig {
        passive: true,
        ..config(300, 300, 3)
    };
    let mut pair = Pair::new(208, config(300, 300, 3), passive.clone());
    pair.run_until_cond(ms(5000), |p| p.both_up());
    let old_b = pair.b.session().local_discriminator();
    let t = pair.now;
    pair.a.sessions.set_admin_down(t, pair.a.id, true);
    pair.run_for(ms(2000));
    // B restarts while A is held down: a new discriminator, and passive, so it waits to be
    // spoken to (Your Discriminator 0 is the only thing it can match).
    pair.restart(Side::B, 1208, passive);
    assert_ne!(pair.b.session().local_discriminator(), old_b);
    pair.run_for(ms(5000));
    // A forgot the old B after a Detection Time of silence, so its AdminDown packets name no
    // discriminator, B matched them by address and answered: A knows the new B.
    assert_eq!(
        pair.a.session().remote().discriminator,
        pair.b.session().local_discriminator()
    );
    let t = pair.now;
    pair.a.sessions.set_admin_down(t, pair.a.id, false);
    pair.run_until_cond(ms(10_000), |p| p.both_up());
}

#[test]
fn rfc5880_6_8_1_auth_seq_forgotten_in_admin_down_so_a_restarted_peer_is_accepted() {
    let t = AuthType::MeticulousKeyedSha1;
    let mut pair = Pair::new(210, auth_config(t, b"k"), auth_config(t, b"k"));
    pair.run_until_cond(ms(5000), |p| p.both_up());
    let now = pair.now;
    pair.a.sessions.set_admin_down(now, pair.a.id, true);
    // B keeps talking to the held-down A, whose sequence window follows it, for longer than
    // any reset armed before A went down.
    pair.run_for(ms(20_000));
    // B restarts (a fresh random sequence number); A comes back once B is talking again.
    pair.restart(Side::B, 1210, auth_config(t, b"k"));
    pair.run_for(ms(500));
    let now = pair.now;
    pair.a.sessions.set_admin_down(now, pair.a.id, false);
    // B's new numbers are out of the old window until twice the Detection Time (2 x 3 s)
    // without an accepted packet clears bfd.AuthSeqKnown.
    pair.run_until_cond(ms(15_000), |p| p.both_up());
}

#[test]
fn rfc5880_6_8_7_passive_session_that_knows_no_peer_sends_nothing_on_shutdown() {
    let passive = SessionConfig {
        passive: true,
        ..config(300, 300, 3)
    };
    let mut pair = lone(212, passive);
    pair.run_for(ms(5000));
    assert!(pair.a.sent.is_empty());
    let t = pair.now;
    pair.a.sessions.shutdown(t);
    pair.run_for(ms(1000));
    assert!(pair.a.sent.is_empty(), "{:?}", pair.a.sent);
}

#[test]
fn rfc5880_4_1_desired_min_tx_zero_is_refused() {
    let now = up_pair(213).now;
    let zero = SessionConfig {
        desired_min_tx: Duration::ZERO,
        ..config(300, 300, 3)
    };
    assert!(matches!(
        bfd_core::Session::new(now, 1, zero, 1),
        Err(InsertError::BadInterval)
    ));
    let huge = SessionConfig {
        required_min_rx: Duration::from_secs(5000),
        ..config(300, 300, 3)
    };
    assert!(matches!(
        bfd_core::Session::new(now, 1, huge, 1),
        Err(InsertError::BadInterval)
    ));
    let mut pair = up_pair(214);
    let t = pair.now;
    let id = pair.a.id;
    let zero = SessionConfig {
        desired_min_tx: Duration::ZERO,
        ..config(300, 300, 3)
    };
    assert!(pair.a.sessions.set_config(t, id, zero).is_err());
    assert!(pair.both_up());
}

// ---- RFC 5881 §5 ---------------------------------------------------------------------------

#[test]
fn rfc5881_5_ttl_below_255_discarded_in_every_state_and_with_auth() {
    for (i, cfg) in [config(300, 300, 3), auth_config(AuthType::KeyedSha1, b"k")]
        .into_iter()
        .enumerate()
    {
        let key = cfg.auth.clone();
        let mut pair = lone(210 + i as u64, cfg);
        let packet = |state, your| {
            let p = from_b(state, your);
            match &key {
                Some(k) => signed(p, k, 1),
                None => bytes(&p),
            }
        };
        for ttl in [0u8, 1, 64, 254] {
            pair.ttl = ttl;
            assert_eq!(
                pair.inject(Side::A, &packet(State::Down, 0)),
                Err(RxError::Ttl { ttl, min: 255 })
            );
        }
        assert_eq!(pair.a.state(), State::Down);
        assert_eq!(pair.a.session().remote().discriminator, 0);
        pair.ttl = 255;
        assert!(pair.inject(Side::A, &packet(State::Down, 0)).is_ok());
        assert_eq!(pair.a.state(), State::Init);
    }
}

#[test]
fn rfc5881_5_unknown_ttl_is_not_accepted_on_a_single_hop_session() {
    let mut pair = lone(212, config(300, 300, 3));
    let meta = RxMeta {
        src: ADDR_B,
        dst: ADDR_A,
        ifindex: None,
        ttl: None,
        multihop: false,
    };
    let now = pair.now;
    let result = pair
        .a
        .sessions
        .handle_datagram(now, &meta, &bytes(&from_b(State::Down, 0)));
    assert!(result.is_err(), "accepted without knowing the TTL");
    assert_eq!(pair.a.state(), State::Down);
}
