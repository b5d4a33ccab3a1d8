//! `bfdctl import-frr` on real and hand-written frr.conf files: the TOML must parse, hold the
//! expected entries, and every unconverted line must be reported with its line number.
#![allow(clippy::unwrap_used)] // Test helpers panic on purpose.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn import(name: &str) -> (Output, toml::Table, Vec<String>) {
    let path = data(name);
    let o = Command::new(env!("CARGO_BIN_EXE_bfdctl"))
        .arg("import-frr")
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8(o.stdout.clone()).unwrap();
    let doc: toml::Table = text
        .parse()
        .unwrap_or_else(|e| panic!("{name}: output is not TOML: {e}\n{text}"));
    // Diagnostics name the file as given; keep "name:line: ..." for comparison.
    let prefix = format!("{}:", path.display());
    let stderr: Vec<String> = String::from_utf8(o.stderr.clone())
        .unwrap()
        .lines()
        .map(|l| match l.strip_prefix(&prefix) {
            Some(rest) => format!("{name}:{rest}"),
            None => l.to_owned(),
        })
        .collect();
    (o, doc, stderr)
}

fn array<'a>(doc: &'a toml::Table, key: &str) -> &'a Vec<toml::Value> {
    doc.get(key)
        .and_then(toml::Value::as_array)
        .unwrap_or_else(|| panic!("no [[{key}]] in {doc}"))
}

fn table(pairs: &[(&str, toml::Value)]) -> toml::Value {
    toml::Value::Table(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}

fn s(v: &str) -> toml::Value {
    toml::Value::String(v.to_owned())
}

fn i(v: i64) -> toml::Value {
    toml::Value::Integer(v)
}

fn b(v: bool) -> toml::Value {
    toml::Value::Boolean(v)
}

fn route(destination: &str, gateway: &str, bfd: bool) -> toml::Value {
    table(&[
        ("destination", s(destination)),
        ("gateway", s(gateway)),
        ("bfd", b(bfd)),
    ])
}

/// The frr.conf of the OVN-Kubernetes external gateway setup that bfdd replaces.
#[test]
fn ovnk_external_gateway_config() {
    let (o, doc, stderr) = import("ovnk-frr.conf");
    assert_eq!(o.status.code(), Some(0), "{stderr:?}");
    assert_eq!(stderr, Vec::<String>::new());
    assert_eq!(
        array(&doc, "peer"),
        &vec![table(&[
            ("address", s("172.18.0.4")),
            ("shutdown", b(false))
        ])]
    );
    assert_eq!(
        array(&doc, "route"),
        &vec![
            route("10.244.0.0/24", "172.18.0.3", false),
            route("10.244.2.0/24", "172.18.0.2", false),
            route("10.244.1.0/24", "172.18.0.4", false),
        ]
    );
    assert!(!doc.contains_key("defaults"));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("# ovnk-frr.conf:11: peer 172.18.0.4\n[[peer]]\n"));
    assert!(text.contains("shutdown = false  # ovnk-frr.conf:12\n"));
    assert!(text.contains("# ovnk-frr.conf:18: ip route 10.244.1.0/24 172.18.0.4\n[[route]]\n"));
}

