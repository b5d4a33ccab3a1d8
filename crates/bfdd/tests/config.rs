//! bfdd.toml loading: defaults, overrides, and that every refusal names the right line and key.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bfd_wire::AuthType;
use bfdd::config::{Config, ConfigError, LogFormat, PeerKey, Prefix};

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("bfdd.toml"))
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// Asserts a refusal at `line` for `key` whose message contains `message`.
#[track_caller]
fn assert_invalid(text: &str, line: usize, key: &str, message: &str) -> String {
    let err = parse(text).expect_err("config should be refused");
    let shown = err.to_string();
    match &err {
        ConfigError::Invalid {
            file,
            line: l,
            key: k,
            message: m,
        } => {
            assert_eq!(file, Path::new("bfdd.toml"), "{shown}");
            assert_eq!(*l, line, "{shown}");
            assert_eq!(k, key, "{shown}");
            assert!(m.contains(message), "{shown}");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert_eq!(err.line(), Some(line));
    assert_eq!(err.key(), Some(key));
    assert!(
        shown.starts_with(&format!("bfdd.toml:{line}: {key}: ")),
        "{shown}"
    );
    shown
}

/// A scratch directory for tests that need files, unique per test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("config-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

const ONE_PEER: &str = "[[peer]]\naddress = \"198.51.100.4\"\n";

#[test]
fn minimal_config_gets_frr_defaults() {
    let c = parse(ONE_PEER).unwrap();
    assert_eq!(c.peers.len(), 1);
    let p = &c.peers[0];
    assert_eq!(p.address, ip("198.51.100.4"));
    assert_eq!(p.local_address, None);
    assert_eq!(p.interface, None);
    assert!(!p.multihop);
    assert_eq!(p.minimum_ttl, 255);
    assert_eq!(p.desired_min_tx, Duration::from_millis(300));
    assert_eq!(p.required_min_rx, Duration::from_millis(300));
    assert_eq!(p.detect_multiplier, 3);
    assert_eq!(p.desired_min_tx_us(), 300_000);
    assert_eq!(p.required_min_rx_us(), 300_000);
    assert!(!p.passive);
    assert!(!p.shutdown);
    assert!(p.auth.is_none());

    assert_eq!(c.daemon.control_socket, Path::new("/run/bfdd/bfdd.sock"));
    assert_eq!(
        c.daemon.metrics_address,
        Some("0.0.0.0:9000".parse().unwrap())
    );
    assert_eq!(c.daemon.state_dir, Path::new("/var/lib/bfdd"));
    assert!(!c.daemon.frr_exporter_metrics);
    assert_eq!(c.daemon.log_format, LogFormat::Text);
}

#[test]
fn empty_file_is_an_idle_daemon() {
    let c = parse("").unwrap();
    assert!(c.peers.is_empty());
    assert!(c.routes.routes.is_empty());
}

#[test]
fn routes_defaults() {
    let c = parse("").unwrap();
    assert_eq!(c.routes.table, 254);
    assert_eq!(c.routes.protocol, 199);
    assert!(!c.routes.keep_on_exit);

    let c = parse("[routes]\ntable = 100\nprotocol = 5\nkeep-on-exit = true\n").unwrap();
    assert_eq!((c.routes.table, c.routes.protocol), (100, 5));
    assert!(c.routes.keep_on_exit);
}

#[test]
fn defaults_section_and_peer_overrides() {
    let c = parse(
        r#"[defaults]
desired-min-tx = "1s"
required-min-rx = "500ms"
detect-multiplier = 5
passive = true

[[peer]]
address = "198.51.100.4"

[[peer]]
address = "198.51.100.5"
desired-min-tx = "100ms"
required-min-rx = "50000us"
detect-multiplier = 10
passive = false
shutdown = true
"#,
    )
    .unwrap();
    let (a, b) = (&c.peers[0], &c.peers[1]);
    assert_eq!(a.desired_min_tx, Duration::from_secs(1));
    assert_eq!(a.required_min_rx, Duration::from_millis(500));
    assert_eq!(a.detect_multiplier, 5);
    assert!(a.passive);
    assert!(!a.shutdown);
    assert_eq!(b.desired_min_tx, Duration::from_millis(100));
    assert_eq!(b.required_min_rx, Duration::from_millis(50));
    assert_eq!(b.required_min_rx_us(), 50_000);
    assert_eq!(b.detect_multiplier, 10);
    assert!(!b.passive);
    assert!(b.shutdown);
}

#[test]
fn daemon_section() {
    let c = parse(
        r#"[daemon]
control-socket = "/tmp/b.sock"
metrics-address = "[::1]:9100"
state-dir = "/tmp/state"
frr-exporter-metrics = true
log-format = "json"
realtime-priority = 10
shutdown-drain = "5s"
"#,
    )
    .unwrap();
    assert_eq!(c.daemon.control_socket, Path::new("/tmp/b.sock"));
    assert_eq!(
        c.daemon.metrics_address,
        Some("[::1]:9100".parse().unwrap())
    );
    assert_eq!(c.daemon.state_dir, Path::new("/tmp/state"));
    assert!(c.daemon.frr_exporter_metrics);
    assert_eq!(c.daemon.log_format, LogFormat::Json);
    assert_eq!(c.daemon.realtime_priority, Some(10));
    assert_eq!(parse("").unwrap().daemon.realtime_priority, None);
    assert_eq!(c.daemon.shutdown_drain, Duration::from_secs(5));
    assert_eq!(parse("").unwrap().daemon.shutdown_drain, Duration::ZERO);
    let zero = parse("[daemon]\nshutdown-drain = \"0s\"\n").unwrap();
    assert_eq!(zero.daemon.shutdown_drain, Duration::ZERO);
}

#[test]
fn empty_metrics_address_disables_metrics() {
    let c = parse("[daemon]\nmetrics-address = \"\"\n").unwrap();
    assert_eq!(c.daemon.metrics_address, None);
}

#[test]
fn bad_daemon_values() {
    assert_invalid(
        "[daemon]\n\nmetrics-address = \"9000\"\n",
        3,
        "daemon.metrics-address",
        "\"9000\" is not an address:port",
    );
    assert_invalid(
        "[daemon]\nlog-format = \"xml\"\n",
        2,
        "daemon.log-format",
        "unknown variant `xml`, expected `text` or `json`",
    );
    assert_invalid(
        "[daemon]\ncontrol-socket = \"\"\n",
        2,
        "daemon.control-socket",
        "must not be empty",
    );
    assert_invalid(
        "[daemon]\nfrr-exporter-metrics = \"yes\"\n",
        2,
        "daemon.frr-exporter-metrics",
        "invalid type: string \"yes\", expected a boolean",
    );
    for bad in ["0", "100", "-1", "1000"] {
        assert_invalid(
            &format!("[daemon]\nrealtime-priority = {bad}\n"),
            2,
            "daemon.realtime-priority",
            &format!("{bad} is out of range: a real-time priority is 1..=99"),
        );
    }
    for (bad, why) in [
        ("61s", "\"61s\" is out of range: 0s..=60s"),
        (
            "5",
            "\"5\" is not a duration (use e.g. \"300ms\" or \"1s\")",
        ),
        (
            "-1s",
            "\"-1s\" is not a duration (use e.g. \"300ms\" or \"1s\")",
        ),
    ] {
        assert_invalid(
            &format!("[daemon]\nshutdown-drain = \"{bad}\"\n"),
            2,
            "daemon.shutdown-drain",
            why,
        );
    }
    assert_invalid(
        "[daemon]\nrealtime-priority = \"high\"\n",
        2,
        "daemon.realtime-priority",
        "invalid type: string \"high\", expected an integer from 1 to 99",
    );
}

#[test]
fn socket_env_override_is_separate_from_parse() {
    let mut c = parse("[daemon]\ncontrol-socket = \"/a.sock\"\n").unwrap();
    c.apply_socket_override(None);
    assert_eq!(c.daemon.control_socket, Path::new("/a.sock"));
    c.apply_socket_override(Some("".into()));
    assert_eq!(c.daemon.control_socket, Path::new("/a.sock"));
    c.apply_socket_override(Some("/b.sock".into()));
    assert_eq!(c.daemon.control_socket, Path::new("/b.sock"));
}

#[test]
fn metrics_env_override_is_checked() {
    let mut c = parse("[daemon]\nmetrics-address = \"0.0.0.0:9100\"\n").unwrap();
    c.apply_metrics_override(None).unwrap();
    c.apply_metrics_override(Some("".into())).unwrap();
    assert_eq!(
        c.daemon.metrics_address,
        Some("0.0.0.0:9100".parse().unwrap())
    );
    c.apply_metrics_override(Some("[fd00::5]:9200".into()))
        .unwrap();
    assert_eq!(
        c.daemon.metrics_address,
        Some("[fd00::5]:9200".parse().unwrap())
    );
    // An address alone (a pod's IP, either family) keeps the port.
    c.apply_metrics_override(Some("10.244.1.5".into())).unwrap();
    assert_eq!(
        c.daemon.metrics_address,
        Some("10.244.1.5:9200".parse().unwrap())
    );
    c.apply_metrics_override(Some("fd00::6".into())).unwrap();
    assert_eq!(
        c.daemon.metrics_address,
        Some("[fd00::6]:9200".parse().unwrap())
    );
    // Not an address: named, and the address stays.
    let e = c
        .apply_metrics_override(Some("gateway:9000".into()))
        .unwrap_err();
    assert_eq!(
        e,
        "BFDD_METRICS_ADDRESS: \"gateway:9000\" is not an address, or an address and port (e.g. 10.244.1.5, fd00::5, 10.244.1.5:9000 or [fd00::5]:9000)"
    );
    assert_eq!(
        c.daemon.metrics_address,
        Some("[fd00::6]:9200".parse().unwrap())
    );
    // A file that turns the endpoint off: an address alone leaves it off, a port turns it on.
    let mut off = parse("[daemon]\nmetrics-address = \"\"\n").unwrap();
    off.apply_metrics_override(Some("10.244.1.5".into()))
        .unwrap();
    assert_eq!(off.daemon.metrics_address, None);
    off.apply_metrics_override(Some("10.244.1.5:9000".into()))
        .unwrap();
    assert_eq!(
        off.daemon.metrics_address,
        Some("10.244.1.5:9000".parse().unwrap())
    );
}

#[test]
fn unknown_key_at_top_level() {
    assert_invalid(
        "[daemon]\n\n[[peer]]\naddress = \"198.51.100.4\"\n\nfoo = 1\n",
        6,
        "peer[0].foo",
        "unknown field `foo`",
    );
    assert_invalid("\n\nfoo = 1\n", 3, "foo", "unknown field `foo`");
    assert_invalid("[peers]\n", 1, "peers", "unknown field `peers`");
}

#[test]
fn unknown_key_in_daemon() {
    assert_invalid(
        "[daemon]\nstate-dir = \"/x\"\nstatedir = \"/y\"\n",
        3,
        "daemon.statedir",
        "unknown field `statedir`",
    );
}

#[test]
fn unknown_key_in_peer() {
    assert_invalid(
        r#"[[peer]]
address = "198.51.100.4"

[[peer]]
address = "198.51.100.5"
min-tx = "100ms"
"#,
        6,
        "peer[1].min-tx",
        "unknown field `min-tx`",
    );
}

#[test]
fn unknown_key_in_peer_auth() {
    assert_invalid(
        r#"[[peer]]
address = "198.51.100.4"
[peer.auth]
type = "keyed-md5"
key-id = 1
secret = "s"
password = "p"
"#,
        7,
        "peer[0].auth.password",
        "unknown field `password`",
    );
    // Inline tables and dotted keys report the same way.
    assert_invalid(
        "[[peer]]\naddress = \"198.51.100.4\"\nauth = { type = \"keyed-md5\", key-id = 1, secret = \"s\", x = 1 }\n",
        3,
        "peer[0].auth.x",
        "unknown field `x`",
    );
    assert_invalid(
        "[[peer]]\naddress = \"198.51.100.4\"\nauth.type = \"keyed-md5\"\nauth.kid = 1\n",
        4,
        "peer[0].auth.kid",
        "unknown field `kid`",
    );
}

#[test]
fn dotted_keys_and_inline_tables_are_accepted() {
    let c = parse(
        r#"daemon.log-format = "json"
routes.table = 100
peer = [{ address = "198.51.100.4", auth = { type = "keyed-md5", key-id = 1, secret = "a" } }]
"#,
    )
    .unwrap();
    assert_eq!(c.daemon.log_format, LogFormat::Json);
    assert_eq!(c.routes.table, 100);
    assert_eq!(c.peers[0].auth.as_ref().unwrap().secret, b"a");

    let c = parse(
        r#"[[peer]]
address = "198.51.100.5"
auth.type = "keyed-sha1"
auth.key-id = 2
auth.secret = "b"
"#,
    )
    .unwrap();
    let auth = c.peers[0].auth.as_ref().unwrap();
    assert_eq!((auth.auth_type, auth.key_id), (AuthType::KeyedSha1, 2));

    // Positions still come out right inside an inline array of tables.
    assert_invalid(
        "peer = [\n  { address = \"198.51.100.4\" },\n  { address = \"198.51.100.4\" },\n]\n",
        3,
        "peer[1]",
        "duplicate of peer[0] at line 2",
    );
}

#[test]
fn unknown_key_in_other_sections() {
    assert_invalid(
        "[defaults]\nmin-rx = \"1s\"\n",
        2,
        "defaults.min-rx",
        "unknown field",
    );
    assert_invalid(
        "[routes]\nmetric = 5\n",
        2,
        "routes.metric",
        "unknown field",
    );
    assert_invalid(
        "[[route]]\ndestination = \"10.0.0.0/8\"\ngateway = \"198.51.100.4\"\nvia = \"x\"\n",
        4,
        "route[0].via",
        "unknown field",
    );
    // A key that needs quoting in TOML is shown quoted.
    assert_invalid(
        "[daemon]\n\"log format\" = \"json\"\n",
        2,
        "daemon.\"log format\"",
        "unknown field",
    );
}

#[test]
fn missing_required_key() {
    assert_invalid(
        "[[peer]]\naddress = \"198.51.100.4\"\n\n[[peer]]\ninterface = \"net1\"\n",
        4,
        "peer[1]",
        "missing field `address`",
    );
    assert_invalid(
        "[[peer]]\naddress = \"198.51.100.4\"\n[peer.auth]\ntype = \"keyed-sha1\"\nsecret = \"s\"\n",
        3,
        "peer[0].auth",
        "missing field `key-id`",
    );
    assert_invalid(
        "[[route]]\ndestination = \"10.0.0.0/8\"\n",
        1,
        "route[0]",
        "missing field `gateway`",
    );
}

#[test]
fn bad_duration_names_file_line_key() {
    let shown = assert_invalid(
        r#"[[peer]]
address = "198.51.100.4"

[[peer]]
address = "198.51.100.5"
desired-min-tx = "10x"
"#,
        6,
        "peer[1].desired-min-tx",
        "",
    );
    assert_eq!(
        shown,
        r#"bfdd.toml:6: peer[1].desired-min-tx: "10x" is not a duration (use e.g. "300ms" or "1s")"#
    );
    assert_invalid(
        "[defaults]\nrequired-min-rx = \"2.5s\"\n",
        2,
        "defaults.required-min-rx",
        "is not a duration",
    );
    assert_invalid(
        "[defaults]\nrequired-min-rx = 300\n",
        2,
        "defaults.required-min-rx",
        "invalid type: integer `300`, expected a duration such as \"300ms\"",
    );
}

#[test]
fn interval_out_of_range() {
    assert_invalid(
        "[defaults]\ndesired-min-tx = \"5ms\"\n",
        2,
        "defaults.desired-min-tx",
        "\"5ms\" is out of range: intervals must be 10ms..=60s",
    );
    assert_invalid(
        "[[peer]]\naddress = \"198.51.100.4\"\nrequired-min-rx = \"61s\"\n",
        3,
        "peer[0].required-min-rx",
        "10ms..=60s",
    );
    let c = parse("[defaults]\ndesired-min-tx = \"10ms\"\nrequired-min-rx = \"60s\"\n").unwrap();
    assert!(c.peers.is_empty());
}

#[test]
fn detect_multiplier_range() {
    assert_invalid(
        "[[peer]]\naddress = \"198.51.100.4\"\ndetect-multiplier = 0\n",
        3,
        "peer[0].detect-multiplier",
        "nonzero",
    );
    assert_invalid(
        "[defaults]\ndetect-multiplier = 256\n",
        2,
        "defaults.detect-multiplier",
        "256",
    );
    let c = parse("[[peer]]\naddress = \"198.51.100.4\"\ndetect-multiplier = 255\n").unwrap();
    assert_eq!(c.peers[0].detect_multiplier, 255);
}

#[test]
fn bad_addresses_and_interfaces() {
    assert_invalid(
        "[[peer]]\naddress = \"198.51.100.x\"\n",
        2,
        "peer[0].address",
        "\"198.51.100.x\" is not an IPv4 or IPv6 address",
    );
    assert_invalid(
        "[[peer]]\naddress = 3\n",
        2,
        "peer[0].address",
        "invalid type: integer `3`, expected an IPv4 or IPv6 address string",
    );
    assert_invalid(
        "[[peer]]\naddress = \"224.0.0.5\"\n",
        2,
        "peer[0].address",
        "not a unicast address",
    );
    assert_invalid(
        "[[peer]]\naddress = \"198.51.100.4\"\ninterface = \"a-very-long-interface\"\n",
        3,
        "peer[0].interface",
        "1 to 15 bytes",
    );
    assert_invalid(
        "[[peer]]\naddress = \"198.51.100.4\"\ninterface = \"net/1\"\n",
        3,
        "peer[0].interface",
        "no '/'",
    );
    // What the kernel's dev_valid_name() refuses too: a NUL cuts the name short, and its
    // isspace() counts byte 0xa0 (here inside U+00A0) and vertical tab. And control
    // characters, which it allows, but which would act on the terminal that shows them.
    for name in ["a\\u0000b", "net\\u00a01", "net\\u000b1", "a\\u001b[2J"] {
        assert_invalid(
            &format!("[[peer]]\naddress = \"198.51.100.4\"\ninterface = \"{name}\"\n"),
            3,
            "peer[0].interface",
            "is not an interface name (no '/', ':', whitespace or control characters)",
        );
    }
    assert!(parse("[[peer]]\naddress = \"198.51.100.4\"\ninterface = \"vlan.é\"\n").is_ok());
}

#[test]
fn ipv6_peer_and_route() {
    let c = parse(
        r#"[[peer]]
address = "2001:db8::4"
local-address = "2001:db8::10"
interface = "net1"

[[peer]]
address = "fe80::1"
interface = "net1"

[[route]]
destination = "fd00:10:244::/48"
gateway = "2001:db8::4"
bfd = true

[[route]]
destination = "::/0"
gateway = "2001:db8::4"
"#,
    )
    .unwrap();
    assert_eq!(c.peers[0].address, ip("2001:db8::4"));
    assert_eq!(c.peers[0].local_address, Some(ip("2001:db8::10")));
    assert_eq!(c.peers[0].interface.as_deref(), Some("net1"));
    let r = &c.routes.routes[0];
    assert_eq!(r.destination, "fd00:10:244::/48".parse::<Prefix>().unwrap());
    assert_eq!(r.destination.prefix_len(), 48);
    assert_eq!(r.gateway, ip("2001:db8::4"));
    assert!(r.bfd);
    assert!(c.routes.routes[1].destination.is_default());
    assert!(!c.routes.routes[1].bfd);
}

#[test]
fn ipv6_link_local_peer_needs_interface() {
    assert_invalid(
        "[[peer]]\naddress = \"fe80::1\"\n",
        2,
        "peer[0].address",
        "link-local",
    );
}

#[test]
fn family_mismatch() {
    assert_invalid(
        r#"[[peer]]
address = "2001:db8::4"
local-address = "198.51.100.10"
"#,
        3,
        "peer[0].local-address",
        "198.51.100.10 is IPv4 but address 2001:db8::4 is IPv6",
    );
    assert_invalid(
        r#"[[route]]
destination = "10.244.1.0/24"
gateway = "198.51.100.4"

[[route]]
destination = "fd00::/64"
gateway = "198.51.100.4"
"#,
        7,
        "route[1].gateway",
        "198.51.100.4 is IPv4 but destination fd00::/64 is IPv6",
    );
}

#[test]
fn multihop_minimum_ttl() {
    let c = parse(
        r#"[[peer]]
address = "203.0.113.1"
local-address = "198.51.100.10"
multihop = true

[[peer]]
address = "203.0.113.2"
multihop = true
minimum-ttl = 250
"#,
    )
    .unwrap();
    assert!(c.peers[0].multihop);
    assert_eq!(c.peers[0].minimum_ttl, 254);
    assert_eq!(c.peers[1].minimum_ttl, 250);

    assert_invalid(
        "[[peer]]\naddress = \"198.51.100.4\"\nminimum-ttl = 250\n",
        3,
        "peer[0].minimum-ttl",
        "only valid with multihop = true",
    );
    assert_invalid(
        "[[peer]]\naddress = \"198.51.100.4\"\nmultihop = true\nminimum-ttl = 0\n",
        4,
        "peer[0].minimum-ttl",
        "nonzero",
    );
}

#[test]
fn duplicate_peer() {
    let shown = assert_invalid(
        r#"[[peer]]
address = "198.51.100.4"
interface = "net1"

[[peer]]
address = "198.51.100.5"

[[peer]]
interface = "net1"
address = "198.51.100.4"
desired-min-tx = "1s"
"#,
        8,
        "peer[2]",
        "duplicate of peer[0] at line 1",
    );
    assert!(shown.contains("same address, local-address, interface and multihop"));
}

#[test]
fn same_address_different_session_is_not_duplicate() {
    let c = parse(
        r#"[[peer]]
address = "198.51.100.4"
interface = "net1"

[[peer]]
address = "198.51.100.4"
interface = "net2"

[[peer]]
address = "198.51.100.4"
multihop = true

[[peer]]
address = "198.51.100.4"
local-address = "198.51.100.10"
interface = "net3"

[[peer]]
address = "198.51.100.4"
local-address = "198.51.100.11"
interface = "net3"
"#,
    )
    .unwrap();
    let keys: std::collections::HashSet<PeerKey> = c.peers.iter().map(|p| p.key()).collect();
    assert_eq!(keys.len(), 5);
    assert_eq!(
        c.peers[0].key(),
        PeerKey {
            address: ip("198.51.100.4"),
            local_address: None,
            interface: Some("net1".into()),
            multihop: false,
        }
    );
    assert_eq!(c.peers[0].key().to_string(), "198.51.100.4 interface net1");
    assert_eq!(c.peers[2].key().to_string(), "198.51.100.4 multihop");
}

/// RFC 5881 §2-3: one session per path. Two peers to one address whose paths may be the same
/// (a setting unset on one of them) would both talk to the one session the peer keeps.
#[test]
fn rfc5881_3_peers_that_may_share_a_path_refused() {
    for (second, line) in [
        ("address = \"198.51.100.4\"\ninterface = \"net1\"\n", 4),
        (
            "address = \"198.51.100.4\"\nlocal-address = \"198.51.100.10\"\n",
            4,
        ),
    ] {
        let shown = assert_invalid(
            &format!("[[peer]]\naddress = \"198.51.100.4\"\n\n[[peer]]\n{second}"),
            line,
            "peer[1]",
            "same path as peer[0] at line 1",
        );
        assert!(
            shown.contains("different local-address or interface"),
            "{shown}"
        );
    }
    // Also the other way round, and with both set on one side only.
    assert_invalid(
        "[[peer]]\naddress = \"198.51.100.4\"\nlocal-address = \"198.51.100.10\"\ninterface = \"net1\"\n[[peer]]\naddress = \"198.51.100.4\"\ninterface = \"net1\"\n",
        5,
        "peer[1]",
        "same path as peer[0] at line 1",
    );
}

#[test]
fn ipv4_mapped_and_link_local_sources_refused() {
    assert_invalid(
        "[[peer]]\naddress = \"::ffff:198.51.100.4\"\n",
        2,
        "peer[0].address",
        "::ffff:198.51.100.4 is an IPv4-mapped address: write 198.51.100.4",
    );
    assert_invalid(
        "[[peer]]\naddress = \"2001:db8::4\"\nlocal-address = \"::ffff:198.51.100.4\"\n",
        3,
        "peer[0].local-address",
        "IPv4-mapped",
    );
    // The kernel cannot bind a link-local source without knowing its link.
    assert_invalid(
        "[[peer]]\naddress = \"2001:db8::4\"\nlocal-address = \"fe80::1\"\n",
        3,
        "peer[0].local-address",
        "fe80::1 is link-local: set interface too",
    );
    parse(
        "[[peer]]\naddress = \"2001:db8::4\"\nlocal-address = \"fe80::1\"\ninterface = \"net1\"\n",
    )
    .unwrap();
}

#[test]
fn peer_key_ignores_timers() {
    let a = parse(ONE_PEER).unwrap();
    let b = parse("[[peer]]\naddress = \"198.51.100.4\"\ndesired-min-tx = \"1s\"\n").unwrap();
    assert_ne!(a.peers[0], b.peers[0]);
    assert_eq!(a.peers[0].key(), b.peers[0].key());
}

#[test]
fn inline_secret() {
    let c = parse(
        r#"[[peer]]
address = "198.51.100.4"
[peer.auth]
type = "meticulous-keyed-sha1"
key-id = 7
secret = "01234567890123456789"
"#,
    )
    .unwrap();
    let auth = c.peers[0].auth.as_ref().unwrap();
    assert_eq!(auth.auth_type, AuthType::MeticulousKeyedSha1);
    assert_eq!(auth.key_id, 7);
    assert_eq!(auth.secret, b"01234567890123456789");
}

#[test]
fn debug_does_not_print_the_secret() {
    let c = parse(
        "[[peer]]\naddress = \"198.51.100.4\"\nauth = { type = \"keyed-md5\", key-id = 1, secret = \"hunter2\" }\n",
    )
    .unwrap();
    let shown = format!("{c:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("<7 bytes redacted>"), "{shown}");
    assert!(shown.contains("KeyedMd5"), "{shown}");
}

#[test]
fn secret_file_relative_to_config_dir() {
    let dir = scratch("secret-relative");
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    std::fs::write(dir.join("keys/peer4"), b"s3cret\n").unwrap();
    let config = dir.join("bfdd.toml");
    std::fs::write(
        &config,
        r#"[[peer]]
address = "198.51.100.4"
[peer.auth]
type = "keyed-sha1"
key-id = 2
secret-file = "keys/peer4"
"#,
    )
    .unwrap();
    let c = Config::load(&config).unwrap();
    let auth = c.peers[0].auth.as_ref().unwrap();
    assert_eq!(auth.auth_type, AuthType::KeyedSha1);
    assert_eq!(auth.key_id, 2);
    assert_eq!(auth.secret, b"s3cret", "one trailing newline is stripped");
}

#[test]
fn secret_file_absolute_and_crlf() {
    let dir = scratch("secret-absolute");
    let secret = dir.join("secret");
    std::fs::write(&secret, b"pw\r\n").unwrap();
    let text = format!(
        "[[peer]]\naddress = \"198.51.100.4\"\n[peer.auth]\ntype = \"simple-password\"\nkey-id = 0\nsecret-file = {:?}\n",
        secret.display().to_string()
    );
    // Relative to a directory that does not hold the secret: absolute paths must not care.
    let c = Config::parse(&text, Path::new("/nonexistent/bfdd.toml")).unwrap();
    assert_eq!(c.peers[0].auth.as_ref().unwrap().secret, b"pw");
}

#[test]
fn unreadable_secret_file() {
    let err = Config::parse(
        "[[peer]]\naddress = \"198.51.100.4\"\n[peer.auth]\ntype = \"keyed-md5\"\nkey-id = 1\nsecret-file = \"missing\"\n",
        Path::new("/nonexistent/dir/bfdd.toml"),
    )
    .unwrap_err();
    assert_eq!(err.line(), Some(6));
    assert_eq!(err.key(), Some("peer[0].auth.secret-file"));
    let shown = err.to_string();
    assert!(
        shown.starts_with("/nonexistent/dir/bfdd.toml:6: peer[0].auth.secret-file: cannot read /nonexistent/dir/missing: "),
        "{shown}"
    );
}

/// A key file is read only if it is a regular file, and only as far as a key goes: a
/// mistyped `/dev/zero` must not fill memory, nor a FIFO without a writer hang the load.
#[test]
fn secret_file_only_a_small_regular_file() {
    let dir = scratch("secret-special");
    let fifo = dir.join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    std::fs::write(dir.join("huge"), vec![b'k'; 1 << 20]).unwrap();
    let config = dir.join("bfdd.toml");
    for (file, message) in [
        ("/dev/zero", "not a regular file"),
        ("fifo", "not a regular file"),
        ("huge", "longer than a key (20 bytes at most)"),
    ] {
        let text = format!(
            "[[peer]]\naddress = \"198.51.100.4\"\n[peer.auth]\ntype = \"keyed-sha1\"\nkey-id = 1\nsecret-file = \"{file}\"\n"
        );
        let config = config.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(Config::parse(&text, &config).map(|_| ()));
        });
        let err = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("loading secret-file {file} hung"))
            .unwrap_err();
        assert_eq!(err.key(), Some("peer[0].auth.secret-file"), "{err}");
        assert!(err.to_string().ends_with(message), "{file}: {err}");
    }
}

