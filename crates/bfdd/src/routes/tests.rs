//! The manager's logic against [`FakeBackend`], on tokio's paused clock: ECMP shrink and
//! grow, withdrawal, reconciliation, interference, errors and shutdown, in milliseconds.

use std::net::IpAddr;
use std::time::Duration;

use nix::errno::Errno;

use super::*;
use crate::config::{Prefix, RouteConfig, RoutesConfig};

const TABLE: u32 = 254;
const PROTO: u8 = 199;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn p(s: &str) -> Prefix {
    s.parse().unwrap()
}

fn config(routes: &[(&str, &str, bool)]) -> RoutesConfig {
    RoutesConfig {
        table: TABLE,
        protocol: PROTO,
        keep_on_exit: false,
        routes: routes
            .iter()
            .map(|(d, g, bfd)| RouteConfig {
                destination: p(d),
                gateway: ip(g),
                bfd: *bfd,
            })
            .collect(),
    }
}

fn ours(dst: &str, gws: &[&str]) -> KernelRoute {
    KernelRoute::new(p(dst), TABLE, PROTO, gws.iter().map(|g| ip(g)).collect())
}

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// The fake's nexthops for `dst` in our table, `None` without a route.
fn nexthops(fake: &FakeBackend, dst: &str) -> Option<Vec<IpAddr>> {
    fake.route(p(dst), TABLE).map(|r| r.nexthops)
}

fn ips(v: &[&str]) -> Option<Vec<IpAddr>> {
    let mut out: Vec<IpAddr> = v.iter().map(|s| ip(s)).collect();
    out.sort_unstable();
    Some(out)
}

const ECMP: &[(&str, &str, bool)] = &[
    ("203.0.113.0/24", "198.51.100.2", true),
    ("203.0.113.0/24", "192.0.2.2", true),
];

/// A barrier: the manager answers only after handling everything sent before.
async fn settle(h: &RouteHandle) {
    let _ = h.status().await;
}

/// A manager over an empty fake table, with `routes` configured and the sessions to `up` Up.
async fn running(routes: &[(&str, &str, bool)], up: &[&str]) -> (FakeBackend, RouteHandle) {
    let fake = FakeBackend::new();
    let h = spawn(config(routes), fake.clone());
    for gateway in up {
        h.session_changed(ip(gateway), true, now());
    }
    settle(&h).await;
    (fake, h)
}

#[tokio::test(start_paused = true)]
async fn ecmp_shrinks_and_grows_with_sessions() {
    let fake = FakeBackend::new();
    let h = spawn(config(ECMP), fake.clone());
    settle(&h).await;
    assert_eq!(nexthops(&fake, "203.0.113.0/24"), None, "no session Up yet");

    h.session_changed(ip("198.51.100.2"), true, now());
    settle(&h).await;
    assert_eq!(nexthops(&fake, "203.0.113.0/24"), ips(&["198.51.100.2"]));

    h.session_changed(ip("192.0.2.2"), true, now());
    settle(&h).await;
    assert_eq!(
        nexthops(&fake, "203.0.113.0/24"),
        ips(&["198.51.100.2", "192.0.2.2"])
    );

    h.session_changed(ip("198.51.100.2"), false, now());
    settle(&h).await;
    assert_eq!(nexthops(&fake, "203.0.113.0/24"), ips(&["192.0.2.2"]));

    h.session_changed(ip("198.51.100.2"), true, now());
    settle(&h).await;
    assert_eq!(
        nexthops(&fake, "203.0.113.0/24"),
        ips(&["198.51.100.2", "192.0.2.2"])
    );
    let status = h.status().await;
    assert_eq!(status.len(), 1);
    assert!(status[0].installed);
    assert!(status[0].nexthops.iter().all(|n| n.active && n.bfd));
    assert_eq!(status[0].reason, None);
}

