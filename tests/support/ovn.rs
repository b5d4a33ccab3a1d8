//! OVN as a BFD peer: Open vSwitch (userspace datapath) and OVN (northd, ovn-controller)
//! started by hand inside a test namespace, with a gateway router whose port reaches bfdd's
//! namespace over a veth, as OVN-Kubernetes' node gateway routers reach an external gateway.
//!
//! Every daemon gets its databases, sockets, pid files and logs in a [`TestDir`] (the `OVS_*`
//! and `OVN_*` directory variables), so nothing touches the host's Open vSwitch. The
//! command-line tools run in the root namespace and reach the databases by their Unix sockets.
//!
//! The logical topology: gateway router `GR` bound to this chassis, router port `rtoe` with
//! the given address, switch `ext` joining it to a localnet port mapped to OVS bridge `br-ext`,
//! which holds the veth end. BFD rows are made as OVN-Kubernetes makes them: one per next hop,
//! on the router port, without timers, referenced by an ECMP static route with symmetric reply;
//! BFD punted to ovn-controller is metered at 25 packets/s (OVN-Kubernetes' CoPP).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::netns::{check_test_addr, check_test_prefix, run, Netns};
use crate::process::{Process, TestDir};
use crate::wait::poll_until;

/// The tools [`Ovn`] runs.
pub const OVN_TOOLS: [&str; 8] = [
    "ovsdb-tool",
    "ovsdb-server",
    "ovs-vswitchd",
    "ovs-vsctl",
    "ovn-northd",
    "ovn-controller",
    "ovn-nbctl",
    "ovn-sbctl",
];
/// Where Debian's packages keep the database schemas.
const SCHEMAS: [(&str, &str); 3] = [
    ("conf", "/usr/share/openvswitch/vswitch.ovsschema"),
    ("nb", "/usr/share/ovn/ovn-nb.ovsschema"),
    ("sb", "/usr/share/ovn/ovn-sb.ovsschema"),
];
const CHASSIS: &str = "chassis-1";
const ROUTER: &str = "GR";
const ROUTER_PORT: &str = "rtoe";
const ROUTER_MAC: &str = "02:00:00:00:00:01";
/// How long a daemon's socket or the chassis' flows may take to appear.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// OVN-Kubernetes' meter for BFD punted to ovn-controller.
const BFD_METER_PPS: &str = "25";

/// Root plus every OVS and OVN tool [`Ovn`] runs.
pub fn require_ovn() -> bool {
    crate::env::require_root_or_skip()
        && crate::env::require_tools(&["ip", "kill"])
        && crate::env::require_tools(&OVN_TOOLS)
}

/// OVS + OVN running in a namespace; drop stops every daemon (last started first).
#[derive(Debug)]
pub struct Ovn<'a> {
    // Field order = drop order: the daemons go before their directory.
    daemons: Vec<Process>,
    ns: &'a Netns,
    dir: TestDir,
}

