//! Smoke run of the load harness (`benches/bfd-load`), so it never rots: bfdd with 100 emulated
//! peers at 300 ms, held 10 s. Asserts that the scenario completes (all Up, no flap, every
//! silenced session declared Down) and that the results file is sane. No performance
//! thresholds: figures come from the benchmark runs in docs/performance.md.

use std::path::PathBuf;
use std::process::Command;

use bfdd_integration::{
    bfdctl_bin, bfdd_bin, cargo_build, require_root_or_skip, require_tools, TestDir,
};
use serde_json::Value;

/// Builds the harness (`cargo build -p bfd-load`, a no-op when up to date); returns its path.
fn bfd_load_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BFD_LOAD_BIN") {
        return PathBuf::from(p);
    }
    cargo_build("bfd-load").unwrap_or_else(|e| panic!("cargo build -p bfd-load failed:\n{e}"))
}

#[test]
fn load_harness_smoke_100_sessions() {
    if !require_root_or_skip() || !require_tools(&["ip", "kill"]) {
        return;
    }
    let bin = bfd_load_bin();
    let bfdd = bfdd_bin().expect("bfdd builds");
    let dir = TestDir::new("load-smoke").expect("temp dir");
    let results = dir.join("results.json");
    let mut cmd = Command::new(&bin);
    cmd.args([
        "--daemon",
        "bfdd",
        "--sessions",
        "100",
        "--interval",
        "300ms",
        "--hold",
        "10s",
        "--settle",
        "2s",
        "--query-samples",
        "2",
        "--no-baseline",
    ])
    .arg("--bfdd-bin")
    .arg(&bfdd)
    .arg("--out")
    .arg(&results);
    if let Some(bfdctl) = bfdctl_bin() {
        cmd.arg("--bfdctl-bin").arg(bfdctl);
    }
    let out = cmd.output().expect("running bfd-load");
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    assert!(out.status.success(), "bfd-load failed ({})", out.status);

    let text = std::fs::read_to_string(&results).expect("results file written");
    let v: Value = serde_json::from_str(&text).expect("results file is JSON");
    let runs = v["runs"].as_array().expect("runs array");
    assert_eq!(runs.len(), 1, "one run: {text}");
    let r = &runs[0];
    assert_eq!(r["ok"], true, "run failed: {}", r["error"]);
    assert_eq!(r["daemon"], "bfdd");
    assert_eq!(r["sessions"], 100);
    assert!(r["all_up_ms"].as_f64().is_some_and(|t| t > 0.0), "{r}");
    assert!(r["ready_ms"].as_f64().is_some_and(|t| t > 0.0), "{r}");
    assert_eq!(r["flaps"], 0, "flaps: {}", r["flap_log"]);
    // The harness lost nothing to its receive buffer at this size.
    assert_eq!(r["harness_rx_drops"], 0, "{r}");
    assert_eq!(r["daemon_rx_drops"], 0, "{r}");
    // Recorded by phase too (null if the counter could not be read).
    assert_eq!(r["daemon_rx_drops_in_window"], 0, "{r}");
    assert_eq!(r["daemon_rx_drops_during_queries"], 0, "{r}");
    assert!(r["window_s"].as_f64().is_some_and(|w| w >= 9.0), "{r}");
    // 100 sessions x ~2 packets per 0.26 s each way for ~10 s.
    assert!(r["packets"].as_u64().is_some_and(|p| p > 3000), "{r}");
    assert!(r["cpu_pct"]
        .as_f64()
        .is_some_and(|c| c.is_finite() && c >= 0.0));
    assert!(r["rss_peak_kib"].as_u64().is_some_and(|k| k > 0));
    // bfdd's own count of late packets was read after the window (its value is load's).
    assert!(r["daemon_late"].as_u64().is_some(), "{r}");
    assert!(r["wakeups_per_s"].as_f64().is_some_and(|w| w > 0.0), "{r}");
    let tx = &r["tx"];
    assert!(tx["gaps"].as_u64().is_some_and(|g| g > 1000), "{tx}");
    assert!(
        tx["ratio_p50"]
            .as_f64()
            .is_some_and(|p| (0.7..1.1).contains(&p)),
        "median transmit gap should be near 0.875 of the interval: {tx}"
    );
    let det = &r["detection"];
    assert_eq!(det["silenced"], 10, "{det}");
    assert_eq!(det["detected"], 10, "{det}");
    assert_eq!(det["detect_time_ms"].as_f64(), Some(900.0), "{det}");
    assert!(
        det["latency_ms"]["p50"]
            .as_f64()
            .is_some_and(|l| l >= 850.0),
        "{det}"
    );
    let queries = r["queries"].as_array().expect("queries");
    assert!(
        queries
            .iter()
            .any(|q| q["name"] == "GET /metrics" && q["ok"] == true),
        "{queries:?}"
    );
    if bfdctl_bin().is_some() {
        assert!(
            queries
                .iter()
                .any(|q| q["name"] == "bfdctl peers --check" && q["ok"] == true),
            "{queries:?}"
        );
    }
}
