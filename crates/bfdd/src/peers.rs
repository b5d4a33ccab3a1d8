//! The configured peers as running sessions: creating them, applying a new configuration to
//! them without flapping the untouched ones, and what the daemon keeps beside each session.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use bfd_control::ReloadSummary;
use bfd_core::{AuthKey, HopMode, Session, SessionConfig, SessionId, Sessions, State};
use tracing::{debug, info, warn};

use crate::batch_send::BatchSender;
use crate::config::{AuthConfig, PeerConfig, PeerKey, SINGLE_HOP_TTL};
use crate::net::{destination, interface_index, SourcePorts, TxBinding, TxSocket};
use crate::state_file::DiscriminatorStore;
use crate::transmit_timing::TransmitTiming;

/// Label values of a session's metrics and log lines.
#[derive(Clone, Debug)]
pub struct Labels {
    /// Peer address.
    pub peer: String,
    /// Local address, or "" when not pinned.
    pub local: String,
    /// Interface, or "" when not bound.
    pub interface: String,
}

/// What the daemon keeps beside a session in the core.
///
/// Not the peer's configuration: the core holds its settings and key, and
/// [`running_config`] rebuilds it from them with the interface name kept here. One copy per
/// session, at thousands of sessions.
pub struct PeerEntry {
    /// The interface the session is bound to, by name.
    pub interface: Option<Box<str>>,
    /// Its sending socket.
    pub tx: TxSocket,
    /// Transitions into each state, indexed by `State::bits()` (u32: a session flapping
    /// every 50 ms would take 6 years to wrap one; u64 would cost 16 B at every session).
    pub state_changes: [u32; 4],
    /// Packets the socket refused to send (buffer full, no route).
    pub send_errors: u64,
    /// Sends failed in a way a new socket may mend (see [`needs_new_socket`]); the retry
    /// tick gives it one.
    pub rebind: bool,
    /// Its failing sends were reported, until the session is next Up or its socket replaced.
    pub warned: bool,
}

/// Send errors a new socket may mend: the interface the socket is bound to is gone (and
/// perhaps back under a new index), or the source address it was connected from.
fn needs_new_socket(e: &std::io::Error) -> bool {
    use nix::libc;
    matches!(
        e.raw_os_error(),
        Some(
            libc::ENODEV
                | libc::ENXIO
                | libc::ENETDOWN
                | libc::ENETUNREACH
                | libc::EADDRNOTAVAIL
                | libc::EINVAL
        )
    )
}

/// The host's IPv6 addresses; `None` when they cannot be read (then none is taken for gone).
fn local_ipv6_addresses() -> Option<HashSet<std::net::Ipv6Addr>> {
    let addresses = nix::ifaddrs::getifaddrs().ok()?;
    Some(
        addresses
            .filter_map(|a| a.address?.as_sockaddr_in6().map(|a| a.ip()))
            .collect(),
    )
}

/// Sessions whose sends started failing since the last retry tick, reported by it in one
/// line: a link going away fails thousands at once.
#[derive(Default)]
struct NewSendFailures {
    count: usize,
    first: Option<(IpAddr, String)>,
}

/// Counts a failed send; a session whose sends start failing is reported at the next retry
/// tick, and one a new socket may mend asks for one.
fn note_send_error(
    entry: &mut PeerEntry,
    failures: &mut NewSendFailures,
    peer: Option<IpAddr>,
    e: &std::io::Error,
) {
    entry.send_errors += 1;
    if needs_new_socket(e) {
        entry.rebind = true;
    }
    tracing::debug!(peer = ?peer, error = %e, "send failed");
    if !entry.warned {
        entry.warned = true;
        failures.count += 1;
        if let Some(peer) = peer {
            failures.first.get_or_insert_with(|| (peer, e.to_string()));
        }
    }
}

/// System calls the retry tick's socket check makes at most (a `connect` is one, 2-4 µs; a
/// new socket about six): about a millisecond of the driver's time every 5 s. Renumbering is
/// rare, so checking 10,000 batched sessions' sources takes 40 ticks; sessions whose sends
/// fail are replaced by checks every 250 ms until none is left (37 a check: 10,000 in about
/// a minute); interface moves do not wait.
const SOCKET_CHECKS_PER_TICK: usize = 256;
/// A new socket, in `connect`s.
const REPLACE_COST: usize = 6;

/// A configured peer that could not be started yet (its interface is missing, say).
pub struct PendingPeer {
    /// The peer's configuration.
    pub config: PeerConfig,
    /// Why it is not running.
    pub error: String,
    /// The key of the session it replaces, whose discriminator is kept for it under that key:
    /// should it be replaced in turn before it starts (an interface name mistyped, then
    /// fixed), the next peer inherits from the session the remote end knows, not from a peer
    /// that never ran. `None`: kept under its own key, if at all.
    pub successor_of: Option<PeerKey>,
}

impl PendingPeer {
    /// Where the store keeps its discriminator, if it has one.
    fn held_under(&self) -> PeerKey {
        self.successor_of
            .clone()
            .unwrap_or_else(|| self.config.key())
    }
}

/// A discriminator handed down to a peer, with the key of the session it belonged to.
struct Inherited {
    from: PeerKey,
    discriminator: u32,
}

/// A place in the configuration order.
#[derive(PartialEq)]
enum Configured {
    Running(SessionId),
    /// Boxed: pending peers are rare, and a key inline would triple every entry.
    Pending(Box<PeerKey>),
}

/// Every configured peer, running or pending, in configuration order.
///
/// Sized for thousands of sessions: a running peer costs its `PeerEntry` in a vector indexed
/// like the core's slots and a small entry in `order`; its key is found from its
/// configuration, not kept in a map of its own.
pub struct Peers {
    /// Running sessions' side tables, by slot index.
    entries: Vec<Option<PeerEntry>>,
    /// Configuration order of every peer, running or not.
    order: Vec<Configured>,
    /// Raised when a reload changes `order`: places in it taken before no longer hold.
    generation: u64,
    pending: BTreeMap<PeerKey, PendingPeer>,
    ports: SourcePorts,
    /// Sources (local address, interface, IPv6) whose every source port was found in use in
    /// this round of starts: the next peer from one fails at once instead of trying all
    /// 16,384 ports again, which at thousands of peers held the driver for minutes.
    ports_exhausted: HashSet<(Option<IpAddr>, Option<String>, bool)>,
    new_send_failures: NewSendFailures,
    /// A session took another discriminator since the last save.
    unsaved: bool,
    /// Where the next retry tick's socket check starts (see [`Peers::check_sockets`]).
    check_cursor: usize,
    store: DiscriminatorStore,
    /// Addresses some `bfd = true` route uses as its gateway: the only ones whose Up sessions
    /// are counted, so peers no route depends on cost nothing here or in the route installer.
    gateways: HashSet<IpAddr>,
    /// Up sessions per gateway: a route's gateway is usable while any session to it is Up.
    up_by_address: HashMap<IpAddr, u32>,
    /// Gateways that became usable (true) or unusable (false), for the route installer.
    gateway_changes: Vec<(IpAddr, bool)>,
    /// How punctually periodic packets have left.
    transmit_timing: TransmitTiming,
    /// Sends IPv4 sessions' packets in batches, when bfdd may open a raw socket.
    batch: Option<BatchSender>,
    /// Sessions (one socket each) that fit under the open-file limit, leaving a reserve.
    socket_budget: Option<SocketBudget>,
}

/// How many sessions may hold a socket: the open-file limit less what the daemon needs for
/// everything else (configuration reloads, control clients, scrapes, the state file). A
/// session past it would take the descriptor a reload needs to read the file that could fix
/// the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketBudget {
    /// `RLIMIT_NOFILE` in force.
    pub limit: u64,
    /// Sessions allowed.
    pub sessions: usize,
}

/// Discriminators whose keys no peer has any more (removed by a reload, or left in the state
/// file by a run with another configuration): a peer whose key changed (a local address or
/// interface added, say) takes over the one its peer knows. OVN keeps addressing the old
/// discriminator and ignores packets that do not echo its own, so a fresh one would leave the
/// session Down for good (design/ovn-peer.md, "Stale discriminator").
///
/// Only where the pairing is certain: the old key could be the new one with a detail added or
/// dropped (same peer and hop mode, local address and interface equal or unset on one side),
/// and neither has another such partner. A session on another link or from another address
/// must not inherit: whoever addresses the old discriminator would reach it (a nonzero Your
/// Discriminator alone selects a session).
#[derive(Default)]
struct Successors {
    by_peer: HashMap<(IpAddr, bool), Vec<(PeerKey, u32)>>,
}

impl Successors {
    fn hand_down(&mut self, key: &PeerKey, discriminator: u32) {
        self.by_peer
            .entry((key.address, key.multihop))
            .or_default()
            .push((key.clone(), discriminator));
    }

    fn is_empty(&self) -> bool {
        self.by_peer.is_empty()
    }

    fn into_entries(self) -> impl Iterator<Item = (PeerKey, u32)> {
        self.by_peer.into_values().flatten()
    }

    /// The discriminator each of `new_keys` inherits, where the pairing is certain.
    fn pair<'a>(&self, new_keys: impl Iterator<Item = &'a PeerKey>) -> HashMap<PeerKey, Inherited> {
        let mut new_by_peer: HashMap<(IpAddr, bool), Vec<&PeerKey>> = HashMap::new();
        for key in new_keys {
            if self.by_peer.contains_key(&(key.address, key.multihop)) {
                new_by_peer
                    .entry((key.address, key.multihop))
                    .or_default()
                    .push(key);
            }
        }
        let mut pairs = HashMap::new();
        for (peer, new) in new_by_peer {
            let old = self.by_peer.get(&peer).map_or(&[][..], Vec::as_slice);
            for key in &new {
                let mut partners = old.iter().filter(|(o, _)| may_succeed(o, key));
                let (Some((old_key, discriminator)), None) = (partners.next(), partners.next())
                else {
                    continue;
                };
                if new.iter().filter(|k| may_succeed(old_key, k)).count() == 1 {
                    let inherited = Inherited {
                        from: old_key.clone(),
                        discriminator: *discriminator,
                    };
                    pairs.insert((*key).clone(), inherited);
                }
            }
        }
        pairs
    }
}