/// Profiles applied before the peer's own settings, routes with `bfd [profile P]`, a netmask
/// route, and a reference to a profile that does not exist.
#[test]
fn profiles_and_route_sessions() {
    let (o, doc, stderr) = import("profiles.frr.conf");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr,
        vec![
            "profiles.frr.conf:32: cannot convert \"profile missing\": no profile \"missing\" is defined in the bfd block; the session keeps its own settings".to_owned(),
            format!("bfdctl: 1 line(s) of {} not converted; review them before using the result", data("profiles.frr.conf").display()),
        ]
    );
    assert_eq!(
        array(&doc, "peer"),
        &vec![
            table(&[
                ("address", s("172.18.0.4")),
                ("interface", s("net1")),
                ("desired-min-tx", s("150ms")),
                ("required-min-rx", s("100ms")),
                ("detect-multiplier", i(5)),
                ("shutdown", b(false)),
            ]),
            table(&[
                ("address", s("172.18.0.6")),
                ("local-address", s("172.18.0.10")),
                ("passive", b(true)),
            ]),
            // Implied by `bfd profile slow` on the route to 172.18.0.5; the profile's
            // minimum-ttl does not apply to a single-hop session.
            table(&[
                ("address", s("172.18.0.5")),
                ("desired-min-tx", s("1000ms")),
                ("required-min-rx", s("1000ms")),
                ("passive", b(true)),
            ]),
        ]
    );
    assert_eq!(
        array(&doc, "route"),
        &vec![
            route("10.244.1.0/24", "172.18.0.4", true),
            route("10.244.2.0/24", "172.18.0.5", true),
            route("10.244.3.0/24", "172.18.0.4", true),
        ]
    );
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("required-min-rx = \"100ms\"  # profiles.frr.conf:13 (profile fast)\n"));
    assert!(text.contains("desired-min-tx = \"150ms\"  # profiles.frr.conf:27\n"));
}

/// Multihop with minimum-ttl (own and from a profile), shutdown, IPv6 and link-local peers,
/// IPv6 routes with host bits set, `bfd multi-hop source` on a route: all convertible.
#[test]
fn multihop_and_ipv6() {
    let (o, doc, stderr) = import("multihop-ipv6.frr.conf");
    assert_eq!(o.status.code(), Some(0), "{stderr:?}");
    assert_eq!(stderr, Vec::<String>::new());
    assert_eq!(
        array(&doc, "peer"),
        &vec![
            table(&[
                ("address", s("203.0.113.1")),
                ("local-address", s("198.51.100.10")),
                ("multihop", b(true)),
                ("minimum-ttl", i(250)),
                ("detect-multiplier", i(4)),
                ("shutdown", b(true)),
            ]),
            table(&[
                ("address", s("2001:db8::4")),
                ("interface", s("net1")),
                ("desired-min-tx", s("300ms")),
                ("required-min-rx", s("300ms")),
                ("passive", b(true)),
            ]),
            table(&[
                ("address", s("fe80::1")),
                ("interface", s("net2")),
                ("detect-multiplier", i(10)),
            ]),
            table(&[
                ("address", s("203.0.113.2")),
                ("local-address", s("198.51.100.10")),
                ("multihop", b(true)),
                ("minimum-ttl", i(200)),
            ]),
        ]
    );
    assert_eq!(
        array(&doc, "route"),
        &vec![
            route("fd00:10:244:1::/64", "2001:db8::4", true),
            route("fd00:10:244:2::/64", "2001:db8::4", false),
            route("192.0.2.0/24", "203.0.113.2", true),
            route("0.0.0.0/0", "198.51.100.1", false),
        ]
    );
}

