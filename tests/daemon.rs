//! bfdd against bfdd: the daemon's own behaviour on a real link. GTSM (RFC 5881 §5) drops a
//! single-hop packet with TTL 254, `bfdctl` and the control socket agree with `/metrics`, local
//! discriminators survive a restart, reload keeps the running configuration when the file is
//! bad and adds/removes sessions (removal sends AdminDown), a passive session (RFC 5880 §6.1)
//! comes up against an active one, multihop sessions (RFC 5883) run on UDP 4784, and batched
//! transmit sends what each session's own socket would (RFC 5881 §4 source ports, TTL 255),
//! and a daemon stalled past its detection time reads what its peer sent meanwhile before it
//! times the peer out (RFC 5880 §6.8.4), and a SIGHUP while bfdd loads its configuration
//! is a reload, not the default action that kills it; a second bfdd in the namespace refuses
//! to start, `[daemon]` settings change on restart, not on reload, and sessions come back when
//! their interface is deleted and created again.
//!
//! Topology: bfdd A in namespace A (198.51.100.1, 2001:db8:1::1), bfdd B in B (.2, ::2).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use bfd_control::{PeerSummary, Response};
use bfdd_integration::{
    bfdctl_bin, control_exchange, metric, python3, require_bfdd, require_realtime_scheduling,
    require_tools, veth_pair, wait_until, Bfdd, BfddConfig, BfddPeer, Netns, Process, TestDir,
    Topology, A_V4, A_V6, B_V4, B_V6,
};

const UP: Duration = Duration::from_secs(5);

/// A's side: peers B over IPv4 and IPv6.
fn config_a(f: impl Fn(BfddPeer) -> BfddPeer) -> BfddConfig {
    BfddConfig::new()
        .peer(f(BfddPeer::new(B_V4).local(A_V4)))
        .peer(f(BfddPeer::new(B_V6).local(A_V6)))
}

/// B's side: peers A over IPv4 and IPv6.
fn config_b(f: impl Fn(BfddPeer) -> BfddPeer) -> BfddConfig {
    BfddConfig::new()
        .peer(f(BfddPeer::new(A_V4).local(B_V4)))
        .peer(f(BfddPeer::new(A_V6).local(B_V6)))
}

/// (A's peer, B's peer) for IPv4 and IPv6.
const PAIRS: [(&str, &str); 2] = [(B_V4, A_V4), (B_V6, A_V6)];

/// A and B with the default peers (A's changed by `f`), all sessions Up.
fn up_pair(topo: &Topology, f: impl Fn(BfddPeer) -> BfddPeer) -> Result<(Bfdd<'_>, Bfdd<'_>)> {
    let a = Bfdd::start(&topo.a, config_a(f))?;
    let b = Bfdd::start(&topo.b, config_b(|p| p))?;
    wait_all_up(&a, &b)?;
    Ok((a, b))
}

fn wait_all_up(a: &Bfdd<'_>, b: &Bfdd<'_>) -> Result<Duration> {
    let t = Instant::now();
    for (pa, pb) in PAIRS {
        a.wait_peer_state(pa, "up", UP)?;
        b.wait_peer_state(pb, "up", UP)?;
    }
    Ok(t.elapsed())
}

/// Sends `count` BFD Control packets (version 1, state Down, Detect Mult 3, length 24, My
/// Discriminator 1, Your Discriminator 0, 1 s intervals) from `src` to `dst`:3784 with the
/// given TTL / hop limit, from inside `ns`.
fn send_forged(ns: &Netns, src: &str, dst: &str, ttl: u8, count: u32) -> Result<()> {
    let script = r#"
import socket, struct, sys
src, dst, ttl, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
v6 = ':' in dst
# vers 1 | diag 0, state Down (1) << 6, detect mult 3, length 24, my 1, your 0, tx, rx, echo
pkt = struct.pack('!BBBBIIIII', 1 << 5, 1 << 6, 3, 24, 1, 0, 1000000, 1000000, 0)
s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
if v6:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
else:
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
s.bind((src, 0))
for _ in range(count):
    s.sendto(pkt, (dst, 3784))
"#;
    ns.exec(&[
        python3(),
        "-c",
        script,
        src,
        dst,
        &ttl.to_string(),
        &count.to_string(),
    ])
    .map(|_| ())
}

#[test]
fn rfc5881_5_single_hop_packet_with_ttl_254_is_dropped_and_counted() -> Result<()> {
    if !require_bfdd() {
        return Ok(());
    }
    let topo = Topology::new()?;
    // Only A runs: every packet it gets from B's addresses is one we forged.
    let a = Bfdd::start(&topo.a, config_a(|p| p))?;
    // Every reason's counter is there from the start, so the first drop is an increase.
    let m = a.metrics()?;
    for reason in ["malformed", "unknown_session", "ttl", "hop_mode", "auth"] {
        ensure!(
            metric(&m, "bfd_packets_dropped_total", &[("reason", reason)]) == Some(0.0),
            "{reason}: {m}"
        );
    }
    send_forged(&topo.b, B_V4, A_V4, 254, 3)?;
    send_forged(&topo.b, B_V6, A_V6, 254, 3)?;

    let mut m = String::new();
    let counted = wait_until(Duration::from_secs(3), Duration::from_millis(50), || {
        m = a.metrics().unwrap_or_default();
        metric(&m, "bfd_packets_dropped_total", &[("reason", "ttl")]) == Some(6.0)
    });
    ensure!(
        counted,
        "expected 6 TTL drops in bfd_packets_dropped_total{{reason=\"ttl\"}}:\n{m}"
    );
    for (peer, _) in PAIRS {
        let d = a.peer(peer)?;
        ensure!(d.rx_errors == 3 && d.rx_packets == 0, "{d:?}");
        ensure!(d.summary.state == "down" && d.remote_id == 0, "{d:?}");
        ensure!(
            metric(&m, "bfd_control_packets_received_total", &[("peer", peer)]) == Some(0.0),
            "{m}"
        );
    }
    eprintln!("MEASURED ttl: 3 IPv4 packets with TTL 254 and 3 IPv6 with hop limit 254 dropped, bfd_packets_dropped_total{{reason=\"ttl\"}} = 6");

    // The same packet with TTL 255 is accepted: the drop was the TTL's doing.
    send_forged(&topo.b, B_V4, A_V4, 255, 1)?;
    let d = a.wait_peer_state(B_V4, "init", Duration::from_secs(3))?;
    ensure!(d.rx_packets == 1 && d.remote_id == 1, "{d:?}");
    let m = a.metrics()?;
    ensure!(
        metric(&m, "bfd_packets_dropped_total", &[("reason", "ttl")]) == Some(6.0),
        "{m}"
    );
    Ok(())
}

/// What `bfdctl peers --check` says, or the control-socket equivalent when bfdctl does not
/// build: `Some(0)` all Up, `Some(1)` not all Up, `Some(2)` no daemon.
fn peers_check(a: &Bfdd<'_>) -> Result<i32> {
    if let Some(out) = a.bfdctl(&["peers", "--check"]) {
        let out = out?;
        return out
            .status
            .code()
            .with_context(|| format!("bfdctl: {out:?}"));
    }
    Ok(match a.peers() {
        Err(_) => 2,
        Ok(p) if !p.is_empty() && p.iter().all(|p| p.state == "up") => 0,
        Ok(_) => 1,
    })
}

