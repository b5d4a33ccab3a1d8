//! bfdd against FRR's bfdd (FRR 8.x), the daemon it replaces: sessions come up over IPv4 and
//! IPv6, loss of FRR is detected within the detection time (RFC 5880 §6.8.4), bfdd's SIGTERM
//! tells FRR with AdminDown (§6.8.16) instead of leaving it to time out, and a timer change by
//! reload reaches FRR through a Poll sequence (§6.8.3) without the session flapping.
//!
//! Topology: bfdd in namespace A (198.51.100.1, 2001:db8:1::1), FRR in B (.2, ::2).

use std::time::{Duration, Instant, SystemTime};

use anyhow::{ensure, Context, Result};
use bfd_control::Response;
use bfdd_integration::{
    ms_between, require_bfdd, require_frr, wait_until, Bfdd, BfddConfig, BfddPeer, FrrBfdd,
    FrrPeer, Topology, A_V4, A_V6, B_V4, B_V6,
};
use serde_json::Value;

/// Both sides must be Up this fast (FRR's slow rate while Down is one packet per second).
const UP: Duration = Duration::from_secs(5);

/// FRR in B peering with A over IPv4 and IPv6, 300 ms x 3 (FRR's defaults, made explicit).
fn frr_peers() -> Vec<FrrPeer> {
    vec![
        FrrPeer::new(A_V4).local(B_V4).interval(300).multiplier(3),
        FrrPeer::new(A_V6).local(B_V6).interval(300).multiplier(3),
    ]
}

/// bfdd in A peering with B over IPv4 and IPv6, with `f` applied to each peer.
fn bfdd_config(f: impl Fn(BfddPeer) -> BfddPeer) -> BfddConfig {
    BfddConfig::new()
        .peer(f(BfddPeer::new(B_V4).local(A_V4)))
        .peer(f(BfddPeer::new(B_V6).local(A_V6)))
}

/// (bfdd's peer, FRR's peer) for IPv4 and IPv6.
const PAIRS: [(&str, &str); 2] = [(B_V4, A_V4), (B_V6, A_V6)];

/// Waits until both sides of both sessions are Up; returns how long that took.
fn wait_all_up(bfdd: &Bfdd<'_>, frr: &FrrBfdd<'_>) -> Result<Duration> {
    let t = Instant::now();
    for (ours, theirs) in PAIRS {
        frr.wait_peer_status(theirs, "up", UP)?;
        bfdd.wait_peer_state(ours, "up", UP)?;
    }
    Ok(t.elapsed())
}

fn json_u64(v: &Value, key: &str) -> Result<u64> {
    v[key]
        .as_u64()
        .with_context(|| format!("FRR JSON has no numeric `{key}`: {v}"))
}

#[test]
fn rfc5881_ipv4_and_ipv6_sessions_come_up_with_frr() -> Result<()> {
    if !require_frr() || !require_bfdd() {
        return Ok(());
    }
    let topo = Topology::new()?;
    let frr = FrrBfdd::start(&topo.b, &frr_peers())?;
    let t0 = Instant::now();
    let bfdd = Bfdd::start(&topo.a, bfdd_config(|p| p))?;
    let up = wait_all_up(&bfdd, &frr)?;
    eprintln!(
        "MEASURED frr: IPv4 and IPv6 Up on both sides {:?} after bfdd started",
        t0.elapsed()
    );
    ensure!(up <= UP);

    for (ours, theirs) in PAIRS {
        let f = frr.show_peer_json(theirs)?;
        let b = bfdd.peer(ours)?;
        // Each side sees the other's configured timers and discriminator.
        ensure!(json_u64(&f, "remote-receive-interval")? == 300, "{f}");
        ensure!(json_u64(&f, "remote-transmit-interval")? == 300, "{f}");
        ensure!(json_u64(&f, "remote-detect-multiplier")? == 3, "{f}");
        ensure!(
            json_u64(&f, "remote-id")? == u64::from(b.summary.id),
            "FRR's remote-id != bfdd's id {}: {f}",
            b.summary.id
        );
        ensure!(
            u64::from(b.remote_id) == json_u64(&f, "id")?,
            "bfdd's remote_id {} != FRR's id: {f}",
            b.remote_id
        );
        ensure!(
            b.remote_min_tx_us == 300_000 && b.remote_min_rx_us == 300_000,
            "{b:?}"
        );
        ensure!(b.remote_detect_multiplier == 3, "{b:?}");
        ensure!(b.detection_time_us == Some(900_000), "{b:?}");
        ensure!(b.tx_interval_us == 300_000, "{b:?}");
        ensure!(b.up_count == 1 && b.down_count == 0, "{b:?}");
        ensure!(
            b.summary.local.as_deref() == Some(our_local_address(ours)),
            "{b:?}"
        );
    }
    Ok(())
}

