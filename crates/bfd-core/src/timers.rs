//! A session's moments: one deadline per kind of timer (its next wake-up is their minimum),
//! and the times it remembers, each kept as a [`Stamp`] from the session's origin.

use std::num::NonZeroU64;
use std::time::{Duration, Instant};

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

/// A moment as nanoseconds from an [`Origin`], in order: half an `Instant`'s size, and so is
/// an `Option` of it. A session keeps eleven moments; as `Instant`s they took 176 of its 480
/// bytes, 1.8 MB at 10,000 sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Stamp(NonZeroU64);

/// `d` in nanoseconds, up to 292 years (u64 arithmetic: `as_nanos` is u128, and this runs on
/// every packet).
fn nanos(d: Duration) -> i64 {
    const MAX_SECS: u64 = i64::MAX as u64 / 1_000_000_000 - 1;
    if d.as_secs() >= MAX_SECS {
        // Clamped whole, so that order holds beyond too.
        return (MAX_SECS * 1_000_000_000) as i64;
    }
    (d.as_secs() * 1_000_000_000 + u64::from(d.subsec_nanos())) as i64
}

impl Stamp {
    fn from_offset(offset: i64) -> Stamp {
        // Never zero: the offset is kept above i64::MIN.
        let offset = offset.max(i64::MIN + 1);
        Stamp(NonZeroU64::new(offset as u64 ^ SIGN).unwrap_or(NonZeroU64::MIN))
    }

    fn offset(self) -> i64 {
        (self.0.get() ^ SIGN) as i64
    }

    /// `d` later.
    pub(crate) fn after(self, d: Duration) -> Stamp {
        Stamp::from_offset(self.offset().saturating_add(nanos(d)))
    }
}

/// Offsets are signed (a packet's arrival, taken from the kernel's stamp, may precede the
/// session); flipping the sign bit keeps their order among unsigned values.
const SIGN: u64 = 1 << 63;

/// Where a session's [`Stamp`]s count from: its creation. Exact for moments within 292 years
/// of it; beyond, they are clamped.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Origin(Instant);

impl Origin {
    pub(crate) fn stamp(self, at: Instant) -> Stamp {
        let offset = match at.checked_duration_since(self.0) {
            Some(after) => nanos(after),
            None => -nanos(self.0.duration_since(at)),
        };
        Stamp::from_offset(offset)
    }

    pub(crate) fn instant(self, stamp: Stamp) -> Instant {
        let offset = stamp.offset();
        let distance = Duration::from_nanos(offset.unsigned_abs());
        let at = if offset >= 0 {
            self.0.checked_add(distance)
        } else {
            self.0.checked_sub(distance)
        };
        // Every stamp was made from an `Instant`, or one plus a duration that the platform's
        // `Instant` holds (Linux: 292 years either way); the origin is only a last resort.
        debug_assert!(
            at.is_some(),
            "stamp {offset} ns from the origin out of range"
        );
        at.unwrap_or(self.0)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Timers {
    origin: Origin,
    deadlines: [Option<Stamp>; COUNT],
}

impl Timers {
    /// No deadline; moments count from `origin`.
    pub(crate) fn new(origin: Instant) -> Timers {
        Timers {
            origin: Origin(origin),
            deadlines: [None; COUNT],
        }
    }

    /// Where the session's moments count from.
    pub(crate) fn origin(&self) -> Origin {
        self.origin
    }

    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer.index()] = Some(self.origin.stamp(at));
    }

    pub(crate) fn set_stamp(&mut self, timer: Timer, at: Stamp) {
        self.deadlines[timer.index()] = Some(at);
    }

    pub(crate) fn stop(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }

    pub(crate) fn is_set(&self, timer: Timer) -> bool {
        self.deadlines[timer.index()].is_some()
    }

    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer.index()].map(|s| self.origin.instant(s))
    }

    /// Whether `timer` is armed and due at `now` (a stamp: callers checking several timers
    /// convert the time once).
    pub(crate) fn is_due(&self, timer: Timer, now: Stamp) -> bool {
        self.deadlines[timer.index()].is_some_and(|t| t <= now)
    }

    pub(crate) fn next(&self) -> Option<Instant> {
        let next = self.deadlines.iter().flatten().min().copied();
        next.map(|s| self.origin.instant(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Moments before, at and after the origin come back exactly, in order, and an unset
    /// moment costs nothing more than a set one.
    #[test]
    fn stamps_round_trip_exactly_and_keep_order() {
        // A starting point only: nothing here reads the clock again.
        #[allow(clippy::disallowed_methods)]
        let origin = Instant::now() + Duration::from_secs(3600);
        let o = Origin(origin);
        let moments = [
            origin - Duration::from_secs(3599),
            origin - Duration::from_nanos(1),
            origin,
            origin + Duration::from_nanos(1),
            origin + Duration::from_secs(86_400 * 365 * 100),
        ];
        for pair in moments.windows(2) {
            assert!(o.stamp(pair[0]) < o.stamp(pair[1]), "{pair:?}");
        }
        for at in moments {
            assert_eq!(o.instant(o.stamp(at)), at);
        }
        assert_eq!(std::mem::size_of::<Option<Stamp>>(), 8);
        // A duration later, in stamps as in `Instant`s; past the representable span, clamped
        // without reversing the order.
        let s = o.stamp(origin);
        assert_eq!(
            o.instant(s.after(Duration::from_millis(900))),
            origin + Duration::from_millis(900)
        );
        let huge = Duration::from_secs(u64::MAX / 2);
        assert!(s.after(huge) >= s.after(huge - Duration::from_secs(1)));
        assert!(
            s.after(Duration::from_secs(9_223_372_036))
                >= s.after(Duration::new(9_223_372_035, 999_999_999))
        );
    }

    #[test]
    fn the_next_deadline_is_the_earliest() {
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let mut timers = Timers::new(now);
        assert_eq!(timers.next(), None);
        timers.set(Timer::Detect, now + Duration::from_millis(900));
        timers.set(Timer::Transmit, now + Duration::from_millis(250));
        assert_eq!(timers.next(), Some(now + Duration::from_millis(250)));
        let then = timers.origin().stamp(now + Duration::from_millis(250));
        assert!(timers.is_due(Timer::Transmit, then));
        assert!(!timers.is_due(Timer::Detect, then));
        timers.stop(Timer::Transmit);
        assert_eq!(timers.next(), Some(now + Duration::from_millis(900)));
    }
}
