//! bfdd.toml: the daemon's settings, its BFD peers and the routes it installs.
//!
//! Loading happens in three steps so every refusal can name `file:line: key`:
//! 1. parse as TOML (syntax errors carry the parser's position);
//! 2. deserialize into `raw` structs with unknown keys denied and single values checked, with
//!    serde's path tracked for the key and toml's span for the line;
//! 3. resolve: apply `[defaults]`, read secret files and check what spans several keys
//!    (duplicates, address families, `bfd = true` routes without a peer), using the spans kept
//!    on the raw fields.
//!
//! The resolved [`Config`] holds plain values only, so the daemon can compare two of them on
//! reload without positions getting in the way.
//!
//! See `docs/bfdd.example.toml` for every key.

mod error;
mod pieces;
mod prefix;
mod raw;
mod resolve;

use std::ffi::OsString;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bfd_wire::AuthType;
use serde::Deserialize;

pub use error::ConfigError;
pub use prefix::{Prefix, PrefixError};
pub(crate) use resolve::route_slot_problem;

/// Environment variable overriding `[daemon] control-socket` (see [`Config::apply_env`]).
pub const SOCKET_ENV: &str = "BFDD_SOCKET";
/// Environment variable overriding `[daemon] metrics-address`: in a pod, the pod's own address
/// (known only when it starts), so that the endpoint is not on its other networks. An address
/// alone keeps the configured port, so one manifest serves IPv4 and IPv6 pods.
pub const METRICS_ENV: &str = "BFDD_METRICS_ADDRESS";
/// Default `[daemon] control-socket`.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/bfdd/bfdd.sock";
/// Default `[daemon] metrics-address`.
pub const DEFAULT_METRICS_ADDRESS: SocketAddr =
    SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 9000);
/// Default `[daemon] state-dir`.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/bfdd";
/// Default Desired Min TX Interval; FRR's default, so replacing FRR changes no timers.
pub const DEFAULT_DESIRED_MIN_TX: Duration = Duration::from_millis(300);
/// Default Required Min RX Interval; FRR's default.
pub const DEFAULT_REQUIRED_MIN_RX: Duration = Duration::from_millis(300);
/// Default Detect Mult; FRR's default.
pub const DEFAULT_DETECT_MULTIPLIER: u8 = 3;
/// Default lowest TTL accepted from a multihop peer (FRR's default: at most one hop away).
pub const DEFAULT_MULTIHOP_MIN_TTL: u8 = 254;
/// TTL a single-hop peer must send with (RFC 5881 §5, GTSM).
pub const SINGLE_HOP_TTL: u8 = 255;
/// Default `[routes] table`: the main table.
pub const DEFAULT_ROUTE_TABLE: u32 = 254;
/// Default `[routes] protocol`: an id outside the kernel's reserved 0-4, so our routes can be
/// told apart (and cleaned up) from everyone else's.
pub const DEFAULT_ROUTE_PROTOCOL: u8 = 199;
/// Shortest accepted interval.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// Longest accepted interval.
pub const MAX_INTERVAL: Duration = Duration::from_secs(60);

/// A loaded and validated bfdd.toml.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `[daemon]`
    pub daemon: DaemonConfig,
    /// `[[peer]]`, in file order, with `[defaults]` applied.
    pub peers: Vec<PeerConfig>,
    /// `[routes]` and `[[route]]`
    pub routes: RoutesConfig,
}

