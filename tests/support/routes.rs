//! Helpers for the route installer tests: `[routes]`/`[[route]]` for bfdd.toml, reading the
//! kernel's routes of a namespace with `ip -j route`, and a three-namespace topology where A
//! reaches two gateways (B and C) over separate links.

use std::fmt::Write as _;
use std::net::IpAddr;

use anyhow::{bail, Context, Result};
use bfd_control::{Request, Response, RouteStatus};

use crate::bfdd::{Bfdd, BfddConfig};
use crate::netns::{check_test_addr, check_test_prefix, veth_pair, Netns, Topology};

/// C's IPv4 link to A: A is 192.0.2.1/24 on `eth1`, C is 192.0.2.2/24 on `eth0`.
pub const A_C_V4: &str = "192.0.2.1";
/// C's IPv4 address.
pub const C_V4: &str = "192.0.2.2";
/// A's IPv6 address towards C.
pub const A_C_V6: &str = "2001:db8:2::1";
/// C's IPv6 address.
pub const C_V6: &str = "2001:db8:2::2";

/// A joined to B (the default [`Topology`]: `eth0`, 198.51.100.0/24, 2001:db8:1::/64) and to C
/// (A's `eth1` – C's `eth0`, 192.0.2.0/24, 2001:db8:2::/64). Declare it before any daemon so
/// the daemons drop first.
#[derive(Debug)]
pub struct RouteTopology {
    /// A–B.
    pub ab: Topology,
    /// Namespace C.
    pub c: Netns,
}

impl RouteTopology {
    /// Creates the three namespaces and both links (both ends operationally up on return).
    pub fn new() -> Result<Self> {
        let ab = Topology::new()?;
        let c = Netns::new("c")?;
        veth_pair(
            &ab.a,
            "eth1",
            &[&format!("{A_C_V4}/24"), &format!("{A_C_V6}/64")],
            &c,
            "eth0",
            &[&format!("{C_V4}/24"), &format!("{C_V6}/64")],
        )?;
        Ok(Self { ab, c })
    }

    /// Namespace A (where the routes go).
    pub fn a(&self) -> &Netns {
        &self.ab.a
    }

    /// Namespace B.
    pub fn b(&self) -> &Netns {
        &self.ab.b
    }
}

/// One `[[route]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    /// `destination`, a prefix in the test ranges.
    pub destination: String,
    /// `gateway`.
    pub gateway: String,
    /// `bfd`.
    pub bfd: bool,
}

/// `[routes]` plus its `[[route]]` entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutesToml {
    /// `table`.
    pub table: u32,
    /// `protocol`.
    pub protocol: u8,
    /// `keep-on-exit`.
    pub keep_on_exit: bool,
    /// The entries.
    pub routes: Vec<RouteEntry>,
}

impl Default for RoutesToml {
    fn default() -> Self {
        Self {
            table: 254,
            protocol: 199,
            keep_on_exit: false,
            routes: Vec::new(),
        }
    }
}

impl RoutesToml {
    /// Main table, protocol 199, no routes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `destination` via `gateway`.
    pub fn route(mut self, destination: &str, gateway: &str, bfd: bool) -> Self {
        self.routes.push(RouteEntry {
            destination: destination.to_string(),
            gateway: gateway.to_string(),
            bfd,
        });
        self
    }

    /// Sets `table`.
    pub fn table(mut self, table: u32) -> Self {
        self.table = table;
        self
    }

    /// Sets `keep-on-exit`.
    pub fn keep_on_exit(mut self, keep: bool) -> Self {
        self.keep_on_exit = keep;
        self
    }

    /// The TOML text; refuses destinations and gateways outside the test ranges.
    pub fn render(&self) -> Result<String> {
        let mut s = String::from("\n[routes]\n");
        let _ = writeln!(s, "table = {}", self.table);
        let _ = writeln!(s, "protocol = {}", self.protocol);
        let _ = writeln!(s, "keep-on-exit = {}", self.keep_on_exit);
        for r in &self.routes {
            check_test_prefix(&r.destination)?;
            let gw: IpAddr = r
                .gateway
                .parse()
                .with_context(|| format!("bad gateway {}", r.gateway))?;
            check_test_addr(gw)?;
            let _ = writeln!(
                s,
                "\n[[route]]\ndestination = \"{}\"\ngateway = \"{}\"\nbfd = {}",
                r.destination, r.gateway, r.bfd
            );
        }
        Ok(s)
    }
}