#[test]
fn secret_too_long_for_type() {
    let long = "x".repeat(17);
    assert_invalid(
        &format!(
            "[[peer]]\naddress = \"198.51.100.4\"\n[peer.auth]\ntype = \"simple-password\"\nkey-id = 1\nsecret = \"{long}\"\n"
        ),
        6,
        "peer[0].auth.secret",
        "secret is 17 bytes; simple-password takes 1..=16",
    );
    // 17..=20 bytes are fine for SHA1 but not MD5.
    let sha1 = format!(
        "[[peer]]\naddress = \"198.51.100.4\"\n[peer.auth]\ntype = \"keyed-sha1\"\nkey-id = 1\nsecret = \"{}\"\n",
        "x".repeat(20)
    );
    assert!(parse(&sha1).is_ok());
    assert_invalid(
        &sha1.replace("keyed-sha1", "keyed-md5"),
        6,
        "peer[0].auth.secret",
        "secret is 20 bytes; keyed-md5 takes 1..=16",
    );
    assert_invalid(
        &sha1.replace(&"x".repeat(20), &"x".repeat(21)),
        6,
        "peer[0].auth.secret",
        "secret is 21 bytes; keyed-sha1 takes 1..=20",
    );
}

#[test]
fn secret_file_too_long_or_empty() {
    let dir = scratch("secret-long");
    std::fs::write(dir.join("long"), "y".repeat(17)).unwrap();
    std::fs::write(dir.join("empty"), "\n").unwrap();
    let text = |file: &str| {
        format!(
            "[[peer]]\naddress = \"198.51.100.4\"\n\n[peer.auth]\ntype = \"meticulous-keyed-md5\"\nkey-id = 255\nsecret-file = \"{file}\"\n"
        )
    };
    let config = dir.join("bfdd.toml");
    for (file, len) in [("long", 17), ("empty", 0)] {
        let err = Config::parse(&text(file), &config).unwrap_err();
        assert_eq!(err.line(), Some(7));
        assert_eq!(err.key(), Some("peer[0].auth.secret-file"));
        let shown = err.to_string();
        assert!(
            shown.ends_with(&format!(
                "is {len} bytes; meticulous-keyed-md5 takes 1..=16"
            )),
            "{shown}"
        );
    }
}

