//! `bfd-load`: the load harness of the scale issue.
//!
//! Emulates N BFD peers from one process (one thread, batched `recvmmsg`/`sendmmsg`, every
//! peer a real RFC 5880 session from `bfd-core` with its own address pair) against a daemon in
//! another network namespace: this workspace's bfdd, FRR's bfdd or BIRD 2, with the same
//! scenario. Brings the N sessions Up, holds them for a measured window, then silences 10% and
//! records when the daemon declares each Down. See docs/performance.md for the figures and
//! how to reproduce them.
//!
//! Needs root (namespaces, raw socket). Everything runs inside two namespaces it creates
//! (`bfdit-<pid>-...`, deleted on exit, also on Ctrl-C), with addresses from 198.18.0.0/15.

mod daemons;
mod emulator;
mod floor;
mod net;
mod procstat;
mod report;
mod scenario;
mod stats;
mod topology;
mod tx_stamps;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::daemons::{BaselineRss, DaemonKind};
use crate::report::{Host, Results};
use crate::scenario::RunSpec;

#[derive(Debug, Parser)]
#[command(
    name = "bfd-load",
    about = "Load harness: N emulated BFD peers against bfdd, FRR bfdd and BIRD 2",
    args_conflicts_with_subcommands = true,
    max_term_width = 100
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Render results files into the markdown tables (and update a file) and the plot.
    Report(ReportArgs),
    /// Internal: the batched UDP echo of the floor measurement (runs inside the namespace).
    #[command(hide = true)]
    EchoServer {
        /// UDP port.
        #[arg(long, default_value_t = 3784)]
        port: u16,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Daemons under test, in the order run for each size.
    #[arg(long, value_delimiter = ',', default_value = "bfdd")]
    daemon: Vec<DaemonKind>,
    /// Numbers of sessions.
    #[arg(long, value_delimiter = ',', default_value = "100")]
    sessions: Vec<usize>,
    /// Desired Min TX = Required Min RX on both sides: "300ms", "50ms", "1s".
    #[arg(long, value_delimiter = ',', default_value = "300ms", value_parser = parse_duration)]
    interval: Vec<Duration>,
    /// Detect Mult on both sides.
    #[arg(long, default_value_t = 3)]
    multiplier: u8,
    /// The measurement window, with all sessions Up.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    hold: Duration,
    /// Wait between all Up and the window.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    settle: Duration,
    /// Share of sessions silenced at the end, for detection latency.
    #[arg(long, default_value_t = 0.1)]
    silence_fraction: f64,
    /// Give up when not all sessions are Up this long after the daemon's start.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    up_timeout: Duration,
    /// Largest session count run against FRR (it loads its configuration in O(N^2)).
    #[arg(long, default_value_t = 1000)]
    max_frr: usize,
    /// Largest session count run against BIRD.
    #[arg(long, default_value_t = 10_000)]
    max_bird: usize,
    /// Also measure the floor (batched UDP echo) at every size and interval.
    #[arg(long)]
    floor: bool,
    /// Window of the floor measurement (default: --hold).
    #[arg(long, value_parser = parse_duration)]
    floor_hold: Option<Duration>,
    /// Runs per (daemon, sessions, interval); tables show the median-CPU run.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Emulator wake-up granularity (work due meanwhile is batched).
    #[arg(long, default_value = "1ms", value_parser = parse_duration)]
    tick: Duration,
    /// Samples of each timed query (`bfdctl peers`, `/metrics`, vtysh, birdc).
    #[arg(long, default_value_t = 5)]
    query_samples: usize,
    /// Skip the no-session baseline (RSS per session is then not computed).
    #[arg(long)]
    no_baseline: bool,
    /// Count bfdd's packet delays in the window only: scrapes its `/metrics` before the
    /// window too, whose buffer then raises the peak RSS measured.
    #[arg(long)]
    timing_in_window: bool,
    /// bfdd's `[daemon] realtime-priority` (SCHED_FIFO for its session thread).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=99))]
    bfdd_realtime_priority: Option<u8>,
    /// bfdd binary (default: BFDD_BIN, else `cargo build --release -p bfdd`).
    #[arg(long)]
    bfdd_bin: Option<PathBuf>,
    /// bfdctl binary (default: BFDCTL_BIN, else `cargo build --release -p bfdctl`).
    #[arg(long)]
    bfdctl_bin: Option<PathBuf>,
    /// Free text stored in the results file (e.g. which bfdd build this is).
    #[arg(long, default_value = "")]
    note: String,
    /// Results file (JSON), rewritten after every run
    /// (default: target/bfd-load/results-<unix time>.json).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ReportArgs {
    /// Results files to merge.
    #[arg(required = true)]
    results: Vec<PathBuf>,
    /// Replace the generated block of this markdown file (e.g. docs/performance.md).
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Write the plot here (PNG).
    #[arg(long)]
    plot: Option<PathBuf>,
}