/// Everything that cannot be converted is reported with its line, and nothing else is.
#[test]
fn unconvertible_lines_are_reported() {
    let (o, doc, stderr) = import("unconvertible.frr.conf");
    assert_eq!(o.status.code(), Some(1));
    let lines: Vec<&str> = stderr
        .iter()
        .filter_map(|l| l.strip_prefix("unconvertible.frr.conf:"))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            "3", "5", "10", "20", "21", "23", "24", "28", "33", "34", "39", "43", "44", "45", "46",
            "47", "49", "50", "53"
        ]
    );
    let expected_some = [
        "unconvertible.frr.conf:3: cannot convert \"ip forwarding\": bfdd does not manage IP forwarding",
        "unconvertible.frr.conf:5: cannot convert \"interface net1\" (block to line 8): interface settings are not converted",
        "unconvertible.frr.conf:10: cannot convert \"router bgp 64512\" (block to line 16): bfdd runs BFD only, not bgp",
        "unconvertible.frr.conf:20: cannot convert \"echo-mode\": bfdd has no echo function",
        "unconvertible.frr.conf:21: cannot convert \"echo-interval 50\": bfdd has no echo function",
        "unconvertible.frr.conf:23: cannot convert \"detect-multiplier 1\": \"1\" is outside 2-255",
        "unconvertible.frr.conf:24: cannot convert \"label gw\": bfdd has no session labels",
        "unconvertible.frr.conf:28: cannot convert \"peer 10.1.0.1 vrf red\": bfdd supports only the default VRF",
        "unconvertible.frr.conf:33: cannot convert \"minimum-ttl 200\": minimum-ttl applies to multihop sessions only",
        "unconvertible.frr.conf:34: cannot convert \"frobnicate\": not a bfd peer command",
        "unconvertible.frr.conf:39: cannot convert \"vrf red\" (block to line 41): bfdd supports only the default VRF",
        "unconvertible.frr.conf:43: cannot convert \"ip route 10.244.5.0/24 net1\": routes via an interface",
        "unconvertible.frr.conf:44: cannot convert \"ip route 10.244.6.0/24 172.18.0.4 200\": administrative distance 200",
        "unconvertible.frr.conf:45: cannot convert \"ip route 10.244.7.0/24 172.18.0.4 tag 10 bfd\": route tags",
        "unconvertible.frr.conf:46: cannot convert \"ip route 10.244.8.0/24 blackhole\": blackhole routes",
        "unconvertible.frr.conf:47: cannot convert \"ip route 10.244.9.0/24 172.18.0.4 net1\": routes via a gateway and an interface",
        "unconvertible.frr.conf:49: cannot convert \"ipv6 route 2001:db8:5::/48 from 2001:db8:6::/48 2001:db8::1\": source-specific",
        "unconvertible.frr.conf:50: cannot convert \"route-map RM permit 10\" (block to line 52)",
        "unconvertible.frr.conf:53: cannot convert \"access-list 1 permit any\"",
    ];
    for (line, start) in stderr.iter().zip(expected_some) {
        assert!(
            line.starts_with(start),
            "{line}\n  does not start with\n{start}"
        );
    }
    assert!(stderr.last().unwrap().starts_with("bfdctl: 19 line(s) of "));
    // What could be converted still is: the peers in the default VRF, without the broken
    // lines, and the one plain route.
    assert_eq!(
        array(&doc, "peer"),
        &vec![
            table(&[
                ("address", s("172.18.0.4")),
                ("required-min-rx", s("200ms")),
            ]),
            table(&[("address", s("172.18.0.7"))]),
        ]
    );
    assert_eq!(
        array(&doc, "route"),
        &vec![route("10.244.10.0/24", "172.18.0.4", true)]
    );
}

#[test]
fn reads_stdin_and_names_it() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bfdctl"))
        .args(["import-frr", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"bfd\n peer 192.0.2.1\n  echo-mode\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8(o.stderr).unwrap();
    assert!(
        stderr.starts_with("stdin:3: cannot convert \"echo-mode\": bfdd has no echo function\n")
    );
    let doc: toml::Table = String::from_utf8(o.stdout).unwrap().parse().unwrap();
    assert_eq!(array(&doc, "peer").len(), 1);
}

#[test]
fn missing_file_exits_2() {
    let o = Command::new(env!("CARGO_BIN_EXE_bfdctl"))
        .args(["import-frr", "/nonexistent/frr.conf"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(o.stderr).unwrap(),
        "bfdctl: cannot read /nonexistent/frr.conf: No such file or directory\n"
    );
}

/// A reader that stops early (`| grep -q ...`, its end of the pipe closed before bfdctl
/// writes) takes nothing from the verdict: the lines not converted are still reported and
/// the exit status is still 1.
#[test]
fn a_closed_stdout_keeps_the_unconverted_lines_reported() {
    // A socket whose other end is closed: writing to it fails with EPIPE, as to a pipe.
    let (writer, reader) = std::os::unix::net::UnixStream::pair().unwrap();
    drop(reader);
    let o = Command::new(env!("CARGO_BIN_EXE_bfdctl"))
        .arg("import-frr")
        .arg(data("unconvertible.frr.conf"))
        .stdout(Stdio::from(std::os::fd::OwnedFd::from(writer)))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8(o.stderr).unwrap();
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot convert"), "{stderr}");
    assert!(stderr.contains("not converted"), "{stderr}");
}