#[test]
fn exactly_one_of_secret_and_secret_file() {
    assert_invalid(
        r#"[[peer]]
address = "198.51.100.4"
[peer.auth]
type = "keyed-md5"
key-id = 1
secret = "a"
secret-file = "/etc/bfdd/secret"
"#,
        7,
        "peer[0].auth.secret-file",
        "set only one of secret, secret-hex and secret-file",
    );
    assert_invalid(
        "[[peer]]\naddress = \"198.51.100.4\"\n\n[peer.auth]\ntype = \"keyed-md5\"\nkey-id = 1\n",
        5,
        "peer[0].auth",
        "missing secret, secret-hex or secret-file",
    );
}

#[test]
fn bad_auth_values() {
    assert_invalid(
        "[[peer]]\naddress = \"198.51.100.4\"\n[peer.auth]\ntype = \"md5\"\nkey-id = 1\nsecret = \"a\"\n",
        4,
        "peer[0].auth.type",
        "\"md5\" is not an authentication type (use one of simple-password, keyed-md5, meticulous-keyed-md5, keyed-sha1, meticulous-keyed-sha1)",
    );
    assert_invalid(
        "[[peer]]\naddress = \"198.51.100.4\"\n[peer.auth]\ntype = \"keyed-md5\"\nkey-id = 256\nsecret = \"a\"\n",
        5,
        "peer[0].auth.key-id",
        "invalid value: integer `256`, expected u8",
    );
}

