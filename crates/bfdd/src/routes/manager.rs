//! The route manager task: keeps the kernel's routes of our protocol equal to what the
//! configuration and the BFD sessions ask for.
//!
//! It is a single task that owns all route state, so no locks and no ordering puzzles: it
//! takes session changes first (withdrawals go out before anything else queued), then other
//! commands, kernel notifications and timers. Every kernel operation is awaited before the
//! next, which keeps the state ([`Dest::installed`]) exactly what the kernel acknowledged.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::net::IpAddr;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::backend::is_exists;
use super::desired::{desired_route, destinations, destinations_via};
use super::dest::Dest;
use super::handle::{Command, SessionEvent};
use super::listener::{spawn_listener, Notice};
use super::stats::Recorder;
use super::status::route_statuses;
use super::{KernelRoute, NetlinkBackend, RouteBackend, RouteHandle, Slot, SlotFile};
use crate::config::{Prefix, RoutesConfig};

/// Default [`ManagerOptions::reconcile_interval`].
pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(10);
/// Default [`ManagerOptions::startup_grace`].
pub const STARTUP_GRACE: Duration = Duration::from_secs(5);
/// A kernel notification triggers a check this much later, so a burst (a link flap, an
/// operator's script) costs one route dump, not one per message.
const NOTICE_DEBOUNCE: Duration = Duration::from_millis(20);
/// Shortest time between a failure and a retry a notification brings forward.
const NOTICE_RETRY_SPACING: Duration = Duration::from_secs(1);
/// Retry delay after a failed route dump.
const LIST_RETRY: Duration = Duration::from_secs(1);
/// Longest wait for one netlink operation; the kernel answers in microseconds, so this only
/// guards against a wedged socket holding up withdrawals and shutdown.
const OP_TIMEOUT: Duration = Duration::from_secs(1);

/// Tunables of the manager; the defaults are the daemon's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagerOptions {
    /// How often the kernel's routes are re-read without any notification: the safety net for
    /// lost notifications (netlink multicast drops them when its buffer overflows).
    pub reconcile_interval: Duration,
    /// With `keep_on_exit = true`, routes found at start keep their `bfd = true` gateways this
    /// long, or until that gateway's session reports, so a restart does not withdraw routes
    /// the previous instance deliberately left installed. Zero disables it.
    pub startup_grace: Duration,
    /// Where the table and protocol of our routes are kept, so that routes a previous run left
    /// under other ones are removed at start. `None`: not kept.
    pub slot_file: Option<SlotFile>,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        ManagerOptions {
            reconcile_interval: RECONCILE_INTERVAL,
            startup_grace: STARTUP_GRACE,
            slot_file: None,
        }
    }
}

/// Starts the manager with `backend`; it reconciles the kernel at once. Must be called inside
/// a tokio runtime.
pub fn spawn<B: RouteBackend>(config: RoutesConfig, backend: B) -> RouteHandle {
    spawn_with(config, backend, ManagerOptions::default())
}

/// [`spawn`] with non-default options.
pub fn spawn_with<B: RouteBackend>(
    config: RoutesConfig,
    backend: B,
    options: ManagerOptions,
) -> RouteHandle {
    let (urgent_tx, urgent) = mpsc::unbounded_channel();
    let (commands_tx, commands) = mpsc::unbounded_channel();
    let manager = Manager::new(config, backend, options, urgent, commands);
    let task = tokio::spawn(manager.run());
    RouteHandle {
        urgent: urgent_tx,
        commands: commands_tx,
        task: task.abort_handle(),
        seq: Default::default(),
    }
}

/// Starts the manager on the real kernel: a netlink socket for the route operations and a
/// second one listening for route and link notifications. Must be called inside a tokio
/// runtime; fails only if a netlink socket cannot be opened.
pub fn spawn_netlink(config: RoutesConfig, slot_file: SlotFile) -> io::Result<RouteHandle> {
    let backend = NetlinkBackend::new()?;
    let (urgent_tx, urgent) = mpsc::unbounded_channel();
    let (commands_tx, commands) = mpsc::unbounded_channel();
    let notices = commands_tx.clone();
    let listener = spawn_listener(move |n| notices.send(Command::Notice(n)).is_ok())?;
    let options = ManagerOptions {
        slot_file: Some(slot_file),
        ..ManagerOptions::default()
    };
    let mut manager = Manager::new(config, backend, options, urgent, commands);
    manager.tasks.extend(listener);
    let task = tokio::spawn(manager.run());
    Ok(RouteHandle {
        urgent: urgent_tx,
        commands: commands_tx,
        task: task.abort_handle(),
        seq: Default::default(),
    })
}

