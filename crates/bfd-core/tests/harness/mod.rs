//! Two `Sessions` engines wired back to back on a virtual clock: latency, scripted loss, seeded
//! randomness, no sleeps. Time only moves when the test says so.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bfd_core::{
    Event, PeerKey, Punctuality, RxError, RxMeta, SessionConfig, SessionId, Sessions, State,
};
use bfd_wire::ControlPacket;

pub const ADDR_A: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
pub const ADDR_B: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2));

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// A packet on the virtual wire.
#[derive(Clone, Debug)]
pub struct Flight {
    pub from: Side,
    pub sent_at: Instant,
    pub deliver_at: Instant,
    pub packet: ControlPacket,
    pub bytes: Vec<u8>,
}

/// One end: its engine, its one session, and what happened to it.
pub struct Node {
    pub sessions: Sessions,
    pub id: SessionId,
    pub addr: IpAddr,
    /// Sends nothing and hears nothing: a crashed or unplugged peer.
    pub silent: bool,
    pub events: Vec<(Instant, Event)>,
    pub sent: Vec<(Instant, ControlPacket)>,
    /// How each periodic packet kept its schedule, by when it left.
    pub punctuality: Vec<(Instant, Punctuality)>,
    pub rx_errors: Vec<(Instant, RxError)>,
}

impl Node {
    pub fn new(now: Instant, seed: u64, addr: IpAddr, peer: IpAddr, config: SessionConfig) -> Node {
        let mut sessions = Sessions::new(seed);
        let key = PeerKey {
            peer,
            local: Some(addr),
            ifindex: None,
            multihop: false,
        };
        let id = sessions.insert(now, key, config, None).expect("insert");
        Node {
            sessions,
            id,
            addr,
            silent: false,
            events: Vec::new(),
            sent: Vec::new(),
            punctuality: Vec::new(),
            rx_errors: Vec::new(),
        }
    }

    pub fn state(&self) -> State {
        self.sessions.get(self.id).expect("session").state()
    }

    pub fn session(&self) -> &bfd_core::Session {
        self.sessions.get(self.id).expect("session")
    }

    pub fn state_changes(&self) -> Vec<(Instant, State, State)> {
        self.events
            .iter()
            .filter_map(|(t, e)| match e {
                Event::StateChanged { old, new, .. } => Some((*t, *old, *new)),
                _ => None,
            })
            .collect()
    }

    /// What it sent from `t` on.
    pub fn sent_since(&self, t: Instant) -> Vec<(Instant, ControlPacket)> {
        self.sent
            .iter()
            .filter(|(at, _)| *at >= t)
            .cloned()
            .collect()
    }

    /// Times at which this node entered `state`.
    pub fn entered(&self, state: State) -> Vec<Instant> {
        self.state_changes()
            .into_iter()
            .filter(|(_, _, new)| *new == state)
            .map(|(t, _, _)| t)
            .collect()
    }
}

/// Decides whether a flight is lost; sees every packet once, in send order.
pub type LossRule = Box<dyn FnMut(&Flight) -> bool>;

pub struct Pair {
    pub start: Instant,
    pub now: Instant,
    pub latency: Duration,
    pub a: Node,
    pub b: Node,
    pub in_flight: Vec<Flight>,
    pub delivered: Vec<Flight>,
    pub lost: Vec<Flight>,
    pub loss: LossRule,
    /// TTL stamped on delivered packets.
    pub ttl: u8,
    /// A coarse timer like tokio's: engine deadlines are served on the next tick boundary after
    /// them, one tick later still (the worst case of a millisecond wheel). `None`: exactly on time.
    pub timer_tick: Option<Duration>,
    buf: Vec<u8>,
}

/// An arbitrary origin: every time in a test is an offset from it.
#[allow(clippy::disallowed_methods)]
pub fn origin() -> Instant {
    Instant::now()
}

impl Pair {
    pub fn new(seed: u64, config_a: SessionConfig, config_b: SessionConfig) -> Pair {
        let start = origin();
        Pair {
            start,
            now: start,
            latency: Duration::from_millis(1),
            a: Node::new(start, seed, ADDR_A, ADDR_B, config_a),
            b: Node::new(start, seed.wrapping_add(1), ADDR_B, ADDR_A, config_b),
            in_flight: Vec::new(),
            delivered: Vec::new(),
            lost: Vec::new(),
            loss: Box::new(|_| false),
            ttl: 255,
            timer_tick: None,
            buf: Vec::new(),
        }
    }

