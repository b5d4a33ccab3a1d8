//! The route installer: one kernel route per configured destination (`ip route 203.0.113.0/24
//! via 198.51.100.2`), following the BFD sessions to its gateways.
//!
//! - Several `[[route]]` entries with one destination form one ECMP route. A `bfd = true`
//!   gateway is a next hop only while its session is Up; with none usable the route is
//!   withdrawn ([`desired`]).
//! - Only our routes are touched: each carries `[routes] protocol`, only routes with that id in
//!   `[routes] table` are ever listed, replaced or deleted, and a slot held by a foreign route
//!   is never overwritten.
//! - The kernel is reconciled at start, on reload, on route/link notifications (someone
//!   deleted a route, a link flap flushed it) and every 10 s, so routes come back after
//!   interference and stale ones never leak.
//! - Kernel errors are logged with the route and retried with backoff (100 ms .. 30 s) per
//!   destination; they never stop the daemon or other routes.
//!
//! The kernel is behind [`RouteBackend`]: [`NetlinkBackend`] for real, [`FakeBackend`] in
//! tests. The logic lives in one task ([`spawn`]) driven through a [`RouteHandle`].

mod backend;
mod backoff;
pub mod desired;
mod dest;
mod fake;
mod handle;
mod kernel_route;
mod listener;
mod manager;
mod message;
mod netlink;
mod slot_file;
mod stats;
mod status;

#[cfg(test)]
mod tests;

pub use backend::{is_exists, is_gone, RouteBackend};
pub use backoff::{MAX_BACKOFF, MIN_BACKOFF};
pub use fake::{FakeBackend, FakeOp};
#[cfg(test)]
pub use handle::unresponsive;
pub use handle::{RouteHandle, SHUTDOWN_TIMEOUT};
pub use kernel_route::{Gateways, KernelRoute};
pub use listener::{spawn_listener, Notice};
pub use manager::{
    spawn, spawn_netlink, spawn_with, ManagerOptions, RECONCILE_INTERVAL, STARTUP_GRACE,
};
pub use netlink::NetlinkBackend;
pub use slot_file::{Slot, SlotFile};
pub use stats::{LatencySummary, RouteMetrics, LATENCY_WINDOW};