#[test]
fn bfd_route_without_peer() {
    assert_invalid(
        r#"[[peer]]
address = "198.51.100.4"

[[route]]
destination = "10.244.1.0/24"
gateway = "198.51.100.4"
bfd = true

[[route]]
destination = "10.244.2.0/24"
gateway = "198.51.100.5"
bfd = true
"#,
        12,
        "route[1].bfd",
        "bfd = true but no [[peer]] has address = \"198.51.100.5\"",
    );
    // Without bfd the gateway needs no peer.
    let c =
        parse("[[route]]\ndestination = \"10.244.2.0/24\"\ngateway = \"198.51.100.5\"\n").unwrap();
    assert!(!c.routes.routes[0].bfd);
}

#[test]
fn ipv4_mapped_route_gateway_refused() {
    assert_invalid(
        r#"[[route]]
destination = "2001:db8:100::/64"
gateway = "::ffff:198.51.100.5"
"#,
        3,
        "route[0].gateway",
        "::ffff:198.51.100.5 is an IPv4-mapped address, which the kernel refuses as a gateway: write 198.51.100.5, with an IPv4 destination",
    );
}

#[test]
fn link_local_route_gateway_refused() {
    assert_invalid(
        r#"[[peer]]
address = "fe80::2"
interface = "net1"

[[route]]
destination = "2001:db8:100::/64"
gateway = "fe80::2"
bfd = true
"#,
        7,
        "route[0].gateway",
        "fe80::2 is link-local, which a route cannot use without a device; use the gateway's global address",
    );
}

