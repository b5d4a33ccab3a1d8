//! The `Sessions` container: discriminators and demultiplexing (RFC 5880 §6.3, §6.8.6).

mod harness;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv6Addr};

use bfd_core::{InsertError, PeerKey, RxError, RxMeta, SessionConfig, SessionId, Sessions, State};
use bfd_wire::{ControlPacket, Diagnostic};
use harness::*;

fn key(peer: IpAddr) -> PeerKey {
    PeerKey {
        peer,
        local: None,
        ifindex: None,
        multihop: false,
    }
}

fn meta(src: IpAddr, dst: IpAddr) -> RxMeta {
    RxMeta {
        src,
        dst,
        ifindex: Some(3),
        ttl: Some(255),
        multihop: false,
    }
}

fn down_packet(my: u32, your: u32) -> Vec<u8> {
    let p = ControlPacket {
        diag: Diagnostic::NoDiagnostic,
        state: State::Down,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: my,
        your_discriminator: your,
        desired_min_tx: 1_000_000,
        required_min_rx: 300_000,
        required_min_echo_rx: 0,
        auth: None,
    };
    let mut b = Vec::new();
    p.emit(&mut b);
    b
}

/// A container holding one session, on `key`, with the default settings.
fn one_session(key: PeerKey) -> (Sessions, SessionId) {
    let mut s = Sessions::new(1);
    let id = s
        .insert(origin(), key, SessionConfig::default(), None)
        .expect("an empty container takes a session");
    (s, id)
}

fn v6(last: u16) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last))
}

#[test]
fn rfc5880_6_3_discriminators_unique_and_nonzero() {
    let now = origin();
    let mut s = Sessions::new(42);
    let mut seen = HashSet::new();
    for i in 0..2000u16 {
        let id = s
            .insert(now, key(v6(i + 1)), SessionConfig::default(), None)
            .unwrap();
        let d = s.get(id).unwrap().local_discriminator();
        assert_ne!(d, 0);
        assert!(seen.insert(d), "duplicate discriminator {d}");
    }
    assert_eq!(s.len(), 2000);
}

#[test]
fn restart_reuses_a_requested_discriminator_when_free() {
    let now = origin();
    let mut s = Sessions::new(1);
    let a = s
        .insert(now, key(v6(1)), SessionConfig::default(), Some(0xdead_beef))
        .unwrap();
    assert_eq!(s.get(a).unwrap().local_discriminator(), 0xdead_beef);
    // Taken already, or zero: a fresh one instead.
    let b = s
        .insert(now, key(v6(2)), SessionConfig::default(), Some(0xdead_beef))
        .unwrap();
    assert_ne!(s.get(b).unwrap().local_discriminator(), 0xdead_beef);
    let c = s
        .insert(now, key(v6(3)), SessionConfig::default(), Some(0))
        .unwrap();
    assert_ne!(s.get(c).unwrap().local_discriminator(), 0);
}

#[test]
fn duplicate_peer_key_is_refused() {
    let now = origin();
    let mut s = Sessions::new(1);
    s.insert(now, key(ADDR_B), SessionConfig::default(), None)
        .unwrap();
    assert_eq!(
        s.insert(now, key(ADDR_B), SessionConfig::default(), None),
        Err(InsertError::Duplicate)
    );
}

