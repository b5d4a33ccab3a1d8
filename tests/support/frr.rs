//! FRR's `bfdd`, run standalone (no zebra, no watchfrr) inside a namespace.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::netns::{check_test_addr, run, Netns};
use crate::process::{chown, Process, TestDir};
use crate::wait::poll_until;

/// Path of FRR's BFD daemon in the Debian package.
pub const FRR_BFDD: &str = "/usr/lib/frr/bfdd";

/// How long [`FrrBfdd::start`] waits for the vty socket to answer.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// One `peer` of FRR's `bfd` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrrPeer {
    /// The peer's address.
    pub peer: String,
    /// `local-address` (FRR binds its socket to it).
    pub local: Option<String>,
    /// `interface IFNAME` (only needed for link-local peers; leave `None` otherwise).
    pub interface: Option<String>,
    /// `multihop` session (RFC 5883).
    pub multihop: bool,
    /// `receive-interval` in ms (FRR default 300).
    pub receive_interval_ms: Option<u32>,
    /// `transmit-interval` in ms (FRR default 300).
    pub transmit_interval_ms: Option<u32>,
    /// `detect-multiplier` (FRR default 3).
    pub detect_multiplier: Option<u8>,
    /// `passive-mode`.
    pub passive: bool,
    /// `shutdown` (administratively down).
    pub shutdown: bool,
    /// `minimum-ttl` (multihop only).
    pub minimum_ttl: Option<u8>,
}

impl FrrPeer {
    /// A peer with FRR's defaults.
    pub fn new(peer: &str) -> Self {
        Self {
            peer: peer.to_string(),
            local: None,
            interface: None,
            multihop: false,
            receive_interval_ms: None,
            transmit_interval_ms: None,
            detect_multiplier: None,
            passive: false,
            shutdown: false,
            minimum_ttl: None,
        }
    }

    /// Sets `local-address`.
    pub fn local(mut self, local: &str) -> Self {
        self.local = Some(local.to_string());
        self
    }

    /// Sets `interface`.
    pub fn interface(mut self, ifname: &str) -> Self {
        self.interface = Some(ifname.to_string());
        self
    }

    /// Sets `multihop`.
    pub fn multihop(mut self, on: bool) -> Self {
        self.multihop = on;
        self
    }

    /// Sets both `receive-interval` and `transmit-interval` (ms).
    pub fn interval(mut self, ms: u32) -> Self {
        self.receive_interval_ms = Some(ms);
        self.transmit_interval_ms = Some(ms);
        self
    }

    /// Sets `receive-interval` (ms).
    pub fn receive_interval(mut self, ms: u32) -> Self {
        self.receive_interval_ms = Some(ms);
        self
    }

    /// Sets `transmit-interval` (ms).
    pub fn transmit_interval(mut self, ms: u32) -> Self {
        self.transmit_interval_ms = Some(ms);
        self
    }

    /// Sets `detect-multiplier`.
    pub fn multiplier(mut self, m: u8) -> Self {
        self.detect_multiplier = Some(m);
        self
    }

    /// Sets `passive-mode`.
    pub fn passive(mut self, on: bool) -> Self {
        self.passive = on;
        self
    }

    /// Sets `shutdown`.
    pub fn shutdown(mut self, on: bool) -> Self {
        self.shutdown = on;
        self
    }

    /// Sets `minimum-ttl` (multihop sessions).
    pub fn minimum_ttl(mut self, ttl: u8) -> Self {
        self.minimum_ttl = Some(ttl);
        self
    }

    /// The node header identifying the peer: `peer X [multihop] [local-address Y]
    /// [interface IF]`.
    pub fn header(&self) -> String {
        let mut s = format!("peer {}", self.peer);
        if self.multihop {
            s.push_str(" multihop");
        }
        if let Some(l) = &self.local {
            let _ = write!(s, " local-address {l}");
        }
        if let Some(i) = &self.interface {
            let _ = write!(s, " interface {i}");
        }
        s
    }

    /// The commands inside the peer node (every setting explicit, so that re-applying a peer
    /// at runtime also resets options to the values given here).
    pub fn body(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(ms) = self.receive_interval_ms {
            v.push(format!("receive-interval {ms}"));
        }
        if let Some(ms) = self.transmit_interval_ms {
            v.push(format!("transmit-interval {ms}"));
        }
        if let Some(m) = self.detect_multiplier {
            v.push(format!("detect-multiplier {m}"));
        }
        if let Some(t) = self.minimum_ttl {
            v.push(format!("minimum-ttl {t}"));
        }
        v.push(
            if self.passive {
                "passive-mode"
            } else {
                "no passive-mode"
            }
            .to_string(),
        );
        v.push(
            if self.shutdown {
                "shutdown"
            } else {
                "no shutdown"
            }
            .to_string(),
        );
        v
    }

    fn validate(&self) -> Result<()> {
        let p: IpAddr = self
            .peer
            .parse()
            .with_context(|| format!("bad peer address {}", self.peer))?;
        check_test_addr(p)?;
        if let Some(l) = &self.local {
            let l: IpAddr = l
                .parse()
                .with_context(|| format!("bad local address {l}"))?;
            check_test_addr(l)?;
        }
        Ok(())
    }
}