/// Why [`Manager::reconcile`] runs: decides whether destinations waiting out a backoff are
/// retried now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trigger {
    /// First run, reload, explicit request: everything is tried.
    Forced,
    /// Timer or notification: failed destinations wait for their backoff.
    Routine,
}

struct Manager<B> {
    backend: B,
    config: RoutesConfig,
    options: ManagerOptions,
    /// Gateways whose session is Up, as reported.
    up: HashSet<IpAddr>,
    /// The newest report applied, per gateway (see `SessionEvent::seq`).
    latest: HashMap<IpAddr, u64>,
    /// Gateways kept through the startup grace (not yet reported).
    presumed: HashSet<IpAddr>,
    /// `up` ∪ `presumed` while some gateway is presumed, else empty: see `usable()`.
    usable: HashSet<IpAddr>,
    grace_until: Option<Instant>,
    dests: BTreeMap<Prefix, Dest>,
    recorder: Recorder,
    next_reconcile: Instant,
    reconcile_soon: Option<Instant>,
    urgent: mpsc::UnboundedReceiver<SessionEvent>,
    commands: mpsc::UnboundedReceiver<Command>,
    /// Helper tasks (the notification listener) ended with the manager.
    tasks: Vec<JoinHandle<()>>,
}

impl<B: RouteBackend> Manager<B> {
    fn new(
        config: RoutesConfig,
        backend: B,
        options: ManagerOptions,
        urgent: mpsc::UnboundedReceiver<SessionEvent>,
        commands: mpsc::UnboundedReceiver<Command>,
    ) -> Self {
        Manager {
            backend,
            config,
            next_reconcile: Instant::now() + options.reconcile_interval,
            options,
            up: HashSet::new(),
            latest: HashMap::new(),
            presumed: HashSet::new(),
            usable: HashSet::new(),
            grace_until: None,
            dests: BTreeMap::new(),
            recorder: Recorder::default(),
            reconcile_soon: None,
            urgent,
            commands,
            tasks: Vec::new(),
        }
    }