/// Whether `new` could be `old`'s peer on the same path with a detail added or dropped.
fn may_succeed(old: &PeerKey, new: &PeerKey) -> bool {
    fn agree<T: PartialEq>(a: Option<&T>, b: Option<&T>) -> bool {
        a.is_none() || b.is_none() || a == b
    }
    old.address == new.address
        && old.multihop == new.multihop
        && agree(old.local_address.as_ref(), new.local_address.as_ref())
        && agree(old.interface.as_ref(), new.interface.as_ref())
}

/// The core's view of a peer's settings.
pub fn session_config(peer: &PeerConfig) -> SessionConfig {
    SessionConfig {
        desired_min_tx: peer.desired_min_tx,
        required_min_rx: peer.required_min_rx,
        detect_mult: peer.detect_multiplier,
        passive: peer.passive,
        admin_down: peer.shutdown,
        auth: peer.auth.as_ref().map(|a| AuthKey {
            auth_type: a.auth_type,
            key_id: a.key_id,
            secret: a.secret.clone(),
        }),
        hop_mode: if peer.multihop {
            HopMode::MultiHop {
                min_ttl: peer.minimum_ttl,
            }
        } else {
            HopMode::SingleHop
        },
    }
}

/// The configuration a running session was started with (or last changed to), from the
/// core's copy of its settings and key: the inverse of [`session_config`].
pub fn running_config(entry: &PeerEntry, key: &bfd_core::PeerKey, session: &Session) -> PeerConfig {
    let settings = session.config();
    let (multihop, minimum_ttl) = match settings.hop_mode {
        HopMode::MultiHop { min_ttl } => (true, min_ttl),
        HopMode::SingleHop => (false, SINGLE_HOP_TTL),
    };
    PeerConfig {
        address: key.peer,
        local_address: key.local,
        interface: entry.interface.as_deref().map(str::to_string),
        multihop,
        minimum_ttl,
        desired_min_tx: settings.desired_min_tx,
        required_min_rx: settings.required_min_rx,
        detect_multiplier: settings.detect_mult,
        passive: settings.passive,
        shutdown: settings.admin_down,
        auth: settings.auth.as_ref().map(|k| AuthConfig {
            auth_type: k.auth_type,
            key_id: k.key_id,
            secret: k.secret.clone(),
        }),
    }
}

impl Labels {
    /// Written out from the addresses and interface name.
    pub fn new(peer: IpAddr, local: Option<IpAddr>, interface: Option<&str>) -> Labels {
        Labels {
            peer: peer.to_string(),
            local: local.map(|a| a.to_string()).unwrap_or_default(),
            interface: interface.unwrap_or_default().to_string(),
        }
    }
}

/// The label values of a peer's metrics, made when asked for rather than kept per session.
pub fn labels(peer: &PeerConfig) -> Labels {
    Labels::new(peer.address, peer.local_address, peer.interface.as_deref())
}

impl Peers {
    /// No peers yet; `store` supplies discriminators from a previous run; `batch`, if any,
    /// sends the packets of every session it can.
    pub fn new(store: DiscriminatorStore, port_seed: u16, batch: Option<BatchSender>) -> Peers {
        Peers {
            entries: Vec::new(),
            order: Vec::new(),
            generation: 0,
            pending: BTreeMap::new(),
            ports_exhausted: HashSet::new(),
            new_send_failures: NewSendFailures::default(),
            unsaved: false,
            check_cursor: 0,
            ports: SourcePorts::new(port_seed),
            store,
            gateways: HashSet::new(),
            up_by_address: HashMap::new(),
            gateway_changes: Vec::new(),
            transmit_timing: TransmitTiming::default(),
            batch,
            socket_budget: None,
        }
    }

    /// Stops sending in batches (an IPv4 policy routing rule appeared): every session sends
    /// from its own socket from now on. False when batching was already off. Nothing is left
    /// queued: [`Peers::send_due`] flushes the batch before it returns.
    pub fn stop_batching(&mut self) -> bool {
        self.batch.take().is_some()
    }

    /// Starts no more sessions than `budget` allows; the others stay pending, saying why.
    pub fn limit_sockets(&mut self, budget: SocketBudget) {
        self.socket_budget = Some(budget);
    }

    /// How punctually periodic packets have left since start.
    pub fn transmit_timing(&self) -> &TransmitTiming {
        &self.transmit_timing
    }

    /// The side table of a running session.
    pub fn entry(&self, id: SessionId) -> Option<&PeerEntry> {
        self.entries.get(id.index())?.as_ref()
    }

    /// Mutable side table of a running session.
    pub fn entry_mut(&mut self, id: SessionId) -> Option<&mut PeerEntry> {
        self.entries.get_mut(id.index())?.as_mut()
    }

    /// Every configured peer in configuration order: running ones with their session id.
    pub fn iter<'a>(&'a self, sessions: &'a Sessions) -> impl Iterator<Item = PeerRef<'a>> {
        self.order
            .iter()
            .filter_map(move |configured| self.peer_ref(sessions, configured))
    }

