//! Percentiles: a fixed-resolution histogram for the millions of transmit intervals of a run,
//! exact order statistics for the few thousand detection latencies.

use serde::{Deserialize, Serialize};

/// A histogram of non-negative values with bins of `resolution`, exact min and max.
#[derive(Clone, Debug)]
pub struct Histogram {
    resolution: f64,
    bins: Vec<u64>,
    count: u64,
    min: f64,
    max: f64,
}

impl Histogram {
    /// Bins of `resolution` from 0 to `limit`; larger values land in the last bin (the exact
    /// maximum is kept apart).
    pub fn new(resolution: f64, limit: f64) -> Histogram {
        let n = (limit / resolution).ceil() as usize + 1;
        Histogram {
            resolution,
            bins: vec![0; n],
            count: 0,
            min: f64::INFINITY,
            max: 0.0,
        }
    }

    /// Adds a value (negative values count as zero).
    pub fn record(&mut self, v: f64) {
        let v = v.max(0.0);
        let i = ((v / self.resolution) as usize).min(self.bins.len() - 1);
        self.bins[i] += 1;
        self.count += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Number of values.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Values at or above `v` (to bin resolution: the bin edge nearest `v`; truncating would
    /// take 1.0005 / 0.0005 = 2000.999... for bin 2000, and a bound half a bin too low).
    pub fn count_at_least(&self, v: f64) -> u64 {
        let i = ((v / self.resolution).round() as usize).min(self.bins.len() - 1);
        self.bins[i..].iter().sum()
    }

    /// Values below `v` (to bin resolution).
    pub fn count_below(&self, v: f64) -> u64 {
        self.count - self.count_at_least(v)
    }

    /// The `q`-quantile (0..=1): the middle of the bin holding it; the exact maximum for 1.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        if q >= 1.0 {
            return Some(self.max);
        }
        let target = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, &b) in self.bins.iter().enumerate() {
            seen += b;
            if seen >= target {
                // The middle of the bin, except the first, whose values are usually exact
                // zeros (errors inside the window).
                let mid = if i == 0 {
                    self.min
                } else {
                    (i as f64 + 0.5) * self.resolution
                };
                return Some(mid.clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

/// p50 / p99 / max of a set of values, as published.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Summary {
    /// Number of values.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
}

impl Summary {
    /// From a histogram, values scaled by `scale`.
    pub fn from_histogram(h: &Histogram, scale: f64) -> Summary {
        Summary {
            count: h.count(),
            p50: h.quantile(0.5).unwrap_or(0.0) * scale,
            p99: h.quantile(0.99).unwrap_or(0.0) * scale,
            max: h.quantile(1.0).unwrap_or(0.0) * scale,
        }
    }

    /// Exact order statistics (nearest rank) of `values`.
    pub fn exact(values: &[f64]) -> Summary {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return Summary::default();
        }
        v.sort_by(f64::total_cmp);
        let rank = |q: f64| {
            let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
            v[i]
        };
        Summary {
            count: v.len() as u64,
            p50: rank(0.5),
            p99: rank(0.99),
            max: v[v.len() - 1],
        }
    }
}

/// The median of `values` (nearest rank), `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| Summary::exact(values).p50)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles() {
        let mut h = Histogram::new(0.001, 4.0);
        for i in 0..1000 {
            h.record(0.75 + 0.25 * f64::from(i) / 1000.0);
        }
        assert_eq!(h.count(), 1000);
        let p50 = h.quantile(0.5).unwrap_or_default();
        assert!((p50 - 0.875).abs() < 0.002, "{p50}");
        assert!((h.quantile(1.0).unwrap_or_default() - 0.99975).abs() < 1e-9);
        assert_eq!(h.count_below(0.75), 0);
        assert_eq!(h.count_at_least(1.0), 0);
        h.record(9.0);
        assert_eq!(h.quantile(1.0), Some(9.0));
        assert_eq!(h.count_at_least(1.0), 1);
    }

    #[test]
    fn exact_summary() {
        let s = Summary::exact(&[3.0, 1.0, 2.0]);
        assert_eq!((s.count, s.p50, s.p99, s.max), (3, 2.0, 3.0, 3.0));
        assert_eq!(Summary::exact(&[]), Summary::default());
        assert_eq!(median(&[5.0, 1.0, 9.0, 7.0]), Some(5.0));
    }

    /// A gap of exactly the interval plus a microsecond of path delay is inside the half-bin
    /// tolerance at the top of the window; one a bin past it is outside.
    #[test]
    fn bounds_fall_on_the_nearest_bin_edge() {
        let mut h = Histogram::new(0.0005, 4.0);
        h.record(1.0 + 1e-5);
        assert_eq!(h.count_at_least(1.0005), 0);
        h.record(1.0006);
        assert_eq!(h.count_at_least(1.0005), 1);
        h.record(0.7493);
        assert_eq!(h.count_below(0.7495), 1);
    }
}