    async fn run(mut self) {
        self.start().await;
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                biased;
                event = self.urgent.recv() => match event {
                    Some(event) => self.session_events(event).await,
                    // Every handle is gone: stop, leaving the routes as they are.
                    None => break,
                },
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown { withdraw, done }) => {
                        if withdraw {
                            self.withdraw_all().await;
                        }
                        let _ = done.send(());
                        break;
                    }
                    Some(command) => self.command(command).await,
                    None => break,
                },
                () = tokio::time::sleep_until(deadline) => self.timers().await,
            }
        }
        for task in &self.tasks {
            task.abort();
        }
    }

    /// The first reconcile; with `keep_on_exit`, adopts the gateways of routes left by the
    /// previous instance for the startup grace.
    async fn start(&mut self) {
        self.leave_previous_slot().await;
        if self.config.keep_on_exit && !self.options.startup_grace.is_zero() {
            if let Ok(found) = self.list().await {
                for route in &found {
                    for gw in &route.nexthops {
                        let bfd_configured = self.config.routes.iter().any(|r| {
                            r.destination == route.destination && r.gateway == *gw && r.bfd
                        });
                        if bfd_configured {
                            self.presumed.insert(*gw);
                        }
                    }
                }
            }
            if !self.presumed.is_empty() {
                info!(
                    gateways = self.presumed.len(),
                    grace = ?self.options.startup_grace,
                    "keeping routes left installed by the previous run until their BFD sessions report"
                );
                self.grace_until = Some(Instant::now() + self.options.startup_grace);
                self.refresh_usable();
            }
        }
        self.reconcile(Trigger::Forced).await;
    }

    /// Outside the startup grace the usable gateways are the Up ones: no copy of that set is
    /// kept (at thousands of sessions it costs memory, and rebuilding it every batch, time).
    fn refresh_usable(&mut self) {
        self.usable = if self.presumed.is_empty() {
            HashSet::new()
        } else {
            self.up.union(&self.presumed).copied().collect()
        };
    }

    /// Gateways a route may use now: Up, or kept through the startup grace.
    fn usable(&self) -> &HashSet<IpAddr> {
        if self.presumed.is_empty() {
            &self.up
        } else {
            &self.usable
        }
    }

    fn next_deadline(&self) -> Instant {
        let retries = self.dests.values().filter_map(|d| d.retry_at);
        [self.reconcile_soon, self.grace_until]
            .into_iter()
            .flatten()
            .chain(retries)
            .fold(self.next_reconcile, Instant::min)
    }

    async fn command(&mut self, command: Command) {
        match command {
            Command::Reconfigure(config, gateways) => {
                // The gateways first: a gateway the reload starts tracking (`bfd = true` on a
                // static route) whose session is Up must count as Up when the new
                // configuration is reconciled, or its route is withdrawn and added again.
                let (affected, down_since) = self.note_session_events(&gateways);
                if !self.reconfigure(config).await {
                    self.sync_after_events(affected, down_since).await;
                }
            }
            Command::Reconcile => self.reconcile(Trigger::Forced).await,
            Command::Notice(notice) => self.notice(notice),
            Command::Status(reply) => {
                let _ = reply.send(route_statuses(&self.config, &self.dests, self.usable()));
            }
            Command::Metrics(reply) => {
                let installed = self
                    .dests
                    .values()
                    .filter(|d| d.installed.is_some())
                    .count();
                let _ = reply.send(self.recorder.snapshot(installed));
            }
            // Handled by the loop, which must end after it.
            Command::Shutdown { .. } => {}
        }
    }

    /// Applies a batch of session changes: every queued one at once, withdrawals first.
    async fn session_events(&mut self, first: SessionEvent) {
        let mut events = vec![first];
        while let Ok(event) = self.urgent.try_recv() {
            events.push(event);
        }
        self.apply_session_events(events).await;
    }

    async fn apply_session_events(&mut self, events: Vec<SessionEvent>) {
        let (affected, down_since) = self.note_session_events(&events);
        self.sync_after_events(affected, down_since).await;
    }

    /// Takes in which gateways are Up, without touching the kernel. Returns the destinations
    /// they serve, and per destination the earliest Down event that may shrink it (the
    /// withdraw latency sample).
    fn note_session_events(
        &mut self,
        events: &[SessionEvent],
    ) -> (Vec<Prefix>, HashMap<Prefix, std::time::Instant>) {
        let mut down_since: HashMap<Prefix, std::time::Instant> = HashMap::new();
        let mut affected = Vec::new();
        for event in events {
            // Older than what is known of this gateway: a reload's change that waited behind
            // newer session changes.
            match self.latest.entry(event.gateway) {
                std::collections::hash_map::Entry::Occupied(seen) if *seen.get() > event.seq => {
                    continue;
                }
                std::collections::hash_map::Entry::Occupied(mut seen) => {
                    seen.insert(event.seq);
                }
                std::collections::hash_map::Entry::Vacant(new) => {
                    new.insert(event.seq);
                }
            }
            self.presumed.remove(&event.gateway);
            if event.up {
                self.up.insert(event.gateway);
            } else {
                self.up.remove(&event.gateway);
            }
            for d in destinations_via(&self.config, event.gateway) {
                if !event.up {
                    let at = down_since.entry(d).or_insert(event.at);
                    *at = (*at).min(event.at);
                }
                affected.push(d);
            }
        }
        self.refresh_usable();
        affected.sort_unstable();
        affected.dedup();
        (affected, down_since)
    }

    /// Brings the destinations that session events touched to their desired state,
    /// withdrawals first.
    async fn sync_after_events(
        &mut self,
        affected: Vec<Prefix>,
        down_since: HashMap<Prefix, std::time::Instant>,
    ) {
        for d in self.withdrawals_first(affected) {
            let withdraw = self.is_withdrawal(d);
            if self.sync(d).await && withdraw {
                if let Some(at) = down_since.get(&d) {
                    let now = Instant::now().into_std();
                    self.recorder
                        .withdraw_latency(now.saturating_duration_since(*at));
                }
            }
        }
    }

    /// Takes session changes that arrived meanwhile, so a long reconcile never delays them.
    async fn poll_urgent(&mut self) {
        if let Ok(event) = self.urgent.try_recv() {
            self.session_events(event).await;
        }
    }

    /// Whether bringing `d` to its desired state removes a gateway from the kernel.
    fn is_withdrawal(&self, d: Prefix) -> bool {
        let Some(installed) = self.dests.get(&d).and_then(|e| e.installed.as_ref()) else {
            return false;
        };
        match desired_route(&self.config, d, self.usable()) {
            None => true,
            Some(want) => installed
                .nexthops
                .iter()
                .any(|g| !want.nexthops.contains(g)),
        }
    }

    /// `dests` reordered so that withdrawals come first: traffic must stop going to a dead
    /// gateway before anything else is spent time on.
    fn withdrawals_first(&self, dests: Vec<Prefix>) -> Vec<Prefix> {
        let (mut first, rest): (Vec<_>, Vec<_>) =
            dests.into_iter().partition(|d| self.is_withdrawal(*d));
        first.extend(rest);
        first
    }

    /// Brings one destination to its desired state. Returns false when the kernel refused
    /// (logged, and retried after a backoff).
    async fn sync(&mut self, d: Prefix) -> bool {
        let want = desired_route(&self.config, d, self.usable());
        let configured = self.config.routes.iter().any(|r| r.destination == d);
        let dest = self.dests.entry(d).or_default();
        let installed = dest.installed.clone();
        if want == installed {
            dest.settled();
            if !configured && installed.is_none() {
                self.dests.remove(&d);
            }
            return true;
        }
        let (op, result) = match (&want, &installed) {
            (Some(route), Some(old)) => ("replace", self.shrink_or_replace(route, old).await),
            (Some(route), None) => ("add", self.add(route).await),
            (None, Some(route)) => ("delete", self.delete(route).await),
            (None, None) => return true,
        };
        let now = Instant::now();
        let dest = self.dests.entry(d).or_default();
        match result {
            Ok(()) => {
                dest.succeeded(want.clone());
                match (&want, &installed) {
                    (Some(w), _) => info!(
                        destination = %d,
                        gateways = %w.gateways(),
                        table = w.table,
                        "route installed"
                    ),
                    (None, Some(old)) => info!(
                        destination = %d,
                        gateways = %old.gateways(),
                        table = old.table,
                        "route withdrawn"
                    ),
                    (None, None) => {}
                }
                if !configured && want.is_none() {
                    self.dests.remove(&d);
                }
                true
            }
            Err(e) => {
                let route = want.as_ref().or(installed.as_ref());
                let gateways = route.map(|r| r.gateways().to_string()).unwrap_or_default();
                let table = route.map_or(self.config.table, |r| r.table);
                let delay = dest.failed(now, format!("{op} via {gateways} failed: {e}; retrying"));
                warn!(
                    destination = %d,
                    gateways = %gateways,
                    table,
                    op,
                    error = %e,
                    retry_in = ?delay,
                    "route operation failed; retrying"
                );
                false
            }
        }
    }

    async fn timed<T>(
        op: &'static str,
        recorder: &mut Recorder,
        f: impl std::future::Future<Output = io::Result<T>>,
    ) -> io::Result<T> {
        let result = match tokio::time::timeout(OP_TIMEOUT, f).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer from the kernel within {OP_TIMEOUT:?}"),
            )),
        };
        recorder.operation(op, result.is_ok());
        result
    }

    /// Replaces `old` with `route`. The kernel checks every gateway a replace names, so one it
    /// cannot reach (its link down) refuses the whole route and leaves the old one, with the
    /// gateway BFD just declared dead still carrying traffic. When the replace was to remove a
    /// gateway, the route goes instead, and the retry installs the rest once it can.
    async fn shrink_or_replace(
        &mut self,
        route: &KernelRoute,
        old: &KernelRoute,
    ) -> io::Result<()> {
        let e = match self.replace(route).await {
            Err(e) => e,
            Ok(()) => return Ok(()),
        };
        let withdrawing = old.nexthops.iter().any(|g| !route.nexthops.contains(g));
        if withdrawing && self.delete(old).await.is_ok() {
            self.dests.entry(route.destination).or_default().installed = None;
            warn!(
                destination = %route.destination,
                gateways = %old.gateways(),
                table = old.table,
                error = %e,
                "route withdrawn whole: the gateways left could not be installed without the one withdrawn"
            );
        }
        Err(e)
    }

    async fn replace(&mut self, route: &KernelRoute) -> io::Result<()> {
        Self::timed("replace", &mut self.recorder, self.backend.replace(route)).await
    }

    async fn delete(&mut self, route: &KernelRoute) -> io::Result<()> {
        Self::timed("delete", &mut self.recorder, self.backend.delete(route)).await
    }

    async fn list(&mut self) -> io::Result<Vec<KernelRoute>> {
        let (table, protocol) = (self.config.table, self.config.protocol);
        Self::timed(
            "list",
            &mut self.recorder,
            self.backend.list(table, protocol),
        )
        .await
    }

    /// Installs a route where we believe none of ours is: exclusively, so a foreign route in
    /// the slot is never overwritten. If the slot turns out to hold a route of ours after all
    /// (our knowledge was stale), it is replaced.
    async fn add(&mut self, route: &KernelRoute) -> io::Result<()> {
        let e = match Self::timed("add", &mut self.recorder, self.backend.add(route)).await {
            Err(e) if is_exists(&e) => e,
            other => return other,
        };
        let ours = self
            .list()
            .await?
            .into_iter()
            .any(|r| r.destination == route.destination);
        if ours {
            return self.replace(route).await;
        }
        Err(io::Error::new(
            e.kind(),
            format!(
                "{} in table {} is held by a route that is not ours (protocol is not {}); \
                 leaving it alone",
                route.destination, route.table, route.protocol
            ),
        ))
    }

    /// Reads our routes from the kernel and corrects every difference.
    async fn reconcile(&mut self, trigger: Trigger) {
        let now = Instant::now();
        self.reconcile_soon = None;
        self.next_reconcile = now + self.options.reconcile_interval;
        let found = match self.list().await {
            Ok(found) => found,
            Err(e) => {
                warn!(
                    table = self.config.table,
                    protocol = self.config.protocol,
                    error = %e,
                    retry_in = ?LIST_RETRY,
                    "cannot list our routes; retrying"
                );
                self.reconcile_soon = Some(now + LIST_RETRY);
                return;
            }
        };
        let mut actual: BTreeMap<Prefix, KernelRoute> =
            found.into_iter().map(|r| (r.destination, r)).collect();
        for (d, dest) in &mut self.dests {
            let seen = actual.remove(d);
            if seen != dest.installed {
                debug!(destination = %d, kernel = ?seen, expected = ?dest.installed, "kernel differs");
            }
            dest.installed = seen;
        }
        for (d, route) in actual {
            self.dests.insert(
                d,
                Dest {
                    installed: Some(route),
                    ..Dest::default()
                },
            );
        }
        for d in destinations(&self.config) {
            self.dests.entry(d).or_default();
        }
        let all: Vec<Prefix> = self.dests.keys().copied().collect();
        for d in self.withdrawals_first(all) {
            self.poll_urgent().await;
            let waiting = self
                .dests
                .get(&d)
                .and_then(|e| e.retry_at)
                .is_some_and(|t| t > now);
            if trigger == Trigger::Routine && waiting {
                continue;
            }
            self.sync(d).await;
        }
    }

    async fn timers(&mut self) {
        let now = Instant::now();
        if self.grace_until.is_some_and(|t| t <= now) {
            self.grace_until = None;
            if !self.presumed.is_empty() {
                info!(
                    gateways = self.presumed.len(),
                    "startup grace over; gateways without an Up session leave the routes"
                );
            }
            self.presumed.clear();
            self.refresh_usable();
            let all: Vec<Prefix> = self.dests.keys().copied().collect();
            for d in self.withdrawals_first(all) {
                self.sync(d).await;
            }
        }
        if self.reconcile_soon.is_some_and(|t| t <= now) || self.next_reconcile <= now {
            self.reconcile(Trigger::Routine).await;
            return;
        }
        let due: Vec<Prefix> = self
            .dests
            .iter()
            .filter(|(_, e)| e.retry_at.is_some_and(|t| t <= now))
            .map(|(d, _)| *d)
            .collect();
        for d in self.withdrawals_first(due) {
            self.poll_urgent().await;
            self.sync(d).await;
        }
    }

    fn schedule_soon(&mut self) {
        let at = Instant::now() + NOTICE_DEBOUNCE;
        self.reconcile_soon = Some(self.reconcile_soon.map_or(at, |t| t.min(at)));
    }

    /// Decides whether a kernel notification concerns our routes.
    fn notice(&mut self, notice: Notice) {
        match notice {
            Notice::Route { route, deleted } => {
                if route.table != self.config.table {
                    return;
                }
                let believed = self
                    .dests
                    .get(&route.destination)
                    .and_then(|d| d.installed.as_ref());
                if route.protocol != self.config.protocol {
                    if deleted {
                        self.retry_now(route.destination);
                    } else if believed.is_some() {
                        // Someone replaced ours (`ip route replace`, zebra): the slot is theirs
                        // now, and what we believe installed must not be replaced over it.
                        debug!(route = %route, "our route replaced by another protocol's");
                        self.schedule_soon();
                    }
                    return;
                }
                let relevant = if deleted {
                    // Ours vanished while we think it is there, or one we want is gone.
                    believed.is_some()
                        || desired_route(&self.config, route.destination, self.usable()).is_some()
                } else {
                    // Someone changed or added a route with our protocol id.
                    believed != Some(&route)
                };
                if relevant {
                    debug!(route = %route, deleted, "route notification; checking our routes");
                    self.schedule_soon();
                }
            }
            Notice::Address { index, added } => {
                debug!(index, added, "address notification; checking our routes");
                if added {
                    self.retry_failed_now();
                } else {
                    // Removing an interface's address flushes the IPv4 routes through its
                    // subnet without a route notification, as a link going down does.
                    self.schedule_soon();
                }
            }
            Notice::Link { index, up } => {
                debug!(index, up, "link notification; checking our routes");
                if up {
                    self.retry_failed_now();
                }
                self.schedule_soon();
            }
            Notice::Lost => {
                warn!("kernel notifications lost (netlink buffer full); checking every route");
                self.retry_failed_now();
                self.schedule_soon();
            }
        }
    }

    /// A link or address came up, which may cure failures (unreachable gateway): failed
    /// destinations are retried after the debounce, at most one a [`NOTICE_RETRY_SPACING`]
    /// each. Their backoff stands: on a node where pods come and go, links and addresses
    /// change all the time, and a route that keeps failing (a foreign route in its slot) must
    /// not be retried and logged at every change.
    fn retry_failed_now(&mut self) {
        let soon = Instant::now() + NOTICE_DEBOUNCE;
        let mut any = false;
        for dest in self.dests.values_mut().filter(|d| d.error.is_some()) {
            let at = dest
                .failed_at
                .map_or(soon, |failed| soon.max(failed + NOTICE_RETRY_SPACING));
            dest.retry_at = Some(dest.retry_at.map_or(at, |due| due.min(at)));
            any = true;
        }
        if any {
            debug!("retrying failed routes");
        }
    }

    /// Another protocol's route left `d`'s slot: if ours failed for it (EEXIST, a foreign
    /// route in the way), it goes in after the debounce rather than its backoff (up to 30 s).
    fn retry_now(&mut self, d: Prefix) {
        let Some(dest) = self.dests.get_mut(&d).filter(|d| d.error.is_some()) else {
            return;
        };
        let soon = Instant::now() + NOTICE_DEBOUNCE;
        dest.retry_at = Some(dest.retry_at.map_or(soon, |due| due.min(soon)));
        debug!(destination = %d, "another protocol's route left the slot; retrying ours");
    }

    /// Applies a reloaded configuration; whether it changed (and every destination was
    /// reconciled).
    async fn reconfigure(&mut self, config: RoutesConfig) -> bool {
        if config == self.config {
            return false;
        }
        let moved = config.table != self.config.table || config.protocol != self.config.protocol;
        let mut left = 0;
        if moved {
            info!(
                old_table = self.config.table,
                old_protocol = self.config.protocol,
                table = config.table,
                protocol = config.protocol,
                "route table or protocol changed; moving our routes"
            );
            left = self.withdraw_all().await;
            self.dests.clear();
            if left > 0 {
                // The old pair stays on record, so the next start removes them.
                warn!(
                    left,
                    old_table = self.config.table,
                    old_protocol = self.config.protocol,
                    "routes under the old table or protocol could not be withdrawn; the next start tries again"
                );
            }
        }
        self.config = config;
        if moved && left == 0 {
            if let Some(file) = self.options.slot_file.clone() {
                self.record_slot(
                    &file,
                    Slot {
                        table: self.config.table,
                        protocol: self.config.protocol,
                    },
                );
            }
        }
        let still_bfd: HashSet<IpAddr> = self
            .config
            .routes
            .iter()
            .filter(|r| r.bfd)
            .map(|r| r.gateway)
            .collect();
        self.presumed.retain(|g| still_bfd.contains(g));
        self.refresh_usable();
        self.reconcile(Trigger::Forced).await;
        true
    }

    /// Removes what a previous run left under another table or protocol id than configured
    /// now, then records the current ones. The record stays as it was while some of those
    /// routes could not be removed, so the next start tries again.
    async fn leave_previous_slot(&mut self) {
        let Some(file) = self.options.slot_file.clone() else {
            return;
        };
        let now = Slot {
            table: self.config.table,
            protocol: self.config.protocol,
        };
        let previous = file.read().filter(|old| {
            // The file is not the config: a damaged or planted one must not make bfdd delete
            // the kernel's or another daemon's routes, which the config would have refused.
            let problem = crate::config::route_slot_problem(old.table, old.protocol);
            if let Some(problem) = &problem {
                warn!(
                    path = %file.path().display(),
                    table = old.table,
                    protocol = old.protocol,
                    %problem,
                    "ignoring the previous run's table and protocol: not bfdd's to clean up"
                );
            }
            problem.is_none()
        });
        if let Some(old) = previous.filter(|old| *old != now) {
            if !self.withdraw_slot(old).await {
                return;
            }
        }
        if previous != Some(now) {
            self.record_slot(&file, now);
        }
    }

    fn record_slot(&self, file: &SlotFile, slot: Slot) {
        if let Err(e) = file.write(slot) {
            warn!(path = %file.path().display(), error = %e, "cannot record the routes' table and protocol");
        }
    }

    /// Deletes every route of `slot`; true when none is left.
    async fn withdraw_slot(&mut self, slot: Slot) -> bool {
        let found = match Self::timed(
            "list",
            &mut self.recorder,
            self.backend.list(slot.table, slot.protocol),
        )
        .await
        {
            Ok(found) => found,
            Err(e) => {
                warn!(table = slot.table, protocol = slot.protocol, error = %e, "cannot list the routes a previous run left");
                return false;
            }
        };
        let mut all = true;
        for route in &found {
            if let Err(e) = self.delete(route).await {
                warn!(destination = %route.destination, table = slot.table, error = %e, "cannot withdraw a route a previous run left");
                all = false;
            }
        }
        if !found.is_empty() {
            info!(
                old_table = slot.table,
                old_protocol = slot.protocol,
                withdrawn = found.len(),
                "routes left under the previous table or protocol withdrawn"
            );
        }
        all
    }

    /// Removes every route of ours (current table and protocol): those we know of and those
    /// the kernel lists.
    /// Returns how many could not be withdrawn.
    async fn withdraw_all(&mut self) -> usize {
        let mut ours: BTreeMap<Prefix, KernelRoute> = self
            .dests
            .values()
            .filter_map(|d| d.installed.clone())
            .map(|r| (r.destination, r))
            .collect();
        match self.list().await {
            Ok(found) => ours.extend(found.into_iter().map(|r| (r.destination, r))),
            Err(e) => warn!(error = %e, "cannot list our routes; withdrawing those we know of"),
        }
        let (mut withdrawn, mut left) = (0, 0);
        for (d, route) in ours {
            match self.delete(&route).await {
                Ok(()) => {
                    withdrawn += 1;
                    if let Some(dest) = self.dests.get_mut(&d) {
                        dest.succeeded(None);
                    }
                }
                Err(e) => {
                    left += 1;
                    warn!(
                        destination = %d,
                        gateways = %route.gateways(),
                        table = route.table,
                        error = %e,
                        "cannot withdraw route"
                    );
                }
            }
        }
        info!(withdrawn, "routes withdrawn");
        left
    }
}