#[test]
fn bfdctl_peers_check_table_and_json_agree_with_metrics() -> Result<()> {
    if !require_bfdd() {
        return Ok(());
    }
    let have_bfdctl = bfdctl_bin().is_some();
    if !have_bfdctl {
        eprintln!("NOTE: bfdctl unavailable (does not build, or BFDCTL_BIN is empty): checking the control socket directly instead");
    }
    let topo = Topology::new()?;
    let mut a = Bfdd::prepare(&topo.a, config_a(|p| p))?;
    // No daemon yet.
    ensure!(peers_check(&a)? == 2, "peers --check without a daemon");
    ensure!(control_exchange(&a.socket_path(), r#"{"request":"peers"}"#).is_err());

    a.spawn()?;
    // Configured, but the peer is not there: not Up, exit 1.
    let before = a.peers()?;
    ensure!(
        before.len() == 2 && before.iter().all(|p| p.state != "up"),
        "{before:?}"
    );
    ensure!(
        peers_check(&a)? == 1,
        "peers --check before the peer exists"
    );

    let b = Bfdd::start(&topo.b, config_b(|p| p))?;
    wait_all_up(&a, &b)?;
    ensure!(peers_check(&a)? == 0, "peers --check with every session Up");
    // Until a periodic packet has been timed: a session's first opens its schedule and is not,
    // nor the one that follows coming Up.
    let deadline = Instant::now() + Duration::from_secs(5);
    while metric(&a.metrics()?, "bfd_transmit_delay_seconds_count", &[]).unwrap_or(0.0) == 0.0 {
        ensure!(
            Instant::now() < deadline,
            "no periodic packet timed 5 s after all Up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // JSON (bfdctl or the socket), then detail, then metrics: counters only grow, so the
    // later reading is never smaller.
    let json: Vec<PeerSummary> = match a.bfdctl(&["peers", "--json"]) {
        Some(out) => {
            let out = out?;
            ensure!(out.status.success(), "bfdctl peers --json: {out:?}");
            serde_json::from_slice(&out.stdout).context("parsing bfdctl peers --json")?
        }
        None => a.peers()?,
    };
    let table = match a.bfdctl(&["peers"]) {
        Some(out) => {
            let out = out?;
            ensure!(out.status.success(), "bfdctl peers: {out:?}");
            Some(String::from_utf8_lossy(&out.stdout).into_owned())
        }
        None => None,
    };
    let details: Vec<_> = PAIRS
        .iter()
        .map(|(p, _)| a.peer(p))
        .collect::<Result<_>>()?;
    let m = a.metrics()?;
    eprintln!(
        "bfdctl peers:\n{}",
        table.as_deref().unwrap_or("<bfdctl unavailable>")
    );

    ensure!(json.len() == 2, "{json:?}");
    ensure!(metric(&m, "bfd_sessions", &[]) == Some(2.0), "{m}");
    // Every periodic packet is timed: as many as were sent, less the out-of-schedule ones.
    let sent: f64 = PAIRS
        .iter()
        .filter_map(|(p, _)| metric(&m, "bfd_control_packets_sent_total", &[("peer", p)]))
        .sum();
    let timed = metric(&m, "bfd_transmit_delay_seconds_count", &[]).context("no delays")?;
    ensure!(
        timed > 0.0 && timed <= sent,
        "{timed} timed of {sent} sent\n{m}"
    );
    ensure!(metric(&m, "bfd_transmit_late_total", &[]).is_some(), "{m}");
    for (s, d) in json.iter().zip(&details) {
        let peer = s.peer.as_str();
        let l = [("peer", peer)];
        ensure!(s.state == "up" && s.diag == "ok", "{s:?}");
        ensure!(s.id == d.summary.id && s.id != 0, "{s:?} vs {d:?}");
        ensure!(metric(&m, "bfd_session_up", &l) == Some(1.0), "{m}");
        ensure!(
            metric(&m, "bfd_session_state", &[("peer", peer), ("state", "up")]) == Some(1.0),
            "{m}"
        );
        ensure!(
            metric(
                &m,
                "bfd_session_state_changes_total",
                &[("peer", peer), ("to", "up")]
            ) == Some(d.up_count as f64),
            "{m}"
        );
        let tx = metric(&m, "bfd_control_packets_sent_total", &l).context("no tx counter")?;
        let rx = metric(&m, "bfd_control_packets_received_total", &l).context("no rx counter")?;
        ensure!(d.tx_packets > 0 && d.rx_packets > 0, "{d:?}");
        ensure!(
            tx >= d.tx_packets as f64 && rx >= d.rx_packets as f64,
            "metrics tx {tx} rx {rx} behind the earlier detail {d:?}"
        );
        let detect =
            metric(&m, "bfd_session_detection_time_seconds", &l).context("no detection")?;
        ensure!(
            Some((detect * 1e6).round() as u64) == d.detection_time_us,
            "detection {detect} s vs {:?} us",
            d.detection_time_us
        );
        if let Some(t) = &table {
            let row = t
                .lines()
                .find(|r| r.split_whitespace().any(|w| w == peer))
                .with_context(|| format!("no table row for {peer}:\n{t}"))?;
            let words: Vec<&str> = row.split_whitespace().collect();
            ensure!(words.first() == Some(&s.id.to_string().as_str()), "{row}");
            ensure!(words.contains(&"up"), "{row}");
        }
    }
    // The peer's detail as bfdctl prints it matches the socket's.
    if let Some(out) = a.bfdctl(&["peer", B_V4, "--json"]) {
        let out = out?;
        ensure!(out.status.success(), "bfdctl peer --json: {out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        ensure!(
            v["state"] == "up" && v["id"] == details[0].summary.id,
            "{v}"
        );
    }
    Ok(())
}

#[test]
fn restart_keeps_local_discriminators_from_the_state_dir() -> Result<()> {
    if !require_bfdd() {
        return Ok(());
    }
    let topo = Topology::new()?;
    let (mut a, b) = up_pair(&topo, |p| p)?;
    let ids: Vec<u32> = a.peers()?.iter().map(|p| p.id).collect();
    for ((_, pb), id) in PAIRS.iter().zip(&ids) {
        ensure!(b.peer(pb)?.remote_id == *id, "B does not address A's {id}");
    }
    ensure!(a.state_dir().join("discriminators.json").exists());

    let st = a.stop()?;
    ensure!(st.success(), "bfdd exited with {st}");
    for (_, pb) in PAIRS {
        let d = b.wait_peer_state(pb, "down", Duration::from_secs(2))?;
        ensure!(d.summary.diag == "neighbor-down", "{d:?}");
    }
    a.spawn()?;
    let again: Vec<u32> = a.peers()?.iter().map(|p| p.id).collect();
    eprintln!("MEASURED restart: discriminators before {ids:?}, after {again:?}");
    ensure!(
        again == ids,
        "discriminators changed across restart: {ids:?} -> {again:?}"
    );
    wait_all_up(&a, &b)?;
    for ((_, pb), id) in PAIRS.iter().zip(&ids) {
        ensure!(b.peer(pb)?.remote_id == *id);
    }
    Ok(())
}

#[test]
fn a_second_bfdd_in_the_namespace_refuses_to_start() -> Result<()> {
    if !require_bfdd() {
        return Ok(());
    }
    let topo = Topology::new()?;
    let (mut a, _b) = up_pair(&topo, |p| p)?;
    // Same peers, its own directory and control socket: were it to start, the peers' packets
    // would go to it alone.
    let second = Bfdd::start(&topo.a, config_a(|p| p));
    let error = match second {
        Ok(_) => bail!("a second bfdd started beside the first"),
        Err(e) => format!("{e:#}"),
    };
    ensure!(
        error.contains("cannot listen on UDP 3784") && error.contains("in use"),
        "{error}"
    );
    a.ensure_running()?;
    std::thread::sleep(Duration::from_secs(1));
    ensure!(
        a.peers()?.iter().all(|p| p.state == "up"),
        "{:?}",
        a.peers()?
    );
    Ok(())
}

#[test]
fn daemon_settings_change_on_restart_not_on_reload() -> Result<()> {
    if !require_bfdd() {
        return Ok(());
    }
    let topo = Topology::new()?;
    let mut a = Bfdd::start(&topo.a, config_a(|p| p))?;
    let frr_series = |a: &Bfdd<'_>| a.metrics().map(|m| m.contains("frr_bfd_peer_state"));
    ensure!(!frr_series(&a)?);
    let text = std::fs::read_to_string(a.config_path())?;
    // shutdown-drain is read at exit: a reload applies it at once.
    let changed = "[daemon]\nfrr-exporter-metrics = true\nshutdown-drain = \"1s\"\n";
    a.write_config_text(&text.replace("[daemon]\n", changed))?;
    for reloads in 1..=2 {
        // The answer names what waits for the restart, each time.
        match a.reload()? {
            Response::Reloaded(summary) => ensure!(
                summary.restart_needed == ["daemon.frr-exporter-metrics"],
                "reload {reloads}: {summary:?}"
            ),
            other => bail!("reload {reloads} refused: {other:?}"),
        }
        ensure!(!frr_series(&a)?, "[daemon] applied by reload {reloads}");
        let warned = a.log().matches("take effect when bfdd restarts").count();
        ensure!(
            warned == reloads,
            "{warned} warnings after {reloads} reloads"
        );
    }
    let stopping = std::time::Instant::now();
    a.stop()?;
    ensure!(
        stopping.elapsed() >= Duration::from_secs(1),
        "the drain set by the reload was not applied: stopped in {:?}",
        stopping.elapsed()
    );
    a.spawn()?;
    ensure!(frr_series(&a)?, "[daemon] not applied on restart");
    Ok(())
}

#[test]
fn sessions_come_back_when_their_interface_is_created_again() -> Result<()> {
    if !require_bfdd() {
        return Ok(());
    }
    let topo = Topology::new()?;
    let (mut a, _b) = up_pair(&topo, |p| p.interface(&topo.if_a))?;
    // The link goes, and comes back under the same name with a new index: a pod's secondary
    // interface recreated by its CNI plugin.
    topo.a.ip(&["link", "del", &topo.if_a])?;
    for (peer, _) in PAIRS {
        a.wait_peer_state(peer, "down", UP)?;
    }
    let addrs_a: Vec<&str> = topo.addrs_a.iter().map(String::as_str).collect();
    let addrs_b: Vec<&str> = topo.addrs_b.iter().map(String::as_str).collect();
    veth_pair(&topo.a, &topo.if_a, &addrs_a, &topo.b, &topo.if_b, &addrs_b)?;
    // The retry tick (5 s) gives the sessions new sockets on the new interface.
    for (peer, _) in PAIRS {
        a.wait_peer_state(peer, "up", Duration::from_secs(20))?;
    }
    ensure!(a.log().contains("interface created again"), "{}", a.log());
    a.ensure_running()?;
    Ok(())
}

/// The connected UDP sockets in `ns` (`ss`), as (local, remote) `address:port` pairs.
fn connected_sockets(ns: &Netns) -> Result<Vec<(String, String)>> {
    let out = ns.exec(&["ss", "-Hnu", "state", "established"])?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            match fields[..] {
                [.., local, remote] => Some((local.to_owned(), remote.to_owned())),
                _ => None,
            }
        })
        .collect())
}

/// The remote ends of the connected UDP sockets in `ns`.
fn connected_peers(ns: &Netns) -> Result<Vec<String>> {
    Ok(connected_sockets(ns)?.into_iter().map(|(_, r)| r).collect())
}

#[test]
fn sessions_reconnect_when_the_route_to_their_peer_returns() -> Result<()> {
    if !require_bfdd() {
        return Ok(());
    }
    let topo = Topology::new()?;
    let (mut a, _b) = up_pair(&topo, |p| p)?;
    let want = [format!("{B_V4}:3784"), format!("[{B_V6}]:3784")];
    let has_both = |c: &[String]| want.iter().all(|w| c.contains(w));
    ensure!(has_both(&connected_peers(&topo.a)?));
    // The routes to B go: sends fail, and the retry tick replaces the sockets, which cannot
    // connect without a route.
    topo.a
        .ip(&["route", "del", "198.51.100.0/24", "dev", &topo.if_a])?;
    topo.a
        .ip(&["-6", "route", "del", "2001:db8:1::/64", "dev", &topo.if_a])?;
    for (peer, _) in PAIRS {
        a.wait_peer_state(peer, "down", UP)?;
    }
    std::thread::sleep(Duration::from_secs(6));
    // Back: the sessions come Up, through connected sockets again (the batched path).
    topo.a
        .ip(&["route", "add", "198.51.100.0/24", "dev", &topo.if_a])?;
    topo.a
        .ip(&["-6", "route", "add", "2001:db8:1::/64", "dev", &topo.if_a])?;
    for (peer, _) in PAIRS {
        a.wait_peer_state(peer, "up", Duration::from_secs(20))?;
    }
    let connected = wait_until(Duration::from_secs(12), Duration::from_millis(200), || {
        connected_peers(&topo.a).is_ok_and(|c| has_both(&c))
    });
    ensure!(
        connected,
        "sockets not connected again: {:?}\n{}",
        connected_peers(&topo.a)?,
        a.log()
    );
    a.ensure_running()?;
    Ok(())
}

/// A's session to B without local-address (the kernel picks the source) is renumbered: a new
/// address comes, the old one goes. Within 15 s its socket must send from the new one.
fn renumbered_session_moves_to_the_new_address(v6: bool) -> Result<()> {
    if !require_bfdd() {
        return Ok(());
    }
    let topo = Topology::new()?;
    let (peer, old, new, len) = if v6 {
        (B_V6, A_V6, "2001:db8:1::11", 64)
    } else {
        (B_V4, A_V4, "198.51.100.11", 24)
    };
    let a = Bfdd::start(&topo.a, BfddConfig::new().peer(BfddPeer::new(peer)))?;
    let b = Bfdd::start(&topo.b, config_b(|p| p))?;
    a.wait_peer_state(peer, "up", UP)?;
    b.wait_peer_state(old, "up", UP)?;
    let bracket = |ip: &str| if v6 { format!("[{ip}]") } else { ip.to_owned() };
    let from = |local: &str| {
        connected_sockets(&topo.a).is_ok_and(|c| {
            c.iter().any(|(l, p)| {
                l.starts_with(&format!("{}:", bracket(local)))
                    && p == &format!("{}:3784", bracket(peer))
            })
        })
    };
    ensure!(from(old), "{:?}", connected_sockets(&topo.a)?);
    if !v6 {
        // The new address takes over the subnet when the old, primary one goes.
        topo.a.exec(&[
            "sysctl",
            "-qw",
            &format!("net.ipv4.conf.{}.promote_secondaries=1", topo.if_a),
        ])?;
    }
    topo.a.add_addr(&topo.if_a, &format!("{new}/{len}"))?;
    topo.a.del_addr(&topo.if_a, &format!("{old}/{len}"))?;
    let moved = wait_until(Duration::from_secs(15), Duration::from_millis(200), || {
        from(new)
    });
    ensure!(
        moved,
        "still sending from the old address: {:?}\n{}",
        connected_sockets(&topo.a)?,
        a.log()
    );
    Ok(())
}

/// IPv4 goes through the batched raw socket, which sends from the old address without a word.
#[test]
fn a_batched_session_sends_from_its_new_address_after_renumbering() -> Result<()> {
    renumbered_session_moves_to_the_new_address(false)
}

/// A connected IPv6 socket sends from a removed address without a word, and connecting it
/// again does not notice either.
#[test]
fn an_ipv6_session_sends_from_its_new_address_after_renumbering() -> Result<()> {
    renumbered_session_moves_to_the_new_address(true)
}

/// The signals bfdd is catching, from /proc (`SigCgt`).
fn caught_signals(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .context("no SigCgt")?;
    Ok(u64::from_str_radix(mask.trim(), 16)?)
}

#[test]
fn sighup_while_the_configuration_loads_is_a_reload_not_the_end() -> Result<()> {
    if !require_bfdd() {
        return Ok(());
    }
    const SIGHUP: u64 = 1 << (1 - 1);
    const SIGTERM: u64 = 1 << (15 - 1);
    let topo = Topology::new()?;
    let mut a = Bfdd::prepare(&topo.a, config_a(|p| p))?;
    // The configuration comes through a FIFO, so bfdd waits in its load for as long as the
    // test likes: a large file, or a slow disk.
    let text = std::fs::read_to_string(a.config_path())?;
    std::fs::remove_file(a.config_path())?;
    let made = std::process::Command::new("mkfifo")
        .arg(a.config_path())
        .status()?;
    ensure!(made.success(), "mkfifo failed");
    a.launch()?;
    let pid = a.pid().context("no pid")?;
    let caught = wait_until(Duration::from_secs(5), Duration::from_millis(5), || {
        caught_signals(pid).is_ok_and(|m| m & SIGHUP != 0)
    });
    ensure!(
        caught,
        "bfdd does not catch SIGHUP before it has read its configuration:\n{}",
        a.log()
    );
    // SIGTERM keeps its default action until the load is done: a load stuck on a hung file
    // system still ends with it.
    ensure!(caught_signals(pid)? & SIGTERM == 0);
    a.signal("HUP")?;
    // Until the file is written bfdd is still loading it. bfdd has the FIFO open by the time
    // the write returns; the reload reads a plain file in its place.
    std::fs::write(a.config_path(), &text)?;
    std::fs::remove_file(a.config_path())?;
    std::fs::write(a.config_path(), &text)?;
    a.wait_ready()?;
    ensure!(
        wait_until(Duration::from_secs(3), Duration::from_millis(20), || a
            .log()
            .contains("SIGHUP: reloading")),
        "the early SIGHUP was not taken for a reload:\n{}",
        a.log()
    );
    a.ensure_running()?;
    let status = a.stop()?;
    ensure!(status.success(), "{status:?}\n{}", a.log());
    Ok(())
}

#[test]
fn reload_with_a_bad_file_keeps_the_running_configuration() -> Result<()> {
    if !require_bfdd() {
        return Ok(());
    }
    let topo = Topology::new()?;
    let (mut a, b) = up_pair(&topo, |p| p)?;
    let before = a.peers()?;

    // A good file with one bad value appended: a third peer with an impossible interval.
    let good = std::fs::read_to_string(a.config_path())?;
    let mut bad = good.clone();
    bad.push_str("\n[[peer]]\naddress = \"198.51.100.77\"\ndesired-min-tx = \"5 parsecs\"\n");
    let bad_line = bad.lines().count();
    a.write_config_text(&bad)?;

    let message = match a.reload()? {
        Response::Error {
            message,
            unavailable: false,
        } => message,
        other => bail!("reload of a bad file answered {other:?}"),
    };
    eprintln!("MEASURED bad reload: answer {message:?}");
    let path = a.config_path().display().to_string();
    ensure!(
        message.contains(&format!("{path}:{bad_line}:")),
        "reload error does not name {path}:{bad_line}: {message}"
    );
    ensure!(message.contains("desired-min-tx"), "{message}");

    // SIGHUP with the same file: refused in the log, daemon still running.
    a.signal("HUP")?;
    ensure!(
        wait_until(Duration::from_secs(3), Duration::from_millis(50), || a
            .log()
            .matches("reload refused")
            .count()
            >= 2),
        "no refusal logged for SIGHUP:\n{}",
        a.log()
    );
    a.ensure_running()?;

    let after = a.peers()?;
    ensure!(after.len() == 2, "{after:?}");
    for (x, y) in before.iter().zip(&after) {
        ensure!(
            x.id == y.id && x.peer == y.peer && y.state == "up",
            "{x:?} -> {y:?}"
        );
    }
    for (pa, pb) in PAIRS {
        let d = a.peer(pa)?;
        ensure!(d.up_count == 1 && d.down_count == 0, "{d:?}");
        ensure!(b.peer(pb)?.up_count == 1);
    }
    match a.request(&bfd_control::Request::Ready)? {
        Response::Ready(r) => ensure!(r.ready && r.sessions == 2, "{r:?}"),
        other => bail!("ready: {other:?}"),
    }

    // Restoring the file and reloading changes nothing.
    a.write_config_text(&good)?;
    match a.reload()? {
        Response::Reloaded(s) => ensure!(
            s.unchanged == 2 && s.added + s.removed + s.changed == 0,
            "{s:?}"
        ),
        other => bail!("reload of the good file answered {other:?}"),
    }
    Ok(())
}

/// A reload reads and checks the file off the session thread: a large file refused for an
/// error at its end (parsed a second time to name the line: about a second in a debug build)
/// must not stop bfdd's packets meanwhile, which at 100 ms x 3 would take B's sessions down.
#[test]
fn a_refused_reload_of_a_large_file_does_not_hold_up_the_sessions() -> Result<()> {
    if !require_bfdd() {
        return Ok(());
    }
    let topo = Topology::new()?;
    let (a, b) = up_pair(&topo, |p| p.interval(100))?;
    let good = std::fs::read_to_string(a.config_path())?;
    let mut large = good.clone();
    for i in 0..10_000 {
        let _ = write!(
            large,
            "\n[[peer]]\naddress = \"198.18.{}.{}\"\nshutdown = true\n",
            i / 250,
            i % 250 + 1
        );
    }
    large.push_str(
        "\n[[route]]\ndestination = \"203.0.113.0/24\"\ngateway = \"192.0.2.77\"\nbfd = true\n",
    );
    let bad_line = large.lines().count();
    a.write_config_text(&large)?;
    for _ in 0..2 {
        let t = Instant::now();
        let message = match a.reload()? {
            Response::Error {
                message,
                unavailable: false,
            } => message,
            other => bail!("reload of a bad file answered {other:?}"),
        };
        eprintln!("MEASURED large bad reload: refused after {:?}", t.elapsed());
        ensure!(
            message.contains(&format!(":{bad_line}: route[0].bfd")),
            "{message}"
        );
    }
    for (pa, pb) in PAIRS {
        for (side, d) in [("A", a.peer(pa)?), ("B", b.peer(pb)?)] {
            ensure!(
                d.summary.state == "up" && d.up_count == 1 && d.down_count == 0,
                "{side}'s session flapped during the reload: {d:?}"
            );
        }
    }
    Ok(())
}

#[test]
fn reload_adds_a_peer_and_a_removed_peer_gets_admin_down() -> Result<()> {
    if !require_bfdd() {
        return Ok(());
    }
    let topo = Topology::new()?;
    // A's Detect Mult 10: B's detection time is 3 s, so a Down within 1 s is our AdminDown.
    let only_v4 = BfddConfig::new()
        .multiplier(10)
        .peer(BfddPeer::new(B_V4).local(A_V4));
    let mut a = Bfdd::start(&topo.a, only_v4)?;
    let b = Bfdd::start(&topo.b, config_b(|p| p))?;
    a.wait_peer_state(B_V4, "up", UP)?;
    b.wait_peer_state(A_V4, "up", UP)?;
    ensure!(b.peer(A_V6)?.summary.state != "up");

    // Add the IPv6 peer.
    a.set_config(config_a(|p| p).multiplier(10))?;
    let t = Instant::now();
    match a.reload()? {
        Response::Reloaded(s) => ensure!(
            s.added == 1 && s.unchanged == 1 && s.removed == 0 && s.changed == 0,
            "{s:?}"
        ),
        other => bail!("reload answered {other:?}"),
    }
    a.wait_peer_state(B_V6, "up", UP)?;
    b.wait_peer_state(A_V6, "up", UP)?;
    eprintln!(
        "MEASURED reload add: new session Up {:?} after the reload",
        t.elapsed()
    );

    // Remove the IPv4 peer: A says AdminDown before forgetting it.
    // B's detection time follows A's Desired Min TX: 1 s x 10 until A's first packet as Up
    // (with its Poll for 300 ms) arrives, which may still be under way right after Up.
    let mut v4_detect = None;
    let settled = wait_until(Duration::from_secs(3), Duration::from_millis(20), || {
        v4_detect = b.peer(A_V4).ok().and_then(|d| d.detection_time_us);
        v4_detect == Some(3_000_000)
    });
    ensure!(settled, "{v4_detect:?}");
    a.set_config(
        BfddConfig::new()
            .multiplier(10)
            .peer(BfddPeer::new(B_V6).local(A_V6)),
    )?;
    let t = Instant::now();
    match a.reload()? {
        Response::Reloaded(s) => ensure!(
            s.removed == 1 && s.unchanged == 1 && s.added == 0 && s.changed == 0,
            "{s:?}"
        ),
        other => bail!("reload answered {other:?}"),
    }
    let d = b.wait_peer_state(A_V4, "down", Duration::from_secs(5))?;
    let after = t.elapsed();
    eprintln!(
        "MEASURED reload remove: peer saw Down after {after:?} (its detection time 3 s): diag {} remote_state {} remote_diag {}",
        d.summary.diag, d.remote_state, d.remote_diag
    );
    ensure!(
        d.summary.diag == "neighbor-down",
        "not AdminDown-driven: {d:?}"
    );
    ensure!(d.remote_state == "admin_down", "{d:?}");
    ensure!(
        after < Duration::from_secs(1),
        "Down only after {after:?}: a timeout"
    );

    let left = a.peers()?;
    ensure!(left.len() == 1 && left[0].peer == B_V6, "{left:?}");
    let v6 = a.peer(B_V6)?;
    ensure!(v6.summary.state == "up" && v6.up_count == 1, "{v6:?}");
    ensure!(b.peer_state(A_V6)? == "up");
    let m = a.metrics()?;
    ensure!(
        metric(&m, "bfd_session_up", &[("peer", B_V4)]).is_none(),
        "{m}"
    );
    ensure!(metric(&m, "bfd_sessions", &[]) == Some(1.0), "{m}");
    // The removed session's last change is logged like any other.
    let line =
        format!("state-change: [mhop:no peer:{B_V4} local:{A_V4} interface:-] up -> admin_down (administratively-down)");
    ensure!(a.log().contains(&line), "no {line:?} in:\n{}", a.log());
    Ok(())
}

#[test]
fn rfc5880_6_1_passive_side_comes_up_with_an_active_peer() -> Result<()> {
    if !require_bfdd() {
        return Ok(());
    }
    let topo = Topology::new()?;
    let a = Bfdd::start(&topo.a, config_a(|p| p.passive(true)))?;
    // Passive: silent until the peer speaks (longer than the 1 s slow rate while Down).
    let spoke = wait_until(
        Duration::from_millis(1500),
        Duration::from_millis(100),
        || {
            PAIRS
                .iter()
                .any(|(p, _)| a.peer(p).map(|d| d.tx_packets > 0).unwrap_or(true))
        },
    );
    ensure!(!spoke, "passive session sent before hearing its peer");

    let t = Instant::now();
    let b = Bfdd::start(&topo.b, config_b(|p| p))?;
    wait_all_up(&a, &b)?;
    eprintln!(
        "MEASURED passive: Up {:?} after the active side started",
        t.elapsed()
    );
    for (p, _) in PAIRS {
        let d = a.peer(p)?;
        ensure!(d.passive && d.tx_packets > 0, "{d:?}");
    }
    Ok(())
}

/// RFC 5880 §6.8.4 times the peer's silence: a packet that arrived before the detection time
/// ran out restarts it, however late bfdd reads it. A is stopped (SIGSTOP) for three of its
/// detection times while B keeps sending; B's detection time of A is ten times longer, so B
/// stays Up. When A runs again its timer is overdue and B's packets wait in its socket: A must
/// read them first, not take B for dead. Before the fix A went Down on every resume.
#[test]
fn rfc5880_6_8_4_packets_queued_while_bfdd_was_stalled_are_not_silence() -> Result<()> {
    if !require_bfdd() {
        return Ok(());
    }
    let topo = Topology::new()?;
    // A detects B after 2 x 100 ms; B detects A after 20 x 100 ms.
    let mut a = Bfdd::start(&topo.a, config_a(|p| p.interval(100).multiplier(20)))?;
    let b = Bfdd::start(&topo.b, config_b(|p| p.interval(50).multiplier(2)))?;
    wait_all_up(&a, &b)?;
    // Up comes at the slow rate; wait for the Poll sequences to bring in the fast timers.
    for (pa, pb) in PAIRS {
        ensure!(
            wait_until(UP, Duration::from_millis(20), || {
                a.peer(pa)
                    .is_ok_and(|d| d.detection_time_us == Some(200_000))
                    && b.peer(pb)
                        .is_ok_and(|d| d.detection_time_us == Some(2_000_000))
            }),
            "detection times not 200 ms (A) and 2 s (B): {:?} / {:?}",
            a.peer(pa).map(|d| d.detection_time_us),
            b.peer(pb).map(|d| d.detection_time_us)
        );
    }
    let downs_before: Vec<u64> = PAIRS
        .iter()
        .map(|(pa, _)| a.peer(pa).map(|d| d.down_count))
        .collect::<Result<_>>()?;

    for round in 0..3 {
        // What A has received and B has sent, per pair, before this stall.
        let counts = |a: &Bfdd<'_>, b: &Bfdd<'_>| -> Result<Vec<(u64, u64)>> {
            PAIRS
                .iter()
                .map(|(pa, pb)| Ok((a.peer(pa)?.rx_packets, b.peer(pb)?.tx_packets)))
                .collect()
        };
        let start = counts(&a, &b)?;
        a.signal("STOP")?;
        std::thread::sleep(Duration::from_millis(600));
        a.signal("CONT")?;
        // A wrong Down would come as A resumes; give it the time to.
        std::thread::sleep(Duration::from_millis(300));
        for ((pa, _), down_before) in PAIRS.iter().zip(&downs_before) {
            let d = a.peer(pa)?;
            ensure!(
                d.summary.state == "up" && d.down_count == *down_before,
                "round {round}: A took {pa} for dead after a stall although it kept sending: \
                 state {}, {} -> {} times out of Up\nlog:\n{}",
                d.summary.state,
                down_before,
                d.down_count,
                a.log()
            );
        }
        // The stall's packets were read, not lost: all B sent, less what is in flight. A
        // loaded machine may take a while to let A read them.
        let read_all = |end: &[(u64, u64)]| {
            start
                .iter()
                .zip(end)
                .all(|((rx0, tx0), (rx1, tx1))| rx1 - rx0 + 2 >= tx1 - tx0)
        };
        let mut end = counts(&a, &b)?;
        let caught_up = wait_until(Duration::from_secs(3), Duration::from_millis(50), || {
            counts(&a, &b).is_ok_and(|now| {
                end = now;
                read_all(&end)
            })
        });
        ensure!(
            caught_up,
            "round {round}: A read fewer than B sent to it, (A received, B sent) before {start:?}, \
             after {end:?}"
        );
    }
    for (_, pb) in PAIRS {
        ensure!(b.peer(pb)?.down_count == 0, "B saw A go down");
    }
    Ok(())
}

/// One datagram seen by [`capture_bfd_ports`].
#[derive(Debug)]
struct Captured {
    /// The address it was sent to.
    to: String,
    /// The port it was sent to.
    port: u16,
    ttl: u8,
    source_port: u16,
}

/// Listens in `ns` on UDP 3784 and 4784 of `addrs` until `count` packets arrived on
/// `until_port` for each address (at most `secs`).
fn capture_bfd_ports(
    ns: &Netns,
    addrs: &[&str],
    (until_port, count): (u16, u32),
    secs: u32,
) -> Result<Vec<Captured>> {
    let script = r#"
import select, socket, struct, sys, time
secs, until, count, addrs = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
socks = {}
for a in addrs:
    v6 = ':' in a
    for port in (3784, 4784):
        s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
        if v6:
            s.setsockopt(socket.IPPROTO_IPV6, getattr(socket, 'IPV6_RECVHOPLIMIT', 51), 1)
        else:
            s.setsockopt(socket.IPPROTO_IP, getattr(socket, 'IP_RECVTTL', 12), 1)
        s.bind((a, port))
        socks[s] = (a, port)
seen = {a: 0 for a in addrs}
end = time.time() + secs
while time.time() < end and min(seen.values()) < count:
    r, _, _ = select.select(list(socks), [], [], max(0.0, end - time.time()))
    for s in r:
        data, anc, _, src = s.recvmsg(1500, 256)
        ttl = -1
        for level, typ, d in anc:
            ttl = struct.unpack('i', d[:4])[0]
        a, port = socks[s]
        print(a, port, ttl, src[1], flush=True)
        if port == until:
            seen[a] += 1
"#;
    let mut argv = vec![python3(), "-c", script];
    let (secs, until, count) = (secs.to_string(), until_port.to_string(), count.to_string());
    argv.push(&secs);
    argv.push(&until);
    argv.push(&count);
    argv.extend_from_slice(addrs);
    let out = ns.exec(&argv)?;
    let mut v = Vec::new();
    for line in out.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if let [a, p, t, sp] = w[..] {
            v.push(Captured {
                to: a.to_string(),
                port: p.parse()?,
                ttl: t.parse::<i32>()?.clamp(0, 255) as u8,
                source_port: sp.parse()?,
            });
        }
    }
    Ok(v)
}

