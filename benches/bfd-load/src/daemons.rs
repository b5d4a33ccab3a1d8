//! The daemons under test, started standalone in namespace D with N sessions: bfdd (this
//! workspace, release build), FRR's bfdd and BIRD 2 (Debian packages). Configurations come from
//! the builders of the integration-test harness (`bfdd-integration`), so the three daemons are
//! configured the way the interop tests configure them.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bfdd_integration::{
    bird_command_line, cargo_build_release, control_exchange, frr_command_line, frr_render_config,
    metric, BfddConfig, BfddPeer, BirdConfig, BirdNeighbor, FrrPeer, Netns, Process, TestDir,
    FRR_BFDD, METRICS_ADDRESS,
};
use serde::{Deserialize, Serialize};

use crate::net;
use crate::stats::median;
use crate::topology::{d_addr, l_addr};

/// Upper bounds of bfdd's `bfd_transmit_delay_seconds` buckets, as its `/metrics` writes them.
const DELAY_BOUNDS: [&str; 9] = [
    "0.0005", "0.001", "0.002", "0.003", "0.005", "0.01", "0.025", "0.1", "+Inf",
];

/// bfdd's count of how punctually its periodic packets left.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TransmitTiming {
    /// Packets past the top of their §6.8.7 window.
    pub late: u64,
    /// Packets that left at most `le` seconds after their deadline (cumulative, as Prometheus).
    pub delay_le: Vec<(String, u64)>,
}

impl TransmitTiming {
    /// The counts from `earlier` to `self`.
    pub fn since(&self, earlier: &TransmitTiming) -> TransmitTiming {
        let before = |le: &str| {
            earlier
                .delay_le
                .iter()
                .find(|(l, _)| l == le)
                .map_or(0, |(_, n)| *n)
        };
        TransmitTiming {
            late: self.late.saturating_sub(earlier.late),
            delay_le: self
                .delay_le
                .iter()
                .map(|(le, n)| (le.clone(), n.saturating_sub(before(le))))
                .collect(),
        }
    }
}

/// Which daemon.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum DaemonKind {
    /// This workspace's bfdd.
    Bfdd,
    /// FRR's bfdd (`/usr/lib/frr/bfdd`), standalone.
    Frr,
    /// BIRD 2 with one `protocol bfd`.
    Bird,
}

impl DaemonKind {
    /// Lower-case name, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            DaemonKind::Bfdd => "bfdd",
            DaemonKind::Frr => "frr",
            DaemonKind::Bird => "bird",
        }
    }

    /// Name in tables.
    pub fn label(self) -> &'static str {
        match self {
            DaemonKind::Bfdd => "bfdd",
            DaemonKind::Frr => "FRR bfdd",
            DaemonKind::Bird => "BIRD",
        }
    }
}

/// Where our binaries are.
#[derive(Clone, Debug)]
pub struct Binaries {
    /// bfdd.
    pub bfdd: PathBuf,
    /// bfdctl, for the `bfdctl peers` timings.
    pub bfdctl: Option<PathBuf>,
}

/// bfdd and bfdctl: the given paths, else `BFDD_BIN` / `BFDCTL_BIN`; when no bfdd is given, a
/// `cargo build --release` of both in the workspace (a no-op when up to date).
pub fn resolve_binaries(bfdd: Option<PathBuf>, bfdctl: Option<PathBuf>) -> Result<Binaries> {
    let bfdd = bfdd.or_else(|| std::env::var_os("BFDD_BIN").map(PathBuf::from));
    let bfdctl = bfdctl.or_else(|| std::env::var_os("BFDCTL_BIN").map(PathBuf::from));
    if let Some(bfdd) = bfdd {
        // An explicit daemon: nothing is built (bfdctl timings need an explicit bfdctl too).
        return Ok(Binaries { bfdd, bfdctl });
    }
    eprintln!("building bfdd and bfdctl (release) ...");
    let bfdd = cargo_build_release("bfdd").map_err(anyhow::Error::msg)?;
    let bfdctl = match bfdctl {
        Some(b) => Some(b),
        None => Some(cargo_build_release("bfdctl").map_err(anyhow::Error::msg)?),
    };
    Ok(Binaries { bfdd, bfdctl })
}

