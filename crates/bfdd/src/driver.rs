//! The driver: one task owning every session and one timer, in the manner of quinn's endpoint
//! driver. It waits for a datagram, the next deadline, a control request or a signal, feeds it
//! to the core, then sends what the core wants sent and logs what changed.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use bfd_control::{Request, Response};
use bfd_core::{Event, SessionId, Sessions, State};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::control::{Answer, ControlRequest, ReadinessSource};
use crate::figures::{DaemonFigures, FiguresRequest};
use crate::net::{self, RxSocket};
use crate::peers::Peers;
use crate::reload::ReloadRequest;
use crate::routes::RouteHandle;
use crate::status;

/// `recvmmsg` calls on one socket per turn of the driver loop.
const RX_BATCHES_PER_TURN: usize = 4;
/// How late a periodic packet may leave and still land inside the §6.8.7 window: periodic
/// packets are drawn that much inside it (at most 2/5 of it, so short intervals stay
/// jittered: 5 ms at 50 ms). tokio's timer alone wakes up to 2 ms late (its wheel rounds a
/// deadline up to the next millisecond and the poll timeout rounds up once more), and a busy
/// node keeps the thread waiting for a CPU for several milliseconds more: bfdd's own delay
/// histogram at 10,000 x 300 ms counted hundreds of packets 5-10 ms late a minute, none later.
const TIMER_SLACK: Duration = Duration::from_millis(10);
/// Packets one point of the transmit grid may carry at the configured rates: one
/// `sendmmsg` of the raw sender, and few enough for a peer's default receive buffer.
const MAX_ALIGNED_BURST: u32 = crate::batch_send::BATCH as u32;
/// How late the driver may serve a deadline before it reads its sockets itself rather than
/// trusting tokio's readiness: tokio's timer alone wakes up to 2 ms late.
const HELD_UP: Duration = Duration::from_millis(2);
/// Datagrams a turn of the loop must read for the next turn to coalesce receives.
///
/// Coalescing: while periodic packets go out on a grid (moderate rates; none at 50 ms or at
/// 10,000 x 300 ms) and datagrams come in bursts, the thread stops waiting for the sockets. It
/// sleeps until its next deadline, at most one grid step, then reads the sockets that hold
/// datagrams, so the peers' packets cost a wake-up per grid point rather than one per burst
/// (at 1,000 x 300 ms 126 wake-ups a second instead of 1,600, and 16% less CPU). The price: a
/// datagram waits up to one grid step (2-16 ms; 8 ms at 300 ms) before it is read, so a
/// Poll's Final and a peer's Down are answered that much later. Detection is unchanged: arrival stamps, and the
/// sockets are read before any deadline is served. With a trickle of packets (a turn reads
/// one) the loop waits for the sockets as before: a wake-up per packet is then cheaper than
/// one per grid point.
const COALESCE_FROM: usize = 2;
/// How often peers that could not start (missing interface) are retried.
const RETRY_INTERVAL: Duration = Duration::from_secs(5);
/// How soon the socket check goes on while broken sessions wait for its budget.
const RECHECK_INTERVAL: Duration = Duration::from_millis(250);
/// How far behind the driver's timer its shadow runs: one tick of tokio's timer wheel.
const SHADOW_LAG: Duration = Duration::from_millis(1);

/// The current time as the core sees it. Taken from tokio's clock so paused-time tests work.
pub fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Why the driver woke.
enum Wake {
    Shutdown,
    Rx(usize),
    RxError(usize, std::io::Error),
    Timer,
    /// The shadow timer fired: the thread was late for the real one.
    Shadow,
    Control(Option<ControlRequest>),
    Figures(Option<FiguresRequest>),
    Reload(ReloadRequest),
    Retry,
    /// The socket check goes on (broken sessions were left for want of budget).
    Recheck,
    /// Coalescing: the thread slept until a grid point; every socket is read.
    Tick,
}

