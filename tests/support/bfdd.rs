//! Our own `bfdd` (and `bfdctl`), run from the workspace's target directory inside a namespace.
//!
//! [`Bfdd::start`] writes a `bfdd.toml` into a [`TestDir`] (control socket, state directory and
//! log live there too), runs the binary in the namespace through [`Process`] and returns once
//! the control socket answers `ready`. The control socket is a path-based Unix socket, so the
//! test talks to it directly from the root namespace; `/metrics` listens on 127.0.0.1:9000
//! *inside* the namespace and is fetched with `ip netns exec NS python3`.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use bfd_control::{PeerDetail, PeerSummary, Request, Response};

use crate::bird::BirdAuth;
use crate::netns::{check_test_addr, Netns};
use crate::process::{Process, TestDir};
use crate::wait::poll_until;

/// Address of the metrics endpoint inside the namespace (each namespace has its own loopback).
pub const METRICS_ADDRESS: &str = "127.0.0.1:9000";
/// How long [`Bfdd::start`] waits for the control socket to answer `ready`.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout of one control-socket exchange.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// Binaries

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The cargo target directory: `CARGO_TARGET_DIR` if set (relative to the workspace root),
/// else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(d) => workspace_root().join(d),
        None => workspace_root().join("target"),
    }
}

/// Runs `cargo build -p PKG --bin PKG` in the workspace; returns the binary's path (as cargo
/// reports it, so any target-dir setting is honoured), or the build's error output.
pub fn cargo_build(package: &str) -> std::result::Result<PathBuf, String> {
    cargo_build_profile(package, false)
}

/// [`cargo_build`] with `--release`: for benchmarks, which measure the optimised daemon.
pub fn cargo_build_release(package: &str) -> std::result::Result<PathBuf, String> {
    cargo_build_profile(package, true)
}

fn cargo_build_profile(package: &str, release: bool) -> std::result::Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(&cargo)
        .args([
            "build",
            "--message-format=json-render-diagnostics",
            "-p",
            package,
        ])
        .args(["--bin", package])
        .args(release.then_some("--release"))
        .current_dir(workspace_root())
        .output()
        .map_err(|e| format!("cannot run {cargo:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo build -p {package} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let reported = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == package)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from));
    let profile = if release { "release" } else { "debug" };
    let bin = reported.unwrap_or_else(|| target_dir().join(profile).join(package));
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!(
            "cargo build -p {package} produced no {}",
            bin.display()
        ))
    }
}

/// The `bfdd` binary, built once per test process (`cargo build -p bfdd`, a no-op when it is
/// up to date, so a fixed daemon is never tested stale). `BFDD_BIN` overrides it. When the
/// build fails outside CI, an existing binary is used with a warning.
pub fn bfdd_bin() -> Result<PathBuf> {
    static BIN: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    let r = BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("BFDD_BIN") {
            return Ok(PathBuf::from(p));
        }
        match cargo_build("bfdd") {
            Ok(p) => {
                eprintln!("bfdd binary: {}", p.display());
                Ok(p)
            }
            Err(e) => {
                // No cargo (an installed test binary): use what is there, if anything. Never
                // under CI, where a stale binary would test the wrong daemon.
                let bin = target_dir().join("debug/bfdd");
                if bin.exists() && !crate::env::is_ci() {
                    eprintln!("warning: {e}\nusing the existing {}", bin.display());
                    Ok(bin)
                } else {
                    Err(e)
                }
            }
        }
    });
    r.clone().map_err(anyhow::Error::msg)
}

/// The `bfdctl` binary, built once per test process; `None` (with the reason printed once)
/// when it does not build. `BFDCTL_BIN` overrides it (set but empty: `None`).
pub fn bfdctl_bin() -> Option<PathBuf> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("BFDCTL_BIN") {
            // Empty: behave as if bfdctl did not build (exercises the fallback).
            return (!p.is_empty()).then(|| PathBuf::from(p));
        }
        match cargo_build("bfdctl") {
            Ok(p) => Some(p),
            Err(e) => {
                let first = e
                    .lines()
                    .find(|l| l.starts_with("error"))
                    .unwrap_or("")
                    .to_string();
                eprintln!("NOTE: bfdctl does not build ({first}); bfdctl checks use the control socket directly");
                None
            }
        }
    })
    .clone()
}

