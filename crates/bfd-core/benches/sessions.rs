//! One `Sessions` step: a received packet from an Up peer, then the transmit it causes.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bfd_core::{PeerKey, RxMeta, SessionConfig, Sessions};
use criterion::{criterion_group, criterion_main, Criterion};

fn bench(c: &mut Criterion) {
    #[allow(clippy::disallowed_methods)]
    let start = Instant::now();
    let a_addr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
    let b_addr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2));
    let mut a = Sessions::new(1);
    let mut b = Sessions::new(2);
    // 1,000 other sessions in A so lookups and the heap are not trivially small; passive, so
    // their own timers stay out of the measurement.
    for i in 0..1000u32 {
        let peer = IpAddr::V4(Ipv4Addr::from(0xC612_0000 + i + 10));
        let key = PeerKey {
            peer,
            local: None,
            ifindex: None,
            multihop: false,
        };
        a.insert(
            start,
            key,
            SessionConfig {
                passive: true,
                ..SessionConfig::default()
            },
            None,
        )
        .expect("insert");
    }
    let key = |peer| PeerKey {
        peer,
        local: None,
        ifindex: None,
        multihop: false,
    };
    let ab = a
        .insert(start, key(b_addr), SessionConfig::default(), None)
        .expect("insert");
    b.insert(start, key(a_addr), SessionConfig::default(), None)
        .expect("insert");
    let meta_a = RxMeta {
        src: b_addr,
        dst: a_addr,
        ifindex: None,
        ttl: Some(255),
        multihop: false,
    };
    let meta_b = RxMeta {
        src: a_addr,
        dst: b_addr,
        ifindex: None,
        ttl: Some(255),
        multihop: false,
    };

    // Bring the pair Up on a virtual clock.
    let mut now = start;
    let mut buf = Vec::new();
    for _ in 0..200 {
        now += Duration::from_millis(50);
        a.handle_timeout(now);
        b.handle_timeout(now);
        while let Some(tx) = a.poll_transmit(now, &mut buf) {
            // Only the session facing B talks to B; the other 1,000 have silent peers.
            if tx.session == ab {
                let _ = b.handle_datagram(now, &meta_b, &buf);
            }
        }
        while b.poll_transmit(now, &mut buf).is_some() {
            let _ = a.handle_datagram(now, &meta_a, &buf);
        }
    }
    b.handle_timeout(now + Duration::from_secs(1));
    b.poll_transmit(now + Duration::from_secs(1), &mut buf)
        .expect("B has a periodic packet due");
    let from_b = buf.clone();
    assert_eq!(a.get(ab).map(|s| s.state()), Some(bfd_core::State::Up));
    assert_eq!(
        a.handle_datagram(now, &meta_a, &from_b),
        Ok(ab),
        "the benched packet is accepted"
    );

    c.bench_function("sessions_rx_step_1001", |bench| {
        let mut out = Vec::with_capacity(64);
        bench.iter(|| {
            now += Duration::from_micros(10);
            let id = a.handle_datagram(now, &meta_a, black_box(&from_b));
            // The periodic transmit the step leaves due (usually none: we measure the check).
            let tx = a.poll_transmit(now, &mut out);
            let _ = black_box((id, tx));
        })
    });

    c.bench_function("sessions_rx_and_tx_1001", |bench| {
        let mut out = Vec::with_capacity(64);
        bench.iter(|| {
            now += Duration::from_millis(300);
            let id = a.handle_datagram(now, &meta_a, black_box(&from_b));
            a.handle_timeout(now);
            let mut n = 0;
            while a.poll_transmit(now, &mut out).is_some() {
                n += 1;
            }
            let _ = black_box((id, n));
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