#[tokio::test(start_paused = true)]
async fn route_withdrawn_when_no_gateway_up() {
    let fake = FakeBackend::new();
    let h = spawn(config(ECMP), fake.clone());
    h.session_changed(ip("198.51.100.2"), true, now());
    h.session_changed(ip("192.0.2.2"), true, now());
    settle(&h).await;
    assert!(nexthops(&fake, "203.0.113.0/24").is_some());

    h.session_changed(ip("198.51.100.2"), false, now());
    h.session_changed(ip("192.0.2.2"), false, now());
    settle(&h).await;
    assert_eq!(nexthops(&fake, "203.0.113.0/24"), None);
    let status = h.status().await;
    assert!(!status[0].installed);
    assert!(status[0].nexthops.iter().all(|n| !n.active));
    let reason = status[0].reason.clone().unwrap();
    assert!(reason.contains("not Up"), "{reason}");
    let m = h.metrics().await;
    assert_eq!(m.installed, 0);
    assert!(m.operations.contains(&("delete", "ok", 1)), "{m:?}");
    assert_eq!(m.withdraw_latency.count, 1, "one withdrawal for the batch");
}

#[tokio::test(start_paused = true)]
async fn non_bfd_gateway_always_present() {
    let fake = FakeBackend::new();
    let h = spawn(
        config(&[
            ("198.18.1.0/24", "198.51.100.2", false),
            ("198.18.1.0/24", "192.0.2.2", true),
        ]),
        fake.clone(),
    );
    settle(&h).await;
    assert_eq!(nexthops(&fake, "198.18.1.0/24"), ips(&["198.51.100.2"]));
    h.session_changed(ip("192.0.2.2"), true, now());
    settle(&h).await;
    assert_eq!(
        nexthops(&fake, "198.18.1.0/24"),
        ips(&["198.51.100.2", "192.0.2.2"])
    );
    // A session to a bfd = false gateway changes nothing.
    h.session_changed(ip("198.51.100.2"), false, now());
    h.session_changed(ip("192.0.2.2"), false, now());
    settle(&h).await;
    assert_eq!(nexthops(&fake, "198.18.1.0/24"), ips(&["198.51.100.2"]));
}

#[tokio::test(start_paused = true)]
async fn start_removes_stale_own_routes_and_leaves_foreign_ones() {
    let fake = FakeBackend::new();
    // Ours, no longer configured.
    fake.insert(ours("198.18.2.0/24", &["198.51.100.9"]));
    // Ours, configured but with an outdated gateway set.
    fake.insert(ours("198.18.1.0/24", &["198.51.100.9"]));
    // Foreign: another protocol in our table, and our protocol in another table.
    let static_route = KernelRoute::new(p("198.18.3.0/24"), TABLE, 4, vec![ip("198.51.100.7")]);
    let other_table = KernelRoute::new(p("198.18.2.0/24"), 100, PROTO, vec![ip("198.51.100.7")]);
    fake.insert(static_route.clone());
    fake.insert(other_table.clone());

    let h = spawn(
        config(&[("198.18.1.0/24", "198.51.100.2", false)]),
        fake.clone(),
    );
    settle(&h).await;
    assert_eq!(
        fake.routes(),
        vec![
            ours("198.18.1.0/24", &["198.51.100.2"]),
            other_table,
            static_route,
        ]
    );
    // Stale ones are not reported: bfdctl routes shows configured destinations.
    assert_eq!(h.status().await.len(), 1);
}

/// A manager for the static route `198.18.1.0/24 via 198.51.100.2`, whose slot another
/// protocol's route (returned) holds.
fn foreign_in_the_slot() -> (FakeBackend, KernelRoute, RouteHandle) {
    let fake = FakeBackend::new();
    let foreign = KernelRoute::new(p("198.18.1.0/24"), TABLE, 4, vec![ip("198.51.100.7")]);
    fake.insert(foreign.clone());
    let h = spawn(
        config(&[("198.18.1.0/24", "198.51.100.2", false)]),
        fake.clone(),
    );
    (fake, foreign, h)
}