/// `python3` to run inside namespaces: the system one when present (the pyenv shim is slow to
/// start), else whatever `PATH` has.
pub fn python3() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// Root plus what [`Bfdd`] needs: `ip`, `kill`, `python3` (metrics, forged packets).
pub fn require_bfdd() -> bool {
    crate::env::require_root_or_skip() && crate::env::require_tools(&["ip", "kill", "python3"])
}

// ---------------------------------------------------------------------------------------------
// Configuration

/// `[peer.auth]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BfddAuth {
    /// `type`: `simple-password`, `keyed-md5`, `meticulous-keyed-md5`, `keyed-sha1`,
    /// `meticulous-keyed-sha1`.
    pub auth_type: String,
    /// `key-id`.
    pub key_id: u8,
    /// `secret`.
    pub secret: String,
}

impl BfddAuth {
    /// bfdd's name for BIRD's authentication type (`None` for `BirdAuth::None`).
    pub fn type_name(auth: BirdAuth) -> Option<&'static str> {
        Some(match auth {
            BirdAuth::None => return None,
            BirdAuth::Simple => "simple-password",
            BirdAuth::KeyedMd5 => "keyed-md5",
            BirdAuth::MeticulousKeyedMd5 => "meticulous-keyed-md5",
            BirdAuth::KeyedSha1 => "keyed-sha1",
            BirdAuth::MeticulousKeyedSha1 => "meticulous-keyed-sha1",
        })
    }

    /// The same algorithm BIRD calls `auth`, with this key.
    pub fn like_bird(auth: BirdAuth, key_id: u8, secret: &str) -> Option<Self> {
        Self::type_name(auth).map(|t| Self {
            auth_type: t.to_string(),
            key_id,
            secret: secret.to_string(),
        })
    }
}

/// One `[[peer]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BfddPeer {
    /// `address`.
    pub address: String,
    /// `local-address`.
    pub local: Option<String>,
    /// `interface`.
    pub interface: Option<String>,
    /// `multihop`.
    pub multihop: bool,
    /// `minimum-ttl` (multihop only).
    pub minimum_ttl: Option<u8>,
    /// `desired-min-tx` in ms.
    pub desired_min_tx_ms: Option<u32>,
    /// `required-min-rx` in ms.
    pub required_min_rx_ms: Option<u32>,
    /// `detect-multiplier`.
    pub detect_multiplier: Option<u8>,
    /// `passive`.
    pub passive: Option<bool>,
    /// `shutdown`.
    pub shutdown: bool,
    /// `[peer.auth]`.
    pub auth: Option<BfddAuth>,
}