fn our_local_address(ours: &str) -> &'static str {
    if ours == B_V4 {
        A_V4
    } else {
        A_V6
    }
}

#[test]
fn rfc5880_6_8_4_frr_stop_detected_within_detection_time_and_restart_recovers() -> Result<()> {
    if !require_frr() || !require_bfdd() {
        return Ok(());
    }
    let topo = Topology::new()?;
    let mut frr = FrrBfdd::start(&topo.b, &frr_peers())?;
    let bfdd = Bfdd::start(&topo.a, bfdd_config(|p| p))?;
    wait_all_up(&bfdd, &frr)?;
    let detect_us = bfdd
        .peer(B_V4)?
        .detection_time_us
        .context("no detection time while Up")?;
    let detect_ms = detect_us as f64 / 1000.0;
    // FRR transmits every 300 ms less up to 25 % jitter: its last packet left at most one
    // interval before the signal, and at the latest when it exited.
    let frr_tx_ms = 300.0;

    // FRR's SIGTERM sends nothing: bfdd must notice the silence by itself.
    let t_signal = SystemTime::now();
    frr.stop()?;
    let t_exit = SystemTime::now();
    let exit_skew_ms = ms_between(t_signal, t_exit);

    for (ours, _) in PAIRS {
        let d = bfdd.wait_peer_state(ours, "down", Duration::from_secs(5))?;
        ensure!(d.summary.diag == "control-expired", "{d:?}");
        ensure!(d.down_count == 1, "{d:?}");
        let line = bfdd
            .state_changes()
            .into_iter()
            .rfind(|c| c.peer == ours && c.old == "up" && c.new == "down")
            .with_context(|| format!("no up -> down line for {ours}:\n{}", bfdd.log()))?;
        ensure!(line.diag == "control-expired", "{line:?}");
        let from_signal = ms_between(t_signal, line.at);
        let from_exit = ms_between(t_exit, line.at);
        eprintln!(
            "MEASURED frr stop, peer {ours}: bfdd Down (control-expired) {from_signal:.1} ms after SIGTERM to FRR, \
             {from_exit:.1} ms after FRR had exited (FRR took {exit_skew_ms:.1} ms to exit); detection time {detect_ms:.0} ms"
        );
        // Not before FRR's last packet could have been sent plus the detection time (100 ms
        // allowed for FRR itself running late on a shared machine)...
        ensure!(
            from_signal >= detect_ms - frr_tx_ms - 100.0,
            "Down {from_signal:.1} ms after the stop: earlier than detection time {detect_ms} ms after FRR's last packet"
        );
        // ...and no later than detection time + 50 ms after it (its last packet left before it
        // exited), with a generous floor of detection time + 300 ms after the signal.
        let bound = detect_ms + (exit_skew_ms + 50.0).max(300.0);
        ensure!(
            from_signal <= bound,
            "Down {from_signal:.1} ms after SIGTERM to FRR; allowed {bound:.1} ms (detection time {detect_ms} ms)"
        );
    }

    // FRR coming back brings both sessions back Up.
    let t = Instant::now();
    frr.restart()?;
    wait_all_up(&bfdd, &frr)?;
    eprintln!(
        "MEASURED frr restart: both sessions Up again {:?} after restart",
        t.elapsed()
    );
    for (ours, _) in PAIRS {
        let d = bfdd.peer(ours)?;
        ensure!(d.up_count == 2 && d.down_count == 1, "{d:?}");
    }
    Ok(())
}