/// Writes bfdd.toml = `config` + `routes` into the daemon's directory (applied at the next
/// start or reload).
pub fn write_routes_config(
    bfdd: &Bfdd<'_>,
    config: &BfddConfig,
    routes: &RoutesToml,
) -> Result<()> {
    let path = bfdd.config_path();
    let Some(dir) = path.parent() else {
        bail!("{} has no directory", path.display());
    };
    let text = config.render(dir) + &routes.render()?;
    bfdd.write_config_text(&text)
}

/// Starts bfdd in `ns` with `config` and `routes`; returns once it answers `ready`.
pub fn start_bfdd_with_routes<'a>(
    ns: &'a Netns,
    config: BfddConfig,
    routes: &RoutesToml,
) -> Result<Bfdd<'a>> {
    let mut bfdd = Bfdd::prepare(ns, config.clone())?;
    write_routes_config(&bfdd, &config, routes)?;
    bfdd.spawn()?;
    Ok(bfdd)
}

/// `{"request":"routes"}`: what `bfdctl routes` shows.
pub fn route_statuses(bfdd: &Bfdd<'_>) -> Result<Vec<RouteStatus>> {
    match bfdd.request(&Request::Routes)? {
        Response::Routes { routes } => Ok(routes),
        other => bail!("routes: unexpected answer {other:?}"),
    }
}

/// A route as `ip -j route show` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownRoute {
    /// `dst` (`default` or a prefix; host routes are shown without `/32`).
    pub dst: String,
    /// Gateways, sorted: `gateway`, or each of `nexthops`.
    pub gateways: Vec<String>,
    /// `protocol` as ip prints it (a number or a name from rt_protos).
    pub protocol: String,
}

/// The routes of `table` (both families) in `ns`, optionally only those of protocol `proto`.
pub fn shown_routes(ns: &Netns, table: u32, proto: Option<u8>) -> Result<Vec<ShownRoute>> {
    let mut out = Vec::new();
    for family in ["-4", "-6"] {
        let table_s = table.to_string();
        let proto_s = proto.map(|p| p.to_string());
        let mut args = vec![family, "route", "show", "table", table_s.as_str()];
        if let Some(p) = &proto_s {
            args.extend(["proto", p.as_str()]);
        }
        let v = match ns.ip_json(&args) {
            Ok(v) => v,
            // A table that holds nothing of one family does not exist for it.
            Err(e) if format!("{e:#}").contains("table does not exist") => continue,
            Err(e) => return Err(e),
        };
        for r in v.as_array().into_iter().flatten() {
            let mut gateways: Vec<String> = r["gateway"]
                .as_str()
                .map(String::from)
                .into_iter()
                .collect();
            for nh in r["nexthops"].as_array().into_iter().flatten() {
                gateways.extend(nh["gateway"].as_str().map(String::from));
            }
            gateways.sort();
            out.push(ShownRoute {
                dst: r["dst"].as_str().unwrap_or_default().to_string(),
                gateways,
                protocol: match &r["protocol"] {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => n.to_string(),
                    _ => String::new(),
                },
            });
        }
    }
    Ok(out)
}

/// The sorted gateways of the route to `dst` in `table` with protocol `proto`, `None` if absent.
pub fn route_gateways(ns: &Netns, table: u32, proto: u8, dst: &str) -> Result<Option<Vec<String>>> {
    Ok(shown_routes(ns, table, Some(proto))?
        .into_iter()
        .find(|r| r.dst == dst)
        .map(|r| r.gateways))
}

/// `gws` sorted as [`ShownRoute::gateways`] are.
pub fn sorted(gws: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = gws.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}
