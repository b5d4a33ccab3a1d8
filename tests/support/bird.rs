//! BIRD 2 with a `protocol bfd`, run in the foreground inside a namespace.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::netns::{check_test_addr, run, Netns};
use crate::process::{Process, TestDir};
use crate::wait::poll_until;

/// How long [`Bird::start`] waits for the control socket to answer.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// BFD authentication as BIRD 2 configures it (`authentication ...;` in an `interface` or
/// `multihop` block). Every RFC 5880 type is supported; the algorithm is common to all keys
/// of a block (not per key as in OSPF).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BirdAuth {
    /// `authentication none` (default).
    None,
    /// `authentication simple` (RFC 5880 type 1, password up to 16 bytes).
    Simple,
    /// `authentication keyed md5` (type 2, key up to 16 bytes).
    KeyedMd5,
    /// `authentication meticulous keyed md5` (type 3).
    MeticulousKeyedMd5,
    /// `authentication keyed sha1` (type 4, key up to 20 bytes).
    KeyedSha1,
    /// `authentication meticulous keyed sha1` (type 5).
    MeticulousKeyedSha1,
}

impl BirdAuth {
    /// Every variant, in RFC 5880 type order.
    pub const ALL: [BirdAuth; 6] = [
        BirdAuth::None,
        BirdAuth::Simple,
        BirdAuth::KeyedMd5,
        BirdAuth::MeticulousKeyedMd5,
        BirdAuth::KeyedSha1,
        BirdAuth::MeticulousKeyedSha1,
    ];

    /// The words after `authentication` in bird.conf.
    pub fn keyword(self) -> &'static str {
        match self {
            BirdAuth::None => "none",
            BirdAuth::Simple => "simple",
            BirdAuth::KeyedMd5 => "keyed md5",
            BirdAuth::MeticulousKeyedMd5 => "meticulous keyed md5",
            BirdAuth::KeyedSha1 => "keyed sha1",
            BirdAuth::MeticulousKeyedSha1 => "meticulous keyed sha1",
        }
    }

    /// The RFC 5880 Auth Type code (0 for none).
    pub fn rfc5880_type(self) -> u8 {
        match self {
            BirdAuth::None => 0,
            BirdAuth::Simple => 1,
            BirdAuth::KeyedMd5 => 2,
            BirdAuth::MeticulousKeyedMd5 => 3,
            BirdAuth::KeyedSha1 => 4,
            BirdAuth::MeticulousKeyedSha1 => 5,
        }
    }
}

/// One `password "..." { id N; ... };` entry (the id is the BFD Auth Key ID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirdKey {
    /// Auth Key ID (BIRD numbers keys 1, 2, ... by position when omitted; always rendered).
    pub id: u8,
    /// The password / key.
    pub password: String,
    /// `generate from "YYYY-MM-DD hh:mm:ss"`.
    pub generate_from: Option<String>,
    /// `generate to "..."`.
    pub generate_to: Option<String>,
    /// `accept from "..."`.
    pub accept_from: Option<String>,
    /// `accept to "..."`.
    pub accept_to: Option<String>,
}

impl BirdKey {
    /// A key valid for sending and receiving at all times.
    pub fn new(id: u8, password: &str) -> Self {
        Self {
            id,
            password: password.to_string(),
            generate_from: None,
            generate_to: None,
            accept_from: None,
            accept_to: None,
        }
    }

    fn render(&self) -> String {
        let mut s = format!("password \"{}\" {{ id {};", self.password, self.id);
        for (k, v) in [
            ("generate from", &self.generate_from),
            ("generate to", &self.generate_to),
            ("accept from", &self.accept_from),
            ("accept to", &self.accept_to),
        ] {
            if let Some(v) = v {
                let _ = write!(s, " {k} \"{v}\";");
            }
        }
        s.push_str(" };");
        s
    }
}

/// One `neighbor X [dev "IF"] [local Y] [multihop yes];` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirdNeighbor {
    /// The neighbor's address.
    pub addr: String,
    /// `local` address (required for multihop).
    pub local: Option<String>,
    /// `dev "IF"`.
    pub dev: Option<String>,
    /// `multihop yes`.
    pub multihop: bool,
}

impl BirdNeighbor {
    /// A directly connected neighbor.
    pub fn new(addr: &str) -> Self {
        Self {
            addr: addr.to_string(),
            local: None,
            dev: None,
            multihop: false,
        }
    }

    fn render(&self) -> String {
        let mut s = format!("neighbor {}", self.addr);
        if let Some(d) = &self.dev {
            let _ = write!(s, " dev \"{d}\"");
        }
        if let Some(l) = &self.local {
            let _ = write!(s, " local {l}");
        }
        if self.multihop {
            s.push_str(" multihop yes");
        }
        s.push(';');
        s
    }
}