/// Everything the driver owns.
pub struct Driver {
    /// The running configuration less its peers, whose settings live in `peers`.
    config: Config,
    sessions: Sessions,
    peers: Peers,
    rx: Vec<RxSocket>,
    tx_buf: Vec<u8>,
    dropped: Vec<(&'static str, u64)>,
    routes: Option<RouteHandle>,
    ready: ReadinessSource,
    /// Datagrams read in this turn of the loop, which decide whether the next one coalesces.
    read_this_turn: usize,
    /// An IPv4 policy routing rule that appeared after start ([`crate::policy_rules::watch`]).
    policy_rule: Option<Arc<OnceLock<String>>>,
}

impl Driver {
    /// Starts every configured peer. `rx` are the bound listening sockets; `routes` the route
    /// installer, told whenever a gateway's sessions come Up or go down.
    pub fn new(
        config: Config,
        rx: Vec<RxSocket>,
        peers: Peers,
        routes: Option<RouteHandle>,
        ready: ReadinessSource,
        seed: u64,
    ) -> Driver {
        let mut sessions = Sessions::new(seed);
        sessions.set_timer_slack(TIMER_SLACK);
        let mut driver = Driver {
            sessions,
            peers,
            rx,
            tx_buf: Vec::with_capacity(64),
            dropped: bfd_core::RxError::REASONS.map(|r| (r, 0)).to_vec(),
            routes,
            ready,
            config,
            read_this_turn: 0,
            policy_rule: None,
        };
        let now = now();
        let gateways = route_gateways(&driver.config);
        driver.peers.set_gateways(&driver.sessions, gateways);
        driver.fit_receive_buffers(&driver.config.peers);
        // The peers' settings move into the session tables; the driver keeps the rest.
        let peers_config = std::mem::take(&mut driver.config.peers);
        driver
            .peers
            .apply(now, &mut driver.sessions, peers_config, &mut driver.tx_buf);
        driver.align_transmissions(now);
        driver.flush(now);
        driver
    }

    /// Stops batched sending once `found` holds a policy routing rule (checked every retry
    /// tick).
    pub fn watch_policy_rules(&mut self, found: Arc<OnceLock<String>>) {
        self.policy_rule = Some(found);
    }

