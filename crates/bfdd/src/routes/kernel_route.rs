//! [`KernelRoute`]: one route as bfdd wants it in the kernel, or finds it there.

use std::fmt;
use std::net::IpAddr;

use crate::config::Prefix;

/// One route of ours: `destination` in `table`, stamped with `protocol`, via `nexthops`.
///
/// The nexthops are kept sorted and free of duplicates, so two routes with the same gateways
/// compare equal however they were built (from the configuration or from a kernel dump). That
/// equality is what decides whether the kernel needs an update at all.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KernelRoute {
    /// Destination prefix.
    pub destination: Prefix,
    /// Routing table id.
    pub table: u32,
    /// rtnetlink protocol id (`proto` in `ip route`).
    pub protocol: u8,
    /// Gateways, sorted, no duplicates; more than one makes an ECMP (multipath) route. Empty
    /// only for a route of ours found in the kernel without a gateway (e.g. a blackhole someone
    /// added with our protocol id), which reconciliation then replaces or removes.
    pub nexthops: Vec<IpAddr>,
}

impl KernelRoute {
    /// Builds a route, sorting and deduplicating `nexthops`.
    pub fn new(destination: Prefix, table: u32, protocol: u8, mut nexthops: Vec<IpAddr>) -> Self {
        nexthops.sort_unstable();
        nexthops.dedup();
        KernelRoute {
            destination,
            table,
            protocol,
            nexthops,
        }
    }

    /// The gateways as `a, b` (or `-` for none), for log lines and error texts.
    pub fn gateways(&self) -> Gateways<'_> {
        Gateways(&self.nexthops)
    }

    /// Whether the kernel's view `other` needs a change to become `self`.
    pub fn differs_from(&self, other: Option<&KernelRoute>) -> bool {
        other != Some(self)
    }
}

/// Displays like `ip route`: `203.0.113.0/24 via 198.51.100.2 via 192.0.2.2 table 254 proto 199`.
impl fmt::Display for KernelRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.destination)?;
        for gw in &self.nexthops {
            write!(f, " via {gw}")?;
        }
        write!(f, " table {} proto {}", self.table, self.protocol)
    }
}

/// A comma-separated gateway list; see [`KernelRoute::gateways`].
#[derive(Clone, Copy, Debug)]
pub struct Gateways<'a>(pub &'a [IpAddr]);

impl fmt::Display for Gateways<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("-");
        }
        for (i, gw) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{gw}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn nexthops_sorted_and_deduplicated() {
        let r = KernelRoute::new(
            "203.0.113.0/24".parse().unwrap(),
            254,
            199,
            vec![ip("198.51.100.3"), ip("192.0.2.2"), ip("198.51.100.3")],
        );
        assert_eq!(r.nexthops, vec![ip("192.0.2.2"), ip("198.51.100.3")]);
        assert_eq!(
            r.to_string(),
            "203.0.113.0/24 via 192.0.2.2 via 198.51.100.3 table 254 proto 199"
        );
        assert_eq!(r.gateways().to_string(), "192.0.2.2, 198.51.100.3");
        assert!(!r.differs_from(Some(&r.clone())));
        assert!(r.differs_from(None));
    }
}
