//! [`NetlinkBackend`]: [`RouteBackend`] over rtnetlink, the real kernel.

use std::collections::BTreeMap;
use std::io;

use futures::TryStreamExt;
use rtnetlink::Handle;
use tokio::task::JoinHandle;

use super::backend::is_gone;
use super::message::{delete_message, dump_message, install_message, parse_route};
use super::{KernelRoute, RouteBackend};

/// A netlink route socket of its own (requests and acks only; notifications arrive on the
/// listener's separate socket, so a burst of them never delays an ack).
#[derive(Debug)]
pub struct NetlinkBackend {
    handle: Handle,
    connection: JoinHandle<()>,
}

/// rtnetlink's error as an `io::Error`, keeping the kernel's errno where there is one so that
/// callers can tell "already gone" or "slot taken" from real failures.
fn to_io(e: rtnetlink::Error) -> io::Error {
    match e {
        rtnetlink::Error::NetlinkError(m) if m.raw_code() != 0 => m.to_io(),
        other => io::Error::other(other.to_string()),
    }
}

impl NetlinkBackend {
    /// Opens the socket (with strict checking, so route dumps are filtered by the kernel) and
    /// spawns the task driving it. Must be called inside a tokio runtime.
    pub fn new() -> io::Result<Self> {
        let (connection, handle, _unsolicited) = rtnetlink::new_connection_with_strict_check()?;
        let connection = tokio::spawn(connection);
        Ok(NetlinkBackend { handle, connection })
    }

    async fn install(&self, route: &KernelRoute, replace: bool) -> io::Result<()> {
        let request = self.handle.route().add(install_message(route)?);
        let request = if replace { request.replace() } else { request };
        request.execute().await.map_err(to_io)
    }

    async fn dump(&self, v6: bool, table: u32, protocol: u8) -> io::Result<Vec<KernelRoute>> {
        let stream = self
            .handle
            .route()
            .get(dump_message(v6, table, protocol))
            .execute();
        let messages: Vec<_> = match stream.try_collect().await.map_err(to_io) {
            Ok(m) => m,
            // The kernel refuses to dump a table that does not exist (yet): nothing of ours.
            Err(e) if is_gone(&e) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(messages.iter().filter_map(parse_route).collect())
    }
}

impl Drop for NetlinkBackend {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

impl RouteBackend for NetlinkBackend {
    async fn replace(&self, route: &KernelRoute) -> io::Result<()> {
        self.install(route, true).await
    }

    async fn add(&self, route: &KernelRoute) -> io::Result<()> {
        self.install(route, false).await
    }

    async fn delete(&self, route: &KernelRoute) -> io::Result<()> {
        let request = self.handle.route().del(delete_message(route)?);
        match request.execute().await.map_err(to_io) {
            Err(e) if is_gone(&e) => Ok(()),
            other => other,
        }
    }

    async fn list(&self, table: u32, protocol: u8) -> io::Result<Vec<KernelRoute>> {
        let mut by_destination: BTreeMap<_, KernelRoute> = BTreeMap::new();
        for v6 in [false, true] {
            for route in self.dump(v6, table, protocol).await? {
                // Filter again: kernels without strict checking ignore the request's filter.
                if route.table != table || route.protocol != protocol {
                    continue;
                }
                // Old kernels dump each IPv6 ECMP sibling as a route of its own: merge them.
                match by_destination.get_mut(&route.destination) {
                    Some(existing) => {
                        let mut all = std::mem::take(&mut existing.nexthops);
                        all.extend(route.nexthops);
                        *existing = KernelRoute::new(route.destination, table, protocol, all);
                    }
                    None => {
                        by_destination.insert(route.destination, route);
                    }
                }
            }
        }
        Ok(by_destination.into_values().collect())
    }
}