/// "300ms", "1.5s", "2m", "500us".
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("{s:?}: add a unit (ms, s, m)"))?;
    let (num, unit) = s.split_at(split);
    let v: f64 = num.parse().map_err(|_| format!("{s:?}: bad number"))?;
    let secs = match unit {
        "us" | "µs" => v * 1e-6,
        "ms" => v * 1e-3,
        "s" => v,
        "m" | "min" => v * 60.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use us, ms, s, m)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Cmd::EchoServer { port }) => floor::echo_server(port).map(|()| true),
        Some(Cmd::Report(a)) => report_cmd(&a).map(|()| true),
        None => run_cmd(&cli.run),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("bfd-load: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn report_cmd(a: &ReportArgs) -> Result<()> {
    let all = a
        .results
        .iter()
        .map(|p| Results::load(p))
        .collect::<Result<Vec<_>>>()?;
    let merged = Results::merge(all);
    let md = report::markdown(&merged);
    print!("{md}");
    if let Some(p) = &a.markdown {
        report::update_markdown(p, &md)?;
        eprintln!("updated {}", p.display());
    }
    if let Some(p) = &a.plot {
        report::plot(&merged, p)?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

/// Runs the matrix; `Ok(false)` when some run failed.
fn run_cmd(a: &RunArgs) -> Result<bool> {
    if !bfdd_integration::is_root() {
        bail!("needs root: it creates network namespaces and a raw socket");
    }
    if a.daemon.is_empty() || a.sessions.is_empty() || a.interval.is_empty() {
        bail!("--daemon, --sessions and --interval need at least one value each");
    }
    if !(0.0..=1.0).contains(&a.silence_fraction) {
        bail!("--silence-fraction must be within 0..=1");
    }
    for &n in &a.sessions {
        if n == 0 || n > topology::MAX_SESSIONS {
            bail!(
                "--sessions values must be within 1..={}",
                topology::MAX_SESSIONS
            );
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    match net::raise_nofile() {
        Ok(n) if n < 2 * a.sessions.iter().copied().max().unwrap_or(0) as u64 + 1024 => {
            eprintln!("warning: RLIMIT_NOFILE hard limit {n} may be too low for the daemons");
        }
        Ok(_) => {}
        Err(e) => eprintln!("warning: cannot raise RLIMIT_NOFILE: {e}"),
    }
    for d in &a.daemon {
        daemons::available(*d)?;
    }
    let bins = daemons::resolve_binaries(a.bfdd_bin.clone(), a.bfdctl_bin.clone())?;
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let out = a.out.clone().unwrap_or_else(|| {
        bfdd_integration::workspace_root()
            .join("target/bfd-load")
            .join(format!("results-{started}.json"))
    });
    let mut results = Results {
        started_unix: started,
        host: Host::detect(),
        command: std::env::args().collect(),
        git: git_describe(),
        note: a.note.clone(),
        ..Results::default()
    };
    for d in &a.daemon {
        results
            .versions
            .insert(d.name().into(), daemons::version(*d, &bins));
    }
    eprintln!(
        "bfd-load: {:?} x sessions {:?} x intervals {:?}, hold {:?}; results -> {}",
        a.daemon.iter().map(|d| d.name()).collect::<Vec<_>>(),
        a.sessions,
        a.interval,
        a.hold,
        out.display()
    );
    if !a.no_baseline {
        for d in &a.daemon {
            match daemons::baseline_rss(*d, &bins, a.query_samples) {
                Ok(base) => {
                    eprintln!(
                        "baseline {}: peak RSS {} KiB with no sessions, {} KiB after the queries",
                        d.name(),
                        base.kib,
                        base.after_queries_kib.map_or("-".into(), |k| k.to_string())
                    );
                    results.baselines_kib.insert(d.name().into(), base.kib);
                    if let Some(k) = base.anon_kib {
                        results.baselines_anon_kib.insert(d.name().into(), k);
                    }
                    if let Some(k) = base.after_queries_kib {
                        results
                            .baselines_after_queries_kib
                            .insert(d.name().into(), k);
                    }
                }
                Err(e) => eprintln!("warning: baseline of {} failed: {e:#}", d.name()),
            }
        }
    }
    let mut all_ok = true;
    for &interval in &a.interval {
        for &n in &a.sessions {
            if stop.load(Ordering::Relaxed) {
                bail!("interrupted");
            }
            if a.floor {
                let window = a.floor_hold.unwrap_or(a.hold);
                match scenario::run_floor(n, interval, a.settle, window, a.tick, &stop) {
                    Ok(f) => {
                        eprintln!(
                            "floor {n} x {interval:?}: {:.0} pkt/s, echo {:.2}% CPU, {:.2} µs/pkt, harness {:.1}%",
                            f.pps, f.cpu_pct, f.cpu_us_per_packet, f.harness_cpu_pct
                        );
                        results.floors.push(f);
                    }
                    Err(e) => eprintln!("floor {n} x {interval:?} failed: {e:#}"),
                }
                results.save(&out)?;
            }
            for &d in &a.daemon {
                let limit = match d {
                    DaemonKind::Frr => a.max_frr,
                    DaemonKind::Bird => a.max_bird,
                    DaemonKind::Bfdd => usize::MAX,
                };
                if n > limit {
                    eprintln!("skip {} at {n} sessions (limit {limit})", d.name());
                    continue;
                }
                for rep in 0..a.repeat.max(1) {
                    let spec = RunSpec {
                        daemon: d,
                        sessions: n,
                        interval,
                        multiplier: a.multiplier,
                        hold: a.hold,
                        settle: a.settle,
                        silence_fraction: a.silence_fraction,
                        up_timeout: a.up_timeout,
                        tick: a.tick,
                        query_samples: a.query_samples,
                        timing_in_window: a.timing_in_window,
                        bfdd_realtime_priority: a.bfdd_realtime_priority,
                    };
                    eprintln!(
                        "run {} x {n} sessions x {interval:?} (#{})",
                        d.name(),
                        rep + 1
                    );
                    let version = results.versions.get(d.name()).cloned().unwrap_or_default();
                    let base = results.baselines_kib.get(d.name()).map(|&kib| BaselineRss {
                        kib,
                        anon_kib: results.baselines_anon_kib.get(d.name()).copied(),
                        after_queries_kib: results
                            .baselines_after_queries_kib
                            .get(d.name())
                            .copied(),
                    });
                    let r = scenario::run(&spec, &bins, &version, base, &stop);
                    print_summary(&r);
                    all_ok &= r.ok;
                    results.runs.push(r);
                    results.save(&out)?;
                    if stop.load(Ordering::Relaxed) {
                        bail!("interrupted; partial results in {}", out.display());
                    }
                }
            }
        }
    }
    println!("{}", report::markdown(&results));
    eprintln!("results: {}", out.display());
    Ok(all_ok)
}

fn git_describe() -> String {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .current_dir(bfdd_integration::workspace_root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn print_summary(r: &scenario::RunResult) {
    if let Some(e) = &r.error {
        eprintln!("  FAILED: {e}");
    }
    eprintln!(
        "  {} {} x {} ms: all Up {} ms, CPU {:.3}% ({:.2} µs/pkt, {:.0} pkt/s), RSS {} KiB, flaps {}, \
         tx ratio p50 {:.3} outside {:.2}%, detect p50 {:.0} ms / max {:.0} ms (of {:.0}; {} of {} \
         from kernel stamps, {} stamps rejected), harness {:.1}%, harness rx drops {}, daemon rx drops {}",
        r.daemon,
        r.sessions,
        r.interval_ms,
        r.all_up_ms.map_or("-".into(), |v| format!("{v:.0}")),
        r.cpu_pct,
        r.cpu_us_per_packet,
        r.pps,
        r.rss_peak_kib,
        r.flaps,
        r.tx.ratio_p50,
        r.tx.outside_fraction * 100.0,
        r.detection.latency_ms.p50,
        r.detection.latency_ms.max,
        r.detection.detect_time_ms,
        r.detection.kernel_stamped,
        r.detection.detected,
        r.detection.kernel_stamps_rejected,
        r.harness_cpu_pct,
        r.harness_rx_drops.map_or("-".into(), |n| n.to_string()),
        match r.daemon_rx_drops {
            None => "-".into(),
            Some(n) => format!(
                "{n} (window {}, queries {})",
                r.daemon_rx_drops_in_window.map_or("-".into(), |n| n.to_string()),
                r.daemon_rx_drops_during_queries.map_or("-".into(), |n| n.to_string())
            ),
        },
    );
    for q in &r.queries {
        eprintln!(
            "  {}: median {:.2} ms, max {:.2} ms, {} bytes{}",
            q.name,
            q.median_ms,
            q.max_ms,
            q.bytes,
            if q.ok { "" } else { " (FAILED)" }
        );
    }
    for f in &r.flap_log {
        eprintln!("  flap: {f}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("300").is_err());
        assert!(parse_duration("3x").is_err());
    }

    #[test]
    fn cli_parses_the_smoke_command() {
        let cli = Cli::try_parse_from([
            "bfd-load",
            "--daemon",
            "bfdd,frr,bird",
            "--sessions",
            "10,100",
            "--interval",
            "300ms,50ms",
            "--hold",
            "10s",
        ])
        .expect("parses");
        assert!(cli.command.is_none());
        assert_eq!(cli.run.daemon.len(), 3);
        assert_eq!(cli.run.sessions, vec![10, 100]);
        assert_eq!(cli.run.interval[1], Duration::from_millis(50));
    }
}
