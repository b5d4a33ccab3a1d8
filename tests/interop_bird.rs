//! bfdd against BIRD 2: sessions come up over IPv4 and IPv6, BIRD's disappearance is detected
//! by timeout (RFC 5880 §6.8.4), and every RFC 5880 §6.7 authentication type interoperates:
//! Up with the same key, never Up with another one.
//!
//! Topology: bfdd in namespace A (198.51.100.1, 2001:db8:1::1), BIRD in B (.2, ::2).

use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, ensure, Context, Result};
use bfdd_integration::{
    metric, ms_between, require_bfdd, require_bird, wait_until, Bfdd, BfddAuth, BfddConfig,
    BfddPeer, Bird, BirdAuth, BirdConfig, BirdKey, Topology, A_V4, A_V6, B_V4, B_V6,
};

/// Both sides must be Up this fast (BIRD's idle TX interval is 1 s).
const UP: Duration = Duration::from_secs(5);

/// (bfdd's peer, BIRD's neighbor) for IPv4 and IPv6.
const PAIRS: [(&str, &str); 2] = [(B_V4, A_V4), (B_V6, A_V6)];

/// Every authentication type bfdd and BIRD share.
const AUTH_TYPES: [BirdAuth; 5] = [
    BirdAuth::Simple,
    BirdAuth::KeyedMd5,
    BirdAuth::MeticulousKeyedMd5,
    BirdAuth::KeyedSha1,
    BirdAuth::MeticulousKeyedSha1,
];

const KEY_ID: u8 = 5;
const SECRET: &str = "s3cret-key";

fn bird_config() -> BirdConfig {
    BirdConfig::new()
        .neighbor(A_V4)
        .neighbor(A_V6)
        .interval(300)
        .multiplier(3)
}

fn bfdd_config(auth: Option<BfddAuth>) -> BfddConfig {
    BfddConfig::new()
        .peer(BfddPeer::new(B_V4).local(A_V4).auth(auth.clone()))
        .peer(BfddPeer::new(B_V6).local(A_V6).auth(auth))
        .interval(300)
        .multiplier(3)
}

fn wait_all_up(bfdd: &Bfdd<'_>, bird: &Bird<'_>) -> Result<Duration> {
    let t = Instant::now();
    for (ours, theirs) in PAIRS {
        bird.wait_session_state(theirs, "Up", UP)?;
        bfdd.wait_peer_state(ours, "up", UP)?;
    }
    Ok(t.elapsed())
}

#[test]
fn rfc5881_ipv4_and_ipv6_sessions_come_up_with_bird() -> Result<()> {
    if !require_bird() || !require_bfdd() {
        return Ok(());
    }
    let topo = Topology::new()?;
    let bird = Bird::start(&topo.b, bird_config())?;
    let t0 = Instant::now();
    let bfdd = Bfdd::start(&topo.a, bfdd_config(None))?;
    wait_all_up(&bfdd, &bird)?;
    eprintln!(
        "MEASURED bird: IPv4 and IPv6 Up on both sides {:?} after bfdd started",
        t0.elapsed()
    );
    for s in bird.sessions()? {
        // BIRD runs at the negotiated 300 ms with a 900 ms detection time.
        ensure!(s.state == "Up" && s.interface == "eth0", "{s:?}");
        ensure!(s.interval == "0.300" && s.timeout == "0.900", "{s:?}");
    }
    for (ours, _) in PAIRS {
        let d = bfdd.peer(ours)?;
        ensure!(d.remote_detect_multiplier == 3, "{d:?}");
        ensure!(d.remote_min_tx_us == 300_000, "{d:?}");
        ensure!(d.detection_time_us == Some(900_000), "{d:?}");
        ensure!(d.remote_id != 0 && d.up_count == 1, "{d:?}");
    }
    Ok(())
}

#[test]
fn rfc5880_6_8_4_bird_stop_detected_as_control_expired() -> Result<()> {
    if !require_bird() || !require_bfdd() {
        return Ok(());
    }
    let topo = Topology::new()?;
    let mut bird = Bird::start(&topo.b, bird_config())?;
    let bfdd = Bfdd::start(&topo.a, bfdd_config(None))?;
    wait_all_up(&bfdd, &bird)?;
    let detect_ms = bfdd
        .peer(B_V4)?
        .detection_time_us
        .context("no detection time")? as f64
        / 1000.0;

    // BIRD's SIGTERM sends no AdminDown.
    let t_signal = SystemTime::now();
    bird.stop()?;
    let skew_ms = ms_between(t_signal, SystemTime::now());
    for (ours, _) in PAIRS {
        let d = bfdd.wait_peer_state(ours, "down", Duration::from_secs(5))?;
        ensure!(d.summary.diag == "control-expired", "{d:?}");
        let line = bfdd
            .state_changes()
            .into_iter()
            .rfind(|c| c.peer == ours && c.old == "up" && c.new == "down")
            .with_context(|| format!("no up -> down line for {ours}:\n{}", bfdd.log()))?;
        ensure!(line.diag == "control-expired", "{line:?}");
        let after = ms_between(t_signal, line.at);
        eprintln!(
            "MEASURED bird stop, peer {ours}: bfdd Down (control-expired) {after:.1} ms after SIGTERM to BIRD \
             (BIRD took {skew_ms:.1} ms to exit); detection time {detect_ms:.0} ms"
        );
        // BIRD sends every 300 ms less up to 25 % jitter (100 ms allowed for BIRD itself
        // running late on a shared machine).
        ensure!(
            after >= detect_ms - 300.0 - 100.0,
            "Down too early: {after:.1} ms"
        );
        let bound = detect_ms + (skew_ms + 50.0).max(300.0);
        ensure!(
            after <= bound,
            "Down after {after:.1} ms, allowed {bound:.1} ms"
        );
    }
    bird.restart()?;
    wait_all_up(&bfdd, &bird)?;
    Ok(())
}

