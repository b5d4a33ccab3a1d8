//! N emulated BFD peers in one thread: each a real RFC 5880 session (`bfd_core::Sessions`,
//! virtual clock = real time), all behind one receive socket and one raw send socket, read and
//! written in batches.
//!
//! Besides running the sessions, the emulator watches the daemon's packets: its state per
//! session (time to all Up, false Down transitions), the gaps between its periodic packets
//! during the measurement window (transmit-interval accuracy), and, once a subset of sessions
//! goes silent, when the daemon's packets for them turn Down (detection latency). Times are
//! the kernel's receive timestamps, so the harness's own scheduling does not blur them.

use std::net::{IpAddr, SocketAddrV4};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use bfd_core::{Event, HopMode, PeerKey, RxMeta, SessionConfig, Sessions, State};

use crate::net::{self, RawSender, RxDatagram, RxSocket};
use crate::stats::Histogram;
use crate::topology::{d_addr, l_addr, l_index};
use crate::tx_stamps::StampMatcher;

/// RFC 5881 §4.
pub const BFD_PORT: u16 = 3784;
/// First source port of the emulated peers (RFC 5881 §4: 49152-65535).
const SOURCE_PORT_BASE: u16 = 49152;
/// Most flap records kept for the report.
const FLAP_LOG: usize = 20;
/// Longest sleep between looks at the command channel.
const MAX_SLEEP: Duration = Duration::from_millis(10);
/// Receive batches handled before the timers get a turn.
const RX_BATCHES_PER_TURN: usize = 16;

/// What the emulator runs.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// Number of emulated peers (sessions).
    pub sessions: usize,
    /// Desired Min TX and Required Min RX of every emulated peer.
    pub interval: Duration,
    /// Detect Mult of every emulated peer.
    pub multiplier: u8,
    /// The namespace it runs in (L).
    pub netns: String,
    /// Shortest time between two wake-ups: work due meanwhile is batched.
    pub tick: Duration,
}

/// Counters readable at any time.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Kernel time of the daemon's first packet.
    pub first_packet_at: Option<f64>,
    /// Kernel time of the packet that made the daemon's sessions all Up (first time).
    pub all_up_at: Option<f64>,
    /// Sessions whose last packet from the daemon said Up.
    pub daemon_up: usize,
    /// Emulated sessions in state Up.
    pub local_up: usize,
    /// Packets received from the daemon.
    pub rx: u64,
    /// Packets sent to the daemon.
    pub tx: u64,
    /// Flaps of sessions never silenced that the daemon declared first (its packets left Up
    /// while the emulated peer was still Up). A flap is counted once, on the side that left
    /// Up first: the other side follows within a detection time.
    pub flaps_daemon: u64,
    /// Flaps of sessions never silenced that the emulated peer declared first (the daemon
    /// went quiet).
    pub flaps_local: u64,
    /// Sessions silenced so far.
    pub silenced: usize,
    /// Silenced sessions whose Down the daemon has sent.
    pub detected: usize,
    /// Datagrams that matched no emulated session.
    pub rx_unmatched: u64,
    /// Datagrams a session rejected (or that did not parse).
    pub rx_rejected: u64,
    /// Datagrams the kernel refused to send (full buffers).
    pub tx_dropped: u64,
}

/// What the daemon did during the measurement window.
#[derive(Clone, Debug)]
pub struct WindowStats {
    /// Window length, by the realtime clock.
    pub seconds: f64,
    /// Packets received from the daemon.
    pub rx: u64,
    /// Packets sent to the daemon.
    pub tx: u64,
    /// Gaps between consecutive periodic packets of a session, over the negotiated interval.
    pub ratio: Histogram,
    /// How far each gap lies outside 75-100% of its own interval, in ms (0 inside).
    pub error: Histogram,
    /// The negotiated transmit interval of the daemon (the largest seen), seconds.
    pub interval_s: f64,
    /// Flaps (both kinds) during the window.
    pub flaps: u64,
}