    /// Runs until `shutdown` completes, then sends AdminDown to every peer.
    pub async fn run(
        mut self,
        shutdown: impl Future<Output = ()>,
        mut control: mpsc::Receiver<ControlRequest>,
        mut figures: mpsc::Receiver<FiguresRequest>,
        mut reload: mpsc::Receiver<ReloadRequest>,
    ) {
        if let Some(priority) = self.config.daemon.realtime_priority {
            match crate::realtime::enter(priority) {
                Ok(()) => info!(priority, "sessions run at real-time priority (SCHED_FIFO)"),
                Err(e) => warn!(
                    priority,
                    error = %e,
                    "cannot run sessions at real-time priority (needs CAP_SYS_NICE, and real-time runtime in the cgroup where the kernel has RT group scheduling); running at normal priority"
                ),
            }
        }
        let mut shutdown = pin!(shutdown);
        let mut sleep = pin!(tokio::time::sleep(Duration::from_secs(3600)));
        let mut armed: Option<Instant> = None;
        let mut shadow = pin!(tokio::time::sleep(Duration::from_secs(3600)));
        let mut shadow_armed = false;
        let (mut control_open, mut figures_open) = (true, true);
        let mut rx_broken = [false; 4];
        let mut retry = tokio::time::interval(RETRY_INTERVAL);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut recheck = pin!(tokio::time::sleep(Duration::ZERO));
        let mut recheck_armed = false;
        let mut coalescing = false;
        loop {
            if coalescing {
                self.sleep_until_grid_point();
                // Lets tokio see to its timers, signals and the other tasks, and to its
                // sockets: before it polls this task again the runtime asks epoll, without
                // blocking, what became readable, so the reads below skip the quiet sockets.
                tokio::task::yield_now().await;
            }
            let next = self.sessions.poll_timeout();
            if next != armed {
                let at = next.map_or_else(
                    || tokio::time::Instant::now() + Duration::from_secs(3600),
                    tokio::time::Instant::from_std,
                );
                if armed.is_some_and(|old| next.is_none_or(|new| new > old)) {
                    // Pushed back (served on a wake-up for a packet): a fresh timer, since
                    // tokio leaves a timer reset to later in its old slot of the wheel and
                    // wakes the thread there for nothing.
                    sleep.set(tokio::time::sleep_until(at));
                } else {
                    sleep.as_mut().reset(at);
                }
                // A timer a tick behind the real one: when the real one fires, tokio still
                // holds this one, no later than our next deadline, so re-arming ours is not
                // "earlier than anything held" and tokio does not wake its own driver (an
                // eventfd write and an extra turn of the loop, hundreds a second).
                shadow.set(tokio::time::sleep_until(at + SHADOW_LAG));
                shadow_armed = next.is_some();
                armed = next;
            }
            let wake = tokio::select! {
                biased;
                () = &mut shutdown => Wake::Shutdown,
                () = &mut sleep, if armed.is_some() => Wake::Timer,
                () = &mut shadow, if shadow_armed => Wake::Shadow,
                // Ahead of the sockets, so that a flood of datagrams (a socket readable at
                // every turn) cannot hold off the operator, reloads and the socket repairs;
                // each client has one request in flight, so they cannot hold off the sockets.
                req = control.recv(), if control_open => Wake::Control(req),
                req = figures.recv(), if figures_open => Wake::Figures(req),
                Some(request) = reload.recv() => Wake::Reload(request),
                _ = retry.tick() => Wake::Retry,
                () = &mut recheck, if recheck_armed => Wake::Recheck,
                r = readable(self.rx.first().filter(|_| !rx_broken[0] && !coalescing)) => r.map_or_else(|e| Wake::RxError(0, e), |()| Wake::Rx(0)),
                r = readable(self.rx.get(1).filter(|_| !rx_broken[1] && !coalescing)) => r.map_or_else(|e| Wake::RxError(1, e), |()| Wake::Rx(1)),
                r = readable(self.rx.get(2).filter(|_| !rx_broken[2] && !coalescing)) => r.map_or_else(|e| Wake::RxError(2, e), |()| Wake::Rx(2)),
                r = readable(self.rx.get(3).filter(|_| !rx_broken[3] && !coalescing)) => r.map_or_else(|e| Wake::RxError(3, e), |()| Wake::Rx(3)),
                () = std::future::ready(()), if coalescing => Wake::Tick,
            };
            self.read_this_turn = 0;
            let now = now();
            self.ready.heartbeat.beat(now);
            match wake {
                Wake::Shutdown => break,
                Wake::Timer => {
                    if let Some(deadline) = armed.take() {
                        self.serve_due(now, deadline, &rx_broken);
                    }
                }
                // Only when the thread ran late: the due deadlines are served below.
                Wake::Shadow => shadow_armed = false,
                Wake::Rx(i) => self.drain_socket(i, false),
                // A deadline due now reads the sockets below, before it is served.
                Wake::Tick if armed.is_some_and(|at| at <= now) => {}
                Wake::Tick => self.drain_all(&rx_broken, false),
                Wake::RxError(i, e) => {
                    // Readiness itself failed: the socket is unusable, and polling it again would
                    // spin. Sessions on the other sockets keep running.
                    warn!(socket = i, error = %e, "receive socket failed; no longer listening on it");
                    rx_broken[i] = true;
                }
                Wake::Control(Some((request, reply))) => {
                    let answer = self.handle_request(now, request);
                    // The client may have gone; that is its business.
                    let _ = reply.send(answer);
                }
                Wake::Figures(Some(FiguresRequest::Daemon(reply))) => {
                    let _ = reply.send(self.daemon_figures());
                }
                Wake::Figures(Some(FiguresRequest::Peers { from, reply })) => {
                    let _ = reply.send(status::figures_chunk(
                        now,
                        &self.peers,
                        &self.sessions,
                        from,
                    ));
                }
                // The services ended: stop listening to them, and keep running sessions
                // regardless.
                Wake::Control(None) => control_open = false,
                Wake::Figures(None) => figures_open = false,
                Wake::Reload(ReloadRequest { config, reply }) => {
                    let response = match self.reload(now, config) {
                        Ok(summary) => Response::Reloaded(summary),
                        Err(message) => Response::error(message),
                    };
                    if let Some(reply) = reply {
                        // The client may have gone; that is its business.
                        let _ = reply.send(Answer::Done(response));
                    }
                }
                Wake::Retry => {
                    let rule = self.policy_rule.as_ref().and_then(|found| found.get());
                    if let Some(rule) = rule.filter(|_| self.peers.stop_batching()) {
                        warn!(%rule, "batched transmit off: an IPv4 policy routing rule appeared, which the raw socket cannot follow; each session sends from its own socket");
                    }
                    if self.peers.retry_pending(now, &mut self.sessions) > 0 {
                        self.align_transmissions(now);
                    }
                    self.peers.retry_persist(&self.sessions);
                    recheck_armed = self.check_sockets(recheck.as_mut());
                }
                Wake::Recheck => recheck_armed = self.check_sockets(recheck.as_mut()),
            }
            // Read again: the turn may have run long (a reload of thousands of peers), and
            // deadlines that fell due meanwhile are served now.
            let now = self::now();
            // Deadlines already due are served now rather than when tokio's timer, which
            // turns only when the runtime parks, gets to them: under load the loop wakes for
            // packets far more often than once per millisecond.
            if let Some(deadline) = armed.filter(|&at| at <= now) {
                armed = None;
                self.serve_due(now, deadline, &rx_broken);
            }
            self.flush(now);
            coalescing = !self.sessions.transmit_grid_step().is_zero()
                && self.read_this_turn >= COALESCE_FROM;
        }
        let now = now();
        let withdraw = !self.config.routes.keep_on_exit;
        let drain = self.config.daemon.shutdown_drain;
        // With keep-on-exit the routes outlive bfdd, and with a drain they outlive the
        // AdminDown: either way it is no gateway failing, so the installer does not hear of it
        // (it would withdraw every `bfd = true` route at once).
        let kept = if withdraw && drain.is_zero() {
            None
        } else {
            self.routes.take()
        };
        self.sessions.shutdown(now);
        let sent = self
            .peers
            .send_due(|| now, &mut self.sessions, &mut self.tx_buf);
        self.drain_events(now);
        // A discriminator taken since the last tick is the one peers now hold (they heard
        // AdminDown from it): the next run must start with it.
        self.peers.retry_persist(&self.sessions);
        self.ready.status.send_modify(|r| {
            r.ready = false;
            r.problem = Some("stopping: AdminDown sent to every peer".into());
        });
        info!(
            sessions = self.sessions.len(),
            admin_down_sent = sent,
            drain = ?drain,
            "bfdd stopping"
        );
        if !drain.is_zero() {
            self.send_admin_down_for(now, drain).await;
        }
        // AdminDown first, so OVN stops using the gateway before its routes go.
        if let Some(routes) = self.routes.take().or(kept) {
            routes.shutdown(withdraw).await;
            info!(withdrawn = withdraw, "routes done");
        }
    }

