//! The file as written: serde structs mirroring bfdd.toml, before defaults and cross-checks.
//!
//! Single values are validated while deserializing (in the newtypes below) so that serde's
//! tracked path and toml's span name the key and line for free. Checks that involve several
//! keys happen in `resolve`, which is why the fields it needs keep their `Spanned` position.

use std::fmt;
use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU8;
use std::path::PathBuf;
use std::time::Duration;

use bfd_wire::AuthType;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use toml::Spanned;

use super::{LogFormat, Prefix, MAX_INTERVAL, MIN_INTERVAL};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawConfig {
    #[serde(default)]
    pub daemon: RawDaemon,
    #[serde(default)]
    pub defaults: RawDefaults,
    #[serde(default)]
    pub peer: Vec<Spanned<RawPeer>>,
    #[serde(default)]
    pub routes: RawRoutes,
    #[serde(default)]
    pub route: Vec<Spanned<RawRoute>>,
}

/// A piece of a large file after its first (see `pieces`): peers and routes only.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawPeerTables {
    #[serde(default)]
    pub peer: Vec<Spanned<RawPeer>>,
    #[serde(default)]
    pub route: Vec<Spanned<RawRoute>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawDaemon {
    pub control_socket: Option<SocketPath>,
    pub metrics_address: Option<MetricsAddress>,
    pub state_dir: Option<NonEmptyPath>,
    #[serde(default)]
    pub frr_exporter_metrics: bool,
    #[serde(default)]
    pub log_format: LogFormat,
    pub batched_transmit: Option<bool>,
    pub realtime_priority: Option<RealtimePriority>,
    pub shutdown_drain: Option<DrainTime>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawDefaults {
    pub desired_min_tx: Option<Interval>,
    pub required_min_rx: Option<Interval>,
    pub detect_multiplier: Option<NonZeroU8>,
    pub passive: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawPeer {
    pub address: Spanned<Ip>,
    pub local_address: Option<Spanned<Ip>>,
    pub interface: Option<IfName>,
    #[serde(default)]
    pub multihop: bool,
    pub minimum_ttl: Option<Spanned<NonZeroU8>>,
    pub desired_min_tx: Option<Interval>,
    pub required_min_rx: Option<Interval>,
    pub detect_multiplier: Option<NonZeroU8>,
    pub passive: Option<bool>,
    #[serde(default)]
    pub shutdown: bool,
    // Not Spanned: toml 0.8 cannot deserialize a Spanned table written with dotted keys
    // (`auth.type = ...`), so positions are kept on the leaves only.
    pub auth: Option<RawAuth>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawAuth {
    #[serde(rename = "type")]
    pub auth_type: Spanned<AuthTypeName>,
    pub key_id: u8,
    pub secret: Option<Spanned<String>>,
    pub secret_hex: Option<Spanned<String>>,
    pub secret_file: Option<Spanned<PathBuf>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawRoutes {
    pub table: Option<Spanned<u32>>,
    pub protocol: Option<Spanned<u8>>,
    #[serde(default)]
    pub keep_on_exit: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawRoute {
    pub destination: Spanned<Prefix>,
    pub gateway: Spanned<Ip>,
    pub bfd: Option<Spanned<bool>>,
}

/// A value written as a TOML string and checked by `parse`; the `Err` text becomes the message.
trait StrValue: Sized {
    /// Completes "invalid type: integer `3`, expected ..." for non-strings.
    const EXPECTING: &'static str;
    fn parse(s: &str) -> Result<Self, String>;
}

struct StrVisitor<T>(PhantomData<T>);

impl<T: StrValue> Visitor<'_> for StrVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::parse(v).map_err(E::custom)
    }
}

macro_rules! deserialize_from_str {
    ($($t:ty),*) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str(StrVisitor::<$t>(PhantomData))
            }
        }
    )*};
}

deserialize_from_str!(
    Interval,
    DrainTime,
    Ip,
    IfName,
    AuthTypeName,
    MetricsAddress,
    SocketPath,
    NonEmptyPath,
    Prefix
);

/// `desired-min-tx` / `required-min-rx`: an integer with unit `us`, `ms` or `s`, 10ms..=60s.
///
/// Whole numbers only, so "2.5s" is refused instead of being rounded behind the operator's back.
/// The bounds keep the wire value (microseconds, u32) meaningful: below 10ms userspace timers
/// cannot keep up, above 60s detection is pointless.
#[derive(Clone, Copy, Debug)]
pub(super) struct Interval(pub Duration);

impl StrValue for Interval {
    const EXPECTING: &'static str = "a duration such as \"300ms\" or \"1s\"";

    fn parse(s: &str) -> Result<Self, String> {
        match duration(s)? {
            Some(d) if (MIN_INTERVAL..=MAX_INTERVAL).contains(&d) => Ok(Interval(d)),
            _ => Err(format!(
                "{s:?} is out of range: intervals must be 10ms..=60s"
            )),
        }
    }
}

