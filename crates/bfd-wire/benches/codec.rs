//! Codec throughput: parse, emit and the SHA1 digest, on the packets bfdd sends most.
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use bfd_wire::{auth, parse, Auth, AuthType, ControlPacket, Diagnostic, State};
use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion};

const KEY: &[u8] = b"bfd-sha1-key";

fn packet(auth: Option<Auth>) -> ControlPacket {
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
        auth,
    }
}

fn emitted(pkt: &ControlPacket) -> Vec<u8> {
    let mut out = Vec::with_capacity(pkt.buffer_len());
    pkt.emit(&mut out);
    out
}

fn signed_sha1() -> Vec<u8> {
    let unsigned = packet(Auth::unsigned(AuthType::KeyedSha1, 3, 100, b""));
    let mut bytes = emitted(&unsigned);
    auth::sign(&mut bytes, KEY).expect("keyed SHA1 packet");
    bytes
}

fn bench(c: &mut Criterion) {
    let plain = emitted(&packet(None));
    c.bench_function("parse/no_auth", |b| b.iter(|| parse(black_box(&plain))));

    let sha1 = signed_sha1();
    c.bench_function("parse/keyed_sha1", |b| b.iter(|| parse(black_box(&sha1))));

    let pkt = packet(None);
    let mut bytes_mut = BytesMut::with_capacity(64);
    c.bench_function("emit/bytes_mut", |b| {
        b.iter(|| {
            bytes_mut.clear();
            black_box(&pkt).emit(&mut bytes_mut);
            black_box(&bytes_mut);
        })
    });
    let mut vec = Vec::with_capacity(64);
    c.bench_function("emit/vec", |b| {
        b.iter(|| {
            vec.clear();
            black_box(&pkt).emit(&mut vec);
            black_box(&vec);
        })
    });

    let sha1_pkt = parse(&sha1).expect("signed packet parses");
    let sha1_auth = sha1_pkt.auth.expect("has auth");
    let mut buf = sha1.clone();
    c.bench_function("auth/sign_sha1", |b| {
        b.iter(|| auth::sign(black_box(&mut buf), black_box(KEY)))
    });
    c.bench_function("auth/verify_sha1", |b| {
        b.iter(|| auth::verify(black_box(&sha1), black_box(&sha1_auth), black_box(KEY)))
    });
    c.bench_function("auth/sign_and_verify_sha1", |b| {
        b.iter(|| {
            auth::sign(black_box(&mut buf), KEY).expect("keyed");
            auth::verify(black_box(&buf), &sha1_auth, KEY)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