#[test]
fn prefix_with_host_bits() {
    assert_invalid(
        "[[route]]\ndestination = \"10.244.1.1/24\"\ngateway = \"198.51.100.4\"\n",
        2,
        "route[0].destination",
        "\"10.244.1.1/24\" is not a valid prefix: host bits are set (did you mean \"10.244.1.0/24\"?)",
    );
    assert_invalid(
        "[[route]]\ndestination = \"10.244.1.0\"\ngateway = \"198.51.100.4\"\n",
        2,
        "route[0].destination",
        "missing prefix length",
    );
}

#[test]
fn duplicate_route_but_ecmp_is_fine() {
    assert_invalid(
        r#"[[route]]
destination = "10.244.1.0/24"
gateway = "198.51.100.4"

[[route]]
destination = "10.244.1.0/24"
gateway = "198.51.100.5"

[[route]]
gateway = "198.51.100.4"
destination = "10.244.1.0/24"
"#,
        9,
        "route[2]",
        "duplicate of route[0] at line 1 (same destination and gateway)",
    );
}

#[test]
fn routes_settings_refused() {
    assert_invalid(
        "[routes]\nprotocol = 4\n",
        2,
        "routes.protocol",
        "4 is reserved",
    );
    assert_invalid(
        "[routes]\nprotocol = 0\n",
        2,
        "routes.protocol",
        "0 is reserved",
    );
    // Another daemon's: its routes would be taken for ours and deleted.
    assert_invalid(
        "[routes]\nprotocol = 196\n",
        2,
        "routes.protocol",
        "196 is FRR static's",
    );
    assert_invalid(
        "[routes]\nprotocol = 12\n",
        2,
        "routes.protocol",
        "12 is bird's",
    );
    assert_invalid(
        "[routes]\nprotocol = 198\n",
        2,
        "routes.protocol",
        "198 is FRR srte's",
    );
    assert_invalid(
        "[routes]\n\ntable = 0\n",
        3,
        "routes.table",
        "0 is not a routing table",
    );
    assert_invalid(
        "[routes]\ntable = -1\n",
        2,
        "routes.table",
        "invalid value: integer `-1`, expected u32",
    );
}