impl BfddPeer {
    /// A peer with bfdd's defaults.
    pub fn new(address: &str) -> Self {
        Self {
            address: address.to_string(),
            local: None,
            interface: None,
            multihop: false,
            minimum_ttl: None,
            desired_min_tx_ms: None,
            required_min_rx_ms: None,
            detect_multiplier: None,
            passive: None,
            shutdown: false,
            auth: None,
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

    /// Sets `minimum-ttl`.
    pub fn minimum_ttl(mut self, ttl: u8) -> Self {
        self.minimum_ttl = Some(ttl);
        self
    }

    /// Sets both `desired-min-tx` and `required-min-rx` (ms).
    pub fn interval(mut self, ms: u32) -> Self {
        self.desired_min_tx_ms = Some(ms);
        self.required_min_rx_ms = Some(ms);
        self
    }

    /// Sets `desired-min-tx` (ms).
    pub fn desired_min_tx(mut self, ms: u32) -> Self {
        self.desired_min_tx_ms = Some(ms);
        self
    }

    /// Sets `required-min-rx` (ms).
    pub fn required_min_rx(mut self, ms: u32) -> Self {
        self.required_min_rx_ms = Some(ms);
        self
    }

    /// Sets `detect-multiplier`.
    pub fn multiplier(mut self, m: u8) -> Self {
        self.detect_multiplier = Some(m);
        self
    }

    /// Sets `passive`.
    pub fn passive(mut self, on: bool) -> Self {
        self.passive = Some(on);
        self
    }

    /// Sets `shutdown`.
    pub fn shutdown(mut self, on: bool) -> Self {
        self.shutdown = on;
        self
    }

    /// Sets `[peer.auth]`.
    pub fn auth(mut self, auth: Option<BfddAuth>) -> Self {
        self.auth = auth;
        self
    }

    fn validate(&self) -> Result<()> {
        for a in std::iter::once(&self.address).chain(self.local.as_ref()) {
            let ip: IpAddr = a.parse().with_context(|| format!("bad address {a}"))?;
            check_test_addr(ip)?;
        }
        Ok(())
    }

    fn render(&self, s: &mut String) {
        s.push_str("\n[[peer]]\n");
        let _ = writeln!(s, "address = {}", toml_str(&self.address));
        if let Some(l) = &self.local {
            let _ = writeln!(s, "local-address = {}", toml_str(l));
        }
        if let Some(i) = &self.interface {
            let _ = writeln!(s, "interface = {}", toml_str(i));
        }
        if self.multihop {
            s.push_str("multihop = true\n");
        }
        if let Some(t) = self.minimum_ttl {
            let _ = writeln!(s, "minimum-ttl = {t}");
        }
        if let Some(ms) = self.desired_min_tx_ms {
            let _ = writeln!(s, "desired-min-tx = \"{ms}ms\"");
        }
        if let Some(ms) = self.required_min_rx_ms {
            let _ = writeln!(s, "required-min-rx = \"{ms}ms\"");
        }
        if let Some(m) = self.detect_multiplier {
            let _ = writeln!(s, "detect-multiplier = {m}");
        }
        if let Some(p) = self.passive {
            let _ = writeln!(s, "passive = {p}");
        }
        if self.shutdown {
            s.push_str("shutdown = true\n");
        }
        if let Some(a) = &self.auth {
            s.push_str("[peer.auth]\n");
            let _ = writeln!(s, "type = {}", toml_str(&a.auth_type));
            let _ = writeln!(s, "key-id = {}", a.key_id);
            let _ = writeln!(s, "secret = {}", toml_str(&a.secret));
        }
    }
}

/// A TOML basic string (JSON's escapes are a subset of TOML's).
fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// bfdd.toml minus the `[daemon]` paths, which [`Bfdd`] fills in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BfddConfig {
    /// `[defaults] desired-min-tx` (ms).
    pub desired_min_tx_ms: Option<u32>,
    /// `[defaults] required-min-rx` (ms).
    pub required_min_rx_ms: Option<u32>,
    /// `[defaults] detect-multiplier`.
    pub detect_multiplier: Option<u8>,
    /// `[defaults] passive`.
    pub passive: Option<bool>,
    /// `[daemon] batched-transmit`.
    pub batched_transmit: Option<bool>,
    /// `[daemon] realtime-priority`.
    pub realtime_priority: Option<u8>,
    /// `[daemon] shutdown-drain` (ms).
    pub shutdown_drain_ms: Option<u32>,
    /// `[[peer]]`s.
    pub peers: Vec<BfddPeer>,
}

impl BfddConfig {
    /// No peers, bfdd's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a peer.
    pub fn peer(mut self, p: BfddPeer) -> Self {
        self.peers.push(p);
        self
    }

    /// Sets `[defaults] desired-min-tx` and `required-min-rx` (ms).
    pub fn interval(mut self, ms: u32) -> Self {
        self.desired_min_tx_ms = Some(ms);
        self.required_min_rx_ms = Some(ms);
        self
    }

    /// Sets `[defaults] detect-multiplier`.
    pub fn multiplier(mut self, m: u8) -> Self {
        self.detect_multiplier = Some(m);
        self
    }

    /// Sets `[daemon] batched-transmit`.
    pub fn batched_transmit(mut self, on: bool) -> Self {
        self.batched_transmit = Some(on);
        self
    }

    /// Sets `[daemon] realtime-priority`.
    pub fn realtime_priority(mut self, priority: u8) -> Self {
        self.realtime_priority = Some(priority);
        self
    }

    /// Sets `[daemon] shutdown-drain`.
    pub fn shutdown_drain(mut self, ms: u32) -> Self {
        self.shutdown_drain_ms = Some(ms);
        self
    }

    fn validate(&self) -> Result<()> {
        self.peers.iter().try_for_each(BfddPeer::validate)
    }

