//! Writing bfdd.toml from what was read: profiles applied, sessions implied by `bfd` on static
//! routes added, every entry commented with the line it came from.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::parse::{Frr, Problem, Profile, RouteBfd, Set, Settings};

/// The converted file and the problems found while resolving (undefined profiles, ...).
#[derive(Debug)]
pub struct Converted {
    /// bfdd.toml text.
    pub toml: String,
    /// Problems found now, in addition to those the parser found.
    pub problems: Vec<Problem>,
}

/// A setting in force for a session: its value, its line and the profile it came through.
struct Value<'a> {
    value: u32,
    line: usize,
    profile: Option<&'a str>,
}

/// A session as written to `[[peer]]`.
struct Session<'a> {
    comment: String,
    address: IpAddr,
    local: Option<IpAddr>,
    interface: Option<&'a str>,
    multihop: bool,
    own: Option<&'a Settings>,
    profile: Option<&'a Profile>,
}

/// A session written, as far as telling paths apart goes: bfdd keeps one session per path
/// (address and hop mode; local address and interface where both give one).
struct Path<'a> {
    address: IpAddr,
    multihop: bool,
    local: Option<IpAddr>,
    interface: Option<&'a str>,
    /// Where it came from.
    line: usize,
    /// The profile it uses.
    profile: Option<&'a str>,
}

impl Path<'_> {
    /// Whether bfdd would take `other` for the same path (and refuse the file).
    fn overlaps(&self, other: &Path<'_>) -> bool {
        fn agree<T: PartialEq>(a: Option<T>, b: Option<T>) -> bool {
            a.is_none() || b.is_none() || a == b
        }
        self.address == other.address
            && self.multihop == other.multihop
            && agree(self.local, other.local)
            && agree(self.interface, other.interface)
    }
}