/// `[daemon]`: process-wide settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonConfig {
    /// Unix socket bfdctl talks to.
    pub control_socket: PathBuf,
    /// Prometheus endpoint; `None` when configured as `""`.
    pub metrics_address: Option<SocketAddr>,
    /// Where state surviving restarts is kept.
    pub state_dir: PathBuf,
    /// Also export metrics under frr_exporter's names, so existing dashboards keep working.
    pub frr_exporter_metrics: bool,
    /// Log line format.
    pub log_format: LogFormat,
    /// Send IPv4 sessions' packets in batches through one raw socket (needs CAP_NET_RAW;
    /// without it each session sends from its own socket, as with `false`).
    pub batched_transmit: bool,
    /// SCHED_FIFO priority (1..=99) of the thread that runs the sessions; `None` leaves it at
    /// normal priority.
    pub realtime_priority: Option<u8>,
    /// How long bfdd keeps sending AdminDown, with its routes in place, before it withdraws
    /// them and exits on SIGTERM: a peer that acts on AdminDown late (OVN writes status
    /// changes at most once per 5 s) still has a route back through the gateway meanwhile.
    pub shutdown_drain: Duration,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            control_socket: PathBuf::from(DEFAULT_CONTROL_SOCKET),
            metrics_address: Some(DEFAULT_METRICS_ADDRESS),
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            frr_exporter_metrics: false,
            log_format: LogFormat::Text,
            batched_transmit: true,
            realtime_priority: None,
            shutdown_drain: Duration::ZERO,
        }
    }
}

impl DaemonConfig {
    /// The `[daemon]` keys whose values differ in `other`: a reload leaves them as they are
    /// until bfdd restarts, and says which.
    pub fn changed_keys(&self, other: &DaemonConfig) -> Vec<&'static str> {
        // Taken apart, so a new setting cannot be left out of the comparison.
        let DaemonConfig {
            control_socket,
            metrics_address,
            state_dir,
            frr_exporter_metrics,
            log_format,
            batched_transmit,
            realtime_priority,
            // Read at exit: a reload applies it at once.
            shutdown_drain: _,
        } = self;
        [
            (*control_socket != other.control_socket, "control-socket"),
            (*metrics_address != other.metrics_address, "metrics-address"),
            (*state_dir != other.state_dir, "state-dir"),
            (
                *frr_exporter_metrics != other.frr_exporter_metrics,
                "frr-exporter-metrics",
            ),
            (*log_format != other.log_format, "log-format"),
            (
                *batched_transmit != other.batched_transmit,
                "batched-transmit",
            ),
            (
                *realtime_priority != other.realtime_priority,
                "realtime-priority",
            ),
        ]
        .into_iter()
        .filter_map(|(changed, key)| changed.then_some(key))
        .collect()
    }
}

/// `[daemon] log-format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// One `[[peer]]`: a BFD session, with `[defaults]` already applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    /// Remote system.
    pub address: IpAddr,
    /// Source address; same family as `address`.
    pub local_address: Option<IpAddr>,
    /// Interface the session is bound to.
    pub interface: Option<String>,
    /// RFC 5883 multihop session (UDP 4784) instead of RFC 5881 single hop (UDP 3784).
    pub multihop: bool,
    /// Lowest TTL / hop limit accepted on received packets: 255 for single hop (RFC 5881
    /// GTSM), `minimum-ttl` (default 254) for multihop.
    pub minimum_ttl: u8,
    /// Desired Min TX Interval (10ms..=60s when loaded from a file).
    pub desired_min_tx: Duration,
    /// Required Min RX Interval (10ms..=60s when loaded from a file).
    pub required_min_rx: Duration,
    /// Detect Mult, 1..=255.
    pub detect_multiplier: u8,
    /// Wait for the peer to speak first (RFC 5880 §6.1 passive role).
    pub passive: bool,
    /// Administratively down: the session is kept in AdminDown.
    pub shutdown: bool,
    /// Authentication, if any.
    pub auth: Option<AuthConfig>,
}

impl PeerConfig {
    /// Identity of the session: peers with the same key are the same session across reloads,
    /// and two peers in one file may not share a key.
    pub fn key(&self) -> PeerKey {
        PeerKey {
            address: self.address,
            local_address: self.local_address,
            interface: self.interface.clone(),
            multihop: self.multihop,
        }
    }

    /// `desired_min_tx` in microseconds as sent on the wire (saturating).
    pub fn desired_min_tx_us(&self) -> u32 {
        micros(self.desired_min_tx)
    }