/// `OutDatagrams` of `ns`'s IPv4 UDP counters: packets sent through UDP sockets, which those
/// sent through a raw socket are not.
fn udp4_out_datagrams(ns: &Netns) -> Result<u64> {
    let snmp = ns.exec(&["cat", "/proc/net/snmp"])?;
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        bail!("no Udp lines in /proc/net/snmp: {snmp}");
    };
    let at = names
        .split_whitespace()
        .position(|n| n == "OutDatagrams")
        .context("no OutDatagrams")?;
    Ok(values
        .split_whitespace()
        .nth(at)
        .context("short Udp line")?
        .parse()?)
}

/// Batched transmit (one raw socket, `sendmmsg`) must put on the wire what each session's own
/// socket would: the session's source port, the same for all its packets (RFC 5881 §4), TTL
/// 255 (§5); and sessions come up either way. The log says which way packets went.
#[test]
fn rfc5881_4_source_port_per_session_with_and_without_batched_transmit() -> Result<()> {
    if !require_bfdd() {
        return Ok(());
    }
    let topo = Topology::new()?;
    for batched in [true, false] {
        let udp_before = udp4_out_datagrams(&topo.a)?;
        let mut a = Bfdd::start(
            &topo.a,
            config_a(|p| p.interval(100)).batched_transmit(batched),
        )?;
        let got = capture_bfd_ports(&topo.b, &[B_V4, B_V6], (3784, 3), 3)?;
        let through_udp_sockets = udp4_out_datagrams(&topo.a)? - udp_before;
        eprintln!("MEASURED batched={batched}: datagrams from A: {got:?}");
        for addr in [B_V4, B_V6] {
            let ports: Vec<u16> = got
                .iter()
                .filter(|c| c.to == addr)
                .map(|c| c.source_port)
                .collect();
            ensure!(ports.len() >= 2, "batched={batched}: {addr}: {got:?}");
            ensure!(
                ports
                    .iter()
                    .all(|p| *p == ports[0] && (49152..=65535).contains(p)),
                "batched={batched}: {addr}: one source port in 49152-65535: {got:?}"
            );
        }
        ensure!(
            got.iter().all(|c| c.port == 3784 && c.ttl == 255),
            "batched={batched}: {got:?}"
        );
        // Two sessions, two ports (SHOULD be unique).
        let port_of = |addr: &str| got.iter().find(|c| c.to == addr).map(|c| c.source_port);
        ensure!(
            port_of(B_V4) != port_of(B_V6),
            "batched={batched}: the sessions share a source port: {got:?}"
        );
        // The IPv4 packets seen above went through the raw socket exactly when batched.
        ensure!(
            (through_udp_sockets == 0) == batched,
            "batched={batched}: {through_udp_sockets} IPv4 packets sent through UDP sockets"
        );
        let said = if batched {
            "batched transmit on"
        } else {
            "batched transmit off"
        };
        let b = Bfdd::start(&topo.b, config_b(|p| p.interval(100)))?;
        wait_all_up(&a, &b)?;
        ensure!(a.log().contains(said), "log lacks {said:?}: {}", a.log());
        // A sent for a while before B listened (B's ICMP port unreachables came back on A's
        // sockets when not batched): still no packet refused.
        let m = a.metrics()?;
        ensure!(
            metric(&m, "bfd_control_packets_send_errors_total", &[]) == Some(0.0),
            "batched={batched}: {m}"
        );
        drop(b);
        a.stop()?;
    }
    Ok(())
}

