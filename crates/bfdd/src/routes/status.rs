//! `bfdctl routes`: each configured destination, its next hops and why it is (not) installed.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use bfd_control::{NexthopStatus, RouteStatus};

use super::desired::{desired_route, destinations};
use super::dest::Dest;
use super::Gateways;
use crate::config::{Prefix, RoutesConfig};

/// One entry per configured destination, in file order. `up` holds the gateways counted as
/// usable (sessions Up, plus those kept through the startup grace).
pub fn route_statuses(
    config: &RoutesConfig,
    dests: &BTreeMap<Prefix, Dest>,
    up: &HashSet<IpAddr>,
) -> Vec<RouteStatus> {
    destinations(config)
        .into_iter()
        .map(|destination| {
            let dest = dests.get(&destination);
            let installed = dest.and_then(|d| d.installed.as_ref());
            let configured: Vec<_> = config
                .routes
                .iter()
                .filter(|r| r.destination == destination)
                .collect();
            let nexthops = configured
                .iter()
                .map(|r| NexthopStatus {
                    gateway: r.gateway.to_string(),
                    bfd: r.bfd,
                    active: installed.is_some_and(|i| i.nexthops.contains(&r.gateway)),
                })
                .collect();
            let reason = match (dest.and_then(|d| d.error.clone()), installed) {
                (Some(error), _) => Some(error),
                (None, Some(_)) => None,
                (None, None) if desired_route(config, destination, up).is_none() => {
                    let down: Vec<IpAddr> = configured.iter().map(|r| r.gateway).collect();
                    Some(format!(
                        "no usable gateway: the BFD session is not Up for {}",
                        Gateways(&down)
                    ))
                }
                (None, None) => Some("not installed yet".to_string()),
            };
            RouteStatus {
                destination: destination.to_string(),
                table: config.table,
                installed: installed.is_some(),
                nexthops,
                reason,
            }
        })
        .collect()
}
