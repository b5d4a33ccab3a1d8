//! The configured peers as running sessions: creating them, applying a new configuration to
//! them without flapping the untouched ones, and what the daemon keeps beside each session.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::Instant;

use bfd_control::ReloadSummary;
use bfd_core::{AuthKey, HopMode, SessionConfig, SessionId, Sessions, State};
use tracing::{debug, info, warn};

use crate::config::{PeerConfig, PeerKey};
use crate::net::{interface_index, TxBinding, TxSocket, SOURCE_PORTS};
use crate::state_file::DiscriminatorStore;

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
pub struct PeerEntry {
    /// The peer's configuration.
    pub config: PeerConfig,
    /// Its sending socket.
    pub tx: TxSocket,
    /// Metric labels.
    pub labels: Labels,
    /// Transitions into each state, indexed by `State::bits()`.
    pub state_changes: [u64; 4],
    /// Packets the socket refused to send (buffer full, no route).
    pub send_errors: u64,
}

/// A configured peer that could not be started yet (its interface is missing, say).
pub struct PendingPeer {
    /// The peer's configuration.
    pub config: PeerConfig,
    /// Why it is not running.
    pub error: String,
}

/// Every configured peer, running or pending, in configuration order.
pub struct Peers {
    /// Running sessions' side tables, by slot index.
    entries: HashMap<SessionId, PeerEntry>,
    /// Configuration order of every peer, running or not.
    order: Vec<PeerKey>,
    by_key: HashMap<PeerKey, SessionId>,
    pending: BTreeMap<PeerKey, PendingPeer>,
    next_port: u16,
    store: DiscriminatorStore,
    /// Up sessions per peer address: a route's gateway is usable while any session to it is Up.
    up_by_address: HashMap<IpAddr, u32>,
    /// Gateways that became usable (true) or unusable (false), for the route installer.
    gateway_changes: Vec<(IpAddr, bool)>,
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

/// The label values of a peer's metrics.
pub fn labels(peer: &PeerConfig) -> Labels {
    Labels {
        peer: peer.address.to_string(),
        local: peer
            .local_address
            .map(|a| a.to_string())
            .unwrap_or_default(),
        interface: peer.interface.clone().unwrap_or_default(),
    }
}

impl Peers {
    /// No peers yet; `store` supplies discriminators from a previous run.
    pub fn new(store: DiscriminatorStore, port_seed: u16) -> Peers {
        let span = SOURCE_PORTS.end() - SOURCE_PORTS.start();
        Peers {
            entries: HashMap::new(),
            order: Vec::new(),
            by_key: HashMap::new(),
            pending: BTreeMap::new(),
            next_port: SOURCE_PORTS.start() + port_seed % span,
            store,
            up_by_address: HashMap::new(),
            gateway_changes: Vec::new(),
        }
    }

    /// The side table of a running session.
    pub fn entry(&self, id: SessionId) -> Option<&PeerEntry> {
        self.entries.get(&id)
    }

    /// Mutable side table of a running session.
    pub fn entry_mut(&mut self, id: SessionId) -> Option<&mut PeerEntry> {
        self.entries.get_mut(&id)
    }

    /// Every configured peer in configuration order: running ones with their session id.
    pub fn iter(&self) -> impl Iterator<Item = PeerRef<'_>> {
        self.order.iter().filter_map(|key| {
            if let Some(&id) = self.by_key.get(key) {
                self.entries
                    .get(&id)
                    .map(|entry| PeerRef::Running { id, entry })
            } else {
                self.pending.get(key).map(PeerRef::Pending)
            }
        })
    }

    /// Number of configured peers.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// No peers configured.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Session of a peer key, if running.
    pub fn session_of(&self, key: &PeerKey) -> Option<SessionId> {
        self.by_key.get(key).copied()
    }

    /// Brings the running set in line with `configs`: new peers start, removed ones send
    /// AdminDown and go, changed ones are updated in place (a Poll sequence when Up), the rest
    /// are not touched.
    pub fn apply(
        &mut self,
        now: Instant,
        sessions: &mut Sessions,
        configs: &[PeerConfig],
        send_buf: &mut Vec<u8>,
    ) -> ReloadSummary {
        let mut summary = ReloadSummary {
            added: 0,
            removed: 0,
            changed: 0,
            unchanged: 0,
        };
        let wanted: HashMap<PeerKey, &PeerConfig> = configs.iter().map(|c| (c.key(), c)).collect();

        let gone: Vec<PeerKey> = self
            .order
            .iter()
            .filter(|k| !wanted.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            self.remove(now, sessions, &key, send_buf);
            summary.removed += 1;
        }

        for config in configs {
            let key = config.key();
            if let Some(&id) = self.by_key.get(&key) {
                let Some(entry) = self.entries.get_mut(&id) else {
                    continue;
                };
                if entry.config == *config {
                    summary.unchanged += 1;
                    continue;
                }
                match sessions.set_config(now, id, session_config(config)) {
                    Ok(()) => {
                        info!(peer = %key, "peer settings changed");
                        entry.config = config.clone();
                        summary.changed += 1;
                    }
                    Err(e) => warn!(peer = %key, error = %e, "cannot apply new settings"),
                }
            } else if self.pending.contains_key(&key) {
                self.pending.remove(&key);
                self.start(now, sessions, config);
                summary.changed += 1;
            } else {
                self.start(now, sessions, config);
                summary.added += 1;
            }
        }
        self.order = configs.iter().map(PeerConfig::key).collect();
        self.persist(sessions);
        summary
    }