/// `s` as a TOML string literal.
fn quote(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// Converts `frr`, naming `source` in comments.
pub fn convert(frr: &Frr, source: &str) -> Converted {
    let mut problems = Vec::new();
    let mut out = format!(
        "# bfdd.toml converted from {source} by `bfdctl import-frr`.\n\
         # Each entry names the line it came from; check the result with `bfdd --check-config`.\n"
    );
    let find_profile = |name: &str| frr.profiles.iter().find(|p| p.name == name);

    let mut written: Vec<Path<'_>> = Vec::new();
    for peer in frr.peers.iter().filter(|p| p.convert) {
        let path = Path {
            address: peer.address,
            multihop: peer.multihop,
            local: peer.local,
            interface: peer.interface.as_deref(),
            line: peer.line,
            profile: peer.profile.as_ref().map(|p| p.value.as_str()),
        };
        if let Some(first) = written.iter().find(|w| w.overlaps(&path)) {
            problems.push(Problem {
                line: peer.line,
                block_end: None,
                text: peer.header.clone(),
                reason: format!(
                    "the same path as the peer of line {} for bfdd, which keeps one session per \
                     path: give both a local-address or an interface; left out",
                    first.line
                ),
            });
            continue;
        }
        written.push(path);
        let profile = match &peer.profile {
            Some(set) => {
                let found = find_profile(&set.value);
                if found.is_none() {
                    problems.push(Problem {
                        line: set.line,
                        block_end: None,
                        text: format!("profile {}", set.value),
                        reason: format!(
                            "no profile \"{}\" is defined in the bfd block; the session keeps \
                             its own settings",
                            set.value
                        ),
                    });
                }
                found
            }
            None => None,
        };
        let session = Session {
            comment: format!("{source}:{}: {}", peer.line, peer.header),
            address: peer.address,
            local: peer.local,
            interface: peer.interface.as_deref(),
            multihop: peer.multihop,
            own: Some(&peer.settings),
            profile,
        };
        write_peer(&mut out, &session, source, &mut problems);
    }

    // FRR's staticd asks bfdd for a session to a route's gateway when the route says `bfd`;
    // bfdd wants that session spelled out as a [[peer]], unless one is already there. What the
    // route asks of a session already there, and bfdd cannot give it, is reported.
    for route in &frr.routes {
        let Some(bfd) = &route.bfd else { continue };
        let path = Path {
            address: route.gateway,
            multihop: bfd.multihop,
            local: bfd.source,
            interface: None,
            line: route.line,
            profile: bfd.profile.as_deref(),
        };
        if let Some(session) = written.iter().find(|w| w.overlaps(&path)) {
            let mut not_applied = |reason: String| {
                problems.push(Problem {
                    line: route.line,
                    block_end: None,
                    text: route.text.clone(),
                    reason,
                })
            };
            if let Some(name) = bfd.profile.as_deref() {
                if session.profile != Some(name) {
                    not_applied(format!(
                        "bfd profile {name} is not applied: the session to {} is the one of line \
                         {}, which does not use it (FRR applies the route's profile to it)",
                        route.gateway, session.line
                    ));
                }
            }
            if let Some(source) = bfd.source {
                if session.local != Some(source) {
                    not_applied(format!(
                        "bfd source {source}: the session to {} is the one of line {}, from \
                         another local address; FRR runs a second session, which bfdd cannot \
                         tell apart from it",
                        route.gateway, session.line
                    ));
                }
            }
            continue;
        }
        let profile = bfd.profile.as_deref().and_then(|name| {
            let found = find_profile(name);
            if found.is_none() {
                problems.push(Problem {
                    line: route.line,
                    block_end: None,
                    text: route.text.clone(),
                    reason: format!(
                        "no profile \"{name}\" is defined in the bfd block; the session to {} \
                         uses bfdd's defaults",
                        route.gateway
                    ),
                });
            }
            found
        });
        let local = implied_local(bfd, route.gateway, route.line, &route.text, &mut problems);
        written.push(Path { local, ..path });
        let session = Session {
            comment: format!(
                "{source}:{}: session implied by \"bfd\" on \"{}\"",
                route.line, route.text
            ),
            address: route.gateway,
            local,
            interface: None,
            multihop: bfd.multihop,
            own: None,
            profile,
        };
        write_peer(&mut out, &session, source, &mut problems);
    }

    for route in &frr.routes {
        let _ = write!(
            out,
            "\n# {source}:{}: {}\n[[route]]\ndestination = {}\ngateway = {}\nbfd = {}\n",
            route.line,
            route.text,
            quote(&route.destination),
            quote(&route.gateway.to_string()),
            route.bfd.is_some()
        );
    }
    Converted {
        toml: out,
        problems,
    }
}

fn implied_local(
    bfd: &RouteBfd,
    gateway: IpAddr,
    line: usize,
    text: &str,
    problems: &mut Vec<Problem>,
) -> Option<IpAddr> {
    let source = bfd.source?;
    if source.is_ipv4() == gateway.is_ipv4() {
        return Some(source);
    }
    problems.push(Problem {
        line,
        block_end: None,
        text: text.to_owned(),
        reason: format!("bfd source {source} is not of the gateway's address family"),
    });
    None
}

fn write_peer(out: &mut String, s: &Session<'_>, source: &str, problems: &mut Vec<Problem>) {
    let _ = write!(
        out,
        "\n# {}\n[[peer]]\naddress = {}\n",
        s.comment,
        quote(&s.address.to_string())
    );
    if let Some(local) = s.local {
        let _ = writeln!(out, "local-address = {}", quote(&local.to_string()));
    }
    if let Some(interface) = s.interface {
        let _ = writeln!(out, "interface = {}", quote(interface));
    }
    if s.multihop {
        out.push_str("multihop = true\n");
    }
    let get = |default: u32, f: &dyn Fn(&Settings) -> Option<Set<u32>>| {
        resolve(s.own, s.profile, default, f)
    };
    let from = |v: &Value<'_>| match v.profile {
        Some(name) => format!("  # {source}:{} (profile {name})", v.line),
        None => format!("  # {source}:{}", v.line),
    };
    if let Some(v) = get(254, &|x| widen(&x.minimum_ttl)) {
        if s.multihop {
            let _ = writeln!(out, "minimum-ttl = {}{}", v.value, from(&v));
        } else if v.profile.is_none() {
            // A profile's minimum-ttl only applies to the multihop sessions using it (FRR).
            problems.push(Problem {
                line: v.line,
                block_end: None,
                text: format!("minimum-ttl {}", v.value),
                reason: "minimum-ttl applies to multihop sessions only (single hop always \
                         requires TTL 255)"
                    .to_owned(),
            });
        }
    }
    if let Some(v) = get(300, &|x| x.transmit_interval.clone()) {
        let _ = writeln!(out, "desired-min-tx = \"{}ms\"{}", v.value, from(&v));
    }
    if let Some(v) = get(300, &|x| x.receive_interval.clone()) {
        let _ = writeln!(out, "required-min-rx = \"{}ms\"{}", v.value, from(&v));
    }
    if let Some(v) = get(3, &|x| widen(&x.detect_multiplier)) {
        let _ = writeln!(out, "detect-multiplier = {}{}", v.value, from(&v));
    }
    if let Some(v) = get(0, &|x| flag(&x.passive)) {
        let _ = writeln!(out, "passive = {}{}", v.value != 0, from(&v));
    }
    if let Some(v) = get(0, &|x| flag(&x.shutdown)) {
        let _ = writeln!(out, "shutdown = {}{}", v.value != 0, from(&v));
    }
}