/// §6.8.6 discards a packet whose Your Discriminator names no session; bfd-core's one
/// exception (below) does not apply to any of these: a packet from a path no session is on,
/// one not saying Down, one to a session that has heard its peer, or to an authenticated one.
#[test]
fn rfc5880_6_8_6_unknown_your_discriminator_is_discarded() {
    let now = origin();
    let (mut s, id) = one_session(key(ADDR_B));
    let unknown = Err(RxError::UnknownDiscriminator(12345));
    let elsewhere = meta(v6(5), v6(1));
    assert_eq!(
        s.handle_datagram(now, &elsewhere, &down_packet(9, 12345)),
        unknown
    );
    let mut init = down_packet(9, 12345);
    init[1] = (init[1] & 0x3f) | (2 << 6);
    let home = meta(ADDR_B, ADDR_A);
    assert_eq!(s.handle_datagram(now, &home, &init), unknown);
    // The session hears its peer (which now knows its discriminator): no longer.
    assert_eq!(s.handle_datagram(now, &home, &down_packet(9, 0)), Ok(id));
    assert_eq!(
        s.handle_datagram(now, &home, &down_packet(9, 12345)),
        unknown
    );
    let authenticated = SessionConfig {
        auth: Some(bfd_core::AuthKey {
            auth_type: bfd_wire::AuthType::KeyedSha1,
            key_id: 1,
            secret: b"k".to_vec(),
        }),
        ..SessionConfig::default()
    };
    s.insert(now, key(v6(7)), authenticated, None).unwrap();
    assert_eq!(
        s.handle_datagram(now, &meta(v6(7), v6(1)), &down_packet(9, 12345)),
        Err(RxError::UnknownDiscriminator(12345))
    );
}

/// ovn-peer.md, "Stale discriminator": OVN holds on to the discriminator it heard AdminDown
/// from and keeps addressing it. A session on exactly that path, which has never heard its
/// peer, takes that discriminator (nobody else's) and the packet: a restart that lost its
/// state still comes Up. Said once as an event, for the daemon to keep it.
#[test]
fn a_stale_discriminator_is_taken_by_the_session_its_peer_is_looking_for() {
    let now = origin();
    let (mut s, id) = one_session(PeerKey {
        local: Some(ADDR_A),
        ..key(ADDR_B)
    });
    let old = s.get(id).unwrap().local_discriminator();
    let stale = old.wrapping_add(1).max(1);
    let home = meta(ADDR_B, ADDR_A);
    assert_eq!(
        s.handle_datagram(now, &home, &down_packet(9, stale)),
        Ok(id)
    );
    let session = s.get(id).unwrap();
    assert_eq!(session.local_discriminator(), stale);
    assert_eq!(session.state(), State::Init, "the packet was taken");
    let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(
        events.contains(&(
            id,
            bfd_core::Event::DiscriminatorAdopted { old, new: stale }
        )),
        "{events:?}"
    );
    assert_eq!(
        s.handle_datagram(now, &home, &down_packet(9, old)),
        Err(RxError::UnknownDiscriminator(old)),
        "the old one is gone"
    );
}

/// The discriminator moves only with a packet the session accepts: one an off-link sender
/// forges (TTL below 255) leaves it alone, so the sender cannot keep moving it away from the
/// one the real peer learns.
#[test]
fn a_stale_discriminator_is_not_taken_from_a_packet_the_session_refuses() {
    let now = origin();
    let (mut s, id) = one_session(key(ADDR_B));
    let old = s.get(id).unwrap().local_discriminator();
    let stale = old.wrapping_add(1).max(1);
    let mut off_link = meta(ADDR_B, ADDR_A);
    off_link.ttl = Some(254);
    assert!(matches!(
        s.handle_datagram(now, &off_link, &down_packet(9, stale)),
        Err(RxError::Ttl { .. })
    ));
    assert_eq!(s.get(id).unwrap().local_discriminator(), old);
    assert_eq!(
        s.handle_datagram(now, &meta(ADDR_B, ADDR_A), &down_packet(9, old)),
        Ok(id),
        "the old one still selects it"
    );
    assert!(std::iter::from_fn(|| s.poll_event())
        .all(|(_, e)| !matches!(e, bfd_core::Event::DiscriminatorAdopted { .. })));
}