    /// The file text, with the `[daemon]` section pointing into `dir`.
    pub fn render(&self, dir: &Path) -> String {
        let mut s = String::from("# generated by bfdd-integration\n[daemon]\n");
        let _ = writeln!(
            s,
            "control-socket = {}",
            toml_str(&dir.join("bfdd.sock").display().to_string())
        );
        let _ = writeln!(s, "metrics-address = {}", toml_str(METRICS_ADDRESS));
        let _ = writeln!(
            s,
            "state-dir = {}",
            toml_str(&dir.join("state").display().to_string())
        );
        if let Some(on) = self.batched_transmit {
            let _ = writeln!(s, "batched-transmit = {on}");
        }
        if let Some(p) = self.realtime_priority {
            let _ = writeln!(s, "realtime-priority = {p}");
        }
        if let Some(ms) = self.shutdown_drain_ms {
            let _ = writeln!(s, "shutdown-drain = \"{ms}ms\"");
        }
        s.push_str("\n[defaults]\n");
        if let Some(ms) = self.desired_min_tx_ms {
            let _ = writeln!(s, "desired-min-tx = \"{ms}ms\"");
        }
        if let Some(ms) = self.required_min_rx_ms {
            let _ = writeln!(s, "required-min-rx = \"{ms}ms\"");
        }
        if let Some(m) = self.detect_multiplier {
            let _ = writeln!(s, "detect-multiplier = {m}");
        }
        if let Some(p) = self.passive {
            let _ = writeln!(s, "passive = {p}");
        }
        for p in &self.peers {
            p.render(&mut s);
        }
        s
    }
}

// ---------------------------------------------------------------------------------------------
// The daemon

/// Our `bfdd` running in a namespace, with its own directory for config, socket, state and log.
#[derive(Debug)]
pub struct Bfdd<'a> {
    // Field order = drop order: the process goes before its directory.
    proc: Option<Process>,
    ns: &'a Netns,
    config: BfddConfig,
    /// Runs bfdd through this command (e.g. `setpriv` to drop a capability).
    launcher: Vec<String>,
    dir: TestDir,
}

impl<'a> Bfdd<'a> {
    /// Writes bfdd.toml for `config` and starts bfdd in `ns`; returns once it answers `ready`.
    pub fn start(ns: &'a Netns, config: BfddConfig) -> Result<Self> {
        let mut me = Self::prepare(ns, config)?;
        me.spawn()?;
        Ok(me)
    }

    /// Like [`Bfdd::start`] but without starting: the directory and config exist, the daemon
    /// does not run yet (its socket is not there). [`Bfdd::spawn`] starts it.
    pub fn prepare(ns: &'a Netns, config: BfddConfig) -> Result<Self> {
        config.validate()?;
        let dir = TestDir::new(&format!("bfdd-{}", ns.name()))?;
        let me = Self {
            proc: None,
            ns,
            config,
            launcher: Vec::new(),
            dir,
        };
        me.write_config()?;
        Ok(me)
    }

    /// The namespace it runs in.
    pub fn ns(&self) -> &Netns {
        self.ns
    }

