//! From `raw` to [`Config`]: defaults, secret files and checks spanning several keys.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::error::{ConfigError, Origin};
use super::raw::{RawAuth, RawConfig, RawDefaults, RawPeer, RawRoute, RawRoutes};
use super::{
    AuthConfig, Config, DaemonConfig, PeerConfig, PeerKey, RouteConfig, RoutesConfig,
    DEFAULT_DESIRED_MIN_TX, DEFAULT_DETECT_MULTIPLIER, DEFAULT_METRICS_ADDRESS,
    DEFAULT_MULTIHOP_MIN_TTL, DEFAULT_REQUIRED_MIN_RX, DEFAULT_ROUTE_PROTOCOL, DEFAULT_ROUTE_TABLE,
    SINGLE_HOP_TTL,
};

pub(super) fn resolve(raw: RawConfig, origin: &Origin<'_>) -> Result<Config, ConfigError> {
    let defaults = DaemonConfig::default();
    let daemon = DaemonConfig {
        control_socket: raw
            .daemon
            .control_socket
            .map_or(defaults.control_socket, |p| p.0),
        metrics_address: raw
            .daemon
            .metrics_address
            .map_or(Some(DEFAULT_METRICS_ADDRESS), |m| m.0),
        state_dir: raw.daemon.state_dir.map_or(defaults.state_dir, |p| p.0),
        frr_exporter_metrics: raw.daemon.frr_exporter_metrics,
        log_format: raw.daemon.log_format,
        batched_transmit: raw
            .daemon
            .batched_transmit
            .unwrap_or(defaults.batched_transmit),
        realtime_priority: raw.daemon.realtime_priority.map(|p| p.0),
        shutdown_drain: raw
            .daemon
            .shutdown_drain
            .map_or(defaults.shutdown_drain, |d| d.0),
    };
    let peers = peers(raw.peer, &raw.defaults, origin)?;
    let routes = routes(raw.routes, raw.route, &peers, origin)?;
    Ok(Config {
        daemon,
        peers,
        routes,
    })
}

fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