/// Nor one the caller keeps for a session not inserted yet (a peer waiting for its
/// interface): that session would come up with another, and its peer reach this one.
#[test]
fn a_discriminator_kept_for_another_session_is_not_taken() {
    let now = origin();
    let (mut s, id) = one_session(key(ADDR_B));
    let stale = s
        .get(id)
        .unwrap()
        .local_discriminator()
        .wrapping_add(1)
        .max(1);
    s.keep_for_others([stale]);
    assert_eq!(
        s.handle_datagram(now, &meta(ADDR_B, ADDR_A), &down_packet(9, stale)),
        Err(RxError::UnknownDiscriminator(stale))
    );
    s.keep_for_others([]);
    assert_eq!(
        s.handle_datagram(now, &meta(ADDR_B, ADDR_A), &down_packet(9, stale)),
        Ok(id)
    );
}

/// A session that has heard its peer, and timed it out since, does not take another: the
/// peer knew the current one.
#[test]
fn a_session_that_timed_its_peer_out_keeps_its_discriminator() {
    let now = origin();
    let (mut s, id) = one_session(key(ADDR_B));
    let old = s.get(id).unwrap().local_discriminator();
    let home = meta(ADDR_B, ADDR_A);
    assert_eq!(s.handle_datagram(now, &home, &down_packet(9, 0)), Ok(id));
    let later = now + ms(60_000);
    s.handle_timeout(later);
    assert_eq!(s.get(id).unwrap().remote().discriminator, 0, "forgotten");
    let stale = old.wrapping_add(1).max(1);
    assert_eq!(
        s.handle_datagram(later, &home, &down_packet(9, stale)),
        Err(RxError::UnknownDiscriminator(stale))
    );
}

/// At exit (a drain), AdminDown keeps going out addressed to the peer: nothing is read any
/// more, so no detection timeout may forget it.
#[test]
fn rfc5880_6_8_16_admin_down_at_exit_keeps_addressing_the_peer() {
    let now = origin();
    let (mut s, id) = one_session(key(ADDR_B));
    assert_eq!(
        s.handle_datagram(now, &meta(ADDR_B, ADDR_A), &down_packet(9, 0)),
        Ok(id)
    );
    s.shutdown(now);
    let mut buf = Vec::new();
    let mut sent = Vec::new();
    for step in 0..=20 {
        let at = now + ms(step * 500);
        s.handle_timeout(at);
        while let Some(t) = s.poll_transmit(at, &mut buf) {
            sent.push((t.packet.state, t.packet.your_discriminator));
        }
    }
    assert!(sent.len() >= 5, "{sent:?}");
    assert!(sent.iter().all(|&p| p == (State::AdminDown, 9)), "{sent:?}");
}

#[test]
fn rfc5880_6_8_6_zero_your_discriminator_selects_by_addresses() {
    let now = origin();
    let (mut s, id) = one_session(PeerKey {
        local: Some(ADDR_A),
        ..key(ADDR_B)
    });
    assert_eq!(
        s.handle_datagram(now, &meta(ADDR_B, ADDR_A), &down_packet(9, 0)),
        Ok(id)
    );
    // Same peer, but to another local address: not this session.
    let other_local = IpAddr::from([198, 51, 100, 77]);
    assert!(matches!(
        s.handle_datagram(now, &meta(ADDR_B, other_local), &down_packet(9, 0)),
        Err(RxError::NoSessionForPeer { .. })
    ));
    // Unknown peer.
    assert!(matches!(
        s.handle_datagram(now, &meta(v6(9), v6(1)), &down_packet(9, 0)),
        Err(RxError::NoSessionForPeer { .. })
    ));
}

#[test]
fn session_bound_to_interface_ignores_other_interfaces() {
    let now = origin();
    let mut s = Sessions::new(1);
    let k = PeerKey {
        ifindex: Some(7),
        ..key(ADDR_B)
    };
    s.insert(now, k, SessionConfig::default(), None).unwrap();
    let mut m = meta(ADDR_B, ADDR_A);
    m.ifindex = Some(3);
    assert!(s.handle_datagram(now, &m, &down_packet(9, 0)).is_err());
    m.ifindex = Some(7);
    assert!(s.handle_datagram(now, &m, &down_packet(9, 0)).is_ok());
}