/// Contents of a bird.conf with one `protocol bfd` (one BFD instance per BIRD: two `protocol
/// bfd` blocks share UDP port 3784 and steal each other's packets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirdConfig {
    /// `router id` (any 32-bit id; BIRD cannot derive one without IPv4 addresses).
    pub router_id: String,
    /// Explicit neighbors.
    pub neighbors: Vec<BirdNeighbor>,
    /// Interface pattern of the session-options block (default `"*"`).
    pub interface_pattern: String,
    /// `interval` (ms): sets both min rx and min tx.
    pub interval_ms: Option<u32>,
    /// `min rx interval` (ms; BIRD default 10).
    pub min_rx_ms: Option<u32>,
    /// `min tx interval` (ms; BIRD default 100).
    pub min_tx_ms: Option<u32>,
    /// `idle tx interval` (ms, used while not Up; BIRD default 1000).
    pub idle_tx_ms: Option<u32>,
    /// `multiplier` (BIRD default 5).
    pub multiplier: Option<u8>,
    /// `passive yes`.
    pub passive: bool,
    /// `authentication ...`.
    pub auth: BirdAuth,
    /// `password` entries (required when `auth` is not `None`).
    pub keys: Vec<BirdKey>,
    /// `debug all;` in the bfd protocol (goes to the log).
    pub debug: bool,
}

impl Default for BirdConfig {
    fn default() -> Self {
        Self {
            router_id: "192.0.2.254".into(),
            neighbors: Vec::new(),
            interface_pattern: "*".into(),
            interval_ms: None,
            min_rx_ms: None,
            min_tx_ms: None,
            idle_tx_ms: None,
            multiplier: None,
            passive: false,
            auth: BirdAuth::None,
            keys: Vec::new(),
            debug: false,
        }
    }
}

impl BirdConfig {
    /// An empty configuration with BIRD's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a directly connected neighbor.
    pub fn neighbor(mut self, addr: &str) -> Self {
        self.neighbors.push(BirdNeighbor::new(addr));
        self
    }

    /// Adds a neighbor with full options.
    pub fn neighbor_with(mut self, n: BirdNeighbor) -> Self {
        self.neighbors.push(n);
        self
    }

    /// Sets `interval` (ms).
    pub fn interval(mut self, ms: u32) -> Self {
        self.interval_ms = Some(ms);
        self
    }

    /// Sets `idle tx interval` (ms).
    pub fn idle_tx(mut self, ms: u32) -> Self {
        self.idle_tx_ms = Some(ms);
        self
    }

    /// Sets `multiplier`.
    pub fn multiplier(mut self, m: u8) -> Self {
        self.multiplier = Some(m);
        self
    }

    /// Sets `passive`.
    pub fn passive(mut self, on: bool) -> Self {
        self.passive = on;
        self
    }

    /// Sets authentication with keys.
    pub fn auth(mut self, auth: BirdAuth, keys: Vec<BirdKey>) -> Self {
        self.auth = auth;
        self.keys = keys;
        self
    }

    /// Sets `router id`.
    pub fn router_id(mut self, id: &str) -> Self {
        self.router_id = id.to_string();
        self
    }

    /// Enables `debug all` in the bfd protocol.
    pub fn debug(mut self, on: bool) -> Self {
        self.debug = on;
        self
    }

    fn session_options(&self) -> Vec<String> {
        let mut v = Vec::new();
        let ms = |name: &str, val: Option<u32>| val.map(|x| format!("{name} {x} ms;"));
        v.extend(ms("interval", self.interval_ms));
        v.extend(ms("min rx interval", self.min_rx_ms));
        v.extend(ms("min tx interval", self.min_tx_ms));
        v.extend(ms("idle tx interval", self.idle_tx_ms));
        if let Some(m) = self.multiplier {
            v.push(format!("multiplier {m};"));
        }
        v.push(format!(
            "passive {};",
            if self.passive { "yes" } else { "no" }
        ));
        if self.auth != BirdAuth::None {
            v.push(format!("authentication {};", self.auth.keyword()));
            v.extend(self.keys.iter().map(BirdKey::render));
        }
        v
    }

