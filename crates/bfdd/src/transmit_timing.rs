//! How punctually periodic packets leave, for `/metrics`: a node too busy to run the daemon on
//! time shows here (delays past the timer's own couple of milliseconds, packets past the
//! RFC 5880 §6.8.7 window) before its sessions start to flap.

use bfd_core::Punctuality;

/// Upper bounds of the delay histogram, seconds. tokio's millisecond timer accounts for up to
/// 2 ms; beyond that the thread was waiting for a CPU. The schedule allows for 10 ms (2/5 of the
/// jitter window when that is less: intervals under 100 ms, or about 167 ms with a Detect Mult
/// of 1).
pub const DELAY_BUCKETS: [f64; 8] = [0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.1];

/// Counts over every periodic packet sent since start.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TransmitTiming {
    /// Packets that left after the top of their window.
    pub late: u64,
    /// Packets per delay bucket (not cumulative); the last counts delays beyond every bound.
    pub delay_counts: [u64; DELAY_BUCKETS.len() + 1],
    /// Sum of the delays, seconds.
    pub delay_sum: f64,
}

impl TransmitTiming {
    /// Counts one periodic packet.
    pub fn record(&mut self, punctuality: Punctuality) {
        let secs = punctuality.delay.as_secs_f64();
        let bucket = DELAY_BUCKETS
            .iter()
            .position(|&bound| secs <= bound)
            .unwrap_or(DELAY_BUCKETS.len());
        if let Some(n) = self.delay_counts.get_mut(bucket) {
            *n += 1;
        }
        self.delay_sum += secs;
        self.late += u64::from(punctuality.late);
    }

    /// Periodic packets counted.
    pub fn count(&self) -> u64 {
        self.delay_counts.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn packet(delay_us: u64, late: bool) -> Punctuality {
        Punctuality {
            delay: Duration::from_micros(delay_us),
            late,
        }
    }

    #[test]
    fn delays_fall_in_the_first_bucket_that_holds_them() {
        let mut t = TransmitTiming::default();
        t.record(packet(0, false));
        t.record(packet(500, false)); // on a bound: that bucket
        t.record(packet(1_500, false));
        t.record(packet(7_000, true));
        t.record(packet(250_000, true)); // beyond every bound
        assert_eq!(t.delay_counts, [2, 0, 1, 0, 0, 1, 0, 0, 1]);
        assert_eq!(t.count(), 5);
        assert_eq!(t.late, 2);
        assert!((t.delay_sum - 0.259).abs() < 1e-9, "{}", t.delay_sum);
    }
}
