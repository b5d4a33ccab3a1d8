//! Network namespaces, veth links and the common two-namespace topology.

use std::net::IpAddr;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;

use anyhow::{bail, Context, Result};

use crate::process::sanitize;

/// Default IPv4 address of namespace A in [`Topology::new`].
pub const A_V4: &str = "198.51.100.1";
/// Default IPv4 address of namespace B in [`Topology::new`].
pub const B_V4: &str = "198.51.100.2";
/// Default IPv6 address of namespace A in [`Topology::new`].
pub const A_V6: &str = "2001:db8:1::1";
/// Default IPv6 address of namespace B in [`Topology::new`].
pub const B_V6: &str = "2001:db8:1::2";

/// Prefix of every namespace this harness creates: `bfdit-<pid>-<n>-<tag>`; one whose process
/// is gone is swept up, with what runs inside, by the next test process.
pub const NS_PREFIX: &str = "bfdit-";

static NS_COUNTER: AtomicU32 = AtomicU32::new(0);
static STALE_CLEANUP: Once = Once::new();

/// Runs a command to completion; fails with its stderr when it exits non-zero.
pub(crate) fn run(cmd: &mut Command) -> Result<String> {
    let out: Output = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Checks that `addr` lies in a range reserved for documentation/benchmarking, the only ones
/// tests may use: 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 198.18.0.0/15, 2001:db8::/32.
pub fn check_test_addr(addr: IpAddr) -> Result<()> {
    let ok = match addr {
        IpAddr::V4(a) => {
            let o = a.octets();
            matches!(
                (o[0], o[1], o[2]),
                (192, 0, 2) | (198, 51, 100) | (203, 0, 113)
            ) || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            s[0] == 0x2001 && s[1] == 0x0db8
        }
    };
    if !ok {
        bail!("{addr} is outside the test address ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 198.18.0.0/15, 2001:db8::/32)");
    }
    Ok(())
}

/// Parses `addr/len` and checks it with [`check_test_addr`] (the prefix must also stay inside
/// the range: at least /24 for IPv4 except /15 or longer in 198.18.0.0/15, /32 for IPv6).
pub fn check_test_prefix(prefix: &str) -> Result<(IpAddr, u8)> {
    let (a, l) = prefix
        .split_once('/')
        .with_context(|| format!("{prefix}: expected ADDR/LEN"))?;
    let addr: IpAddr = a
        .parse()
        .with_context(|| format!("{prefix}: bad address"))?;
    let len: u8 = l.parse().with_context(|| format!("{prefix}: bad length"))?;
    check_test_addr(addr)?;
    let min = match addr {
        IpAddr::V4(a) if a.octets()[0] == 198 && (a.octets()[1] & 0xfe) == 18 => 15,
        IpAddr::V4(_) => 24,
        IpAddr::V6(_) => 32,
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if len < min || len > max {
        bail!("{prefix}: prefix length must be within {min}..={max} to stay in the test range");
    }
    Ok((addr, len))
}

/// A network namespace named `bfdit-<pid>-<n>-<tag>`, with `lo` up. Drop kills whatever
/// still runs inside it (only processes in this uniquely named namespace, which the test
/// started) and deletes it, which also destroys its veth links.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates the namespace and brings `lo` up.
    pub fn new(tag: &str) -> Result<Self> {
        STALE_CLEANUP.call_once(cleanup_stale_namespaces);
        let n = NS_COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("{NS_PREFIX}{}-{n}-{}", std::process::id(), sanitize(tag));
        run(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name (as in `ip netns list`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A `Command` for `ip netns exec <name> <program>`; add arguments and run it.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs `argv` inside the namespace to completion; returns stdout, fails on non-zero exit.
    pub fn exec(&self, argv: &[&str]) -> Result<String> {
        let Some((program, args)) = argv.split_first() else {
            bail!("empty argv");
        };
        run(self.command(program).args(args))
    }

    /// Runs `argv` inside the namespace and returns its raw output, whatever the exit code.
    pub fn exec_output(&self, argv: &[&str]) -> Result<Output> {
        let Some((program, args)) = argv.split_first() else {
            bail!("empty argv");
        };
        self.command(program)
            .args(args)
            .output()
            .with_context(|| format!("running {argv:?} in {}", self.name))
    }

    /// `ip -n <name> args...`; returns stdout.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        run(Command::new("ip").args(["-n", &self.name]).args(args))
    }

    /// `ip -j -n <name> args...`, parsed as JSON.
    pub fn ip_json(&self, args: &[&str]) -> Result<serde_json::Value> {
        let out = run(Command::new("ip").args(["-j", "-n", &self.name]).args(args))?;
        serde_json::from_str(&out).with_context(|| format!("parsing `ip -j {args:?}`: {out}"))
    }

    /// Addresses (`addr/len`) configured on `dev`, from `ip -j addr show dev`.
    pub fn addrs(&self, dev: &str) -> Result<Vec<String>> {
        let v = self.ip_json(&["addr", "show", "dev", dev])?;
        let mut out = Vec::new();
        for link in v.as_array().into_iter().flatten() {
            for a in link["addr_info"].as_array().into_iter().flatten() {
                if let (Some(l), Some(p)) = (a["local"].as_str(), a["prefixlen"].as_u64()) {
                    out.push(format!("{l}/{p}"));
                }
            }
        }
        Ok(out)
    }

    /// Adds `prefix` (checked with [`check_test_prefix`]) to `dev`; IPv6 with `nodad`.
    pub fn add_addr(&self, dev: &str, prefix: &str) -> Result<()> {
        let (addr, _) = check_test_prefix(prefix)?;
        let mut args = vec!["addr", "add", prefix, "dev", dev];
        if addr.is_ipv6() {
            args.push("nodad");
        }
        self.ip(&args).map(|_| ())
    }

    /// Removes `prefix` from `dev`.
    pub fn del_addr(&self, dev: &str, prefix: &str) -> Result<()> {
        self.ip(&["addr", "del", prefix, "dev", dev]).map(|_| ())
    }

    /// `ip link set dev up|down`.
    pub fn set_link(&self, dev: &str, up: bool) -> Result<()> {
        self.ip(&["link", "set", dev, if up { "up" } else { "down" }])
            .map(|_| ())
    }

    /// PIDs of the processes running in the namespace (`ip netns pids`).
    pub fn pids(&self) -> Vec<u32> {
        ns_pids(&self.name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        delete_namespace(&self.name);
    }
}

fn ns_pids(name: &str) -> Vec<u32> {
    run(Command::new("ip").args(["netns", "pids", name]))
        .map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Kills the processes left in the namespace (ours, by PID), then deletes it.
fn delete_namespace(name: &str) {
    let pids = ns_pids(name);
    if !pids.is_empty() {
        eprintln!("netns {name}: killing leftover processes {pids:?}");
        for pid in &pids {
            let _ = Command::new("kill")
                .args(["-s", "KILL", &pid.to_string()])
                .output();
        }
        // Give the kernel a moment; zombies of our own children are reaped by their guards.
        crate::wait_until(
            std::time::Duration::from_secs(2),
            std::time::Duration::from_millis(20),
            || {
                ns_pids(name)
                    .iter()
                    .all(|p| !std::path::Path::new(&format!("/proc/{p}/exe")).exists())
            },
        );
    }
    if let Err(e) = run(Command::new("ip").args(["netns", "del", name])) {
        eprintln!("warning: could not delete netns {name}: {e:#}");
    }
}

/// Deletes namespaces left by earlier runs of this harness that died without cleanup
/// (SIGKILL, abort): names `bfdit-<pid>-...` whose pid no longer exists.
fn cleanup_stale_namespaces() {
    let Ok(list) = run(Command::new("ip").args(["netns", "list"])) else {
        return;
    };
    for line in list.lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(NS_PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("deleting stale test namespace {name}");
            delete_namespace(name);
        }
    }
}

/// Creates a veth pair with end `if_a` in `a` and `if_b` in `b` (created directly inside the
/// namespaces, so nothing ever appears in the root namespace), adds the addresses (checked
/// with [`check_test_prefix`], IPv6 with `nodad`) and sets both ends up.
pub fn veth_pair(
    a: &Netns,
    if_a: &str,
    addrs_a: &[&str],
    b: &Netns,
    if_b: &str,
    addrs_b: &[&str],
) -> Result<()> {
    for p in addrs_a.iter().chain(addrs_b) {
        check_test_prefix(p)?;
    }
    run(Command::new("ip").args([
        "link",
        "add",
        if_a,
        "netns",
        a.name(),
        "type",
        "veth",
        "peer",
        "name",
        if_b,
        "netns",
        b.name(),
    ]))?;
    for (ns, dev, addrs) in [(a, if_a, addrs_a), (b, if_b, addrs_b)] {
        for p in addrs {
            ns.add_addr(dev, p)?;
        }
        ns.set_link(dev, true)?;
    }
    // Return only once the link is operational on both sides.
    let up = |ns: &Netns, dev: &str| {
        ns.ip_json(&["link", "show", "dev", dev])
            .map(|v| v[0]["operstate"] == "UP")
            .unwrap_or(false)
    };
    let ok = crate::wait_until(
        std::time::Duration::from_secs(5),
        std::time::Duration::from_millis(10),
        || up(a, if_a) && up(b, if_b),
    );
    if !ok {
        bail!(
            "veth {if_a}/{if_b} between {} and {} did not come up",
            a.name(),
            b.name()
        );
    }
    Ok(())
}

/// Two namespaces `a` and `b` joined by one veth pair (`if_a` in A, `if_b` in B).
///
/// Field order matters for drop order: nothing here owns processes, so tests declare the
/// topology first and their daemons afterwards (daemons are dropped first).
#[derive(Debug)]
pub struct Topology {
    /// Namespace A.
    pub a: Netns,
    /// Namespace B.
    pub b: Netns,
    /// Interface name of the link in A.
    pub if_a: String,
    /// Interface name of the link in B.
    pub if_b: String,
    /// Prefixes (`addr/len`) configured on `if_a`.
    pub addrs_a: Vec<String>,
    /// Prefixes (`addr/len`) configured on `if_b`.
    pub addrs_b: Vec<String>,
}

impl Topology {
    /// The default: A = 198.51.100.1/24 + 2001:db8:1::1/64, B = 198.51.100.2/24 +
    /// 2001:db8:1::2/64, interfaces `eth0` on both sides.
    pub fn new() -> Result<Self> {
        Self::builder().build()
    }

    /// Same as [`Topology::new`] but with the given prefixes (several per side allowed).
    pub fn with_addrs(addrs_a: &[&str], addrs_b: &[&str]) -> Result<Self> {
        Self::builder().addrs_a(addrs_a).addrs_b(addrs_b).build()
    }

    /// A builder starting from the defaults.
    pub fn builder() -> TopologyBuilder {
        TopologyBuilder::default()
    }

    /// Addresses of A without prefix length.
    pub fn a_addrs(&self) -> Vec<IpAddr> {
        strip(&self.addrs_a)
    }

    /// Addresses of B without prefix length.
    pub fn b_addrs(&self) -> Vec<IpAddr> {
        strip(&self.addrs_b)
    }

    /// First IPv4 / IPv6 address of A (`v6 = true` for IPv6).
    pub fn a_addr(&self, v6: bool) -> Option<IpAddr> {
        self.a_addrs().into_iter().find(|a| a.is_ipv6() == v6)
    }

    /// First IPv4 / IPv6 address of B (`v6 = true` for IPv6).
    pub fn b_addr(&self, v6: bool) -> Option<IpAddr> {
        self.b_addrs().into_iter().find(|a| a.is_ipv6() == v6)
    }

    /// Sets the link down or up on both sides (simulates a cable cut).
    pub fn set_link(&self, up: bool) -> Result<()> {
        self.a.set_link(&self.if_a, up)?;
        self.b.set_link(&self.if_b, up)
    }
}

fn strip(v: &[String]) -> Vec<IpAddr> {
    v.iter()
        .filter_map(|p| p.split('/').next()?.parse().ok())
        .collect()
}

/// Builder for [`Topology`].
#[derive(Debug, Clone)]
pub struct TopologyBuilder {
    tag_a: String,
    tag_b: String,
    if_a: String,
    if_b: String,
    addrs_a: Vec<String>,
    addrs_b: Vec<String>,
}

impl Default for TopologyBuilder {
    fn default() -> Self {
        Self {
            tag_a: "a".into(),
            tag_b: "b".into(),
            if_a: "eth0".into(),
            if_b: "eth0".into(),
            addrs_a: vec![format!("{A_V4}/24"), format!("{A_V6}/64")],
            addrs_b: vec![format!("{B_V4}/24"), format!("{B_V6}/64")],
        }
    }
}

impl TopologyBuilder {
    /// Tags used in the namespace names (default `a` / `b`).
    pub fn tags(mut self, a: &str, b: &str) -> Self {
        self.tag_a = a.into();
        self.tag_b = b.into();
        self
    }

    /// Interface names (default `eth0` on both sides).
    pub fn ifnames(mut self, a: &str, b: &str) -> Self {
        self.if_a = a.into();
        self.if_b = b.into();
        self
    }

    /// Replaces A's prefixes.
    pub fn addrs_a(mut self, addrs: &[&str]) -> Self {
        self.addrs_a = addrs.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Replaces B's prefixes.
    pub fn addrs_b(mut self, addrs: &[&str]) -> Self {
        self.addrs_b = addrs.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Creates the namespaces and the link. On error everything created so far is removed.
    pub fn build(self) -> Result<Topology> {
        let a = Netns::new(&self.tag_a)?;
        let b = Netns::new(&self.tag_b)?;
        let aa: Vec<&str> = self.addrs_a.iter().map(String::as_str).collect();
        let bb: Vec<&str> = self.addrs_b.iter().map(String::as_str).collect();
        veth_pair(&a, &self.if_a, &aa, &b, &self.if_b, &bb)?;
        Ok(Topology {
            a,
            b,
            if_a: self.if_a,
            if_b: self.if_b,
            addrs_a: self.addrs_a,
            addrs_b: self.addrs_b,
        })
    }
}