    /// The bird.conf text. Session options go to both the `interface` and the `multihop`
    /// blocks (BIRD takes options from those, not from `neighbor` lines).
    pub fn render(&self) -> String {
        let opts = self.session_options();
        let mut s = String::from("# generated by bfdd-integration\n");
        let _ = writeln!(s, "router id {};", self.router_id);
        s.push_str("log stderr all;\n");
        // The device protocol feeds BIRD's interface list; BFD needs it for direct neighbors.
        s.push_str("protocol device {\n}\n");
        s.push_str("protocol bfd {\n");
        if self.debug {
            s.push_str("  debug all;\n");
        }
        let _ = writeln!(s, "  interface \"{}\" {{", self.interface_pattern);
        for o in &opts {
            let _ = writeln!(s, "    {o}");
        }
        s.push_str("  };\n  multihop {\n");
        for o in &opts {
            let _ = writeln!(s, "    {o}");
        }
        s.push_str("  };\n");
        for n in &self.neighbors {
            let _ = writeln!(s, "  {}", n.render());
        }
        s.push_str("}\n");
        s
    }

    fn validate(&self) -> Result<()> {
        for n in &self.neighbors {
            for a in std::iter::once(&n.addr).chain(n.local.as_ref()) {
                let ip: IpAddr = a.parse().with_context(|| format!("bad address {a}"))?;
                check_test_addr(ip)?;
            }
        }
        if self.auth != BirdAuth::None && self.keys.is_empty() {
            bail!("BIRD authentication {:?} needs at least one key", self.auth);
        }
        Ok(())
    }
}

/// One row of `birdc show bfd sessions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirdSession {
    /// The BFD protocol instance (`bfd1` unless named).
    pub protocol: String,
    /// Neighbor address.
    pub addr: String,
    /// Interface name (`---` for multihop).
    pub interface: String,
    /// `Down`, `Init`, `Up` or `AdminDown`.
    pub state: String,
    /// Time of the last state change, as printed.
    pub since: String,
    /// Current TX interval in seconds, as printed (e.g. `0.300`).
    pub interval: String,
    /// Detection timeout in seconds, as printed (e.g. `0.900`).
    pub timeout: String,
}

/// Parses `birdc show bfd sessions` output:
///
/// ```text
/// BIRD 2.0.12 ready.
/// bfd1:
/// IP address                Interface  State      Since         Interval  Timeout
/// 198.51.100.1              eth0       Up         06:09:35.247    0.300    0.900
/// ```
pub fn parse_bfd_sessions(out: &str) -> Vec<BirdSession> {
    let mut proto = String::new();
    let mut v = Vec::new();
    for line in out.lines() {
        let toks: Vec<&str> = line.split_whitespace().collect();
        if toks.len() == 1 && toks[0].ends_with(':') {
            proto = toks[0].trim_end_matches(':').to_string();
            continue;
        }
        if toks.len() < 6 || toks[0].parse::<IpAddr>().is_err() {
            continue;
        }
        let n = toks.len();
        v.push(BirdSession {
            protocol: proto.clone(),
            addr: toks[0].to_string(),
            interface: toks[1].to_string(),
            state: toks[2].to_string(),
            since: toks[3..n - 2].join(" "),
            interval: toks[n - 2].to_string(),
            timeout: toks[n - 1].to_string(),
        });
    }
    v
}

/// BIRD in the foreground with its configuration, control socket and pid file: the command
/// line of the interop tests and of the load harness.
pub fn command_line(config: &Path, ctl: &Path, pid_file: &Path) -> Vec<String> {
    vec![
        "bird".into(),
        "-c".into(),
        config.display().to_string(),
        "-s".into(),
        ctl.display().to_string(),
        "-P".into(),
        pid_file.display().to_string(),
        "-f".into(),
    ]
}

/// Checks a configuration with `bird -p` (parse only, no daemon); returns BIRD's complaint.
pub fn check_config(conf_path: &std::path::Path) -> Result<()> {
    let out = Command::new("bird")
        .arg("-p")
        .arg("-c")
        .arg(conf_path)
        .output()
        .context("running bird -p")?;
    let err = String::from_utf8_lossy(&out.stderr);
    // `bird -p` exits 0 on some semantic errors, so any stderr output counts as an error.
    if !out.status.success() || !err.trim().is_empty() {
        bail!("bird -p rejected {}: {}", conf_path.display(), err.trim());
    }
    Ok(())
}

/// BIRD 2 (`bird -f`) running in a namespace with a [`BirdConfig`].
#[derive(Debug)]
pub struct Bird<'a> {
    // Field order = drop order: the process goes before its directory.
    proc: Option<Process>,
    ns: &'a Netns,
    config: BirdConfig,
    dir: TestDir,
}