/// Everything at the end.
#[derive(Clone, Debug)]
pub struct Final {
    /// Counters at the end.
    pub snapshot: Snapshot,
    /// Silence -> Down per detected session: daemon's Down packet minus our last packet, ms.
    pub detect_latency_ms: Vec<f64>,
    /// The negotiated detection time of each detected session, ms.
    pub detect_time_ms: Vec<f64>,
    /// The first flaps: (time, session, what).
    pub flap_log: Vec<(f64, usize, String)>,
    /// Per detected session: (session, our last packet, the daemon's first Down packet), in
    /// realtime seconds.
    pub detections: Vec<(usize, f64, f64)>,
    /// Of the detections, those timed from the kernel's transmit stamp of our last packet.
    pub kernel_stamped: usize,
    /// Transmit stamps that matched no packet (see [`StampMatcher::rejected`]).
    pub kernel_stamps_rejected: u64,
}

enum Command {
    Snapshot(mpsc::Sender<Snapshot>),
    BeginWindow,
    EndWindow(mpsc::Sender<WindowStats>),
    Watch(Vec<usize>),
    Silence(Vec<usize>),
    Stop,
}

/// The running emulator thread. Dropping it stops the thread.
pub struct Emulator {
    cmd: mpsc::Sender<Command>,
    handle: Option<JoinHandle<Result<Final>>>,
}

impl Emulator {
    /// Starts the thread: enters the namespace, binds the sockets, starts every session.
    /// Returns once the sockets are bound.
    pub fn start(config: EmulatorConfig) -> Result<Emulator> {
        let (cmd_tx, cmd_rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        let handle = std::thread::Builder::new()
            .name("emulator".into())
            .spawn(move || -> Result<Final> {
                let (rx, tx, watched_tx) = net::open_load_sockets(
                    &config.netns,
                    BFD_PORT,
                    &ready_tx,
                    RawSender::open_stamped,
                )?;
                let mut state = State_::new(&config)?;
                state.run(rx, Senders { tx, watched_tx }, &cmd_rx)
            })
            .context("spawning the emulator thread")?;
        let mut me = Emulator {
            cmd: cmd_tx,
            handle: Some(handle),
        };
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok(me),
            Ok(Err(e)) => {
                me.handle.take();
                Err(e.context("emulator setup"))
            }
            Err(_) => Err(me.join_error("emulator did not start")),
        }
    }