/// A whole number with unit `us`, `ms` or `s`; `None` when it does not fit a `Duration`.
fn duration(s: &str) -> Result<Option<Duration>, String> {
    let bad = || format!("{s:?} is not a duration (use e.g. \"300ms\" or \"1s\")");
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = s.split_at(digits);
    let number: u64 = number.parse().map_err(|_| bad())?;
    Ok(match unit {
        "us" => Some(Duration::from_micros(number)),
        "ms" => number.checked_mul(1_000).map(Duration::from_micros),
        "s" => number.checked_mul(1_000_000).map(Duration::from_micros),
        _ => return Err(bad()),
    })
}

/// `[daemon] shutdown-drain`: 0s..=60s. Longer would outlast any container runtime's patience
/// (Kubernetes' default grace is 30 s) and end in SIGKILL, without the routes' withdrawal.
#[derive(Clone, Copy, Debug)]
pub(super) struct DrainTime(pub Duration);

impl StrValue for DrainTime {
    const EXPECTING: &'static str = "a duration such as \"5s\"";

    fn parse(s: &str) -> Result<Self, String> {
        match duration(s)? {
            Some(d) if d <= MAX_DRAIN => Ok(DrainTime(d)),
            _ => Err(format!("{s:?} is out of range: 0s..=60s")),
        }
    }
}

const MAX_DRAIN: Duration = Duration::from_secs(60);

/// A unicast IPv4 or IPv6 address: a peer, local address or gateway is never a wildcard,
/// multicast or broadcast address.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ip(pub IpAddr);

impl StrValue for Ip {
    const EXPECTING: &'static str = "an IPv4 or IPv6 address string";

    fn parse(s: &str) -> Result<Self, String> {
        let ip: IpAddr = s
            .parse()
            .map_err(|_| format!("{s:?} is not an IPv4 or IPv6 address"))?;
        let broadcast = matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
        if ip.is_unspecified() || ip.is_multicast() || broadcast {
            return Err(format!("{s:?} is not a unicast address"));
        }
        Ok(Ip(ip))
    }
}

/// A Linux interface name as the kernel's `dev_valid_name()` accepts it, so that binding the
/// socket later cannot fail on the name's shape.
#[derive(Clone, Debug)]
pub(super) struct IfName(pub String);

impl StrValue for IfName {
    const EXPECTING: &'static str = "an interface name string";

    fn parse(s: &str) -> Result<Self, String> {
        // IFNAMSIZ is 16 including the terminating NUL.
        if s.is_empty() || s.len() > 15 {
            return Err(format!("{s:?} is not an interface name (1 to 15 bytes)"));
        }
        if s == "." || s == ".." {
            return Err(format!("{s:?} is not an interface name"));
        }
        // The kernel's test is byte-wise, with its own isspace (which counts 0xa0); a NUL
        // would cut the name short. Control characters the kernel allows, but in bfdctl's
        // table, probe output and the log they would act on the terminal: refused too.
        if s.bytes()
            .any(|b| matches!(b, 0..=0x1f | 0x7f | b'/' | b':' | b' ' | 0xa0))
        {
            return Err(format!(
                "{s:?} is not an interface name (no '/', ':', whitespace or control characters)"
            ));
        }
        Ok(IfName(s.to_owned()))
    }
}

/// `[peer.auth] type`, spelled as [`AuthType::as_str`] spells it.
#[derive(Clone, Copy, Debug)]
pub(super) struct AuthTypeName(pub AuthType);

const AUTH_TYPES: [AuthType; 5] = [
    AuthType::SimplePassword,
    AuthType::KeyedMd5,
    AuthType::MeticulousKeyedMd5,
    AuthType::KeyedSha1,
    AuthType::MeticulousKeyedSha1,
];

impl StrValue for AuthTypeName {
    const EXPECTING: &'static str = "an authentication type string";

    fn parse(s: &str) -> Result<Self, String> {
        AUTH_TYPES
            .into_iter()
            .find(|t| t.as_str() == s)
            .map(AuthTypeName)
            .ok_or_else(|| {
                let names: Vec<_> = AUTH_TYPES.iter().map(|t| t.as_str()).collect();
                format!(
                    "{s:?} is not an authentication type (use one of {})",
                    names.join(", ")
                )
            })
    }
}

/// `metrics-address`: `address:port`, or `""` to disable the endpoint.
#[derive(Clone, Copy, Debug)]
pub(super) struct MetricsAddress(pub Option<SocketAddr>);

impl StrValue for MetricsAddress {
    const EXPECTING: &'static str = "an \"address:port\" string";

    fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Ok(MetricsAddress(None));
        }
        s.parse().map(|a| MetricsAddress(Some(a))).map_err(|_| {
            format!(
                "{s:?} is not an address:port (e.g. \"0.0.0.0:9000\", \"[::]:9000\"; \"\" disables metrics)"
            )
        })
    }
}

