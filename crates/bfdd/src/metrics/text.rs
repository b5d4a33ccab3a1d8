//! The Prometheus text exposition format, written straight into a `String`: one document,
//! or chunks handed on as they fill (a scrape of 10,000 sessions is 13 MB of text, which
//! held whole would raise the daemon's peak memory by as much).
//!
//! The prometheus crate's registry hashes every label set into a child metric before encoding:
//! at 10,000 sessions a scrape took 730 ms and tens of MB. Written directly, the same output
//! costs a pass over the peers' figures per family.

use std::fmt::{Display, Write};

use crate::clients::ANSWER_CHUNK as CHUNK;

/// A metric family's kind, as in its `# TYPE` line.
#[derive(Clone, Copy)]
pub enum Kind {
    /// Monotonic count.
    Counter,
    /// Value that goes up and down.
    Gauge,
    /// Cumulative buckets with `_bucket{le}`, `_sum` and `_count` samples.
    Histogram,
    /// Quantiles with `{quantile}`, then `_sum` and `_count` samples.
    Summary,
}

/// Writes families one after another; a family's header is written with its first sample, so
/// a family without samples leaves no trace (as the prometheus crate does).
pub struct Exposition {
    out: String,
    pending_header: Option<(&'static str, &'static str, Kind)>,
    /// Where full chunks go when streaming; it answers false once nobody reads them.
    sink: Option<Box<dyn FnMut(String) -> bool + Send>>,
    /// Nobody reads any more: the rest is not written at all.
    stopped: bool,
}

impl Exposition {
    /// An empty document with room for about `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Exposition {
        Exposition {
            out: String::with_capacity(capacity),
            pending_header: None,
            sink: None,
            stopped: false,
        }
    }

    /// A document handed to `sink` in chunks of about [`CHUNK`] as it is written; once `sink`
    /// answers false (the reader left) the rest is written nowhere.
    pub fn streaming(sink: impl FnMut(String) -> bool + Send + 'static) -> Exposition {
        Exposition {
            out: String::with_capacity(CHUNK + 4096),
            pending_header: None,
            sink: Some(Box::new(sink)),
            stopped: false,
        }
    }

    fn hand_on(&mut self) {
        let Some(sink) = self.sink.as_mut() else {
            return;
        };
        let chunk = std::mem::replace(&mut self.out, String::with_capacity(CHUNK + 4096));
        if !sink(chunk) {
            self.stopped = true;
            self.out = String::new();
        }
    }

    /// Starts a family; its samples follow with [`sample`](Self::sample).
    pub fn family(&mut self, name: &'static str, help: &'static str, kind: Kind) {
        self.pending_header = Some((name, help, kind));
    }

    /// One sample of the current family. Labels are written in the order given; callers pass
    /// them sorted by name, as Prometheus itself renders them.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        if self.stopped {
            return;
        }
        if let Some((family, help, kind)) = self.pending_header.take() {
            let kind = match kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram => "histogram",
                Kind::Summary => "summary",
            };
            let _ = writeln!(self.out, "# HELP {family} {}", escape_help(help));
            let _ = writeln!(self.out, "# TYPE {family} {kind}");
        }
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(label);
                self.out.push_str("=\"");
                escape_label_into(&mut self.out, value);
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
        if self.sink.is_some() && self.out.len() >= CHUNK {
            self.hand_on();
        }
    }

    /// The finished document (not streaming).
    pub fn finish(self) -> String {
        self.out
    }

    /// Streaming: hands on what is left, the last chunk.
    pub fn flush(&mut self) {
        if self.out.is_empty() || self.stopped {
            return;
        }
        if let Some(sink) = self.sink.as_mut() {
            self.stopped = !sink(std::mem::take(&mut self.out));
        }
    }

    /// Streaming: nobody reads the chunks any more.
    pub fn stopped(&self) -> bool {
        self.stopped
    }
}

fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label_into(out: &mut String, value: &str) {
    // Addresses and interface names, nearly always: nothing to escape, one copy.
    if !value.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_once_with_first_sample_and_labels_escaped() {
        let mut e = Exposition::with_capacity(64);
        e.family("x_total", "Things.", Kind::Counter);
        e.sample("x_total", &[("a", "q\"b\\c\nd")], 3);
        e.sample("x_total", &[("a", "z")], 4);
        e.family("unused", "Never sampled.", Kind::Gauge);
        e.family("y", "Why.", Kind::Gauge);
        e.sample("y", &[], 0.5);
        assert_eq!(
            e.finish(),
            "# HELP x_total Things.\n# TYPE x_total counter\nx_total{a=\"q\\\"b\\\\c\\nd\"} 3\n\
             x_total{a=\"z\"} 4\n# HELP y Why.\n# TYPE y gauge\ny 0.5\n"
        );
    }
}
