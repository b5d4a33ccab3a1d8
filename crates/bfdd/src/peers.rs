//! The configured peers as running sessions: creating them, applying a new configuration to
//! them without flapping the untouched ones, and what the daemon keeps beside each session.

use std::collections::{BTreeMap, HashMap, HashSet};
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

/// A place in the configuration order.
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

/// The label values of a peer's metrics, made when asked for rather than kept per session.
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
            entries: Vec::new(),
            order: Vec::new(),
            pending: BTreeMap::new(),
            next_port: SOURCE_PORTS.start() + port_seed % span,
            store,
            up_by_address: HashMap::new(),
            gateway_changes: Vec::new(),
        }
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
    pub fn iter(&self) -> impl Iterator<Item = PeerRef<'_>> {
        self.order.iter().filter_map(|configured| match configured {
            Configured::Running(id) => self
                .entry(*id)
                .map(|entry| PeerRef::Running { id: *id, entry }),
            Configured::Pending(key) => self.pending.get(key).map(PeerRef::Pending),
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
    pub fn session_of(&self, sessions: &Sessions, key: &PeerKey) -> Option<SessionId> {
        sessions
            .with_peer(key.address)
            .find(|&id| self.entry(id).is_some_and(|e| e.config.key() == *key))
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
        let mut summary = ReloadSummary {
            added: 0,
            removed: 0,
            changed: 0,
            unchanged: 0,
        };
        // What runs now, by key; empty at start-up, when this costs nothing.
        let mut running: HashMap<PeerKey, SessionId> = self
            .order
            .iter()
            .filter_map(|c| match c {
                Configured::Running(id) => self.entry(*id).map(|e| (e.config.key(), *id)),
                Configured::Pending(_) => None,
            })
            .collect();
        if !running.is_empty() || !self.pending.is_empty() {
            let wanted: HashSet<PeerKey> = configs.iter().map(PeerConfig::key).collect();
            let gone: Vec<(PeerKey, SessionId)> = running
                .iter()
                .filter(|(key, _)| !wanted.contains(*key))
                .map(|(key, id)| (key.clone(), *id))
                .collect();
            for (key, id) in gone {
                running.remove(&key);
                self.remove(now, sessions, &key, id, send_buf);
                summary.removed += 1;
            }
            let before = self.pending.len();
            self.pending.retain(|key, _| wanted.contains(key));
            summary.removed += before - self.pending.len();
        }

        let added = configs.len().saturating_sub(running.len());
        sessions.reserve(added);
        self.reserve_entries(sessions);
        let mut order = Vec::with_capacity(configs.len());
        for config in configs {
            let key = config.key();
            if let Some(&id) = running.get(&key) {
                order.push(Configured::Running(id));
                let Some(entry) = self.entry_mut(id) else {
                    continue;
                };
                if entry.config == config {
                    summary.unchanged += 1;
                    continue;
                }
                match sessions.set_config(now, id, session_config(&config)) {
                    Ok(()) => {
                        info!(peer = %key, "peer settings changed");
                        entry.config = config;
                        summary.changed += 1;
                    }
                    Err(e) => warn!(peer = %key, error = %e, "cannot apply new settings"),
                }
            } else {
                if self.pending.remove(&key).is_some() {
                    summary.changed += 1;
                } else {
                    summary.added += 1;
                }
                order.push(self.start(now, sessions, config));
            }
        }
        self.order = order;
        self.persist(sessions);
        summary
    }

    /// Retries peers that could not start (missing interface, port trouble).
    pub fn retry_pending(&mut self, now: Instant, sessions: &mut Sessions) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        let mut started = HashMap::new();
        for (key, peer) in pending {
            if let Configured::Running(id) = self.start(now, sessions, peer.config) {
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
        self.persist(sessions);
    }

    /// Grows the side table to the core's slot capacity in one step, not by doubling.
    fn reserve_entries(&mut self, sessions: &Sessions) {
        let wanted = sessions.capacity();
        if wanted > self.entries.len() {
            self.entries.reserve_exact(wanted - self.entries.len());
        }
    }

    fn start(&mut self, now: Instant, sessions: &mut Sessions, config: PeerConfig) -> Configured {
        match self.try_start(now, sessions, &config) {
            Ok((id, tx)) => {
                debug!(peer = %config.key(), source_port = tx.source_port(), "session started");
                if self.entries.len() <= id.index() {
                    self.entries.resize_with(id.index() + 1, || None);
                }
                self.entries[id.index()] = Some(PeerEntry {
                    config,
                    tx,
                    state_changes: [0; 4],
                    send_errors: 0,
                });
                Configured::Running(id)
            }
            Err(error) => {
                let key = config.key();
                warn!(peer = %key, %error, "cannot start session yet; retrying");
                self.pending
                    .insert(key.clone(), PendingPeer { config, error });
                Configured::Pending(Box::new(key))
            }
        }
    }

    fn try_start(
        &mut self,
        now: Instant,
        sessions: &mut Sessions,
        config: &PeerConfig,
    ) -> Result<(SessionId, TxSocket), String> {
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
                self.store.take(&config.key()),
            )
            .map_err(|e| e.to_string())?;
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
        if let Some(entry) = self.entries.get_mut(id.index()) {
            *entry = None;
        }
    }

    fn persist(&mut self, sessions: &Sessions) {
        let running = self.iter().filter_map(|p| match p {
            PeerRef::Running { id, entry } => sessions
                .get(id)
                .map(|s| (entry.config.key(), s.local_discriminator())),
            PeerRef::Pending(_) => None,
        });
        let running: Vec<(PeerKey, u32)> = running.collect();
        if let Err(e) = self.store.save(running.iter().map(|(k, d)| (k, *d))) {
            warn!(error = %e, "cannot save discriminators; a restart will use new ones");
        }
    }

    /// Sends every packet due at `now`, each from its session's socket.
    pub fn send_due(&mut self, now: Instant, sessions: &mut Sessions, buf: &mut Vec<u8>) -> usize {
        let mut sent = 0;
        while let Some(tx) = sessions.poll_transmit(now, buf) {
            let Some(entry) = self
                .entries
                .get_mut(tx.session.index())
                .and_then(Option::as_mut)
            else {
                continue;
            };
            match entry.tx.try_send(buf) {
                Ok(()) => sent += 1,
                Err(e) => {
                    entry.send_errors += 1;
                    tracing::debug!(peer = %entry.config.address, error = %e, "send failed");
                }
            }
        }
        sent
    }

    /// Counts a transition for the metrics, and notes when the peer's address becomes usable
    /// or unusable as a gateway.
    pub fn note_transition(&mut self, id: SessionId, old: State, new: State) {
        let Some(entry) = self.entry_mut(id) else {
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    /// Peers on loopback only: a removed one is sent its AdminDown there.
    fn peers(toml: &str) -> Vec<PeerConfig> {
        Config::parse(toml, Path::new("test.toml"))
            .expect("valid test config")
            .peers
    }

    fn listed(peers: &Peers) -> Vec<(String, bool)> {
        peers
            .iter()
            .map(|p| match p {
                PeerRef::Running { entry, .. } => (entry.config.address.to_string(), true),
                PeerRef::Pending(p) => (p.config.address.to_string(), false),
            })
            .collect()
    }

    #[test]
    fn configuration_order_running_and_pending_kept_across_reloads() {
        let dir = std::env::temp_dir().join(format!("bfdd-peers-order-{}", std::process::id()));
        let (store, _) = DiscriminatorStore::load(&dir);
        let mut table = Peers::new(store, 7);
        let mut sessions = Sessions::new(3);
        let mut buf = Vec::new();
        let now = crate::driver::now();
        let missing = "[[peer]]\naddress = \"127.0.0.3\"\ninterface = \"bfdd-absent0\"\n";
        let first = format!(
            "[[peer]]\naddress = \"127.0.0.2\"\n{missing}[[peer]]\naddress = \"127.0.0.4\"\n"
        );
        let s = table.apply(now, &mut sessions, peers(&first), &mut buf);
        assert_eq!((s.added, s.removed, s.changed, s.unchanged), (3, 0, 0, 0));
        assert_eq!(
            listed(&table),
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
        assert_eq!((s.added, s.removed, s.changed, s.unchanged), (1, 1, 2, 0));
        assert_eq!(
            listed(&table),
            [
                ("127.0.0.4".into(), true),
                ("127.0.0.3".into(), false),
                ("127.0.0.5".into(), true)
            ]
        );
        assert_eq!(sessions.len(), 2);
        let kept = peers(&second).remove(0).key();
        let id = table.session_of(&sessions, &kept).expect("running");
        assert_eq!(table.entry(id).map(|e| e.config.detect_multiplier), Some(5));

        // Still no interface: the retry leaves it pending, in place.
        table.retry_pending(now, &mut sessions);
        assert_eq!(listed(&table)[1], ("127.0.0.3".into(), false));

        // Dropping the pending peer counts as a removal and leaves no trace.
        let third = "[[peer]]\naddress = \"127.0.0.5\"\n";
        let s = table.apply(now, &mut sessions, peers(third), &mut buf);
        assert_eq!((s.added, s.removed, s.changed, s.unchanged), (0, 2, 0, 1));
        assert_eq!(listed(&table), [("127.0.0.5".into(), true)]);
        assert_eq!(sessions.len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
