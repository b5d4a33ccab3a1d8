//! Many sessions behind one input and one deadline: demultiplexing (§6.8.6), discriminator
//! allocation and a single timer heap.

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bfd_wire::ControlPacket;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::config::SessionConfig;
use crate::error::{InsertError, RxError};
use crate::event::Event;
use crate::session::{grid_step, Punctuality, Session};

/// The widest step of the transmit grid: packets leave up to this much earlier than drawn.
pub const MAX_GRID_STEP: Duration = Duration::from_millis(16);

/// Handle of a session in a [`Sessions`] container; stable until the session is removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(u32);

impl SessionId {
    /// The slot index, for tables the caller keeps beside the container.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// What tells sessions apart when a packet's Your Discriminator is zero: the peer, and where
/// the packet must arrive.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PeerKey {
    /// The peer's address: the packets' source.
    pub peer: IpAddr,
    /// Our address, if the session is bound to one: the packets' destination.
    pub local: Option<IpAddr>,
    /// The interface index, if the session is bound to one.
    pub ifindex: Option<u32>,
    /// RFC 5883 multihop (port 4784) rather than single hop (3784).
    pub multihop: bool,
}

impl PeerKey {
    fn matches(&self, meta: &RxMeta) -> bool {
        self.peer == meta.src && self.multihop == meta.multihop && self.bound_to(meta)
    }

    /// Whether the datagram arrived where the session is bound (its local address and
    /// interface, where it has them).
    fn bound_to(&self, meta: &RxMeta) -> bool {
        self.local.is_none_or(|l| l == meta.dst)
            && self.ifindex.is_none_or(|i| Some(i) == meta.ifindex)
    }
}

/// Where a datagram came from, as the socket layer saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxMeta {
    /// Source address.
    pub src: IpAddr,
    /// Destination address (IP_PKTINFO / IPV6_PKTINFO).
    pub dst: IpAddr,
    /// Receiving interface, when known.
    pub ifindex: Option<u32>,
    /// TTL / hop limit, when known. The core checks it even if the socket filters too.
    pub ttl: Option<u8>,
    /// Arrived on the multihop port 4784.
    pub multihop: bool,
}

/// A packet to send, already written into the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The session sending it.
    pub session: SessionId,
    /// The packet, as written.
    pub packet: ControlPacket,
    /// For a periodic packet, how it kept its schedule; `None` for an out-of-schedule one and
    /// for the first of a (re)started schedule, which closes no gap.
    pub periodic: Option<Punctuality>,
}

struct Slot {
    session: Session,
    key: PeerKey,
    /// The deadline currently in the heap for this slot; older heap entries are stale.
    scheduled: Option<Instant>,
    /// Already queued in `ready`.
    queued: bool,
    /// The next session with the same peer address: `by_peer` holds the first of each chain.
    next_same_peer: Option<SessionId>,
}

/// All sessions of a daemon.
///
/// Call order: feed [`handle_datagram`](Self::handle_datagram),
/// [`handle_timeout`](Self::handle_timeout) or a command; then drain
/// [`poll_transmit`](Self::poll_transmit) and [`poll_event`](Self::poll_event) until `None`;
/// then sleep until [`poll_timeout`](Self::poll_timeout).
pub struct Sessions {
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    by_discriminator: HashMap<u32, SessionId>,
    /// First session of each peer address; the rest are chained through `Slot::next_same_peer`
    /// (usually there is one), which costs far less per session than a list per address.
    by_peer: HashMap<IpAddr, SessionId>,
    /// Min-heap of (deadline, slot); entries whose deadline no longer matches are skipped.
    heap: BinaryHeap<Reverse<(Instant, u32)>>,
    /// Sessions that may have a packet to send now.
    ready: VecDeque<SessionId>,
    events: VecDeque<(SessionId, Event)>,
    rng: SmallRng,
    /// Reused by `handle_timeout` so a tick allocates nothing.
    due_scratch: Vec<SessionId>,
    timer_slack: Duration,
    /// The transmit grid's origin and largest step, once `align_transmissions` was called.
    grid: Option<(Instant, Duration)>,
    /// Discriminators the caller keeps for sessions it has not inserted yet: never adopted.
    kept_for_others: HashSet<u32>,
}