/// Renders a `bfdd.conf` with a `bfd` block holding `peers`.
pub fn render_config(peers: &[FrrPeer]) -> String {
    let mut s = String::from("! generated by bfdd-integration\n");
    s.push_str("bfd\n");
    for p in peers {
        let _ = writeln!(s, " {}", p.header());
        for line in p.body() {
            let _ = writeln!(s, "  {line}");
        }
        s.push_str(" exit\n !\n");
    }
    s.push_str("exit\n!\n");
    s
}

/// The command line of FRR's bfdd run standalone from `run_dir` (config `bfdd.conf`, pid file,
/// vty and control sockets all there, logging to stdout), as user frr; `debug` adds debug logs.
pub fn command_line(run_dir: &Path, debug: bool) -> Vec<String> {
    let d = run_dir.display().to_string();
    let mut v = vec![
        FRR_BFDD.to_string(),
        "-f".into(),
        format!("{d}/bfdd.conf"),
        "-i".into(),
        format!("{d}/bfdd.pid"),
        "--vty_socket".into(),
        d.clone(),
        "--bfdctl".into(),
        format!("{d}/bfdd.sock"),
        "-P".into(),
        "0".into(),
        "-u".into(),
        "frr".into(),
        "-g".into(),
        "frr".into(),
        "--log".into(),
        "stdout".into(),
    ];
    if debug {
        v.extend(["--log-level".into(), "debug".into()]);
    }
    v
}

/// FRR's `bfdd` running standalone in a namespace as user `frr`.
///
/// Started as root with `-u frr -g frr` (it drops privileges itself); its config, pid file,
/// vty socket and bfdctl socket live in a per-instance directory owned by `frr`. Queried and
/// configured with `vtysh --vty_socket DIR`.
#[derive(Debug)]
pub struct FrrBfdd<'a> {
    // Field order = drop order: the process goes before its directory.
    proc: Option<Process>,
    ns: &'a Netns,
    run_dir: PathBuf,
    peers: Vec<FrrPeer>,
    debug: bool,
    dir: TestDir,
}

impl<'a> FrrBfdd<'a> {
    /// Writes the config for `peers` and starts bfdd in `ns`; returns once vtysh answers.
    pub fn start(ns: &'a Netns, peers: &[FrrPeer]) -> Result<Self> {
        Self::start_with(ns, peers, false)
    }

    /// [`FrrBfdd::start`] with `--log-level debug` and `debug bfd peer/network` when `debug`.
    pub fn start_with(ns: &'a Netns, peers: &[FrrPeer], debug: bool) -> Result<Self> {
        for p in peers {
            p.validate()?;
        }
        let dir = TestDir::new(&format!("frr-{}", ns.name()))?;
        let run_dir = dir.subdir_owned_by("frr", "frr", "frr")?;
        let mut me = Self {
            proc: None,
            ns,
            run_dir,
            peers: peers.to_vec(),
            debug,
            dir,
        };
        me.spawn()?;
        Ok(me)
    }

    fn config_path(&self) -> PathBuf {
        self.run_dir.join("bfdd.conf")
    }

    /// The directory holding config, pid file and vty socket (`--vty_socket`).
    pub fn vty_dir(&self) -> &std::path::Path {
        &self.run_dir
    }

    /// The command line used to start bfdd (without the `ip netns exec NS` prefix).
    pub fn command_line(&self) -> Vec<String> {
        command_line(&self.run_dir, self.debug)
    }

    fn write_config(&self) -> Result<()> {
        let mut conf = render_config(&self.peers);
        if self.debug {
            conf = format!("debug bfd peer\ndebug bfd network\n{conf}");
        }
        let path = self.config_path();
        std::fs::write(&path, conf).with_context(|| format!("writing {}", path.display()))?;
        chown(&path, "frr", "frr")
    }

    fn spawn(&mut self) -> Result<()> {
        self.write_config()?;
        // A stale vty socket from a previous run would make the readiness check pass early.
        let _ = std::fs::remove_file(self.run_dir.join("bfdd.vty"));
        let argv = self.command_line();
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let proc = Process::spawn(self.ns, "frr-bfdd", &argv, self.dir.path())?;
        self.proc = Some(proc);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(p) = self.proc.as_mut() {
                if !p.is_running() {
                    bail!(
                        "FRR bfdd exited at start in {}: {:?}\nlog:\n{}",
                        self.ns.name(),
                        self.command_line(),
                        self.log()
                    );
                }
            }
            if self.run_dir.join("bfdd.vty").exists() && self.show_peers_json().is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "FRR bfdd did not answer on its vty within {START_TIMEOUT:?} in {}: {:?}\nlog:\n{}",
                    self.ns.name(),
                    self.command_line(),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// PID of the running daemon.
    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().and_then(Process::pid)
    }

    /// The daemon's log (stdout/stderr of all runs).
    pub fn log(&self) -> String {
        self.proc.as_ref().map(Process::log).unwrap_or_default()
    }

