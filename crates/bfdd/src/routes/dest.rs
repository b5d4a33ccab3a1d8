//! [`Dest`]: what the manager knows about one destination.

use tokio::time::Instant;

use super::backoff::Backoff;
use super::KernelRoute;

/// The manager's record of one destination: configured ones, plus routes of ours found in the
/// kernel that the configuration no longer wants (kept until their delete succeeds).
#[derive(Clone, Debug, Default)]
pub struct Dest {
    /// Our route for the destination as the kernel holds it, as far as we know: from the last
    /// dump, updated by every acknowledged operation. Decides replace (ours is there) versus
    /// exclusive add (the slot may hold a foreign route we must not overwrite).
    pub installed: Option<KernelRoute>,
    /// The last failure, for `bfdctl routes`; cleared by the next success.
    pub error: Option<String>,
    /// Retry delays after failures.
    pub backoff: Backoff,
    /// When to try again after a failure.
    pub retry_at: Option<Instant>,
    /// When the last attempt failed.
    pub failed_at: Option<Instant>,
}

impl Dest {
    /// Records an acknowledged operation: the kernel now holds `installed`.
    pub fn succeeded(&mut self, installed: Option<KernelRoute>) {
        self.installed = installed;
        self.settled();
    }

    /// Nothing left to do: forgets the failure and the pending retry.
    pub fn settled(&mut self) {
        self.error = None;
        self.backoff.reset();
        self.retry_at = None;
        self.failed_at = None;
    }

    /// Records a failure and schedules the retry; returns the delay.
    pub fn failed(&mut self, now: Instant, error: String) -> std::time::Duration {
        let delay = self.backoff.next_delay();
        self.error = Some(error);
        self.retry_at = Some(now + delay);
        self.failed_at = Some(now);
        delay
    }
}
