//! What /proc says about a process: CPU time (utime + stime of all its threads, and the
//! nanosecond on-CPU time from schedstat) and memory (VmRSS, VmHWM).

use std::sync::OnceLock;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// CPU time of a process at one instant.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct CpuSample {
    /// Per live thread: (tid, on-CPU ns, timeslices). Differences are taken per thread, so a
    /// thread that exits between two samples (a tokio blocking thread idle for 10 s) does not
    /// take the CPU it used before the first out of the difference.
    #[serde(skip)]
    pub threads: Vec<(u32, u64, u64)>,
    /// utime + stime from /proc/PID/stat, in seconds (clock-tick resolution, usually 10 ms).
    pub stat_s: f64,
    /// Sum of /proc/PID/task/*/schedstat on-CPU time in seconds (ns resolution), if available.
    pub sched_s: Option<f64>,
    /// Sum of /proc/PID/task/*/schedstat timeslices: how often a thread was put on a CPU,
    /// which for an event loop is its wake-ups (each costs a context switch).
    pub sched_runs: Option<u64>,
}

impl CpuSample {
    /// The CPU seconds between `earlier` and `self`: (utime+stime, schedstat).
    pub fn since(&self, earlier: &CpuSample) -> (f64, Option<f64>) {
        let stat = (self.stat_s - earlier.stat_s).max(0.0);
        let sched = match (self.sched_s, earlier.sched_s) {
            _ if !self.threads.is_empty() => {
                let live = self.per_thread_since(earlier, |&(_, ns, _)| ns) as f64 * 1e-9;
                // A thread that exited in between (or lived only in between) took what it did
                // meanwhile with it; utime + stime keeps the dead threads' time too, exact but
                // for its rounding to ticks: beyond two ticks more, it is the figure.
                Some(if stat > live + 2.0 / clock_ticks() {
                    stat
                } else {
                    live
                })
            }
            (Some(a), Some(b)) => Some((a - b).max(0.0)),
            _ => None,
        };
        (stat, sched)
    }

    /// Times the process's threads were put on a CPU between `earlier` and `self`.
    pub fn runs_since(&self, earlier: &CpuSample) -> Option<u64> {
        if !self.threads.is_empty() {
            return Some(self.per_thread_since(earlier, |&(_, _, runs)| runs));
        }
        Some(self.sched_runs?.saturating_sub(earlier.sched_runs?))
    }

    /// Sum over the threads alive now of what `field` grew by since `earlier` (all of it for
    /// a thread started since).
    fn per_thread_since(
        &self,
        earlier: &CpuSample,
        field: impl Fn(&(u32, u64, u64)) -> u64,
    ) -> u64 {
        self.threads
            .iter()
            .map(|now| {
                let before = earlier
                    .threads
                    .iter()
                    .find(|t| t.0 == now.0)
                    .map_or(0, &field);
                field(now).saturating_sub(before)
            })
            .sum()
    }
}

fn clock_ticks() -> f64 {
    static TCK: OnceLock<f64> = OnceLock::new();
    *TCK.get_or_init(|| {
        nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .filter(|&t| t > 0)
            .map(|t| t as f64)
            .unwrap_or(100.0)
    })
}

/// `pid` = `None` reads this process.
fn proc_dir(pid: Option<u32>) -> String {
    match pid {
        Some(p) => format!("/proc/{p}"),
        None => "/proc/self".to_string(),
    }
}

/// The numeric fields `n` (numbered from 1, as in proc(5)) of the `/proc/.../stat` file `path`.
fn stat_fields<const K: usize>(path: &str, n: [usize; K]) -> Result<[u64; K]> {
    let stat = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    // Fields from the 3rd on follow the parenthesised command name, which may hold spaces.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .with_context(|| format!("malformed {path}"))?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let mut out = [0; K];
    for (o, &i) in out.iter_mut().zip(&n) {
        *o = i
            .checked_sub(3)
            .and_then(|k| f.get(k))
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("{path} field {i}"))?;
    }
    Ok(out)
}

/// CPU time of `pid` (or of this process).
pub fn cpu(pid: Option<u32>) -> Result<CpuSample> {
    let dir = proc_dir(pid);
    let [utime, stime] = stat_fields(&format!("{dir}/stat"), [14, 15])?;
    let stat_s = (utime + stime) as f64 / clock_ticks();
    let threads = schedstat(&dir).unwrap_or_default();
    let any = !threads.is_empty();
    Ok(CpuSample {
        stat_s,
        sched_s: any.then(|| threads.iter().map(|t| t.1).sum::<u64>() as f64 * 1e-9),
        sched_runs: any.then(|| threads.iter().map(|t| t.2).sum()),
        threads,
    })
}

