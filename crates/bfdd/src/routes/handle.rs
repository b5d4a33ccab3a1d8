//! [`RouteHandle`]: how the rest of the daemon talks to the route manager task.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use bfd_control::RouteStatus;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;
use tracing::warn;

use super::listener::Notice;
use super::stats::RouteMetrics;
use crate::config::RoutesConfig;

/// How long [`RouteHandle::shutdown`] waits for the withdrawals before giving up: the
/// daemon's exit must not hang on a wedged netlink socket.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);

/// A BFD session change, on the manager's priority lane.
#[derive(Clone, Copy, Debug)]
pub(super) struct SessionEvent {
    pub gateway: IpAddr,
    pub up: bool,
    pub at: Instant,
    /// When the driver reported it, among all its reports: the two lanes are served out of
    /// order (session changes first), so a reload's change must not undo a newer one.
    pub seq: u64,
}

/// Everything else the manager is asked, in order.
#[derive(Debug)]
pub(super) enum Command {
    /// A reload: the new configuration, then the gateway changes it brought, in that order.
    Reconfigure(RoutesConfig, Vec<SessionEvent>),
    Reconcile,
    Notice(Notice),
    Status(oneshot::Sender<Vec<RouteStatus>>),
    Metrics(oneshot::Sender<RouteMetrics>),
    Shutdown {
        withdraw: bool,
        done: oneshot::Sender<()>,
    },
}

/// A cheap, cloneable handle to the route manager task (see [`super::spawn`]).
///
/// Session changes travel on their own channel, which the task always empties first, so a
/// withdrawal never waits behind a status query, a reload or a periodic check. The task ends
/// on [`RouteHandle::shutdown`], or, leaving the routes in place, when every handle is dropped.
#[derive(Clone, Debug)]
pub struct RouteHandle {
    pub(super) urgent: mpsc::UnboundedSender<SessionEvent>,
    pub(super) commands: mpsc::UnboundedSender<Command>,
    pub(super) task: AbortHandle,
    /// Numbers every report, in the order the driver made them.
    pub(super) seq: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl RouteHandle {
    /// Reports that the BFD session to `gateway` went Up (`up = true`) or left Up, at `at` (the
    /// state change's timestamp: the withdraw latency is measured from it). Call it for every
    /// transition into or out of Up, and with `up = false` when a session is removed. Never
    /// blocks; the route change follows within microseconds unless the kernel objects.
    pub fn session_changed(&self, gateway: IpAddr, up: bool, at: Instant) {
        // A send error means the task has ended (shutdown): nothing left to update.
        let seq = self.next_seq();
        let _ = self.urgent.send(SessionEvent {
            gateway,
            up,
            at,
            seq,
        });
    }

    /// Applies a reloaded `[routes]`/`[[route]]` configuration: routes no longer configured are
    /// withdrawn, new ones installed. A changed table or protocol id moves every route.
    ///
    /// `gateways` are the usability changes the reload itself made (a gateway no longer
    /// `bfd = true`, a peer removed), timed `at`: taken in with the new configuration (before
    /// it is reconciled, so a gateway it starts tracking counts as Up if its session is), not
    /// on the session lane ahead of it, where the old configuration would withdraw a route the
    /// new one keeps.
    pub fn reconfigure(&self, config: RoutesConfig, gateways: Vec<(IpAddr, bool)>, at: Instant) {
        let seq = self.next_seq();
        let events = gateways
            .into_iter()
            .map(|(gateway, up)| SessionEvent {
                gateway,
                up,
                at,
                seq,
            })
            .collect();
        let _ = self.commands.send(Command::Reconfigure(config, events));
    }

    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Asks for a check of the kernel's routes now, as the periodic one does.
    pub fn reconcile(&self) {
        let _ = self.commands.send(Command::Reconcile);
    }

    /// Hands a kernel notification to the manager, as the netlink listener of
    /// [`super::spawn_netlink`] does; with another backend, tests use it to simulate one.
    pub fn notice(&self, notice: Notice) {
        let _ = self.commands.send(Command::Notice(notice));
    }

    /// Each configured destination with its next hops and state (`bfdctl routes`). Empty once
    /// the task has ended.
    pub async fn status(&self) -> Vec<RouteStatus> {
        self.try_status().await.unwrap_or_default()
    }

    /// [`RouteHandle::status`], `None` once the task has ended.
    pub async fn try_status(&self) -> Option<Vec<RouteStatus>> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::Status(tx)).ok()?;
        rx.await.ok()
    }

    /// Counters and withdraw latency figures (for `/metrics` and tests). Zeros once the task
    /// has ended.
    pub async fn metrics(&self) -> RouteMetrics {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Metrics(tx)).is_err() {
            return RouteMetrics::default();
        }
        rx.await.unwrap_or_default()
    }

    /// Stops the task; with `withdraw`, first removes every route of ours (call it after the
    /// peers were sent AdminDown; pass `!keep_on_exit`). Waits at most [`SHUTDOWN_TIMEOUT`],
    /// then aborts the task and logs that routes may remain.
    pub async fn shutdown(self, withdraw: bool) {
        let (tx, rx) = oneshot::channel();
        if self
            .commands
            .send(Command::Shutdown { withdraw, done: tx })
            .is_err()
        {
            return;
        }
        if tokio::time::timeout(SHUTDOWN_TIMEOUT, rx).await.is_err() {
            warn!(
                timeout = ?SHUTDOWN_TIMEOUT,
                "route manager did not finish in time; some routes may remain installed"
            );
            self.task.abort();
        }
    }
}

/// A handle whose task never answers (busy with the kernel), for tests of what waits on it;
/// the task stays alive while the returned guard does.
#[cfg(test)]
pub fn unresponsive() -> (RouteHandle, impl Drop) {
    let (urgent, urgent_rx) = mpsc::unbounded_channel();
    let (commands, commands_rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(std::future::pending::<()>());
    let handle = RouteHandle {
        urgent,
        commands,
        task: task.abort_handle(),
        seq: Default::default(),
    };
    struct Guard {
        _urgent: mpsc::UnboundedReceiver<SessionEvent>,
        _commands: mpsc::UnboundedReceiver<Command>,
        task: tokio::task::JoinHandle<()>,
    }
    impl Drop for Guard {
        fn drop(&mut self) {
            self.task.abort();
        }
    }
    let guard = Guard {
        _urgent: urgent_rx,
        _commands: commands_rx,
        task,
    };
    (handle, guard)
}
