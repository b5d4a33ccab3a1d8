//! Self-test of the integration harness: real FRR bfdd and BIRD 2 peers, in network
//! namespaces, bring up BFD sessions with each other. If these fail, tests of our own bfdd
//! against these peers cannot be trusted either.

use std::time::Duration;

use anyhow::{ensure, Result};
use bfdd_integration::{
    bird_check_config, check_test_prefix, parse_bfd_sessions, require_bird, require_frr,
    require_root_or_skip, require_tools, wait_until, Bird, BirdAuth, BirdConfig, BirdKey, FrrBfdd,
    FrrPeer, Process, TestDir, Topology, A_V4, A_V6, B_V4, B_V6,
};

/// Sessions must come up this fast (FRR's slow timer while down is 1 s, BIRD's idle TX 1 s).
const UP: Duration = Duration::from_secs(5);

fn frr_peers() -> Vec<FrrPeer> {
    vec![
        FrrPeer::new(B_V4).local(A_V4).interval(300).multiplier(3),
        FrrPeer::new(B_V6).local(A_V6).interval(300).multiplier(3),
    ]
}

fn bird_config() -> BirdConfig {
    BirdConfig::new()
        .neighbor(A_V4)
        .neighbor(A_V6)
        .interval(300)
        .multiplier(3)
}

#[test]
fn frr_and_bird_bring_up_ipv4_and_ipv6_sessions() -> Result<()> {
    if !require_frr() || !require_bird() {
        return Ok(());
    }
    let topo = Topology::new()?;
    let frr = FrrBfdd::start(&topo.a, &frr_peers())?;
    let mut bird = Bird::start(&topo.b, bird_config())?;

    for (frr_peer, bird_nbr) in [(B_V4, A_V4), (B_V6, A_V6)] {
        let v = frr.wait_peer_status(frr_peer, "up", UP)?;
        bird.wait_session_state(bird_nbr, "Up", UP)?;
        // FRR sees BIRD's configured timers.
        assert_eq!(v["remote-receive-interval"], 300, "{v}");
        assert_eq!(v["remote-transmit-interval"], 300, "{v}");
        assert_eq!(v["remote-detect-multiplier"], 3, "{v}");
        assert_eq!(v["local"], if frr_peer == B_V4 { A_V4 } else { A_V6 });
    }
    let sessions = bird.sessions()?;
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert!(sessions
        .iter()
        .all(|s| s.interface == "eth0" && s.state == "Up"));
    assert!(sessions
        .iter()
        .all(|s| s.interval == "0.300" && s.timeout == "0.900"));

    // BIRD sends no AdminDown on shutdown: FRR detects the loss by timeout (3 x 300 ms).
    bird.stop()?;
    for peer in [B_V4, B_V6] {
        let v = frr.wait_peer_status(peer, "down", Duration::from_secs(3))?;
        assert_eq!(v["diagnostic"], "control detection time expired", "{v}");
    }
    Ok(())
}