impl<'a> Ovn<'a> {
    /// Starts OVS and OVN in `ns`, puts `port` (an interface of `ns`, without addresses) on
    /// the external bridge and gives the gateway router's port `router_addresses` (`addr/len`,
    /// IPv4 and IPv6 alike).
    /// Returns once ovn-controller has claimed the router port.
    pub fn start(ns: &'a Netns, port: &str, router_addresses: &[&str]) -> Result<Self> {
        for address in router_addresses {
            check_test_prefix(address)?;
        }
        let dir = TestDir::new(&format!("ovn-{}", ns.name()))?;
        let mut ovn = Self {
            daemons: Vec::new(),
            ns,
            dir,
        };
        for (name, schema) in SCHEMAS {
            let db = ovn.dir.join(&format!("{name}.db"));
            ovn.tool("ovsdb-tool")
                .args(["create", &db.display().to_string(), schema])
                .output()
                .context("ovsdb-tool")
                .and_then(|o| {
                    if o.status.success() {
                        Ok(())
                    } else {
                        bail!(
                            "ovsdb-tool create {name}: {}",
                            String::from_utf8_lossy(&o.stderr)
                        )
                    }
                })?;
            let socket = ovn.socket(name);
            ovn.spawn(
                &format!("ovsdb-server-{name}"),
                &[
                    "ovsdb-server",
                    &db.display().to_string(),
                    &format!("--remote=punix:{}", socket.display()),
                    &format!(
                        "--unixctl={}",
                        ovn.dir.join(&format!("{name}.ctl")).display()
                    ),
                    &format!(
                        "--pidfile={}",
                        ovn.dir.join(&format!("{name}.pid")).display()
                    ),
                ],
            )?;
            ovn.wait_socket(&socket)?;
        }
        ovn.vsctl(&["--no-wait", "init"])?;
        let conf = format!("unix:{}", ovn.socket("conf").display());
        ovn.spawn(
            "ovs-vswitchd",
            &[
                "ovs-vswitchd",
                &conf,
                &format!("--pidfile={}", ovn.dir.join("vswitchd.pid").display()),
            ],
        )?;
        let sb = format!("unix:{}", ovn.socket("sb").display());
        ovn.spawn(
            "ovn-northd",
            &[
                "ovn-northd",
                &format!("--ovnnb-db=unix:{}", ovn.socket("nb").display()),
                &format!("--ovnsb-db={sb}"),
                &format!("--pidfile={}", ovn.dir.join("northd.pid").display()),
            ],
        )?;
        // Without a tunnel peer no encapsulation is ever used; OVN insists on a setting.
        ovn.vsctl(&[
            "set",
            "open_vswitch",
            ".",
            &format!("external_ids:system-id={CHASSIS}"),
            &format!("external_ids:ovn-remote={sb}"),
            "external_ids:ovn-encap-type=geneve",
            "external_ids:ovn-encap-ip=127.0.0.1",
            "external_ids:ovn-bridge-datapath-type=netdev",
            "external_ids:ovn-bridge-mappings=physnet:br-ext",
        ])?;
        ovn.vsctl(&[
            "add-br",
            "br-int",
            "--",
            "set",
            "bridge",
            "br-int",
            "datapath_type=netdev",
            "fail-mode=secure",
            "other_config:disable-in-band=true",
        ])?;
        ovn.vsctl(&[
            "add-br",
            "br-ext",
            "--",
            "set",
            "bridge",
            "br-ext",
            "datapath_type=netdev",
        ])?;
        ovn.vsctl(&["add-port", "br-ext", port])?;
        ovn.spawn(
            "ovn-controller",
            &[
                "ovn-controller",
                &conf,
                &format!("--pidfile={}", ovn.dir.join("controller.pid").display()),
            ],
        )?;
        ovn.nbctl(&[
            "lr-add",
            ROUTER,
            "--",
            "set",
            "logical_router",
            ROUTER,
            &format!("options:chassis={CHASSIS}"),
        ])?;
        let mut lrp = vec!["lrp-add", ROUTER, ROUTER_PORT, ROUTER_MAC];
        lrp.extend(router_addresses);
        ovn.nbctl(&lrp)?;
        ovn.nbctl(&["ls-add", "ext"])?;
        ovn.nbctl(&[
            "lsp-add",
            "ext",
            "etor",
            "--",
            "lsp-set-type",
            "etor",
            "router",
            "--",
            "lsp-set-addresses",
            "etor",
            "router",
            "--",
            "lsp-set-options",
            "etor",
            &format!("router-port={ROUTER_PORT}"),
        ])?;
        ovn.nbctl(&[
            "lsp-add",
            "ext",
            "ext-localnet",
            "--",
            "lsp-set-type",
            "ext-localnet",
            "localnet",
            "--",
            "lsp-set-addresses",
            "ext-localnet",
            "unknown",
            "--",
            "lsp-set-options",
            "ext-localnet",
            "network_name=physnet",
        ])?;
        ovn.nbctl(&["meter-add", "bfd-meter", "drop", BFD_METER_PPS, "pktps"])?;
        ovn.nbctl(&["copp-add", "copp", "bfd", "bfd-meter"])?;
        ovn.nbctl(&["lr-copp-add", "copp", ROUTER])?;
        // Every hypervisor (the one chassis) has caught up with the northbound database
        // (within nbctl's timeout).
        ovn.nbctl(&["--wait=hv", "sync"])?;
        Ok(ovn)
    }

    /// Adds an ECMP static route for sources in `source_prefix` through `next_hop`, tracked by
    /// a BFD session on the router port: what OVN-Kubernetes creates for an external gateway
    /// with `k8s.ovn.org/bfd-enabled`. The BFD row has no timers (OVN's defaults: 1 s, x5).
    pub fn add_bfd_route(&self, source_prefix: &str, next_hop: &str) -> Result<()> {
        check_test_prefix(source_prefix)?;
        check_test_addr(next_hop.parse().context("next hop")?)?;
        self.nbctl(&[
            "--bfd",
            "--policy=src-ip",
            "--ecmp-symmetric-reply",
            "lr-route-add",
            ROUTER,
            source_prefix,
            next_hop,
            ROUTER_PORT,
        ])
        .map(|_| ())
    }

    /// The northbound BFD row's `status` for `next_hop` (`up`, `down`, `init`, `admin_down`).
    pub fn bfd_status(&self, next_hop: &str) -> Result<String> {
        let out = self.nbctl(&[
            "--bare",
            "--columns=status",
            "find",
            "bfd",
            &format!("dst_ip=\"{next_hop}\""),
        ])?;
        let status = out.trim();
        if status.is_empty() {
            bail!("no BFD row for {next_hop}");
        }
        Ok(status.to_string())
    }

