//! One BFD session: the RFC 5880 §6.8 state variables and procedures.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bfd_wire::{ControlPacket, Diagnostic, State};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::auth::AuthState;
use crate::config::{HopMode, SessionConfig};
use crate::error::{InsertError, RxError};
use crate::event::Event;
use crate::timers::{Stamp, Timer, Timers};

/// §6.8.3: while not Up, a session transmits no faster than once per second.
pub const SLOW_TX_INTERVAL: Duration = Duration::from_secs(1);

/// Out-of-schedule packets (Finals, changed contents) are spaced at least this far apart, or the
/// advertised Desired Min TX if that is shorter (§6.8.7 allows rate limiting Finals only down to
/// it). A peer polling in a loop cannot make us burst: OVN meters BFD to 25 packets/s per port.
const MIN_IMMEDIATE_SPACING: Duration = Duration::from_millis(40);

/// What the session last heard from its peer (the bfd.Remote* variables and friends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteParams {
    /// bfd.RemoteDiscr: zero until heard, and again after a detection timeout.
    pub discriminator: u32,
    /// bfd.RemoteSessionState
    pub state: State,
    /// Diag of the last packet.
    pub diag: Diagnostic,
    /// bfd.RemoteMinRxInterval; one microsecond until heard (§6.8.1).
    pub min_rx: Duration,
    /// The peer's Desired Min TX.
    pub desired_min_tx: Duration,
    /// The peer's Required Min Echo RX.
    pub min_echo_rx: Duration,
    /// The peer's Detect Mult.
    pub detect_mult: u8,
    /// bfd.RemoteDemandMode
    pub demand: bool,
}

/// Counters an operator reads with `bfdctl peer`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Control packets sent.
    pub tx_packets: u64,
    /// Valid control packets received and accepted.
    pub rx_packets: u64,
    /// Packets that reached this session and were discarded (auth, TTL).
    pub rx_errors: u64,
    /// Transitions into Up.
    pub up_count: u64,
    /// Transitions out of Up.
    pub down_count: u64,
}

/// How a periodic packet kept to its schedule (§6.8.7): what the caller's timer and scheduler
/// made of the interval the session drew.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Punctuality {
    /// How long after its scheduled time the packet left.
    pub delay: Duration,
    /// It left after the top of the 75-100% window (75-90% with a Detect Mult of 1) counted
    /// from the previous periodic packet, though it had been scheduled inside it.
    pub late: bool,
}

/// The parts of a packet that, when changed, justify an out-of-schedule transmission (§6.8.7).
/// Intervals are left out: their change travels in a Poll on the scheduled packets, and §6.5
/// forbids additional packets for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Contents {
    state: State,
    diag: Diagnostic,
    your_discriminator: u32,
    detect_mult: u8,
}

#[derive(Clone, Copy, Debug)]
struct PollSequence {
    /// A packet with P and the current values has gone out, so a Final now confirms them. A Final
    /// answering a Poll sent before the latest change must not complete the sequence.
    current_values_sent: bool,
}

/// One BFD session (RFC 5880 §6.8).
///
/// Call order, as with every sans-IO type here: feed input with [`handle_packet`],
/// [`handle_timeout`] or a command (`set_config`, `set_admin_down`), then drain
/// [`poll_transmit`] and [`poll_event`] until `None`, then sleep until [`poll_timeout`].
/// Usually the [`Sessions`](crate::Sessions) container does this for many sessions at once.
///
/// [`handle_packet`]: Session::handle_packet
/// [`handle_timeout`]: Session::handle_timeout
/// [`poll_transmit`]: Session::poll_transmit
/// [`poll_event`]: Session::poll_event
/// [`poll_timeout`]: Session::poll_timeout
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    local_discr: u32,
    state: State,
    local_diag: Diagnostic,
    remote: RemoteParams,
    /// bfd.DesiredMinTxInterval as advertised.
    desired_min_tx: Micros,
    /// bfd.RequiredMinRxInterval as advertised.
    required_min_rx: Micros,
    /// bfd.DetectMult as advertised.
    detect_mult: u8,
    /// Desired Min TX the transmit interval is computed from: lags an increase until the Final.
    tx_interval_basis: Micros,
    /// Required Min RX the detection time is computed from: lags a decrease until the Final.
    detect_basis: Micros,
    poll: Option<PollSequence>,
    /// Polls sent and not yet answered by a Final.
    unanswered_polls: u32,
    /// Finals still expected for Polls of an earlier sequence (each Poll draws its own Final),
    /// and until when they can plausibly arrive. They must not complete a newer sequence.
    stale_finals: u32,
    stale_until: Option<Stamp>,
    final_pending: bool,
    /// Boxed: most sessions have none, and inline it would cost every session 40 bytes.
    auth: Option<Box<AuthState>>,
    timers: Timers,
    last_tx: Option<Stamp>,
    last_rx: Option<Stamp>,
    last_immediate: Option<Stamp>,
    last_poll_sent: Option<Stamp>,
    last_sent: Option<Contents>,
    last_state_change: Option<Stamp>,
    stats: SessionStats,
    events: VecDeque<Event>,
    rng: SmallRng,
    /// How late the caller's timer may fire, in µs; periodic intervals are drawn short of the
    /// top of the §6.8.7 window by this much so a late wake-up still lands inside it.
    timer_slack_us: u32,
    /// The largest step of the transmit grid in µs (zero: periodic packets are not aligned),
    /// and the grid's origin, shared by every session of the container.
    grid_max_step_us: u32,
    grid_epoch: Option<Stamp>,
}