    /// Peers from the place `from` in configuration order on, each with its place.
    pub fn iter_from<'a>(
        &'a self,
        sessions: &'a Sessions,
        from: usize,
    ) -> impl Iterator<Item = (usize, PeerRef<'a>)> {
        self.order
            .get(from..)
            .unwrap_or_default()
            .iter()
            .enumerate()
            .filter_map(move |(i, configured)| {
                Some((from + i, self.peer_ref(sessions, configured)?))
            })
    }

    fn peer_ref<'a>(
        &'a self,
        sessions: &'a Sessions,
        configured: &'a Configured,
    ) -> Option<PeerRef<'a>> {
        match configured {
            Configured::Running(id) => Some(PeerRef::Running {
                id: *id,
                entry: self.entry(*id)?,
                core_key: sessions.key(*id)?,
                session: sessions.get(*id)?,
            }),
            Configured::Pending(key) => self.pending.get(key).map(PeerRef::Pending),
        }
    }

    /// Changes when a reload changes which peers are configured, or their order.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The configuration of a running session.
    pub fn config_of(&self, sessions: &Sessions, id: SessionId) -> Option<PeerConfig> {
        Some(running_config(
            self.entry(id)?,
            sessions.key(id)?,
            sessions.get(id)?,
        ))
    }

    /// Number of configured peers.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// No peers configured.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Brings the running set in line with `configs`: new peers start, removed ones send
    /// AdminDown and go, changed ones are updated in place (a Poll sequence when Up), the rest
    /// are not touched.
    pub fn apply(
        &mut self,
        now: Instant,
        sessions: &mut Sessions,
        configs: Vec<PeerConfig>,
        send_buf: &mut Vec<u8>,
    ) -> ReloadSummary {
        self.ports_exhausted.clear();
        let mut summary = ReloadSummary {
            added: 0,
            removed: 0,
            changed: 0,
            unchanged: 0,
            restart_needed: Vec::new(),
        };
        // What runs now, by key; empty at start-up, when this costs nothing.
        let mut running: HashMap<PeerKey, SessionId> = self
            .iter(sessions)
            .filter_map(|p| match p {
                PeerRef::Running { id, .. } => Some((p.key(), id)),
                PeerRef::Pending(_) => None,
            })
            .collect();
        let mut successors = Successors::default();
        for (key, discriminator) in self.store.take_unwanted(&configs) {
            successors.hand_down(&key, discriminator);
        }
        if !running.is_empty() || !self.pending.is_empty() {
            let wanted: HashSet<PeerKey> = configs.iter().map(PeerConfig::key).collect();
            let gone: Vec<(PeerKey, SessionId)> = running
                .iter()
                .filter(|(key, _)| !wanted.contains(*key))
                .map(|(key, id)| (key.clone(), *id))
                .collect();
            for (key, id) in gone {
                running.remove(&key);
                if let Some(session) = sessions.get(id) {
                    successors.hand_down(&key, session.local_discriminator());
                }
                self.remove(now, sessions, &key, id, send_buf);
                summary.removed += 1;
            }
            let before = self.pending.len();
            self.pending.retain(|key, _| wanted.contains(key));
            summary.removed += before - self.pending.len();
        }

        let mut inherit = if successors.is_empty() {
            HashMap::new()
        } else {
            // Keys that start now and have no discriminator of their own on record.
            let starting: Vec<PeerKey> = configs
                .iter()
                .map(PeerConfig::key)
                .filter(|key| !running.contains_key(key) && self.store.unclaimed(key).is_none())
                .collect();
            let inherit = successors.pair(starting.iter());
            // The rest are kept for when their peers come back.
            let inherited: HashSet<u32> = inherit.values().map(|i| i.discriminator).collect();
            for (key, discriminator) in successors.into_entries() {
                if !inherited.contains(&discriminator) {
                    self.store.retire(&key, discriminator);
                }
            }
            inherit
        };
        // Kept for peers that have not claimed them yet, later in `configs` or pending: a
        // new peer's discriminator is none of these.
        let reserved: HashSet<u32> = self
            .store
            .held()
            .chain(inherit.values().map(|i| i.discriminator))
            .collect();
        let added = configs.len().saturating_sub(running.len());
        sessions.reserve(added);
        self.reserve_entries(sessions);
        let mut order = Vec::with_capacity(configs.len());
        for config in configs {
            let key = config.key();
            if let Some(&id) = running.get(&key) {
                order.push(Configured::Running(id));
                if self.config_of(sessions, id).as_ref() == Some(&config) {
                    summary.unchanged += 1;
                    continue;
                }
                match sessions.set_config(now, id, session_config(&config)) {
                    Ok(()) => {
                        info!(peer = %key, "peer settings changed");
                        summary.changed += 1;
                    }
                    Err(e) => warn!(peer = %key, error = %e, "cannot apply new settings"),
                }
            } else {
                // A pending peer tried again with the same settings is unchanged, and the
                // same reason it cannot start is not worth another warning.
                let previous = match self.pending.remove(&key) {
                    Some(old) if old.config == config => {
                        summary.unchanged += 1;
                        Some(old.error)
                    }
                    Some(_) => {
                        summary.changed += 1;
                        None
                    }
                    None => {
                        summary.added += 1;
                        None
                    }
                };
                let inherited = inherit.remove(&key);
                order.push(self.start(now, sessions, config, previous, inherited, &reserved));
            }
        }
        // Removed peers' slots may be reused in the same places by new ones.
        if summary.removed > 0 || order != self.order {
            self.generation += 1;
        }
        self.order = order;
        sessions.keep_for_others(self.store.kept_for_pending());
        self.persist(sessions);
        summary
    }

    /// Retries peers that could not start (missing interface, port trouble); returns how many
    /// started now.
    pub fn retry_pending(&mut self, now: Instant, sessions: &mut Sessions) -> usize {
        if self.pending.is_empty() {
            return 0;
        }
        self.ports_exhausted.clear();
        let pending = std::mem::take(&mut self.pending);
        let reserved: HashSet<u32> = self.store.held().collect();
        let mut started = HashMap::new();
        for (key, peer) in pending {
            let inherited = peer.successor_of.and_then(|from| {
                let discriminator = self.store.take(&from)?;
                Some(Inherited {
                    from,
                    discriminator,
                })
            });
            if let Configured::Running(id) = self.start(
                now,
                sessions,
                peer.config,
                Some(peer.error),
                inherited,
                &reserved,
            ) {
                started.insert(key, id);
            }
        }
        for configured in &mut self.order {
            if let Configured::Pending(key) = configured {
                if let Some(&id) = started.get(&**key) {
                    *configured = Configured::Running(id);
                }
            }
        }
        // Nothing started, nothing to save: building the whole set costs milliseconds at
        // 10,000 sessions, every tick while a peer waits for its interface.
        if !started.is_empty() {
            sessions.keep_for_others(self.store.kept_for_pending());
            self.persist(sessions);
        }
        started.len()
    }

    /// The retry tick's look at the sending sockets:
    /// - a session whose interface was deleted and created again (a new index) moves to it
    ///   with a new socket, silent sessions too;
    /// - a socket not connected (no route when it was bound) tries to connect, so it sends
    ///   through the connected, batched path again;
    /// - a connected socket that failed to send, or whose packets go out in batches from its
    ///   source address (the raw socket does not check that the address is still ours), is
    ///   connected again: the kernel looks the route up from its source, and refuses an IPv4
    ///   source that went away; an IPv6 socket's source is compared with the host's
    ///   addresses, since there neither sending nor connecting notices. Only a socket found
    ///   stale is replaced.
    ///
    /// All but the moves are system calls on the driver's thread, so each tick does a bounded
    /// share, carrying on next tick where it stopped. Sessions whose sends started failing
    /// are reported in one line.
    ///
    /// Returns whether sessions known to be broken (sends failing, socket unbound) were left
    /// for want of budget: the driver then checks again soon rather than in 5 s, so that
    /// after a renumbering thousands of sessions recover in seconds, not in many minutes.
    pub fn check_sockets(&mut self, sessions: &mut Sessions) -> bool {
        let failures = std::mem::take(&mut self.new_send_failures);
        if let Some((peer, error)) = failures.first {
            warn!(
                sessions = failures.count,
                first_peer = %peer,
                %error,
                "cannot send to some peers (counted in send_errors); sockets are replaced if an interface or address changed"
            );
        }
        let mut ifindexes: HashMap<String, Option<u32>> = HashMap::new();
        let mut moved: HashMap<String, usize> = HashMap::new();
        let mut budget = SOCKET_CHECKS_PER_TICK;
        let mut broken_left = false;
        // Only the batch sender needs a connected socket's source checked: a session's own
        // socket reports a source that went away on its next send.
        let batching = self.batch.is_some();
        // The host's IPv6 addresses, read once a tick if needed (`None`: unreadable).
        let mut local_v6: Option<Option<HashSet<std::net::Ipv6Addr>>> = None;
        let ids: Vec<SessionId> = sessions.iter().map(|(id, _, _)| id).collect();
        let start = self.check_cursor % ids.len().max(1);
        // Where the budget ran out: the next tick starts there.
        let mut stopped = None;
        for (n, &id) in ids[start..].iter().chain(&ids[..start]).enumerate() {
            let (Some(entry), Some(key)) = (
                self.entries.get_mut(id.index()).and_then(Option::as_mut),
                sessions.key(id).cloned(),
            ) else {
                continue;
            };
            let ifindex = match entry.interface.as_deref() {
                Some(name) => {
                    let now = match ifindexes.get(name) {
                        Some(&now) => now,
                        None => {
                            let now = interface_index(name).ok();
                            ifindexes.insert(name.to_owned(), now);
                            now
                        }
                    };
                    // Missing: nothing to bind to until it is back.
                    let Some(now) = now else { continue };
                    Some(now)
                }
                None => None,
            };
            let recreated = ifindex != key.ifindex;
            let tx = &entry.tx;
            let batched = batching && tx.batch_source().is_some();
            // IPv6: a connected socket keeps sending from an address that went away, and
            // connecting it again does not notice; its address is compared with the host's.
            let checked = batched || key.peer.is_ipv6();
            if !recreated && tx.bound() && tx.connected() && !entry.rebind && !checked {
                continue;
            }
            // Interface moves are one-offs and not held to the budget.
            if !recreated && budget == 0 {
                stopped.get_or_insert(start + n);
                broken_left |= entry.rebind || !tx.bound();
                continue;
            }
            let binding = TxBinding {
                peer: key.peer,
                local: key.local,
                interface: entry.interface.as_deref().map(str::to_owned),
            };
            let key = bfd_core::PeerKey { ifindex, ..key };
            if !recreated && entry.tx.bound() {
                budget = budget.saturating_sub(1);
                if !entry.tx.connected() {
                    // The source is picked for each packet: nothing is stale that a new
                    // socket would mend.
                    entry.tx.connect_again(&binding, destination(&key));
                    entry.rebind = false;
                    continue;
                }
                let source_ours = match entry.tx.local_ip() {
                    Some(IpAddr::V6(ip)) => local_v6
                        .get_or_insert_with(local_ipv6_addresses)
                        .as_ref()
                        .is_none_or(|ours| ours.contains(&ip)),
                    _ => true,
                };
                if source_ours && entry.tx.still_valid(destination(&key)) {
                    entry.rebind = false;
                    continue;
                }
            }
            if !recreated {
                budget = budget.saturating_sub(REPLACE_COST);
            }
            match entry
                .tx
                .rebind(&binding, &mut self.ports, destination(&key))
            {
                Ok(()) => {
                    entry.rebind = false;
                    entry.warned = false;
                    if recreated {
                        sessions.set_interface_index(id, ifindex);
                        if let Some(name) = entry.interface.as_deref() {
                            *moved.entry(name.to_owned()).or_default() += 1;
                        }
                    }
                }
                Err(e) => debug!(peer = %key.peer, error = %e, "cannot replace sending socket"),
            }
        }
        self.check_cursor = stopped.unwrap_or(start);
        for (interface, sessions) in &moved {
            info!(
                interface = interface.as_str(),
                sessions, "interface created again; sessions moved to it"
            );
        }
        broken_left
    }

    /// Grows the side table to the core's slot capacity in one step, not by doubling.
    fn reserve_entries(&mut self, sessions: &Sessions) {
        let wanted = sessions.capacity();
        if wanted > self.entries.len() {
            self.entries.reserve_exact(wanted - self.entries.len());
        }
    }

    /// Starts a session for `config`, or keeps it pending; `previous` is why it was pending
    /// before, if it was: the same reason again is not logged again every retry. `inherited`
    /// is the discriminator of the session it replaces, if the state file has none for it.
    fn start(
        &mut self,
        now: Instant,
        sessions: &mut Sessions,
        config: PeerConfig,
        previous: Option<String>,
        inherited: Option<Inherited>,
        reserved: &HashSet<u32>,
    ) -> Configured {
        let discriminator = inherited.as_ref().map(|i| i.discriminator);
        match self.try_start(now, sessions, &config, discriminator, reserved) {
            Ok((id, tx)) => {
                debug!(peer = %config.key(), source_port = tx.source_port(), "session started");
                if self.entries.len() <= id.index() {
                    self.entries.resize_with(id.index() + 1, || None);
                }
                self.entries[id.index()] = Some(PeerEntry {
                    interface: config.interface.map(String::into_boxed_str),
                    tx,
                    state_changes: [0; 4],
                    send_errors: 0,
                    rebind: false,
                    warned: false,
                });
                Configured::Running(id)
            }
            Err(error) => {
                let key = config.key();
                if previous.as_deref() == Some(error.as_str()) {
                    debug!(peer = %key, %error, "cannot start session yet; retrying");
                } else {
                    warn!(peer = %key, %error, "cannot start session yet; retrying");
                }
                // Kept for it as a previous run's would be: taken when it starts, saved
                // meanwhile, under the key of the session it belonged to.
                let successor_of = inherited.map(
                    |Inherited {
                         from,
                         discriminator,
                     }| {
                        self.store.hold(&from, discriminator);
                        from
                    },
                );
                let pending = PendingPeer {
                    config,
                    error,
                    successor_of,
                };
                self.pending.insert(key.clone(), pending);
                Configured::Pending(Box::new(key))
            }
        }
    }

    fn try_start(
        &mut self,
        now: Instant,
        sessions: &mut Sessions,
        config: &PeerConfig,
        inherited: Option<u32>,
        reserved: &HashSet<u32>,
    ) -> Result<(SessionId, TxSocket), String> {
        if let Some(budget) = self.socket_budget {
            if sessions.len() >= budget.sessions {
                return Err(format!(
                    "open-file limit {} leaves room for {} sessions (the rest is kept for reloads, \
                     control and metrics): raise the nofile limit",
                    budget.limit, budget.sessions
                ));
            }
        }
        let ifindex = match &config.interface {
            Some(name) => {
                Some(interface_index(name).map_err(|e| format!("interface {name}: {e}"))?)
            }
            None => None,
        };
        let binding = TxBinding {
            peer: config.address,
            local: config.local_address,
            interface: config.interface.clone(),
        };
        let core_key = bfd_core::PeerKey {
            peer: config.address,
            local: config.local_address,
            ifindex,
            multihop: config.multihop,
        };
        let source = (
            binding.local,
            binding.interface.clone(),
            binding.peer.is_ipv6(),
        );
        if self.ports_exhausted.contains(&source) {
            return Err("cannot bind a sending socket: every source port is in use".into());
        }
        let tx =
            TxSocket::bind(&binding, &mut self.ports, destination(&core_key)).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AddrInUse {
                    self.ports_exhausted.insert(source);
                }
                format!("cannot bind a sending socket: {e}")
            })?;
        // Its own from the state file; else the one of the session it succeeds, which its peer
        // knows now; else the one it had when it was removed.
        let key = config.key();
        let own = self.store.take(&key);
        let retired = self.store.take_retired(&key);
        let wanted = own.or(inherited).or(retired);
        let discriminator = wanted.unwrap_or_else(|| loop {
            let d = sessions.unused_discriminator();
            if !reserved.contains(&d) {
                break d;
            }
        });
        let id = sessions
            .insert(now, core_key, session_config(config), Some(discriminator))
            .map_err(|e| {
                self.ports.release(tx.source_port());
                e.to_string()
            })?;
        if let Some(wanted) = wanted {
            let got = sessions.get(id).map(bfd_core::Session::local_discriminator);
            if got != Some(wanted) {
                warn!(
                    peer = %config.address,
                    stored = wanted,
                    "the discriminator kept for this peer is another session's; it gets a new one, and the peer must learn it"
                );
            }
        }
        Ok((id, tx))
    }

    fn remove(
        &mut self,
        now: Instant,
        sessions: &mut Sessions,
        key: &PeerKey,
        id: SessionId,
        buf: &mut Vec<u8>,
    ) {
        let old = sessions.get(id).map(bfd_core::Session::state);
        // Tell the peer before going: it sees AdminDown instead of waiting out a timeout. A
        // peer is often removed because its address or interface went away; its last send
        // failing is no news for the next tick's warning.
        if let Some(entry) = self.entries.get_mut(id.index()).and_then(Option::as_mut) {
            entry.warned = true;
        }
        sessions.shutdown_session(now, id);
        self.send_due(|| now, sessions, buf);
        // The session's events go with it, so account for and log its last transition here.
        if let Some(old) = old.filter(|&s| s != State::AdminDown) {
            self.note_transition(sessions, id, old, State::AdminDown);
            if let Some(config) = self.config_of(sessions, id) {
                crate::logging::state_change(
                    &config,
                    old,
                    State::AdminDown,
                    bfd_core::Diagnostic::AdministrativelyDown,
                );
            }
        }
        if sessions.remove(id).is_some() {
            info!(peer = %key, last_state = ?old, "session removed after sending AdminDown");
        }
        if let Some(entry) = self.entries.get_mut(id.index()) {
            if let Some(gone) = entry.take() {
                self.ports.release(gone.tx.source_port());
            }
        }
    }

    /// Saves the discriminators again if the last write failed, or one changed since (called
    /// on the retry tick).
    pub fn retry_persist(&mut self, sessions: &Sessions) {
        if self.store.failed() || self.unsaved {
            self.persist(sessions);
        }
    }

    /// A session took the discriminator its peer addresses (bfd-core's answer to a peer that
    /// holds on to one from before bfdd lost its state). Kept from the next retry tick on, not
    /// at once: after a state loss every session may do so within a second, and each save
    /// costs milliseconds at thousands of sessions.
    pub fn note_adopted(&mut self, sessions: &Sessions, id: SessionId, old: u32, new: u32) {
        self.store.release(new);
        self.unsaved = true;
        let peer = self.config_of(sessions, id).map(|c| c.key());
        info!(
            peer = ?peer.map(|k| k.to_string()),
            old,
            new,
            "the peer addresses a discriminator of ours from before (a state lost); taken"
        );
    }

    /// Saves the running sessions' discriminators, and those a pending peer has not claimed
    /// yet: restarted before its interface appears, it still gets the one its peer knows.
    fn persist(&mut self, sessions: &Sessions) {
        self.unsaved = false;
        let store = &self.store;
        let running = self.iter(sessions).filter_map(|p| match p {
            PeerRef::Running { session, .. } => Some((p.key(), session.local_discriminator())),
            PeerRef::Pending(pending) => {
                let key = pending.held_under();
                store.unclaimed(&key).map(|d| (key, d))
            }
        });
        let running: Vec<(PeerKey, u32)> = running.collect();
        if let Err(e) = self.store.save(running.iter().map(|(k, d)| (k, *d))) {
            warn!(error = %e, "cannot save discriminators; a restart will use new ones");
        }
    }

    /// Sends every packet due, each from its session's socket and at the time `clock` gives as
    /// it goes: the last packets of a large batch, or of one the thread was preempted in,
    /// leave well after the wake-up, and their sessions schedule the next packet (and account
    /// for this one's punctuality) from when it really left.
    pub fn send_due(
        &mut self,
        mut clock: impl FnMut() -> Instant,
        sessions: &mut Sessions,
        buf: &mut Vec<u8>,
    ) -> usize {
        let mut sent = 0;
        while let Some(tx) = sessions.poll_transmit(clock(), buf) {
            if let Some(punctuality) = tx.periodic {
                self.transmit_timing.record(punctuality);
            }
            let index = tx.session.index();
            let (Some(batch_source), Some(key)) = (
                self.entries
                    .get(index)
                    .and_then(Option::as_ref)
                    .map(|entry| entry.tx.batch_source()),
                sessions.key(tx.session),
            ) else {
                continue;
            };
            if let (Some(batch), Some(source)) = (self.batch.as_mut(), batch_source) {
                // A batch source is an IPv4 session's, so its destination is IPv4 too.
                if let SocketAddr::V4(to) = destination(key) {
                    if batch.is_full() {
                        sent -= flush_batch(
                            batch,
                            &mut self.entries,
                            &mut self.new_send_failures,
                            sessions,
                        );
                    }
                    if batch.push(tx.session, source, to, buf) {
                        sent += 1;
                        continue;
                    }
                }
            }
            let Some(entry) = self.entries.get_mut(index).and_then(Option::as_mut) else {
                continue;
            };
            match entry.tx.try_send(buf, || destination(key)) {
                Ok(()) => {
                    sent += 1;
                    entry.rebind = false;
                }
                Err(e) => note_send_error(entry, &mut self.new_send_failures, Some(key.peer), &e),
            }
        }
        if let Some(batch) = self.batch.as_mut() {
            sent -= flush_batch(
                batch,
                &mut self.entries,
                &mut self.new_send_failures,
                sessions,
            );
        }
        sent
    }

    /// Counts a transition for the metrics, and notes when the peer's address becomes usable
    /// or unusable as a gateway.
    pub fn note_transition(&mut self, sessions: &Sessions, id: SessionId, old: State, new: State) {
        let (Some(entry), Some(key)) = (
            self.entries.get_mut(id.index()).and_then(Option::as_mut),
            sessions.key(id),
        ) else {
            return;
        };
        entry.state_changes[usize::from(new.bits())] += 1;
        if new == State::Up {
            // Sending works again: the next failure is news.
            entry.warned = false;
        }
        let address = key.peer;
        if !self.gateways.contains(&address) {
            return;
        }
        if new == State::Up && old != State::Up {
            let n = self.up_by_address.entry(address).or_insert(0);
            *n += 1;
            if *n == 1 {
                self.gateway_changes.push((address, true));
            }
        } else if old == State::Up && new != State::Up {
            if let Some(n) = self.up_by_address.get_mut(&address) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.up_by_address.remove(&address);
                    self.gateway_changes.push((address, false));
                }
            }
        }
    }

    /// Sets the addresses routes use as BFD-tracked gateways. A new one whose sessions are
    /// already Up is reported usable at once; one no longer used is reported unusable (no
    /// route uses it any more) and stops being tracked.
    pub fn set_gateways(&mut self, sessions: &Sessions, gateways: HashSet<IpAddr>) {
        // Untracked from now on: the installer must not keep believing it is Up.
        let changes = &mut self.gateway_changes;
        self.up_by_address.retain(|&address, _| {
            let keep = gateways.contains(&address);
            if !keep {
                changes.push((address, false));
            }
            keep
        });
        for &address in gateways.difference(&self.gateways) {
            let up = sessions
                .with_peer(address)
                .filter(|&id| sessions.get(id).is_some_and(|s| s.state() == State::Up))
                .count();
            if up > 0 {
                self.up_by_address
                    .insert(address, u32::try_from(up).unwrap_or(u32::MAX));
                self.gateway_changes.push((address, true));
            }
        }
        self.gateways = gateways;
    }

    /// Gateway usability changes since the last call, oldest first.
    pub fn take_gateway_changes(&mut self) -> std::vec::Drain<'_, (IpAddr, bool)> {
        self.gateway_changes.drain(..)
    }
}