/// RFC 5881 §6: packets must take the path they test. The batch sender's raw socket lets the
/// kernel route by destination alone, so with a source-based rule its packets could leave by
/// another path than the session's own socket. With any rule beyond the kernel's defaults,
/// batching stays off and each session sends from its own socket, which is routed by both.
#[test]
fn rfc5881_6_no_batched_transmit_under_policy_routing_rules() -> Result<()> {
    if !require_bfdd() {
        return Ok(());
    }
    let topo = Topology::new()?;
    topo.a.ip(&[
        "rule", "add", "from", A_V4, "lookup", "main", "priority", "100",
    ])?;
    let udp_before = udp4_out_datagrams(&topo.a)?;
    let a = Bfdd::start(&topo.a, config_a(|p| p).batched_transmit(true))?;
    let b = Bfdd::start(&topo.b, config_b(|p| p))?;
    wait_all_up(&a, &b)?;
    let log = a.log();
    ensure!(
        log.contains("batched transmit off: IPv4 policy routing rules")
            && log.contains("from 198.51.100.1/32"),
        "{log}"
    );
    ensure!(
        udp4_out_datagrams(&topo.a)? > udp_before,
        "the IPv4 packets did not go through the sessions' own sockets"
    );
    Ok(())
}

/// The same for a rule added while bfdd runs: within a few seconds batching stops and the
/// sessions send from their own sockets, without a flap.
#[test]
fn rfc5881_6_batched_transmit_stops_when_a_policy_rule_appears() -> Result<()> {
    if !require_bfdd() {
        return Ok(());
    }
    let topo = Topology::new()?;
    let a = Bfdd::start(&topo.a, config_a(|p| p).batched_transmit(true))?;
    let b = Bfdd::start(&topo.b, config_b(|p| p))?;
    wait_all_up(&a, &b)?;
    ensure!(a.log().contains("batched transmit on"), "{}", a.log());
    topo.a.ip(&[
        "rule", "add", "from", A_V4, "lookup", "main", "priority", "100",
    ])?;
    let off = "batched transmit off: an IPv4 policy routing rule appeared";
    ensure!(
        wait_until(Duration::from_secs(15), Duration::from_millis(100), || a
            .log()
            .contains(off)),
        "batching still on 15 s after the rule:\n{}",
        a.log()
    );
    ensure!(a.log().contains("from 198.51.100.1/32"), "{}", a.log());
    let udp_before = udp4_out_datagrams(&topo.a)?;
    std::thread::sleep(Duration::from_secs(2));
    ensure!(
        udp4_out_datagrams(&topo.a)? > udp_before,
        "the IPv4 packets did not move to the sessions' own sockets"
    );
    for (pa, pb) in PAIRS {
        let d = a.peer(pa)?;
        ensure!(d.summary.state == "up" && d.up_count == 1, "{d:?}");
        ensure!(b.peer(pb)?.up_count == 1);
    }
    Ok(())
}

