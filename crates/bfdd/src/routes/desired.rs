//! What the kernel should hold: a pure function of the configuration and of which BFD
//! sessions are Up, so the interesting decisions are unit-tested without any kernel.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use crate::config::{Prefix, RoutesConfig};

use super::KernelRoute;

/// The configured destinations, each once, in file order (several `[[route]]` entries with one
/// destination form one ECMP route and are reported as one).
pub fn destinations(config: &RoutesConfig) -> Vec<Prefix> {
    let mut seen = HashSet::new();
    config
        .routes
        .iter()
        .map(|r| r.destination)
        .filter(|d| seen.insert(*d))
        .collect()
}

/// The route wanted for `destination`: every gateway configured with `bfd = false`, plus every
/// `bfd = true` gateway in `up`. `None` when no gateway is usable (the route is withdrawn
/// rather than left pointing at dead next hops) or when the destination is not configured.
pub fn desired_route(
    config: &RoutesConfig,
    destination: Prefix,
    up: &HashSet<IpAddr>,
) -> Option<KernelRoute> {
    let nexthops: Vec<IpAddr> = config
        .routes
        .iter()
        .filter(|r| r.destination == destination)
        .filter(|r| !r.bfd || up.contains(&r.gateway))
        .map(|r| r.gateway)
        .collect();
    if nexthops.is_empty() {
        return None;
    }
    Some(KernelRoute::new(
        destination,
        config.table,
        config.protocol,
        nexthops,
    ))
}

/// Every wanted route, by destination.
pub fn desired_routes(
    config: &RoutesConfig,
    up: &HashSet<IpAddr>,
) -> BTreeMap<Prefix, KernelRoute> {
    destinations(config)
        .into_iter()
        .filter_map(|d| desired_route(config, d, up).map(|r| (d, r)))
        .collect()
}

/// Destinations with a `bfd = true` entry for `gateway`: those a session change of that
/// gateway can affect.
pub fn destinations_via(config: &RoutesConfig, gateway: IpAddr) -> Vec<Prefix> {
    let mut out: Vec<Prefix> = config
        .routes
        .iter()
        .filter(|r| r.bfd && r.gateway == gateway)
        .map(|r| r.destination)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RouteConfig;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    fn route(dst: &str, gw: &str, bfd: bool) -> RouteConfig {
        RouteConfig {
            destination: p(dst),
            gateway: ip(gw),
            bfd,
        }
    }

    fn config(routes: Vec<RouteConfig>) -> RoutesConfig {
        RoutesConfig {
            table: 100,
            protocol: 199,
            keep_on_exit: false,
            routes,
        }
    }

    fn up(gws: &[&str]) -> HashSet<IpAddr> {
        gws.iter().map(|g| ip(g)).collect()
    }

    #[test]
    fn ecmp_follows_sessions() {
        let c = config(vec![
            route("203.0.113.0/24", "198.51.100.3", true),
            route("203.0.113.0/24", "198.51.100.2", true),
        ]);
        let d = p("203.0.113.0/24");
        let both = desired_route(&c, d, &up(&["198.51.100.2", "198.51.100.3"])).unwrap();
        assert_eq!(both.nexthops, vec![ip("198.51.100.2"), ip("198.51.100.3")]);
        assert_eq!((both.table, both.protocol), (100, 199));
        let one = desired_route(&c, d, &up(&["198.51.100.3"])).unwrap();
        assert_eq!(one.nexthops, vec![ip("198.51.100.3")]);
        assert_eq!(desired_route(&c, d, &up(&[])), None);
    }

    #[test]
    fn non_bfd_gateways_always_present() {
        let c = config(vec![
            route("198.18.1.0/24", "198.51.100.2", false),
            route("198.18.1.0/24", "198.51.100.3", true),
        ]);
        let d = p("198.18.1.0/24");
        assert_eq!(
            desired_route(&c, d, &up(&[])).unwrap().nexthops,
            vec![ip("198.51.100.2")]
        );
        assert_eq!(
            desired_route(&c, d, &up(&["198.51.100.3"]))
                .unwrap()
                .nexthops,
            vec![ip("198.51.100.2"), ip("198.51.100.3")]
        );
    }

    #[test]
    fn destinations_in_file_order_once() {
        let c = config(vec![
            route("203.0.113.0/24", "198.51.100.2", true),
            route("2001:db8:100::/64", "2001:db8:1::2", true),
            route("203.0.113.0/24", "198.51.100.3", true),
            route("198.18.1.0/24", "198.51.100.2", false),
        ]);
        assert_eq!(
            destinations(&c),
            vec![
                p("203.0.113.0/24"),
                p("2001:db8:100::/64"),
                p("198.18.1.0/24")
            ]
        );
        assert_eq!(
            destinations_via(&c, ip("198.51.100.2")),
            vec![p("203.0.113.0/24")],
            "bfd = false entries do not follow the session"
        );
        let all = desired_routes(&c, &up(&["2001:db8:1::2"]));
        assert_eq!(
            all.keys().copied().collect::<Vec<_>>(),
            vec![p("198.18.1.0/24"), p("2001:db8:100::/64")]
        );
        assert_eq!(desired_route(&c, p("192.0.2.0/24"), &up(&[])), None);
    }
}