    /// Retries peers that could not start (missing interface, port trouble).
    pub fn retry_pending(&mut self, now: Instant, sessions: &mut Sessions) {
        if self.pending.is_empty() {
            return;
        }
        let pending: Vec<PeerConfig> = self.pending.values().map(|p| p.config.clone()).collect();
        self.pending.clear();
        for config in &pending {
            self.start(now, sessions, config);
        }
        self.persist(sessions);
    }

    fn start(&mut self, now: Instant, sessions: &mut Sessions, config: &PeerConfig) {
        let key = config.key();
        match self.try_start(now, sessions, config) {
            Ok(id) => {
                let tx = self.entries.get(&id).map(|e| e.tx.source_port());
                debug!(peer = %key, source_port = tx, "session started");
                self.by_key.insert(key, id);
            }
            Err(error) => {
                warn!(peer = %key, %error, "cannot start session yet; retrying");
                self.pending.insert(
                    key,
                    PendingPeer {
                        config: config.clone(),
                        error,
                    },
                );
            }
        }
    }

    fn try_start(
        &mut self,
        now: Instant,
        sessions: &mut Sessions,
        config: &PeerConfig,
    ) -> Result<SessionId, String> {
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
            ifindex,
            multihop: config.multihop,
        };
        let tx = TxSocket::bind(&binding, &mut self.next_port)
            .map_err(|e| format!("cannot bind a sending socket: {e}"))?;
        let core_key = bfd_core::PeerKey {
            peer: config.address,
            local: config.local_address,
            ifindex,
            multihop: config.multihop,
        };
        let id = sessions
            .insert(
                now,
                core_key,
                session_config(config),
                self.store.get(&config.key()),
            )
            .map_err(|e| e.to_string())?;
        self.entries.insert(
            id,
            PeerEntry {
                config: config.clone(),
                tx,
                labels: labels(config),
                state_changes: [0; 4],
                send_errors: 0,
            },
        );
        Ok(id)
    }

    fn remove(&mut self, now: Instant, sessions: &mut Sessions, key: &PeerKey, buf: &mut Vec<u8>) {
        self.pending.remove(key);
        let Some(id) = self.by_key.remove(key) else {
            return;
        };
        let old = sessions.get(id).map(bfd_core::Session::state);
        // Tell the peer before going: it sees AdminDown instead of waiting out a timeout.
        sessions.shutdown_session(now, id);
        self.send_due(now, sessions, buf);
        // The session's events go with it, so account for its last transition here.
        if let Some(old) = old.filter(|&s| s != State::AdminDown) {
            self.note_transition(id, old, State::AdminDown);
        }
        if sessions.remove(id).is_some() {
            info!(peer = %key, last_state = ?old, "session removed after sending AdminDown");
        }
        self.entries.remove(&id);
    }

    fn persist(&mut self, sessions: &Sessions) {
        let running = self
            .by_key
            .iter()
            .filter_map(|(key, id)| sessions.get(*id).map(|s| (key, s.local_discriminator())));
        if let Err(e) = self.store.save(running) {
            warn!(error = %e, "cannot save discriminators; a restart will use new ones");
        }
    }

    /// Sends every packet due at `now`, each from its session's socket.
    pub fn send_due(&mut self, now: Instant, sessions: &mut Sessions, buf: &mut Vec<u8>) -> usize {
        let mut sent = 0;
        while let Some(tx) = sessions.poll_transmit(now, buf) {
            let Some(entry) = self.entries.get_mut(&tx.session) else {
                continue;
            };
            match entry.tx.try_send(buf) {
                Ok(()) => sent += 1,
                Err(e) => {
                    entry.send_errors += 1;
                    tracing::debug!(peer = %entry.labels.peer, error = %e, "send failed");
                }
            }
        }
        sent
    }

    /// Counts a transition for the metrics, and notes when the peer's address becomes usable
    /// or unusable as a gateway.
    pub fn note_transition(&mut self, id: SessionId, old: State, new: State) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        entry.state_changes[usize::from(new.bits())] += 1;
        let address = entry.config.address;
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

    /// Gateway usability changes since the last call, oldest first.
    pub fn take_gateway_changes(&mut self) -> std::vec::Drain<'_, (IpAddr, bool)> {
        self.gateway_changes.drain(..)
    }
}

/// A configured peer as `Peers::iter` yields it.
pub enum PeerRef<'a> {
    /// Running.
    Running {
        /// Its session.
        id: SessionId,
        /// Its side table.
        entry: &'a PeerEntry,
    },
    /// Not started yet.
    Pending(&'a PendingPeer),
}