    /// `required_min_rx` in microseconds as sent on the wire (saturating).
    pub fn required_min_rx_us(&self) -> u32 {
        micros(self.required_min_rx)
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// What identifies a session: see [`PeerConfig::key`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerKey {
    /// Remote system.
    pub address: IpAddr,
    /// Source address, if pinned.
    pub local_address: Option<IpAddr>,
    /// Bound interface, if any.
    pub interface: Option<String>,
    /// Multihop session.
    pub multihop: bool,
}

impl fmt::Display for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.address)?;
        if let Some(local) = self.local_address {
            write!(f, " local {local}")?;
        }
        if let Some(interface) = &self.interface {
            write!(f, " interface {interface}")?;
        }
        if self.multihop {
            f.write_str(" multihop")?;
        }
        Ok(())
    }
}

/// The text [`PeerKey`]'s Display writes (the state file's keys); interface names hold no
/// spaces.
impl std::str::FromStr for PeerKey {
    type Err = String;

    fn from_str(text: &str) -> Result<PeerKey, String> {
        let mut words = text.split(' ');
        let address = words.next().unwrap_or_default();
        let mut key = PeerKey {
            address: address
                .parse()
                .map_err(|_| format!("{address:?} is not an address"))?,
            local_address: None,
            interface: None,
            multihop: false,
        };
        while let Some(word) = words.next() {
            match (word, words.next()) {
                ("local", Some(local)) => {
                    key.local_address = Some(
                        local
                            .parse()
                            .map_err(|_| format!("{local:?} is not an address"))?,
                    );
                }
                ("interface", Some(name)) => key.interface = Some(name.to_string()),
                ("multihop", None) => key.multihop = true,
                _ => return Err(format!("unexpected {word:?} in {text:?}")),
            }
        }
        Ok(key)
    }
}

/// `[peer.auth]` with the secret loaded.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Authentication type.
    pub auth_type: AuthType,
    /// Auth Key ID sent and expected.
    pub key_id: u8,
    /// The password or key, 1..=`auth_type.max_key_len()` bytes.
    pub secret: Vec<u8>,
}

/// Redacts the secret: configs end up in logs and `--check-config` output.
impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("auth_type", &self.auth_type)
            .field("key_id", &self.key_id)
            .field(
                "secret",
                &format_args!("<{} bytes redacted>", self.secret.len()),
            )
            .finish()
    }
}

/// `[routes]` and the `[[route]]` list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutesConfig {
    /// Kernel routing table the routes go into.
    pub table: u32,
    /// rtnetlink protocol id marking our routes.
    pub protocol: u8,
    /// Leave routes installed when the daemon exits (e.g. for restarts without traffic loss).
    pub keep_on_exit: bool,
    /// `[[route]]`, in file order.
    pub routes: Vec<RouteConfig>,
}

impl Default for RoutesConfig {
    fn default() -> Self {
        RoutesConfig {
            table: DEFAULT_ROUTE_TABLE,
            protocol: DEFAULT_ROUTE_PROTOCOL,
            keep_on_exit: false,
            routes: Vec::new(),
        }
    }
}

/// One `[[route]]`: `destination` via `gateway`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RouteConfig {
    /// Destination prefix.
    pub destination: Prefix,
    /// Next hop; same family as `destination`.
    pub gateway: IpAddr,
    /// Install only while the BFD session to `gateway` is Up.
    pub bfd: bool,
}

/// Parses one piece of the file (or all of it): syntax first, so its errors come from the
/// parser, then the typed structs. `peer_base` and `route_base` number the piece's peers and
/// routes as the whole file does, for the key an error names.
fn parse_piece<T: serde::de::DeserializeOwned>(
    origin: &error::Origin<'_>,
    text: &str,
    peer_base: usize,
    route_base: usize,
) -> Result<T, ConfigError> {
    text.parse::<toml::Table>().map_err(|e| origin.syntax(&e))?;
    serde_path_to_error::deserialize(toml::Deserializer::new(text))
        .map_err(|e| origin.serde(e, |key| pieces::shift_key(key, peer_base, route_base)))
}

/// Parses the piece `head` with `first`, then the pieces `tail` (peers and routes only) in
/// order with `rest`, which is given how many peers and routes came before, and joins them
/// into one configuration.
fn parse_pieces<E>(
    head: std::ops::Range<usize>,
    tail: &[std::ops::Range<usize>],
    first: impl FnOnce(std::ops::Range<usize>) -> Result<raw::RawConfig, E>,
    mut rest: impl FnMut(std::ops::Range<usize>, usize, usize) -> Result<raw::RawPeerTables, E>,
) -> Result<raw::RawConfig, E> {
    let mut raw = first(head)?;
    for range in tail {
        let piece = rest(range.clone(), raw.peer.len(), raw.route.len())?;
        raw.peer.extend(piece.peer);
        raw.route.extend(piece.route);
    }
    Ok(raw)
}