    /// Keeps every session sending AdminDown at its pace (RFC 5880 §6.8.16: for at least a
    /// detection time) until `drain` has passed since `start`, or a second SIGTERM or SIGINT
    /// says not to wait. Nothing received matters now.
    async fn send_admin_down_for(&mut self, start: Instant, drain: Duration) {
        let until = start + drain;
        let again = crate::stop_signal();
        tokio::pin!(again);
        loop {
            // Never a deadline in the past: one that sending could not clear would spin.
            let next = self
                .sessions
                .poll_timeout()
                .map_or(until, |at| at.min(until))
                .max(now() + Duration::from_millis(1));
            tokio::select! {
                () = tokio::time::sleep_until(tokio::time::Instant::from_std(next)) => {}
                () = &mut again => {
                    info!("signalled again: the drain ends now");
                    return;
                }
            }
            let now = now();
            self.ready.heartbeat.beat(now);
            if now >= until {
                break;
            }
            self.sessions.handle_timeout(now);
            self.flush(now);
        }
        info!(drain = ?drain, "AdminDown sent throughout the drain");
    }

    /// Serves the deadlines due at `now`, the earliest of them `deadline`, after reading what
    /// the sockets hold. RFC 5880 §6.8.4 times the peer's silence, not our lateness: a packet
    /// that arrived before a detection deadline restarts it. A driver held up past its
    /// deadline (no CPU free, or the process stopped) finds such packets queued, and tokio may
    /// not know of them yet: serving the timer first took a peer that kept talking for dead.
    fn serve_due(&mut self, now: Instant, deadline: Instant, rx_broken: &[bool]) {
        let held_up = now.saturating_duration_since(deadline) > HELD_UP;
        self.drain_all(rx_broken, held_up);
        self.sessions.handle_timeout(now);
    }