#[test]
fn rfc5880_6_8_16_bfdd_sigterm_sends_admin_down_to_frr() -> Result<()> {
    if !require_frr() || !require_bfdd() {
        return Ok(());
    }
    let topo = Topology::new()?;
    let frr = FrrBfdd::start(&topo.b, &frr_peers())?;
    // Detect Mult 5: FRR's detection time is 1.5 s, so a Down within 1 s cannot be a timeout.
    let mut bfdd = Bfdd::start(&topo.a, bfdd_config(|p| p.multiplier(5)))?;
    wait_all_up(&bfdd, &frr)?;
    let f = frr.show_peer_json(A_V4)?;
    let frr_detect_ms = json_u64(&f, "remote-detect-multiplier")? * 300;
    ensure!(frr_detect_ms == 1500, "{f}");

    let t0 = Instant::now();
    let (exit, frr_down) = std::thread::scope(|s| -> Result<_> {
        let watcher = s.spawn(|| {
            let mut seen = Vec::new();
            for (_, theirs) in PAIRS {
                let v = frr.wait_peer_status(theirs, "down", Duration::from_secs(5));
                seen.push((theirs, t0.elapsed(), v));
            }
            seen
        });
        bfdd.signal("TERM")?;
        let st = bfdd.wait_exit(Duration::from_secs(5));
        let exit = (st, t0.elapsed());
        let seen = watcher.join().expect("watcher thread panicked");
        Ok((exit, seen))
    })?;

    let (status, exit_after) = exit;
    let status = status.context("bfdd did not exit within 5 s of SIGTERM")?;
    eprintln!("MEASURED bfdd SIGTERM: exited with {status} after {exit_after:?}");
    ensure!(
        status.success(),
        "bfdd exited with {status}\n{}",
        bfdd.log()
    );
    ensure!(
        exit_after < Duration::from_secs(1),
        "bfdd took {exit_after:?} to exit on SIGTERM"
    );
    ensure!(bfdd.log().contains("bfdd stopping"), "{}", bfdd.log());

    for (theirs, after, v) in frr_down {
        let v = v?;
        eprintln!(
            "MEASURED bfdd SIGTERM: FRR saw peer {theirs} down after {after:?} (FRR detection time {frr_detect_ms} ms): \
             diagnostic={} remote-diagnostic={}",
            v["diagnostic"], v["remote-diagnostic"]
        );
        ensure!(
            after < Duration::from_secs(1),
            "FRR saw {theirs} down only after {after:?}: a timeout, not our AdminDown"
        );
        ensure!(v["remote-diagnostic"] == "administratively down", "{v}");
        ensure!(v["diagnostic"] != "control detection time expired", "{v}");
    }
    Ok(())
}