impl Sessions {
    /// An empty container. `seed` drives discriminators, jitter and auth sequence numbers.
    pub fn new(seed: u64) -> Sessions {
        Sessions {
            slots: Vec::new(),
            free: Vec::new(),
            by_discriminator: HashMap::new(),
            by_peer: HashMap::new(),
            heap: BinaryHeap::new(),
            ready: VecDeque::new(),
            events: VecDeque::new(),
            rng: SmallRng::seed_from_u64(seed),
            due_scratch: Vec::new(),
            timer_slack: Duration::ZERO,
            grid: None,
            kept_for_others: HashSet::new(),
        }
    }

    /// How late the caller may send a periodic packet after its deadline (a millisecond-tick
    /// timer wheel fires up to a tick or two late, and a busy machine adds its scheduling
    /// delay). Periodic packets are then scheduled early enough that they still leave within
    /// the 75-100% window of §6.8.7 when the wake-up comes that late; the slack takes at most
    /// 2/5 of the window. Zero (the default) draws from the whole window.
    pub fn set_timer_slack(&mut self, slack: Duration) {
        self.timer_slack = slack;
        for slot in self.slots.iter_mut().flatten() {
            slot.session.set_timer_slack(slack);
        }
    }

    /// Aligns periodic packets to a grid shared by all sessions, so that the caller's one
    /// wake-up at a grid point sends many packets instead of each its own: a daemon's CPU goes
    /// mostly to waking up. The step is the largest power of two milliseconds, up to
    /// [`MAX_GRID_STEP`], at which the sessions' configured rates put at most `max_burst`
    /// packets on one grid point (every interval taken at 75%, its shortest), and each session
    /// also keeps to 1/32 of its interval, so §6.8.7 jitter still spreads over eight or more
    /// points of its window. Below two milliseconds nothing is aligned: a caller's millisecond
    /// timer already gathers what falls within one. The rates change with the sessions: call
    /// again after adding, removing or reconfiguring them.
    pub fn align_transmissions(&mut self, now: Instant, max_burst: u32) {
        let per_second: f64 = self
            .slots
            .iter()
            .flatten()
            .map(|s| 1.0 / (0.75 * s.session.config().desired_min_tx.as_secs_f64().max(1e-6)))
            .sum();
        let widest = if per_second > 0.0 {
            Duration::from_secs_f64((f64::from(max_burst) / per_second).min(1.0))
        } else {
            MAX_GRID_STEP
        };
        let step = grid_step(widest.min(MAX_GRID_STEP));
        let epoch = self.grid.map_or(now, |(epoch, _)| epoch);
        if self.grid == Some((epoch, step)) {
            return;
        }
        self.grid = Some((epoch, step));
        for slot in self.slots.iter_mut().flatten() {
            slot.session.set_transmit_grid(epoch, step);
        }
    }

    /// The transmit grid's largest step now in use (zero: none); see `align_transmissions`.
    pub fn transmit_grid_step(&self) -> Duration {
        self.grid.map_or(Duration::ZERO, |(_, step)| step)
    }