#[tokio::test(start_paused = true)]
async fn foreign_route_in_the_slot_is_not_overwritten() {
    let (fake, foreign, h) = foreign_in_the_slot();
    settle(&h).await;
    assert_eq!(fake.route(p("198.18.1.0/24"), TABLE), Some(foreign.clone()));
    let status = h.status().await;
    assert!(!status[0].installed);
    let reason = status[0].reason.clone().unwrap();
    assert!(reason.contains("not ours"), "{reason}");

    // Retried with backoff; once the foreign route is gone, ours goes in.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(fake.route(p("198.18.1.0/24"), TABLE), Some(foreign));
    fake.remove(p("198.18.1.0/24"), TABLE);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(nexthops(&fake, "198.18.1.0/24"), ips(&["198.51.100.2"]));
    // Withdrawing never deletes a foreign route either.
    let foreign_elsewhere =
        KernelRoute::new(p("198.18.9.0/24"), TABLE, 4, vec![ip("198.51.100.7")]);
    fake.insert(foreign_elsewhere.clone());
    h.shutdown(true).await;
    assert_eq!(fake.routes(), vec![foreign_elsewhere]);
}

/// Once the foreign route is deleted, ours goes in at once, not when a backoff grown to
/// 30 s runs out.
#[tokio::test(start_paused = true)]
async fn foreign_route_leaving_the_slot_lets_ours_in_at_once() {
    let (fake, foreign, h) = foreign_in_the_slot();
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(fake.route(p("198.18.1.0/24"), TABLE), Some(foreign.clone()));
    fake.remove(p("198.18.1.0/24"), TABLE);
    h.notice(Notice::Route {
        route: foreign,
        deleted: true,
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(nexthops(&fake, "198.18.1.0/24"), ips(&["198.51.100.2"]));
}

#[tokio::test(start_paused = true)]
async fn foreign_replacement_of_our_route_is_not_overwritten_later() {
    let (fake, h) = running(ECMP, &["198.51.100.2"]).await;
    assert_eq!(nexthops(&fake, "203.0.113.0/24"), ips(&["198.51.100.2"]));
    // An operator's `ip route replace` (protocol boot) takes the slot.
    let foreign = KernelRoute::new(p("203.0.113.0/24"), TABLE, 3, vec![ip("198.51.100.7")]);
    fake.insert(foreign.clone());
    h.notice(Notice::Route {
        route: foreign.clone(),
        deleted: false,
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    // A session change for the destination must not replace the operator's route.
    h.session_changed(ip("192.0.2.2"), true, now());
    settle(&h).await;
    assert_eq!(fake.route(p("203.0.113.0/24"), TABLE), Some(foreign));
    let reason = h.status().await[0].reason.clone().unwrap();
    assert!(reason.contains("not ours"), "{reason}");
}

#[tokio::test(start_paused = true)]
async fn lost_notifications_and_removed_addresses_check_our_routes() {
    let fake = FakeBackend::new();
    let h = spawn(
        config(&[("198.18.1.0/24", "198.51.100.2", false)]),
        fake.clone(),
    );
    settle(&h).await;
    // Flushed by the kernel, its notification lost with others in a full buffer.
    fake.remove(p("198.18.1.0/24"), TABLE);
    h.notice(Notice::Lost);
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(nexthops(&fake, "198.18.1.0/24"), ips(&["198.51.100.2"]));
    // Flushed, silently, with the address of the gateway's subnet (`ip addr del; ip addr add`).
    fake.remove(p("198.18.1.0/24"), TABLE);
    h.notice(Notice::Address {
        index: 2,
        added: false,
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(nexthops(&fake, "198.18.1.0/24"), ips(&["198.51.100.2"]));
}

/// A manager with one static route, keeping its table and protocol in `file`, settled after
/// its start.
async fn start_with_slot_file(fake: &FakeBackend, file: &SlotFile) -> RouteHandle {
    let options = ManagerOptions {
        slot_file: Some(file.clone()),
        ..ManagerOptions::default()
    };
    let h = spawn_with(
        config(&[("198.18.1.0/24", "198.51.100.2", false)]),
        fake.clone(),
        options,
    );
    settle(&h).await;
    h
}

/// The recorded table and protocol come from a file, not the config: one the config would
/// refuse (the kernel's protocol, another daemon's, table 0) is not cleaned up, or a damaged
/// or planted `routes.json` would have bfdd delete routes that are not its own.
#[tokio::test(start_paused = true)]
async fn a_recorded_slot_the_config_would_refuse_is_left_alone() {
    for (table, protocol) in [(254, 2), (254, 11), (0, 200)] {
        let dir = std::env::temp_dir().join(format!(
            "bfdd-routes-bad-slot-{}-{table}-{protocol}",
            std::process::id()
        ));
        let file = SlotFile::in_dir(&dir);
        file.write(Slot { table, protocol }).expect("write");
        let fake = FakeBackend::new();
        let theirs = KernelRoute::new(p("198.18.9.0/24"), table, protocol, vec![]);
        fake.insert(theirs.clone());
        let _h = start_with_slot_file(&fake, &file).await;
        assert_eq!(
            fake.route(p("198.18.9.0/24"), table),
            Some(theirs),
            "table {table} protocol {protocol}"
        );
        assert_eq!(
            file.read(),
            Some(Slot {
                table: TABLE,
                protocol: PROTO
            }),
            "our own recorded instead"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A restart with another table or protocol configured (keep-on-exit, or after a crash)
/// removes the routes left under the old ones: nothing would ever list them again.
#[tokio::test(start_paused = true)]
async fn routes_left_under_a_previous_table_and_protocol_are_removed_at_start() {
    let dir = std::env::temp_dir().join(format!("bfdd-routes-slot-{}", std::process::id()));
    let file = SlotFile::in_dir(&dir);
    file.write(Slot {
        table: 100,
        protocol: 200,
    })
    .expect("write");
    let fake = FakeBackend::new();
    fake.insert(KernelRoute::new(
        p("198.18.9.0/24"),
        100,
        200,
        vec![ip("198.51.100.2")],
    ));
    let foreign = KernelRoute::new(p("198.18.8.0/24"), 100, 4, vec![ip("198.51.100.7")]);
    fake.insert(foreign.clone());
    let h = start_with_slot_file(&fake, &file).await;
    assert_eq!(
        fake.route(p("198.18.9.0/24"), 100),
        None,
        "left by the last run"
    );
    assert_eq!(
        fake.route(p("198.18.8.0/24"), 100),
        Some(foreign),
        "not ours"
    );
    assert_eq!(nexthops(&fake, "198.18.1.0/24"), ips(&["198.51.100.2"]));
    assert_eq!(
        file.read(),
        Some(Slot {
            table: TABLE,
            protocol: PROTO
        })
    );
    // A reload that moves the routes records where they went...
    let mut moved = config(&[("198.18.1.0/24", "198.51.100.2", false)]);
    moved.table = 101;
    h.reconfigure(moved.clone(), vec![], now());
    settle(&h).await;
    assert_eq!(
        file.read(),
        Some(Slot {
            table: 101,
            protocol: PROTO
        })
    );
    // ...unless a route under the old ones stays: then the next start is to remove it.
    fake.fail_delete(p("198.18.1.0/24"), Some(Errno::EPERM));
    moved.table = 102;
    h.reconfigure(moved, vec![], now());
    settle(&h).await;
    assert!(fake.route(p("198.18.1.0/24"), 101).is_some());
    assert_eq!(
        file.read(),
        Some(Slot {
            table: 101,
            protocol: PROTO
        })
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(start_paused = true)]
async fn stale_knowledge_of_our_route_is_replaced_not_refused() {
    let fake = FakeBackend::new();
    let h = spawn(config(ECMP), fake.clone());
    settle(&h).await;
    // Someone (a previous instance) put our route in after the manager's dump.
    fake.insert(ours("203.0.113.0/24", &["198.51.100.9"]));
    h.session_changed(ip("192.0.2.2"), true, now());
    settle(&h).await;
    assert_eq!(nexthops(&fake, "203.0.113.0/24"), ips(&["192.0.2.2"]));
    assert!(h.status().await[0].reason.is_none());
}

#[tokio::test(start_paused = true)]
async fn external_deletion_is_restored() {
    let fake = FakeBackend::new();
    let h = spawn(
        config(&[
            ("198.18.1.0/24", "198.51.100.2", false),
            ("2001:db8:100::/64", "2001:db8:1::2", false),
        ]),
        fake.clone(),
    );
    settle(&h).await;
    assert!(nexthops(&fake, "198.18.1.0/24").is_some());

    // With a notification: back after the debounce.
    let gone = fake.remove(p("198.18.1.0/24"), TABLE).unwrap();
    h.notice(Notice::Route {
        route: gone,
        deleted: true,
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(nexthops(&fake, "198.18.1.0/24"), ips(&["198.51.100.2"]));

    // Without one (IPv4 routes flushed with their link): the periodic check.
    fake.remove(p("2001:db8:100::/64"), TABLE);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(nexthops(&fake, "2001:db8:100::/64"), None);
    tokio::time::sleep(RECONCILE_INTERVAL).await;
    assert_eq!(
        nexthops(&fake, "2001:db8:100::/64"),
        ips(&["2001:db8:1::2"])
    );

    // Notifications about foreign routes or our own withdrawals cost nothing.
    fake.clear_ops();
    h.notice(Notice::Route {
        route: KernelRoute::new(p("198.18.1.0/24"), TABLE, 4, vec![]),
        deleted: true,
    });
    h.notice(Notice::Route {
        route: ours("198.18.1.0/24", &["198.51.100.2"]),
        deleted: false,
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fake.ops(), vec![]);
    // A changed route of ours is corrected.
    fake.insert(ours("198.18.1.0/24", &["198.51.100.66"]));
    h.notice(Notice::Route {
        route: ours("198.18.1.0/24", &["198.51.100.66"]),
        deleted: false,
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(nexthops(&fake, "198.18.1.0/24"), ips(&["198.51.100.2"]));
}

#[tokio::test(start_paused = true)]
async fn kernel_error_retried_with_backoff_other_routes_unaffected() {
    let fake = FakeBackend::new();
    fake.fail(p("198.18.1.0/24"), Some(Errno::ENETUNREACH));
    let h = spawn(
        config(&[
            ("198.18.1.0/24", "198.51.100.2", false),
            ("198.18.2.0/24", "198.51.100.2", false),
        ]),
        fake.clone(),
    );
    settle(&h).await;
    assert_eq!(nexthops(&fake, "198.18.2.0/24"), ips(&["198.51.100.2"]));
    assert_eq!(nexthops(&fake, "198.18.1.0/24"), None);
    let status = h.status().await;
    let reason = status[0].reason.clone().unwrap();
    assert!(reason.contains("unreachable"), "{reason}");
    assert!(!status[0].installed);
    assert!(status[1].installed);

    // Attempts at 0, 100, 300, 700, 1500 ms: five within 1.6 s, not one per loop turn.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let attempts = |fake: &FakeBackend| {
        fake.ops()
            .iter()
            .filter(|op| matches!(op, FakeOp::Add(r) | FakeOp::Replace(r) if r.destination == p("198.18.1.0/24")))
            .count()
    };
    assert_eq!(attempts(&fake), 5);

    fake.fail(p("198.18.1.0/24"), None);
    tokio::time::sleep(Duration::from_millis(1700)).await;
    assert_eq!(nexthops(&fake, "198.18.1.0/24"), ips(&["198.51.100.2"]));
    assert!(h.status().await[0].reason.is_none());
    let m = h.metrics().await;
    assert_eq!(m.installed, 2);
    assert!(m.operations.contains(&("add", "error", 5)), "{m:?}");
}

#[tokio::test(start_paused = true)]
async fn dead_bfd_gateway_leaves_even_when_the_rest_cannot_be_installed() {
    // The static gateway's link is down: the kernel refuses any route naming it, so the
    // route cannot shrink to it. The BFD gateway that went Down must stop carrying traffic
    // all the same.
    let (fake, h) = running(
        &[
            ("198.18.1.0/24", "198.51.100.2", false),
            ("198.18.1.0/24", "192.0.2.2", true),
        ],
        &["192.0.2.2"],
    )
    .await;
    assert_eq!(
        nexthops(&fake, "198.18.1.0/24"),
        ips(&["198.51.100.2", "192.0.2.2"])
    );
    fake.fail(p("198.18.1.0/24"), Some(Errno::ENETUNREACH));
    h.session_changed(ip("192.0.2.2"), false, now());
    settle(&h).await;
    assert_eq!(nexthops(&fake, "198.18.1.0/24"), None);
    let status = h.status().await;
    assert!(!status[0].installed);
    assert!(status[0].reason.is_some());

    // The static gateway's link comes back: the retry installs the route through it.
    fake.fail(p("198.18.1.0/24"), None);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(nexthops(&fake, "198.18.1.0/24"), ips(&["198.51.100.2"]));
}

#[tokio::test(start_paused = true)]
async fn reload_making_a_gateway_static_keeps_its_route_in_place() {
    let (fake, h) = running(
        &[("198.18.1.0/24", "198.51.100.2", true)],
        &["198.51.100.2"],
    )
    .await;
    assert_eq!(nexthops(&fake, "198.18.1.0/24"), ips(&["198.51.100.2"]));
    // The reload stops tracking the gateway (no longer `bfd = true`): the driver reports it
    // unusable along with the new configuration, which keeps the route.
    reload_keeps_the_route(&fake, &h, false, false).await;
}

/// Reloads with `198.18.1.0/24 via 198.51.100.2` made `bfd` and the gateway reported `up`
/// by the reload; the route must stay, never deleted on the way.
async fn reload_keeps_the_route(fake: &FakeBackend, h: &RouteHandle, bfd: bool, up: bool) {
    fake.clear_ops();
    h.reconfigure(
        config(&[("198.18.1.0/24", "198.51.100.2", bfd)]),
        vec![(ip("198.51.100.2"), up)],
        now(),
    );
    settle(h).await;
    assert_eq!(nexthops(fake, "198.18.1.0/24"), ips(&["198.51.100.2"]));
    assert!(
        !fake.ops().iter().any(|op| matches!(op, FakeOp::Delete(_))),
        "the route never left: {:?}",
        fake.ops()
    );
}

/// The reverse: a static route's gateway, its session Up, becomes `bfd = true`. The route
/// must stay: withdrawn until the gateway's Up was taken in, traffic would have nowhere to go.
#[tokio::test(start_paused = true)]
async fn reload_tracking_an_up_gateway_keeps_its_route_in_place() {
    let (fake, h) = running(&[("198.18.1.0/24", "198.51.100.2", false)], &[]).await;
    assert_eq!(nexthops(&fake, "198.18.1.0/24"), ips(&["198.51.100.2"]));
    reload_keeps_the_route(&fake, &h, true, true).await;
    // And one whose session is Down goes.
    h.reconfigure(
        config(&[("198.18.1.0/24", "198.51.100.2", false)]),
        vec![],
        now(),
    );
    h.reconfigure(
        config(&[("198.18.1.0/24", "198.51.100.2", true)]),
        vec![(ip("198.51.100.2"), false)],
        now(),
    );
    settle(&h).await;
    assert_eq!(nexthops(&fake, "198.18.1.0/24"), None);
}

/// A reload's gateway change waits on the command lane while the manager serves newer
/// session changes first: it must not undo them (a peer whose key changed comes Up again on
/// its inherited discriminator before the manager gets to the reload that removed it).
#[tokio::test(start_paused = true)]
async fn a_reload_change_older_than_a_session_change_does_not_undo_it() {
    let (fake, h) = running(
        &[("198.18.1.0/24", "198.51.100.2", true)],
        &["198.51.100.2"],
    )
    .await;
    h.reconfigure(
        config(&[("198.18.1.0/24", "198.51.100.2", true)]),
        vec![(ip("198.51.100.2"), false)],
        now(),
    );
    h.session_changed(ip("198.51.100.2"), true, now());
    settle(&h).await;
    assert_eq!(nexthops(&fake, "198.18.1.0/24"), ips(&["198.51.100.2"]));
}

#[tokio::test(start_paused = true)]
async fn link_up_retries_at_once() {
    let fake = FakeBackend::new();
    fake.fail(p("198.18.1.0/24"), Some(Errno::ENETUNREACH));
    let h = spawn(
        config(&[("198.18.1.0/24", "198.51.100.2", false)]),
        fake.clone(),
    );
    // Backoff grows to 12.8 s.
    tokio::time::sleep(Duration::from_secs(20)).await;
    fake.fail(p("198.18.1.0/24"), None);
    h.notice(Notice::Link { index: 2, up: true });
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(nexthops(&fake, "198.18.1.0/24"), ips(&["198.51.100.2"]));
}

#[tokio::test(start_paused = true)]
async fn failing_list_is_retried_and_routes_still_follow_sessions() {
    let fake = FakeBackend::new();
    fake.fail_list(Some(Errno::ENOBUFS));
    let h = spawn(config(ECMP), fake.clone());
    h.session_changed(ip("192.0.2.2"), true, now());
    settle(&h).await;
    assert_eq!(nexthops(&fake, "203.0.113.0/24"), ips(&["192.0.2.2"]));
    fake.fail_list(None);
    fake.insert(ours("198.18.7.0/24", &["192.0.2.9"]));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        nexthops(&fake, "198.18.7.0/24"),
        None,
        "stale route removed"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_withdraws_unless_kept() {
    for withdraw in [true, false] {
        let fake = FakeBackend::new();
        let h = spawn(
            config(&[("198.18.1.0/24", "198.51.100.2", false)]),
            fake.clone(),
        );
        settle(&h).await;
        h.clone().shutdown(withdraw).await;
        assert_eq!(nexthops(&fake, "198.18.1.0/24").is_none(), withdraw);
        // The task is gone: the handle answers with nothing.
        assert!(h.status().await.is_empty());
        h.session_changed(ip("198.51.100.2"), false, now());
    }
}

#[tokio::test(start_paused = true)]
async fn keep_on_exit_restart_keeps_bfd_routes_through_the_grace() {
    let fake = FakeBackend::new();
    fake.insert(ours("203.0.113.0/24", &["198.51.100.2", "192.0.2.2"]));
    let mut c = config(ECMP);
    c.keep_on_exit = true;
    let h = spawn(c, fake.clone());
    settle(&h).await;
    assert_eq!(
        nexthops(&fake, "203.0.113.0/24"),
        ips(&["198.51.100.2", "192.0.2.2"]),
        "kept while the sessions come up"
    );
    // One session reports Up, the other never does.
    h.session_changed(ip("198.51.100.2"), true, now());
    settle(&h).await;
    assert_eq!(
        nexthops(&fake, "203.0.113.0/24"),
        ips(&["198.51.100.2", "192.0.2.2"])
    );
    tokio::time::sleep(STARTUP_GRACE + Duration::from_millis(10)).await;
    assert_eq!(nexthops(&fake, "203.0.113.0/24"), ips(&["198.51.100.2"]));

    // Without keep-on-exit the same leftovers go at once.
    let fake = FakeBackend::new();
    fake.insert(ours("203.0.113.0/24", &["198.51.100.2", "192.0.2.2"]));
    let h = spawn(config(ECMP), fake.clone());
    settle(&h).await;
    assert_eq!(nexthops(&fake, "203.0.113.0/24"), None);
}

#[tokio::test(start_paused = true)]
async fn link_churn_does_not_retry_a_blocked_route_at_every_change() {
    // Pods coming and going: a link or address notice every 100 ms. A route whose slot a
    // foreign route holds is retried about once a second at most, not at every notice.
    let fake = FakeBackend::new();
    fake.insert(KernelRoute::new(
        p("198.18.1.0/24"),
        TABLE,
        4,
        vec![ip("198.51.100.7")],
    ));
    let h = spawn(
        config(&[("198.18.1.0/24", "198.51.100.2", false)]),
        fake.clone(),
    );
    settle(&h).await;
    fake.clear_ops();
    for i in 0..50u32 {
        h.notice(Notice::Link {
            index: 100 + i,
            up: true,
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let adds = fake
        .ops()
        .iter()
        .filter(|op| matches!(op, FakeOp::Add(_)))
        .count();
    // Backoff retries at 0.1, 0.3, 0.7 and 1.5 s, then one a second: 8 at most.
    assert!((1..=8).contains(&adds), "{adds} attempts in 5 s");
}

#[tokio::test(start_paused = true)]
async fn reload_adds_removes_and_moves_routes() {
    let fake = FakeBackend::new();
    let h = spawn(
        config(&[
            ("198.18.1.0/24", "198.51.100.2", false),
            ("198.18.2.0/24", "198.51.100.2", false),
        ]),
        fake.clone(),
    );
    settle(&h).await;
    h.reconfigure(
        config(&[
            ("198.18.2.0/24", "198.51.100.2", false),
            ("198.18.2.0/24", "198.51.100.3", false),
            ("2001:db8:100::/64", "2001:db8:1::2", false),
        ]),
        vec![],
        now(),
    );
    settle(&h).await;
    assert_eq!(
        fake.routes(),
        vec![
            ours("198.18.2.0/24", &["198.51.100.2", "198.51.100.3"]),
            ours("2001:db8:100::/64", &["2001:db8:1::2"]),
        ]
    );
    let mut moved = config(&[("198.18.2.0/24", "198.51.100.2", false)]);
    moved.table = 100;
    moved.protocol = 200;
    h.reconfigure(moved, vec![], now());
    settle(&h).await;
    assert_eq!(
        fake.routes(),
        vec![KernelRoute::new(
            p("198.18.2.0/24"),
            100,
            200,
            vec![ip("198.51.100.2")]
        )]
    );
}

#[tokio::test(start_paused = true)]
async fn withdrawals_go_first_and_latency_is_measured() {
    let (fake, h) = running(
        &[
            ("198.18.1.0/24", "198.51.100.2", true),
            ("198.18.2.0/24", "198.51.100.3", true),
        ],
        &["198.51.100.2"],
    )
    .await;
    fake.clear_ops();
    // Queued together: the Up (198.18.2.0/24 install) before the Down in arrival order.
    let t = now();
    h.session_changed(ip("198.51.100.3"), true, t);
    h.session_changed(ip("198.51.100.2"), false, t);
    settle(&h).await;
    let ops = fake.ops();
    assert!(
        matches!(&ops[..], [FakeOp::Delete(d), FakeOp::Add(a)]
            if d.destination == p("198.18.1.0/24") && a.destination == p("198.18.2.0/24")),
        "{ops:?}"
    );
    let latency = h.metrics().await.withdraw_latency;
    assert_eq!(latency.count, 1);
    assert_eq!(latency.recent_us.len(), 1);
    assert!(latency.last_us.is_some() && latency.p99_us.is_some());
}