    /// The peers as currently configured (start-up plus runtime changes).
    pub fn peers(&self) -> &[FrrPeer] {
        &self.peers
    }

    /// Runs `vtysh --vty_socket DIR -c cmd1 -c cmd2 ...` in the namespace; returns stdout.
    pub fn vtysh(&self, cmds: &[&str]) -> Result<String> {
        let mut c = self.ns.command("vtysh");
        c.arg("--vty_socket").arg(&self.run_dir);
        for cmd in cmds {
            c.args(["-c", cmd]);
        }
        run(&mut c)
    }

    /// `show bfd peers json`: the array of all peers.
    pub fn show_peers_json(&self) -> Result<Value> {
        let out = self.vtysh(&["show bfd peers json"])?;
        serde_json::from_str(&out).with_context(|| format!("parsing show bfd peers json: {out}"))
    }

    /// `show bfd peer ADDR json`: one peer's object (fields `status`, `diagnostic`,
    /// `remote-diagnostic`, `receive-interval`, `remote-receive-interval`, ...).
    pub fn show_peer_json(&self, peer: &str) -> Result<Value> {
        let out = self.vtysh(&[&format!("show bfd peer {peer} json")])?;
        let v: Value = serde_json::from_str(&out)
            .with_context(|| format!("parsing show bfd peer {peer} json: {out}"))?;
        if v.get("status").is_none() {
            bail!("no such FRR peer {peer}: {out}");
        }
        Ok(v)
    }

    /// The peer's `status`: `up`, `down`, `init`, `shutdown`.
    pub fn peer_status(&self, peer: &str) -> Result<String> {
        let v = self.show_peer_json(peer)?;
        Ok(v["status"].as_str().unwrap_or_default().to_string())
    }

    /// Waits until the peer's `status` equals `status`; returns its JSON then, or an error
    /// with the last JSON and the log.
    pub fn wait_peer_status(&self, peer: &str, status: &str, timeout: Duration) -> Result<Value> {
        let mut last = None;
        let got = poll_until(timeout, Duration::from_millis(50), || {
            let v = self.show_peer_json(peer).ok()?;
            let ok = v["status"].as_str() == Some(status);
            last = Some(v.clone());
            ok.then_some(v)
        });
        match got {
            Some(v) => Ok(v),
            None => bail!(
                "FRR peer {peer} in {} not `{status}` within {timeout:?}; last: {}",
                self.ns.name(),
                last.map(|v| v.to_string())
                    .unwrap_or_else(|| "<none>".into())
            ),
        }
    }

    /// Runs `configure terminal`, `bfd`, then `lines` through vtysh; fails when FRR answers
    /// with a `%` error line.
    pub fn configure(&self, lines: &[&str]) -> Result<String> {
        let mut cmds = vec!["configure terminal", "bfd"];
        cmds.extend_from_slice(lines);
        let out = self.vtysh(&cmds)?;
        if let Some(err) = out.lines().find(|l| l.trim_start().starts_with('%')) {
            bail!("vtysh configure {lines:?}: {err}\n{out}");
        }
        Ok(out)
    }

    /// Adds (or updates) a peer at runtime through vtysh; remembered for restarts.
    pub fn add_peer(&mut self, peer: FrrPeer) -> Result<()> {
        peer.validate()?;
        let header = peer.header();
        let body = peer.body();
        let mut lines: Vec<&str> = vec![&header];
        lines.extend(body.iter().map(String::as_str));
        self.configure(&lines)?;
        self.peers.retain(|p| p.header() != header);
        self.peers.push(peer);
        Ok(())
    }

    /// Removes a peer (matched by its [`FrrPeer::header`]) at runtime.
    pub fn remove_peer(&mut self, peer: &FrrPeer) -> Result<()> {
        let header = peer.header();
        self.configure(&[&format!("no {header}")])?;
        self.peers.retain(|p| p.header() != header);
        Ok(())
    }

    /// Sets `shutdown` / `no shutdown` on the configured peer with address `peer`.
    pub fn set_shutdown(&mut self, peer: &str, shutdown: bool) -> Result<()> {
        let p = self
            .peers
            .iter()
            .find(|p| p.peer == peer)
            .cloned()
            .with_context(|| format!("peer {peer} not configured"))?;
        self.add_peer(p.shutdown(shutdown))
    }

    /// Stops the daemon with SIGTERM (SIGKILL after 5 s); the directory is kept for
    /// [`FrrBfdd::restart`].
    pub fn stop(&mut self) -> Result<()> {
        if let Some(p) = self.proc.as_mut() {
            p.terminate(Duration::from_secs(5))?;
        }
        Ok(())
    }

    /// Stops (if running) and starts again with the current peers.
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.spawn()
    }

    /// Fails (with the log) if the daemon has exited.
    pub fn ensure_running(&mut self) -> Result<()> {
        match self.proc.as_mut() {
            Some(p) => p.ensure_running(),
            None => bail!("FRR bfdd not started"),
        }
    }
}