    /// Path of bfdd.toml.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("bfdd.toml")
    }

    /// Path of the control socket.
    pub fn socket_path(&self) -> PathBuf {
        self.dir.join("bfdd.sock")
    }

    /// The state directory (`[daemon] state-dir`).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// The configuration last written.
    pub fn config(&self) -> &BfddConfig {
        &self.config
    }

    fn write_config(&self) -> Result<()> {
        let path = self.config_path();
        std::fs::write(&path, self.config.render(self.dir.path()))
            .with_context(|| format!("writing {}", path.display()))
    }

    /// Replaces bfdd.toml with `config` (not applied until a reload or restart).
    pub fn set_config(&mut self, config: BfddConfig) -> Result<()> {
        config.validate()?;
        self.config = config;
        self.write_config()
    }

    /// Writes `text` as bfdd.toml verbatim (for broken files).
    pub fn write_config_text(&self, text: &str) -> Result<()> {
        std::fs::write(self.config_path(), text).context("writing bfdd.toml")
    }

    /// The command line (without the `ip netns exec NS` prefix).
    pub fn command_line(&self) -> Result<Vec<String>> {
        let mut argv = self.launcher.clone();
        argv.extend([
            bfdd_bin()?.display().to_string(),
            "--config".into(),
            self.config_path().display().to_string(),
        ]);
        Ok(argv)
    }

    /// Starts bfdd through `launcher` from the next [`Bfdd::spawn`] on; it must exec bfdd.
    pub fn set_launcher(&mut self, launcher: &[&str]) {
        self.launcher = launcher.iter().map(|s| s.to_string()).collect();
    }

    /// Starts the daemon (again) with the files in its directory; returns once it answers
    /// `ready`.
    pub fn spawn(&mut self) -> Result<()> {
        self.launch()?;
        self.wait_ready()
    }

    /// Starts the daemon (again) with the files in its directory, without waiting for it.
    pub fn launch(&mut self) -> Result<()> {
        let argv = self.command_line()?;
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        self.proc = Some(Process::spawn(self.ns, "bfdd", &argv, self.dir.path())?);
        Ok(())
    }

    /// Returns once the launched daemon answers `ready`; fails if it exits first.
    pub fn wait_ready(&mut self) -> Result<()> {
        let argv = self.command_line()?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(p) = self.proc.as_mut() {
                if !p.is_running() {
                    bail!(
                        "bfdd exited at start in {}: {argv:?}\nlog:\n{}",
                        self.ns.name(),
                        self.log()
                    );
                }
            }
            if self.socket_path().exists() {
                if let Ok(Response::Ready(r)) = self.request(&Request::Ready) {
                    if r.ready {
                        return Ok(());
                    }
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "bfdd did not answer `ready` on {} within {START_TIMEOUT:?}\nlog:\n{}",
                    self.socket_path().display(),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// PID of the running daemon.
    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().and_then(Process::pid)
    }

    /// The log (stderr/stdout of every run).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("bfdd.log")).unwrap_or_default()
    }

    /// Sends a signal (`TERM`, `HUP`, ...).
    pub fn signal(&mut self, sig: &str) -> Result<()> {
        match self.proc.as_mut() {
            Some(p) => p.signal(sig),
            None => bail!("bfdd not started"),
        }
    }

    /// Waits up to `timeout` for the daemon to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.proc.as_mut().and_then(|p| p.wait_exit(timeout))
    }

    /// SIGTERM, then SIGKILL after 5 s; returns the exit status.
    pub fn stop(&mut self) -> Result<ExitStatus> {
        match self.proc.as_mut() {
            Some(p) => p.terminate(Duration::from_secs(5)),
            None => bail!("bfdd not started"),
        }
    }

    /// Fails (with the log) if the daemon has exited.
    pub fn ensure_running(&mut self) -> Result<()> {
        match self.proc.as_mut() {
            Some(p) => p.ensure_running(),
            None => bail!("bfdd not started"),
        }
    }

    /// One control-socket exchange with a raw JSON request line; returns the parsed answer.
    pub fn request_json(&self, request: &serde_json::Value) -> Result<serde_json::Value> {
        let line = control_exchange(&self.socket_path(), &request.to_string())?;
        serde_json::from_str(&line).with_context(|| format!("parsing control answer {line:?}"))
    }

    /// One control-socket exchange.
    pub fn request(&self, request: &Request) -> Result<Response> {
        let text = serde_json::to_string(request)?;
        let line = control_exchange(&self.socket_path(), &text)?;
        serde_json::from_str(&line).with_context(|| format!("parsing control answer {line:?}"))
    }

    /// `{"request":"peers"}`.
    pub fn peers(&self) -> Result<Vec<PeerSummary>> {
        match self.request(&Request::Peers)? {
            Response::Peers { peers } => Ok(peers),
            other => bail!("peers: unexpected answer {other:?}"),
        }
    }

    /// `{"request":"peer","address":...}`.
    pub fn peer(&self, address: &str) -> Result<PeerDetail> {
        match self.request(&Request::Peer {
            address: address.to_string(),
            local: None,
            interface: None,
            multihop: None,
        })? {
            Response::Peer { peer } => Ok(*peer),
            other => bail!("peer {address}: unexpected answer {other:?}"),
        }
    }

    /// The session's `state` (`up`, `down`, `init`, `admin_down`).
    pub fn peer_state(&self, address: &str) -> Result<String> {
        Ok(self.peer(address)?.summary.state)
    }

    /// Waits until the session to `address` is in `state`; returns its detail then.
    pub fn wait_peer_state(
        &self,
        address: &str,
        state: &str,
        timeout: Duration,
    ) -> Result<PeerDetail> {
        let mut last = None;
        let got = poll_until(timeout, Duration::from_millis(20), || {
            let d = self.peer(address).ok()?;
            let hit = d.summary.state == state;
            last = Some(d.clone());
            hit.then_some(d)
        });
        match got {
            Some(d) => Ok(d),
            None => bail!(
                "bfdd peer {address} in {} not `{state}` within {timeout:?}; last: {last:?}\nlog:\n{}",
                self.ns.name(),
                self.log()
            ),
        }
    }

    /// `{"request":"reload"}`.
    pub fn reload(&self) -> Result<Response> {
        self.request(&Request::Reload)
    }

    /// `GET /metrics` inside the namespace.
    pub fn metrics(&self) -> Result<String> {
        let script = format!(
            "import sys,urllib.request;sys.stdout.write(urllib.request.urlopen('http://{METRICS_ADDRESS}/metrics',timeout=5).read().decode())"
        );
        self.ns.exec(&[python3(), "-c", &script])
    }

    /// The `state-change:` lines logged so far.
    pub fn state_changes(&self) -> Vec<StateChange> {
        parse_state_changes(&self.log())
    }

    /// Runs `bfdctl --socket SOCK args...` (from the root namespace: the socket is a file).
    /// `None` when bfdctl does not build.
    pub fn bfdctl(&self, args: &[&str]) -> Option<Result<Output>> {
        let bin = bfdctl_bin()?;
        Some(
            Command::new(&bin)
                .arg("--socket")
                .arg(self.socket_path())
                .args(args)
                .output()
                .with_context(|| format!("running {} {args:?}", bin.display())),
        )
    }
}

