//! [`FakeBackend`]: an in-memory kernel routing table for tests of the route logic.
//!
//! It models what matters to the manager: one route per (destination, table) slot, of any
//! protocol; `replace` overwrites a slot whoever owns it (as the kernel does), `add` refuses a
//! taken slot, `delete` removes only a route of the given protocol. Tests can add foreign
//! routes, delete ours behind the manager's back, and make operations fail with an errno.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use nix::errno::Errno;

use super::backend::is_gone;
use super::{KernelRoute, RouteBackend};
use crate::config::Prefix;

/// One call the fake received, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FakeOp {
    /// `replace(route)`
    Replace(KernelRoute),
    /// `add(route)`
    Add(KernelRoute),
    /// `delete(route)`
    Delete(KernelRoute),
    /// `list(table, protocol)`
    List(u32, u8),
}

#[derive(Debug, Default)]
struct State {
    routes: BTreeMap<(Prefix, u32), KernelRoute>,
    /// errno for replace/add of a destination, until cleared.
    failing: HashMap<Prefix, Errno>,
    /// errno for every list, until cleared.
    list_failing: Option<Errno>,
    /// errno for delete of a destination, until cleared.
    delete_failing: HashMap<Prefix, Errno>,
    ops: Vec<FakeOp>,
}

/// An in-memory routing table; clones share it, so a test keeps one clone to inspect and poke
/// at while the manager owns another.
#[derive(Clone, Debug, Default)]
pub struct FakeBackend {
    state: Arc<Mutex<State>>,
}

impl FakeBackend {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread may poison the lock; the data is still fine for a fake.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every route held, ours and foreign, sorted by destination and table.
    pub fn routes(&self) -> Vec<KernelRoute> {
        self.lock().routes.values().cloned().collect()
    }

    /// The route in the slot (`destination`, `table`), whoever owns it.
    pub fn route(&self, destination: Prefix, table: u32) -> Option<KernelRoute> {
        self.lock().routes.get(&(destination, table)).cloned()
    }

    /// Puts a route in as someone else would (`ip route replace`), any protocol.
    pub fn insert(&self, route: KernelRoute) {
        self.lock()
            .routes
            .insert((route.destination, route.table), route);
    }

    /// Deletes a route behind the manager's back (an operator's `ip route del`, or the kernel
    /// flushing routes of a link that went down).
    pub fn remove(&self, destination: Prefix, table: u32) -> Option<KernelRoute> {
        self.lock().routes.remove(&(destination, table))
    }

    /// From now on `replace`/`add` of `destination` fail with `errno` (`None` heals).
    pub fn fail(&self, destination: Prefix, errno: Option<Errno>) {
        let mut s = self.lock();
        match errno {
            Some(e) => s.failing.insert(destination, e),
            None => s.failing.remove(&destination),
        };
    }

    /// From now on `delete` of `destination` fails with `errno` (`None` heals).
    pub fn fail_delete(&self, destination: Prefix, errno: Option<Errno>) {
        let mut s = self.lock();
        match errno {
            Some(e) => s.delete_failing.insert(destination, e),
            None => s.delete_failing.remove(&destination),
        };
    }

    /// From now on `list` fails with `errno` (`None` heals).
    pub fn fail_list(&self, errno: Option<Errno>) {
        self.lock().list_failing = errno;
    }

    /// The calls received so far.
    pub fn ops(&self) -> Vec<FakeOp> {
        self.lock().ops.clone()
    }

    /// Forgets the recorded calls.
    pub fn clear_ops(&self) {
        self.lock().ops.clear();
    }

    fn install(&self, route: &KernelRoute, exclusive: bool) -> io::Result<()> {
        let mut s = self.lock();
        s.ops.push(if exclusive {
            FakeOp::Add(route.clone())
        } else {
            FakeOp::Replace(route.clone())
        });
        if let Some(e) = s.failing.get(&route.destination) {
            return Err(io::Error::from_raw_os_error(*e as i32));
        }
        if route.nexthops.is_empty() {
            return Err(io::Error::from_raw_os_error(Errno::EINVAL as i32));
        }
        let key = (route.destination, route.table);
        if exclusive && s.routes.contains_key(&key) {
            return Err(io::Error::from_raw_os_error(Errno::EEXIST as i32));
        }
        s.routes.insert(key, route.clone());
        Ok(())
    }
}

impl RouteBackend for FakeBackend {
    async fn replace(&self, route: &KernelRoute) -> io::Result<()> {
        self.install(route, false)
    }

    async fn add(&self, route: &KernelRoute) -> io::Result<()> {
        self.install(route, true)
    }

    async fn delete(&self, route: &KernelRoute) -> io::Result<()> {
        let mut s = self.lock();
        s.ops.push(FakeOp::Delete(route.clone()));
        if let Some(e) = s.delete_failing.get(&route.destination) {
            return Err(io::Error::from_raw_os_error(*e as i32));
        }
        let key = (route.destination, route.table);
        let result = match s.routes.get(&key) {
            Some(r) if r.protocol == route.protocol => {
                s.routes.remove(&key);
                Ok(())
            }
            _ => Err(io::Error::from_raw_os_error(Errno::ESRCH as i32)),
        };
        match result {
            Err(e) if is_gone(&e) => Ok(()),
            other => other,
        }
    }

    async fn list(&self, table: u32, protocol: u8) -> io::Result<Vec<KernelRoute>> {
        let mut s = self.lock();
        s.ops.push(FakeOp::List(table, protocol));
        if let Some(e) = s.list_failing {
            return Err(io::Error::from_raw_os_error(e as i32));
        }
        Ok(s.routes
            .values()
            .filter(|r| r.table == table && r.protocol == protocol)
            .cloned()
            .collect())
    }
}