#[test]
fn rfc5883_multihop_sessions_between_two_bfdd_come_up_on_port_4784() -> Result<()> {
    if !require_bfdd() {
        return Ok(());
    }
    let topo = Topology::new()?;
    let mh = |p: BfddPeer| p.multihop(true).minimum_ttl(254);
    let a = Bfdd::start(&topo.a, config_a(mh))?;
    // Before B runs: what A sends arrives on 4784 (never 3784) with TTL 255.
    let got = capture_bfd_ports(&topo.b, &[B_V4, B_V6], (4784, 1), 4)?;
    eprintln!("MEASURED multihop: datagrams from A: {got:?}");
    for addr in [B_V4, B_V6] {
        ensure!(
            got.iter().any(|c| c.to == addr && c.port == 4784),
            "nothing on {addr}:4784: {got:?}"
        );
    }
    ensure!(
        got.iter().all(|c| c.port == 4784 && c.ttl == 255),
        "{got:?}"
    );

    let b = Bfdd::start(&topo.b, config_b(mh))?;
    let up = wait_all_up(&a, &b)?;
    eprintln!("MEASURED multihop: Up on both sides {up:?} after B started");
    for (pa, pb) in PAIRS {
        for (d, who) in [(a.peer(pa)?, "A"), (b.peer(pb)?, "B")] {
            ensure!(
                d.summary.multihop && d.summary.state == "up",
                "{who}: {d:?}"
            );
            ensure!(d.rx_errors == 0, "{who}: {d:?}");
        }
    }
    let m = a.metrics()?;
    ensure!(
        metric(&m, "bfd_packets_dropped_total", &[("reason", "hop_mode")]) == Some(0.0),
        "{m}"
    );
    Ok(())
}