    /// Adds a session. `discriminator` is honoured when nonzero and free (a restarted daemon
    /// reusing its old ones, so peers that still address them are matched at once); otherwise
    /// a fresh random nonzero one is drawn.
    pub fn insert(
        &mut self,
        now: Instant,
        key: PeerKey,
        config: SessionConfig,
        discriminator: Option<u32>,
    ) -> Result<SessionId, InsertError> {
        if self.find_key(&key).is_some() {
            return Err(InsertError::Duplicate);
        }
        let discr = match discriminator {
            Some(d) if d != 0 && !self.by_discriminator.contains_key(&d) => d,
            _ => self.unused_discriminator(),
        };
        let mut session = Session::new(now, discr, config, self.rng.gen())?;
        session.set_timer_slack(self.timer_slack);
        if let Some((epoch, step)) = self.grid {
            session.set_transmit_grid(epoch, step);
        }
        let slot = Slot {
            session,
            key: key.clone(),
            scheduled: None,
            queued: false,
            next_same_peer: self.by_peer.get(&key.peer).copied(),
        };
        let id = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(slot);
                SessionId(i)
            }
            None => {
                self.slots.push(Some(slot));
                SessionId((self.slots.len() - 1) as u32)
            }
        };
        self.by_discriminator.insert(discr, id);
        self.by_peer.insert(key.peer, id);
        self.after_input(id);
        Ok(id)
    }

    /// Removes a session at once. To tell the peer first, set it AdminDown and let a transmit
    /// go out before removing it.
    pub fn remove(&mut self, id: SessionId) -> Option<Session> {
        let slot = self.slots.get_mut(id.index())?.take()?;
        self.by_discriminator
            .remove(&slot.session.local_discriminator());
        self.unlink_peer(id, slot.key.peer, slot.next_same_peer);
        self.ready.retain(|&x| x != id);
        self.events.retain(|(x, _)| *x != id);
        self.free.push(id.0);
        Some(slot.session)
    }

    /// The session with this key, if any.
    pub fn find_key(&self, key: &PeerKey) -> Option<SessionId> {
        self.with_peer(key.peer)
            .find(|&id| self.slot(id).is_some_and(|s| s.key == *key))
    }

    /// Every session whose peer is `peer`.
    pub fn with_peer(&self, peer: IpAddr) -> impl Iterator<Item = SessionId> + '_ {
        let first = self.by_peer.get(&peer).copied();
        std::iter::successors(first, |&id| self.slot(id).and_then(|s| s.next_same_peer))
    }

    /// How many sessions fit before the slot table grows: size side tables indexed by
    /// [`SessionId::index`] to it.
    pub fn capacity(&self) -> usize {
        self.slots.capacity()
    }

    /// Makes room for `additional` more sessions without growing any table on the way (a
    /// growing table doubles, and holds up to twice what it needs from then on).
    pub fn reserve(&mut self, additional: usize) {
        let new_slots = additional.saturating_sub(self.free.len());
        self.slots.reserve_exact(new_slots);
        self.by_discriminator.reserve(additional);
        self.by_peer.reserve(additional);
        self.heap.reserve_exact(additional);
    }

    /// A session by handle.
    pub fn get(&self, id: SessionId) -> Option<&Session> {
        self.slot(id).map(|s| &s.session)
    }

    /// The key a session was inserted with.
    pub fn key(&self, id: SessionId) -> Option<&PeerKey> {
        self.slot(id).map(|s| &s.key)
    }

    /// Moves session `id` to the interface that now has `ifindex` (one deleted and created
    /// again); packets that name no discriminator are matched to it there.
    pub fn set_interface_index(&mut self, id: SessionId, ifindex: Option<u32>) {
        if let Some(slot) = self.slot_mut(id) {
            slot.key.ifindex = ifindex;
        }
    }

    /// Every session, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (SessionId, &PeerKey, &Session)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.as_ref()
                .map(|s| (SessionId(i as u32), &s.key, &s.session))
        })
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.by_discriminator.len()
    }

    /// No sessions at all.
    pub fn is_empty(&self) -> bool {
        self.by_discriminator.is_empty()
    }

    /// Applies a new configuration to one session (see [`Session::set_config`]).
    pub fn set_config(
        &mut self,
        now: Instant,
        id: SessionId,
        config: SessionConfig,
    ) -> Result<(), InsertError> {
        if let Some(slot) = self.slot_mut(id) {
            slot.session.set_config(now, config)?;
            self.after_input(id);
        }
        Ok(())
    }

    /// Holds a session AdminDown, or releases it (§6.8.16).
    pub fn set_admin_down(&mut self, now: Instant, id: SessionId, admin_down: bool) {
        if let Some(slot) = self.slot_mut(id) {
            slot.session.set_admin_down(now, admin_down);
            self.after_input(id);
        }
    }

    /// One session goes AdminDown with a packet due at once, before it is removed.
    pub fn shutdown_session(&mut self, now: Instant, id: SessionId) {
        if let Some(slot) = self.slot_mut(id) {
            slot.session.shutdown(now);
            self.after_input(id);
        }
    }

    /// Every session goes AdminDown with a packet due at once: the daemon's last words.
    pub fn shutdown(&mut self, now: Instant) {
        for i in 0..self.slots.len() {
            let id = SessionId(i as u32);
            if let Some(slot) = self.slot_mut(id) {
                slot.session.shutdown(now);
                self.after_input(id);
            }
        }
    }

    /// Parses, demultiplexes (§6.8.6) and processes one received datagram.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        meta: &RxMeta,
        payload: &[u8],
    ) -> Result<SessionId, RxError> {
        let packet = bfd_wire::parse(payload)?;
        let (id, adopting) = match self.demultiplex(meta, &packet) {
            Err(RxError::UnknownDiscriminator(wanted)) => {
                let id = self
                    .adoption_candidate(meta, &packet, wanted)
                    .ok_or(RxError::UnknownDiscriminator(wanted))?;
                (id, true)
            }
            other => (other?, false),
        };
        let raw = &payload[..packet.buffer_len().min(payload.len())];
        let result = match self.slot_mut(id) {
            Some(slot) => slot
                .session
                .handle_packet(now, meta.ttl, meta.multihop, &packet, raw),
            None => Err(RxError::UnknownDiscriminator(packet.your_discriminator)),
        };
        // Only a packet the session accepts (TTL, hop mode) moves its discriminator; the
        // packet's processing does not read it, the next one sent does.
        if adopting && result.is_ok() {
            self.adopt(id, packet.your_discriminator);
        }
        self.after_input(id);
        result.map(|()| id)
    }

    fn demultiplex(&self, meta: &RxMeta, packet: &ControlPacket) -> Result<SessionId, RxError> {
        if packet.your_discriminator != 0 {
            let id = *self
                .by_discriminator
                .get(&packet.your_discriminator)
                .ok_or(RxError::UnknownDiscriminator(packet.your_discriminator))?;
            // The discriminator selects the session, whatever the source (RFC 5881 §6: a
            // single-hop peer may change its source address; the TTL check keeps off-link
            // senders out). Multihop has no such guard, so there the source must also be the
            // configured peer. Our own end is another matter: a session bound to a local
            // address or interface takes packets arriving there only (RFC 5881 §3), so a
            // sender on another link cannot reach it by guessing its discriminator.
            let Some(key) = self.slot(id).map(|s| &s.key) else {
                return Ok(id);
            };
            if key.multihop && key.peer != meta.src {
                return Err(RxError::PeerMismatch {
                    discriminator: packet.your_discriminator,
                    peer: meta.src,
                });
            }
            if !key.bound_to(meta) {
                return Err(RxError::PathMismatch {
                    discriminator: packet.your_discriminator,
                    local: meta.dst,
                    ifindex: meta.ifindex,
                });
            }
            return Ok(id);
        }
        self.with_peer(meta.src)
            .find(|&id| self.slot(id).is_some_and(|s| s.key.matches(meta)))
            .ok_or(RxError::NoSessionForPeer {
                peer: meta.src,
                local: meta.dst,
            })
    }

    /// A peer that addresses a discriminator we do not have, from exactly the path of one
    /// session that has never heard it, is looking for that session under the discriminator a
    /// previous run gave it. OVN holds on to one it heard AdminDown from, and never lets go:
    /// a restart that lost its state (a new pod) would stay Down for good (design/ovn-peer.md,
    /// "Stale discriminator"). RFC 5880 §6.8.6 discards such a packet; bfd-core instead gives
    /// the session that discriminator, which is nobody else's, if the session accepts the
    /// packet. Only from a peer saying Down, and not for authenticated sessions.
    fn adoption_candidate(
        &self,
        meta: &RxMeta,
        packet: &ControlPacket,
        wanted: u32,
    ) -> Option<SessionId> {
        // `wanted` names no session: the demultiplexing that led here found none.
        if packet.state != bfd_wire::State::Down || self.kept_for_others.contains(&wanted) {
            return None;
        }
        let mut matching = self
            .with_peer(meta.src)
            .filter(|&id| self.slot(id).is_some_and(|s| s.key.matches(meta)));
        match (matching.next(), matching.next()) {
            (Some(id), None) => self
                .slot(id)
                .is_some_and(|s| s.session.may_adopt_discriminator())
                .then_some(id),
            _ => None,
        }
    }

    fn adopt(&mut self, id: SessionId, new: u32) {
        let Some(slot) = self.slot_mut(id) else {
            return;
        };
        let old = slot.session.local_discriminator();
        slot.session.set_local_discriminator(new);
        self.by_discriminator.remove(&old);
        self.by_discriminator.insert(new, id);
        self.events
            .push_back((id, Event::DiscriminatorAdopted { old, new }));
    }

    /// Discriminators kept for sessions not inserted yet (peers waiting for an interface,
    /// say): no session adopts one of them from a packet (see `handle_datagram`), or the
    /// session it was kept for would come up with another, and its peer, addressing the old
    /// one, would reach the wrong session. Replaces the previous set.
    pub fn keep_for_others(&mut self, discriminators: impl IntoIterator<Item = u32>) {
        self.kept_for_others.clear();
        self.kept_for_others.extend(discriminators);
    }

    /// Acts on every session deadline due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Pop everything due first: a session whose transmit is due keeps that deadline until
        // `poll_transmit` sends it, and would otherwise be popped again and again.
        let mut due = std::mem::take(&mut self.due_scratch);
        while let Some(&Reverse((at, index))) = self.heap.peek() {
            if at > now {
                break;
            }
            self.heap.pop();
            let id = SessionId(index);
            if let Some(slot) = self.slot_mut(id) {
                if slot.scheduled == Some(at) {
                    slot.scheduled = None;
                    due.push(id);
                }
            }
        }
        for &id in &due {
            if let Some(slot) = self.slot_mut(id) {
                slot.session.handle_timeout(now);
                self.after_input(id);
            }
        }
        due.clear();
        self.due_scratch = due;
    }

    /// The next packet due at `now`, written into `buf`.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        while let Some(id) = self.ready.pop_front() {
            let Some(slot) = self.slot_mut(id) else {
                continue;
            };
            slot.queued = false;
            let periodic = slot.session.punctuality(now);
            let packet = slot.session.poll_transmit(now, buf);
            self.reschedule(id);
            if let Some(packet) = packet {
                return Some(Transmit {
                    session: id,
                    packet,
                    periodic,
                });
            }
        }
        None
    }

    /// The next event of any session.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<(SessionId, Event)> {
        self.events.pop_front()
    }

    /// The earliest deadline of all sessions.
    #[must_use]
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, index))) = self.heap.peek() {
            let live = self
                .slot(SessionId(index))
                .is_some_and(|s| s.scheduled == Some(at));
            if live {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    // ---- internals ----

    fn slot(&self, id: SessionId) -> Option<&Slot> {
        self.slots.get(id.index())?.as_ref()
    }

    fn slot_mut(&mut self, id: SessionId) -> Option<&mut Slot> {
        self.slots.get_mut(id.index())?.as_mut()
    }

    /// Takes removed session `id` (whose successor was `next`) out of its peer's chain.
    fn unlink_peer(&mut self, id: SessionId, peer: IpAddr, next: Option<SessionId>) {
        let Entry::Occupied(mut head) = self.by_peer.entry(peer) else {
            return;
        };
        if *head.get() == id {
            match next {
                Some(next) => *head.get_mut() = next,
                None => {
                    head.remove();
                }
            }
            return;
        }
        let mut cursor = *head.get();
        while let Some(slot) = self.slots.get_mut(cursor.index()).and_then(Option::as_mut) {
            match slot.next_same_peer {
                Some(n) if n == id => {
                    slot.next_same_peer = next;
                    return;
                }
                Some(n) => cursor = n,
                None => return,
            }
        }
    }

    /// A random discriminator no session holds: what `insert` draws when given none, and
    /// for a caller that must avoid more values than that (those a restart may hand back to
    /// peers not started yet).
    pub fn unused_discriminator(&mut self) -> u32 {
        loop {
            let d: u32 = self.rng.gen();
            if d != 0 && !self.by_discriminator.contains_key(&d) {
                return d;
            }
        }
    }

    /// After anything touched a session: collect its events, queue it for transmission and
    /// keep its heap entry in step with its next deadline.
    fn after_input(&mut self, id: SessionId) {
        let Some(slot) = self.slots.get_mut(id.index()).and_then(Option::as_mut) else {
            return;
        };
        while let Some(event) = slot.session.poll_event() {
            self.events.push_back((id, event));
        }
        if !slot.queued {
            slot.queued = true;
            self.ready.push_back(id);
        }
        self.reschedule(id);
    }

    fn reschedule(&mut self, id: SessionId) {
        let Some(slot) = self.slots.get_mut(id.index()).and_then(Option::as_mut) else {
            return;
        };
        let next = slot.session.poll_timeout();
        if next != slot.scheduled {
            slot.scheduled = next;
            if let Some(at) = next {
                self.heap.push(Reverse((at, id.0)));
                self.compact_heap_if_stale();
            }
        }
    }

    /// Superseded deadlines stay in the heap until they reach the top; a session whose
    /// deadline keeps moving earlier leaves several behind. Past twice the live entries, drop
    /// them all: the heap stays within a small multiple of the sessions, at amortized O(1).
    fn compact_heap_if_stale(&mut self) {
        let live = self.by_discriminator.len();
        if self.heap.len() <= 2 * live + 64 {
            return;
        }
        let slots = &self.slots;
        self.heap.retain(|Reverse((at, index))| {
            slots
                .get(*index as usize)
                .and_then(Option::as_ref)
                .is_some_and(|s| s.scheduled == Some(*at))
        });
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;

    use super::*;

    /// Every byte of a `Session` is paid at every session (10 KB per byte at 10,000), and the
    /// daemon's memory goal (under 1 KiB a session, all included) leaves little room: a field
    /// that grows it shows here first.
    #[test]
    fn a_session_stays_small() {
        let size = std::mem::size_of::<Session>();
        assert!(size <= 408, "Session is {size} bytes");
    }

    /// A deadline that keeps moving earlier leaves stale heap entries; they are dropped before
    /// they outnumber the sessions, and the live deadline is still the one reported.
    #[test]
    fn stale_heap_entries_are_bounded() {
        #[allow(clippy::disallowed_methods)]
        let start = Instant::now();
        let mut sessions = Sessions::new(1);
        let key = PeerKey {
            peer: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            local: None,
            ifindex: None,
            multihop: false,
        };
        let id = sessions
            .insert(start, key, SessionConfig::default(), None)
            .expect("insert");
        let mut buf = Vec::new();
        while sessions.poll_transmit(start, &mut buf).is_some() {}
        // Each step pushes a fresh, earlier deadline for the same session.
        for i in 0..1000u32 {
            let slot = sessions.slot_mut(id).expect("slot");
            slot.scheduled =
                Some(start + Duration::from_secs(3600) - Duration::from_millis(i.into()));
            let at = slot.scheduled.expect("set");
            sessions.heap.push(Reverse((at, id.0)));
            sessions.compact_heap_if_stale();
            assert!(sessions.heap.len() <= 2 + 64, "{}", sessions.heap.len());
        }
        let expected = start + Duration::from_secs(3600) - Duration::from_millis(999);
        assert_eq!(sessions.poll_timeout(), Some(expected));
    }
}
