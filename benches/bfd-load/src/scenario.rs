//! One measurement: a daemon with N sessions at one interval, driven through the scenario
//! bring-up -> hold (the measurement window) -> queries -> silence a subset -> detection.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bfdd_integration::{Process, TestDir};
use serde::{Deserialize, Serialize};

use crate::daemons::{BaselineRss, Binaries, Daemon, DaemonKind, QueryTime, TransmitTiming};
use crate::emulator::{Emulator, EmulatorConfig, Final, WindowStats};
use crate::floor::Generator;
use crate::procstat::{self, CpuSample};
use crate::stats::Summary;
use crate::topology::Topology;

/// What to run.
#[derive(Clone, Debug)]
pub struct RunSpec {
    /// The daemon under test.
    pub daemon: DaemonKind,
    /// Sessions.
    pub sessions: usize,
    /// Desired Min TX = Required Min RX on both sides.
    pub interval: Duration,
    /// Detect Mult on both sides.
    pub multiplier: u8,
    /// The measurement window.
    pub hold: Duration,
    /// Wait between all Up and the window (Poll sequences to the fast rate finish).
    pub settle: Duration,
    /// Share of sessions silenced at the end.
    pub silence_fraction: f64,
    /// How long all sessions may take to come Up.
    pub up_timeout: Duration,
    /// Emulator wake-up granularity.
    pub tick: Duration,
    /// Samples per timed query.
    pub query_samples: usize,
    /// bfdd's transmit timing counted over the window rather than since its start.
    pub timing_in_window: bool,
    /// bfdd's `[daemon] realtime-priority`.
    pub bfdd_realtime_priority: Option<u8>,
}

/// Transmit-interval accuracy of the daemon during the window.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct TxAccuracy {
    /// Gaps measured (consecutive periodic packets of one session).
    pub gaps: u64,
    /// The negotiated interval the gaps are divided by, ms.
    pub interval_ms: f64,
    /// 1st percentile of gap / interval.
    pub ratio_p1: f64,
    /// Median of gap / interval (RFC 5880 §6.8.7 jitter: uniform in 0.75-1.0, median 0.875).
    pub ratio_p50: f64,
    /// 99th percentile of gap / interval.
    pub ratio_p99: f64,
    /// Largest gap / interval.
    pub ratio_max: f64,
    /// Share of gaps outside [0.75, 1.0].
    pub outside_fraction: f64,
    /// How far gaps fall outside the 75-100% window, ms (0 inside it): p50 / p99 / max.
    pub error_ms: Summary,
}

/// Detection of the silenced sessions.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Detection {
    /// Sessions silenced.
    pub silenced: usize,
    /// Of those, declared Down by the daemon.
    pub detected: usize,
    /// Our last packet -> the daemon's first Down packet, ms.
    pub latency_ms: Summary,
    /// Negotiated detection time (median over the silenced sessions), ms.
    pub detect_time_ms: f64,
    /// Latency minus detection time, ms.
    pub overshoot_ms: Summary,
    /// Per session: [session, our last packet, the daemon's Down packet] (realtime seconds),
    /// to line up with the daemon's log.
    pub samples: Vec<(usize, f64, f64)>,
    /// Of the detections, those timed from the kernel's transmit stamp of our last packet
    /// (the others from just before the `sendmmsg` that sent it).
    pub kernel_stamped: usize,
    /// Transmit stamps that matched no packet or fell outside the call that sent it: non-zero
    /// means the stamps' numbering went out of step with the packets'.
    pub kernel_stamps_rejected: u64,
}