#[test]
fn rfc5881_6_single_hop_demultiplexes_by_discriminator_alone() {
    // A single-hop peer may change its source address; the discriminator still selects the
    // session. A multihop session, without the TTL guard, also requires the configured source.
    let now = origin();
    let (mut s, id) = one_session(key(ADDR_B));
    let d = s.get(id).unwrap().local_discriminator();
    assert_eq!(
        s.handle_datagram(now, &meta(v6(5), v6(1)), &down_packet(9, d)),
        Ok(id)
    );
    let mh = PeerKey {
        multihop: true,
        ..key(v6(7))
    };
    let config = SessionConfig {
        hop_mode: bfd_core::HopMode::MultiHop { min_ttl: 250 },
        ..SessionConfig::default()
    };
    let id = s.insert(now, mh, config, None).unwrap();
    let d = s.get(id).unwrap().local_discriminator();
    let mut m = meta(v6(8), v6(1));
    m.multihop = true;
    assert!(matches!(
        s.handle_datagram(now, &m, &down_packet(9, d)),
        Err(RxError::PeerMismatch { .. })
    ));
}

/// RFC 5881 §3: a session bound to a local address or interface takes packets arriving there
/// only, also when they carry its discriminator: a sender on another link (TTL 255 there too)
/// cannot take it down by guessing one.
#[test]
fn rfc5881_3_a_bound_session_takes_its_discriminator_only_where_it_is_bound() {
    let now = origin();
    let mut s = Sessions::new(1);
    let bound = PeerKey {
        local: Some(ADDR_A),
        ifindex: Some(3),
        ..key(ADDR_B)
    };
    let id = s
        .insert(now, bound, SessionConfig::default(), None)
        .unwrap();
    let d = s.get(id).unwrap().local_discriminator();
    let at_home = meta(ADDR_B, ADDR_A);
    assert_eq!(s.handle_datagram(now, &at_home, &down_packet(9, d)), Ok(id));
    let mut other_address = meta(v6(5), v6(1));
    other_address.ifindex = Some(3);
    assert!(matches!(
        s.handle_datagram(now, &other_address, &down_packet(9, d)),
        Err(RxError::PathMismatch { .. })
    ));
    let mut other_link = at_home;
    other_link.ifindex = Some(4);
    let refused = s.handle_datagram(now, &other_link, &down_packet(9, d));
    assert!(
        matches!(refused, Err(RxError::PathMismatch { .. })),
        "{refused:?}"
    );
    assert_eq!(refused.map_err(|e| e.reason()), Err("unknown_session"));
}

#[test]
fn rfc5883_multihop_session_accepts_lower_ttl_but_not_below_minimum() {
    let now = origin();
    let mut s = Sessions::new(1);
    let k = PeerKey {
        multihop: true,
        ..key(ADDR_B)
    };
    let config = SessionConfig {
        hop_mode: bfd_core::HopMode::MultiHop { min_ttl: 250 },
        ..SessionConfig::default()
    };
    s.insert(now, k, config, None).unwrap();
    let mut m = meta(ADDR_B, ADDR_A);
    m.multihop = true;
    m.ttl = Some(251);
    assert!(s.handle_datagram(now, &m, &down_packet(9, 0)).is_ok());
    m.ttl = Some(249);
    assert_eq!(
        s.handle_datagram(now, &m, &down_packet(9, 0)),
        Err(RxError::Ttl { ttl: 249, min: 250 })
    );
    // A single-hop packet (port 3784) does not reach a multihop session.
    m.multihop = false;
    m.ttl = Some(255);
    assert!(s.handle_datagram(now, &m, &down_packet(9, 0)).is_err());
}