/// Whether something in `ns` listens on UDP `port`.
/// Start-up binds only the listeners its peers need when one fails (here other programs hold
/// the multihop port). A reload that adds peers needing it binds it then, or, while it still
/// cannot, is refused with the reason and the running configuration kept, with no listener of
/// the refused configuration left bound (IPv4 4784 here, freed meanwhile, while IPv6 is not).
#[test]
fn reload_binds_the_listener_a_new_multihop_peer_needs() -> Result<()> {
    if !require_bfdd() {
        return Ok(());
    }
    let topo = Topology::new()?;
    let dir = TestDir::new("udp-holder")?;
    let hold = |family: &str, wildcard: &str| -> Result<Process> {
        let script = format!(
            "import socket, time\n\
             s = socket.socket(socket.{family}, socket.SOCK_DGRAM)\n\
             if s.family == socket.AF_INET6: s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)\n\
             s.bind(('{wildcard}', 4784))\n\
             time.sleep(300)\n"
        );
        Process::spawn(
            &topo.a,
            "udp-holder",
            &[python3(), "-c", &script],
            dir.path(),
        )
    };
    let mut holder_v4 = hold("AF_INET", "0.0.0.0")?;
    let mut holder_v6 = hold("AF_INET6", "::")?;
    let holders_bound = || -> Result<usize> {
        let out = topo.a.exec(&["ss", "-Hulnp", "sport = :4784"])?;
        Ok(out.lines().filter(|l| l.contains("python")).count())
    };
    ensure!(
        wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
            holders_bound().is_ok_and(|n| n == 2)
        }),
        "the holders never bound 4784"
    );
    let bfdd_on_4784 = || -> Result<String> {
        let out = topo.a.exec(&["ss", "-Hulnp", "sport = :4784"])?;
        Ok(out.lines().filter(|l| l.contains("bfdd")).collect())
    };
    let (a, _b) = up_pair(&topo, |p| p)?;
    holder_v4.terminate(Duration::from_secs(2))?;
    let mut text = std::fs::read_to_string(a.config_path())?;
    text.push_str(&format!(
        "\n[[peer]]\naddress = \"{B_V4}\"\nlocal-address = \"{A_V4}\"\nmultihop = true\n\
         \n[[peer]]\naddress = \"{B_V6}\"\nlocal-address = \"{A_V6}\"\nmultihop = true\n"
    ));
    a.write_config_text(&text)?;
    let message = match a.reload()? {
        Response::Error {
            message,
            unavailable: false,
        } => message,
        other => bail!("reload while 4784 is taken answered {other:?}"),
    };
    ensure!(
        message.contains("cannot listen on UDP 4784 (IPv6)") && message.contains(B_V6),
        "{message}"
    );
    ensure!(a.peers()?.len() == 2, "running configuration kept");
    let left = bfdd_on_4784()?;
    ensure!(left.is_empty(), "the refused reload left bound: {left}");

    holder_v6.terminate(Duration::from_secs(2))?;
    match a.reload()? {
        Response::Reloaded(s) => ensure!(s.added == 2 && s.unchanged == 2, "{s:?}"),
        other => bail!("reload after 4784 was freed answered {other:?}"),
    }
    let listening = bfdd_on_4784()?;
    ensure!(listening.matches("bfdd").count() == 2, "{listening}");
    Ok(())
}

