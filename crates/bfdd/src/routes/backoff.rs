//! Exponential backoff for retrying a failed kernel operation on one destination.

use std::time::Duration;

/// First retry delay.
pub const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Longest retry delay: a gateway that stays unreachable costs one netlink request per 30 s.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Delays 100 ms, 200 ms, 400 ms, ... capped at 30 s; [`Backoff::reset`] after a success.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backoff {
    next: Option<Duration>,
}

impl Backoff {
    /// The delay before the next retry; doubles the one after.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next.unwrap_or(MIN_BACKOFF);
        self.next = Some(delay.saturating_mul(2).min(MAX_BACKOFF));
        delay
    }

    /// Starts again from [`MIN_BACKOFF`].
    pub fn reset(&mut self) {
        self.next = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_cap_and_resets() {
        let mut b = Backoff::default();
        let delays: Vec<u128> = (0..12).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(
            delays,
            vec![100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000]
        );
        b.reset();
        assert_eq!(b.next_delay(), MIN_BACKOFF);
    }
}
