//! The driver's heartbeat: when its loop last turned. `bfdctl ready` is answered on the
//! services thread, so that probes get an answer while the driver is busy; without this, a
//! driver stuck in a loop or a deadlock, every session timing out, still looked ready and
//! alive to Kubernetes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Silence after which the driver counts as stuck: it turns at least once per retry interval
/// (5 s), so this is three missed turns.
pub const STALLED_AFTER: Duration = Duration::from_secs(15);

/// Shared between the driver, which beats, and the control server, which listens.
#[derive(Clone, Debug)]
pub struct Heartbeat {
    base: Instant,
    /// Nanoseconds from `base` to the last beat.
    last: Arc<AtomicU64>,
}

impl Heartbeat {
    /// A heartbeat that last beat at `now`.
    pub fn new(now: Instant) -> Heartbeat {
        Heartbeat {
            base: now,
            last: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The driver turned at `now`.
    pub fn beat(&self, now: Instant) {
        let since = now.saturating_duration_since(self.base).as_nanos();
        self.last
            .store(u64::try_from(since).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// How long the driver has not turned, as of `now`.
    pub fn silent_for(&self, now: Instant) -> Duration {
        let last = self.base + Duration::from_nanos(self.last.load(Ordering::Relaxed));
        now.saturating_duration_since(last)
    }

    /// Why the daemon is not ready, if the driver is stuck.
    pub fn problem(&self, now: Instant) -> Option<String> {
        let silent = self.silent_for(now);
        (silent > STALLED_AFTER).then(|| {
            format!(
                "the session driver has not run for {} s: sessions are not being served",
                silent.as_secs()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_driver_silent_past_the_limit_is_reported_stuck() {
        let start = Instant::now();
        let heartbeat = Heartbeat::new(start);
        let listener = heartbeat.clone();
        assert_eq!(listener.problem(start + Duration::from_secs(10)), None);
        heartbeat.beat(start + Duration::from_secs(10));
        assert_eq!(listener.problem(start + Duration::from_secs(24)), None);
        let problem = listener
            .problem(start + Duration::from_secs(26))
            .expect("stuck");
        assert!(problem.contains("16 s"), "{problem}");
    }
}
