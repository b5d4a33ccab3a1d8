//! The floor: what the kernel alone costs per packet on the same veth. A batched UDP echo
//! (`recvmmsg` -> `sendmmsg`) runs where the daemon would, and a generator in L sends it the
//! packet pattern of N BFD sessions at the interval (one 24-byte datagram per session every
//! 75-100% of the interval, from the session's own address pair). The echo's CPU per packet
//! handled is the cost no BFD daemon on these sockets can go below.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use nix::sys::socket::{MultiHeaders, SockaddrIn};

use crate::emulator::BFD_PORT;
use crate::net::{self, RawSender, RxDatagram, RxSocket, BATCH};
use crate::topology::{d_addr, l_addr, l_index};

/// The echo server: replies every datagram to its source address, port 3784, in batches.
/// Runs until killed (the harness starts it inside D and stops it by PID).
pub fn echo_server(port: u16) -> Result<()> {
    // Destination and TTL reporting on, as a BFD daemon needs them; no timestamps.
    let mut rx = RxSocket::bind(port, false)?;
    let mut headers = MultiHeaders::<SockaddrIn>::preallocate(BATCH, None);
    let mut batch: Vec<RxDatagram> = Vec::with_capacity(BATCH);
    loop {
        net::wait_readable(rx.socket(), Duration::from_secs(1))?;
        loop {
            rx.recv_batch(&mut batch)?;
            if batch.is_empty() {
                break;
            }
            let msgs: Vec<(SockaddrIn, &[u8])> = batch
                .iter()
                .map(|d| {
                    let to = SockaddrIn::from(SocketAddrV4::new(*d.src.ip(), BFD_PORT));
                    (to, rx.payload(d))
                })
                .collect();
            net::send_batch(rx.socket(), &mut headers, &msgs);
        }
    }
}

/// Counters of the running generator.
#[derive(Debug, Default)]
pub struct GenCounters {
    /// Datagrams sent.
    pub tx: AtomicU64,
    /// Echoes received.
    pub rx: AtomicU64,
}

/// The generator thread in L.
pub struct Generator {
    stop: Arc<AtomicBool>,
    /// Live counters.
    pub counters: Arc<GenCounters>,
    handle: Option<JoinHandle<Result<()>>>,
}

impl Generator {
    /// Starts sending the pattern of `sessions` sessions at `interval` from namespace `netns`.
    pub fn start(
        netns: &str,
        sessions: usize,
        interval: Duration,
        tick: Duration,
    ) -> Result<Generator> {
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(GenCounters::default());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<()>>();
        let netns = netns.to_string();
        let (s2, c2) = (stop.clone(), counters.clone());
        let handle = std::thread::Builder::new()
            .name("floor-gen".into())
            .spawn(move || -> Result<()> {
                let (rx, tx, ()) = net::open_load_sockets(&netns, BFD_PORT, &ready_tx, || Ok(()))?;
                generate(rx, tx, sessions, interval, tick, &s2, &c2)
            })
            .context("spawning the floor generator")?;
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok(Generator {
                stop,
                counters,
                handle: Some(handle),
            }),
            Ok(Err(e)) => Err(e.context("floor generator setup")),
            Err(_) => Err(anyhow!("floor generator did not start")),
        }
    }

    /// (sent, received) so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.counters.tx.load(Ordering::Relaxed),
            self.counters.rx.load(Ordering::Relaxed),
        )
    }

    /// Stops the thread.
    pub fn stop(mut self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(anyhow!("floor generator panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for Generator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// xorshift64*: jitter without a dependency.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn generate(
    mut rx: RxSocket,
    mut tx: RawSender,
    sessions: usize,
    interval: Duration,
    tick: Duration,
    stop: &AtomicBool,
    counters: &GenCounters,
) -> Result<()> {
    // A BFD control packet's size and shape (Up, 300 ms), so the kernel does the same work.
    let payload: [u8; 24] = [
        0x20, 0xc3, 3, 24, 0, 0, 0, 1, 0, 0, 0, 2, 0, 4, 0x93, 0xe0, 0, 4, 0x93, 0xe0, 0, 0, 0, 0,
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let start = Instant::now();
    let mut heap: BinaryHeap<Reverse<(Instant, u32)>> = (0..sessions)
        .map(|i| Reverse((start + interval.mul_f64(rng.unit()), i as u32)))
        .collect();
    let mut batch: Vec<RxDatagram> = Vec::with_capacity(BATCH);
    let mut last_wake = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        loop {
            rx.recv_batch(&mut batch)?;
            if batch.is_empty() {
                break;
            }
            let ours = batch
                .iter()
                .filter(|d| d.dst.and_then(l_index).is_some_and(|i| i < sessions))
                .count();
            counters.rx.fetch_add(ours as u64, Ordering::Relaxed);
        }
        let now = Instant::now();
        while let Some(&Reverse((at, i))) = heap.peek() {
            if at > now {
                break;
            }
            heap.pop();
            let i = i as usize;
            let src = SocketAddrV4::new(l_addr(i), 49152 + (i % 16384) as u16);
            let dst = SocketAddrV4::new(d_addr(i), BFD_PORT);
            tx.push(src, dst, &payload)?;
            counters.tx.fetch_add(1, Ordering::Relaxed);
            let next = at + interval.mul_f64(0.75 + 0.25 * rng.unit());
            heap.push(Reverse((next.max(now), i as u32)));
        }
        if tx.pending() > 0 {
            tx.flush()?;
        }
        let after = Instant::now();
        if after < last_wake + tick {
            std::thread::sleep(last_wake + tick - after);
        }
        last_wake = Instant::now();
        let wait = heap
            .peek()
            .map(|Reverse((t, _))| t.saturating_duration_since(last_wake))
            .unwrap_or(Duration::from_millis(10))
            .min(Duration::from_millis(10));
        if !wait.is_zero() {
            net::wait_readable(rx.socket(), wait)?;
        }
    }
    Ok(())
}
