//! One deadline per kind of timer, as data: the session's next wake-up is their minimum.

use std::time::Instant;

/// The kinds of deadline a session keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Next periodic transmission (§6.8.7).
    Transmit,
    /// An out-of-schedule packet: a Final, or changed contents (§6.8.7).
    Immediate,
    /// Detection time since the last valid packet (§6.8.4).
    Detect,
    /// 2x detection time without packets forgets the peer's sequence number (§6.8.1).
    AuthSeqReset,
}

const COUNT: usize = 4;

impl Timer {
    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Timers {
    deadlines: [Option<Instant>; COUNT],
}

impl Timers {
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer.index()] = Some(at);
    }

    pub(crate) fn stop(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }

    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer.index()]
    }

    /// Whether `timer` is armed and due at `now`.
    pub(crate) fn is_due(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|t| t <= now)
    }

    pub(crate) fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }
}