/// A readiness probe killed on its timeout vanishes mid-conversation: before writing, after
/// writing, or before reading the answer. None of that may kill bfdd (SIGPIPE) or stall its
/// driver; the next client is answered at once and sessions keep running.
#[test]
fn control_socket_survives_clients_that_vanish_mid_answer() -> Result<()> {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    if !require_bfdd() {
        return Ok(());
    }
    let topo = Topology::new()?;
    let (mut a, _b) = up_pair(&topo, |p| p)?;
    let socket = a.socket_path();
    for round in 0..50 {
        let mut s = UnixStream::connect(&socket).context("connect")?;
        match round % 4 {
            // Connects and leaves without a word.
            0 => drop(s),
            // Sends the request and leaves before the answer (the daemon then writes into a
            // closed socket: EPIPE, not SIGPIPE).
            1 => {
                s.write_all(b"{\"request\":\"peers\"}\n")?;
                drop(s);
            }
            // Half a request.
            2 => {
                s.write_all(b"{\"request\":\"pe")?;
                drop(s);
            }
            // Reads one byte of the answer and leaves.
            _ => {
                s.write_all(b"{\"request\":\"peers\"}\n")?;
                let mut byte = [0u8; 1];
                s.read_exact(&mut byte)?;
                drop(s);
            }
        }
    }
    a.ensure_running()?;
    let started = Instant::now();
    let peers = a.peers()?;
    let took = started.elapsed();
    eprintln!("MEASURED control answer after 50 vanished clients: {took:?}");
    ensure!(
        took < Duration::from_secs(1),
        "the driver stalled: {took:?}"
    );
    ensure!(peers.iter().all(|p| p.state == "up"), "{peers:?}");
    Ok(())
}