#[test]
fn frr_runtime_config_shutdown_and_restart() -> Result<()> {
    if !require_frr() || !require_bird() {
        return Ok(());
    }
    let topo = Topology::new()?;
    // FRR starts without peers; the peer is added through vtysh at runtime.
    let mut frr = FrrBfdd::start(&topo.a, &[])?;
    let bird = Bird::start(&topo.b, BirdConfig::new().neighbor(A_V4).interval(200))?;
    assert_eq!(frr.show_peers_json()?, serde_json::json!([]));

    // Detect multiplier 10: BIRD would time FRR out only after 2 s.
    frr.add_peer(FrrPeer::new(B_V4).local(A_V4).interval(200).multiplier(10))?;
    frr.wait_peer_status(B_V4, "up", UP)?;
    bird.wait_session_state(A_V4, "Up", UP)?;

    // Administrative shutdown: FRR sends AdminDown, BIRD goes Down at once (not by timeout:
    // that would take 2 s).
    frr.set_shutdown(B_V4, true)?;
    frr.wait_peer_status(B_V4, "shutdown", Duration::from_secs(1))?;
    bird.wait_session_state(A_V4, "Down", Duration::from_secs(1))?;
    frr.set_shutdown(B_V4, false)?;
    frr.wait_peer_status(B_V4, "up", UP)?;
    bird.wait_session_state(A_V4, "Up", UP)?;

    // Restart keeps the runtime-added peer (the config file is rewritten from it).
    let old_pid = frr.pid();
    frr.restart()?;
    assert_ne!(frr.pid(), old_pid);
    frr.wait_peer_status(B_V4, "up", UP)?;
    bird.wait_session_state(A_V4, "Up", UP)?;

    // Removing the peer at runtime: FRR forgets it, BIRD loses the session.
    let peer = frr.peers()[0].clone();
    frr.remove_peer(&peer)?;
    assert_eq!(frr.show_peers_json()?, serde_json::json!([]));
    let t = std::time::Instant::now();
    bird.wait_session_state(A_V4, "Down", Duration::from_secs(3))?;
    eprintln!("BIRD saw the removed FRR peer down after {:?}", t.elapsed());
    frr.add_peer(peer)?;
    frr.wait_peer_status(B_V4, "up", UP)?;

    // SIGTERM: FRR sends nothing special, BIRD times out (3 x 200 ms).
    frr.stop()?;
    let t = std::time::Instant::now();
    bird.wait_session_state(A_V4, "Down", Duration::from_secs(3))?;
    eprintln!("BIRD saw the stopped FRR down after {:?}", t.elapsed());
    Ok(())
}

#[test]
fn bird_pairs_come_up_with_every_auth_type() -> Result<()> {
    if !require_bird() {
        return Ok(());
    }
    let topo = Topology::new()?;
    for auth in BirdAuth::ALL {
        let keys = if auth == BirdAuth::None {
            vec![]
        } else {
            vec![BirdKey::new(5, "s3cret-key")]
        };
        let a = Bird::start(
            &topo.a,
            BirdConfig::new()
                .neighbor(B_V4)
                .neighbor(B_V6)
                .interval(100)
                .auth(auth, keys.clone()),
        )?;
        let b = Bird::start(
            &topo.b,
            BirdConfig::new()
                .neighbor(A_V4)
                .neighbor(A_V6)
                .interval(100)
                .auth(auth, keys),
        )?;
        for (bird, peer) in [(&a, B_V4), (&a, B_V6), (&b, A_V4), (&b, A_V6)] {
            bird.wait_session_state(peer, "Up", UP)
                .map_err(|e| e.context(format!("auth {auth:?}")))?;
        }
    }
    Ok(())
}

#[test]
fn bird_pairs_stay_down_with_mismatched_keys() -> Result<()> {
    if !require_bird() {
        return Ok(());
    }
    let topo = Topology::new()?;
    let cfg = |peer: &str, key: &str| {
        BirdConfig::new()
            .neighbor(peer)
            .interval(100)
            .auth(BirdAuth::KeyedSha1, vec![BirdKey::new(1, key)])
    };
    let a = Bird::start(&topo.a, cfg(B_V4, "one"))?;
    let b = Bird::start(&topo.b, cfg(A_V4, "two"))?;
    let came_up = wait_until(Duration::from_secs(3), Duration::from_millis(100), || {
        a.session_state(B_V4).ok().flatten().as_deref() == Some("Up")
            || b.session_state(A_V4).ok().flatten().as_deref() == Some("Up")
    });
    ensure!(!came_up, "session came up despite mismatched keys");
    ensure!(
        b.log().contains("Authentication failed"),
        "BIRD logged no authentication failure:\n{}",
        b.log()
    );
    Ok(())
}

#[test]
fn bird_accepts_rendered_config_for_every_auth_type() -> Result<()> {
    if !require_tools(&["bird"]) {
        return Ok(());
    }
    let dir = TestDir::new("birdconf")?;
    for auth in BirdAuth::ALL {
        let mut key = BirdKey::new(7, "pw");
        key.accept_from = Some("2020-01-01 00:00:00".into());
        let cfg = BirdConfig::new()
            .neighbor(A_V4)
            .interval(250)
            .multiplier(4)
            .idle_tx(500)
            .passive(true)
            .auth(auth, vec![key]);
        let path = dir.join(&format!("bird-{}.conf", auth.rfc5880_type()));
        std::fs::write(&path, cfg.render())?;
        bird_check_config(&path)?;
    }
    Ok(())
}