/// Version of each daemon, for the report.
pub fn version(kind: DaemonKind, bins: &Binaries) -> String {
    let out = match kind {
        DaemonKind::Bfdd => Command::new(&bins.bfdd).arg("--version").output(),
        DaemonKind::Frr => Command::new("dpkg-query")
            .args(["-W", "-f", "${Version}", "frr"])
            .output(),
        DaemonKind::Bird => Command::new("dpkg-query")
            .args(["-W", "-f", "${Version}", "bird2"])
            .output(),
    };
    out.ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Whether the daemon's programs are installed (bfdd is built).
pub fn available(kind: DaemonKind) -> Result<()> {
    let need: &[&str] = match kind {
        DaemonKind::Bfdd => &[],
        DaemonKind::Frr => &[FRR_BFDD, "/usr/bin/vtysh"],
        DaemonKind::Bird => &["/usr/sbin/bird", "/usr/sbin/birdc"],
    };
    for p in need {
        if !Path::new(p).exists() {
            bail!(
                "{p} is missing: apt-get install -y {}",
                if kind == DaemonKind::Frr {
                    "frr"
                } else {
                    "bird2"
                }
            );
        }
    }
    Ok(())
}

/// One timed query (median over the samples).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct QueryTime {
    /// What was asked, e.g. `bfdctl peers --check`.
    pub name: String,
    /// Median wall time, ms.
    pub median_ms: f64,
    /// Slowest sample, ms.
    pub max_ms: f64,
    /// Every sample succeeded (for `--check`: exit 0, all Up).
    pub ok: bool,
    /// Size of the answer, bytes.
    pub bytes: usize,
    /// Flaps (any session) while this query ran: a daemon that stalls to answer shows here.
    #[serde(default)]
    pub flaps: u64,
}

/// A daemon running in D with N sessions.
pub struct Daemon {
    /// Which.
    pub kind: DaemonKind,
    /// When the process was started (its configuration already written): what ready and
    /// all-Up times are measured from, so the harness's own work is not in them.
    pub spawned: Instant,
    /// The same instant on the realtime clock, for kernel packet stamps.
    pub spawned_rt: f64,
    // Field order = drop order: the process goes before its directory.
    proc: Process,
    /// Control socket (bfdd), vty directory (FRR) or control socket (BIRD).
    ctl: PathBuf,
    netns: String,
    /// Configuration and log; removed on drop (kept with `BFDD_IT_KEEP=1`).
    _dir: TestDir,
}

impl Daemon {
    /// Writes the configuration for `sessions` sessions (session `i`: local `d_addr(i)`, peer
    /// `l_addr(i)`) and spawns the daemon in `ns`. Returns at once; readiness is measured by
    /// the caller. `realtime_priority` is bfdd's `[daemon] realtime-priority`.
    pub fn spawn(
        kind: DaemonKind,
        ns: &Netns,
        sessions: usize,
        interval: Duration,
        multiplier: u8,
        realtime_priority: Option<u8>,
        bins: &Binaries,
    ) -> Result<Daemon> {
        let dir = TestDir::new(&format!("load-{}", kind.name()))?;
        let ms = u32::try_from(interval.as_millis()).context("interval")?;
        let (argv, ctl): (Vec<String>, PathBuf) = match kind {
            DaemonKind::Bfdd => {
                let conf = dir.join("bfdd.toml");
                let text = bfdd_config(dir.path(), sessions, ms, multiplier, realtime_priority);
                std::fs::write(&conf, text).context("writing bfdd.toml")?;
                (
                    vec![
                        bins.bfdd.display().to_string(),
                        "--config".into(),
                        conf.display().to_string(),
                    ],
                    dir.join("bfdd.sock"),
                )
            }
            DaemonKind::Frr => {
                let run = dir.subdir_owned_by("frr", "frr", "frr")?;
                let peers: Vec<FrrPeer> = (0..sessions)
                    .map(|i| {
                        FrrPeer::new(&l_addr(i).to_string())
                            .local(&d_addr(i).to_string())
                            .interval(ms)
                            .multiplier(multiplier)
                    })
                    .collect();
                let conf = run.join("bfdd.conf");
                std::fs::write(&conf, frr_render_config(&peers)).context("writing bfdd.conf")?;
                chown_frr(&conf)?;
                (frr_command_line(&run, false), run)
            }
            DaemonKind::Bird => {
                let mut cfg = BirdConfig::new().interval(ms).multiplier(multiplier);
                for i in 0..sessions {
                    cfg = cfg.neighbor_with(BirdNeighbor {
                        addr: l_addr(i).to_string(),
                        local: Some(d_addr(i).to_string()),
                        dev: None,
                        multihop: false,
                    });
                }
                let conf = dir.join("bird.conf");
                std::fs::write(&conf, cfg.render()).context("writing bird.conf")?;
                let ctl = dir.join("bird.ctl");
                (bird_command_line(&conf, &ctl, &dir.join("bird.pid")), ctl)
            }
        };
        let argv_ref: Vec<&str> = argv.iter().map(String::as_str).collect();
        let (spawned, spawned_rt) = (Instant::now(), net::now_rt());
        let proc = Process::spawn(ns, kind.name(), &argv_ref, dir.path())?;
        Ok(Daemon {
            kind,
            spawned,
            spawned_rt,
            proc,
            ctl,
            netns: ns.name().to_string(),
            _dir: dir,
        })
    }

