//! [`RouteBackend`]: the kernel as the route manager sees it. The real one speaks rtnetlink
//! ([`super::NetlinkBackend`]); an in-memory one ([`super::FakeBackend`]) lets the manager's
//! logic be tested in milliseconds without root.

use std::future::Future;
use std::io;

use super::KernelRoute;

/// Installs, removes and lists routes of one protocol id. Implementations touch only the route
/// named by the call; which routes are "ours" is decided by `protocol` and `table`.
///
/// The futures are `Send` so the manager can run as an ordinary `tokio::spawn`ed task.
pub trait RouteBackend: Send + Sync + 'static {
    /// Installs `route`, replacing whatever route holds its slot (destination, table and
    /// metric), like `ip route replace`. Idempotent. The manager uses it only where it knows
    /// the slot holds a route of ours, because the kernel would also replace a foreign one.
    fn replace(&self, route: &KernelRoute) -> impl Future<Output = io::Result<()>> + Send;

    /// Installs `route` only if its slot is free, like `ip route add`: fails with `EEXIST`
    /// when any route (ours or not) holds it. Used when the manager believes no route of ours
    /// is there, so that a foreign route is never overwritten.
    fn add(&self, route: &KernelRoute) -> impl Future<Output = io::Result<()>> + Send;

    /// Removes our route for `route.destination` in `route.table` (matched by protocol id, so
    /// a foreign route there is left alone). A route already gone (`ESRCH`/`ENOENT`) is
    /// success: the caller wanted it gone.
    fn delete(&self, route: &KernelRoute) -> impl Future<Output = io::Result<()>> + Send;

    /// Every route in `table` carrying `protocol`, IPv4 and IPv6; never anyone else's. A
    /// missing table is an empty list.
    fn list(
        &self,
        table: u32,
        protocol: u8,
    ) -> impl Future<Output = io::Result<Vec<KernelRoute>>> + Send;
}

/// Whether `e` means "no such route" (`ESRCH` from a route delete, `ENOENT` for a missing
/// table): a delete that finds nothing has reached its goal.
pub fn is_gone(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(code) if code == nix::errno::Errno::ESRCH as i32 || code == nix::errno::Errno::ENOENT as i32
    )
}

/// Whether `e` means the route's slot is taken (`EEXIST` from an exclusive add).
pub fn is_exists(e: &io::Error) -> bool {
    e.raw_os_error() == Some(nix::errno::Errno::EEXIST as i32)
}
