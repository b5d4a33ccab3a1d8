//! The route installer on a real kernel, in network namespaces.
//!
//! Part 1 needs no daemon: the netlink backend and the route manager run *inside* namespace A.
//! A test process cannot move a tokio task into another namespace, so the outer test re-runs
//! this test binary under `ip netns exec A` with [`INNER_ENV`] set, filtered to one `inner_*`
//! test, and checks its exit status and its closing marker. Without the variable the `inner_*`
//! tests return at once (they would otherwise touch the host's routing table).
//!
//! Part 2 runs the bfdd binary in A with BFD peers (bfdd) in B and C, and watches
//! `ip -j route show proto 199` in A while the peers stop and start, routes are deleted by
//! hand, and A restarts with another configuration.
//!
//! Topology ([`RouteTopology`]): A–B on 198.51.100.0/24 and 2001:db8:1::/64, A–C on
//! 192.0.2.0/24 and 2001:db8:2::/64. Route destinations (the "node subnets") are
//! 203.0.113.0/24, 198.18.x.0/24 and 2001:db8:1xx::/64: test ranges only.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use bfdd_integration::{
    metric, require_bfdd, require_root_or_skip, require_tool, route_gateways, route_statuses,
    shown_routes, sorted, start_bfdd_with_routes, wait_until, write_routes_config, Bfdd,
    BfddConfig, BfddPeer, Netns, RouteTopology, RoutesToml, TestDir, Topology, A_C_V4, A_C_V6,
    A_V4, A_V6, B_V4, B_V6, C_V4, C_V6,
};
use bfdd_lib::config::{RouteConfig, RoutesConfig};
use bfdd_lib::routes::{
    is_exists, spawn_netlink, KernelRoute, NetlinkBackend, Notice, RouteBackend, SlotFile,
};

/// Set (to the inner test's name) by the outer test for the run inside the namespace.
const INNER_ENV: &str = "BFDD_ROUTES_INNER";
/// Printed by an inner test that ran to the end: a filter that matched nothing also exits 0.
const INNER_DONE: &str = "ROUTES-INNER-DONE";
const PROTO: u8 = 199;
const MAIN: u32 = 254;

// =============================================================================================
// Part 1: backend and manager inside a namespace