/// Writes `request` + newline to the Unix socket at `path` and reads one answer line.
pub fn control_exchange(path: &Path, request: &str) -> Result<String> {
    let mut s =
        UnixStream::connect(path).with_context(|| format!("connecting {}", path.display()))?;
    s.set_read_timeout(Some(CONTROL_TIMEOUT))?;
    s.set_write_timeout(Some(CONTROL_TIMEOUT))?;
    s.write_all(request.as_bytes())?;
    s.write_all(b"\n")?;
    let mut line = String::new();
    BufReader::new(s)
        .read_line(&mut line)
        .context("reading control answer")?;
    if line.is_empty() {
        bail!("control socket {} closed without answering", path.display());
    }
    Ok(line)
}

// ---------------------------------------------------------------------------------------------
// Metrics text

/// The value of the sample `name{labels...}` whose labels include every `(key, value)` of
/// `labels` (summed over all matching samples); `None` when no sample matches.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut sum = None;
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (label_text, value) = if let Some(r) = rest.strip_prefix('{') {
            let Some((l, v)) = r.split_once('}') else {
                continue;
            };
            (l, v)
        } else if rest.starts_with(' ') {
            ("", rest)
        } else {
            continue; // a longer metric name with this prefix
        };
        let have = parse_labels(label_text);
        let all = labels
            .iter()
            .all(|(k, v)| have.iter().any(|(hk, hv)| hk == k && hv == v));
        if !all {
            continue;
        }
        if let Ok(v) = value.trim().parse::<f64>() {
            *sum.get_or_insert(0.0) += v;
        }
    }
    sum
}

fn parse_labels(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some((k, r)) = rest.split_once("=\"") {
        let mut val = String::new();
        let mut chars = r.char_indices();
        let mut end = r.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        val.push(n);
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => val.push(c),
            }
        }
        out.push((k.trim_start_matches(',').trim().to_string(), val));
        rest = &r[end..];
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Log lines

/// One `state-change: [mhop:.. peer:.. local:.. interface:..] old -> new (diag)` log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    /// The line's timestamp.
    pub at: SystemTime,
    /// `mhop:yes`.
    pub multihop: bool,
    /// Peer address.
    pub peer: String,
    /// Local address or `-`.
    pub local: String,
    /// Interface or `-`.
    pub interface: String,
    /// Old state (`down`, `init`, `up`, `admin_down`).
    pub old: String,
    /// New state.
    pub new: String,
    /// Diagnostic (`control-expired`, `neighbor-down`, ...).
    pub diag: String,
}

/// Parses every `state-change:` line of a text-format bfdd log.
pub fn parse_state_changes(log: &str) -> Vec<StateChange> {
    log.lines().filter_map(parse_state_change).collect()
}