/// The scheduling policy (`SCHED_FIFO` is 1) and real-time priority of thread `tid` of `pid`:
/// `/proc/PID/task/TID/stat` fields 41 and 40.
pub fn scheduling(pid: u32, tid: u32) -> Result<(u64, u64)> {
    let [policy, priority] = stat_fields(&format!("/proc/{pid}/task/{tid}/stat"), [41, 40])?;
    Ok((policy, priority))
}

/// Per thread (tid, on-CPU ns, timeslices): the first and third schedstat fields. A thread
/// that exits while being read is left out.
fn schedstat(dir: &str) -> Option<Vec<(u32, u64, u64)>> {
    let mut threads = Vec::new();
    for t in std::fs::read_dir(format!("{dir}/task")).ok()?.flatten() {
        let Some(tid) = t.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) else {
            continue;
        };
        let mut f = s.split_whitespace();
        let ns = f.next()?.parse::<u64>().ok()?;
        let runs = f.nth(1)?.parse::<u64>().ok()?;
        threads.push((tid, ns, runs));
    }
    Some(threads)
}

/// Memory of a process, in KiB.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Memory {
    /// VmRSS: resident now.
    pub rss_kib: u64,
    /// VmHWM: peak resident.
    pub hwm_kib: u64,
    /// RssAnon: resident now, anonymous (the heap, stacks): what the daemon allocated, without
    /// the pages of its binary that VmRSS also counts.
    pub anon_kib: Option<u64>,
}

/// VmRSS and VmHWM of `pid`.
pub fn memory(pid: u32) -> Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let s = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let kib = |key: &str| -> Result<u64> {
        s.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("{key} missing in {path}"))
    };
    Ok(Memory {
        rss_kib: kib("VmRSS:")?,
        hwm_kib: kib("VmHWM:")?,
        anon_kib: kib("RssAnon:").ok(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_thread_is_not_real_time() {
        let pid = std::process::id();
        assert_eq!(scheduling(pid, pid).expect("own task stat"), (0, 0));
    }

    /// A thread that ran before the first sample and exits before the second (a tokio
    /// blocking thread after a scrape) takes nothing out of the difference: before, its
    /// whole CPU time was subtracted, hiding the work done meanwhile.
    #[test]
    fn a_thread_exiting_between_samples_hides_no_work() {
        let spin = |d: std::time::Duration| {
            let start = std::time::Instant::now();
            let mut x = 0u64;
            while start.elapsed() < d {
                for i in 0..10_000u64 {
                    x = x.wrapping_mul(31).wrapping_add(i);
                }
                std::hint::black_box(x);
            }
        };
        let (go, exit) = std::sync::mpsc::channel::<()>();
        let worker = std::thread::spawn(move || {
            spin(std::time::Duration::from_millis(300));
            let _ = exit.recv();
        });
        std::thread::sleep(std::time::Duration::from_millis(400));
        let a = cpu(None).expect("sample");
        spin(std::time::Duration::from_millis(100));
        drop(go);
        worker.join().expect("worker");
        let b = cpu(None).expect("sample");
        let (_, sched) = b.since(&a);
        let sched = sched.expect("schedstat");
        assert!(sched >= 0.08, "{sched} s between the samples");
    }

    /// A thread that works between the samples and exits before the second: its work is
    /// gone from schedstat but kept in utime + stime, which then counts.
    #[test]
    fn a_thread_working_and_exiting_between_samples_still_counts() {
        let a = cpu(None).expect("sample");
        std::thread::spawn(|| {
            let start = std::time::Instant::now();
            let mut x = 0u64;
            while start.elapsed() < std::time::Duration::from_millis(200) {
                for i in 0..10_000u64 {
                    x = x.wrapping_mul(31).wrapping_add(i);
                }
                std::hint::black_box(x);
            }
        })
        .join()
        .expect("worker");
        let b = cpu(None).expect("sample");
        let sched = b.since(&a).1.expect("schedstat");
        assert!(sched >= 0.15, "{sched} s between the samples");
    }

    #[test]
    fn reads_self() {
        let a = cpu(None).expect("own /proc/self/stat");
        // Spin until this process has run 50 ms more by /proc's reckoning (its ticks are
        // coarse), at most 5 s: the reading must grow with the work done.
        let start = std::time::Instant::now();
        let mut x = 0u64;
        let stat = loop {
            for i in 0..1_000_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            std::hint::black_box(x);
            let (stat, _) = cpu(None).expect("own /proc/self/stat").since(&a);
            if stat >= 0.05 || start.elapsed().as_secs() >= 5 {
                break stat;
            }
        };
        assert!(stat >= 0.05, "{stat} s of CPU after spinning");
        let m = memory(std::process::id()).expect("own status");
        assert!(m.hwm_kib >= m.rss_kib && m.rss_kib > 0);
    }
}