    /// The daemon's PID.
    pub fn pid(&self) -> Result<u32> {
        self.proc.pid().context("daemon has no pid")
    }

    /// Fails with the log tail if the daemon exited.
    pub fn ensure_running(&mut self) -> Result<()> {
        if let Some(st) = self.proc.try_wait() {
            bail!(
                "{} exited ({st}); log tail:\n{}",
                self.kind.label(),
                tail(&self.proc.log(), 20)
            );
        }
        Ok(())
    }

    /// bfdd only: whether the control socket answers `ready: true`.
    pub fn bfdd_ready(&self) -> bool {
        let Ok(req) = serde_json::to_string(&bfd_control::Request::Ready) else {
            return false;
        };
        match control_exchange(&self.ctl, &req) {
            Ok(line) => matches!(
                serde_json::from_str::<bfd_control::Response>(&line),
                Ok(bfd_control::Response::Ready(r)) if r.ready
            ),
            Err(_) => false,
        }
    }

    /// The operator queries timed for this daemon: for bfdd `bfdctl peers`, `bfdctl peers
    /// --check` and `GET /metrics`; for FRR `vtysh -c 'show bfd peers'`; for BIRD `birdc show
    /// bfd sessions`.
    pub fn query_names(&self, bins: &Binaries) -> Vec<&'static str> {
        match self.kind {
            DaemonKind::Bfdd if bins.bfdctl.is_some() => {
                vec!["bfdctl peers", "bfdctl peers --check", "GET /metrics"]
            }
            DaemonKind::Bfdd => vec!["GET /metrics"],
            DaemonKind::Frr => vec!["vtysh show bfd peers"],
            DaemonKind::Bird => vec!["birdc show bfd sessions"],
        }
    }

    /// Times one of [`query_names`](Self::query_names) `samples` times.
    pub fn time_query(&self, name: &str, bins: &Binaries, samples: usize) -> QueryTime {
        let samples = samples.max(1);
        let command = |args: &[&str]| {
            let mut c;
            match self.kind {
                DaemonKind::Bfdd => {
                    c = Command::new(bins.bfdctl.as_deref().unwrap_or(Path::new("bfdctl")));
                    c.arg("--socket").arg(&self.ctl);
                }
                DaemonKind::Frr => {
                    c = Command::new("vtysh");
                    c.arg("--vty_socket").arg(&self.ctl);
                }
                DaemonKind::Bird => {
                    c = Command::new("birdc");
                    c.arg("-s").arg(&self.ctl);
                }
            }
            c.args(args);
            c
        };
        match name {
            "GET /metrics" => self.time_metrics(samples),
            "bfdctl peers" => time_command(name, samples, || command(&["peers"])),
            "bfdctl peers --check" => {
                time_command(name, samples, || command(&["peers", "--check"]))
            }
            "vtysh show bfd peers" => {
                time_command(name, samples, || command(&["-c", "show bfd peers"]))
            }
            _ => time_command(name, samples, || command(&["show", "bfd", "sessions"])),
        }
    }

    fn time_metrics(&self, samples: usize) -> QueryTime {
        let r = net::in_netns(&self.netns, || {
            let mut times = Vec::new();
            let mut bytes = 0;
            let mut ok = true;
            for _ in 0..samples {
                let t = Instant::now();
                match http_get(METRICS_ADDRESS, "/metrics") {
                    Ok(body) => {
                        bytes = body.len();
                        ok &= body.contains("bfd_sessions");
                    }
                    Err(_) => ok = false,
                }
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
            Ok((times, bytes, ok))
        });
        let (times, bytes, ok) = r.unwrap_or((Vec::new(), 0, false));
        QueryTime {
            name: "GET /metrics".into(),
            median_ms: median(&times).unwrap_or(f64::NAN),
            max_ms: times.iter().copied().fold(0.0, f64::max),
            ok,
            bytes,
            flaps: 0,
        }
    }

    /// bfdd's own count of its periodic packets' punctuality (`bfd_transmit_late_total` and
    /// the `bfd_transmit_delay_seconds` histogram) so far; `None` for the other daemons or
    /// when unreadable.
    pub fn transmit_timing(&self) -> Option<TransmitTiming> {
        if self.kind != DaemonKind::Bfdd {
            return None;
        }
        let body = net::in_netns(&self.netns, || http_get(METRICS_ADDRESS, "/metrics")).ok()?;
        let late = metric(&body, "bfd_transmit_late_total", &[])? as u64;
        // The buckets this bfdd has (an older build may lack some).
        let delay_le = DELAY_BOUNDS
            .iter()
            .filter_map(|&le| {
                let n = metric(&body, "bfd_transmit_delay_seconds_bucket", &[("le", le)])?;
                Some((le.to_string(), n as u64))
            })
            .collect();
        Some(TransmitTiming { late, delay_le })
    }

    /// SIGTERM, then SIGKILL after 5 s.
    pub fn stop(&mut self) {
        let _ = self.proc.terminate(Duration::from_secs(5));
    }
}

fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

fn chown_frr(path: &Path) -> Result<()> {
    let out = Command::new("chown")
        .arg("frr:frr")
        .arg(path)
        .output()
        .context("running chown")?;
    if !out.status.success() {
        bail!(
            "chown frr:frr {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// bfdd.toml with one `[[peer]]` per session, written by the integration tests' builder.
pub fn bfdd_config(
    dir: &Path,
    sessions: usize,
    interval_ms: u32,
    multiplier: u8,
    realtime_priority: Option<u8>,
) -> String {
    let mut base = BfddConfig::new()
        .interval(interval_ms)
        .multiplier(multiplier);
    base.realtime_priority = realtime_priority;
    (0..sessions)
        .fold(base, |config, i| {
            config.peer(BfddPeer::new(&l_addr(i).to_string()).local(&d_addr(i).to_string()))
        })
        .render(dir)
}

/// Runs `make()` `samples` times; median and max wall time.
fn time_command(name: &str, samples: usize, make: impl Fn() -> Command) -> QueryTime {
    let mut times = Vec::new();
    let mut ok = true;
    let mut bytes = 0;
    for _ in 0..samples {
        let mut c = make();
        c.stdin(Stdio::null());
        let t = Instant::now();
        let r = c.output();
        times.push(t.elapsed().as_secs_f64() * 1e3);
        match r {
            Ok(o) => {
                ok &= o.status.success();
                bytes = o.stdout.len();
            }
            Err(_) => ok = false,
        }
    }
    QueryTime {
        name: name.to_string(),
        median_ms: median(&times).unwrap_or(f64::NAN),
        max_ms: times.iter().copied().fold(0.0, f64::max),
        ok,
        bytes,
        flaps: 0,
    }
}

/// A plain HTTP/1.0 GET; returns the body.
fn http_get(addr: &str, path: &str) -> Result<String> {
    let mut s = TcpStream::connect(addr).with_context(|| format!("connecting {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let (head, body) = resp
        .split_once("\r\n\r\n")
        .context("no end of HTTP headers")?;
    if !head.starts_with("HTTP/1.") || !head.contains(" 200 ") {
        bail!("HTTP answer: {}", head.lines().next().unwrap_or_default());
    }
    Ok(body.to_string())
}

/// A daemon's fixed base: its peak RSS with no sessions at all.
#[derive(Clone, Copy, Debug)]
pub struct BaselineRss {
    /// One second after start, KiB.
    pub kib: u64,
    /// Its anonymous part then (RssAnon, not a peak), KiB.
    pub anon_kib: Option<u64>,
    /// After the operator queries of a run (`query_samples` of each), KiB: answering them
    /// costs a fixed part too (the code that serves them paged in, buffers of a fixed size),
    /// which is not the sessions'.
    pub after_queries_kib: Option<u64>,
}

/// The fixed base, subtracted to get the memory per session.
pub fn baseline_rss(
    kind: DaemonKind,
    bins: &Binaries,
    query_samples: usize,
) -> Result<BaselineRss> {
    let ns = Netns::new("load-base")?;
    let mut d = Daemon::spawn(kind, &ns, 0, Duration::from_millis(300), 3, None, bins)?;
    std::thread::sleep(Duration::from_secs(1));
    d.ensure_running()?;
    let pid = d.pid()?;
    let m = crate::procstat::memory(pid)?;
    for name in d.query_names(bins) {
        // With no sessions `bfdctl peers --check` fails by design; the answer is what counts.
        let _ = d.time_query(name, bins, query_samples);
    }
    let after = d
        .ensure_running()
        .ok()
        .and_then(|()| crate::procstat::memory(pid).ok())
        .map(|m| m.hwm_kib);
    d.stop();
    Ok(BaselineRss {
        kib: m.hwm_kib,
        anon_kib: m.anon_kib,
        after_queries_kib: after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bfdd_config_has_every_peer() {
        let s = bfdd_config(Path::new("/tmp/x"), 3, 300, 3, None);
        assert_eq!(s.matches("[[peer]]").count(), 3);
        assert!(s.contains("address = \"198.19.0.3\"\nlocal-address = \"198.18.0.3\""));
        assert!(s.contains("desired-min-tx = \"300ms\""));
        assert!(s.contains("control-socket = \"/tmp/x/bfdd.sock\""));
    }
}