/// The figures of one run.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RunResult {
    /// Daemon (`bfdd`, `frr`, `bird`).
    pub daemon: String,
    /// Its version.
    pub version: String,
    /// Sessions.
    pub sessions: usize,
    /// Interval, ms.
    pub interval_ms: f64,
    /// Detect Mult.
    pub multiplier: u8,
    /// bfdd's `[daemon] realtime-priority`, if set (and checked in effect).
    pub realtime_priority: Option<u8>,
    /// The run went through every step.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
    /// bfdd: spawn -> control socket answers ready, ms.
    pub ready_ms: Option<f64>,
    /// Spawn -> first packet from the daemon, ms.
    pub first_packet_ms: Option<f64>,
    /// Spawn -> every session Up in the daemon's packets, ms.
    pub all_up_ms: Option<f64>,
    /// Window length, s.
    pub window_s: f64,
    /// Daemon CPU (utime + stime) in the window, s.
    pub cpu_s: f64,
    /// Daemon on-CPU time from schedstat (ns resolution) in the window, s.
    pub cpu_sched_s: Option<f64>,
    /// Daemon CPU, % of one core (from `cpu_sched_s` when available, else `cpu_s`).
    pub cpu_pct: f64,
    /// The harness's own CPU (whole process), % of one core.
    pub harness_cpu_pct: f64,
    /// Daemon wake-ups (threads put on a CPU, from schedstat) per second in the window.
    pub wakeups_per_s: Option<f64>,
    /// bfdd only: periodic packets it counted as sent past the window
    /// (`bfd_transmit_late_total`) from its start to the end of the window, to set beside the
    /// gaps seen on the wire.
    pub daemon_late: Option<u64>,
    /// bfdd only: the same count with the delays of its periodic packets, from its start to
    /// the end of the window, or over the window with `--timing-in-window` (off by default: a
    /// scrape before the window raises the peak RSS measured).
    #[serde(default)]
    pub daemon_timing: Option<TransmitTiming>,
    /// Whether `daemon_timing` covers the window only.
    #[serde(default)]
    pub daemon_timing_in_window: bool,
    /// Packets the daemon handled in the window (received from + sent to the emulator).
    pub packets: u64,
    /// Of those, sent by the daemon.
    pub packets_from_daemon: u64,
    /// Packets per second, both directions.
    pub pps: f64,
    /// Daemon CPU per packet handled, µs.
    pub cpu_us_per_packet: f64,
    /// Peak RSS (VmHWM) at the end of the window, KiB.
    pub rss_peak_kib: u64,
    /// RSS at the end of the window, KiB.
    pub rss_kib: u64,
    /// Peak RSS with no sessions, KiB.
    pub base_rss_kib: Option<u64>,
    /// The same after the operator queries, KiB; absent in runs before it was recorded.
    #[serde(default)]
    pub base_rss_after_queries_kib: Option<u64>,
    /// Anonymous resident memory (RssAnon, now, not a peak) of the daemon with no sessions
    /// and at the end of the window, KiB: the per-session cost without the binary's pages,
    /// which VmHWM counts and which vary by 0.5 MB between builds of the same code.
    #[serde(default)]
    pub base_rss_anon_kib: Option<u64>,
    /// See `base_rss_anon_kib`.
    #[serde(default)]
    pub rss_anon_kib: Option<u64>,
    /// (peak RSS - base) / sessions, bytes.
    pub rss_per_session_bytes: Option<f64>,
    /// Peak RSS (VmHWM) after the operator queries (for bfdd a `/metrics` scrape and
    /// `bfdctl peers`, which a running daemon serves all the time), KiB; absent in runs
    /// before it was recorded.
    #[serde(default)]
    pub rss_peak_after_queries_kib: Option<u64>,
    /// Flaps of sessions never silenced, whole run after first Up: a session leaving Up, on
    /// either side, counted once until both sides are Up again.
    pub flaps: u64,
    /// Of those, during the window.
    pub flaps_in_window: u64,
    /// Of those, while the operator queries ran (see `queries[].flaps`).
    pub flaps_during_queries: u64,
    /// Of those, declared first by the daemon (in its packets).
    pub flaps_daemon: u64,
    /// Of those, declared first by the emulated peers (the daemon went quiet).
    pub flaps_local: u64,
    /// The first flaps.
    pub flap_log: Vec<String>,
    /// Transmit interval accuracy.
    pub tx: TxAccuracy,
    /// Detection latency.
    pub detection: Detection,
    /// Operator queries.
    pub queries: Vec<QueryTime>,
    /// Datagrams matching no session / rejected / not sent by the harness.
    pub rx_unmatched: u64,
    /// See `rx_unmatched`.
    pub rx_rejected: u64,
    /// See `rx_unmatched`.
    pub tx_dropped: u64,
    /// Datagrams the kernel dropped on the harness's side for want of receive buffer (UDP
    /// RcvbufErrors of its namespace over the run): lost there, they would look like the
    /// daemon's late packets or flaps.
    #[serde(default)]
    pub harness_rx_drops: Option<u64>,
    /// The same on the daemon's side (UDP RcvbufErrors of its namespace over the whole run,
    /// bring-up and queries included): packets the daemon never read, which can pass for the
    /// harness's silence; absent in runs before it was recorded.
    #[serde(default)]
    pub daemon_rx_drops: Option<u64>,
    /// Of those, in the window; absent in runs before it was recorded.
    #[serde(default)]
    pub daemon_rx_drops_in_window: Option<u64>,
    /// Of those, while the operator queries ran; absent in runs before it was recorded.
    #[serde(default)]
    pub daemon_rx_drops_during_queries: Option<u64>,
}