impl Config {
    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        // Not "cannot read": the file was read, and a stray Latin-1 byte is on some line.
        let text = String::from_utf8(bytes).map_err(|e| {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            ConfigError::Syntax {
                file: path.to_owned(),
                line: 1 + valid.iter().filter(|b| **b == b'\n').count(),
                message: "not UTF-8 text (TOML files are UTF-8)".to_owned(),
            }
        })?;
        Config::parse(&text, path)
    }

    /// Parses `text`; `path` names the file in errors and is the base for relative
    /// `secret-file`s, which are read now so a bad secret fails the load, not a session.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let origin = error::Origin { file: path, text };
        // A file that is not cut is one piece.
        let ranges = pieces::split(text).unwrap_or_default();
        let (head, tail) = ranges
            .split_first()
            .map_or((0..text.len(), &[][..]), |(h, t)| (h.clone(), t));
        // Each piece parsed as it stands, without checking syntax first (only whether it
        // parses counts here); its spans are then offsets in the piece, not in the file. Spans
        // only name the line of an error, so a file with an error is parsed again with every
        // piece padded out to its place in the file, which costs time in the square of the
        // file's length (0.1 s at 10,000 peers), and the error comes from that parse.
        let quick = parse_pieces(
            head.clone(),
            tail,
            |r| toml::from_str::<raw::RawConfig>(&text[r]),
            |r, _, _| toml::from_str::<raw::RawPeerTables>(&text[r]),
        );
        if let Ok(Ok(config)) = quick.map(|raw| resolve::resolve(raw, &origin)) {
            return Ok(config);
        }
        let mut piece = String::new();
        let raw = parse_pieces(
            head,
            tail,
            |r| parse_piece(&origin, &text[r], 0, 0),
            |r, peers, routes| {
                pieces::padded(text, r, &mut piece);
                parse_piece(&origin, &piece, peers, routes)
            },
        )?;
        resolve::resolve(raw, &origin)
    }

    /// Applies environment overrides ([`SOCKET_ENV`], [`METRICS_ENV`]). Separate from
    /// [`Config::parse`] so parsing stays a pure function of the file and `--check-config`
    /// reports the file alone.
    pub fn apply_env(&mut self) -> Result<(), String> {
        self.apply_socket_override(std::env::var_os(SOCKET_ENV));
        self.apply_metrics_override(std::env::var_os(METRICS_ENV))
    }

    /// Sets the metrics address from the value of [`METRICS_ENV`]: an address and port, or an
    /// address alone, which takes the configured port and leaves an endpoint the file turns
    /// off (`""`) off. Unset or empty changes nothing.
    pub fn apply_metrics_override(&mut self, value: Option<OsString>) -> Result<(), String> {
        let Some(v) = value.filter(|v| !v.is_empty()) else {
            return Ok(());
        };
        let text = v.to_str().unwrap_or_default();
        if let Ok(address) = text.parse::<SocketAddr>() {
            self.daemon.metrics_address = Some(address);
            return Ok(());
        }
        let bracketed = text.strip_prefix('[').and_then(|r| r.strip_suffix(']'));
        let Ok(ip) = bracketed.unwrap_or(text).parse::<IpAddr>() else {
            return Err(format!(
                "{METRICS_ENV}: {v:?} is not an address, or an address and port (e.g. 10.244.1.5, fd00::5, 10.244.1.5:9000 or [fd00::5]:9000)"
            ));
        };
        if let Some(address) = &mut self.daemon.metrics_address {
            address.set_ip(ip);
        }
        Ok(())
    }

    /// Sets the control socket from the value of [`SOCKET_ENV`]; unset or empty changes nothing.
    pub fn apply_socket_override(&mut self, value: Option<OsString>) {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            self.daemon.control_socket = PathBuf::from(v);
        }
    }
}