/// Runs `inner` (an `inner_*` test of this binary) inside `ns`; returns its output.
fn run_inner(ns: &Netns, inner: &str) -> Result<String> {
    let exe = std::env::current_exe().context("locating the test binary")?;
    let out = ns
        .command(&exe.display().to_string())
        .args([inner, "--exact", "--nocapture", "--test-threads=1"])
        .env(INNER_ENV, inner)
        .output()
        .with_context(|| format!("running {inner} in {}", ns.name()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "----- {inner} in {} -----\n{text}----- end of {inner} -----",
        ns.name()
    );
    ensure!(out.status.success(), "{inner} failed ({})", out.status);
    ensure!(
        text.contains(INNER_DONE),
        "{inner} did not run to the end (filtered out?)"
    );
    Ok(text)
}

/// True when this is the run inside the namespace for `name`. Refuses to go on in the host's
/// own network namespace, whatever the environment says.
fn inner_enabled(name: &str) -> bool {
    if std::env::var(INNER_ENV).ok().as_deref() != Some(name) {
        return false;
    }
    let own = std::fs::read_link("/proc/self/ns/net").ok();
    let init = std::fs::read_link("/proc/1/ns/net").ok();
    assert!(
        own.is_some() && own != init,
        "{INNER_ENV} set but this process runs in the host's network namespace: refusing"
    );
    true
}

/// `ip args...` in the current namespace (the inner run's).
fn ip(args: &[&str]) -> Result<String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip")?;
    ensure!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ip -j -4/-6 route show table T [proto P]` in the current namespace: destination → sorted
/// gateways.
fn here_routes(table: u32, proto: Option<&str>) -> Result<BTreeMap<String, Vec<String>>> {
    let mut out = BTreeMap::new();
    for family in ["-4", "-6"] {
        let t = table.to_string();
        let mut args = vec!["-j", family, "route", "show", "table", &t];
        if let Some(p) = proto {
            args.extend(["proto", p]);
        }
        let text = match ip(&args) {
            Ok(t) => t,
            // A table that holds nothing of one family does not exist for it.
            Err(e) if e.to_string().contains("table does not exist") => continue,
            Err(e) => return Err(e),
        };
        let v: serde_json::Value = serde_json::from_str(&text)?;
        for r in v.as_array().into_iter().flatten() {
            let mut gws: Vec<String> = r["gateway"]
                .as_str()
                .map(String::from)
                .into_iter()
                .collect();
            for nh in r["nexthops"].as_array().into_iter().flatten() {
                gws.extend(nh["gateway"].as_str().map(String::from));
            }
            gws.sort();
            out.insert(r["dst"].as_str().unwrap_or_default().to_string(), gws);
        }
    }
    Ok(out)
}

fn ours_here(dst: &str) -> Result<Option<Vec<String>>> {
    Ok(here_routes(MAIN, Some("199"))?.remove(dst))
}

fn kr(dst: &str, table: u32, gws: &[&str]) -> Result<KernelRoute> {
    let gws = gws
        .iter()
        .map(|g| {
            g.parse::<IpAddr>()
                .with_context(|| format!("bad address {g}"))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(KernelRoute::new(
        dst.parse().map_err(|e| anyhow::anyhow!("{dst}: {e}"))?,
        table,
        PROTO,
        gws,
    ))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Polls `f` (async-aware: sleeps on the runtime) until true or `timeout`; returns the time
/// it took.
async fn eventually(timeout: Duration, mut f: impl FnMut() -> Result<bool>) -> Result<Duration> {
    let start = Instant::now();
    loop {
        if f()? {
            return Ok(start.elapsed());
        }
        if start.elapsed() > timeout {
            bail!("condition not met within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[test]
fn netlink_backend_on_a_real_kernel() -> Result<()> {
    if !require_root_or_skip() || !require_tool("ip") {
        return Ok(());
    }
    let topo = RouteTopology::new()?;
    run_inner(topo.a(), "inner_netlink_backend")?;
    Ok(())
}

/// Inside A: replace/add/delete/list, ECMP, IPv6, protocol and table filtering, errors and
/// notifications, each checked against `ip -j route`.
#[test]
fn inner_netlink_backend() -> Result<()> {
    if !inner_enabled("inner_netlink_backend") {
        return Ok(());
    }
    runtime()?.block_on(backend_checks())?;
    println!("{INNER_DONE}");
    Ok(())
}

async fn backend_checks() -> Result<()> {
    let be = NetlinkBackend::new()?;
    ensure!(
        be.list(MAIN, PROTO).await?.is_empty(),
        "no routes of ours yet"
    );

    // IPv4: single gateway, then ECMP, then back to one.
    let v4 = "203.0.113.0/24";
    let single = kr(v4, MAIN, &[B_V4])?;
    be.add(&single).await?;
    ensure!(ours_here(v4)? == Some(sorted(&[B_V4])));
    ensure!(be.list(MAIN, PROTO).await? == vec![single.clone()]);
    let e = be
        .add(&single)
        .await
        .err()
        .context("a second exclusive add must fail")?;
    ensure!(is_exists(&e), "exclusive add on a taken slot: {e}");
    be.replace(&single).await.context("replace is idempotent")?;
    let ecmp = kr(v4, MAIN, &[B_V4, C_V4])?;
    be.replace(&ecmp).await?;
    ensure!(
        ours_here(v4)? == Some(sorted(&[B_V4, C_V4])),
        "{:?}",
        ours_here(v4)?
    );
    ensure!(be.list(MAIN, PROTO).await? == vec![ecmp.clone()]);
    let shrunk = kr(v4, MAIN, &[C_V4])?;
    be.replace(&shrunk).await?;
    ensure!(ours_here(v4)? == Some(sorted(&[C_V4])));

    // IPv6 the same.
    let v6 = "2001:db8:100::/64";
    be.add(&kr(v6, MAIN, &[B_V6])?).await?;
    ensure!(ours_here(v6)? == Some(sorted(&[B_V6])));
    let ecmp6 = kr(v6, MAIN, &[B_V6, C_V6])?;
    be.replace(&ecmp6).await?;
    ensure!(
        ours_here(v6)? == Some(sorted(&[B_V6, C_V6])),
        "{:?}",
        ours_here(v6)?
    );
    let listed = be.list(MAIN, PROTO).await?;
    ensure!(listed == vec![shrunk.clone(), ecmp6.clone()], "{listed:?}");
    let shrunk6 = kr(v6, MAIN, &[B_V6])?;
    be.replace(&shrunk6).await?;
    ensure!(
        ours_here(v6)? == Some(sorted(&[B_V6])),
        "{:?}",
        ours_here(v6)?
    );
    be.replace(&ecmp6).await?;
    ensure!(ours_here(v6)? == Some(sorted(&[B_V6, C_V6])));

    // Foreign routes: other protocols in our table, our protocol in another table.
    ip(&[
        "route",
        "add",
        "198.18.5.0/24",
        "via",
        B_V4,
        "proto",
        "static",
    ])?;
    ip(&["route", "add", "198.18.6.0/24", "via", B_V4, "proto", "200"])?;
    ip(&[
        "route", "add", v4, "via", B_V4, "table", "100", "proto", "199",
    ])?;
    ip(&[
        "-6",
        "route",
        "add",
        "2001:db8:200::/64",
        "via",
        B_V6,
        "proto",
        "static",
    ])?;
    let listed = be.list(MAIN, PROTO).await?;
    ensure!(listed == vec![shrunk.clone(), ecmp6.clone()], "{listed:?}");
    ensure!(be.list(100, PROTO).await? == vec![kr(v4, 100, &[B_V4])?]);
    ensure!(
        be.list(4242, PROTO).await?.is_empty(),
        "a missing table lists empty"
    );

    // A slot held by a foreign route: exclusive add refuses, delete leaves it alone.
    for (dst, gw) in [("198.18.5.0/24", C_V4), ("2001:db8:200::/64", C_V6)] {
        let e = be
            .add(&kr(dst, MAIN, &[gw])?)
            .await
            .err()
            .context("foreign slot")?;
        ensure!(is_exists(&e), "{dst}: {e}");
        be.delete(&kr(dst, MAIN, &[])?).await?;
    }
    let all = here_routes(MAIN, None)?;
    ensure!(
        all.get("198.18.5.0/24") == Some(&sorted(&[B_V4])),
        "{all:?}"
    );
    ensure!(
        all.get("198.18.6.0/24") == Some(&sorted(&[B_V4])),
        "{all:?}"
    );
    ensure!(
        all.get("2001:db8:200::/64") == Some(&sorted(&[B_V6])),
        "{all:?}"
    );

    // Delete ours; deleting again is fine; the table-100 twin stays.
    be.delete(&shrunk).await?;
    be.delete(&shrunk)
        .await
        .context("deleting a missing route is success")?;
    ensure!(ours_here(v4)?.is_none());
    ensure!(here_routes(100, Some("199"))?.get(v4) == Some(&sorted(&[B_V4])));

    // Table ids above 255 travel in RTA_TABLE.
    let big = kr("198.18.7.0/24", 70000, &[B_V4])?;
    be.replace(&big).await?;
    ensure!(here_routes(70000, Some("199"))?.get("198.18.7.0/24") == Some(&sorted(&[B_V4])));
    ensure!(be.list(70000, PROTO).await? == vec![big.clone()]);
    be.delete(&big).await?;
    ensure!(be.list(70000, PROTO).await?.is_empty());

    // Kernel errors come back as errors with the errno.
    let e = be
        .replace(&kr("198.18.8.0/24", MAIN, &["203.0.113.77"])?)
        .await
        .err()
        .context("unreachable IPv4 gateway must fail")?;
    println!("unreachable IPv4 gateway: {e}");
    ensure!(e.raw_os_error().is_some(), "{e}");
    let e = be
        .replace(&kr("2001:db8:108::/64", MAIN, &["2001:db8:99::1"])?)
        .await
        .err()
        .context("unreachable IPv6 gateway must fail")?;
    println!("unreachable IPv6 gateway: {e}");

    // Notifications: a deleted route of ours, a link going down.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let tasks = bfdd_lib::routes::spawn_listener(move |n| tx.send(n).is_ok())?;
    tokio::time::sleep(Duration::from_millis(50)).await;
    ip(&["-6", "route", "del", v6, "proto", "199"])?;
    let deleted = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(n) = rx.recv().await {
            if let Notice::Route {
                route,
                deleted: true,
            } = &n
            {
                if route.protocol == PROTO && route.destination.to_string() == v6 {
                    return Some(n);
                }
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    ensure!(deleted.is_some(), "no RTM_DELROUTE notice for {v6}");
    ip(&["route", "add", "198.18.9.0/24", "via", C_V4, "proto", "199"])?;
    ip(&["link", "set", "eth1", "down"])?;
    let link_down = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(n) = rx.recv().await {
            if matches!(n, Notice::Link { up: false, .. }) {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    ensure!(link_down, "no link-down notice");
    // The kernel flushes IPv4 routes of a downed link without a route notification: the
    // reason the manager listens to link events.
    ensure!(
        ours_here("198.18.9.0/24")?.is_none(),
        "flushed with its link"
    );
    ip(&["link", "set", "eth1", "up"])?;
    for t in tasks {
        t.abort();
    }
    Ok(())
}

#[test]
fn netlink_manager_on_a_real_kernel() -> Result<()> {
    if !require_root_or_skip() || !require_tool("ip") {
        return Ok(());
    }
    let topo = RouteTopology::new()?;
    let out = run_inner(topo.a(), "inner_netlink_manager")?;
    if let Some(line) = out.lines().find(|l| l.starts_with("withdraw latency")) {
        eprintln!("{line}");
    }
    Ok(())
}

fn route_config(routes: &[(&str, &str, bool)]) -> Result<RoutesConfig> {
    let routes = routes
        .iter()
        .map(|(d, g, bfd)| {
            Ok(RouteConfig {
                destination: d.parse().map_err(|e| anyhow::anyhow!("{d}: {e}"))?,
                gateway: g.parse()?,
                bfd: *bfd,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RoutesConfig {
        table: MAIN,
        protocol: PROTO,
        keep_on_exit: false,
        routes,
    })
}

/// Inside A: the manager with the real backend and listener. Start-up cleanup, ECMP following
/// sessions, withdraw latency over many cycles, repair after `ip route del` and a link flap,
/// withdrawal at shutdown.
#[test]
fn inner_netlink_manager() -> Result<()> {
    if !inner_enabled("inner_netlink_manager") {
        return Ok(());
    }
    runtime()?.block_on(manager_checks())?;
    println!("{INNER_DONE}");
    Ok(())
}

async fn manager_checks() -> Result<()> {
    let v4 = "203.0.113.0/24";
    let v6 = "2001:db8:100::/64";
    // Left over from "an earlier run", and foreign routes that must survive everything.
    ip(&["route", "add", "198.18.2.0/24", "via", B_V4, "proto", "199"])?;
    ip(&[
        "route", "add", v4, "via", B_V4, "table", "100", "proto", "static",
    ])?;
    ip(&[
        "route",
        "add",
        "198.18.9.0/24",
        "via",
        B_V4,
        "proto",
        "static",
    ])?;
    let config = route_config(&[
        (v4, B_V4, true),
        (v4, C_V4, true),
        (v6, B_V6, true),
        (v6, C_V6, true),
        ("198.18.1.0/24", B_V4, false),
        ("198.18.3.0/24", C_V4, false),
        ("2001:db8:103::/64", C_V6, false),
    ])?;
    let state_dir = TestDir::new("routes-state")?;
    let h = spawn_netlink(config, SlotFile::in_dir(state_dir.path()))?;
    eventually(Duration::from_secs(2), || {
        let r = here_routes(MAIN, Some("199"))?;
        Ok(r.len() == 3
            && r.get("198.18.1.0/24") == Some(&sorted(&[B_V4]))
            && r.get("198.18.3.0/24") == Some(&sorted(&[C_V4]))
            && r.get("2001:db8:103::/64") == Some(&sorted(&[C_V6])))
    })
    .await
    .context("start: stale route removed, bfd = false routes installed")?;

    let now = Instant::now;
    for gw in [B_V4, C_V4, B_V6, C_V6] {
        h.session_changed(gw.parse()?, true, now());
    }
    let _ = h.status().await;
    ensure!(
        ours_here(v4)? == Some(sorted(&[B_V4, C_V4])),
        "{:?}",
        ours_here(v4)?
    );
    ensure!(
        ours_here(v6)? == Some(sorted(&[B_V6, C_V6])),
        "{:?}",
        ours_here(v6)?
    );

    // Withdraw latency: Down event timestamp to netlink ack, many times, both families.
    const CYCLES: usize = 200;
    for i in 0..CYCLES {
        let gw: IpAddr = if i % 2 == 0 { B_V4 } else { C_V6 }.parse()?;
        h.session_changed(gw, false, now());
        let _ = h.status().await;
        if i == 0 {
            ensure!(
                ours_here(v4)? == Some(sorted(&[C_V4])),
                "{:?}",
                ours_here(v4)?
            );
        }
        if i == 1 {
            ensure!(
                ours_here(v6)? == Some(sorted(&[B_V6])),
                "{:?}",
                ours_here(v6)?
            );
        }
        h.session_changed(gw, true, now());
        let _ = h.status().await;
    }
    let m = h.metrics().await;
    let l = &m.withdraw_latency;
    println!(
        "withdraw latency (real kernel, {} samples): last {:?} us, p50 {:?} us, p99 {:?} us, max {:?} us",
        l.count, l.last_us, l.p50_us, l.p99_us, l.max_us
    );
    // Measured, not asserted: the figure is a benchmark's (docs/performance.md), and this
    // machine is shared.
    ensure!(l.count == CYCLES as u64, "{l:?}");

    // All sessions to one family down: withdrawn; the route status says why.
    h.session_changed(B_V6.parse()?, false, now());
    h.session_changed(C_V6.parse()?, false, now());
    let status = h.status().await;
    ensure!(ours_here(v6)?.is_none());
    let s6 = status
        .iter()
        .find(|s| s.destination == v6)
        .context("status for v6")?;
    ensure!(!s6.installed && s6.reason.is_some(), "{s6:?}");
    h.session_changed(B_V6.parse()?, true, now());
    h.session_changed(C_V6.parse()?, true, now());

    // Interference: deleted by hand, back quickly (route notification).
    ip(&["route", "del", v4, "proto", "199"])?;
    let took = eventually(Duration::from_secs(1), || {
        Ok(ours_here(v4)? == Some(sorted(&[B_V4, C_V4])))
    })
    .await
    .context("route deleted by hand comes back")?;
    println!("restored after `ip route del` in {took:?}");
    ip(&["-6", "route", "del", v6, "proto", "199"])?;
    eventually(Duration::from_secs(1), || {
        Ok(ours_here(v6)? == Some(sorted(&[B_V6, C_V6])))
    })
    .await
    .context("IPv6 route deleted by hand comes back")?;

    // A link flap flushes the routes through it; they come back once it is up. (IPv6 would
    // also drop the link's addresses, making the gateway unreachable for good: keep them, as
    // a node's network configuration would put them back.)
    std::fs::write("/proc/sys/net/ipv6/conf/eth1/keep_addr_on_down", "1")
        .context("setting keep_addr_on_down in the namespace")?;
    ip(&["link", "set", "eth1", "down"])?;
    eventually(Duration::from_secs(2), || {
        Ok(ours_here("198.18.3.0/24")?.is_none())
    })
    .await
    .context("flushed with the link")?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    ip(&["link", "set", "eth1", "up"])?;
    let took = eventually(Duration::from_secs(3), || {
        let r = here_routes(MAIN, Some("199"))?;
        Ok(r.get("198.18.3.0/24") == Some(&sorted(&[C_V4]))
            && r.get("2001:db8:103::/64") == Some(&sorted(&[C_V6]))
            && r.get(v4) == Some(&sorted(&[B_V4, C_V4]))
            && r.get(v6) == Some(&sorted(&[B_V6, C_V6])))
    })
    .await;
    if took.is_err() {
        println!("kernel: {:?}", here_routes(MAIN, Some("199"))?);
        println!("status: {:?}", h.status().await);
    }
    let took = took.context("routes back after the link came up")?;
    println!("restored after link up in {took:?}");

    let m = h.metrics().await;
    ensure!(m.installed == 5, "{m:?}");
    println!("operations: {:?}", m.operations);

    // Shutdown with withdrawal: ours gone, the foreign ones untouched.
    h.shutdown(true).await;
    ensure!(here_routes(MAIN, Some("199"))?.is_empty());
    ensure!(here_routes(100, None)?.get(v4) == Some(&sorted(&[B_V4])));
    ensure!(here_routes(MAIN, None)?.get("198.18.9.0/24") == Some(&sorted(&[B_V4])));
    Ok(())
}

// =============================================================================================
// Part 2: the daemon (bfdd in A, bfdd peers in B and C)

const UP: Duration = Duration::from_secs(10);
/// Session changes reach the routes within this (detection time is 3 x 100 ms).
const FOLLOW: Duration = Duration::from_secs(2);

fn fast(p: BfddPeer) -> BfddPeer {
    p.interval(100).multiplier(3)
}

/// A's peers: B and C over IPv4 and IPv6.
fn config_a() -> BfddConfig {
    BfddConfig::new()
        .peer(fast(BfddPeer::new(B_V4).local(A_V4)))
        .peer(fast(BfddPeer::new(B_V6).local(A_V6)))
        .peer(fast(BfddPeer::new(C_V4).local(A_C_V4)))
        .peer(fast(BfddPeer::new(C_V6).local(A_C_V6)))
}

fn config_b() -> BfddConfig {
    BfddConfig::new()
        .peer(fast(BfddPeer::new(A_V4).local(B_V4)))
        .peer(fast(BfddPeer::new(A_V6).local(B_V6)))
}

fn config_c() -> BfddConfig {
    BfddConfig::new()
        .peer(fast(BfddPeer::new(A_C_V4).local(C_V4)))
        .peer(fast(BfddPeer::new(A_C_V6).local(C_V6)))
}

const V4: &str = "203.0.113.0/24";
const V6: &str = "2001:db8:100::/64";
const STATIC_V4: &str = "198.18.1.0/24";

fn routes_a() -> RoutesToml {
    RoutesToml::new()
        .route(V4, B_V4, true)
        .route(V4, C_V4, true)
        .route(V6, B_V6, true)
        .route(V6, C_V6, true)
        .route(STATIC_V4, B_V4, false)
}

/// Waits until A's route to `dst` (ours, main table) has exactly `gws` (empty: no route).
fn wait_gateways(ns: &Netns, dst: &str, gws: &[&str], timeout: Duration) -> Result<Duration> {
    let want = (!gws.is_empty()).then(|| sorted(gws));
    let start = Instant::now();
    let mut last = None;
    let ok = wait_until(timeout, Duration::from_millis(10), || {
        last = route_gateways(ns, MAIN, PROTO, dst).ok();
        last.as_ref() == Some(&want)
    });
    if !ok {
        bail!("{dst}: wanted gateways {want:?} within {timeout:?}, have {last:?}");
    }
    Ok(start.elapsed())
}

fn wait_peers_up(bfdd: &Bfdd<'_>, peers: &[&str]) -> Result<()> {
    for p in peers {
        bfdd.wait_peer_state(p, "up", UP)?;
    }
    Ok(())
}

#[test]
fn daemon_routes_follow_sessions_and_survive_interference() -> Result<()> {
    if !require_bfdd() {
        return Ok(());
    }
    let topo = RouteTopology::new()?;
    let a_ns = topo.a();
    // Foreign routes: same prefix in another table, another protocol in the main table.
    a_ns.ip(&[
        "route", "add", V4, "via", B_V4, "table", "100", "proto", "static",
    ])?;
    a_ns.ip(&[
        "route",
        "add",
        "198.18.9.0/24",
        "via",
        B_V4,
        "proto",
        "static",
    ])?;

    let mut b = Bfdd::start(topo.b(), config_b())?;
    let mut c = Bfdd::start(&topo.c, config_c())?;
    let mut a = start_bfdd_with_routes(a_ns, config_a(), &routes_a())?;
    wait_gateways(a_ns, STATIC_V4, &[B_V4], FOLLOW).context("bfd = false route at start")?;
    wait_peers_up(&a, &[B_V4, B_V6, C_V4, C_V6])?;
    wait_gateways(a_ns, V4, &[B_V4, C_V4], FOLLOW)?;
    wait_gateways(a_ns, V6, &[B_V6, C_V6], FOLLOW)?;

    let status = route_statuses(&a)?;
    ensure!(status.len() == 3, "{status:?}");
    ensure!(
        status.iter().all(|s| s.installed && s.reason.is_none()),
        "{status:?}"
    );
    ensure!(
        status.iter().all(|s| s.nexthops.iter().all(|n| n.active)),
        "{status:?}"
    );
    let metrics = a.metrics()?;
    ensure!(
        metric(&metrics, "bfd_routes_installed", &[]) == Some(3.0),
        "bfd_routes_installed:\n{metrics}"
    );

    // C stops (AdminDown): its nexthops leave both ECMP routes; they return with it.
    c.stop()?;
    let t4 = wait_gateways(a_ns, V4, &[B_V4], FOLLOW)?;
    let t6 = wait_gateways(a_ns, V6, &[B_V6], FOLLOW)?;
    println!("C stopped: IPv4 nexthop gone after {t4:?}, IPv6 after {t6:?} (polling)");
    // The daemon's own figure (event timestamp to netlink ack), if it exports one.
    for line in a.metrics()?.lines() {
        if line.starts_with("bfd_route_withdraw") {
            println!("{line}");
        }
    }
    let status = route_statuses(&a)?;
    let s4 = status
        .iter()
        .find(|s| s.destination == V4)
        .context("status V4")?;
    ensure!(s4.installed, "{s4:?}");
    ensure!(
        s4.nexthops.iter().all(|n| n.active == (n.gateway == B_V4)),
        "{s4:?}"
    );
    c.spawn()?;
    wait_peers_up(&a, &[C_V4, C_V6])?;
    wait_gateways(a_ns, V4, &[B_V4, C_V4], FOLLOW)?;
    wait_gateways(a_ns, V6, &[B_V6, C_V6], FOLLOW)?;

    // B stops: only C left; the bfd = false route via B stays.
    b.stop()?;
    wait_gateways(a_ns, V4, &[C_V4], FOLLOW)?;
    wait_gateways(a_ns, V6, &[C_V6], FOLLOW)?;
    ensure!(route_gateways(a_ns, MAIN, PROTO, STATIC_V4)? == Some(sorted(&[B_V4])));
    // Both stop: withdrawn, and bfdctl routes says why.
    c.stop()?;
    wait_gateways(a_ns, V4, &[], FOLLOW)?;
    wait_gateways(a_ns, V6, &[], FOLLOW)?;
    let status = route_statuses(&a)?;
    let s4 = status
        .iter()
        .find(|s| s.destination == V4)
        .context("status V4")?;
    ensure!(!s4.installed && s4.reason.is_some(), "{s4:?}");
    b.spawn()?;
    c.spawn()?;
    wait_peers_up(&a, &[B_V4, B_V6, C_V4, C_V6])?;
    wait_gateways(a_ns, V4, &[B_V4, C_V4], FOLLOW)?;
    wait_gateways(a_ns, V6, &[B_V6, C_V6], FOLLOW)?;

    // Deleted by hand: back within 1 s.
    a_ns.ip(&["route", "del", V4, "proto", "199"])?;
    let t = wait_gateways(a_ns, V4, &[B_V4, C_V4], Duration::from_secs(1))
        .context("route deleted by hand")?;
    println!("IPv4 route back {t:?} after `ip route del`");
    a_ns.ip(&["-6", "route", "del", V6, "proto", "199"])?;
    wait_gateways(a_ns, V6, &[B_V6, C_V6], Duration::from_secs(1))
        .context("IPv6 route deleted by hand")?;

    // Reload without C's routes: C is no longer a gateway, its nexthops go although its
    // sessions stay Up. Reload with them back (and one more via C): C's sessions are Up, so
    // the routes come back at once, with no session event to announce it.
    let b_only = RoutesToml::new()
        .route(V4, B_V4, true)
        .route(V6, B_V6, true)
        .route(STATIC_V4, B_V4, false);
    write_routes_config(&a, &config_a(), &b_only)?;
    ensure!(matches!(a.reload()?, bfd_control::Response::Reloaded(_)));
    wait_gateways(a_ns, V4, &[B_V4], FOLLOW).context("C's routes dropped by reload")?;
    wait_gateways(a_ns, V6, &[B_V6], FOLLOW)?;
    let more = routes_a().route("198.18.7.0/24", C_V4, true);
    write_routes_config(&a, &config_a(), &more)?;
    ensure!(matches!(a.reload()?, bfd_control::Response::Reloaded(_)));
    wait_gateways(a_ns, V4, &[B_V4, C_V4], FOLLOW).context("C back as a gateway")?;
    wait_gateways(a_ns, V6, &[B_V6, C_V6], FOLLOW)?;
    wait_gateways(a_ns, "198.18.7.0/24", &[C_V4], FOLLOW).context("new route via Up C")?;

    // SIGTERM: our routes are withdrawn (keep-on-exit = false); foreign ones stay.
    a.stop()?;
    let ours = shown_routes(a_ns, MAIN, Some(PROTO))?;
    ensure!(ours.is_empty(), "left after exit: {ours:?}");
    ensure!(route_gateways(a_ns, 100, 4, V4)? == Some(sorted(&[B_V4])));
    ensure!(route_gateways(a_ns, MAIN, 4, "198.18.9.0/24")? == Some(sorted(&[B_V4])));
    Ok(())
}

/// `shutdown-drain`: on SIGTERM, AdminDown goes out at once and keeps going out, and the
/// routes, BFD-tracked ones too, stay until the drain ends; then they go and bfdd exits. A
/// peer that acts on AdminDown late (OVN batches its status writes) keeps a way back meanwhile.
#[test]
fn daemon_shutdown_drain_keeps_routes_while_admin_down_goes_out() -> Result<()> {
    if !require_bfdd() {
        return Ok(());
    }
    let topo = Topology::new()?;
    let a_ns = &topo.a;
    let b = Bfdd::start(
        &topo.b,
        BfddConfig::new().peer(fast(BfddPeer::new(A_V4).local(B_V4))),
    )?;
    let config = BfddConfig::new()
        .peer(fast(BfddPeer::new(B_V4).local(A_V4)))
        .shutdown_drain(3_000);
    let routes =
        RoutesToml::new()
            .route("198.18.3.0/24", B_V4, true)
            .route("198.18.1.0/24", B_V4, false);
    let mut a = start_bfdd_with_routes(a_ns, config, &routes)?;
    wait_peers_up(&a, &[B_V4])?;
    wait_gateways(a_ns, "198.18.3.0/24", &[B_V4], FOLLOW)?;

    a.signal("TERM")?;
    let signalled = Instant::now();
    b.wait_peer_state(A_V4, "down", Duration::from_secs(1))
        .context("B never heard AdminDown")?;
    let heard = b.peer(A_V4)?.rx_packets;
    std::thread::sleep(Duration::from_millis(1_500));
    ensure!(
        signalled.elapsed() < Duration::from_millis(2_500),
        "the machine stalled; the drain may be over"
    );
    a.ensure_running()
        .context("bfdd exited before its drain ended")?;
    // Not ready while it drains, and saying why (it still answers: the driver does not).
    match a.request(&bfd_control::Request::Ready)? {
        bfd_control::Response::Ready(r) => ensure!(
            !r.ready && r.problem.as_deref().is_some_and(|p| p.contains("stopping")),
            "{r:?}"
        ),
        other => bail!("ready during the drain answered {other:?}"),
    }
    for dst in ["198.18.3.0/24", "198.18.1.0/24"] {
        ensure!(
            route_gateways(a_ns, MAIN, PROTO, dst)? == Some(sorted(&[B_V4])),
            "{dst} withdrawn during the drain"
        );
    }
    let more = b.peer(A_V4)?.rx_packets;
    ensure!(
        more > heard,
        "no AdminDown during the drain ({heard} packets, then {more})"
    );
    let status = a
        .wait_exit(Duration::from_secs(5))
        .context("bfdd did not exit after its drain")?;
    ensure!(status.success(), "{status}");
    ensure!(
        signalled.elapsed() >= Duration::from_secs(3),
        "drain cut short"
    );
    let ours = shown_routes(a_ns, MAIN, Some(PROTO))?;
    ensure!(ours.is_empty(), "left after exit: {ours:?}");

    // A second SIGTERM ends the drain: the routes go and bfdd exits at once.
    a.spawn()?;
    wait_peers_up(&a, &[B_V4])?;
    wait_gateways(a_ns, "198.18.3.0/24", &[B_V4], FOLLOW)?;
    a.signal("TERM")?;
    let signalled = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    a.signal("TERM")?;
    let status = a
        .wait_exit(Duration::from_secs(5))
        .context("bfdd did not exit on the second SIGTERM")?;
    ensure!(status.success(), "{status}");
    ensure!(
        signalled.elapsed() < Duration::from_millis(2_500),
        "the second SIGTERM did not end the 3 s drain ({:?})",
        signalled.elapsed()
    );
    let ours = shown_routes(a_ns, MAIN, Some(PROTO))?;
    ensure!(ours.is_empty(), "left after exit: {ours:?}");
    Ok(())
}

#[test]
fn daemon_restart_and_reload_remove_stale_routes() -> Result<()> {
    if !require_bfdd() {
        return Ok(());
    }
    let topo = Topology::new()?;
    let a_ns = &topo.a;
    let config = BfddConfig::new().peer(fast(BfddPeer::new(B_V4).local(A_V4)));
    let _b = Bfdd::start(
        &topo.b,
        BfddConfig::new().peer(fast(BfddPeer::new(A_V4).local(B_V4))),
    )?;
    let two = RoutesToml::new()
        .keep_on_exit(true)
        .route("198.18.1.0/24", B_V4, false)
        .route("198.18.2.0/24", B_V4, false)
        .route("198.18.3.0/24", B_V4, true)
        .route("2001:db8:101::/64", B_V6, false);
    let mut a = start_bfdd_with_routes(a_ns, config.clone(), &two)?;
    wait_gateways(a_ns, "198.18.1.0/24", &[B_V4], FOLLOW)?;
    wait_gateways(a_ns, "198.18.2.0/24", &[B_V4], FOLLOW)?;
    wait_gateways(a_ns, "2001:db8:101::/64", &[B_V6], FOLLOW)?;
    wait_peers_up(&a, &[B_V4])?;
    wait_gateways(a_ns, "198.18.3.0/24", &[B_V4], FOLLOW)?;

    // keep-on-exit = true: the routes stay after SIGTERM, a BFD-tracked one too (the
    // AdminDown bfdd sends as it stops is not its gateway failing).
    a.stop()?;
    ensure!(route_gateways(a_ns, MAIN, PROTO, "198.18.2.0/24")?.is_some());
    ensure!(route_gateways(a_ns, MAIN, PROTO, "198.18.3.0/24")? == Some(sorted(&[B_V4])));
    ensure!(route_gateways(a_ns, MAIN, PROTO, "2001:db8:101::/64")?.is_some());

    // Restart without 198.18.2.0/24, 198.18.3.0/24 and the IPv6 route: the stale routes go
    // at start.
    let one = RoutesToml::new().route("198.18.1.0/24", B_V4, false);
    write_routes_config(&a, &config, &one)?;
    a.spawn()?;
    wait_gateways(a_ns, "198.18.2.0/24", &[], FOLLOW).context("stale IPv4 route at start")?;
    wait_gateways(a_ns, "198.18.3.0/24", &[], FOLLOW).context("stale BFD route at start")?;
    wait_gateways(a_ns, "2001:db8:101::/64", &[], FOLLOW).context("stale IPv6 route at start")?;
    ensure!(route_gateways(a_ns, MAIN, PROTO, "198.18.1.0/24")? == Some(sorted(&[B_V4])));

    // Reload: a new route appears, a dropped one goes.
    let reloaded = RoutesToml::new().route("198.18.4.0/24", B_V4, false);
    write_routes_config(&a, &config, &reloaded)?;
    let answer = a.reload()?;
    ensure!(
        matches!(answer, bfd_control::Response::Reloaded(_)),
        "{answer:?}"
    );
    wait_gateways(a_ns, "198.18.4.0/24", &[B_V4], FOLLOW)?;
    wait_gateways(a_ns, "198.18.1.0/24", &[], FOLLOW)?;

    a.stop()?;
    ensure!(shown_routes(a_ns, MAIN, Some(PROTO))?.is_empty());
    Ok(())
}
