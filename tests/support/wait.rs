//! Polling helpers.

use std::time::{Duration, Instant};

/// Calls `f` every `poll` until it returns true or `timeout` has passed; returns whether it
/// succeeded. `f` is always called at least once, and once more at the deadline.
pub fn wait_until(timeout: Duration, poll: Duration, mut f: impl FnMut() -> bool) -> bool {
    poll_until(timeout, poll, || f().then_some(())).is_some()
}

/// Calls `f` every `poll` until it returns `Some`, or `timeout` has passed (then `None`).
/// `f` is always called at least once, and once more at the deadline.
pub fn poll_until<T>(
    timeout: Duration,
    poll: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        std::thread::sleep(poll.min(deadline - now));
    }
}