/// A configured peer as `Peers::iter` yields it: references only, so that going over
/// thousands of peers for a query costs the driver little.
pub enum PeerRef<'a> {
    /// Running.
    Running {
        /// Its session's handle.
        id: SessionId,
        /// Its side table.
        entry: &'a PeerEntry,
        /// Its key in the core.
        core_key: &'a bfd_core::PeerKey,
        /// Its session.
        session: &'a Session,
    },
    /// Not started yet.
    Pending(&'a PendingPeer),
}

impl PeerRef<'_> {
    /// The peer's configuration (rebuilt from the session's when running).
    pub fn config(&self) -> PeerConfig {
        match self {
            PeerRef::Running {
                entry,
                core_key,
                session,
                ..
            } => running_config(entry, core_key, session),
            PeerRef::Pending(pending) => pending.config.clone(),
        }
    }

    /// The peer's key, as [`PeerConfig::key`] gives it.
    pub fn key(&self) -> PeerKey {
        let (address, local_address, interface) = self.addresses();
        let multihop = match self {
            PeerRef::Running { core_key, .. } => core_key.multihop,
            PeerRef::Pending(pending) => pending.config.multihop,
        };
        PeerKey {
            address,
            local_address,
            interface: interface.map(str::to_string),
            multihop,
        }
    }

    /// Peer address, local address and interface, borrowed.
    pub fn addresses(&self) -> (IpAddr, Option<IpAddr>, Option<&str>) {
        match self {
            PeerRef::Running {
                entry, core_key, ..
            } => (core_key.peer, core_key.local, entry.interface.as_deref()),
            PeerRef::Pending(pending) => (
                pending.config.address,
                pending.config.local_address,
                pending.config.interface.as_deref(),
            ),
        }
    }
}