#[test]
fn rfc5880_6_8_3_reloaded_timers_reach_frr_without_a_flap() -> Result<()> {
    if !require_frr() || !require_bfdd() {
        return Ok(());
    }
    let topo = Topology::new()?;
    let frr = FrrBfdd::start(&topo.b, &frr_peers())?;
    let mut bfdd = Bfdd::start(&topo.a, bfdd_config(|p| p.interval(300)))?;
    wait_all_up(&bfdd, &frr)?;
    // A nonzero starting uptime, so that a reset to 0 would show.
    ensure!(
        wait_until(UP, Duration::from_millis(100), || frr
            .show_peer_json(A_V4)
            .map(|v| v["uptime"].as_u64().unwrap_or(0) >= 1)
            .unwrap_or(false)),
        "FRR uptime does not grow"
    );
    let t0 = Instant::now();
    let uptime0 = json_u64(&frr.show_peer_json(A_V4)?, "uptime")?;

    // Every FRR observation while the timers change must be `up`.
    let frr_sees = |tx: u64, rx: u64| -> Result<()> {
        let mut last = Value::Null;
        let mut flapped = None;
        let ok = wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
            let mut all = true;
            for (_, theirs) in PAIRS {
                let Ok(v) = frr.show_peer_json(theirs) else {
                    return false;
                };
                if v["status"] != "up" {
                    flapped = Some(v.clone());
                }
                all &= v["remote-transmit-interval"] == tx && v["remote-receive-interval"] == rx;
                last = v;
            }
            all
        });
        ensure!(
            flapped.is_none(),
            "FRR saw the session leave Up: {flapped:?}"
        );
        ensure!(ok, "FRR does not see tx {tx} / rx {rx} ms; last: {last}");
        Ok(())
    };

    // 1: SIGHUP, faster transmit and receive.
    bfdd.set_config(bfdd_config(|p| p.desired_min_tx(200).required_min_rx(250)))?;
    bfdd.signal("HUP")?;
    frr_sees(200, 250)?;
    eprintln!(
        "MEASURED reload: FRR saw 200/250 ms {:?} after SIGHUP",
        t0.elapsed()
    );

    // 2: the control request, slower transmit and receive.
    bfdd.set_config(bfdd_config(|p| p.desired_min_tx(400).required_min_rx(350)))?;
    let t1 = Instant::now();
    match bfdd.reload()? {
        Response::Reloaded(s) => ensure!(
            s.changed == 2 && s.added == 0 && s.removed == 0,
            "reload summary {s:?}"
        ),
        other => anyhow::bail!("reload answered {other:?}"),
    }
    frr_sees(400, 350)?;
    eprintln!(
        "MEASURED reload: FRR saw 400/350 ms {:?} after the reload request",
        t1.elapsed()
    );

    // The new timers hold: both sides stay Up for well over a detection time (1.2 s).
    let mut left_up = None;
    let stable = !wait_until(Duration::from_secs(2), Duration::from_millis(100), || {
        PAIRS.iter().any(|(ours, theirs)| {
            let f = frr.peer_status(theirs).unwrap_or_default();
            let b = bfdd.peer_state(ours).unwrap_or_default();
            let bad = f != "up" || b != "up";
            if bad {
                left_up = Some(format!("{theirs}: FRR {f}, bfdd {b}"));
            }
            bad
        })
    });
    ensure!(
        stable,
        "session left Up after the timer change: {left_up:?}"
    );

    // No flap on either side: FRR's uptime kept growing, bfdd went Up once.
    for (ours, theirs) in PAIRS {
        let d = bfdd.peer(ours)?;
        ensure!(d.summary.state == "up", "{d:?}");
        ensure!(d.up_count == 1 && d.down_count == 0, "flapped: {d:?}");
        ensure!(
            d.desired_min_tx_us == 400_000 && d.required_min_rx_us == 350_000,
            "{d:?}"
        );
        // Transmit interval: max(our 400 ms, FRR's Required Min RX 300 ms) once the Poll is done.
        ensure!(
            wait_until(Duration::from_secs(3), Duration::from_millis(50), || bfdd
                .peer(ours)
                .map(|d| !d.poll_active && d.tx_interval_us == 400_000)
                .unwrap_or(false)),
            "Poll sequence did not complete: {:?}",
            bfdd.peer(ours)?
        );
        let v = frr.show_peer_json(theirs)?;
        ensure!(v["status"] == "up", "{v}");
        if theirs == A_V4 {
            let uptime = json_u64(&v, "uptime")?;
            let elapsed = t0.elapsed().as_secs();
            eprintln!("MEASURED reload: FRR uptime {uptime0} s -> {uptime} s over {elapsed} s");
            ensure!(
                uptime + 1 >= uptime0 + elapsed,
                "FRR uptime went {uptime0} -> {uptime} over {elapsed} s: the session restarted"
            );
        }
    }
    let ups = bfdd
        .state_changes()
        .into_iter()
        .filter(|c| c.new == "up")
        .count();
    ensure!(
        ups == 2,
        "expected one Up per session, got {ups}:\n{}",
        bfdd.log()
    );
    Ok(())
}