/// One thread of a process: its id, and the scheduling policy and real-time priority
/// `/proc/PID/task/TID/stat` reports (fields 41 and 40; SCHED_FIFO is 1, SCHED_OTHER 0).
#[derive(Debug)]
struct ThreadScheduling {
    tid: u32,
    policy: u32,
    rt_priority: u32,
}

fn thread_scheduling(pid: u32) -> Result<Vec<ThreadScheduling>> {
    let mut threads = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let tid: u32 = entry?.file_name().to_string_lossy().parse()?;
        let stat = match std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")) {
            Ok(stat) => stat,
            // The thread ended since the directory was read.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        // Fields from the 3rd on follow the name in parentheses, which may hold spaces.
        let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let field = |n: usize| -> Result<u32> {
            Ok(fields
                .get(n - 3)
                .with_context(|| format!("stat of thread {tid}: {stat}"))?
                .parse()?)
        };
        threads.push(ThreadScheduling {
            tid,
            policy: field(41)?,
            rt_priority: field(40)?,
        });
    }
    Ok(threads)
}

/// `[daemon] realtime-priority`: the thread that runs the sessions (the main thread) goes on
/// SCHED_FIFO at that priority and no other thread does; without CAP_SYS_NICE bfdd says so
/// and runs every thread at normal priority, sessions Up all the same.
#[test]
fn realtime_priority_puts_only_the_session_thread_on_sched_fifo() -> Result<()> {
    if !require_bfdd() || !require_tools(&["setpriv", "prlimit"]) || !require_realtime_scheduling()
    {
        return Ok(());
    }
    let topo = Topology::new()?;
    let b = Bfdd::start(&topo.b, config_b(|p| p.interval(100)))?;
    let config = config_a(|p| p.interval(100)).realtime_priority(10);
    let mut a = Bfdd::start(&topo.a, config.clone())?;
    wait_all_up(&a, &b)?;
    let pid = a.pid().context("bfdd A has no pid")?;
    // Reloads by SIGHUP and by bfdctl read the file on threads that must not inherit the
    // session thread's SCHED_FIFO.
    a.signal("HUP")?;
    a.reload()?;
    ensure!(
        wait_until(Duration::from_secs(5), Duration::from_millis(50), || a
            .log()
            .matches("configuration reloaded")
            .count()
            >= 2),
        "reloads not logged:\n{}",
        a.log()
    );
    let threads = thread_scheduling(pid)?;
    eprintln!("MEASURED with CAP_SYS_NICE: {threads:?}");
    ensure!(threads.len() > 1, "{threads:?}");
    for t in &threads {
        let expected = if t.tid == pid { (1, 10) } else { (0, 0) };
        ensure!(
            (t.policy, t.rt_priority) == expected,
            "thread {} (main: {pid}): policy {} priority {}, expected {expected:?}",
            t.tid,
            t.policy,
            t.rt_priority
        );
    }
    let said = "sessions run at real-time priority (SCHED_FIFO)";
    ensure!(a.log().contains(said), "log lacks {said:?}: {}", a.log());
    drop(a);

    // No CAP_SYS_NICE, and no RLIMIT_RTPRIO allowance either, which would stand in for it.
    let mut a = Bfdd::prepare(&topo.a, config)?;
    a.set_launcher(&[
        "setpriv",
        "--inh-caps=-sys_nice",
        "--bounding-set=-sys_nice",
        "--",
        "prlimit",
        "--rtprio=0",
    ]);
    a.spawn()?;
    wait_all_up(&a, &b)?;
    let pid = a.pid().context("bfdd A has no pid")?;
    let threads = thread_scheduling(pid)?;
    eprintln!("MEASURED without CAP_SYS_NICE: {threads:?}");
    ensure!(
        threads.iter().all(|t| (t.policy, t.rt_priority) == (0, 0)),
        "{threads:?}"
    );
    let said = "cannot run sessions at real-time priority (needs CAP_SYS_NICE";
    ensure!(a.log().contains(said), "log lacks {said:?}: {}", a.log());
    Ok(())
}
