//! Counters and latency figures of the route manager, for `/metrics` and for tests.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// How many withdraw latency samples are kept for the percentiles.
pub const LATENCY_WINDOW: usize = 1024;

/// A snapshot of the manager's figures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteMetrics {
    /// Routes of ours in the kernel now (`bfd_routes_installed`).
    pub installed: usize,
    /// `(op, result, count)` for `bfd_route_operations_total{op,result}`; op is `add`,
    /// `replace`, `delete` or `list`, result `ok` or `error`.
    pub operations: Vec<(&'static str, &'static str, u64)>,
    /// Session Down event to netlink ack of the withdrawal.
    pub withdraw_latency: LatencySummary,
}

/// Withdraw latency: from the session-down event's timestamp to the kernel's ack of the
/// route change that removed the gateway, in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LatencySummary {
    /// Samples taken since start.
    pub count: u64,
    /// Their sum, in microseconds.
    pub sum_us: u64,
    /// The latest sample.
    pub last_us: Option<u64>,
    /// Median of the last [`LATENCY_WINDOW`] samples.
    pub p50_us: Option<u64>,
    /// 99th percentile of the last [`LATENCY_WINDOW`] samples.
    pub p99_us: Option<u64>,
    /// Largest of the last [`LATENCY_WINDOW`] samples.
    pub max_us: Option<u64>,
    /// The last [`LATENCY_WINDOW`] samples, oldest first.
    pub recent_us: Vec<u64>,
}

/// Accumulates what [`RouteMetrics`] reports.
#[derive(Debug)]
pub struct Recorder {
    operations: BTreeMap<(&'static str, &'static str), u64>,
    latency: VecDeque<u64>,
    latency_count: u64,
    latency_sum_us: u64,
}

/// Every operation the manager makes: each (op, result) counter exists from the start, so the
/// first failure shows as an increase.
const OPERATIONS: [&str; 4] = ["add", "delete", "list", "replace"];

impl Default for Recorder {
    fn default() -> Self {
        let operations = OPERATIONS
            .iter()
            .flat_map(|op| [((*op, "error"), 0), ((*op, "ok"), 0)])
            .collect();
        Recorder {
            operations,
            latency: VecDeque::new(),
            latency_count: 0,
            latency_sum_us: 0,
        }
    }
}

impl Recorder {
    /// Counts one operation.
    pub fn operation(&mut self, op: &'static str, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        *self.operations.entry((op, result)).or_default() += 1;
    }

    /// Adds a withdraw latency sample.
    pub fn withdraw_latency(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        if self.latency.len() == LATENCY_WINDOW {
            self.latency.pop_front();
        }
        self.latency.push_back(us);
        self.latency_count += 1;
        self.latency_sum_us = self.latency_sum_us.saturating_add(us);
    }

    /// The figures, with `installed` supplied by the caller.
    pub fn snapshot(&self, installed: usize) -> RouteMetrics {
        let mut sorted: Vec<u64> = self.latency.iter().copied().collect();
        sorted.sort_unstable();
        let pct = |p: usize| -> Option<u64> {
            let last = sorted.len().checked_sub(1)?;
            sorted.get((last * p).div_ceil(100)).copied()
        };
        RouteMetrics {
            installed,
            operations: self
                .operations
                .iter()
                .map(|(&(op, result), &n)| (op, result, n))
                .collect(),
            withdraw_latency: LatencySummary {
                count: self.latency_count,
                sum_us: self.latency_sum_us,
                last_us: self.latency.back().copied(),
                p50_us: pct(50),
                p99_us: pct(99),
                max_us: sorted.last().copied(),
                recent_us: self.latency.iter().copied().collect(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_counts() {
        let mut r = Recorder::default();
        assert_eq!(r.snapshot(0).withdraw_latency, LatencySummary::default());
        for us in 1..=100 {
            r.withdraw_latency(Duration::from_micros(us));
        }
        r.operation("replace", true);
        r.operation("replace", true);
        r.operation("delete", false);
        let m = r.snapshot(3);
        assert_eq!(m.installed, 3);
        // Every counter from the start, at 0 until used.
        assert_eq!(
            m.operations,
            vec![
                ("add", "error", 0),
                ("add", "ok", 0),
                ("delete", "error", 1),
                ("delete", "ok", 0),
                ("list", "error", 0),
                ("list", "ok", 0),
                ("replace", "error", 0),
                ("replace", "ok", 2)
            ]
        );
        let l = m.withdraw_latency;
        assert_eq!((l.count, l.last_us, l.max_us), (100, Some(100), Some(100)));
        assert_eq!((l.p50_us, l.p99_us), (Some(51), Some(100)));
        for _ in 0..LATENCY_WINDOW {
            r.withdraw_latency(Duration::from_micros(7));
        }
        let l = r.snapshot(0).withdraw_latency;
        assert_eq!(l.count, 100 + LATENCY_WINDOW as u64);
        assert_eq!(l.recent_us.len(), LATENCY_WINDOW);
        assert_eq!(l.max_us, Some(7));
    }
}
