//! Kernel notifications that may mean our routes need attention: routes deleted or changed
//! (an operator's `ip route del`), links going down or up (the kernel flushes IPv4 routes of a
//! link set down *without* sending a route notification, so link events matter too), and
//! addresses coming and going (a gateway that was unreachable may now be reachable).

use std::io;

use futures::StreamExt;
use rtnetlink::packet_core::NetlinkPayload;
use rtnetlink::packet_route::link::LinkFlags;
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::MulticastGroup;
use tokio::task::JoinHandle;
use tracing::warn;

use super::message::parse_route;
use super::KernelRoute;

/// What the listener saw; the manager decides whether it concerns one of its routes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// A route was added or changed (`deleted = false`) or removed, any protocol and table.
    Route {
        /// The route as the kernel reported it.
        route: KernelRoute,
        /// `RTM_DELROUTE`
        deleted: bool,
    },
    /// An address was added or removed: a gateway may have become reachable (or not).
    Address {
        /// Interface index.
        index: u32,
        /// `RTM_NEWADDR`
        added: bool,
    },
    /// A link changed state or appeared/disappeared.
    Link {
        /// Interface index.
        index: u32,
        /// Administratively up and running (carrier).
        up: bool,
    },
    /// Notifications were lost (the socket's buffer overflowed, as a link flap with many
    /// routes can make it): any of the above may have happened.
    Lost,
}

/// Subscribes to `RTNLGRP_LINK`, `RTNLGRP_IPV4_ROUTE`, `RTNLGRP_IPV6_ROUTE` and the two
/// `*_IFADDR` groups and calls
/// `deliver` for each notice until it returns `false` (the manager has gone). Returns the two
/// tasks (socket driver, reader) for the caller to abort at shutdown. Must be called inside a
/// tokio runtime.
pub fn spawn_listener(
    deliver: impl Fn(Notice) -> bool + Send + 'static,
) -> io::Result<[JoinHandle<()>; 2]> {
    let (connection, _handle, mut messages) = rtnetlink::new_multicast_connection(&[
        MulticastGroup::Link,
        MulticastGroup::Ipv4Route,
        MulticastGroup::Ipv6Route,
        MulticastGroup::Ipv4Ifaddr,
        MulticastGroup::Ipv6Ifaddr,
    ])?;
    let connection = tokio::spawn(connection);
    let reader = tokio::spawn(async move {
        while let Some((message, _)) = messages.next().await {
            let notice = match message.payload {
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(m)) => parse_route(&m)
                    .map(|route| Notice::Route {
                        route,
                        deleted: false,
                    }),
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelRoute(m)) => parse_route(&m)
                    .map(|route| Notice::Route {
                        route,
                        deleted: true,
                    }),
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(m)) => {
                    Some(Notice::Link {
                        index: m.header.index,
                        up: m.header.flags.contains(LinkFlags::Up)
                            && m.header.flags.contains(LinkFlags::Running),
                    })
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(m)) => {
                    Some(Notice::Address {
                        index: m.header.index,
                        added: true,
                    })
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelAddress(m)) => {
                    Some(Notice::Address {
                        index: m.header.index,
                        added: false,
                    })
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(m)) => {
                    Some(Notice::Link {
                        index: m.header.index,
                        up: false,
                    })
                }
                NetlinkPayload::Overrun(_) => Some(Notice::Lost),
                _ => None,
            };
            if let Some(notice) = notice {
                if !deliver(notice) {
                    return;
                }
            }
        }
        // The periodic reconcile still catches interference, only later.
        warn!("netlink notification stream ended; routes are checked every 10 s only");
    });
    Ok([connection, reader])
}