    /// The retry tick's socket check ([`Peers::check_sockets`]); when it leaves broken
    /// sessions for want of budget, `again` is set to go on soon. Whether it was.
    fn check_sockets(&mut self, again: std::pin::Pin<&mut tokio::time::Sleep>) -> bool {
        let more = self.peers.check_sockets(&mut self.sessions);
        if more {
            again.reset(tokio::time::Instant::now() + RECHECK_INTERVAL);
        }
        more
    }

    fn drain_all(&mut self, rx_broken: &[bool], ask_kernel: bool) {
        for i in 0..self.rx.len() {
            if !rx_broken.get(i).copied().unwrap_or(false) {
                self.drain_socket(i, ask_kernel);
            }
        }
    }

    /// Coalescing: sleeps, outside the runtime so that arriving datagrams do not wake the
    /// thread, until the next deadline, at most one grid step. A control request or a scrape
    /// unparks it ([`crate::to_driver`]).
    fn sleep_until_grid_point(&mut self) {
        let step = self.sessions.transmit_grid_step();
        let now = now();
        let until = self
            .sessions
            .poll_timeout()
            .map_or(now + step, |next| next.min(now + step));
        let wait = until.saturating_duration_since(now);
        if !wait.is_zero() {
            std::thread::park_timeout(wait);
        }
    }

    /// Reads the queued datagrams of socket `i` and hands each to the core, timed by when it
    /// arrived: a packet that waited in the queue while the driver was busy still restarts the
    /// detection time from its arrival, as the peer meant.
    /// `ask_kernel` reads even when tokio has not seen the socket become readable.
    fn drain_socket(&mut self, i: usize, ask_kernel: bool) {
        // Bounded, so a flood on one socket cannot hold back timers: readiness stays set until
        // the socket is drained, so the rest is read on the next turn of the loop.
        for _ in 0..RX_BATCHES_PER_TURN {
            // Both clocks read now, as the batch is read: a kernel stamp converted against the
            // time a long turn started would date the packet too early, by as long as the turn
            // had run, and expire a session whose peer sent on time.
            let (now, wall_now) = (self::now(), SystemTime::now());
            let Some(socket) = self.rx.get_mut(i) else {
                return;
            };
            let (sessions, dropped) = (&mut self.sessions, &mut self.dropped);
            let each = |datagram: std::io::Result<(net::Received, &[u8])>| {
                let reason = match datagram {
                    Ok((received, payload)) => {
                        let at = arrival(now, wall_now, received.arrived);
                        match sessions.handle_datagram(at, &received.meta, payload) {
                            Ok(_) => return,
                            Err(e) => {
                                debug!(src = %received.meta.src, error = %e, "packet dropped");
                                e.reason()
                            }
                        }
                    }
                    Err(e) => {
                        debug!(error = %e, "unusable datagram");
                        "malformed"
                    }
                };
                count_drop(dropped, reason);
            };
            let read = if ask_kernel {
                socket.recv_batch_now(each)
            } else {
                socket.recv_batch(each)
            };
            match read {
                Ok(n) if n == net::RX_BATCH => self.read_this_turn += n,
                Ok(n) => {
                    self.read_this_turn += n;
                    return;
                }
                Err(e) => {
                    debug!(error = %e, "receive failed");
                    return;
                }
            }
        }
    }

    /// Sends what is due, each packet timed as it leaves, and reports what changed.
    fn flush(&mut self, now: Instant) {
        self.peers
            .send_due(self::now, &mut self.sessions, &mut self.tx_buf);
        self.drain_events(now);
    }

    /// Logs state changes and tells the route installer about gateways coming and going; `now`
    /// is the changes' timestamp, from which the withdraw latency is measured.
    fn drain_events(&mut self, now: Instant) {
        while let Some((id, event)) = self.sessions.poll_event() {
            match event {
                Event::StateChanged { old, new, diag } => {
                    self.log_state_change(id, old, new, diag);
                    self.peers.note_transition(&self.sessions, id, old, new);
                }
                Event::DiscriminatorAdopted { old, new } => {
                    self.peers.note_adopted(&self.sessions, id, old, new);
                }
                Event::PollCompleted => {}
            }
        }
        self.report_gateways(now);
    }