#[test]
fn birdc_output_parses() {
    let out = "BIRD 2.0.12 ready.\n\
               bfd1:\n\
               IP address                Interface  State      Since         Interval  Timeout\n\
               198.51.100.1              eth0       Up         06:09:35.247    0.300    0.900\n\
               2001:db8:1::1             eth0       Down       2026-11-25      1.000    0.000\n";
    let s = parse_bfd_sessions(out);
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].protocol, "bfd1");
    assert_eq!(s[0].addr, "198.51.100.1");
    assert_eq!(s[0].state, "Up");
    assert_eq!(s[0].since, "06:09:35.247");
    assert_eq!(s[0].interval, "0.300");
    assert_eq!(s[0].timeout, "0.900");
    assert_eq!(s[1].addr, "2001:db8:1::1");
    assert_eq!(s[1].state, "Down");
}

#[test]
fn only_test_address_ranges_are_accepted() {
    for ok in [
        "192.0.2.1/24",
        "198.51.100.7/24",
        "203.0.113.9/32",
        "198.19.4.1/16",
        "2001:db8:1::1/64",
    ] {
        assert!(check_test_prefix(ok).is_ok(), "{ok}");
    }
    for bad in [
        "10.0.0.1/24",
        "192.168.1.1/24",
        "8.8.8.8/32",
        "198.51.100.1/16",
        "2001:db9::1/64",
        "fd00::1/64",
        "2001:db8::1/16",
    ] {
        assert!(check_test_prefix(bad).is_err(), "{bad}");
    }
}

#[test]
fn topology_and_guards_clean_up() -> Result<()> {
    if !require_root_or_skip() || !require_tools(&["ip", "kill", "sleep"]) {
        return Ok(());
    }
    let (name_a, name_b, pid);
    {
        let topo = Topology::builder()
            .addrs_a(&["198.18.0.1/24", "198.18.1.1/24", "2001:db8:2::1/64"])
            .addrs_b(&["198.18.0.2/24", "2001:db8:2::2/64"])
            .build()?;
        name_a = topo.a.name().to_string();
        name_b = topo.b.name().to_string();
        let addrs = topo.a.addrs("eth0")?;
        for want in ["198.18.0.1/24", "198.18.1.1/24", "2001:db8:2::1/64"] {
            assert!(addrs.iter().any(|a| a == want), "{want} not in {addrs:?}");
        }
        // The veth exists only inside the namespaces.
        let link = topo.b.ip_json(&["link", "show", "dev", "eth0"])?;
        assert_eq!(link[0]["operstate"], "UP", "{link}");
        assert_eq!(
            topo.a
                .exec(&["cat", "/proc/sys/net/ipv6/conf/eth0/disable_ipv6"])?
                .trim(),
            "0"
        );

        let dir = TestDir::new("proc")?;
        let mut p = Process::spawn(&topo.a, "sleeper", &["sleep", "1000"], dir.path())?;
        pid = p.pid().unwrap_or_default();
        assert!(p.is_running());
        // `ip netns exec` enters the namespace, then execs: the same pid shows up there.
        assert!(
            wait_until(Duration::from_secs(2), Duration::from_millis(10), || topo
                .a
                .pids()
                == vec![pid]),
            "{:?} != [{pid}]",
            topo.a.pids()
        );
        // Netns drop also kills processes left behind by a leaked guard.
        std::mem::forget(p);
    }
    let list = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()?;
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(!list.contains(&name_a) && !list.contains(&name_b), "{list}");
    // The forgotten child was killed; it is a zombie at most (never reaped: leaked guard).
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    assert!(
        status.is_empty() || status.contains("State:\tZ"),
        "sleep {pid} still alive: {status}"
    );
    Ok(())
}