    fn join_error(&mut self, what: &str) -> anyhow::Error {
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => e.context(what.to_string()),
            Some(Err(_)) => anyhow!("{what}: emulator thread panicked"),
            _ => anyhow!("{what}"),
        }
    }

    fn ask<T>(&mut self, make: impl FnOnce(mpsc::Sender<T>) -> Command) -> Result<T> {
        let (tx, rx) = mpsc::channel();
        if self.cmd.send(make(tx)).is_err() {
            return Err(self.join_error("emulator stopped"));
        }
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(v) => Ok(v),
            Err(_) => Err(self.join_error("emulator did not answer")),
        }
    }

    /// Current counters.
    pub fn snapshot(&mut self) -> Result<Snapshot> {
        self.ask(Command::Snapshot)
    }

    /// Starts the measurement window (window counters and gaps restart).
    pub fn begin_window(&mut self) -> Result<()> {
        self.cmd
            .send(Command::BeginWindow)
            .map_err(|_| self.join_error("emulator stopped"))
    }

    /// Ends the window and returns what happened in it.
    pub fn end_window(&mut self) -> Result<WindowStats> {
        self.ask(Command::EndWindow)
    }

    /// Sends these sessions' packets through the stamped sender from now on, so that when they
    /// go silent their last packet's departure is the kernel's timestamp.
    pub fn watch(&mut self, sessions: Vec<usize>) -> Result<()> {
        self.cmd
            .send(Command::Watch(sessions))
            .map_err(|_| self.join_error("emulator stopped"))
    }

    /// Stops transmitting for these sessions (the daemon must declare them Down).
    pub fn silence(&mut self, sessions: Vec<usize>) -> Result<()> {
        self.cmd
            .send(Command::Silence(sessions))
            .map_err(|_| self.join_error("emulator stopped"))
    }

    /// Stops the thread and returns the final figures.
    pub fn stop(mut self) -> Result<Final> {
        let _ = self.cmd.send(Command::Stop);
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(anyhow!("emulator thread panicked")),
            None => Err(anyhow!("emulator already stopped")),
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.cmd.send(Command::Stop);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

const NO_STATE: u8 = u8::MAX;

/// The emulator's two ways out: packets of sessions about to be silenced go through a sender
/// the kernel stamps, so that their last packet's departure is known exactly.
struct Senders {
    tx: RawSender,
    watched_tx: RawSender,
}

impl Senders {
    /// Packets either sender's kernel queue refused.
    fn dropped(&self) -> u64 {
        self.tx.dropped + self.watched_tx.dropped
    }

    fn get(&mut self, watched: bool) -> &mut RawSender {
        if watched {
            &mut self.watched_tx
        } else {
            &mut self.tx
        }
    }
}

/// The emulator thread's state.
struct State_ {
    n: usize,
    interval_us: u32,
    multiplier: u8,
    tick: Duration,
    sessions: Sessions,
    /// Session id index -> session number.
    by_id: Vec<u32>,
    daemon_state: Vec<u8>,
    daemon_tx_us: Vec<u32>,
    daemon_rx_us: Vec<u32>,
    local_up: Vec<bool>,
    flaps: FlapCounter,
    gaps: Gaps,
    /// When each session's last packet left: the kernel's transmit stamp for watched sessions,
    /// else the time its batch went to the kernel.
    last_tx_rt: Vec<f64>,
    /// Whether `last_tx_rt` is the kernel's stamp.
    kernel_stamped: Vec<bool>,
    /// Sessions about to be silenced, whose packets go through the stamped sender.
    watched: Vec<bool>,
    /// Stamped packets awaiting their stamp.
    tx_stamps: StampMatcher,
    /// Scratch: stamps read, and the sessions they matched.
    stamp_buf: Vec<(u32, f64)>,
    stamp_matches: Vec<(usize, f64)>,
    /// Sessions whose packets are queued in each sender's batch.
    in_batch: Vec<usize>,
    in_watched_batch: Vec<usize>,
    silenced: Vec<bool>,
    /// max(the daemon's Required Min RX, our Desired Min TX) when the session went silent.
    silence_basis_us: Vec<u32>,
    down_at: Vec<f64>,
    snap: Snapshot,
    window: Option<Window>,
    flap_log: Vec<(f64, usize, String)>,
}

struct Window {
    started: f64,
    rx0: u64,
    tx0: u64,
    flaps0: u64,
    ratio: Histogram,
    error: Histogram,
    interval_s: f64,
}

impl State_ {
    fn new(config: &EmulatorConfig) -> Result<State_> {
        let n = config.sessions;
        let interval_us = u32::try_from(config.interval.as_micros()).context("interval")?;
        let mut sessions = Sessions::new(0x5eed_b0fd);
        let now = Instant::now();
        let mut by_id = Vec::with_capacity(n);
        let session_config = SessionConfig {
            desired_min_tx: config.interval,
            required_min_rx: config.interval,
            detect_mult: config.multiplier,
            passive: false,
            admin_down: false,
            auth: None,
            hop_mode: HopMode::SingleHop,
        };
        for i in 0..n {
            let key = PeerKey {
                peer: IpAddr::V4(d_addr(i)),
                local: Some(IpAddr::V4(l_addr(i))),
                ifindex: None,
                multihop: false,
            };
            let id = sessions
                .insert(now, key, session_config.clone(), None)
                .map_err(|e| anyhow!("emulated session {i}: {e}"))?;
            if by_id.len() <= id.index() {
                by_id.resize(id.index() + 1, u32::MAX);
            }
            by_id[id.index()] = i as u32;
        }
        Ok(State_ {
            n,
            interval_us,
            multiplier: config.multiplier,
            tick: config.tick,
            sessions,
            by_id,
            daemon_state: vec![NO_STATE; n],
            daemon_tx_us: vec![0; n],
            daemon_rx_us: vec![0; n],
            local_up: vec![false; n],
            flaps: FlapCounter::new(n),
            gaps: Gaps::new(n),
            last_tx_rt: vec![f64::NAN; n],
            kernel_stamped: vec![false; n],
            watched: vec![false; n],
            tx_stamps: StampMatcher::default(),
            stamp_buf: Vec::new(),
            stamp_matches: Vec::new(),
            in_batch: Vec::with_capacity(net::BATCH),
            in_watched_batch: Vec::with_capacity(net::BATCH),
            silenced: vec![false; n],
            silence_basis_us: vec![0; n],
            down_at: vec![f64::NAN; n],
            snap: Snapshot::default(),
            window: None,
            flap_log: Vec::new(),
        })
    }

    fn run(
        &mut self,
        mut rx: RxSocket,
        mut out: Senders,
        commands: &mpsc::Receiver<Command>,
    ) -> Result<Final> {
        let mut batch: Vec<RxDatagram> = Vec::with_capacity(net::BATCH);
        let mut buf = Vec::with_capacity(64);
        let mut last_wake = Instant::now();
        loop {
            loop {
                match commands.try_recv() {
                    Ok(Command::Stop) | Err(mpsc::TryRecvError::Disconnected) => {
                        return Ok(self.finish(&out));
                    }
                    Ok(c) => self.command(c, &out),
                    Err(mpsc::TryRecvError::Empty) => break,
                }
            }
            for _ in 0..RX_BATCHES_PER_TURN {
                rx.recv_batch(&mut batch)?;
                if batch.is_empty() {
                    break;
                }
                let now = Instant::now();
                for d in &batch {
                    self.receive(now, d, rx.payload(d));
                }
            }
            let now = Instant::now();
            self.sessions.handle_timeout(now);
            while let Some(t) = self.sessions.poll_transmit(now, &mut buf) {
                let Some(&i) = self.by_id.get(t.session.index()) else {
                    continue;
                };
                let i = i as usize;
                if self.silenced.get(i).copied().unwrap_or(true) {
                    continue;
                }
                let src = SocketAddrV4::new(l_addr(i), SOURCE_PORT_BASE + (i % 16384) as u16);
                let dst = SocketAddrV4::new(d_addr(i), BFD_PORT);
                self.queue(&mut out, i, src, dst, &buf)?;
                self.snap.tx += 1;
            }
            for watched in [false, true] {
                if out.get(watched).pending() > 0 {
                    self.flush(&mut out, watched)?;
                }
            }
            self.read_stamps(&mut out)?;
            while let Some((id, event)) = self.sessions.poll_event() {
                let Some(&i) = self.by_id.get(id.index()) else {
                    continue;
                };
                if let Event::StateChanged { old, new, diag } = event {
                    self.local_change(i as usize, old, new, diag);
                }
            }
            // Sleep: at most one wake-up per tick, so work due meanwhile goes out in batches.
            let after = Instant::now();
            let earliest = last_wake + self.tick;
            if after < earliest {
                std::thread::sleep(earliest - after);
            }
            last_wake = Instant::now();
            let wait = self
                .sessions
                .poll_timeout()
                .map(|t| t.saturating_duration_since(last_wake))
                .unwrap_or(MAX_SLEEP)
                .min(MAX_SLEEP);
            if !wait.is_zero() {
                net::wait_readable(rx.socket(), wait)?;
            }
        }
    }

    /// Queues session `i`'s packet on its sender, sending that sender's batch first if full.
    fn queue(
        &mut self,
        out: &mut Senders,
        i: usize,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        payload: &[u8],
    ) -> Result<()> {
        let watched = self.watched.get(i).copied().unwrap_or(false);
        if out.get(watched).pending() == net::BATCH {
            self.flush(out, watched)?;
        }
        out.get(watched).push(src, dst, payload)?;
        if watched {
            self.in_watched_batch.push(i);
        } else {
            self.in_batch.push(i);
        }
        Ok(())
    }

    /// Sends one sender's batch and stamps its sessions' last transmission with the time the
    /// `sendmmsg` began, not when the loop turned: a turn that sends thousands of packets, or
    /// is preempted halfway, sends its last batches more than 10 ms after it began. Packets the
    /// kernel refused keep their session's earlier stamp. Watched packets get the kernel's own
    /// stamp later ([`State_::read_stamps`]): the harness can be preempted inside the call too.
    fn flush(&mut self, out: &mut Senders, watched: bool) -> Result<()> {
        let sender = out.get(watched);
        let first = sender.sent as u32;
        let before = net::now_rt();
        let sent = sender.flush()?;
        let after = net::now_rt();
        let batch = if watched {
            &mut self.in_watched_batch
        } else {
            &mut self.in_batch
        };
        for &i in batch.iter().take(sent) {
            if let (Some(t), Some(stamped)) =
                (self.last_tx_rt.get_mut(i), self.kernel_stamped.get_mut(i))
            {
                *t = before;
                *stamped = false;
            }
        }
        if watched {
            self.tx_stamps
                .sent(first, batch.iter().take(sent).copied(), (before, after));
        }
        batch.clear();
        Ok(())
    }

    /// Replaces the send-time stamps of watched sessions' latest packets by the kernel's.
    fn read_stamps(&mut self, out: &mut Senders) -> Result<()> {
        if self.tx_stamps.is_empty() {
            return Ok(());
        }
        out.watched_tx.take_tx_stamps(&mut self.stamp_buf)?;
        self.tx_stamps
            .match_stamps(&self.stamp_buf, &mut self.stamp_matches);
        for &(i, at) in &self.stamp_matches {
            if let (Some(t), Some(stamped)) =
                (self.last_tx_rt.get_mut(i), self.kernel_stamped.get_mut(i))
            {
                // A stamp earlier than the session's send time belongs to an older packet.
                if at >= *t {
                    *t = at;
                    *stamped = true;
                }
            }
        }
        Ok(())
    }

    fn command(&mut self, c: Command, out: &Senders) {
        match c {
            Command::Snapshot(reply) => {
                self.snap.tx_dropped = out.dropped();
                let _ = reply.send(self.snap.clone());
            }
            Command::BeginWindow => {
                self.gaps.restart_all();
                self.window = Some(Window {
                    started: net::now_rt(),
                    rx0: self.snap.rx,
                    tx0: self.snap.tx,
                    flaps0: self.snap.flaps_daemon + self.snap.flaps_local,
                    ratio: Histogram::new(0.0005, 4.0),
                    // 10 µs bins up to 10 s: a gap's error in its own interval's ms, so
                    // that gaps of different intervals (a Poll, a re-Up) are not scaled by
                    // the largest interval seen.
                    error: Histogram::new(0.01, 10_000.0),
                    interval_s: 0.0,
                });
            }
            Command::EndWindow(reply) => {
                if let Some(w) = self.window.take() {
                    let _ = reply.send(WindowStats {
                        seconds: net::now_rt() - w.started,
                        rx: self.snap.rx - w.rx0,
                        tx: self.snap.tx - w.tx0,
                        ratio: w.ratio,
                        error: w.error,
                        interval_s: w.interval_s,
                        flaps: self.snap.flaps_daemon + self.snap.flaps_local - w.flaps0,
                    });
                }
            }
            Command::Watch(list) => {
                for i in list {
                    if let Some(w) = self.watched.get_mut(i) {
                        *w = true;
                    }
                }
            }
            Command::Silence(list) => {
                for i in list {
                    if let Some(s) = self.silenced.get_mut(i) {
                        if !*s {
                            *s = true;
                            self.snap.silenced += 1;
                            self.silence_basis_us[i] = self.daemon_rx_us[i].max(self.interval_us);
                        }
                    }
                }
            }
            Command::Stop => {}
        }
    }

    fn receive(&mut self, now: Instant, d: &RxDatagram, payload: &[u8]) {
        let Some(i) = d.dst.and_then(l_index).filter(|&i| i < self.n) else {
            self.snap.rx_unmatched += 1;
            return;
        };
        if *d.src.ip() != d_addr(i) {
            self.snap.rx_unmatched += 1;
            return;
        }
        let Ok(packet) = bfd_wire::parse(payload) else {
            self.snap.rx_rejected += 1;
            return;
        };
        self.snap.rx += 1;
        self.snap.first_packet_at.get_or_insert(d.ts);
        let meta = RxMeta {
            src: IpAddr::V4(d_addr(i)),
            dst: IpAddr::V4(l_addr(i)),
            ifindex: None,
            ttl: d.ttl,
            multihop: false,
        };
        if self.sessions.handle_datagram(now, &meta, payload).is_err() {
            self.snap.rx_rejected += 1;
        }

        let up = State::Up.bits();
        let prev = self.daemon_state[i];
        let new = packet.state.bits();
        self.daemon_tx_us[i] = packet.desired_min_tx;
        self.daemon_rx_us[i] = packet.required_min_rx;
        if new == up && prev != up {
            self.snap.daemon_up += 1;
            if self.snap.daemon_up == self.n && self.snap.all_up_at.is_none() {
                self.snap.all_up_at = Some(d.ts);
            }
            if self.local_up[i] {
                self.flaps.both_up(i);
            }
        } else if prev == up && new != up {
            self.snap.daemon_up -= 1;
            if !self.silenced[i] && self.flaps.left_up(i) {
                self.snap.flaps_daemon += 1;
                self.log_flap(
                    d.ts,
                    i,
                    format!("daemon sent {:?} diag {:?}", packet.state, packet.diag),
                );
            }
        }
        self.daemon_state[i] = new;
        if new != up {
            self.gaps.left_up(i);
        }
        if self.silenced[i] && new != up && self.down_at[i].is_nan() {
            self.down_at[i] = d.ts;
            self.snap.detected += 1;
        }
        if let Some(w) = &mut self.window {
            if new == up && !packet.final_ && !self.silenced[i] {
                let interval = f64::from(packet.desired_min_tx.max(self.interval_us)) * 1e-6;
                if let Some((ratio, error_ms)) = self.gaps.packet(i, d.ts, interval) {
                    w.interval_s = w.interval_s.max(interval);
                    w.ratio.record(ratio);
                    w.error.record(error_ms);
                }
            }
        }
    }

    fn local_change(&mut self, i: usize, old: State, new: State, diag: bfd_core::Diagnostic) {
        if new == State::Up && old != State::Up {
            self.local_up[i] = true;
            self.snap.local_up += 1;
            if self.daemon_state[i] == State::Up.bits() {
                self.flaps.both_up(i);
            }
        } else if old == State::Up && new != State::Up {
            self.local_up[i] = false;
            self.snap.local_up -= 1;
            if !self.silenced[i] && self.flaps.left_up(i) {
                self.snap.flaps_local += 1;
                self.log_flap(
                    net::now_rt(),
                    i,
                    format!("emulated peer went {new:?} ({diag:?})"),
                );
            }
        }
    }

    fn log_flap(&mut self, at: f64, i: usize, what: String) {
        if self.flap_log.len() < FLAP_LOG {
            self.flap_log.push((at, i, what));
        }
    }

    fn finish(&mut self, out: &Senders) -> Final {
        self.snap.tx_dropped = out.dropped();
        let mut latency = Vec::new();
        let mut detect = Vec::new();
        let mut detections = Vec::new();
        let mut kernel_stamped = 0;
        for i in 0..self.n {
            if !self.silenced[i] {
                continue;
            }
            if self.down_at[i].is_nan() || self.last_tx_rt[i].is_nan() {
                continue;
            }
            latency.push((self.down_at[i] - self.last_tx_rt[i]) * 1e3);
            if self.kernel_stamped[i] {
                kernel_stamped += 1;
            }
            detections.push((i, self.last_tx_rt[i], self.down_at[i]));
            // The daemon's detection time: our Detect Mult x max(its Required Min RX, our
            // Desired Min TX) (RFC 5880 §6.8.4).
            let basis = f64::from(self.silence_basis_us[i]);
            detect.push(basis * f64::from(self.multiplier) * 1e-3);
        }
        Final {
            snapshot: self.snap.clone(),
            detect_latency_ms: latency,
            detect_time_ms: detect,
            flap_log: std::mem::take(&mut self.flap_log),
            detections,
            kernel_stamped,
            kernel_stamps_rejected: self.tx_stamps.rejected,
        }
    }
}

/// One flap per session episode: a session leaving Up on either side starts one, and it ends
/// when both sides are Up again. Counting each side's Down would count every flap twice, the
/// other side following within a detection time.
struct FlapCounter {
    in_flap: Vec<bool>,
}

impl FlapCounter {
    fn new(sessions: usize) -> FlapCounter {
        FlapCounter {
            in_flap: vec![false; sessions],
        }
    }

    /// Session `i` left Up on one side; true when that starts a flap (count it).
    fn left_up(&mut self, i: usize) -> bool {
        !std::mem::replace(&mut self.in_flap[i], true)
    }

    /// Session `i` is Up on both sides again.
    fn both_up(&mut self, i: usize) {
        self.in_flap[i] = false;
    }
}

/// The gaps between each session's periodic packets while it is Up.
struct Gaps {
    last: Vec<f64>,
}

impl Gaps {
    fn new(n: usize) -> Gaps {
        Gaps {
            last: vec![f64::NAN; n],
        }
    }

    /// A window starts: no gap runs across its start.
    fn restart_all(&mut self) {
        self.last.iter_mut().for_each(|t| *t = f64::NAN);
    }

    /// Session `i` left Up: a gap that spans a time out of Up is no transmit interval.
    fn left_up(&mut self, i: usize) {
        self.last[i] = f64::NAN;
    }

    /// A periodic packet of session `i` at `ts` (s) with `interval` (s): the gap it ends, over
    /// that interval, and how far it lies outside 75-100% of it, in ms (0 inside); `None` for
    /// the first packet after Up or the window's start.
    fn packet(&mut self, i: usize, ts: f64, interval: f64) -> Option<(f64, f64)> {
        let last = std::mem::replace(&mut self.last[i], ts);
        if last.is_nan() {
            return None;
        }
        let ratio = (ts - last) / interval;
        Some((
            ratio,
            (ratio - 1.0).max(0.75 - ratio).max(0.0) * interval * 1e3,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::{FlapCounter, Gaps};

    /// Errors are in each gap's own interval's ms, and no gap spans a time out of Up (before,
    /// a 50 ms session's re-Up counted its Down time as a late packet, scaled by the largest
    /// interval of the window).
    #[test]
    fn gaps_are_per_interval_and_never_span_a_down() {
        let mut gaps = Gaps::new(1);
        assert_eq!(gaps.packet(0, 10.0, 0.05), None);
        let (ratio, error) = gaps.packet(0, 10.045, 0.05).expect("a gap");
        assert!((ratio - 0.9).abs() < 1e-9 && error == 0.0);
        let (_, late) = gaps.packet(0, 10.1, 0.05).expect("a gap");
        assert!((late - 5.0).abs() < 1e-6, "{late} ms past");
        gaps.left_up(0);
        assert_eq!(gaps.packet(0, 14.0, 0.05), None, "a gap across the Down");
        let (_, early) = gaps.packet(0, 14.9, 1.0).expect("a gap");
        assert!((early - 0.0).abs() < 1e-9);
        let (_, short) = gaps.packet(0, 15.4, 1.0).expect("a gap");
        assert!((short - 250.0).abs() < 1e-6, "{short} ms short");
    }

    #[test]
    fn a_flap_seen_on_both_sides_counts_once() {
        let mut flaps = FlapCounter::new(2);
        // The daemon goes Down, then the emulated peer follows: one flap.
        assert!(flaps.left_up(0));
        assert!(!flaps.left_up(0));
        // Session 1 flaps on its own.
        assert!(flaps.left_up(1));
        // Both Up again: the next Down is a new flap.
        flaps.both_up(0);
        assert!(flaps.left_up(0));
    }
}