#[test]
fn syntax_error_has_line() {
    let err = parse("[daemon]\nlog-format = \"json\"\n[[peer]\n").unwrap_err();
    assert!(
        matches!(err, ConfigError::Syntax { line: 3, .. }),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("bfdd.toml:3: "), "{err}");
    assert!(!err.to_string().contains('\n'), "{err}");

    // Keys defined twice are a TOML error, not a last-one-wins.
    let err = parse("[daemon]\nstate-dir = \"/a\"\nstate-dir = \"/b\"\n").unwrap_err();
    assert!(
        matches!(err, ConfigError::Syntax { line: 3, .. }),
        "{err:?}"
    );
}

/// A Latin-1 byte in a comment is the file's fault on a line, not a failure to read it.
#[test]
fn config_not_utf8_names_its_line() {
    let dir = scratch("not-utf8");
    let path = dir.join("bfdd.toml");
    std::fs::write(
        &path,
        b"[daemon]\n# caf\xe9 au lait\n[[peer]]\naddress = \"198.51.100.4\"\n",
    )
    .unwrap();
    let err = Config::load(&path).unwrap_err();
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
    assert_eq!(err.line(), Some(2), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2: not UTF-8 text (TOML files are UTF-8)",
            path.display()
        )
    );
}

#[test]
fn unreadable_config_file() {
    let err = Config::load(Path::new("/nonexistent/bfdd.toml")).unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }), "{err:?}");
    assert_eq!(err.line(), None);
    assert!(std::error::Error::source(&err).is_some());
    assert!(
        err.to_string()
            .starts_with("/nonexistent/bfdd.toml: cannot read: "),
        "{err}"
    );
}