/// fe80::/10: only meaningful together with an interface.
fn is_link_local_v6(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

/// A peer's local address and interface.
type PeerPath = (Option<IpAddr>, Option<String>);

/// Peers seen so far by (address, multihop): index, offset in the file, path.
type PathsByPeer = HashMap<(IpAddr, bool), Vec<(usize, usize, PeerPath)>>;

/// Whether `peer` and a peer to the same address with `other`'s local address and interface
/// may share a path: each setting equal, or unset on one side.
fn paths_overlap(peer: &PeerConfig, other: &PeerPath) -> bool {
    let local = match (peer.local_address, other.0) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    let interface = match (&peer.interface, &other.1) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    local && interface
}

fn peers(
    raw: Vec<Spanned<RawPeer>>,
    defaults: &RawDefaults,
    origin: &Origin<'_>,
) -> Result<Vec<PeerConfig>, ConfigError> {
    let mut seen: HashMap<PeerKey, (usize, usize)> = HashMap::new();
    let mut by_peer: PathsByPeer = HashMap::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, spanned) in raw.into_iter().enumerate() {
        let span = spanned.span();
        let p = spanned.into_inner();
        let key = |k: &str| format!("peer[{i}].{k}");
        let address = p.address.get_ref().0;

        if let Some(local) = &p.local_address {
            let l = local.get_ref().0;
            if l.is_ipv4() != address.is_ipv4() {
                return Err(origin.invalid(
                    local.span(),
                    key("local-address"),
                    format!(
                        "{l} is {} but address {address} is {}",
                        family(l),
                        family(address)
                    ),
                ));
            }
        }
        if is_link_local_v6(address) && p.interface.is_none() {
            return Err(origin.invalid(
                p.address.span(),
                key("address"),
                format!("{address} is link-local: set interface too"),
            ));
        }
        // Sent on an IPv6 socket, a mapped address goes nowhere, and the peer's answers come
        // from the plain IPv4 address, which matches no peer.
        let mut addresses = vec![("address", address, p.address.span())];
        if let Some(l) = &p.local_address {
            addresses.push(("local-address", l.get_ref().0, l.span()));
        }
        for (what, ip, span) in addresses {
            if let IpAddr::V6(v6) = ip {
                if let Some(v4) = v6.to_ipv4_mapped() {
                    return Err(origin.invalid(
                        span,
                        key(what),
                        format!("{v6} is an IPv4-mapped address: write {v4}"),
                    ));
                }
            }
        }
        if let Some(local) = &p.local_address {
            if is_link_local_v6(local.get_ref().0) && p.interface.is_none() {
                return Err(origin.invalid(
                    local.span(),
                    key("local-address"),
                    format!("{} is link-local: set interface too", local.get_ref().0),
                ));
            }
        }
        let minimum_ttl = match (&p.minimum_ttl, p.multihop) {
            (Some(ttl), false) => return Err(origin.invalid(
                ttl.span(),
                key("minimum-ttl"),
                "only valid with multihop = true (single-hop peers must send TTL 255, RFC 5881)",
            )),
            (Some(ttl), true) => ttl.get_ref().get(),
            (None, true) => DEFAULT_MULTIHOP_MIN_TTL,
            (None, false) => SINGLE_HOP_TTL,
        };
        let auth = match p.auth {
            Some(a) => Some(auth(a, &format!("peer[{i}].auth"), origin)?),
            None => None,
        };
        let peer = PeerConfig {
            address,
            local_address: p.local_address.map(|l| l.into_inner().0),
            interface: p.interface.map(|n| n.0),
            multihop: p.multihop,
            minimum_ttl,
            desired_min_tx: p
                .desired_min_tx
                .or(defaults.desired_min_tx)
                .map_or(DEFAULT_DESIRED_MIN_TX, |d| d.0),
            required_min_rx: p
                .required_min_rx
                .or(defaults.required_min_rx)
                .map_or(DEFAULT_REQUIRED_MIN_RX, |d| d.0),
            detect_multiplier: p
                .detect_multiplier
                .or(defaults.detect_multiplier)
                .map_or(DEFAULT_DETECT_MULTIPLIER, |m| m.get()),
            passive: p.passive.or(defaults.passive).unwrap_or(false),
            shutdown: p.shutdown,
            auth,
        };
        // Only the offset: counting lines for every entry would make loading O(N^2).
        if let Some((j, first)) = seen.insert(peer.key(), (i, span.start)) {
            let first_line = origin.line(first);
            return Err(origin.invalid(
                span,
                format!("peer[{i}]"),
                format!(
                    "duplicate of peer[{j}] at line {first_line} (same address, local-address, interface and multihop)"
                ),
            ));
        }
        // RFC 5881 §2-3: one session per path to a system. A peer without local-address or
        // interface may take the path of one with them: both would send to the same peer,
        // which keeps one session for us and sees its discriminator change under it.
        let path = (peer.address, peer.multihop);
        let same_peer = by_peer.entry(path).or_default();
        if let Some(&(j, first, _)) = same_peer
            .iter()
            .find(|(_, _, other)| paths_overlap(&peer, other))
        {
            let first_line = origin.line(first);
            return Err(origin.invalid(
                span,
                format!("peer[{i}]"),
                format!(
                    "same path as peer[{j}] at line {first_line}: two sessions to one address need \
                     different local-address or interface, each set on both"
                ),
            ));
        }
        same_peer.push((i, span.start, (peer.local_address, peer.interface.clone())));
        out.push(peer);
    }
    Ok(out)
}