/// `control-socket`: must fit `sockaddr_un.sun_path` (108 bytes with the NUL), or bind fails
/// at startup with a far less helpful error.
#[derive(Clone, Debug)]
pub(super) struct SocketPath(pub PathBuf);

impl StrValue for SocketPath {
    const EXPECTING: &'static str = "a path string";

    fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("must not be empty".into());
        }
        if s.len() > 107 {
            return Err(format!(
                "{s:?} is {} bytes; a unix socket path is at most 107",
                s.len()
            ));
        }
        Ok(SocketPath(PathBuf::from(s)))
    }
}

/// A path that must be given if the key is present at all.
#[derive(Clone, Debug)]
pub(super) struct NonEmptyPath(pub PathBuf);

impl StrValue for NonEmptyPath {
    const EXPECTING: &'static str = "a path string";

    fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("must not be empty".into());
        }
        Ok(NonEmptyPath(PathBuf::from(s)))
    }
}

/// `realtime-priority`: a SCHED_FIFO priority, 1..=99 (`sched_get_priority_min/max`).
#[derive(Clone, Copy, Debug)]
pub(super) struct RealtimePriority(pub u8);

impl<'de> Deserialize<'de> for RealtimePriority {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PriorityVisitor;
        impl Visitor<'_> for PriorityVisitor {
            type Value = RealtimePriority;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer from 1 to 99")
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
                match u8::try_from(n) {
                    Ok(p @ 1..=99) => Ok(RealtimePriority(p)),
                    _ => Err(E::custom(format!(
                        "{n} is out of range: a real-time priority is 1..=99"
                    ))),
                }
            }
        }
        d.deserialize_i64(PriorityVisitor)
    }
}

impl StrValue for Prefix {
    const EXPECTING: &'static str = "a prefix string such as \"10.244.1.0/24\"";

    fn parse(s: &str) -> Result<Self, String> {
        s.parse()
            .map_err(|e| format!("{s:?} is not a valid prefix: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(s: &str) -> Result<Duration, String> {
        Interval::parse(s).map(|i| i.0)
    }

    #[test]
    fn intervals() {
        assert_eq!(interval("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(interval("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(
            interval("1500us"),
            Err("\"1500us\" is out of range: intervals must be 10ms..=60s".into())
        );
        assert_eq!(interval("15000us"), Ok(Duration::from_micros(15_000)));
        assert_eq!(interval("10ms"), Ok(Duration::from_millis(10)));
        assert_eq!(interval("60s"), Ok(Duration::from_secs(60)));
        assert!(interval("9ms").is_err());
        assert!(interval("61s").is_err());
        assert!(interval("99999999999999999999s").is_err());
        assert!(interval("18446744073709551s").is_err());
        for bad in [
            "", "ms", "2.5s", "10x", "10", " 10ms", "10ms ", "-10ms", "+10ms", "10 ms", "1m",
            "10MS",
        ] {
            assert_eq!(
                interval(bad),
                Err(format!(
                    "{bad:?} is not a duration (use e.g. \"300ms\" or \"1s\")"
                ))
            );
        }
    }

    #[test]
    fn interface_names() {
        assert!(IfName::parse("net1").is_ok());
        assert!(IfName::parse("eth0.100").is_ok());
        assert!(IfName::parse("abcdefghijklmno").is_ok());
        for bad in [
            "",
            "abcdefghijklmnop",
            "a/b",
            "a b",
            "a:1",
            ".",
            "..",
            "a\tb",
            "a\u{1b}[2J",
            "a\u{7f}",
        ] {
            assert!(IfName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn addresses() {
        assert!(Ip::parse("198.51.100.4").is_ok());
        assert!(Ip::parse("2001:db8::4").is_ok());
        for bad in [
            "0.0.0.0",
            "::",
            "224.0.0.1",
            "ff02::1",
            "255.255.255.255",
            "host",
            "1.2.3",
        ] {
            assert!(Ip::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn auth_type_names() {
        for t in AUTH_TYPES {
            assert_eq!(AuthTypeName::parse(t.as_str()).map(|n| n.0), Ok(t));
        }
        let err = AuthTypeName::parse("md5").unwrap_err();
        assert!(err.contains("keyed-md5"), "{err}");
    }

    #[test]
    fn metrics_addresses() {
        assert_eq!(MetricsAddress::parse("").map(|m| m.0), Ok(None));
        assert!(MetricsAddress::parse("[::]:9000").unwrap().0.is_some());
        assert!(MetricsAddress::parse("0.0.0.0").is_err());
    }

    #[test]
    fn socket_paths() {
        assert!(SocketPath::parse("/run/bfdd/bfdd.sock").is_ok());
        assert!(SocketPath::parse("").is_err());
        assert!(SocketPath::parse(&format!("/{}", "a".repeat(107))).is_err());
    }
}