#[test]
fn malformed_datagram_is_an_error_not_a_panic() {
    let now = origin();
    let mut s = Sessions::new(1);
    s.insert(now, key(ADDR_B), SessionConfig::default(), None)
        .unwrap();
    for bytes in [&[][..], &[0x20, 0x40], &[0xff; 24], &[0x40; 30]] {
        assert!(matches!(
            s.handle_datagram(now, &meta(ADDR_B, ADDR_A), bytes),
            Err(RxError::Malformed(_))
        ));
    }
}

#[test]
fn removed_session_leaves_no_trace() {
    let now = origin();
    let (mut s, id) = one_session(key(ADDR_B));
    let d = s.get(id).unwrap().local_discriminator();
    assert!(s.remove(id).is_some());
    assert!(s.is_empty());
    assert_eq!(
        s.handle_datagram(now, &meta(ADDR_B, ADDR_A), &down_packet(9, d)),
        Err(RxError::UnknownDiscriminator(d))
    );
    assert_eq!(s.poll_timeout(), None);
    let mut buf = Vec::new();
    assert!(s.poll_transmit(now, &mut buf).is_none());
}

#[test]
fn one_timer_for_many_sessions_fires_each_on_time() {
    let start = origin();
    let mut s = Sessions::new(3);
    for i in 0..100u16 {
        s.insert(start, key(v6(i + 1)), SessionConfig::default(), None)
            .unwrap();
    }
    let mut buf = Vec::new();
    let mut sent = 0;
    let mut now = start;
    // Each session sends its first packet at once and then one per 0.75-1 s (slow start).
    while now < start + ms(10_000) {
        s.handle_timeout(now);
        while s.poll_transmit(now, &mut buf).is_some() {
            sent += 1;
        }
        let next = s.poll_timeout().expect("deadline");
        assert!(
            next > now,
            "a due deadline survived handle_timeout + poll_transmit"
        );
        now = next;
    }
    assert!(
        (1000..=1400).contains(&sent),
        "{sent} packets from 100 sessions in 10 s"
    );
}

#[test]
fn rfc5880_6_8_7_first_packets_are_not_timed_as_late() {
    // A daemon starting thousands of sessions sends their first packets well after it created
    // them; those open the schedule and close no gap, so they are neither late nor delayed.
    let start = origin();
    let mut s = Sessions::new(4);
    for i in 0..3u16 {
        s.insert(start, key(v6(i + 1)), SessionConfig::default(), None)
            .unwrap();
    }
    let mut buf = Vec::new();
    let busy_until = start + ms(300);
    s.handle_timeout(busy_until);
    let mut first = 0;
    while let Some(tx) = s.poll_transmit(busy_until, &mut buf) {
        assert_eq!(tx.periodic, None, "first packet timed");
        first += 1;
    }
    assert_eq!(first, 3);
    // The next ones are timed against the schedule the first ones opened.
    let next = s.poll_timeout().expect("deadline");
    let now = next + ms(1);
    s.handle_timeout(now);
    let tx = s.poll_transmit(now, &mut buf).expect("a periodic packet");
    let timed = tx.periodic.expect("timed");
    assert_eq!((timed.delay, timed.late), (ms(1), false));
}

/// The grid's step keeps what the configured rates put on one grid point within the bound.
#[test]
fn aligned_transmissions_bound_the_burst_per_grid_point() {
    // (sessions, interval ms, step): 1/(0.75 x interval) packets a second per session.
    for (n, interval, step) in [
        (1u16, 300, 16),
        (1000, 300, 8),
        (2000, 300, 4),
        (10_000, 300, 0),
        (5000, 50, 0),
    ] {
        let now = origin();
        let mut s = Sessions::new(9);
        for i in 0..n {
            s.insert(now, key(v6(i + 1)), config(interval, interval, 3), None)
                .unwrap();
        }
        s.align_transmissions(now, 64);
        assert_eq!(s.transmit_grid_step(), ms(step), "{n} x {interval} ms");
    }
}

