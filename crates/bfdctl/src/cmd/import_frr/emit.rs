//! Writing bfdd.toml from what was read: profiles applied, sessions implied by `bfd` on static
//! routes added, every entry commented with the line it came from.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::parse::{Frr, Peer, Problem, Profile, RouteBfd, Set, Settings};

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

    for peer in frr.peers.iter().filter(|p| p.convert) {
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
    // bfdd wants that session spelled out as a [[peer]].
    let mut implied: Vec<IpAddr> = Vec::new();
    for route in &frr.routes {
        let Some(bfd) = &route.bfd else { continue };
        let explicit = frr
            .peers
            .iter()
            .any(|p: &Peer| p.convert && p.address == route.gateway);
        if explicit || implied.contains(&route.gateway) {
            continue;
        }
        implied.push(route.gateway);
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
    let get = |f: &dyn Fn(&Settings) -> Option<Set<u32>>| resolve(s.own, s.profile, f);
    let from = |v: &Value<'_>| match v.profile {
        Some(name) => format!("  # {source}:{} (profile {name})", v.line),
        None => format!("  # {source}:{}", v.line),
    };
    if let Some(v) = get(&|x| widen(&x.minimum_ttl)) {
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
    if let Some(v) = get(&|x| x.transmit_interval.clone()) {
        let _ = writeln!(out, "desired-min-tx = \"{}ms\"{}", v.value, from(&v));
    }
    if let Some(v) = get(&|x| x.receive_interval.clone()) {
        let _ = writeln!(out, "required-min-rx = \"{}ms\"{}", v.value, from(&v));
    }
    if let Some(v) = get(&|x| widen(&x.detect_multiplier)) {
        let _ = writeln!(out, "detect-multiplier = {}{}", v.value, from(&v));
    }
    if let Some(v) = get(&|x| flag(&x.passive)) {
        let _ = writeln!(out, "passive = {}{}", v.value != 0, from(&v));
    }
    if let Some(v) = get(&|x| flag(&x.shutdown)) {
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

/// The session's own setting if it has one, else its profile's: FRR applies the profile
/// first and the peer's own commands over it.
fn resolve<'a>(
    own: Option<&'a Settings>,
    profile: Option<&'a Profile>,
    field: &dyn Fn(&Settings) -> Option<Set<u32>>,
) -> Option<Value<'a>> {
    if let Some(set) = own.and_then(field) {
        return Some(Value {
            value: set.value,
            line: set.line,
            profile: None,
        });
    }
    let p = profile?;
    field(&p.settings).map(|set| Value {
        value: set.value,
        line: set.line,
        profile: Some(p.name.as_str()),
    })
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
        assert_eq!(peers.len(), 1);
        assert_eq!(peers[0]["address"].as_str(), Some("192.0.2.1"));
        assert_eq!(peers[0]["local-address"].as_str(), Some("192.0.2.9"));
        assert_eq!(peers[0]["multihop"].as_bool(), Some(true));
        assert_eq!(doc["route"].as_array().unwrap().len(), 2);
    }
}