fn auth(a: RawAuth, key: &str, origin: &Origin<'_>) -> Result<AuthConfig, ConfigError> {
    // The table itself has no position (see RawPeer::auth); `type` is required and close by.
    let span = a.auth_type.span();
    let auth_type = a.auth_type.into_inner().0;
    // Point at the later of two conflicting keys: that is the line to delete.
    let conflict = match (&a.secret, &a.secret_hex, &a.secret_file) {
        (_, Some(_), Some(f)) | (Some(_), None, Some(f)) => Some((f.span(), "secret-file")),
        (Some(_), Some(h), None) => Some((h.span(), "secret-hex")),
        _ => None,
    };
    if let Some((conflict_span, name)) = conflict {
        return Err(origin.invalid(
            conflict_span,
            format!("{key}.{name}"),
            "set only one of secret, secret-hex and secret-file",
        ));
    }
    let (secret, secret_span, secret_key, what) = if let Some(s) = a.secret {
        let span = s.span();
        (
            s.into_inner().into_bytes(),
            span,
            "secret",
            "secret".to_owned(),
        )
    } else if let Some(h) = a.secret_hex {
        // RFC 5880 §6.7.2-6.7.4: keys SHOULD be accepted as arbitrary bytes in hexadecimal.
        let span = h.span();
        let bytes = decode_hex(h.get_ref()).ok_or_else(|| {
            origin.invalid(
                span.clone(),
                format!("{key}.secret-hex"),
                "must be an even number of hexadecimal digits, e.g. \"0a1b2c\"",
            )
        })?;
        (bytes, span, "secret-hex", "secret-hex".to_owned())
    } else if let Some(file) = a.secret_file {
        let span = file.span();
        let path = relative_to(origin.file, file.get_ref());
        let bytes = read_secret_file(&path, auth_type.max_key_len()).map_err(|e| {
            origin.invalid(
                span.clone(),
                format!("{key}.secret-file"),
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        let what = format!("secret in {}", path.display());
        (strip_newline(bytes), span, "secret-file", what)
    } else {
        return Err(origin.invalid(span, key, "missing secret, secret-hex or secret-file"));
    };
    let max = auth_type.max_key_len();
    if secret.is_empty() || secret.len() > max {
        return Err(origin.invalid(
            secret_span,
            format!("{key}.{secret_key}"),
            format!(
                "{what} is {} bytes; {auth_type} takes 1..={max}",
                secret.len()
            ),
        ));
    }
    Ok(AuthConfig {
        auth_type,
        key_id: a.key_id,
        secret,
    })
}

/// `p` as seen from the directory of `config`: relative secret files travel with the config.
fn relative_to(config: &Path, p: &Path) -> PathBuf {
    match config.parent() {
        Some(dir) => dir.join(p),
        None => p.to_owned(),
    }
}

/// Reads a key file: a regular file only, and no more than a key and its newline (a key is at
/// most 20 bytes), so that a mistyped `/dev/zero` or a FIFO cannot exhaust memory or hang the
/// load. Opened non-blocking: opening a FIFO without a writer would otherwise wait for one.
fn read_secret_file(path: &Path, max_key_len: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::File::options()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    // One byte past a key and "\r\n", so that a longer file is reported as too long.
    let limit = max_key_len + 3;
    let mut bytes = Vec::with_capacity(limit);
    file.take(limit as u64).read_to_end(&mut bytes)?;
    if bytes.len() == limit {
        return Err(std::io::Error::other(format!(
            "longer than a key ({max_key_len} bytes at most)"
        )));
    }
    Ok(bytes)
}

/// Drops one trailing "\n" or "\r\n", as editors and `echo` add one. A binary key that really
/// ends in a newline needs one more.
fn strip_newline(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    bytes
}

fn routes(
    settings: RawRoutes,
    raw: Vec<Spanned<RawRoute>>,
    peers: &[PeerConfig],
    origin: &Origin<'_>,
) -> Result<RoutesConfig, ConfigError> {
    let table = match settings.table {
        Some(t) => match route_table_problem(*t.get_ref()) {
            Some(problem) => return Err(origin.invalid(t.span(), "routes.table", problem)),
            None => t.into_inner(),
        },
        None => DEFAULT_ROUTE_TABLE,
    };
    let protocol = match settings.protocol {
        Some(p) => match route_protocol_problem(*p.get_ref()) {
            Some(problem) => return Err(origin.invalid(p.span(), "routes.protocol", problem)),
            None => p.into_inner(),
        },
        None => DEFAULT_ROUTE_PROTOCOL,
    };
    let peer_addresses: HashSet<IpAddr> = peers.iter().map(|p| p.address).collect();
    let mut seen: HashMap<(super::Prefix, IpAddr), (usize, usize)> = HashMap::new();
    let mut routes = Vec::with_capacity(raw.len());
    for (i, spanned) in raw.into_iter().enumerate() {
        let span = spanned.span();
        let r = spanned.into_inner();
        let destination = *r.destination.get_ref();
        let gateway = r.gateway.get_ref().0;
        if gateway.is_ipv4() != destination.addr().is_ipv4() {
            return Err(origin.invalid(
                r.gateway.span(),
                format!("route[{i}].gateway"),
                format!(
                    "{gateway} is {} but destination {destination} is {}",
                    family(gateway),
                    family(destination.addr())
                ),
            ));
        }
        if let Some(v4) = match gateway {
            IpAddr::V6(v6) => v6.to_ipv4_mapped(),
            IpAddr::V4(_) => None,
        } {
            // The kernel refuses it as an IPv6 gateway, on every attempt.
            return Err(origin.invalid(
                r.gateway.span(),
                format!("route[{i}].gateway"),
                format!(
                    "{gateway} is an IPv4-mapped address, which the kernel refuses as a gateway: write {v4}, with an IPv4 destination"
                ),
            ));
        }
        if is_link_local_v6(gateway) {
            // A route via fe80:: needs the device, and [[route]] names none: the kernel would
            // refuse it on every attempt.
            return Err(origin.invalid(
                r.gateway.span(),
                format!("route[{i}].gateway"),
                format!(
                    "{gateway} is link-local, which a route cannot use without a device; use the gateway's global address"
                ),
            ));
        }
        let bfd = match r.bfd {
            Some(b) if *b.get_ref() && !peer_addresses.contains(&gateway) => {
                return Err(origin.invalid(
                    b.span(),
                    format!("route[{i}].bfd"),
                    format!("bfd = true but no [[peer]] has address = \"{gateway}\""),
                ))
            }
            Some(b) => b.into_inner(),
            None => false,
        };
        if let Some((j, first)) = seen.insert((destination, gateway), (i, span.start)) {
            let first_line = origin.line(first);
            return Err(origin.invalid(
                span,
                format!("route[{i}]"),
                format!(
                    "duplicate of route[{j}] at line {first_line} (same destination and gateway)"
                ),
            ));
        }
        routes.push(RouteConfig {
            destination,
            gateway,
            bfd,
        });
    }
    Ok(RoutesConfig {
        table,
        protocol,
        keep_on_exit: settings.keep_on_exit,
        routes,
    })
}

/// `"0a1B2c"` to bytes; `None` unless an even number of hex digits.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let text = text.strip_prefix("0x").unwrap_or(text);
    // `from_str_radix` alone would take "+a" for a digit pair.
    if text.len() % 2 != 0 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Why routes in `table` with `protocol` cannot be bfdd's, if they cannot: every route of its
/// protocol in its table is taken for bfdd's own and may be deleted. Also checks what a
/// previous run recorded (`routes.json`), which is not the config.
pub(crate) fn route_slot_problem(table: u32, protocol: u8) -> Option<String> {
    route_table_problem(table).or_else(|| route_protocol_problem(protocol))
}

fn route_table_problem(table: u32) -> Option<String> {
    (table == 0).then(|| "0 is not a routing table (254 is main)".to_owned())
}

fn route_protocol_problem(protocol: u8) -> Option<String> {
    if protocol <= 4 {
        return Some(format!(
            "{protocol} is reserved (0-4: unspec, redirect, kernel, boot, static); use e.g. {DEFAULT_ROUTE_PROTOCOL}"
        ));
    }
    let owner = protocol_owner(protocol)?;
    Some(format!(
        "{protocol} is {owner}'s: bfdd would take that daemon's routes in the table for its own and delete them; use e.g. {DEFAULT_ROUTE_PROTOCOL}"
    ))
}

/// The routing daemon a protocol id belongs to: the kernel's `RTPROT_*` list and FRR's
/// `rt_protos.d` (bfdd treats every route of its id in its table as its own).
fn protocol_owner(id: u8) -> Option<&'static str> {
    Some(match id {
        8 => "gated",
        9 => "ra (router advertisements)",
        10 => "mrt",
        11 => "zebra",
        12 => "bird",
        13 => "dnrouted",
        14 => "xorp",
        15 => "ntk",
        16 => "dhcp",
        17 => "mrouted",
        18 => "keepalived",
        42 => "babel",
        99 => "openr",
        186 => "FRR bgp",
        187 => "FRR isis",
        188 => "FRR ospf",
        189 => "FRR rip",
        190 => "FRR ripng",
        191 => "FRR nhrp",
        192 => "FRR eigrp",
        193 => "FRR ldp",
        194 => "FRR sharp",
        195 => "FRR pbr",
        196 => "FRR static",
        197 => "FRR openfabric",
        198 => "FRR srte",
        _ => return None,
    })
}
