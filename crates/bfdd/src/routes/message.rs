//! Conversions between [`KernelRoute`] and rtnetlink route messages: the requests we send
//! (replace/add, delete, dump) and the routes the kernel reports (dumps and notifications).
//! Kept apart from the socket code so the encoding is unit-tested without a kernel.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType, RouteVia,
};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::{RouteMessageBuilder, RouteNextHopBuilder};

use super::KernelRoute;
use crate::config::Prefix;

/// `RT_TABLE_UNSPEC`: the header value when the table id needs the 32-bit `RTA_TABLE`.
const RT_TABLE_UNSPEC: u8 = 0;

fn invalid(route: &KernelRoute, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{route}: {what}"))
}

fn family(addr: IpAddr) -> AddressFamily {
    match addr {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

/// Puts the table id in both places the kernel reads: the 8-bit header field (as iproute2
/// does: the id itself below 256, `RT_TABLE_UNSPEC` above) and `RTA_TABLE`, which wins.
fn set_table(message: &mut RouteMessage, table: u32) {
    message.header.table = u8::try_from(table).unwrap_or(RT_TABLE_UNSPEC);
    message.attributes.push(RouteAttribute::Table(table));
}

/// The `RTM_NEWROUTE` body installing `route`: one gateway as `RTA_GATEWAY`, several as
/// `RTA_MULTIPATH` (equal weights); our protocol id and table stamped on it.
pub fn install_message(route: &KernelRoute) -> io::Result<RouteMessage> {
    let dst = route.destination;
    let mut builder = RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(dst.addr(), dst.prefix_len())
        .map_err(|e| invalid(route, e))?
        .protocol(RouteProtocol::from(route.protocol))
        .scope(RouteScope::Universe)
        .kind(RouteType::Unicast);
    builder = match route.nexthops.as_slice() {
        [] => return Err(invalid(route, "no nexthop")),
        [gateway] => builder.gateway(*gateway).map_err(|e| invalid(route, e))?,
        gateways => {
            let hops = gateways
                .iter()
                .map(|gw| {
                    RouteNextHopBuilder::new(family(dst.addr()))
                        .via(*gw)
                        .map(RouteNextHopBuilder::build)
                        .map_err(|e| invalid(route, e))
                })
                .collect::<io::Result<Vec<_>>>()?;
            builder.multipath(hops)
        }
    };
    let mut message = builder.build();
    set_table(&mut message, route.table);
    Ok(message)
}

/// The `RTM_DELROUTE` body removing our route for `route.destination`: destination, table and
/// protocol only, so the kernel matches any nexthops and metric but only our protocol id; type
/// unspecified and scope `RT_SCOPE_NOWHERE` ("any"), as iproute2 sends for `ip route del`.
pub fn delete_message(route: &KernelRoute) -> io::Result<RouteMessage> {
    let dst = route.destination;
    let builder = RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(dst.addr(), dst.prefix_len())
        .map_err(|e| invalid(route, e))?
        .protocol(RouteProtocol::from(route.protocol))
        .scope(RouteScope::NoWhere)
        .kind(RouteType::Unspec);
    let mut message = builder.build();
    set_table(&mut message, route.table);
    Ok(message)
}

/// The `RTM_GETROUTE` dump request for one family, filtered by table and protocol. The kernel
/// applies the filter when the socket has strict checking on (Linux >= 4.20); [`parse_route`]'s
/// callers filter again, so older kernels only cost a bigger dump.
pub fn dump_message(v6: bool, table: u32, protocol: u8) -> RouteMessage {
    let mut message = if v6 {
        RouteMessageBuilder::<Ipv6Addr>::new().build()
    } else {
        RouteMessageBuilder::<Ipv4Addr>::new().build()
    };
    message.header.protocol = RouteProtocol::from(protocol);
    // Strict dump requests must leave scope zero; type zero means "any type", so a
    // blackhole someone added with our protocol id is listed (and cleaned up) too.
    message.header.scope = RouteScope::Universe;
    message.header.kind = RouteType::Unspec;
    set_table(&mut message, table);
    message
}

fn address_ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn via_ip(v: &RouteVia) -> Option<IpAddr> {
    match v {
        RouteVia::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteVia::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn gateway_of(attr: &RouteAttribute) -> Option<IpAddr> {
    match attr {
        RouteAttribute::Gateway(a) => address_ip(a),
        RouteAttribute::Via(v) => via_ip(v),
        _ => None,
    }
}

/// The route a kernel message describes (IPv4/IPv6 only; anything else is `None`). The
/// protocol and table are the message's own, so the caller decides whether it is ours.
pub fn parse_route(message: &RouteMessage) -> Option<KernelRoute> {
    let unspecified = match message.header.address_family {
        AddressFamily::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => return None,
    };
    let mut destination = unspecified;
    let mut table = u32::from(message.header.table);
    let mut nexthops = Vec::new();
    for attr in &message.attributes {
        match attr {
            RouteAttribute::Destination(a) => destination = address_ip(a)?,
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::MultiPath(hops) => nexthops.extend(
                hops.iter()
                    .flat_map(|h| h.attributes.iter().filter_map(gateway_of)),
            ),
            other => nexthops.extend(gateway_of(other)),
        }
    }
    let destination = Prefix::new(destination, message.header.destination_prefix_length).ok()?;
    Some(KernelRoute::new(
        destination,
        table,
        u8::from(message.header.protocol),
        nexthops,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn route(dst: &str, table: u32, gws: &[&str]) -> KernelRoute {
        KernelRoute::new(
            dst.parse().unwrap(),
            table,
            199,
            gws.iter().map(|g| ip(g)).collect(),
        )
    }

    #[test]
    fn single_gateway_round_trips() {
        for r in [
            route("203.0.113.0/24", 254, &["198.51.100.2"]),
            route("2001:db8:100::/64", 1000, &["2001:db8:1::2"]),
            route("0.0.0.0/0", 100, &["192.0.2.1"]),
        ] {
            let m = install_message(&r).unwrap();
            assert!(m
                .attributes
                .iter()
                .any(|a| matches!(a, RouteAttribute::Gateway(_))));
            assert!(!m
                .attributes
                .iter()
                .any(|a| matches!(a, RouteAttribute::MultiPath(_))));
            assert_eq!(parse_route(&m), Some(r));
        }
    }

    #[test]
    fn several_gateways_use_multipath() {
        let r = route(
            "2001:db8:100::/64",
            254,
            &["2001:db8:2::2", "2001:db8:1::2"],
        );
        let m = install_message(&r).unwrap();
        let hops = m
            .attributes
            .iter()
            .find_map(|a| match a {
                RouteAttribute::MultiPath(h) => Some(h.len()),
                _ => None,
            })
            .unwrap();
        assert_eq!(hops, 2);
        assert_eq!(parse_route(&m), Some(r));
    }

    #[test]
    fn table_ids_above_255_use_rta_table() {
        let m = install_message(&route("203.0.113.0/24", 70000, &["198.51.100.2"])).unwrap();
        assert_eq!(m.header.table, RT_TABLE_UNSPEC);
        assert!(m.attributes.contains(&RouteAttribute::Table(70000)));
        let m = delete_message(&route("203.0.113.0/24", 100, &[])).unwrap();
        assert_eq!(m.header.table, 100);
        assert_eq!(m.header.scope, RouteScope::NoWhere);
        assert_eq!(u8::from(m.header.protocol), 199);
        let d = dump_message(true, 254, 199);
        assert_eq!(d.header.address_family, AddressFamily::Inet6);
        assert_eq!(u8::from(d.header.protocol), 199);
    }

    #[test]
    fn refuses_route_without_nexthop_or_mixed_family() {
        assert!(install_message(&route("203.0.113.0/24", 254, &[])).is_err());
        assert!(install_message(&route("2001:db8:100::/64", 254, &["198.51.100.2"])).is_err());
    }
}