    fn report_gateways(&mut self, now: Instant) {
        for (gateway, up) in self.peers.take_gateway_changes() {
            if let Some(routes) = &self.routes {
                routes.session_changed(gateway, up, now);
            }
        }
    }

    fn log_state_change(&self, id: SessionId, old: State, new: State, diag: bfd_core::Diagnostic) {
        if let Some(config) = self.peers.config_of(&self.sessions, id) {
            crate::logging::state_change(&config, old, new, diag);
        }
    }

    fn handle_request(&mut self, now: Instant, request: Request) -> Answer {
        let response = match request {
            // The control server writes `peers` from figures it takes in chunks itself.
            Request::Peers => Response::error("`peers` is not answered by the driver"),
            Request::Peer {
                address,
                local,
                interface,
                multihop,
            } => match status::peer_detail(
                now,
                &self.peers,
                &self.sessions,
                &address,
                local.as_deref(),
                interface.as_deref(),
                multihop,
            ) {
                Ok(detail) => Response::Peer {
                    peer: Box::new(detail),
                },
                Err(message) => Response::error(message),
            },
            Request::Ready => Response::Ready(self.ready.status.borrow().clone()),
            // The control server reads the file first and sends it as a ReloadRequest.
            Request::Reload => Response::error("reload is answered by the control server"),
            Request::Version => Response::Version {
                version: env!("CARGO_PKG_VERSION").to_string(),
            },
            // The control server asks the route installer itself; nothing sends it here.
            Request::Routes => Response::error("routes are answered by the control server"),
        };
        Answer::Done(response)
    }

    /// Applies a configuration read for a reload ([`crate::reload`]); a bad file is reported
    /// and the running configuration kept.
    fn reload(
        &mut self,
        now: Instant,
        config: Result<Config, String>,
    ) -> Result<bfd_control::ReloadSummary, String> {
        let mut config = match config {
            Ok(config) => config,
            Err(e) => {
                warn!(error = %e, "reload refused; the running configuration stays");
                return Err(format!("reload refused, running configuration kept: {e}"));
            }
        };
        if let Err(message) = self.listen_for(&config) {
            warn!(error = %message, "reload refused; the running configuration stays");
            return Err(format!(
                "reload refused, running configuration kept: {message}"
            ));
        }
        let restart_needed: Vec<String> = self
            .config
            .daemon
            .changed_keys(&config.daemon)
            .into_iter()
            .map(|key| format!("daemon.{key}"))
            .collect();
        if !restart_needed.is_empty() {
            warn!(
                keys = restart_needed.join(", "),
                "[daemon] settings changed; they take effect when bfdd restarts"
            );
            // The running ones stay, all of them, so the next reload still sees the change;
            // but for those read only at exit.
            let shutdown_drain = config.daemon.shutdown_drain;
            config.daemon = self.config.daemon.clone();
            config.daemon.shutdown_drain = shutdown_drain;
        }
        let peer_count = config.peers.len();
        self.fit_receive_buffers(&config.peers);
        let mut summary = self.peers.apply(
            now,
            &mut self.sessions,
            std::mem::take(&mut config.peers),
            &mut self.tx_buf,
        );
        self.align_transmissions(now);
        self.peers
            .set_gateways(&self.sessions, route_gateways(&config));
        match &self.routes {
            Some(routes) => {
                let changes = self.peers.take_gateway_changes().collect();
                routes.reconfigure(config.routes.clone(), changes, now);
            }
            None => self.report_gateways(now),
        }
        self.ready.status.send_modify(|r| r.sessions = peer_count);
        info!(
            added = summary.added,
            removed = summary.removed,
            changed = summary.changed,
            unchanged = summary.unchanged,
            "configuration reloaded"
        );
        self.config = config;
        summary.restart_needed = restart_needed;
        Ok(summary)
    }

    /// Sizes each listener's receive buffer for the peers it serves.
    fn fit_receive_buffers(&self, peers: &[crate::config::PeerConfig]) {
        for socket in &self.rx {
            let (v6, multihop) = socket.kind();
            let served = peers
                .iter()
                .filter(|p| p.address.is_ipv6() == v6 && p.multihop == multihop)
                .count();
            socket.fit_receive_buffer(served);
        }
    }

