//! Text formatting shared by the commands: durations, intervals and aligned tables.

use std::time::Duration;

/// Parses `--timeout`: `"2s"`, `"500ms"`, `"1.5s"` or plain seconds (`"2"`).
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration (use e.g. \"2s\" or \"500ms\")");
    let (number, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        (s, 1.0)
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(bad());
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    let d = Duration::try_from_secs_f64(value * scale).map_err(|_| bad())?;
    if d.is_zero() {
        return Err(format!("{s:?} is zero; the timeout must be positive"));
    }
    if d > Duration::from_secs(3600) {
        return Err(format!("{s:?} is longer than an hour"));
    }
    Ok(d)
}

/// `--timeout` as the user would write it: `2s`, `500ms`, `1500ms`.
pub fn format_timeout(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Seconds as `1d2h3m4s`, `2h0m5s`, `3m0s`, `42s`: the largest unit first, then every smaller
/// one, so columns of them compare at a glance.
pub fn format_seconds(total: u64) -> String {
    let (d, rest) = (total / 86_400, total % 86_400);
    let (h, rest) = (rest / 3600, rest % 3600);
    let (m, s) = (rest / 60, rest % 60);
    if d > 0 {
        format!("{d}d{h}h{m}m{s}s")
    } else if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// Microseconds as milliseconds, FRR's unit: `300ms`, `1.5ms`, `0.01ms`.
pub fn format_us_as_ms(us: u64) -> String {
    let (ms, frac) = (us / 1000, us % 1000);
    if frac == 0 {
        format!("{ms}ms")
    } else {
        let frac = format!("{frac:03}");
        format!("{ms}.{}ms", frac.trim_end_matches('0'))
    }
}

/// A table with a header row and columns separated by two spaces; the last column is not
/// padded, so lines carry no trailing blanks.
#[derive(Debug)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Table {
        Table {
            rows: vec![headers.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    /// Adds a row; it must have as many cells as there are headers.
    pub fn push(&mut self, row: Vec<String>) {
        debug_assert_eq!(row.len(), self.rows[0].len());
        self.rows.push(row);
    }

    /// The table as text, one line per row, each ending in a newline.
    pub fn render(&self) -> String {
        let columns = self.rows[0].len();
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let pad = widths[c] - cell.chars().count();
                    line.push_str(cell);
                    line.extend(std::iter::repeat_n(' ', pad + 2));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds() {
        assert_eq!(format_seconds(0), "0s");
        assert_eq!(format_seconds(59), "59s");
        assert_eq!(format_seconds(60), "1m0s");
        assert_eq!(format_seconds(3723), "1h2m3s");
        assert_eq!(format_seconds(3600), "1h0m0s");
        assert_eq!(format_seconds(86_400 + 5), "1d0h0m5s");
        assert_eq!(
            format_seconds(2 * 86_400 + 3 * 3600 + 4 * 60 + 5),
            "2d3h4m5s"
        );
    }

    #[test]
    fn intervals_in_ms() {
        assert_eq!(format_us_as_ms(300_000), "300ms");
        assert_eq!(format_us_as_ms(0), "0ms");
        assert_eq!(format_us_as_ms(1_500), "1.5ms");
        assert_eq!(format_us_as_ms(10), "0.01ms");
        assert_eq!(format_us_as_ms(1_000_000), "1000ms");
        // The longest detection time a peer can ask for: 255 x 0xFFFFFFFF µs.
        assert_eq!(
            format_us_as_ms(255 * u64::from(u32::MAX)),
            "1095216660.225ms"
        );
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_timeout("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_timeout("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_timeout("1.5s"), Ok(Duration::from_millis(1500)));
        for bad in [
            "", "s", "ms", "0", "0s", "-1s", "2m", "abc", "1e3", "99999s",
        ] {
            assert!(parse_timeout(bad).is_err(), "{bad:?}");
        }
        assert_eq!(format_timeout(Duration::from_secs(2)), "2s");
        assert_eq!(format_timeout(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn table_aligns_and_leaves_no_trailing_blanks() {
        let mut t = Table::new(&["A", "LONGER", "LAST"]);
        t.push(vec!["xyz".into(), "1".into(), "end".into()]);
        t.push(vec!["é".into(), "22".into(), String::new()]);
        assert_eq!(
            t.render(),
            "A    LONGER  LAST\n\
             xyz  1       end\n\
             é    22\n"
        );
    }
}