fn parse_state_change(line: &str) -> Option<StateChange> {
    let at = parse_rfc3339(line.split_whitespace().next()?)?;
    let (_, rest) = line.split_once("state-change: [")?;
    let (fields, rest) = rest.split_once("] ")?;
    let mut sc = StateChange {
        at,
        multihop: false,
        peer: String::new(),
        local: String::new(),
        interface: String::new(),
        old: String::new(),
        new: String::new(),
        diag: String::new(),
    };
    for f in fields.split_whitespace() {
        let (k, v) = f.split_once(':')?;
        match k {
            "mhop" => sc.multihop = v == "yes",
            "peer" => sc.peer = v.to_string(),
            "local" => sc.local = v.to_string(),
            "interface" => sc.interface = v.to_string(),
            _ => {}
        }
    }
    let (old, rest) = rest.split_once(" -> ")?;
    let (new, rest) = rest.split_once(" (")?;
    let (diag, _) = rest.split_once(')')?;
    sc.old = old.trim().to_string();
    sc.new = new.trim().to_string();
    sc.diag = diag.to_string();
    Some(sc)
}

/// Parses `YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm|-hh:mm)`.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-');
    let y: i64 = d.next()?.parse().ok()?;
    let mo: u32 = d.next()?.parse().ok()?;
    let da: u32 = d.next()?.parse().ok()?;
    let (clock, offset_secs) = if let Some(c) = time.strip_suffix('Z') {
        (c, 0i64)
    } else {
        let pos = time.rfind(['+', '-'])?;
        let (c, off) = time.split_at(pos);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':')?;
        (
            c,
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60),
        )
    };
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let mut t = hms.split(':');
    let h: i64 = t.next()?.parse().ok()?;
    let mi: i64 = t.next()?.parse().ok()?;
    let se: i64 = t.next()?.parse().ok()?;
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().take(9).collect();
        let n: u32 = digits.parse().ok()?;
        n * 10u32.pow(9 - digits.len() as u32)
    };
    let secs = days_from_civil(y, mo, da) * 86400 + h * 3600 + mi * 60 + se - offset_secs;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Signed milliseconds from `from` to `to` (negative when `to` is earlier).
pub fn ms_between(from: SystemTime, to: SystemTime) -> f64 {
    match to.duration_since(from) {
        Ok(d) => d.as_secs_f64() * 1000.0,
        Err(e) => -(e.duration().as_secs_f64() * 1000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_parses() {
        let t = parse_rfc3339("1970-01-02T00:00:01.5Z").unwrap();
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap(),
            Duration::from_millis(86_401_500)
        );
        let t = parse_rfc3339("2026-11-26T06:36:34.688111Z").unwrap();
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            1_795_674_994
        );
        let a = parse_rfc3339("2026-11-26T08:36:34+02:00").unwrap();
        let b = parse_rfc3339("2026-11-26T06:36:34Z").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn state_change_line_parses() {
        let line = "2026-11-26T06:36:34.688208Z  INFO state-change: [mhop:no peer:2001:db8:1::2 local:2001:db8:1::1 interface:-] up -> down (control-expired) peer=2001:db8:1::2";
        let sc = parse_state_change(line).unwrap();
        assert_eq!(sc.peer, "2001:db8:1::2");
        assert_eq!(sc.local, "2001:db8:1::1");
        assert_eq!(sc.interface, "-");
        assert!(!sc.multihop);
        assert_eq!((sc.old.as_str(), sc.new.as_str()), ("up", "down"));
        assert_eq!(sc.diag, "control-expired");
    }

    #[test]
    fn metrics_parse() {
        let text = "# HELP x\nbfd_session_up{interface=\"\",local=\"198.51.100.1\",peer=\"198.51.100.2\"} 1\n\
                    bfd_session_up_total 7\n\
                    bfd_packets_dropped_total{reason=\"ttl\"} 3\nbfd_sessions 2\n";
        assert_eq!(
            metric(text, "bfd_session_up", &[("peer", "198.51.100.2")]),
            Some(1.0)
        );
        assert_eq!(
            metric(text, "bfd_packets_dropped_total", &[("reason", "ttl")]),
            Some(3.0)
        );
        assert_eq!(
            metric(text, "bfd_packets_dropped_total", &[("reason", "auth")]),
            None
        );
        assert_eq!(metric(text, "bfd_sessions", &[]), Some(2.0));
    }
}