/// Aligned, 1,000 sessions wake their caller about once per grid point instead of once per
/// packet, and each still sends inside its §6.8.7 window (here the 1 s of a Down session).
#[test]
fn rfc5880_6_8_7_aligned_sessions_share_wake_ups_and_keep_their_windows() {
    fn run(aligned: bool) -> (usize, usize, Vec<Vec<std::time::Instant>>) {
        let start = origin();
        let mut s = Sessions::new(5);
        for i in 0..1000u16 {
            s.insert(start, key(v6(i + 1)), config(300, 300, 3), None)
                .unwrap();
        }
        if aligned {
            s.align_transmissions(start, 64);
        }
        let mut buf = Vec::new();
        let mut per_session = vec![Vec::new(); 1000];
        let (mut wake_ups, mut packets) = (0, 0);
        let mut now = start;
        while now < start + ms(10_000) {
            s.handle_timeout(now);
            wake_ups += 1;
            while let Some(t) = s.poll_transmit(now, &mut buf) {
                per_session[t.session.index()].push(now);
                packets += 1;
            }
            now = s.poll_timeout().expect("deadline");
        }
        (wake_ups, packets, per_session)
    }
    let (unaligned_wake_ups, unaligned_packets, _) = run(false);
    let (wake_ups, packets, per_session) = run(true);
    // Down sessions send once per 0.75-1 s: about 11,400 packets in 10 s either way.
    assert!(
        packets >= 11_000 && unaligned_packets >= 11_000,
        "{packets} {unaligned_packets}"
    );
    assert!(unaligned_wake_ups >= 10_000, "{unaligned_wake_ups}");
    // An 8 ms grid has 1,250 points in 10 s.
    assert!(
        wake_ups <= 1251,
        "{wake_ups} wake-ups for {packets} packets"
    );
    for times in per_session {
        for gap in times.windows(2).skip(1).map(|w| w[1] - w[0]) {
            assert!(gap >= ms(750) && gap <= ms(1000), "{gap:?}");
        }
    }
}

/// Several sessions to one peer address (one per local address): removing the first, a middle
/// and the last of them leaves the others found by key and by a Your Discriminator 0 packet
/// (§6.8.6), each to its own local address.
#[test]
fn rfc5880_6_8_6_sessions_sharing_a_peer_address_survive_removals_in_any_order() {
    let now = origin();
    let peer = v6(1);
    let keyed = |local: u16| PeerKey {
        local: Some(v6(100 + local)),
        ..key(peer)
    };
    for remove_order in [[0usize, 2, 4], [4, 2, 0], [2, 0, 4]] {
        let mut s = Sessions::new(9);
        s.reserve(5);
        let ids: Vec<_> = (0..5u16)
            .map(|i| {
                s.insert(now, keyed(i), SessionConfig::default(), None)
                    .unwrap()
            })
            .collect();
        assert_eq!(s.with_peer(peer).count(), 5);
        for &r in &remove_order {
            assert!(s.remove(ids[r]).is_some());
        }
        let left = [1usize, 3];
        assert_eq!(s.with_peer(peer).count(), left.len(), "{remove_order:?}");
        for i in 0..5u16 {
            let found = s.find_key(&keyed(i));
            let demuxed = s
                .handle_datagram(now, &meta(peer, v6(100 + i)), &down_packet(7, 0))
                .ok();
            if left.contains(&usize::from(i)) {
                assert_eq!(found, Some(ids[usize::from(i)]), "{remove_order:?} {i}");
                assert_eq!(demuxed, Some(ids[usize::from(i)]), "{remove_order:?} {i}");
            } else {
                assert_eq!(found, None, "{remove_order:?} {i}");
                assert_eq!(demuxed, None, "{remove_order:?} {i}");
            }
        }
        // A new session to the same peer joins the chain.
        let again = s
            .insert(now, keyed(0), SessionConfig::default(), None)
            .unwrap();
        assert_eq!(s.find_key(&keyed(0)), Some(again));
        assert_eq!(s.with_peer(peer).count(), 3);
    }
}