#[test]
fn example_config_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/bfdd.example.toml");
    let c = Config::load(&path).unwrap();
    assert!(!c.peers.is_empty());
    assert!(!c.routes.routes.is_empty());
    assert!(c.peers.iter().any(|p| p.auth.is_some()));
    assert!(c.peers.iter().any(|p| p.multihop));
    assert!(c.routes.routes.iter().any(|r| r.bfd));
}

#[test]
fn rfc5880_6_7_2_secret_hex_gives_arbitrary_bytes() {
    let path = std::path::Path::new("bfdd.toml");
    let config = Config::parse(
        "[[peer]]\naddress = \"198.51.100.4\"\n[peer.auth]\ntype = \"keyed-sha1\"\nkey-id = 2\nsecret-hex = \"00ff0A\"\n",
        path,
    )
    .unwrap();
    let auth = config.peers[0].auth.as_ref().unwrap();
    assert_eq!(auth.secret, vec![0x00, 0xff, 0x0a]);
    assert_invalid(
        "[[peer]]\naddress = \"198.51.100.4\"\n[peer.auth]\ntype = \"keyed-sha1\"\nkey-id = 2\nsecret-hex = \"abc\"\n",
        6,
        "peer[0].auth.secret-hex",
        "even number of hexadecimal digits",
    );
    // Signs are not digits, though `u8::from_str_radix` would take "+a".
    assert_invalid(
        "[[peer]]\naddress = \"198.51.100.4\"\n[peer.auth]\ntype = \"keyed-sha1\"\nkey-id = 2\nsecret-hex = \"+a+b\"\n",
        6,
        "peer[0].auth.secret-hex",
        "even number of hexadecimal digits",
    );
    assert_invalid(
        "[[peer]]\naddress = \"198.51.100.4\"\n[peer.auth]\ntype = \"keyed-sha1\"\nkey-id = 2\nsecret = \"x\"\nsecret-hex = \"ab\"\n",
        7,
        "peer[0].auth.secret-hex",
        "set only one of",
    );
}