impl<'a> Bird<'a> {
    /// Writes bird.conf (checked with `bird -p`), starts `bird -c CONF -s CTL -P PID -f` in
    /// `ns` and returns once `birdc` answers.
    pub fn start(ns: &'a Netns, config: BirdConfig) -> Result<Self> {
        config.validate()?;
        let dir = TestDir::new(&format!("bird-{}", ns.name()))?;
        let mut me = Self {
            proc: None,
            ns,
            config,
            dir,
        };
        me.spawn()?;
        Ok(me)
    }

    /// Path of bird.conf.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("bird.conf")
    }

    /// Path of the control socket (`birdc -s`).
    pub fn ctl_path(&self) -> PathBuf {
        self.dir.join("bird.ctl")
    }

    /// The configuration in force.
    pub fn config(&self) -> &BirdConfig {
        &self.config
    }

    /// The command line used to start BIRD (without the `ip netns exec NS` prefix).
    pub fn command_line(&self) -> Vec<String> {
        command_line(
            &self.config_path(),
            &self.ctl_path(),
            &self.dir.join("bird.pid"),
        )
    }

    fn write_config(&self) -> Result<()> {
        let path = self.config_path();
        std::fs::write(&path, self.config.render())
            .with_context(|| format!("writing {}", path.display()))?;
        check_config(&path)
    }

    fn spawn(&mut self) -> Result<()> {
        self.write_config()?;
        let _ = std::fs::remove_file(self.ctl_path());
        let argv = self.command_line();
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        self.proc = Some(Process::spawn(self.ns, "bird", &argv, self.dir.path())?);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(p) = self.proc.as_mut() {
                if !p.is_running() {
                    bail!(
                        "BIRD exited at start in {}; log:\n{}",
                        self.ns.name(),
                        self.log()
                    );
                }
            }
            if self.ctl_path().exists() && self.birdc("show status").is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "BIRD did not answer on {} within {START_TIMEOUT:?}; log:\n{}",
                    self.ctl_path().display(),
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

    /// BIRD's log (stderr, `log stderr all`).
    pub fn log(&self) -> String {
        self.proc.as_ref().map(Process::log).unwrap_or_default()
    }

    /// `birdc -s CTL <cmd>` (run in the namespace); returns stdout.
    pub fn birdc(&self, cmd: &str) -> Result<String> {
        let mut c = self.ns.command("birdc");
        c.arg("-s").arg(self.ctl_path());
        c.args(cmd.split_whitespace());
        run(&mut c)
    }

    /// All BFD sessions from `birdc show bfd sessions`.
    pub fn sessions(&self) -> Result<Vec<BirdSession>> {
        Ok(parse_bfd_sessions(&self.birdc("show bfd sessions")?))
    }

    /// State of the session to `addr` (`Up`, `Down`, `Init`, `AdminDown`), `None` if absent.
    pub fn session_state(&self, addr: &str) -> Result<Option<String>> {
        let want: Option<IpAddr> = addr.parse().ok();
        Ok(self
            .sessions()?
            .into_iter()
            .find(|s| s.addr == addr || (want.is_some() && s.addr.parse().ok() == want))
            .map(|s| s.state))
    }

    /// Waits until the session to `addr` is in `state`.
    pub fn wait_session_state(&self, addr: &str, state: &str, timeout: Duration) -> Result<()> {
        let mut last = None;
        let ok = poll_until(timeout, Duration::from_millis(50), || {
            let s = self.session_state(addr).ok().flatten();
            let hit = s.as_deref() == Some(state);
            last = s;
            hit.then_some(())
        });
        if ok.is_none() {
            bail!(
                "BIRD session {addr} in {} not `{state}` within {timeout:?} (last: {last:?}); sessions:\n{}",
                self.ns.name(),
                self.birdc("show bfd sessions").unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Rewrites bird.conf and applies it with `birdc configure`.
    pub fn reconfigure(&mut self, config: BirdConfig) -> Result<()> {
        config.validate()?;
        self.config = config;
        self.write_config()?;
        let out = self.birdc("configure")?;
        if !out.contains("Reconfigur") {
            bail!("birdc configure failed: {out}");
        }
        Ok(())
    }

    /// Stops BIRD with SIGTERM (SIGKILL after 5 s). BIRD does not send AdminDown on shutdown:
    /// peers see a detection-time expiry.
    pub fn stop(&mut self) -> Result<()> {
        if let Some(p) = self.proc.as_mut() {
            p.terminate(Duration::from_secs(5))?;
        }
        Ok(())
    }

    /// Stops (if running) and starts again with the current configuration.
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.spawn()
    }

    /// Fails (with the log) if the daemon has exited.
    pub fn ensure_running(&mut self) -> Result<()> {
        match self.proc.as_mut() {
            Some(p) => p.ensure_running(),
            None => bail!("BIRD not started"),
        }
    }
}