/// The raw echo floor at one size.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FloorResult {
    /// Sessions emulated (flows).
    pub sessions: usize,
    /// Interval, ms.
    pub interval_ms: f64,
    /// Window, s.
    pub window_s: f64,
    /// Datagrams the echo handled (received + sent) in the window.
    pub packets: u64,
    /// Packets per second.
    pub pps: f64,
    /// Echo CPU, s.
    pub cpu_s: f64,
    /// Echo CPU, % of one core.
    pub cpu_pct: f64,
    /// Echo CPU per packet, µs.
    pub cpu_us_per_packet: f64,
    /// Share of datagrams not echoed back.
    pub loss: f64,
    /// The generator's CPU (whole harness), % of one core.
    pub harness_cpu_pct: f64,
    /// Echo wake-ups per second (see `RunResult::wakeups_per_s`).
    pub wakeups_per_s: Option<f64>,
}

/// Sleeps `d` in slices, failing early on Ctrl-C or when the daemon dies.
fn hold(d: Duration, stop: &AtomicBool, mut alive: impl FnMut() -> Result<()>) -> Result<()> {
    let end = Instant::now() + d;
    loop {
        if stop.load(Ordering::Relaxed) {
            bail!("interrupted");
        }
        alive()?;
        let now = Instant::now();
        if now >= end {
            return Ok(());
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}

/// Runs the scenario once. Errors after start-up are folded into the result (`ok: false`)
/// with whatever was measured.
pub fn run(
    spec: &RunSpec,
    bins: &Binaries,
    version: &str,
    base: Option<BaselineRss>,
    stop: &AtomicBool,
) -> RunResult {
    let mut r = RunResult {
        daemon: spec.daemon.name().into(),
        version: version.into(),
        sessions: spec.sessions,
        interval_ms: spec.interval.as_secs_f64() * 1e3,
        multiplier: spec.multiplier,
        base_rss_kib: base.map(|b| b.kib),
        base_rss_after_queries_kib: base.and_then(|b| b.after_queries_kib),
        base_rss_anon_kib: base.and_then(|b| b.anon_kib),
        ..RunResult::default()
    };
    match run_inner(spec, bins, stop, &mut r) {
        Ok(()) => r.ok = true,
        Err(e) => r.error = Some(format!("{e:#}")),
    }
    r
}

fn run_inner(spec: &RunSpec, bins: &Binaries, stop: &AtomicBool, r: &mut RunResult) -> Result<()> {
    let n = spec.sessions;
    // Declared first, dropped last: the namespaces outlive what runs in them.
    let topo = Topology::new(n).context("creating the namespaces")?;
    let rcvbuf_errors0 = udp_rcvbuf_errors(&topo.l);
    let daemon_rcvbuf_errors0 = udp_rcvbuf_errors(&topo.d);
    let mut emu = Emulator::start(EmulatorConfig {
        sessions: n,
        interval: spec.interval,
        multiplier: spec.multiplier,
        netns: topo.l.name().to_string(),
        tick: spec.tick,
    })?;
    let realtime_priority = match spec.daemon {
        DaemonKind::Bfdd => spec.bfdd_realtime_priority,
        _ => None,
    };
    let mut daemon = Daemon::spawn(
        spec.daemon,
        &topo.d,
        n,
        spec.interval,
        spec.multiplier,
        realtime_priority,
        bins,
    )?;
    let pid = daemon.pid()?;
    let (t0, spawned) = (daemon.spawned_rt, daemon.spawned);

    if spec.daemon == DaemonKind::Bfdd {
        let deadline = spawned + Duration::from_secs(30);
        while !daemon.bfdd_ready() {
            daemon.ensure_running()?;
            if Instant::now() > deadline || stop.load(Ordering::Relaxed) {
                bail!("bfdd did not answer ready within 30 s");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        r.ready_ms = Some(spawned.elapsed().as_secs_f64() * 1e3);
    }

    // Bring-up.
    let deadline = spawned + spec.up_timeout;
    let snap = loop {
        let s = emu.snapshot()?;
        if s.all_up_at.is_some() {
            break s;
        }
        if stop.load(Ordering::Relaxed) {
            bail!("interrupted");
        }
        daemon.ensure_running()?;
        if Instant::now() > deadline {
            r.first_packet_ms = s.first_packet_at.map(|t| (t - t0) * 1e3);
            bail!(
                "only {} of {n} sessions Up after {:?} ({} emulated peers Up, {} packets received)",
                s.daemon_up,
                spec.up_timeout,
                s.local_up,
                s.rx
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    r.first_packet_ms = snap.first_packet_at.map(|t| (t - t0) * 1e3);
    r.all_up_ms = snap.all_up_at.map(|t| (t - t0) * 1e3);
    hold(spec.settle, stop, || daemon.ensure_running())?;
    if let Some(priority) = realtime_priority {
        // bfdd runs its sessions on its main thread.
        let got = procstat::scheduling(pid, pid)?;
        if got != (1, u64::from(priority)) {
            bail!("bfdd's session thread is not on SCHED_FIFO {priority}: (policy, priority) = {got:?}");
        }
        r.realtime_priority = Some(priority);
    }

    // The window. The scrape for the transmit timing comes first, so its CPU is not billed
    // to the window.
    let timing0 = if spec.timing_in_window {
        daemon.transmit_timing()
    } else {
        None
    };
    let cpu0 = procstat::cpu(Some(pid))?;
    let self0 = procstat::cpu(None)?;
    let window_drops0 = udp_rcvbuf_errors(&topo.d);
    emu.begin_window()?;
    hold(spec.hold, stop, || daemon.ensure_running())?;
    let w = emu.end_window()?;
    r.daemon_rx_drops_in_window = difference(window_drops0, udp_rcvbuf_errors(&topo.d));
    let cpu1 = procstat::cpu(Some(pid))?;
    let self1 = procstat::cpu(None)?;
    let mem = procstat::memory(pid)?;
    // After the memory figures: a scrape renders every session's series, and its buffer
    // would raise the peak RSS measured.
    let timing = daemon.transmit_timing();
    r.daemon_late = timing.as_ref().map(|t| t.late);
    r.daemon_timing_in_window = timing0.is_some() && timing.is_some();
    r.daemon_timing = match (timing0, timing) {
        (Some(t0), Some(t1)) => Some(t1.since(&t0)),
        (_, t) => t,
    };
    window_figures(r, &w, (&cpu0, &cpu1), (&self0, &self1));
    r.rss_peak_kib = mem.hwm_kib;
    r.rss_kib = mem.rss_kib;
    r.rss_anon_kib = mem.anon_kib;
    r.rss_per_session_bytes = r
        .base_rss_kib
        .map(|b| (mem.hwm_kib.saturating_sub(b) as f64 * 1024.0) / n as f64);

    // Operator queries, all sessions Up; flaps they cause are counted per query.
    let query_drops0 = udp_rcvbuf_errors(&topo.d);
    for name in daemon.query_names(bins) {
        let before = emu.snapshot()?;
        let mut q = daemon.time_query(name, bins, spec.query_samples);
        let after = emu.snapshot()?;
        q.flaps = flaps(&after) - flaps(&before);
        r.queries.push(q);
        daemon.ensure_running()?;
    }
    r.rss_peak_after_queries_kib = procstat::memory(pid).ok().map(|m| m.hwm_kib);
    r.daemon_rx_drops_during_queries = difference(query_drops0, udp_rcvbuf_errors(&topo.d));
    // Sessions a query knocked down come back before the detection test.
    let deadline = Instant::now() + spec.up_timeout;
    loop {
        let s = emu.snapshot()?;
        if s.daemon_up == n {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "after the queries only {} of {n} sessions came back Up",
                s.daemon_up
            );
        }
        hold(Duration::from_millis(20), stop, || daemon.ensure_running())?;
    }

    // Silence a subset, spread over the address range.
    let k = ((n as f64 * spec.silence_fraction).ceil() as usize).clamp(1, n);
    let chosen: Vec<usize> = (0..k).map(|j| j * n / k).collect();
    // At the configured interval each sends a kernel-stamped packet meanwhile, so its last one
    // before going silent is stamped (`kernel_stamped` in the results says how many were).
    emu.watch(chosen.clone())?;
    hold(spec.interval * 2 + Duration::from_millis(50), stop, || {
        daemon.ensure_running()
    })?;
    emu.silence(chosen)?;
    let slowest = spec.interval.max(Duration::from_secs(1)) * u32::from(spec.multiplier);
    let deadline = Instant::now() + slowest * 2 + Duration::from_secs(3);
    loop {
        let s = emu.snapshot()?;
        if s.detected >= k || Instant::now() > deadline {
            break;
        }
        hold(Duration::from_millis(20), stop, || daemon.ensure_running())?;
    }
    // A little longer: flaps of the sessions left running still count.
    hold(spec.interval * 2, stop, || daemon.ensure_running())?;
    let fin = emu.stop()?;
    daemon.stop();
    final_figures(r, &fin);
    r.daemon_rx_drops = difference(daemon_rcvbuf_errors0, udp_rcvbuf_errors(&topo.d));
    r.harness_rx_drops = difference(rcvbuf_errors0, udp_rcvbuf_errors(&topo.l));
    r.flaps_during_queries = r.queries.iter().map(|q| q.flaps).sum();
    if r.detection.detected < r.detection.silenced {
        bail!(
            "{} of {} silenced sessions never declared Down",
            r.detection.silenced - r.detection.detected,
            r.detection.silenced
        );
    }
    Ok(())
}

fn flaps(s: &crate::emulator::Snapshot) -> u64 {
    s.flaps_daemon + s.flaps_local
}

fn window_figures(
    r: &mut RunResult,
    w: &WindowStats,
    cpu: (&CpuSample, &CpuSample),
    own: (&CpuSample, &CpuSample),
) {
    let secs = w.seconds.max(1e-9);
    let (stat, sched) = cpu.1.since(cpu.0);
    let (own_stat, _) = own.1.since(own.0);
    r.window_s = w.seconds;
    r.cpu_s = stat;
    r.cpu_sched_s = sched;
    // The nanosecond on-CPU time where the kernel offers it; utime + stime agrees with it to
    // its 10 ms tick but cannot resolve the small sizes.
    let used = sched.unwrap_or(stat);
    r.cpu_pct = used / secs * 100.0;
    r.harness_cpu_pct = own_stat / secs * 100.0;
    r.wakeups_per_s = cpu.1.runs_since(cpu.0).map(|n| n as f64 / secs);
    r.packets = w.rx + w.tx;
    r.packets_from_daemon = w.rx;
    r.pps = r.packets as f64 / secs;
    r.cpu_us_per_packet = if r.packets > 0 {
        used / r.packets as f64 * 1e6
    } else {
        0.0
    };
    r.flaps_in_window = w.flaps;
    let interval_ms = w.interval_s * 1e3;
    let count = w.ratio.count();
    r.tx = TxAccuracy {
        gaps: count,
        interval_ms,
        ratio_p1: w.ratio.quantile(0.01).unwrap_or(0.0),
        ratio_p50: w.ratio.quantile(0.5).unwrap_or(0.0),
        ratio_p99: w.ratio.quantile(0.99).unwrap_or(0.0),
        ratio_max: w.ratio.quantile(1.0).unwrap_or(0.0),
        outside_fraction: if count > 0 {
            // Half a bin of tolerance on each edge: the histogram's resolution.
            (w.ratio.count_below(0.7495) + w.ratio.count_at_least(1.0005)) as f64 / count as f64
        } else {
            0.0
        },
        error_ms: Summary::from_histogram(&w.error, 1.0),
    };
}

fn final_figures(r: &mut RunResult, fin: &Final) {
    let s = &fin.snapshot;
    r.flaps_daemon = s.flaps_daemon;
    r.flaps_local = s.flaps_local;
    r.flaps = s.flaps_daemon + s.flaps_local;
    r.flap_log = fin
        .flap_log
        .iter()
        .map(|(t, i, what)| format!("{t:.3} session {i}: {what}"))
        .collect();
    r.rx_unmatched = s.rx_unmatched;
    r.rx_rejected = s.rx_rejected;
    r.tx_dropped = s.tx_dropped;
    let overshoot: Vec<f64> = fin
        .detect_latency_ms
        .iter()
        .zip(&fin.detect_time_ms)
        .map(|(l, d)| l - d)
        .collect();
    r.detection = Detection {
        silenced: s.silenced,
        detected: fin.detect_latency_ms.len(),
        latency_ms: Summary::exact(&fin.detect_latency_ms),
        detect_time_ms: Summary::exact(&fin.detect_time_ms).p50,
        overshoot_ms: Summary::exact(&overshoot),
        samples: fin.detections.clone(),
        kernel_stamped: fin.kernel_stamped,
        kernel_stamps_rejected: fin.kernel_stamps_rejected,
    };
}

/// The raw echo floor for `sessions` flows at `interval`.
pub fn run_floor(
    sessions: usize,
    interval: Duration,
    settle: Duration,
    window: Duration,
    tick: Duration,
    stop: &AtomicBool,
) -> Result<FloorResult> {
    let topo = Topology::new(sessions)?;
    let dir = TestDir::new("load-echo")?;
    let exe = std::env::current_exe().context("locating bfd-load")?;
    let exe = exe.display().to_string();
    let mut echo = Process::spawn(&topo.d, "echo", &[&exe, "echo-server"], dir.path())?;
    let pid = echo.pid().context("echo pid")?;
    std::thread::sleep(Duration::from_millis(200));
    echo.ensure_running()?;
    let generator = Generator::start(topo.l.name(), sessions, interval, tick)?;
    hold(settle, stop, || echo.ensure_running())?;
    let c0 = procstat::cpu(Some(pid))?;
    let s0 = procstat::cpu(None)?;
    let (tx0, rx0) = generator.counts();
    let t = Instant::now();
    hold(window, stop, || echo.ensure_running())?;
    let (tx1, rx1) = generator.counts();
    let secs = t.elapsed().as_secs_f64();
    let c1 = procstat::cpu(Some(pid))?;
    let s1 = procstat::cpu(None)?;
    generator.stop()?;
    let _ = echo.terminate(Duration::from_secs(2));
    let (stat, sched) = c1.since(&c0);
    let cpu = sched.unwrap_or(stat);
    let (own, _) = s1.since(&s0);
    let sent = tx1 - tx0;
    let got = rx1 - rx0;
    let packets = sent + got;
    Ok(FloorResult {
        sessions,
        interval_ms: interval.as_secs_f64() * 1e3,
        window_s: secs,
        packets,
        pps: packets as f64 / secs,
        cpu_s: cpu,
        cpu_pct: cpu / secs * 100.0,
        cpu_us_per_packet: if packets > 0 {
            cpu / packets as f64 * 1e6
        } else {
            0.0
        },
        loss: if sent > 0 {
            1.0 - got as f64 / sent as f64
        } else {
            0.0
        },
        harness_cpu_pct: own / secs * 100.0,
        wakeups_per_s: c1.runs_since(&c0).map(|n| n as f64 / secs),
    })
}

/// A counter's growth between two readings, where both were had.
fn difference(before: Option<u64>, after: Option<u64>) -> Option<u64> {
    Some(after?.saturating_sub(before?))
}

/// UDP RcvbufErrors of a namespace (`/proc/net/snmp`), `None` if unreadable.
fn udp_rcvbuf_errors(ns: &bfdd_integration::Netns) -> Option<u64> {
    let snmp = ns.exec(&["cat", "/proc/net/snmp"]).ok()?;
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp: "));
    let (names, values) = (udp.next()?, udp.next()?);
    let at = names.split_whitespace().position(|n| n == "RcvbufErrors")?;
    values.split_whitespace().nth(at)?.parse().ok()
}