/// `n` single-hop peers, three lines each (header, address, blank), after two lines of
/// `[daemon]`: peer `i`'s header is on line `3 + 3 * i`.
fn many_peers(n: usize) -> String {
    let mut t = String::from("[daemon]\nlog-format = \"json\"\n");
    for i in 0..n {
        t.push_str(&format!(
            "[[peer]]\naddress = \"198.18.{}.{}\"\n\n",
            i / 200,
            i % 200 + 1
        ));
    }
    t
}

/// Files of thousands of peers are parsed in pieces to bound memory; what they mean and how
/// they are refused must not show it.
#[test]
fn large_file_loads_whole_with_peers_and_routes_in_order() {
    let mut text = many_peers(1000);
    text.push_str(
        "[[route]]\ndestination = \"203.0.113.0/24\"\ngateway = \"198.18.0.1\"\nbfd = true\n",
    );
    text.push_str("[[peer]]\naddress = \"198.51.100.9\"\n[peer.auth]\ntype = \"simple-password\"\nkey-id = 1\nsecret = \"abc\"\n");
    let c = parse(&text).unwrap();
    assert_eq!(c.peers.len(), 1001);
    assert_eq!(c.peers[0].address, ip("198.18.0.1"));
    assert_eq!(c.peers[999].address, ip("198.18.4.200"));
    assert_eq!(c.peers[1000].address, ip("198.51.100.9"));
    assert!(c.peers[1000].auth.is_some(), "subtable stays with its peer");
    assert!(c.peers[..1000].iter().all(|p| p.auth.is_none()));
    assert_eq!(c.routes.routes.len(), 1);
    assert_eq!(c.daemon.log_format, LogFormat::Json);
}

#[test]
fn large_file_errors_name_the_whole_files_line_and_key() {
    // A bad value in a later piece.
    let text = many_peers(1000).replacen(
        "address = \"198.18.3.101\"\n",
        "address = \"198.18.3.101\"\ndetect-multiplier = 0\n",
        1,
    );
    // Peer 700 = 198.18.3.101; its header is line 3 + 3 * 700, the new key two lines on.
    assert_invalid(&text, 2105, "peer[700].detect-multiplier", "nonzero");
    // A duplicate across pieces names both.
    let text = many_peers(1000).replacen("198.18.4.100", "198.18.0.5", 1);
    assert_invalid(
        &text,
        3 + 3 * 899,
        "peer[899]",
        "duplicate of peer[4] at line 15",
    );
    // A syntax error in a later piece.
    let text = many_peers(1000).replacen("[[peer]]\naddress = \"198.18.4.150\"", "[[peer]\n", 1);
    let err = parse(&text).unwrap_err();
    let line = 3 + 3 * 949;
    assert!(
        matches!(err, ConfigError::Syntax { line: l, .. } if l == line),
        "{err:?}"
    );
}