fn widen(set: &Option<Set<u8>>) -> Option<Set<u32>> {
    set.as_ref().map(|s| Set {
        value: u32::from(s.value),
        line: s.line,
    })
}

fn flag(set: &Option<Set<bool>>) -> Option<Set<u32>> {
    set.as_ref().map(|s| Set {
        value: u32::from(s.value),
        line: s.line,
    })
}

/// The setting in force as FRR's bfdd decides it (`bfd_session_apply`): the peer's own value
/// where it differs from FRR's `default`, else the profile's, else the peer's own (the
/// default, written out). A peer's `no shutdown` or `detect-multiplier 3` does not override
/// a profile's `shutdown` or `detect-multiplier 5`.
fn resolve<'a>(
    own: Option<&'a Settings>,
    profile: Option<&'a Profile>,
    default: u32,
    field: &dyn Fn(&Settings) -> Option<Set<u32>>,
) -> Option<Value<'a>> {
    let own = own.and_then(field).map(|set| Value {
        value: set.value,
        line: set.line,
        profile: None,
    });
    if own.as_ref().is_some_and(|v| v.value != default) {
        return own;
    }
    let from_profile = profile.and_then(|p| {
        field(&p.settings).map(|set| Value {
            value: set.value,
            line: set.line,
            profile: Some(p.name.as_str()),
        })
    });
    from_profile.or(own)
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse;
    use super::*;

    #[test]
    fn profile_then_own_overrides() {
        let frr = parse(
            "bfd\n profile fast\n  receive-interval 100\n  transmit-interval 100\n  detect-multiplier 5\n !\n peer 192.0.2.1\n  profile fast\n  transmit-interval 200\n",
        );
        let c = convert(&frr, "f.conf");
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        assert!(
            c.toml.contains("desired-min-tx = \"200ms\"  # f.conf:9\n"),
            "{}",
            c.toml
        );
        assert!(c
            .toml
            .contains("required-min-rx = \"100ms\"  # f.conf:3 (profile fast)\n"));
        assert!(c
            .toml
            .contains("detect-multiplier = 5  # f.conf:5 (profile fast)\n"));
    }

    #[test]
    fn route_bfd_implies_a_session() {
        let frr = parse(
            "ip route 10.0.0.0/8 192.0.2.1 bfd multi-hop source 192.0.2.9\nip route 10.1.0.0/16 192.0.2.1 bfd\n",
        );
        let c = convert(&frr, "f.conf");
        let doc: toml::Table = c.toml.parse().unwrap();
        let peers = doc["peer"].as_array().unwrap();
        // A multihop and a single-hop session to one gateway are two sessions, in FRR too.
        assert_eq!(peers.len(), 2);
        assert_eq!(peers[0]["address"].as_str(), Some("192.0.2.1"));
        assert_eq!(peers[0]["local-address"].as_str(), Some("192.0.2.9"));
        assert_eq!(peers[0]["multihop"].as_bool(), Some(true));
        assert_eq!(peers[1]["address"].as_str(), Some("192.0.2.1"));
        assert_eq!(peers[1].get("multihop"), None);
        assert_eq!(doc["route"].as_array().unwrap().len(), 2);
        assert!(c.problems.is_empty(), "{:?}", c.problems);
    }

    /// FRR's `bfd_session_apply`: a peer's own value overrides its profile's only where it
    /// differs from FRR's default; `no shutdown` or `detect-multiplier 3` on the peer leave
    /// the profile's `shutdown` and `detect-multiplier 5` in force.
    #[test]
    fn a_peer_value_at_frr_default_leaves_the_profile_in_force() {
        let frr = parse(
            "bfd\n profile down\n  shutdown\n  detect-multiplier 5\n  passive-mode\n !\n peer 192.0.2.1\n  profile down\n  no shutdown\n  detect-multiplier 3\n  no passive-mode\n  receive-interval 200\n",
        );
        let c = convert(&frr, "f");
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        assert!(
            c.toml.contains("shutdown = true  # f:3 (profile down)\n"),
            "{}",
            c.toml
        );
        assert!(c
            .toml
            .contains("detect-multiplier = 5  # f:4 (profile down)\n"));
        assert!(c.toml.contains("passive = true  # f:5 (profile down)\n"));
        assert!(c.toml.contains("required-min-rx = \"200ms\"  # f:12\n"));
    }

    /// A route's `bfd profile` or `source` that the session already written for its gateway
    /// does not have is reported, not dropped silently.
    #[test]
    fn route_bfd_options_a_configured_peer_lacks_are_reported() {
        let frr = parse(
            "bfd\n profile slow\n  receive-interval 1000\n !\n peer 192.0.2.1\n !\n!\nip route 10.0.0.0/8 192.0.2.1 bfd profile slow\nip route 10.1.0.0/16 192.0.2.1 bfd source 192.0.2.9\nip route 10.2.0.0/16 192.0.2.1 bfd\n",
        );
        let c = convert(&frr, "f");
        let lines: Vec<usize> = c.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [8, 9], "{:?}", c.problems);
        assert!(c.problems[0].reason.contains("profile slow is not applied"));
        assert!(c.problems[1].reason.contains("bfd source 192.0.2.9"));
        let doc: toml::Table = c.toml.parse().unwrap();
        assert_eq!(doc["peer"].as_array().unwrap().len(), 1);
    }

    /// Two peers bfdd would take for one path (one with a local address, one without) are
    /// reported and the second left out, so the file loads.
    #[test]
    fn peers_on_one_path_for_bfdd_are_reported() {
        let frr = parse("bfd\n peer 192.0.2.1\n !\n peer 192.0.2.1 local-address 192.0.2.10\n");
        let c = convert(&frr, "f");
        assert_eq!(c.problems.len(), 1, "{:?}", c.problems);
        assert_eq!(c.problems[0].line, 4);
        assert!(
            c.problems[0].reason.contains("line 2"),
            "{}",
            c.problems[0].reason
        );
        let doc: toml::Table = c.toml.parse().unwrap();
        assert_eq!(doc["peer"].as_array().unwrap().len(), 1);
    }
}
