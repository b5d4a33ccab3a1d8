//! The README's first quick-start command, `scripts/demo.sh`, run under the test command so
//! the quick start stays true: a gateway bfdd and two peers in namespaces come Up, one peer
//! is killed, and the gateway detects it within the detection time.

use std::process::Command;

use bfdd_integration::{
    bfdctl_bin, bfdd_bin, require_root_or_skip, require_tools, workspace_root, TestDir,
};

#[test]
fn readme_demo_brings_sessions_up_and_detects_the_killed_peer() {
    if !require_root_or_skip() || !require_tools(&["ip", "bash", "awk"]) {
        return;
    }
    // The demo takes one directory holding both binaries; the test's may live apart
    // (BFDD_BIN, BFDCTL_BIN), so link them side by side.
    let bins = TestDir::new("demo-bin").expect("temp dir");
    // Absolute, since the links resolve from the temp dir (BFDD_BIN may be relative).
    let bfdd = bfdd_bin()
        .expect("bfdd builds")
        .canonicalize()
        .expect("bfdd binary exists");
    let bfdctl = bfdctl_bin()
        .expect("bfdctl builds")
        .canonicalize()
        .expect("bfdctl binary exists");
    std::os::unix::fs::symlink(&bfdd, bins.join("bfdd")).expect("link bfdd");
    std::os::unix::fs::symlink(&bfdctl, bins.join("bfdctl")).expect("link bfdctl");

    let out = Command::new(workspace_root().join("scripts/demo.sh"))
        .env("DEMO_BIN_DIR", bins.path())
        // Named as the harness names its own: if this run is killed before the demo cleans
        // up, the next run's stale-namespace sweep removes them and what runs inside.
        .env(
            "DEMO_NS_PREFIX",
            format!(
                "{}{}-demo-",
                bfdd_integration::NS_PREFIX,
                std::process::id()
            ),
        )
        .output()
        .expect("running scripts/demo.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}\n{stderr}");
    assert!(out.status.success(), "demo failed ({})", out.status);
    for expected in [
        "2 of 2 sessions up",
        "203.0.113.2 down (control-expired)",
        "up -> down (control-expired)",
        "bfd_session_up{interface=\"\",local=\"\",peer=\"203.0.113.2\"} 0",
        "demo: OK",
    ] {
        assert!(stdout.contains(expected), "demo output lacks {expected:?}");
    }
    let detected_ms: i64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("detected ")?.split(' ').next()?.parse().ok())
        .expect("demo prints the time from the kill to the Down");
    println!("MEASURED demo: killed peer detected {detected_ms} ms after the kill (detection time 300 ms)");
    assert!(
        (0..=400).contains(&detected_ms),
        "detected {detected_ms} ms after the kill"
    );
}