/// An interval as the wire carries it, in microseconds: a quarter of a `Duration`'s size, for
/// the four a session keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Micros(u32);

impl Micros {
    fn of(d: Duration) -> Micros {
        Micros(micros(d))
    }

    fn duration(self) -> Duration {
        from_micros(self.0)
    }
}

/// `limit` rounded down to 2, 4, 8... milliseconds; zero under two milliseconds, since the
/// caller's millisecond timer already gathers what falls within one. Steps that are powers of
/// two nest, so sessions using different ones still share grid points.
pub(crate) fn grid_step(limit: Duration) -> Duration {
    let ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
    match ms.checked_ilog2() {
        Some(k) if k >= 1 => Duration::from_millis(1 << k),
        _ => Duration::ZERO,
    }
}

/// `at` moved down to the grid point at or before it, or up to the next one where that would
/// leave `earliest`; unmoved if neither point lies in `earliest..=latest`.
fn on_grid(
    at: Instant,
    epoch: Instant,
    step: Duration,
    earliest: Instant,
    latest: Instant,
) -> Instant {
    let Some(since) = at.checked_duration_since(epoch) else {
        return at;
    };
    // u64 nanoseconds last 584 years; u128 division would cost more on every periodic packet.
    let (Ok(since_ns), Ok(step_ns)) = (
        u64::try_from(since.as_nanos()),
        u64::try_from(step.as_nanos()),
    ) else {
        return at;
    };
    let down = at - Duration::from_nanos(since_ns % step_ns.max(1));
    if down >= earliest {
        return down;
    }
    let up = down + step;
    if up <= latest {
        up
    } else {
        at
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

fn from_micros(us: u32) -> Duration {
    Duration::from_micros(u64::from(us))
}

impl Session {
    /// A session in state Down (or AdminDown if configured so). `rng_seed` feeds its jitter and
    /// initial auth sequence; `local_discr` must be nonzero and unique (the container ensures it).
    pub fn new(
        now: Instant,
        local_discr: u32,
        config: SessionConfig,
        rng_seed: u64,
    ) -> Result<Session, InsertError> {
        validate(&config)?;
        let mut rng = SmallRng::seed_from_u64(rng_seed);
        let auth = config
            .auth
            .clone()
            .map(|key| Box::new(AuthState::new(key, rng.gen())));
        let desired_min_tx = config.desired_min_tx.max(SLOW_TX_INTERVAL);
        let state = if config.admin_down {
            State::AdminDown
        } else {
            State::Down
        };
        let mut session = Session {
            local_discr,
            state,
            local_diag: if config.admin_down {
                Diagnostic::AdministrativelyDown
            } else {
                Diagnostic::NoDiagnostic
            },
            remote: RemoteParams {
                discriminator: 0,
                state: State::Down,
                diag: Diagnostic::NoDiagnostic,
                min_rx: Duration::from_micros(1),
                desired_min_tx: Duration::ZERO,
                min_echo_rx: Duration::ZERO,
                detect_mult: 0,
                demand: false,
            },
            desired_min_tx: Micros::of(desired_min_tx),
            // Advertised from the first packet: a peer that scheduled its next packet from a slow
            // value would miss our detection time right after Up (the OVN slow-start trap).
            required_min_rx: Micros::of(config.required_min_rx),
            detect_mult: config.detect_mult,
            tx_interval_basis: Micros::of(desired_min_tx),
            detect_basis: Micros::of(config.required_min_rx),
            poll: None,
            unanswered_polls: 0,
            stale_finals: 0,
            stale_until: None,
            final_pending: false,
            auth,
            timers: Timers::new(now),
            last_tx: None,
            last_rx: None,
            last_immediate: None,
            last_poll_sent: None,
            last_sent: None,
            last_state_change: None,
            stats: SessionStats::default(),
            events: VecDeque::new(),
            rng,
            timer_slack_us: 0,
            grid_max_step_us: 0,
            grid_epoch: None,
            config,
        };
        session.refresh_transmit(now);
        Ok(session)
    }

    // ---- inputs ----

    /// Processes a received packet that the container matched to this session (§6.8.6 from the
    /// TTL and authentication checks on). `raw` is the packet's Length bytes, for the digest.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        ttl: Option<u8>,
        multihop_port: bool,
        packet: &ControlPacket,
        raw: &[u8],
    ) -> Result<(), RxError> {
        let result = self.accept(ttl, multihop_port, packet, raw);
        if result.is_err() {
            self.stats.rx_errors += 1;
            return result;
        }
        self.stats.rx_packets += 1;
        self.last_rx = self.stamp(now);
        let old_interval = self.transmit_interval();

        self.remote.discriminator = packet.my_discriminator;
        self.remote.state = packet.state;
        self.remote.diag = packet.diag;
        self.remote.demand = packet.demand;
        self.remote.min_rx = from_micros(packet.required_min_rx);
        self.remote.desired_min_tx = from_micros(packet.desired_min_tx);
        self.remote.min_echo_rx = from_micros(packet.required_min_echo_rx);
        self.remote.detect_mult = packet.detect_mult;

        if packet.final_ {
            self.finish_poll(now);
        }
        // §6.8.3: a changed Required Min RX of the peer is honoured from the next packet on.
        self.after_interval_change(now, old_interval);
        self.arm_detection();

        if self.state == State::AdminDown {
            // §6.8.6: discarded once the remote variables are updated; no Final either.
            self.refresh_transmit(now);
            return Ok(());
        }

        match (self.state, packet.state) {
            (State::Init | State::Up, State::AdminDown) => {
                self.transition(now, State::Down, Diagnostic::NeighborSignaledSessionDown)
            }
            (State::Down, State::Down) => self.transition(now, State::Init, self.local_diag),
            (State::Down, State::Init) | (State::Init, State::Init | State::Up) => {
                self.transition(now, State::Up, Diagnostic::NoDiagnostic)
            }
            (State::Up, State::Down) => {
                self.transition(now, State::Down, Diagnostic::NeighborSignaledSessionDown)
            }
            _ => {}
        }

        if packet.poll {
            self.final_pending = true;
        }
        self.refresh_transmit(now);
        Ok(())
    }

    /// The checks of §6.8.6 that need this session: TTL, hop mode, authentication.
    fn accept(
        &mut self,
        ttl: Option<u8>,
        multihop_port: bool,
        packet: &ControlPacket,
        raw: &[u8],
    ) -> Result<(), RxError> {
        let (min_ttl, kind) = match self.config.hop_mode {
            HopMode::SingleHop => (255, "single-hop"),
            HopMode::MultiHop { min_ttl } => (min_ttl, "multihop"),
        };
        if multihop_port != self.config.hop_mode.is_multihop() {
            return Err(RxError::HopModeMismatch {
                expected: kind,
                got: if multihop_port {
                    "multihop"
                } else {
                    "single-hop"
                },
            });
        }
        // RFC 5881 §5: without the TTL the GTSM check cannot be made, so the packet cannot be
        // trusted to come from the link.
        let ttl = ttl.ok_or(RxError::TtlUnknown)?;
        if ttl < min_ttl {
            return Err(RxError::Ttl { ttl, min: min_ttl });
        }
        match (&mut self.auth, packet.auth.is_some()) {
            (None, false) => Ok(()),
            (None, true) => Err(RxError::AuthUnexpected),
            (Some(auth), _) => auth.check(packet, raw),
        }
    }

    /// Acts on every deadline that is due at `now`. Transmission is left to `poll_transmit`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let at = self.timers.origin().stamp(now);
        if self.timers.is_due(Timer::Detect, at) {
            self.timers.stop(Timer::Detect);
            self.detection_expired(now);
        }
        if self.timers.is_due(Timer::AuthSeqReset, at) {
            self.timers.stop(Timer::AuthSeqReset);
            if let Some(auth) = &mut self.auth {
                auth.seq_known = false;
            }
        }
    }

    /// §6.8.4: no packet for a detection time.
    fn detection_expired(&mut self, now: Instant) {
        // §6.8.1: forget the peer. A passive session goes quiet until it speaks again. First,
        // so that going Down slows the session without a Poll: a silent peer cannot answer
        // one, and Polls sent into the silence would count as Finals in flight when it came
        // back, delaying the sequence of coming Up.
        self.remote.discriminator = 0;
        self.remote.state = State::Down;
        self.remote.demand = false;
        if matches!(self.state, State::Init | State::Up) {
            self.transition(now, State::Down, Diagnostic::ControlDetectionTimeExpired);
        }
        if self.poll.is_some() {
            // One running already (a change made during the silence): nobody to answer it.
            // Not Up, the advertised values are already the ones in use.
            self.retire_polls();
            self.poll = None;
        }
        // §6.8.18: after a Detection Time of silence, send at the rate we would to a new peer.
        let old_interval = self.transmit_interval();
        self.remote.min_rx = Duration::from_micros(1);
        self.after_interval_change(now, old_interval);
        self.refresh_transmit(now);
    }

    /// Applies a new configuration: new intervals start a Poll sequence when Up (§6.8.3),
    /// AdminDown follows `admin_down`.
    pub fn set_config(&mut self, now: Instant, config: SessionConfig) -> Result<(), InsertError> {
        validate(&config)?;
        if config.auth != self.config.auth {
            self.auth = match (self.auth.take(), config.auth.clone()) {
                // A new key continues the sequence: the peer's replay window still expects
                // it (§6.7.3, §6.7.4 "incremented"), and a jump would drop the session there.
                (Some(mut running), Some(key)) => {
                    running.rekey(key);
                    Some(running)
                }
                (None, Some(key)) => Some(Box::new(AuthState::new(key, self.rng.gen()))),
                (_, None) => None,
            };
        }
        let admin_down = config.admin_down;
        self.config = config;
        self.set_admin_down(now, admin_down);
        self.apply_intervals(now);
        self.refresh_transmit(now);
        Ok(())
    }

    /// §6.8.16: `true` holds the session in AdminDown with diag 7; `false` releases it to Down.
    pub fn set_admin_down(&mut self, now: Instant, admin_down: bool) {
        self.config.admin_down = admin_down;
        match (admin_down, self.state) {
            (true, State::AdminDown) | (false, State::Down | State::Init | State::Up) => {}
            // The detection timer keeps running: §6.8.1's forgetting of a silent peer (its
            // discriminator, its sequence number) holds in every state, and a peer that
            // restarted while we were AdminDown must be reachable when we come back.
            (true, _) => self.transition(now, State::AdminDown, Diagnostic::AdministrativelyDown),
            (false, State::AdminDown) => {
                self.transition(now, State::Down, Diagnostic::NoDiagnostic);
            }
        }
        self.refresh_transmit(now);
    }

    /// Goes AdminDown and makes the next `poll_transmit` send it at once, whatever the schedule:
    /// used when the daemon exits, so peers see AdminDown instead of waiting out a timeout.
    pub fn shutdown(&mut self, now: Instant) {
        self.set_admin_down(now, true);
        // Nothing is read any more: a detection timeout now would forget the peer, and the
        // AdminDown still to go out (a drain) would lose its Your Discriminator, or, passive,
        // stop altogether.
        self.timers.stop(Timer::Detect);
        // §6.8.7: a passive session that knows no peer MUST NOT transmit, not even this.
        if !(self.config.passive && self.remote.discriminator == 0) {
            self.timers.set(Timer::Immediate, now);
        }
    }

    // ---- outputs ----

    /// The next packet to send, written into `buf` (cleared first), if one is due at `now`.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<ControlPacket> {
        let at = self.timers.origin().stamp(now);
        let due =
            self.timers.is_due(Timer::Immediate, at) || self.timers.is_due(Timer::Transmit, at);
        if !due {
            return None;
        }
        let packet = self.build_packet();
        buf.clear();
        packet.emit(buf);
        if let Some(auth) = &self.auth {
            auth.sign(buf);
        }
        if packet.poll {
            if let Some(poll) = &mut self.poll {
                poll.current_values_sent = true;
                self.unanswered_polls = self.unanswered_polls.saturating_add(1);
                self.last_poll_sent = Some(at);
            }
        }
        // Out-of-schedule packets leave the periodic schedule alone (§6.5: a Final is
        // "independent of any periodic BFD Control packets"): if they pushed it back, a peer
        // polling steadily would hear only Finals, and lost Finals would look like silence.
        if self.timers.is_due(Timer::Transmit, at) {
            self.last_tx = Some(at);
            self.schedule_periodic(now);
        } else {
            self.last_immediate = Some(at);
        }
        self.final_pending = false;
        self.timers.stop(Timer::Immediate);
        self.last_sent = Some(self.contents());
        self.stats.tx_packets += 1;
        Some(packet)
    }

    /// How the periodic packet that `poll_transmit(now)` would send keeps its schedule; `None`
    /// when no periodic packet is due, and for the first packet of a (re)start, whose time was
    /// not drawn from a previous one: its delay is how long the caller took to start the session
    /// (at start-up with thousands of sessions, tens of milliseconds for each), not a gap.
    #[must_use]
    pub fn punctuality(&self, now: Instant) -> Option<Punctuality> {
        let at = self.timers.get(Timer::Transmit).filter(|&at| at <= now)?;
        let last = self.moment(self.last_tx)?;
        let top = last + self.transmit_interval() * self.window_top_permille() / 1000;
        if at > top {
            return None;
        }
        Some(Punctuality {
            delay: now - at,
            late: now > top,
        })
    }

    /// The top of the §6.8.7 window, in thousandths of the interval: 90% with a Detect Mult
    /// of 1, else 100%.
    fn window_top_permille(&self) -> u32 {
        if self.detect_mult == 1 {
            900
        } else {
            1000
        }
    }

    /// The earliest deadline: when `handle_timeout` or `poll_transmit` has work.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        // refresh_transmit keeps the Transmit timer stopped whenever transmission is disabled.
        self.timers.next()
    }

    /// The next event, oldest first.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ---- state read by the daemon ----

    /// bfd.SessionState
    pub fn state(&self) -> State {
        self.state
    }
    /// bfd.LocalDiag
    pub fn local_diag(&self) -> Diagnostic {
        self.local_diag
    }
    /// bfd.LocalDiscr
    pub fn local_discriminator(&self) -> u32 {
        self.local_discr
    }
    /// Whether the session may take a discriminator its peer addresses in place of its own:
    /// Down and never having accepted a packet (so no peer knows the current one; a timeout
    /// forgets the peer's discriminator, not that it was heard), and without authentication
    /// (which would have to vouch for the packet before the change).
    pub(crate) fn may_adopt_discriminator(&self) -> bool {
        self.state == State::Down && self.stats.rx_packets == 0 && self.auth.is_none()
    }
    pub(crate) fn set_local_discriminator(&mut self, discriminator: u32) {
        self.local_discr = discriminator;
    }
    /// What the peer last told us.
    pub fn remote(&self) -> &RemoteParams {
        &self.remote
    }
    /// The configuration in force.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }
    /// Counters.
    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }
    /// When the state last changed, if ever.
    pub fn last_state_change(&self) -> Option<Instant> {
        self.moment(self.last_state_change)
    }
    /// Whether a Poll sequence is running.
    pub fn poll_active(&self) -> bool {
        self.poll.is_some()
    }
    /// Desired Min TX as currently advertised (at least 1 s while not Up).
    pub fn advertised_desired_min_tx(&self) -> Duration {
        self.desired_min_tx.duration()
    }
    /// Required Min RX as currently advertised.
    pub fn advertised_required_min_rx(&self) -> Duration {
        self.required_min_rx.duration()
    }

    /// §6.8.7: the interval between periodic packets before jitter, the larger of our Desired
    /// Min TX (as in use) and the peer's Required Min RX.
    pub fn transmit_interval(&self) -> Duration {
        self.tx_interval_basis.duration().max(self.remote.min_rx)
    }

    /// §6.8.4: the peer's Detect Mult times the larger of our Required Min RX (as in use) and
    /// its Desired Min TX. `None` before the peer has been heard.
    pub fn detection_time(&self) -> Option<Duration> {
        if self.remote.detect_mult == 0 {
            return None;
        }
        let basis = self.detect_basis.duration().max(self.remote.desired_min_tx);
        Some(basis * u32::from(self.remote.detect_mult))
    }

    // ---- internals ----

    fn transition(&mut self, now: Instant, new: State, diag: Diagnostic) {
        let old = self.state;
        self.local_diag = diag;
        if old == new {
            return;
        }
        self.state = new;
        self.last_state_change = self.stamp(now);
        if new == State::Up {
            self.stats.up_count += 1;
        } else if old == State::Up {
            self.stats.down_count += 1;
        }
        self.events
            .push_back(Event::StateChanged { old, new, diag });
        self.apply_intervals(now);
    }

    /// Recomputes the advertised intervals from the configuration and state (§6.8.3): the slow
    /// one-second Desired Min TX while not Up, the configured one once Up. A change is announced
    /// by a Poll sequence; while Up, what is unsafe before the peer knows waits for the Final.
    fn apply_intervals(&mut self, now: Instant) {
        let desired = if self.state == State::Up {
            self.config.desired_min_tx
        } else {
            self.config.desired_min_tx.max(SLOW_TX_INTERVAL)
        };
        let (desired, required) = (Micros::of(desired), Micros::of(self.config.required_min_rx));
        let up = self.state == State::Up;
        if self.config.detect_mult != self.detect_mult {
            // §6.8.12: sent with the next packet, no Poll needed, unless the peer is in Demand
            // mode and would otherwise never hear it (§6.6).
            self.detect_mult = self.config.detect_mult;
            if self.remote_demand_active() && self.poll.is_none() {
                self.start_poll();
            }
        }
        if desired == self.desired_min_tx && required == self.required_min_rx {
            if !up {
                // Values that waited for a Final while Up apply now: only Up holds them back.
                self.use_advertised_intervals(now);
            }
            return;
        }
        if up && self.poll.is_some_and(|p| p.current_values_sent) {
            // Every Poll of a sequence carries the same values, so whichever Poll a Final
            // answers, the peer has them. Newer values wait for that Final (`finish_poll`) and
            // then get a sequence of their own.
            return;
        }
        let old_interval = self.transmit_interval();
        self.desired_min_tx = desired;
        self.required_min_rx = required;
        if up {
            // Safe before the peer knows: sending faster, and waiting longer before declaring
            // the peer dead. The rest takes effect at the Final.
            self.tx_interval_basis = self.tx_interval_basis.min(desired);
            self.detect_basis = self.detect_basis.max(required);
        } else {
            self.tx_interval_basis = desired;
            self.detect_basis = required;
        }
        // §6.8.3: any change is announced by a Poll, whenever there is a peer to answer it.
        if up || self.remote.discriminator != 0 {
            self.start_poll();
        } else {
            self.retire_polls();
            self.poll = None;
        }
        self.after_interval_change(now, old_interval);
    }

    /// The advertised intervals become the ones in use, as the Final of their Poll makes them.
    fn use_advertised_intervals(&mut self, now: Instant) {
        if self.tx_interval_basis == self.desired_min_tx
            && self.detect_basis == self.required_min_rx
        {
            return;
        }
        let old_interval = self.transmit_interval();
        self.tx_interval_basis = self.desired_min_tx;
        self.detect_basis = self.required_min_rx;
        self.after_interval_change(now, old_interval);
    }

    /// Starts (or restarts) a Poll sequence for the values advertised now.
    fn start_poll(&mut self) {
        self.retire_polls();
        self.poll = Some(PollSequence {
            current_values_sent: false,
        });
    }

    /// `at` as the session keeps it.
    fn stamp(&self, at: Instant) -> Option<Stamp> {
        Some(self.timers.origin().stamp(at))
    }

    /// A kept moment back as an `Instant`.
    fn moment(&self, stamp: Option<Stamp>) -> Option<Instant> {
        stamp.map(|s| self.timers.origin().instant(s))
    }

    /// Polls already sent belong to an older sequence: their Finals must not count for the next.
    fn retire_polls(&mut self) {
        if self.unanswered_polls > 0 {
            self.stale_finals = self.stale_finals.saturating_add(self.unanswered_polls);
            self.unanswered_polls = 0;
            // A Final later than a Detection Time after our last Poll is no longer in flight.
            let window = self.detection_time().unwrap_or(SLOW_TX_INTERVAL * 3);
            self.stale_until = self.last_poll_sent.map(|t| t.after(window));
        }
    }

    /// A Final arrived (§6.5): the peer knows our new values, so all of them take effect.
    fn finish_poll(&mut self, now: Instant) {
        if self.stale_finals > 0 && self.moment(self.stale_until).is_some_and(|t| now < t) {
            // The answer to a Poll of an earlier sequence, carrying earlier values.
            self.stale_finals -= 1;
            return;
        }
        self.stale_finals = 0;
        if !self.poll.is_some_and(|p| p.current_values_sent) {
            return;
        }
        self.poll = None;
        // This Final answers one of our Polls; the others may still draw Finals.
        self.unanswered_polls = self.unanswered_polls.saturating_sub(1);
        self.retire_polls();
        self.events.push_back(Event::PollCompleted);
        self.use_advertised_intervals(now);
        // Values changed while the sequence ran get their own.
        self.apply_intervals(now);
    }

    fn arm_detection(&mut self) {
        match (self.last_rx, self.detection_time()) {
            (Some(last_rx), Some(detect)) => {
                self.timers.set_stamp(Timer::Detect, last_rx.after(detect));
                self.timers
                    .set_stamp(Timer::AuthSeqReset, last_rx.after(2 * detect));
            }
            _ => self.timers.stop(Timer::Detect),
        }
        if self.auth.is_none() {
            self.timers.stop(Timer::AuthSeqReset);
        }
    }

    /// After the intervals in use changed: the detection deadline moves with the detection time,
    /// and the next packet is rescheduled from the last one (§6.8.7 "recalculated"), sooner for
    /// a shorter interval, later for a longer one so we never send faster than now allowed. A
    /// time already past becomes now: the packet was not due before the change, and is not late
    /// (coming Up, the last packet of the one-second pace may be most of a second back).
    fn after_interval_change(&mut self, now: Instant, old_interval: Duration) {
        if self.timers.is_set(Timer::Detect) {
            self.arm_detection();
        }
        if self.transmit_interval() == old_interval {
            return;
        }
        if let (Some(last_tx), Some(_)) =
            (self.moment(self.last_tx), self.timers.get(Timer::Transmit))
        {
            let next = self
                .next_periodic(last_tx, self.transmit_interval())
                .max(now);
            self.timers.set(Timer::Transmit, next);
        }
    }

    /// §6.8.7: periodic packets only when the peer wants them and, in the passive role, once
    /// the peer has been heard.
    fn transmit_enabled(&self) -> bool {
        if self.config.passive && self.remote.discriminator == 0 {
            return false;
        }
        if self.remote.min_rx.is_zero() {
            return false;
        }
        !(self.remote_demand_active() && self.poll.is_none())
    }

    /// §6.8.7: Demand mode is active on the remote system.
    fn remote_demand_active(&self) -> bool {
        self.remote.demand && self.state == State::Up && self.remote.state == State::Up
    }

    /// Keeps the transmit deadlines in step with the state after any input.
    fn refresh_transmit(&mut self, now: Instant) {
        if !self.transmit_enabled() {
            self.timers.stop(Timer::Transmit);
            // §6.8.7: a Final is owed whatever the peer's demand or rate; nothing else is sent.
            if self.final_pending {
                self.arm_immediate(now);
            } else {
                self.timers.stop(Timer::Immediate);
            }
            return;
        }
        if !self.timers.is_set(Timer::Transmit) {
            // Starting (or restarting) periodic transmission: the first packet goes now.
            self.timers.set(Timer::Transmit, now);
        }
        // §6.8.7: a packet whose contents changed SHOULD go out before the next periodic one.
        if self.final_pending || self.last_sent.is_some_and(|c| c != self.contents()) {
            self.arm_immediate(now);
        }
    }

    fn arm_immediate(&mut self, now: Instant) {
        let spacing = MIN_IMMEDIATE_SPACING.min(self.desired_min_tx.duration());
        let at = match self.moment(self.last_immediate) {
            Some(last) => now.max(last + spacing),
            None => now,
        };
        let at = match self.timers.get(Timer::Immediate) {
            Some(existing) => existing.min(at),
            None => at,
        };
        self.timers.set(Timer::Immediate, at);
    }

    fn schedule_periodic(&mut self, now: Instant) {
        if self.transmit_enabled() {
            let next = self.next_periodic(now, self.transmit_interval());
            self.timers.set(Timer::Transmit, next);
        } else {
            self.timers.stop(Timer::Transmit);
        }
    }

    /// When the next periodic packet is due, `base` being the last one's departure: a random
    /// point of the jitter window, moved to the transmit grid if there is one.
    fn next_periodic(&mut self, base: Instant, interval: Duration) -> Instant {
        let (lo, hi) = self.jitter_window_us(interval);
        let drawn = base + Duration::from_micros(self.rng.gen_range(lo..=hi));
        let step = grid_step((interval / 32).min(from_micros(self.grid_max_step_us)));
        match self.moment(self.grid_epoch) {
            Some(epoch) if !step.is_zero() => on_grid(
                drawn,
                epoch,
                step,
                base + Duration::from_micros(lo),
                base + Duration::from_micros(hi),
            ),
            _ => drawn,
        }
    }

    /// §6.8.7: 75-100% of the interval, or 75-90% with a Detect Mult of 1, narrowed by the
    /// timer slack: the top by all of it (the packet leaves up to that late), the bottom by a
    /// quarter (the previous packet of a busy wake-up may itself have left a little late). The
    /// slack takes at most two fifths of the window, so short intervals stay jittered over half
    /// of theirs.
    fn jitter_window_us(&self, interval: Duration) -> (u64, u64) {
        let interval_us = u64::try_from(interval.as_micros()).unwrap_or(u64::MAX / 1000);
        let window_lo = interval_us * 750 / 1000;
        let window_hi = interval_us * u64::from(self.window_top_permille()) / 1000;
        let slack = u64::from(self.timer_slack_us).min((window_hi - window_lo) * 2 / 5);
        (window_lo + slack / 4, window_hi - slack)
    }

    /// See [`Sessions::set_timer_slack`](crate::Sessions::set_timer_slack).
    pub fn set_timer_slack(&mut self, slack: Duration) {
        self.timer_slack_us = micros(slack);
    }

    /// Aligns this session's periodic packets to a grid from `epoch` with steps of a power of
    /// two milliseconds from 2 ms, at most `max_step` and at most 1/32 of the interval (so the
    /// jitter window keeps eight or more grid points). Zero turns alignment off. See
    /// [`Sessions::align_transmissions`](crate::Sessions::align_transmissions).
    pub fn set_transmit_grid(&mut self, epoch: Instant, max_step: Duration) {
        self.grid_epoch = self.stamp(epoch);
        self.grid_max_step_us = micros(max_step);
    }

    fn contents(&self) -> Contents {
        Contents {
            state: self.state,
            diag: self.local_diag,
            your_discriminator: self.remote.discriminator,
            detect_mult: self.detect_mult,
        }
    }

    /// §6.8.7: the contents of a transmitted packet.
    fn build_packet(&mut self) -> ControlPacket {
        let final_ = self.final_pending;
        ControlPacket {
            diag: self.local_diag,
            state: self.state,
            // Never both: a Final goes out alone, the next packet carries the Poll (§6.5).
            poll: self.poll.is_some() && !final_,
            final_,
            control_plane_independent: false,
            // bfd.DemandMode is always 0: OVN latches the D bit and goes silent.
            demand: false,
            detect_mult: self.detect_mult,
            my_discriminator: self.local_discr,
            your_discriminator: self.remote.discriminator,
            desired_min_tx: self.desired_min_tx.0,
            required_min_rx: self.required_min_rx.0,
            // No Echo function: RFC 5880 §6.8.9 / RFC 5881 §4 say advertise zero.
            required_min_echo_rx: 0,
            auth: self.auth.as_mut().and_then(|a| a.next_section()),
        }
    }
}

fn validate(config: &SessionConfig) -> Result<(), InsertError> {
    if config.detect_mult == 0 {
        return Err(InsertError::ZeroDetectMult);
    }
    let fits = |d: Duration| d.as_micros() <= u128::from(u32::MAX);
    if config.desired_min_tx.as_micros() == 0
        || !fits(config.desired_min_tx)
        || !fits(config.required_min_rx)
    {
        return Err(InsertError::BadInterval);
    }
    if let Some(key) = &config.auth {
        let max = key.auth_type.max_key_len();
        if key.secret.is_empty() || key.secret.len() > max {
            return Err(InsertError::BadKey {
                auth_type: key.auth_type,
                len: key.secret.len(),
                max,
            });
        }
    }
    Ok(())
}