    /// Waits until the BFD row's status for `next_hop` satisfies `want`; returns how long
    /// that took and the status.
    pub fn wait_bfd_status(
        &self,
        next_hop: &str,
        what: &str,
        want: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Result<(Duration, String)> {
        let t = Instant::now();
        let mut last = None;
        let got = poll_until(timeout, Duration::from_millis(20), || {
            let s = self.bfd_status(next_hop).ok()?;
            let hit = want(&s);
            last = Some(s.clone());
            hit.then_some(s)
        });
        match got {
            Some(s) => Ok((t.elapsed(), s)),
            None => bail!(
                "OVN's BFD status for {next_hop} not {what} within {timeout:?} (last {last:?})\n{}",
                self.logs()
            ),
        }
    }

    /// Sets the BFD row's timers for `next_hop` (milliseconds), as an operator would in the
    /// northbound database; OVN changes them without a Poll sequence.
    pub fn set_bfd_timers(&self, next_hop: &str, min_tx: u32, min_rx: u32, mult: u8) -> Result<()> {
        let uuid = self.nbctl(&[
            "--bare",
            "--columns=_uuid",
            "find",
            "bfd",
            &format!("dst_ip=\"{next_hop}\""),
        ])?;
        self.nbctl(&[
            "set",
            "bfd",
            uuid.trim(),
            &format!("min_tx={min_tx}"),
            &format!("min_rx={min_rx}"),
            &format!("detect_mult={mult}"),
        ])
        .map(|_| ())
    }

    /// Stops ovn-controller (its BFD sessions stop with it, without AdminDown): a node that
    /// goes away.
    pub fn stop_controller(&mut self) -> Result<()> {
        let p = self
            .daemons
            .iter_mut()
            .find(|p| p.name() == "ovn-controller")
            .context("ovn-controller not started")?;
        p.signal("KILL")?;
        if p.wait_exit(Duration::from_secs(5)).is_none() {
            bail!("ovn-controller did not exit after SIGKILL");
        }
        Ok(())
    }

    /// The daemons' own logs (the last lines of each), for failure messages.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for name in ["ovn-controller", "ovn-northd", "ovs-vswitchd"] {
            let text =
                std::fs::read_to_string(self.dir.join(&format!("{name}.log"))).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(15)..].join("\n");
            s.push_str(&format!("----- {name} (last lines) -----\n{tail}\n"));
        }
        s
    }

    fn socket(&self, name: &str) -> PathBuf {
        self.dir.join(&format!("{name}.sock"))
    }

    /// Directory variables so that nothing reaches for the host's /var/run/openvswitch.
    fn env(&self) -> Vec<(String, String)> {
        let d = self.dir.path().display().to_string();
        [
            "OVS_RUNDIR",
            "OVS_LOGDIR",
            "OVS_DBDIR",
            "OVS_SYSCONFDIR",
            "OVN_RUNDIR",
            "OVN_LOGDIR",
            "OVN_DBDIR",
            "OVN_SYSCONFDIR",
        ]
        .into_iter()
        .map(|k| (k.to_string(), d.clone()))
        .collect()
    }

    fn tool(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.envs(self.env());
        c
    }

    /// Runs a daemon in the foreground inside the namespace, logging to `<name>.log`.
    fn spawn(&mut self, name: &str, argv: &[&str]) -> Result<()> {
        let log = format!(
            "--log-file={}",
            self.dir.join(&format!("{name}.log")).display()
        );
        let mut argv: Vec<&str> = argv.to_vec();
        argv.push(&log);
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut p = Process::spawn_env(self.ns, name, &argv, &env, self.dir.path())?;
        std::thread::sleep(Duration::from_millis(50));
        p.ensure_running()?;
        self.daemons.push(p);
        Ok(())
    }

    fn wait_socket(&mut self, socket: &std::path::Path) -> Result<()> {
        let ok = crate::wait_until(START_TIMEOUT, Duration::from_millis(10), || socket.exists());
        if !ok {
            bail!(
                "{} did not appear within {START_TIMEOUT:?}",
                socket.display()
            );
        }
        Ok(())
    }

    fn vsctl(&self, args: &[&str]) -> Result<String> {
        let db = format!("--db=unix:{}", self.socket("conf").display());
        let timeout = format!("--timeout={}", START_TIMEOUT.as_secs());
        run(self
            .tool("ovs-vsctl")
            .args([db.as_str(), timeout.as_str()])
            .args(args))
    }

    fn nbctl(&self, args: &[&str]) -> Result<String> {
        let db = format!("--db=unix:{}", self.socket("nb").display());
        // A hung database must not hang the test: every call is bounded.
        run(self
            .tool("ovn-nbctl")
            .arg(db)
            .arg(format!("--timeout={}", START_TIMEOUT.as_secs()))
            .args(args))
    }
}

impl Drop for Ovn<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
        while let Some(p) = self.daemons.pop() {
            drop(p);
        }
    }
}