    /// Binds the listeners the peers of `config` need that start-up did not (it binds only
    /// what its peers need when one fails, as multihop's port taken by another daemon). All or
    /// none: a refused reload leaves no port of its configuration bound.
    fn listen_for(&mut self, config: &Config) -> Result<(), String> {
        let mut bound = Vec::new();
        for (v6, multihop) in [(false, false), (true, false), (false, true), (true, true)] {
            if self.rx.iter().any(|s| s.kind() == (v6, multihop)) {
                continue;
            }
            let Some(peer) = config
                .peers
                .iter()
                .find(|p| p.address.is_ipv6() == v6 && p.multihop == multihop)
            else {
                continue;
            };
            let port = if multihop {
                net::MULTIHOP_PORT
            } else {
                net::SINGLE_HOP_PORT
            };
            let family = if v6 { "IPv6" } else { "IPv4" };
            let socket = RxSocket::bind(v6, multihop).map_err(|e| {
                format!(
                    "cannot listen on UDP {port} ({family}), which peer {} needs: {e}",
                    peer.key()
                )
            })?;
            bound.push((socket, port, family));
        }
        for (socket, port, family) in bound {
            info!(port, family, "now listening");
            self.rx.push(socket);
        }
        Ok(())
    }

    /// Periodic packets due together leave in one wake-up; bursts stay within one batch of
    /// the raw sender.
    fn align_transmissions(&mut self, now: Instant) {
        let before = self.sessions.transmit_grid_step();
        self.sessions.align_transmissions(now, MAX_ALIGNED_BURST);
        let step = self.sessions.transmit_grid_step();
        if step != before {
            let sessions = self.sessions.len();
            if step.is_zero() {
                info!(
                    sessions,
                    "periodic packets not aligned: too many for a grid step"
                );
            } else {
                info!(
                    step_ms = step.as_millis(),
                    sessions, "periodic packets aligned to a shared grid"
                );
            }
        }
    }

    fn daemon_figures(&self) -> DaemonFigures {
        DaemonFigures {
            dropped: self.dropped.clone(),
            transmit: self.peers.transmit_timing().clone(),
            frr_exporter: self.config.daemon.frr_exporter_metrics,
            routes: None,
        }
    }
}

/// Longest wait in the receive queue taken from a kernel timestamp. The stamp is on the wall
/// clock: a clock step between arrival and reading would make a packet look older than it is
/// and its session's detection time shorter; beyond this, the read time is used instead.
const MAX_QUEUE_WAIT: Duration = Duration::from_millis(20);

/// A datagram's arrival on the monotonic clock, from its wall-clock kernel stamp.
fn arrival(now: Instant, wall_now: SystemTime, stamp: Option<SystemTime>) -> Instant {
    match stamp.and_then(|s| wall_now.duration_since(s).ok()) {
        Some(waited) if waited <= MAX_QUEUE_WAIT => now.checked_sub(waited).unwrap_or(now),
        _ => now,
    }
}

/// The addresses `bfd = true` routes use as gateways.
fn route_gateways(config: &Config) -> std::collections::HashSet<std::net::IpAddr> {
    config
        .routes
        .routes
        .iter()
        .filter(|r| r.bfd)
        .map(|r| r.gateway)
        .collect()
}

fn count_drop(dropped: &mut Vec<(&'static str, u64)>, reason: &'static str) {
    match dropped.iter_mut().find(|(r, _)| *r == reason) {
        Some((_, n)) => *n += 1,
        None => dropped.push((reason, 1)),
    }
}

/// Waits until the socket is readable; a missing socket never is.
async fn readable(socket: Option<&RxSocket>) -> std::io::Result<()> {
    match socket {
        Some(s) => s.readable().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrival_is_taken_from_a_plausible_kernel_stamp_only() {
        let now = now();
        let wall = SystemTime::now();
        let ms = Duration::from_millis;
        assert_eq!(arrival(now, wall, Some(wall - ms(3))), now - ms(3));
        assert_eq!(arrival(now, wall, None), now);
        // In the future (clock stepped back) or too old to trust (stepped forward): read time.
        assert_eq!(arrival(now, wall, Some(wall + ms(3))), now);
        assert_eq!(arrival(now, wall, Some(wall - ms(500))), now);
    }
}