    pub fn node(&mut self, side: Side) -> &mut Node {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    pub fn at(&self, offset: Duration) -> Instant {
        self.start + offset
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Replaces one end with a fresh engine (a restarted daemon: new discriminator).
    pub fn restart(&mut self, side: Side, seed: u64, config: SessionConfig) {
        let (addr, peer) = match side {
            Side::A => (ADDR_A, ADDR_B),
            Side::B => (ADDR_B, ADDR_A),
        };
        let now = self.now;
        *self.node(side) = Node::new(now, seed, addr, peer, config);
    }

    /// Drains both engines' output at the current time.
    fn flush(&mut self) {
        for side in [Side::A, Side::B] {
            let now = self.now;
            let latency = self.latency;
            loop {
                let node = match side {
                    Side::A => &mut self.a,
                    Side::B => &mut self.b,
                };
                while let Some((_, event)) = node.sessions.poll_event() {
                    node.events.push((now, event));
                }
                let Some(tx) = node.sessions.poll_transmit(now, &mut self.buf) else {
                    break;
                };
                node.sent.push((now, tx.packet));
                if let Some(p) = tx.periodic {
                    node.punctuality.push((now, p));
                }
                if node.silent {
                    continue;
                }
                let flight = Flight {
                    from: side,
                    sent_at: now,
                    deliver_at: now + latency,
                    packet: tx.packet,
                    bytes: self.buf.clone(),
                };
                if (self.loss)(&flight) {
                    self.lost.push(flight);
                } else {
                    self.in_flight.push(flight);
                }
            }
            let node = match side {
                Side::A => &mut self.a,
                Side::B => &mut self.b,
            };
            while let Some((_, event)) = node.sessions.poll_event() {
                node.events.push((now, event));
            }
        }
    }

    /// Delivers raw bytes to `to` now, as if they came from its peer.
    pub fn inject(&mut self, to: Side, bytes: &[u8]) -> Result<SessionId, RxError> {
        let ttl = self.ttl;
        let now = self.now;
        let node = self.node(to);
        let src = if to == Side::A { ADDR_B } else { ADDR_A };
        let meta = RxMeta {
            src,
            dst: node.addr,
            ifindex: None,
            ttl: Some(ttl),
            multihop: false,
        };
        let result = node.sessions.handle_datagram(now, &meta, bytes);
        if let Err(e) = result {
            node.rx_errors.push((now, e));
        }
        self.flush();
        result
    }

    fn next_deadline(&mut self) -> Option<Instant> {
        let flights = self.in_flight.iter().map(|f| f.deliver_at).min();
        let timers = [
            self.a.sessions.poll_timeout(),
            self.b.sessions.poll_timeout(),
        ];
        let timers = timers.into_iter().flatten().map(|t| self.served_at(t));
        flights.into_iter().chain(timers).min()
    }

    /// When a coarse timer wakes for deadline `t`.
    fn served_at(&self, t: Instant) -> Instant {
        let Some(tick) = self.timer_tick else {
            return t;
        };
        let tick_ns = tick.as_nanos().max(1);
        let since = t.saturating_duration_since(self.start).as_nanos();
        let ticks = since.div_ceil(tick_ns) + 1;
        let offset = u64::try_from(ticks * tick_ns).expect("test durations fit");
        self.start + Duration::from_nanos(offset)
    }

    /// Runs every event up to and including `until`, then sets the clock to `until`.
    pub fn run_until(&mut self, until: Instant) {
        self.flush();
        while let Some(next) = self.next_deadline() {
            if next > until {
                break;
            }
            self.now = self.now.max(next);
            self.step_now();
        }
        self.now = self.now.max(until);
        self.flush();
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// Runs until `cond` holds, or panics after `limit` of virtual time.
    pub fn run_until_cond(&mut self, limit: Duration, mut cond: impl FnMut(&Pair) -> bool) {
        let deadline = self.now + limit;
        self.flush();
        while !cond(self) {
            let next = self.next_deadline().filter(|&n| n <= deadline);
            let Some(next) = next else {
                panic!(
                    "condition not met within {limit:?} (now {:?})",
                    self.elapsed()
                );
            };
            self.now = self.now.max(next);
            self.step_now();
        }
    }

    fn step_now(&mut self) {
        let now = self.now;
        let (due, later): (Vec<Flight>, Vec<Flight>) = std::mem::take(&mut self.in_flight)
            .into_iter()
            .partition(|f| f.deliver_at <= now);
        self.in_flight = later;
        for flight in due {
            let to = flight.from.other();
            if !self.node(to).silent {
                let _ = self.inject(to, &flight.bytes.clone());
            }
            self.delivered.push(flight);
        }
        self.a.sessions.handle_timeout(now);
        self.b.sessions.handle_timeout(now);
        self.flush();
    }

    pub fn both_up(&self) -> bool {
        self.a.state() == State::Up && self.b.state() == State::Up
    }
}

pub fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

pub fn config(tx_ms: u64, rx_ms: u64, mult: u8) -> SessionConfig {
    SessionConfig {
        desired_min_tx: ms(tx_ms),
        required_min_rx: ms(rx_ms),
        detect_mult: mult,
        ..SessionConfig::default()
    }
}