/// Runs `f` once per authentication type, each in its own thread with its own namespaces;
/// fails with every failure.
fn for_each_auth_type(f: impl Fn(BirdAuth) -> Result<String> + Sync) -> Result<()> {
    let f = &f;
    let results: Vec<(BirdAuth, Result<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = AUTH_TYPES
            .iter()
            .map(|&auth| (auth, s.spawn(move || f(auth))))
            .collect();
        handles
            .into_iter()
            .map(|(auth, h)| {
                (
                    auth,
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("thread panicked"))),
                )
            })
            .collect()
    });
    let mut failures = Vec::new();
    for (auth, r) in results {
        match r {
            Ok(report) => eprintln!("MEASURED auth {}: {report}", auth.keyword()),
            Err(e) => failures.push(format!("auth {}: {e:#}", auth.keyword())),
        }
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("\n\n"));
    }
    Ok(())
}

#[test]
fn rfc5880_6_7_every_auth_type_comes_up_with_bird_using_the_same_key() -> Result<()> {
    if !require_bird() || !require_bfdd() {
        return Ok(());
    }
    for_each_auth_type(|auth| {
        let topo = Topology::builder()
            .tags(&format!("auth{}a", auth.rfc5880_type()), "b")
            .build()?;
        let bird = Bird::start(
            &topo.b,
            bird_config().auth(auth, vec![BirdKey::new(KEY_ID, SECRET)]),
        )?;
        let t0 = Instant::now();
        let bfdd = Bfdd::start(
            &topo.a,
            bfdd_config(BfddAuth::like_bird(auth, KEY_ID, SECRET)),
        )?;
        wait_all_up(&bfdd, &bird)?;
        let up = t0.elapsed();
        for (ours, _) in PAIRS {
            let d = bfdd.peer(ours)?;
            ensure!(
                d.auth.as_deref() == BfddAuth::type_name(auth),
                "bfdd reports auth {:?}",
                d.auth
            );
            ensure!(
                d.rx_errors == 0,
                "packets refused with the right key: {d:?}"
            );
        }
        let m = bfdd.metrics()?;
        let dropped = metric(&m, "bfd_packets_dropped_total", &[("reason", "auth")]);
        ensure!(
            dropped == Some(0.0),
            "auth drops with the right key: {dropped:?}"
        );
        Ok(format!(
            "same key: IPv4 and IPv6 Up on both sides after {up:?}"
        ))
    })
}

#[test]
fn rfc5880_6_7_every_auth_type_stays_down_with_bird_using_another_key() -> Result<()> {
    if !require_bird() || !require_bfdd() {
        return Ok(());
    }
    for_each_auth_type(|auth| {
        let topo = Topology::builder()
            .tags(&format!("badauth{}a", auth.rfc5880_type()), "b")
            .build()?;
        let bird = Bird::start(
            &topo.b,
            bird_config().auth(auth, vec![BirdKey::new(KEY_ID, "another-key")]),
        )?;
        let bfdd = Bfdd::start(
            &topo.a,
            bfdd_config(BfddAuth::like_bird(auth, KEY_ID, SECRET)),
        )?;
        // Neither side may leave Down while the other keeps sending (1 packet/s while Down).
        let watch = Duration::from_secs(3);
        let mut seen = String::new();
        let moved = wait_until(watch, Duration::from_millis(100), || {
            PAIRS.iter().any(|(ours, theirs)| {
                let b = bfdd.peer_state(ours).unwrap_or_default();
                let r = bird
                    .session_state(theirs)
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                if b != "down" || (r != "Down" && !r.is_empty()) {
                    seen = format!("{ours}: bfdd {b}; {theirs}: BIRD {r}");
                    return true;
                }
                false
            })
        });
        ensure!(!moved, "left Down with mismatched keys: {seen}");
        let mut errors = 0;
        for (ours, _) in PAIRS {
            let d = bfdd.peer(ours)?;
            ensure!(d.rx_packets == 0 && d.rx_errors > 0, "{d:?}");
            ensure!(d.tx_packets > 0, "bfdd sent nothing: {d:?}");
            errors += d.rx_errors;
        }
        let m = bfdd.metrics()?;
        let dropped = metric(&m, "bfd_packets_dropped_total", &[("reason", "auth")])
            .context("no bfd_packets_dropped_total{reason=\"auth\"}")?;
        ensure!(dropped > 0.0, "auth drops {dropped}");
        ensure!(
            bird.log().contains("Authentication failed"),
            "BIRD logged no authentication failure:\n{}",
            bird.log()
        );
        Ok(format!(
            "other key: Down on both sides for {watch:?}; bfdd dropped {dropped} packets for auth ({errors} counted on the sessions)"
        ))
    })
}
