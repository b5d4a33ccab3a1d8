//! Two namespaces joined by one veth: D (the daemon under test) and L (the load). Session `i`
//! runs between `d_addr(i)` in D and `l_addr(i)` in L, so every session has its own address
//! pair on both sides (FRR keys single-hop sessions by peer address). Addresses come from the
//! benchmarking range 198.18.0.0/15 only; neighbour entries are permanent on both sides.
//!
//! Both namespaces set `accept_local`. Without it the kernel checks every received packet's
//! source against the namespace's own addresses (a martian-source check, in a hash table of
//! 256 buckets), which with 10,000 addresses per namespace took 26% of bfdd's CPU at 10,000 x
//! 300 ms: veth receives in the sender's context, so the emulated peers' side of that check was
//! billed to the daemon. A gateway does not hold its peers' addresses; with the setting the
//! topology costs what one address pair would.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use bfdd_integration::{check_test_addr, veth_pair, Netns};

/// Interface name in D.
pub const IF_D: &str = "d0";
/// Interface name in L.
pub const IF_L: &str = "l0";
/// Hosts per /24 used (.1 to .250), keeping clear of .0 and .255.
const PER_24: usize = 250;
/// The most sessions the address plan holds: 256 /24s in each /16.
pub const MAX_SESSIONS: usize = 256 * PER_24;

/// The daemon's address of session `i`: 198.18.0.0/16.
pub fn d_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, (i / PER_24) as u8, (i % PER_24 + 1) as u8)
}

/// The emulated peer's address of session `i`: 198.19.0.0/16.
pub fn l_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(198, 19, (i / PER_24) as u8, (i % PER_24 + 1) as u8)
}

/// The session an emulated-peer address belongs to.
pub fn l_index(a: Ipv4Addr) -> Option<usize> {
    let o = a.octets();
    if o[0] != 198 || o[1] != 19 || o[3] == 0 || usize::from(o[3]) > PER_24 {
        return None;
    }
    Some(usize::from(o[2]) * PER_24 + usize::from(o[3]) - 1)
}

/// The two namespaces and their link. Dropping it deletes both (killing what still runs there).
#[derive(Debug)]
pub struct Topology {
    /// The daemon's namespace.
    pub d: Netns,
    /// The load's namespace.
    pub l: Netns,
}

impl Topology {
    /// Creates D and L, the veth, `sessions` addresses on each side (as /15, so every pair is
    /// on-link) and permanent neighbour entries for all of them.
    pub fn new(sessions: usize) -> Result<Topology> {
        if sessions == 0 || sessions > MAX_SESSIONS {
            bail!("sessions must be within 1..={MAX_SESSIONS}");
        }
        let d = Netns::new("load-d")?;
        let l = Netns::new("load-l")?;
        veth_pair(&d, IF_D, &[], &l, IF_L, &[])?;
        for ns in [&d, &l] {
            ns.exec(&["sysctl", "-qw", "net.ipv4.conf.all.accept_local=1"])
                .with_context(|| format!("accept_local in {}", ns.name()))?;
        }
        let mac_d = mac(&d, IF_D)?;
        let mac_l = mac(&l, IF_L)?;
        for (ns, dev, own, other, other_mac) in [
            (
                &d,
                IF_D,
                d_addr as fn(usize) -> Ipv4Addr,
                l_addr as fn(usize) -> Ipv4Addr,
                &mac_l,
            ),
            (&l, IF_L, l_addr, d_addr, &mac_d),
        ] {
            let mut batch = String::with_capacity(sessions * 80);
            for i in 0..sessions {
                let a = own(i);
                let b = other(i);
                check_test_addr(IpAddr::V4(a))?;
                check_test_addr(IpAddr::V4(b))?;
                batch.push_str(&format!("addr add {a}/15 dev {dev}\n"));
                batch.push_str(&format!(
                    "neigh replace {b} lladdr {other_mac} dev {dev} nud permanent\n"
                ));
            }
            ip_batch(ns, &batch)?;
        }
        Ok(Topology { d, l })
    }
}

/// The MAC address of `dev` in `ns`.
fn mac(ns: &Netns, dev: &str) -> Result<String> {
    let v = ns.ip_json(&["link", "show", "dev", dev])?;
    v[0]["address"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("no MAC address for {dev} in {}", ns.name()))
}

/// `ip -n NS -batch -` with `commands` on stdin: thousands of addresses in one process.
fn ip_batch(ns: &Netns, commands: &str) -> Result<()> {
    let mut child = Command::new("ip")
        .args(["-n", ns.name(), "-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawning ip -batch")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(commands.as_bytes())
            .context("writing to ip -batch")?;
    }
    let out = child.wait_with_output().context("waiting for ip -batch")?;
    if !out.status.success() {
        bail!(
            "ip -n {} -batch failed ({}): {}",
            ns.name(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip_and_stay_in_range() {
        for i in [0, 1, 249, 250, 9_999, MAX_SESSIONS - 1] {
            assert_eq!(l_index(l_addr(i)), Some(i));
            assert!(check_test_addr(IpAddr::V4(d_addr(i))).is_ok());
            assert!(check_test_addr(IpAddr::V4(l_addr(i))).is_ok());
            assert_ne!(d_addr(i), l_addr(i));
        }
        assert_eq!(l_index(Ipv4Addr::new(198, 18, 0, 1)), None);
        assert_eq!(l_index(Ipv4Addr::new(198, 19, 0, 0)), None);
        assert_eq!(l_index(Ipv4Addr::new(198, 19, 0, 251)), None);
    }
}