/// Sends `batch`, counting each packet refused against its session; returns how many were.
fn flush_batch(
    batch: &mut BatchSender,
    entries: &mut [Option<PeerEntry>],
    failures: &mut NewSendFailures,
    sessions: &Sessions,
) -> usize {
    let mut refused = 0;
    batch.flush(|session, e| {
        refused += 1;
        if let Some(entry) = entries.get_mut(session.index()).and_then(Option::as_mut) {
            note_send_error(entry, failures, sessions.key(session).map(|k| k.peer), e);
        }
    });
    refused
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::config::Config;

    /// Peers on loopback only: a removed one is sent its AdminDown there.
    fn peers(toml: &str) -> Vec<PeerConfig> {
        Config::parse(toml, Path::new("test.toml"))
            .expect("valid test config")
            .peers
    }

    /// An empty peer table and core, with a discriminator file under a scratch directory named
    /// for the test (removed when the returned guard drops).
    fn table(name: &str) -> (Peers, Sessions, Scratch) {
        let dir = scratch_dir(name);
        let (store, _) = DiscriminatorStore::load(&dir);
        (Peers::new(store, 7, None), Sessions::new(3), Scratch(dir))
    }

    /// [`table`] with the peers of `config` applied.
    fn started(name: &str, config: &str) -> (Peers, Sessions, Scratch) {
        let (mut table, mut sessions, scratch) = table(name);
        table.apply(
            crate::driver::now(),
            &mut sessions,
            peers(config),
            &mut Vec::new(),
        );
        (table, sessions, scratch)
    }

    struct Scratch(std::path::PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// The running session configured with `key`.
    fn session_of(table: &Peers, sessions: &Sessions, key: &PeerKey) -> Option<SessionId> {
        table.iter(sessions).find_map(|p| match p {
            PeerRef::Running { id, .. } if p.key() == *key => Some(id),
            _ => None,
        })
    }

    fn listed(peers: &Peers, sessions: &Sessions) -> Vec<(String, bool)> {
        peers
            .iter(sessions)
            .map(|p| match p {
                PeerRef::Running { core_key, .. } => (core_key.peer.to_string(), true),
                PeerRef::Pending(p) => (p.config.address.to_string(), false),
            })
            .collect()
    }

    /// The entry keeps no copy of the configuration: what status, metrics and reloads see is
    /// rebuilt from the core, and must be exactly what was configured, whatever the options.
    #[test]
    fn running_configuration_is_rebuilt_exactly() {
        let (mut table, mut sessions, _scratch) = table("rebuilt");
        let now = crate::driver::now();
        let configured = peers(concat!(
            "[[peer]]\naddress = \"127.0.0.2\"\nlocal-address = \"127.0.0.1\"\ninterface = \"lo\"\n",
            "passive = true\ndesired-min-tx = \"50ms\"\nrequired-min-rx = \"70ms\"\ndetect-multiplier = 4\n",
            "[[peer]]\naddress = \"127.0.0.3\"\nmultihop = true\nminimum-ttl = 250\nshutdown = true\n",
            "[[peer]]\naddress = \"127.0.0.4\"\n[peer.auth]\ntype = \"meticulous-keyed-sha1\"\nkey-id = 7\nsecret = \"s3cret\"\n",
        ));
        table.apply(now, &mut sessions, configured.clone(), &mut Vec::new());
        let rebuilt: Vec<PeerConfig> = table
            .iter(&sessions)
            .map(|p| match p {
                PeerRef::Running { .. } => {
                    // The key is made without the whole configuration, for the same answer.
                    assert_eq!(p.key(), p.config().key());
                    p.config()
                }
                PeerRef::Pending(p) => panic!("not started: {}", p.error),
            })
            .collect();
        assert_eq!(rebuilt, configured);
        // And so a reload of the same file changes nothing.
        let s = table.apply(now, &mut sessions, configured.clone(), &mut Vec::new());
        assert_eq!((s.added, s.removed, s.changed, s.unchanged), (0, 0, 0, 3));
        for config in &configured {
            assert!(
                session_of(&table, &sessions, &config.key()).is_some(),
                "{}",
                config.key()
            );
        }
    }

    /// Places in the configuration order, as answers taken in chunks use them, hold until a
    /// reload changes the peers or their order; a reload that changes only settings, or
    /// nothing, keeps them.
    #[test]
    fn generation_changes_when_the_places_of_peers_do() {
        let (mut table, mut sessions, _scratch) = table("generation");
        let now = crate::driver::now();
        let two = "[[peer]]\naddress = \"127.0.0.2\"\n[[peer]]\naddress = \"127.0.0.3\"\n";
        table.apply(now, &mut sessions, peers(two), &mut Vec::new());
        let mut last = table.generation();
        let mut reload = |config: &str| {
            table.apply(now, &mut sessions, peers(config), &mut Vec::new());
            let changed = table.generation() != last;
            last = table.generation();
            changed
        };
        assert!(!reload(two), "same file");
        assert!(!reload("[[peer]]\naddress = \"127.0.0.2\"\ndetect-multiplier = 5\n[[peer]]\naddress = \"127.0.0.3\"\n"), "settings only");
        assert!(
            reload("[[peer]]\naddress = \"127.0.0.3\"\n[[peer]]\naddress = \"127.0.0.2\"\n"),
            "order"
        );
        assert!(reload("[[peer]]\naddress = \"127.0.0.3\"\n"), "one removed");
        // A removed peer's slot may go to a new one in the same place.
        assert!(
            reload("[[peer]]\naddress = \"127.0.0.4\"\n"),
            "one replaced"
        );
        assert!(
            reload("[[peer]]\naddress = \"127.0.0.4\"\n[[peer]]\naddress = \"127.0.0.5\"\n"),
            "one added"
        );
    }

    /// `bfdctl peers` and `/metrics` walk the peers a chunk at a time from `next` to `next`:
    /// every configured peer once, running or pending, in configuration order.
    #[test]
    fn figures_chunks_cover_every_peer_once_in_order() {
        let (mut table, mut sessions, _scratch) = table("chunks");
        let now = crate::driver::now();
        let mut config = String::new();
        let mut addresses = Vec::new();
        for i in 0..1300u32 {
            // A few run (on loopback); the rest wait for an interface that is not there.
            if [0, 511, 512, 1299].contains(&i) {
                let address = format!("127.0.{}.{}", i / 250, 1 + i % 250);
                config += &format!("[[peer]]\naddress = \"{address}\"\n");
                addresses.push(address);
            } else {
                let address = format!("198.18.{}.{}", i / 250, 1 + i % 250);
                config +=
                    &format!("[[peer]]\naddress = \"{address}\"\ninterface = \"bfdd-absent4\"\n");
                addresses.push(address);
            }
        }
        table.apply(now, &mut sessions, peers(&config), &mut Vec::new());
        let (mut listed, mut sizes, mut running) = (Vec::new(), Vec::new(), 0);
        let mut next = Some(0);
        while let Some(from) = next {
            let chunk = crate::status::figures_chunk(now, &table, &sessions, from);
            assert_eq!((chunk.total, chunk.generation), (1300, table.generation()));
            sizes.push(chunk.figures.len());
            running += chunk.figures.iter().filter(|f| f.id != 0).count();
            listed.extend(chunk.figures.iter().map(|f| f.peer.to_string()));
            next = chunk.next;
        }
        assert_eq!(sizes, [512, 512, 276]);
        assert_eq!(running, 4);
        assert_eq!(listed, addresses);
        // Past the end: nothing, and no next.
        let past = crate::status::figures_chunk(now, &table, &sessions, 1300);
        assert!(past.figures.is_empty() && past.next.is_none());
    }

    /// A packet from the emulated peer at `from` in `state`, as the driver would feed it.
    fn from_peer(sessions: &mut Sessions, from: &str, state: State, your: u32) {
        let packet = bfd_wire::ControlPacket {
            state,
            desired_min_tx: 300_000,
            ..crate::test_packets::down(0x5eed, your)
        };
        let mut bytes = Vec::new();
        packet.emit(&mut bytes);
        let meta = bfd_core::RxMeta {
            src: from.parse().expect("address"),
            dst: "127.0.0.1".parse().expect("address"),
            ifindex: None,
            ttl: Some(255),
            multihop: false,
        };
        sessions
            .handle_datagram(crate::driver::now(), &meta, &bytes)
            .expect("accepted");
    }

    fn drain(table: &mut Peers, sessions: &mut Sessions) -> Vec<(IpAddr, bool)> {
        while let Some((id, event)) = sessions.poll_event() {
            if let bfd_core::Event::StateChanged { old, new, .. } = event {
                table.note_transition(sessions, id, old, new);
            }
        }
        table.take_gateway_changes().collect()
    }

    /// Only addresses routes use are tracked; one that becomes a gateway while its session is
    /// Up is reported at once, and one that stops being a gateway is reported gone.
    #[test]
    fn gateway_changes_only_for_route_gateways() {
        let config = "[[peer]]\naddress = \"127.0.0.2\"\n[[peer]]\naddress = \"127.0.0.3\"\n";
        let (mut table, mut sessions, _scratch) = started("gw", config);
        let gw: IpAddr = "127.0.0.2".parse().expect("address");
        table.set_gateways(
            &sessions,
            HashSet::from(["127.0.0.3".parse().expect("address")]),
        );
        for peer in ["127.0.0.2", "127.0.0.3"] {
            from_peer(&mut sessions, peer, State::Down, 0);
            let ours = sessions
                .with_peer(peer.parse().expect("address"))
                .next()
                .and_then(|id| sessions.get(id))
                .map(Session::local_discriminator)
                .expect("session");
            from_peer(&mut sessions, peer, State::Up, ours);
        }
        let changes = drain(&mut table, &mut sessions);
        assert_eq!(changes, [("127.0.0.3".parse().expect("address"), true)]);

        // 127.0.0.2 becomes a gateway while Up; 127.0.0.3 stops being one.
        table.set_gateways(&sessions, HashSet::from([gw]));
        let mut changes = drain(&mut table, &mut sessions);
        changes.sort();
        assert_eq!(
            changes,
            [(gw, true), ("127.0.0.3".parse().expect("address"), false)]
        );

        // Its session going down is reported; the untracked one's is not.
        from_peer(&mut sessions, "127.0.0.2", State::AdminDown, 0);
        from_peer(&mut sessions, "127.0.0.3", State::AdminDown, 0);
        assert_eq!(drain(&mut table, &mut sessions), [(gw, false)]);
    }

    #[test]
    fn each_packet_of_a_batch_is_timed_when_it_leaves() {
        let (mut table, mut sessions, _scratch) = table("clock");
        let mut buf = Vec::new();
        let start = crate::driver::now();
        let two = "[[peer]]\naddress = \"127.0.0.2\"\n[[peer]]\naddress = \"127.0.0.4\"\n";
        table.apply(start, &mut sessions, peers(two), &mut buf);
        // The first packets open the schedule: sent, not timed.
        sessions.handle_timeout(start);
        assert_eq!(table.send_due(|| start, &mut sessions, &mut buf), 2);
        assert_eq!(table.transmit_timing().count(), 0);
        // Both periodic packets are due; the thread then takes 300 ms to send the second.
        let awake = start + Duration::from_secs(2);
        sessions.handle_timeout(awake);
        let mut t = awake;
        let clock = || {
            let now = t;
            t += Duration::from_millis(300);
            now
        };
        assert_eq!(table.send_due(clock, &mut sessions, &mut buf), 2);
        assert_eq!(table.transmit_timing().count(), 2);
        // Down, the interval is 1 s, drawn in 750-1000 ms: scheduled from the wake-up, no
        // next packet could come later than awake + 1 s; from when it left, one does.
        let latest_next = table
            .iter(&sessions)
            .filter_map(|p| match p {
                PeerRef::Running { id, .. } => sessions.get(id)?.poll_timeout(),
                PeerRef::Pending(_) => None,
            })
            .max()
            .expect("two running sessions");
        assert!(
            latest_next >= awake + Duration::from_millis(1050),
            "{:?} after the wake-up",
            latest_next - awake
        );
    }

    /// OVN keeps addressing our old discriminator: a peer whose key changes (a local address
    /// or an interface added), by reload or across a restart, keeps it.
    #[test]
    fn a_peer_whose_key_changes_keeps_its_discriminator() {
        let now = crate::driver::now();
        let mut buf = Vec::new();
        let dir =
            std::env::temp_dir().join(format!("bfdd-peers-succession-{}", std::process::id()));
        let _scratch = Scratch(dir.clone());
        let discriminator = |table: &Peers, sessions: &Sessions, config: &str| {
            let key = peers(config).remove(0).key();
            let id = session_of(table, sessions, &key).expect("running");
            sessions.get(id).expect("session").local_discriminator()
        };
        let plain = "[[peer]]\naddress = \"127.0.0.2\"\n[[peer]]\naddress = \"127.0.0.3\"\n";
        let pinned = "[[peer]]\naddress = \"127.0.0.2\"\nlocal-address = \"127.0.0.1\"\n[[peer]]\naddress = \"127.0.0.3\"\n";
        let bound = "[[peer]]\naddress = \"127.0.0.2\"\ninterface = \"lo\"\n[[peer]]\naddress = \"127.0.0.3\"\n";
        let (store, _) = DiscriminatorStore::load(&dir);
        let mut table = Peers::new(store, 7, None);
        let mut sessions = Sessions::new(3);
        table.apply(now, &mut sessions, peers(plain), &mut buf);
        let first = discriminator(&table, &sessions, plain);
        let other = discriminator(&table, &sessions, "[[peer]]\naddress = \"127.0.0.3\"\n");

        let s = table.apply(now, &mut sessions, peers(pinned), &mut buf);
        assert_eq!((s.added, s.removed), (1, 1));
        assert_eq!(discriminator(&table, &sessions, pinned), first, "by reload");

        // Stopped, configured with an interface instead, started again (with other random
        // numbers, as a new process has).
        drop((table, sessions));
        let (store, _) = DiscriminatorStore::load(&dir);
        let mut table = Peers::new(store, 7, None);
        let mut sessions = Sessions::new(4);
        table.apply(now, &mut sessions, peers(bound), &mut buf);
        assert_eq!(
            discriminator(&table, &sessions, bound),
            first,
            "across a restart"
        );
        assert_eq!(
            discriminator(&table, &sessions, "[[peer]]\naddress = \"127.0.0.3\"\n"),
            other,
            "the unchanged peer keeps its own"
        );
    }

    /// `bfdctl peer` picks between a single-hop and a multihop session to one address: the
    /// single-hop one by default, the multihop one when asked.
    #[test]
    fn peer_detail_picks_the_hop_mode() {
        let now = crate::driver::now();
        let detail = |(table, sessions, _): &(Peers, Sessions, Scratch), multihop| {
            crate::status::peer_detail(now, table, sessions, "127.0.0.2", None, None, multihop)
        };
        let both = started(
            "hop-mode",
            "[[peer]]\naddress = \"127.0.0.2\"\nmultihop = true\n[[peer]]\naddress = \"127.0.0.2\"\n",
        );
        let single = detail(&both, None).expect("found");
        assert!(!single.summary.multihop, "single hop by default");
        assert!(!detail(&both, Some(false)).expect("found").summary.multihop);
        assert!(detail(&both, Some(true)).expect("found").summary.multihop);

        // With only a multihop session, that is the default.
        let only = started(
            "hop-mode-only",
            "[[peer]]\naddress = \"127.0.0.2\"\nmultihop = true\n",
        );
        assert!(detail(&only, None).expect("found").summary.multihop);
        let error = detail(&only, Some(false)).expect_err("no single-hop session");
        assert_eq!(error, "no single-hop session with peer 127.0.0.2");
    }

    /// Past the open-file budget peers stay pending, saying why, rather than take the
    /// descriptors a reload needs.
    #[test]
    fn peers_past_the_socket_budget_stay_pending() {
        let (mut table, mut sessions, _scratch) = table("budget");
        table.limit_sockets(SocketBudget {
            limit: 1024,
            sessions: 2,
        });
        let now = crate::driver::now();
        let config = "[[peer]]\naddress = \"127.0.0.2\"\n[[peer]]\naddress = \"127.0.0.3\"\n[[peer]]\naddress = \"127.0.0.4\"\n";
        table.apply(now, &mut sessions, peers(config), &mut Vec::new());
        assert_eq!(sessions.len(), 2);
        let pending: Vec<_> = table
            .iter(&sessions)
            .filter_map(|p| match p {
                PeerRef::Pending(p) => Some(p.error.clone()),
                PeerRef::Running { .. } => None,
            })
            .collect();
        assert_eq!(pending.len(), 1);
        assert!(pending[0].contains("open-file limit 1024"), "{pending:?}");
        assert!(pending[0].contains("raise the nofile limit"), "{pending:?}");
    }

    /// The retry tick's socket check: sessions sending from their own sockets cost it nothing
    /// while healthy (their sends report a lost source), and when broken sessions are left for
    /// want of budget it says so, for the driver to go on soon: 100 unbound sockets are all
    /// bound again within three checks.
    #[test]
    fn socket_check_spends_its_budget_on_what_needs_it() {
        // More than one check's budget (256) of connected IPv4 sessions, batching off.
        let config: String = (0..300)
            .map(|i| {
                format!(
                    "[[peer]]\naddress = \"127.0.{}.{}\"\n",
                    1 + i / 200,
                    1 + i % 200
                )
            })
            .collect();
        let (mut table, mut sessions, _scratch) = started("socket-check", &config);
        assert_eq!(sessions.len(), 300);
        let cursor = table.check_cursor;
        assert!(!table.check_sockets(&mut sessions));
        assert_eq!(
            table.check_cursor, cursor,
            "healthy sessions used the budget"
        );

        let gone = crate::net::TxBinding {
            peer: "127.0.1.1".parse().expect("address"),
            local: Some("192.0.2.123".parse().expect("address")),
            interface: None,
        };
        let to = std::net::SocketAddr::new(gone.peer, crate::net::SINGLE_HOP_PORT);
        let mut ports = SourcePorts::new(0);
        for entry in table.entries.iter_mut().flatten().take(100) {
            assert!(entry.tx.rebind(&gone, &mut ports, to).is_err());
            entry.rebind = true;
        }
        let mut checks = 1;
        while table.check_sockets(&mut sessions) {
            checks += 1;
            assert!(checks <= 3, "still broken sessions after {checks} checks");
        }
        assert!(table.entries.iter().flatten().all(|e| e.tx.bound()));
    }

    /// A packet the kernel refuses is a send error, not a packet sent: the figures (and the
    /// metric bfd_control_packets_sent_total) must not grow while nothing leaves.
    #[test]
    fn refused_packets_are_not_counted_as_sent() {
        let config = "[[peer]]\naddress = \"127.0.0.2\"\nlocal-address = \"127.0.0.1\"\n";
        let (mut table, mut sessions, _scratch) = started("tx-refused", config);
        let key = peers(config).remove(0).key();
        let id = session_of(&table, &sessions, &key).expect("running");
        let sent_figure = |table: &Peers, sessions: &Sessions| {
            crate::status::figures_chunk(crate::driver::now(), table, sessions, 0).figures[0]
                .tx_packets
        };
        let before = sent_figure(&table, &sessions);
        break_socket(&mut table, &key, id);
        let later = crate::driver::now() + Duration::from_secs(3);
        sessions.handle_timeout(later);
        table.send_due(|| later, &mut sessions, &mut Vec::new());
        let refused = table.entries[id.index()]
            .as_ref()
            .expect("entry")
            .send_errors;
        assert!(refused >= 1);
        assert!(sessions.get(id).expect("session").stats().tx_packets >= before + refused);
        assert_eq!(sent_figure(&table, &sessions), before);
    }

    /// Leaves the session's socket unbound, as when its local address is gone: it refuses
    /// every packet.
    fn break_socket(table: &mut Peers, key: &PeerKey, id: SessionId) {
        let gone = crate::net::TxBinding {
            peer: key.address,
            local: Some("192.0.2.123".parse().expect("address")),
            interface: None,
        };
        let entry = table.entries[id.index()].as_mut().expect("entry");
        let mut ports = SourcePorts::new(0);
        let to = std::net::SocketAddr::new(key.address, crate::net::SINGLE_HOP_PORT);
        assert!(entry.tx.rebind(&gone, &mut ports, to).is_err());
    }

    /// A peer removed because its address went away cannot send its AdminDown; that is no
    /// news to warn about on the next tick, naming a peer `bfdctl peers` no longer lists.
    #[test]
    fn a_removed_peer_failing_its_last_send_is_not_reported() {
        let config = "[[peer]]\naddress = \"127.0.0.2\"\nlocal-address = \"127.0.0.1\"\n";
        let (mut table, mut sessions, _scratch) = started("tx-removed", config);
        let key = peers(config).remove(0).key();
        let id = session_of(&table, &sessions, &key).expect("running");
        break_socket(&mut table, &key, id);
        let now = crate::driver::now();
        table.apply(now, &mut sessions, Vec::new(), &mut Vec::new());
        assert_eq!(sessions.len(), 0);
        assert_eq!(table.new_send_failures.count, 0);
        assert_eq!(table.new_send_failures.first, None);
    }

    /// A peer shut down in the configuration whose interface is missing reads AdminDown, as
    /// it would running: `bfdctl peers --check` and the alerts leave such peers out.
    #[test]
    fn a_pending_peer_shut_down_reads_admin_down() {
        let (mut table, mut sessions, _scratch) = table("pending-shutdown");
        let config = "[[peer]]\naddress = \"127.0.0.3\"\ninterface = \"bfdd-absent7\"\nshutdown = true\n[[peer]]\naddress = \"127.0.0.4\"\ninterface = \"bfdd-absent8\"\n";
        let now = crate::driver::now();
        table.apply(now, &mut sessions, peers(config), &mut Vec::new());
        let lines: Vec<_> = crate::status::figures_chunk(now, &table, &sessions, 0)
            .figures
            .iter()
            .map(crate::status::summary)
            .map(|l| (l.peer, l.state, l.diag))
            .collect();
        assert_eq!(
            lines,
            [
                (
                    "127.0.0.3".into(),
                    "admin_down".into(),
                    "administratively-down".into()
                ),
                ("127.0.0.4".into(), "down".into(), "not-started".into()),
            ]
        );
    }

    /// Discriminators are handed down only where old and new key can be the same path: two
    /// sessions to one peer from different addresses each keep their own when an interface is
    /// added to both (they were swapped), and a session moved to another link inherits nothing
    /// (the old link's peer, still addressing the old discriminator, would reach it).
    #[test]
    fn successors_only_where_old_and_new_can_be_the_same_path() {
        let now = crate::driver::now();
        let mut buf = Vec::new();
        let dir = std::env::temp_dir().join(format!("bfdd-peers-pairing-{}", std::process::id()));
        let _scratch = Scratch(dir.clone());
        let two = "[[peer]]\naddress = \"127.0.0.2\"\nlocal-address = \"127.0.0.1\"\n[[peer]]\naddress = \"127.0.0.2\"\nlocal-address = \"127.0.0.5\"\n";
        let bound = two.replace("\"\n[[peer]]", "\"\ninterface = \"lo\"\n[[peer]]")
            + "interface = \"lo\"\n";
        let discriminators = |table: &Peers, sessions: &Sessions, config: &str| -> Vec<u32> {
            peers(config)
                .iter()
                .map(|c| {
                    let id = session_of(table, sessions, &c.key()).expect("running");
                    sessions.get(id).expect("session").local_discriminator()
                })
                .collect()
        };
        let (store, _) = DiscriminatorStore::load(&dir);
        let mut table = Peers::new(store, 7, None);
        let mut sessions = Sessions::new(3);
        table.apply(now, &mut sessions, peers(two), &mut buf);
        let before = discriminators(&table, &sessions, two);
        drop((table, sessions));
        let (store, _) = DiscriminatorStore::load(&dir);
        let mut table = Peers::new(store, 7, None);
        let mut sessions = Sessions::new(4);
        table.apply(now, &mut sessions, peers(&bound), &mut buf);
        assert_eq!(
            discriminators(&table, &sessions, &bound),
            before,
            "across a restart"
        );

        // Moved to another link (missing, so it waits): nothing inherited, nothing held.
        let on_lo = "[[peer]]\naddress = \"127.0.0.3\"\ninterface = \"lo\"\n";
        let moved = "[[peer]]\naddress = \"127.0.0.3\"\ninterface = \"bfdd-absent5\"\n";
        let (mut table, mut sessions, scratch) = started("moved", on_lo);
        table.apply(now, &mut sessions, peers(moved), &mut buf);
        drop(table);
        let (store, _) = DiscriminatorStore::load(&scratch.0);
        assert_eq!(store.unclaimed(&peers(moved).remove(0).key()), None);
    }

    /// A peer whose new key cannot start yet (its interface is missing) still holds the
    /// discriminator it inherited, in the state file too; and when that peer is replaced in
    /// turn before it ever ran (the interface name fixed), by a reload or across a restart,
    /// the next one inherits it: the remote end still addresses the session that ran.
    #[test]
    fn a_pending_successor_holds_its_inherited_discriminator() {
        let plain = "[[peer]]\naddress = \"127.0.0.2\"\n";
        let missing = "[[peer]]\naddress = \"127.0.0.2\"\ninterface = \"bfdd-absent9\"\n";
        let fixed = "[[peer]]\naddress = \"127.0.0.2\"\ninterface = \"lo\"\n";
        let fixed_key = peers(fixed).remove(0).key();
        let now = crate::driver::now();
        for restart in [false, true] {
            let name = format!("pending-successor-{restart}");
            let (mut table, mut sessions, scratch) = started(&name, plain);
            let key = peers(plain).remove(0).key();
            let first = discriminator_of(&table, &sessions, &key).expect("running");
            table.apply(now, &mut sessions, peers(missing), &mut Vec::new());
            assert_eq!(sessions.len(), 0, "pending");
            if restart {
                // Written by the store's own thread: dropping the table (a clean exit) waits
                // for it.
                drop(table);
                let (store, _) = DiscriminatorStore::load(&scratch.0);
                assert_eq!(
                    store.held().collect::<Vec<_>>(),
                    [first],
                    "in the state file"
                );
                let mut sessions = Sessions::new(4);
                table = Peers::new(store, 7, None);
                table.apply(now, &mut sessions, peers(fixed), &mut Vec::new());
                let got = discriminator_of(&table, &sessions, &fixed_key);
                assert_eq!(got, Some(first), "across a restart");
            } else {
                table.apply(now, &mut sessions, peers(fixed), &mut Vec::new());
                let got = discriminator_of(&table, &sessions, &fixed_key);
                assert_eq!(got, Some(first), "by a reload");
            }
        }
    }

    /// OVN holds on to the discriminator it last heard (AdminDown, when a peer is removed or
    /// shut down) and keeps addressing it: a peer removed and added back, by a reload or
    /// across restarts (one of them without the peer), must come back with it.
    #[test]
    fn a_peer_removed_and_added_again_gets_its_discriminator_back() {
        let two = "[[peer]]\naddress = \"127.0.0.2\"\n[[peer]]\naddress = \"127.0.0.3\"\n";
        let one = "[[peer]]\naddress = \"127.0.0.2\"\n";
        let key = peers(two)[1].key();
        let now = crate::driver::now();
        let (mut table, mut sessions, scratch) = started("removed-added", two);
        let first = discriminator_of(&table, &sessions, &key).expect("running");
        table.apply(now, &mut sessions, peers(one), &mut Vec::new());
        table.apply(now, &mut sessions, peers(two), &mut Vec::new());
        assert_eq!(
            discriminator_of(&table, &sessions, &key),
            Some(first),
            "by reloads"
        );
        // Removed, then two restarts: the first without the peer, the second with it.
        table.apply(now, &mut sessions, peers(one), &mut Vec::new());
        drop(table);
        for (config, restart) in [(one, 4), (two, 5)] {
            let (store, _) = DiscriminatorStore::load(&scratch.0);
            let mut sessions = Sessions::new(restart);
            let mut table = Peers::new(store, 7, None);
            table.apply(now, &mut sessions, peers(config), &mut Vec::new());
            if config == two {
                let got = discriminator_of(&table, &sessions, &key);
                assert_eq!(got, Some(first), "across restarts");
            }
        }
    }

    /// A peer whose key changes (a local address dropped) to that of a peer removed earlier
    /// succeeds the session that runs now, whose discriminator its peer knows, not the one
    /// removed long ago.
    #[test]
    fn a_successor_takes_the_running_sessions_discriminator_over_a_retired_one() {
        let plain = "[[peer]]\naddress = \"127.0.0.2\"\n";
        let local = "[[peer]]\naddress = \"127.0.0.2\"\nlocal-address = \"127.0.0.1\"\n";
        let now = crate::driver::now();
        let (mut table, mut sessions, _scratch) = started("succeeds-retired", plain);
        let plain_key = peers(plain).remove(0).key();
        let retired = discriminator_of(&table, &sessions, &plain_key).expect("running");
        table.apply(now, &mut sessions, Vec::new(), &mut Vec::new());
        table.apply(now, &mut sessions, peers(local), &mut Vec::new());
        let local_key = peers(local).remove(0).key();
        let running = discriminator_of(&table, &sessions, &local_key).expect("running");
        assert_ne!(running, retired);
        table.apply(now, &mut sessions, peers(plain), &mut Vec::new());
        assert_eq!(
            discriminator_of(&table, &sessions, &plain_key),
            Some(running)
        );
    }

    /// A session that takes the discriminator its peer addresses (bfd-core, after a state
    /// lost) has it saved on the next retry tick, and only the one.
    #[test]
    fn an_adopted_discriminator_is_saved_on_the_retry_tick() {
        let config = "[[peer]]\naddress = \"127.0.0.2\"\n";
        let key = peers(config).remove(0).key();
        let (mut table, mut sessions, scratch) = started("adopted", config);
        let id = session_of(&table, &sessions, &key).expect("running");
        let old = discriminator_of(&table, &sessions, &key).expect("running");
        let stale = old.wrapping_add(1).max(1);
        from_peer(&mut sessions, "127.0.0.2", State::Down, stale);
        assert_eq!(
            sessions.get(id).map(Session::local_discriminator),
            Some(stale)
        );
        while let Some((id, event)) = sessions.poll_event() {
            if let bfd_core::Event::DiscriminatorAdopted { old, new } = event {
                table.note_adopted(&sessions, id, old, new);
            }
        }
        table.retry_persist(&sessions);
        drop(table);
        let (store, _) = DiscriminatorStore::load(&scratch.0);
        assert_eq!(store.unclaimed(&key), Some(stale));
    }

    /// A pending peer retried while its interface is still missing keeps the discriminator
    /// it inherited: a retry takes it from the store to start with and must give it back.
    #[test]
    fn a_pending_successor_keeps_its_discriminator_through_retries() {
        let plain = "[[peer]]\naddress = \"127.0.0.2\"\n";
        let (mut table, mut sessions, _scratch) = started("pending-retried", plain);
        let key = peers(plain).remove(0).key();
        let first = discriminator_of(&table, &sessions, &key).expect("running");
        let missing = "[[peer]]\naddress = \"127.0.0.2\"\ninterface = \"bfdd-absent8\"\n";
        let now = crate::driver::now();
        table.apply(now, &mut sessions, peers(missing), &mut Vec::new());
        for _ in 0..2 {
            assert_eq!(table.retry_pending(now, &mut sessions), 0, "still missing");
            assert_eq!(table.store.held().collect::<Vec<_>>(), [first]);
        }
    }

    /// What `f` logs at WARN and above, as text.
    fn warnings_of(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Captured {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().expect("log buffer").extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let text = captured.0.lock().expect("log buffer").clone();
        String::from_utf8_lossy(&text).into_owned()
    }

    /// A reload that leaves a waiting peer as it was does not warn again that it cannot
    /// start: with a hundred peers waiting for their interface, every SIGHUP wrote a hundred
    /// warnings. A changed peer that still cannot start is worth one.
    #[test]
    fn a_reload_warns_once_for_a_peer_still_waiting() {
        let missing = "[[peer]]\naddress = \"127.0.0.2\"\ninterface = \"bfdd-absent6\"\n";
        let (mut table, mut sessions, _scratch) = table("waiting-warned");
        let now = crate::driver::now();
        let warned = |table: &mut Peers, sessions: &mut Sessions, config: &str| {
            let config = peers(config);
            warnings_of(|| {
                table.apply(now, sessions, config, &mut Vec::new());
            })
            .matches("cannot start session yet")
            .count()
        };
        assert_eq!(warned(&mut table, &mut sessions, missing), 1, "first apply");
        assert_eq!(warned(&mut table, &mut sessions, missing), 0, "same again");
        let changed = format!("{missing}desired-min-tx = \"1s\"\n");
        assert_eq!(warned(&mut table, &mut sessions, &changed), 1, "changed");
    }

    /// A table started with `config` after a run that left `stored` in the state file, under
    /// a scratch directory named for the test.
    fn restarted(name: &str, stored: (&PeerKey, u32), config: &str) -> (Peers, Sessions, Scratch) {
        let mut store = DiscriminatorStore::load(&scratch_dir(name)).0;
        store.save([stored]).expect("state file");
        drop(store);
        started(name, config)
    }

    /// The scratch directory of the test `name`.
    fn scratch_dir(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("bfdd-peers-{name}-{}", std::process::id()))
    }

    fn discriminator_of(table: &Peers, sessions: &Sessions, key: &PeerKey) -> Option<u32> {
        let id = session_of(table, sessions, key).expect("running");
        sessions.get(id).map(bfd_core::Session::local_discriminator)
    }

    /// A new peer must not draw the discriminator kept for a peer not started yet: when that
    /// one starts, it would get another, and OVN, still addressing the old one, would talk
    /// to the new peer's session.
    #[test]
    fn a_new_peer_does_not_take_a_discriminator_kept_for_another() {
        // What a new session draws first (the core's generator, seeded as in `restarted`).
        let first_draw = Sessions::new(3).unused_discriminator();
        let config = "[[peer]]\naddress = \"127.0.0.2\"\n[[peer]]\naddress = \"127.0.0.3\"\ninterface = \"bfdd-absent2\"\n";
        let pending_key = peers(config)[1].key();
        let (table, sessions, _scratch) = restarted("kept", (&pending_key, first_draw), config);
        let new_key = peers(config)[0].key();
        assert_ne!(
            discriminator_of(&table, &sessions, &new_key),
            Some(first_draw)
        );
        assert_eq!(table.store.unclaimed(&pending_key), Some(first_draw));
    }

    /// Nor the one a peer later in the file inherits (the same peer with a local address
    /// added, its stored discriminator under the old key).
    #[test]
    fn a_new_peer_does_not_take_a_discriminator_a_successor_inherits() {
        let first_draw = Sessions::new(3).unused_discriminator();
        let old = peers("[[peer]]\naddress = \"127.0.0.3\"\n")[0].key();
        let config = "[[peer]]\naddress = \"127.0.0.2\"\n[[peer]]\naddress = \"127.0.0.3\"\nlocal-address = \"127.0.0.1\"\n";
        let (table, sessions, _scratch) = restarted("heir", (&old, first_draw), config);
        let keys: Vec<PeerKey> = peers(config).iter().map(PeerConfig::key).collect();
        assert_eq!(
            discriminator_of(&table, &sessions, &keys[1]),
            Some(first_draw)
        );
        assert_ne!(
            discriminator_of(&table, &sessions, &keys[0]),
            Some(first_draw)
        );
    }

    #[test]
    fn a_pending_peer_keeps_its_stored_discriminator_across_restarts() {
        let now = crate::driver::now();
        let mut buf = Vec::new();
        let config = "[[peer]]\naddress = \"127.0.0.2\"\n[[peer]]\naddress = \"127.0.0.3\"\ninterface = \"bfdd-absent1\"\n";
        let dir = std::env::temp_dir().join(format!("bfdd-peers-unclaimed-{}", std::process::id()));
        let _scratch = Scratch(dir.clone());
        let pending_key = peers(config)[1].key();
        let mut store = DiscriminatorStore::load(&dir).0;
        store
            .save([(&pending_key, 0x1234_5678)])
            .expect("state file");
        drop(store);
        // Two runs in which the interface never appears.
        for _ in 0..2 {
            let (store, _) = DiscriminatorStore::load(&dir);
            let mut table = Peers::new(store, 7, None);
            let mut sessions = Sessions::new(3);
            table.apply(now, &mut sessions, peers(config), &mut buf);
            assert_eq!(sessions.len(), 1);
        }
        let (store, _) = DiscriminatorStore::load(&dir);
        assert_eq!(store.unclaimed(&pending_key), Some(0x1234_5678));
    }

    #[test]
    fn configuration_order_running_and_pending_kept_across_reloads() {
        let (mut table, mut sessions, _scratch) = table("order");
        let mut buf = Vec::new();
        let now = crate::driver::now();
        let missing = "[[peer]]\naddress = \"127.0.0.3\"\ninterface = \"bfdd-absent0\"\n";
        let first = format!(
            "[[peer]]\naddress = \"127.0.0.2\"\n{missing}[[peer]]\naddress = \"127.0.0.4\"\n"
        );
        let s = table.apply(now, &mut sessions, peers(&first), &mut buf);
        assert_eq!((s.added, s.removed, s.changed, s.unchanged), (3, 0, 0, 0));
        assert_eq!(
            listed(&table, &sessions),
            [
                ("127.0.0.2".into(), true),
                ("127.0.0.3".into(), false),
                ("127.0.0.4".into(), true)
            ]
        );
        assert_eq!(sessions.len(), 2);

        // Reordered, one gone, one new, one changed, the pending one still pending.
        let second = format!(
            "[[peer]]\naddress = \"127.0.0.4\"\ndetect-multiplier = 5\n{missing}[[peer]]\naddress = \"127.0.0.5\"\n"
        );
        let s = table.apply(now, &mut sessions, peers(&second), &mut buf);
        // The pending peer, its settings as before, is unchanged (`bfdctl reload` of an
        // untouched file must not report a change).
        assert_eq!((s.added, s.removed, s.changed, s.unchanged), (1, 1, 1, 1));
        assert_eq!(
            listed(&table, &sessions),
            [
                ("127.0.0.4".into(), true),
                ("127.0.0.3".into(), false),
                ("127.0.0.5".into(), true)
            ]
        );
        assert_eq!(sessions.len(), 2);
        let kept = peers(&second).remove(0).key();
        let id = session_of(&table, &sessions, &kept).expect("running");
        let running = table.config_of(&sessions, id).expect("running");
        assert_eq!(
            running,
            peers(&second).remove(0),
            "rebuilt exactly as configured"
        );
        assert_eq!(running.detect_multiplier, 5);

        // Still no interface: the retry leaves it pending, in place.
        table.retry_pending(now, &mut sessions);
        assert_eq!(listed(&table, &sessions)[1], ("127.0.0.3".into(), false));

        // Dropping the pending peer counts as a removal and leaves no trace.
        let third = "[[peer]]\naddress = \"127.0.0.5\"\n";
        let s = table.apply(now, &mut sessions, peers(third), &mut buf);
        assert_eq!((s.added, s.removed, s.changed, s.unchanged), (0, 2, 0, 1));
        assert_eq!(listed(&table, &sessions), [("127.0.0.5".into(), true)]);
        assert_eq!(sessions.len(), 1);
    }
}
