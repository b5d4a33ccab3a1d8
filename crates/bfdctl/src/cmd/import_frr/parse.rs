//! Reading frr.conf the way FRR does, as far as bfdd cares.
//!
//! FRR's config reader keeps a current node (config, bfd, bfd peer, bfd profile, interface, ...).
//! A line runs in the current node; when that node has no such command, FRR tries the parent
//! node, then its parent, and if no node knows the command it reports an error and stays where
//! it was (`command_config_read_one_line` in lib/command.c). `exit` leaves a node. Indentation
//! means nothing to FRR, but files written by FRR (and by people) indent children, so when a
//! block's children are indented, a line indented no deeper than the block's own line ends the
//! block; this settles the one real ambiguity, `profile NAME` (use a profile inside a peer, or
//! define one in `bfd`).
//!
//! The result is a model of what was configured, each value with the line that set it, plus a
//! [`Problem`] for every line that matters but cannot be converted.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A value and the line that set it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Set<T> {
    /// The value.
    pub value: T,
    /// 1-based line number.
    pub line: usize,
}

/// The session settings a `peer` or `profile` block may carry. `None`: not set there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// `receive-interval`, milliseconds.
    pub receive_interval: Option<Set<u32>>,
    /// `transmit-interval`, milliseconds.
    pub transmit_interval: Option<Set<u32>>,
    /// `detect-multiplier`.
    pub detect_multiplier: Option<Set<u8>>,
    /// `passive-mode` / `no passive-mode`.
    pub passive: Option<Set<bool>>,
    /// `shutdown` / `no shutdown`.
    pub shutdown: Option<Set<bool>>,
    /// `minimum-ttl` (multihop only).
    pub minimum_ttl: Option<Set<u8>>,
}

/// A `peer` in the `bfd` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Line of the `peer` command.
    pub line: usize,
    /// The `peer` command as written.
    pub header: String,
    /// Peer address.
    pub address: IpAddr,
    /// `local-address`.
    pub local: Option<IpAddr>,
    /// `interface`.
    pub interface: Option<String>,
    /// `multihop`.
    pub multihop: bool,
    /// Settings in the peer's own block.
    pub settings: Settings,
    /// `profile NAME` inside the peer.
    pub profile: Option<Set<String>>,
    /// False when the peer cannot be converted (a VRF, a malformed line): its block is still
    /// read, so its lines are not mistaken for something else, but it is left out.
    pub convert: bool,
}

/// A `profile NAME` block in the `bfd` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// Profile name.
    pub name: String,
    /// Line of the definition.
    pub line: usize,
    /// Its settings.
    pub settings: Settings,
}

/// The `bfd` part of a static route.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteBfd {
    /// `multi-hop`.
    pub multihop: bool,
    /// `source ADDRESS`.
    pub source: Option<IpAddr>,
    /// `profile NAME`.
    pub profile: Option<String>,
}

/// An `ip route` / `ipv6 route` that can be converted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Line number.
    pub line: usize,
    /// The command as written.
    pub text: String,
    /// Destination with host bits cleared, as FRR stores it: `10.244.1.0/24`.
    pub destination: String,
    /// Next hop.
    pub gateway: IpAddr,
    /// `bfd ...`, if given.
    pub bfd: Option<RouteBfd>,
}

/// A line that matters but is not converted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line number.
    pub line: usize,
    /// Last line of the block the problem covers, for block headers such as `router bgp`.
    pub block_end: Option<usize>,
    /// The line as written, trimmed.
    pub text: String,
    /// Why it is not converted.
    pub reason: String,
}

/// Everything read from one frr.conf.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frr {
    /// `bfd` peers in file order (re-entered peers appear once).
    pub peers: Vec<Peer>,
    /// `bfd` profiles in file order.
    pub profiles: Vec<Profile>,
    /// Static routes in file order.
    pub routes: Vec<Route>,
    /// Lines not converted, in file order.
    pub problems: Vec<Problem>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Node {
    Config,
    Bfd,
    Peer(usize),
    Profile(usize),
    /// `line vty`: irrelevant, consumed silently.
    LineVty,
    /// A block bfdd has no use for (`interface`, `router ...`, `vrf`, ...); the index is that
    /// of its [`Problem`], whose `block_end` grows with each line consumed.
    Foreign(usize),
    /// A `vrf NAME` block: foreign, but FRR's vrf node has `ip route`, so routes stay in it
    /// however they are indented.
    Vrf(usize),
}

#[derive(Clone, Copy, Debug)]
struct Frame {
    node: Node,
    /// Indentation of the line that opened the block.
    indent: usize,
    /// Indentation of the block's first child line.
    child_indent: Option<usize>,
}

struct Line<'a> {
    number: usize,
    indent: usize,
    text: &'a str,
    words: Vec<&'a str>,
}

/// Reads `text` as an frr.conf.
pub fn parse(text: &str) -> Frr {
    let mut p = Parser {
        frr: Frr::default(),
        stack: vec![Frame {
            node: Node::Config,
            indent: 0,
            child_indent: None,
        }],
    };
    for (i, raw) in text.lines().enumerate() {
        let raw = raw.trim_end_matches('\r');
        let text = raw.trim();
        if text.is_empty() || text.starts_with('!') || text.starts_with('#') {
            continue;
        }
        let line = Line {
            number: i + 1,
            indent: raw.len() - raw.trim_start().len(),
            text,
            words: text.split_whitespace().collect(),
        };
        p.line(&line);
    }
    p.frr
}

struct Parser {
    frr: Frr,
    stack: Vec<Frame>,
}

/// How a node took a line.
enum Took {
    /// Not a command of this node: try the parent.
    No,
    /// Handled.
    Yes,
}

impl Parser {
    fn line(&mut self, line: &Line<'_>) {
        self.close_blocks_by_indentation(line);
        let saved = self.stack.clone();
        for level in (0..saved.len()).rev() {
            self.stack.truncate(level + 1);
            let frame = saved[level];
            if let Took::Yes = self.take(frame.node, line) {
                if let Some(f) = self.stack.get_mut(level) {
                    f.child_indent.get_or_insert(line.indent);
                }
                return;
            }
        }
        // No node knows the command: FRR reports it and stays where it was.
        self.stack = saved;
        let reason = match self.stack.last().map(|f| f.node) {
            Some(Node::Peer(_)) => "not a bfd peer command bfdctl knows",
            Some(Node::Profile(_)) => "not a bfd profile command bfdctl knows",
            Some(Node::Bfd) => "not a bfd command bfdctl knows",
            _ => "not a command bfdctl knows how to convert",
        };
        self.problem(line, reason);
    }

    /// Ends blocks whose children are indented when `line` is indented no deeper than the
    /// block's own line. `exit` (and `exit-vrf`, ...) is left to end its block itself.
    fn close_blocks_by_indentation(&mut self, line: &Line<'_>) {
        if line.words.first().is_some_and(|w| w.starts_with("exit")) {
            return;
        }
        while self.stack.len() > 1 {
            let top = self.stack[self.stack.len() - 1];
            // A vrf block ends at exit-vrf only: its routes are its own however indented
            // (what the config node knows leaves it anyway, see `take_foreign`).
            if matches!(top.node, Node::Vrf(_)) {
                break;
            }
            match top.child_indent {
                Some(child) if child > top.indent && line.indent <= top.indent => {
                    self.stack.pop();
                }
                _ => break,
            }
        }
    }

    fn push(&mut self, node: Node, line: &Line<'_>) {
        self.stack.push(Frame {
            node,
            indent: line.indent,
            child_indent: None,
        });
    }

    fn problem(&mut self, line: &Line<'_>, reason: impl Into<String>) {
        self.frr.problems.push(Problem {
            line: line.number,
            block_end: None,
            text: line.text.to_owned(),
            reason: reason.into(),
        });
    }

    fn take(&mut self, node: Node, line: &Line<'_>) -> Took {
        match node {
            Node::Config => self.take_config(line),
            Node::Bfd => self.take_bfd(line),
            Node::Peer(i) => self.take_session(Target::Peer(i), line),
            Node::Profile(i) => self.take_session(Target::Profile(i), line),
            Node::LineVty => self.take_foreign(None, false, line),
            Node::Foreign(i) => self.take_foreign(Some(i), false, line),
            Node::Vrf(i) => self.take_foreign(Some(i), true, line),
        }
    }

    /// Lines inside a block bfdd has no use for: indented ones belong to it, and so does
    /// anything the config node does not know. A `vrf` block keeps its static routes however
    /// they are indented, as FRR's vrf node has `ip route` and indentation means nothing to FRR.
    fn take_foreign(&mut self, problem: Option<usize>, vrf: bool, line: &Line<'_>) -> Took {
        let block_indent = self.stack.last().map_or(0, |f| f.indent);
        let first = line.words.first().copied().unwrap_or("");
        let ends = (first == "exit" && line.indent <= block_indent) || first == "exit-vrf";
        let vrf_route = vrf && matches!(line.words.as_slice(), ["ip" | "ipv6", "route", ..]);
        if !ends && !vrf_route && line.indent <= block_indent && config_knows(&line.words) {
            return Took::No;
        }
        if let Some(i) = problem {
            self.frr.problems[i].block_end = Some(line.number);
        }
        if ends {
            self.stack.pop();
        }
        Took::Yes
    }

    fn take_config(&mut self, line: &Line<'_>) -> Took {
        let w = &line.words;
        match w.as_slice() {
            ["bfd"] => self.push(Node::Bfd, line),
            ["ip" | "ipv6", "route", ..] => self.route(line),
            ["line", "vty", ..] => self.push(Node::LineVty, line),
            ["exit" | "end"] => {}
            _ if is_boilerplate(w) => {}
            ["ip" | "ipv6", "forwarding"] | ["no", "ip" | "ipv6", "forwarding"] => self.problem(
                line,
                "bfdd does not manage IP forwarding; set the net.ipv4.ip_forward / \
                 net.ipv6.conf.all.forwarding sysctls instead",
            ),
            _ if foreign_block_reason(w).is_some() => {
                let reason = foreign_block_reason(w).unwrap_or_default();
                self.problem(line, reason);
                let index = self.frr.problems.len() - 1;
                self.frr.problems[index].block_end = Some(line.number);
                if w.first() == Some(&"vrf") {
                    self.push(Node::Vrf(index), line);
                } else {
                    self.push(Node::Foreign(index), line);
                }
            }
            // A negated command the config node has; an unknown one is reported where it
            // stands, as FRR does, without leaving the block it is in.
            ["no", rest @ ..] if config_knows(rest) => {
                self.problem(line, "negated commands are not converted")
            }
            _ => return Took::No,
        }
        Took::Yes
    }

    fn take_bfd(&mut self, line: &Line<'_>) -> Took {
        match line.words.as_slice() {
            ["peer", rest @ ..] => self.peer(line, rest),
            ["profile", name] => {
                let index = match self.frr.profiles.iter().position(|p| p.name == *name) {
                    Some(i) => i,
                    None => {
                        self.frr.profiles.push(Profile {
                            name: (*name).to_owned(),
                            line: line.number,
                            settings: Settings::default(),
                        });
                        self.frr.profiles.len() - 1
                    }
                };
                self.push(Node::Profile(index), line);
            }
            ["no", "peer" | "profile", ..] => {
                self.problem(line, "removal commands are not converted")
            }
            ["exit"] => {
                self.stack.pop();
            }
            _ => return Took::No,
        }
        Took::Yes
    }

    /// `peer ADDRESS [{multihop|local-address ADDRESS|interface IFNAME|vrf NAME}]`
    fn peer(&mut self, line: &Line<'_>, words: &[&str]) {
        let mut peer = Peer {
            line: line.number,
            header: line.text.to_owned(),
            address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            local: None,
            interface: None,
            multihop: false,
            settings: Settings::default(),
            profile: None,
            convert: true,
        };
        if let Err(reason) = parse_peer_words(words, &mut peer) {
            peer.convert = false;
            self.problem(line, reason);
        }
        // Entering the same peer again continues its block, as in FRR.
        let existing = self.frr.peers.iter().position(|p| {
            p.convert
                && peer.convert
                && p.address == peer.address
                && p.local == peer.local
                && p.interface == peer.interface
                && p.multihop == peer.multihop
        });
        let index = existing.unwrap_or_else(|| {
            self.frr.peers.push(peer);
            self.frr.peers.len() - 1
        });
        self.push(Node::Peer(index), line);
    }

    fn take_session(&mut self, target: Target, line: &Line<'_>) -> Took {
        let n = line.number;
        let w = line.words.as_slice();
        let mut invalid: Option<String> = None;
        {
            let is_peer = matches!(target, Target::Peer(_));
            let settings = match target {
                Target::Peer(i) => &mut self.frr.peers[i].settings,
                Target::Profile(i) => &mut self.frr.profiles[i].settings,
            };
            match w {
                ["shutdown"] => {
                    settings.shutdown = Some(Set {
                        value: true,
                        line: n,
                    })
                }
                ["no", "shutdown"] => {
                    settings.shutdown = Some(Set {
                        value: false,
                        line: n,
                    })
                }
                ["passive-mode"] => {
                    settings.passive = Some(Set {
                        value: true,
                        line: n,
                    })
                }
                ["no", "passive-mode"] => {
                    settings.passive = Some(Set {
                        value: false,
                        line: n,
                    })
                }
                ["detect-multiplier", v] => match number(v, 2, 255) {
                    Ok(v) => {
                        settings.detect_multiplier = Some(Set {
                            value: v as u8,
                            line: n,
                        })
                    }
                    Err(e) => invalid = Some(e),
                },
                ["receive-interval", v] => match number(v, 10, 60_000) {
                    Ok(v) => settings.receive_interval = Some(Set { value: v, line: n }),
                    Err(e) => invalid = Some(e),
                },
                ["transmit-interval", v] => match number(v, 10, 60_000) {
                    Ok(v) => settings.transmit_interval = Some(Set { value: v, line: n }),
                    Err(e) => invalid = Some(e),
                },
                ["minimum-ttl", v] => match number(v, 1, 254) {
                    Ok(v) => {
                        settings.minimum_ttl = Some(Set {
                            value: v as u8,
                            line: n,
                        })
                    }
                    Err(e) => invalid = Some(e),
                },
                ["no", "detect-multiplier", ..] => settings.detect_multiplier = None,
                ["no", "receive-interval", ..] => settings.receive_interval = None,
                ["no", "transmit-interval", ..] => settings.transmit_interval = None,
                ["no", "minimum-ttl", ..] => settings.minimum_ttl = None,
                // bfdd never runs the echo function, which is what these say anyway.
                ["no", "echo-mode"]
                | ["no", "echo-interval", ..]
                | ["no", "echo", ..]
                | ["echo", "receive-interval", "disabled"] => {}
                ["echo-mode"] | ["echo-interval", ..] | ["echo", ..] => {
                    invalid = Some("bfdd has no echo function".to_owned())
                }
                ["label", ..] | ["no", "label", ..] if is_peer => {
                    invalid = Some("bfdd has no session labels".to_owned())
                }
                ["profile", name] if is_peer => {
                    if let Target::Peer(i) = target {
                        self.frr.peers[i].profile = Some(Set {
                            value: (*name).to_owned(),
                            line: n,
                        });
                    }
                }
                ["no", "profile", ..] if is_peer => {
                    if let Target::Peer(i) = target {
                        self.frr.peers[i].profile = None;
                    }
                }
                ["exit"] => {
                    self.stack.pop();
                }
                _ => return Took::No,
            }
        }
        if let Some(reason) = invalid {
            self.problem(line, reason);
        }
        Took::Yes
    }

    /// `ip route ...` / `ipv6 route ...` (FRR staticd: `ip route <A.B.C.D/M|A.B.C.D A.B.C.D>
    /// <A.B.C.D|INTERFACE|blackhole|reject|Null0> [INTERFACE] [{tag (1-4294967295)|(1-255)|vrf
    /// NAME|label WORD|table (1-4294967295)|nexthop-vrf NAME|onlink|color (1-4294967295)|bfd
    /// [{multi-hop|source A.B.C.D|profile BFDPROF}]}]`, and the same with `ipv6` and an optional
    /// `from X:X::X:X/M`).
    fn route(&mut self, line: &Line<'_>) {
        match parse_route(line) {
            Ok(route) => {
                // The same destination and gateway again updates the route, as in FRR.
                if let Some(existing) = self
                    .frr
                    .routes
                    .iter_mut()
                    .find(|r| r.destination == route.destination && r.gateway == route.gateway)
                {
                    *existing = route;
                } else {
                    self.frr.routes.push(route);
                }
            }
            Err(reason) => self.problem(line, reason),
        }
    }
}

#[derive(Clone, Copy)]
enum Target {
    Peer(usize),
    Profile(usize),
}

/// Top-level lines that never matter to bfdd.
fn is_boilerplate(words: &[&str]) -> bool {
    let words = match words {
        ["no", rest @ ..] => rest,
        w => w,
    };
    matches!(
        words,
        ["frr", "version" | "defaults", ..]
            | ["hostname", ..]
            | ["domainname", ..]
            | ["log", ..]
            | ["service", ..]
            | ["password", ..]
            | ["enable", "password", ..]
            | ["debug", ..]
            | ["banner", ..]
            | ["write", ..]
    )
}

/// Whether the config node would take this line itself (so it ends a foreign block).
fn config_knows(words: &[&str]) -> bool {
    matches!(
        words,
        ["bfd"] | ["ip" | "ipv6", "route", ..] | ["line", "vty", ..] | ["end"]
    ) || is_boilerplate(words)
        || foreign_block_reason(words).is_some()
}

/// Blocks bfdd has no equivalent for, and why.
fn foreign_block_reason(words: &[&str]) -> Option<String> {
    Some(match words {
        ["interface", name, ..] => format!(
            "interface settings are not converted: bfdd does not configure interfaces \
             (bind a session with interface = \"{name}\" on its [[peer]])"
        ),
        ["vrf", name, ..] => {
            format!("bfdd supports only the default VRF; nothing in vrf {name} is converted")
        }
        ["router", protocol, ..] => {
            format!("bfdd runs BFD only, not {protocol}; configure {protocol} elsewhere")
        }
        ["route-map", ..] | ["nexthop-group", ..] | ["pbr-map", ..] => {
            "bfdd has no policy routing or route maps".to_owned()
        }
        ["key", "chain", ..] => "bfdd has no key chains (see [peer.auth])".to_owned(),
        ["segment-routing", ..] | ["mpls", ..] | ["pseudowire", ..] => {
            "bfdd has no MPLS or segment routing".to_owned()
        }
        ["control-plane", ..] | ["rpki", ..] | ["affinity-map", ..] => {
            "bfdd has no equivalent".to_owned()
        }
        _ => return None,
    })
}

fn number(text: &str, min: u32, max: u32) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(format!(
            "{text:?} is outside {min}-{max}, which FRR refuses too (the line had no effect)"
        )),
    }
}

fn parse_peer_words(words: &[&str], peer: &mut Peer) -> Result<(), String> {
    let (address, mut rest) = match words {
        [address, rest @ ..] => (address, rest),
        [] => return Err("peer without an address".to_owned()),
    };
    peer.address = address
        .parse()
        .map_err(|_| format!("{address:?} is not an IPv4 or IPv6 address"))?;
    loop {
        rest = match rest {
            [] => break,
            ["multihop", r @ ..] => {
                peer.multihop = true;
                r
            }
            ["local-address", a, r @ ..] => {
                let local: IpAddr = a
                    .parse()
                    .map_err(|_| format!("local-address {a:?} is not an IP address"))?;
                if local.is_ipv4() != peer.address.is_ipv4() {
                    return Err(format!(
                        "local-address {local} and peer {} are of different families",
                        peer.address
                    ));
                }
                peer.local = Some(local);
                r
            }
            ["interface", name, r @ ..] => {
                peer.interface = Some((*name).to_owned());
                r
            }
            ["vrf", "default", r @ ..] => r,
            ["vrf", name, ..] => {
                return Err(format!(
                    "bfdd supports only the default VRF; this session (vrf {name}) and its \
                     settings are left out"
                ))
            }
            [word, ..] => return Err(format!("unexpected {word:?} in the peer command")),
        };
    }
    Ok(())
}

fn parse_route(line: &Line<'_>) -> Result<Route, String> {
    let v6 = line.words[0] == "ipv6";
    let mut rest = &line.words[2..];
    // Destination: A.B.C.D/M, or A.B.C.D A.B.C.D (address and netmask) for IPv4.
    let (addr, len) = match rest {
        [p, r @ ..] if p.contains('/') => {
            rest = r;
            parse_prefix(p, v6)?
        }
        [a, m, r @ ..] if !v6 => {
            rest = r;
            let addr: Ipv4Addr = a
                .parse()
                .map_err(|_| format!("{a:?} is not an IPv4 destination"))?;
            (IpAddr::V4(addr), netmask_len(m)?)
        }
        _ => return Err("a route needs a destination prefix and a gateway".to_owned()),
    };
    let destination = format!("{}/{len}", mask(addr, len));
    if let ["from", ..] = rest {
        return Err("source-specific (from) routes are not supported".to_owned());
    }
    let gateway = match rest {
        [g, r @ ..] => {
            rest = r;
            match g.parse::<IpAddr>() {
                Ok(ip) if ip.is_ipv4() != v6 => ip,
                Ok(ip) => {
                    return Err(format!(
                        "gateway {ip} is not of the destination's address family"
                    ))
                }
                Err(_) if matches!(*g, "blackhole" | "reject" | "Null0") => {
                    return Err(format!(
                        "{g} routes are not supported: bfdd installs routes via a gateway"
                    ))
                }
                Err(_) => {
                    return Err(format!(
                        "routes via an interface ({g}) are not supported: bfdd needs a gateway \
                         address"
                    ))
                }
            }
        }
        [] => return Err("a route needs a gateway".to_owned()),
    };
    let mut bfd: Option<RouteBfd> = None;
    let mut first_option = true;
    loop {
        rest =
            match rest {
                [] => break,
                ["bfd", r @ ..] => {
                    let b = bfd.get_or_insert_with(RouteBfd::default);
                    let mut r = r;
                    loop {
                        r = match r {
                            ["multi-hop", r2 @ ..] => {
                                b.multihop = true;
                                r2
                            }
                            ["source", a, r2 @ ..] => {
                                let source: IpAddr = a.parse().map_err(|_| {
                                    format!("bfd source {a:?} is not an IP address")
                                })?;
                                b.source = Some(source);
                                r2
                            }
                            ["profile", name, r2 @ ..] => {
                                b.profile = Some((*name).to_owned());
                                r2
                            }
                            ["auto-hop", ..] => {
                                return Err("bfd auto-hop is not supported; set multi-hop or not"
                                    .to_owned())
                            }
                            _ => break,
                        };
                    }
                    r
                }
                ["vrf" | "nexthop-vrf", "default", r @ ..] => r,
                ["vrf" | "nexthop-vrf", name, ..] => {
                    return Err(format!("bfdd supports only the default VRF, not {name}"))
                }
                ["tag", ..] => return Err("route tags are not supported".to_owned()),
                ["label", ..] => return Err("MPLS labels are not supported".to_owned()),
                ["table", ..] => return Err(
                    "per-route tables are not supported (bfdd puts every route in [routes] table)"
                        .to_owned(),
                ),
                ["onlink", ..] => return Err("onlink routes are not supported".to_owned()),
                ["color", ..] | ["segments", ..] => {
                    return Err("SR-TE colors and segments are not supported".to_owned())
                }
                [d, ..] if d.bytes().all(|b| b.is_ascii_digit()) => {
                    return Err(format!(
                        "administrative distance {d} is not supported: bfdd installs every route \
                     with the same preference"
                    ))
                }
                [word, ..] if first_option => {
                    return Err(format!(
                        "routes via a gateway and an interface ({word}) are not supported"
                    ))
                }
                [word, ..] => return Err(format!("unexpected {word:?} in the route")),
            };
        first_option = false;
    }
    Ok(Route {
        line: line.number,
        text: line.text.to_owned(),
        destination,
        gateway,
        bfd,
    })
}

fn parse_prefix(text: &str, v6: bool) -> Result<(IpAddr, u8), String> {
    let bad = || {
        format!(
            "{text:?} is not an {} prefix",
            if v6 { "IPv6" } else { "IPv4" }
        )
    };
    let (addr, len) = text.split_once('/').ok_or_else(bad)?;
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if addr.is_ipv4() == v6 || len > max {
        return Err(bad());
    }
    Ok((addr, len))
}

fn netmask_len(text: &str) -> Result<u8, String> {
    let bad = || format!("{text:?} is not a netmask");
    let mask: Ipv4Addr = text.parse().map_err(|_| bad())?;
    let bits = u32::from(mask);
    let len = bits.leading_ones();
    if bits.checked_shl(len).unwrap_or(0) != 0 {
        return Err(bad());
    }
    Ok(len as u8)
}

/// `addr` with the bits past `len` cleared.
fn mask(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & m))
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & m))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_netmasks() {
        assert_eq!(
            mask("10.244.1.7".parse().unwrap(), 24),
            "10.244.1.0".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            mask("10.244.1.7".parse().unwrap(), 0),
            "0.0.0.0".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            mask("2001:db8::1".parse().unwrap(), 32),
            "2001:db8::".parse::<IpAddr>().unwrap()
        );
        assert_eq!(netmask_len("255.255.255.0"), Ok(24));
        assert_eq!(netmask_len("0.0.0.0"), Ok(0));
        assert_eq!(netmask_len("255.255.255.255"), Ok(32));
        assert!(netmask_len("255.0.255.0").is_err());
    }

    #[test]
    fn profile_inside_and_after_a_peer() {
        // FRR 8.x writes " exit" after each peer; people often write only indentation.
        let frr = parse(
            "bfd\n peer 192.0.2.1\n  profile fast\n !\n profile fast\n  receive-interval 100\n",
        );
        assert_eq!(frr.problems, vec![]);
        assert_eq!(frr.peers[0].profile.as_ref().unwrap().value, "fast");
        assert_eq!(frr.profiles.len(), 1);
        assert_eq!(
            frr.profiles[0].settings.receive_interval,
            Some(Set {
                value: 100,
                line: 6
            })
        );
    }

    #[test]
    fn unindented_blocks_follow_frr_node_fallback() {
        let frr = parse("bfd\npeer 192.0.2.1\ndetect-multiplier 5\npeer 192.0.2.2\nip route 10.0.0.0/8 192.0.2.2 bfd\n");
        assert_eq!(frr.problems, vec![]);
        assert_eq!(frr.peers.len(), 2);
        assert_eq!(
            frr.peers[0]
                .settings
                .detect_multiplier
                .as_ref()
                .unwrap()
                .value,
            5
        );
        assert!(frr.peers[1].settings.detect_multiplier.is_none());
        assert_eq!(frr.routes.len(), 1);
    }

    #[test]
    fn unknown_line_keeps_the_node() {
        let frr = parse("bfd\n peer 192.0.2.1\n  frobnicate\n  detect-multiplier 4\n");
        assert_eq!(frr.problems.len(), 1);
        assert_eq!(frr.problems[0].line, 3);
        assert_eq!(
            frr.peers[0]
                .settings
                .detect_multiplier
                .as_ref()
                .unwrap()
                .value,
            4
        );
    }

    /// The same for an unknown negated line: the config node's `no ...` does not take it
    /// (and end the peer's block with it), nothing does, so it is reported where it stands.
    #[test]
    fn unknown_negated_line_keeps_the_node() {
        let frr = parse(
            "bfd\n peer 192.0.2.1\n  no frobnicate\n  detect-multiplier 4\n peer 192.0.2.2\n",
        );
        assert_eq!(frr.problems.len(), 1, "{:?}", frr.problems);
        assert_eq!(frr.problems[0].line, 3);
        assert_eq!(frr.peers.len(), 2);
        let multiplier = frr.peers[0].settings.detect_multiplier.as_ref();
        assert_eq!(multiplier.map(|s| s.value), Some(4));
        // A negated command the config node has is still its own, and reported.
        let frr = parse("bfd\n peer 192.0.2.1\n!\nno ip route 10.0.0.0/8 192.0.2.1\n");
        assert_eq!(frr.problems.len(), 1, "{:?}", frr.problems);
        assert!(frr.problems[0].reason.contains("negated"));
    }

    /// FRR's vrf node has `ip route`: a route in a `vrf` block stays in that VRF, which bfdd
    /// does not convert, also when it is not indented; the block ends at `exit-vrf`.
    #[test]
    fn routes_in_a_vrf_block_stay_there_however_indented() {
        for vrf in [
            "vrf red\nip route 10.0.0.0/8 192.0.2.1 bfd\nexit-vrf\n",
            "vrf red\n vni 100\nip route 10.0.0.0/8 192.0.2.1 bfd\nexit-vrf\n",
        ] {
            let frr = parse(&format!("{vrf}ip route 10.1.0.0/16 192.0.2.2\n"));
            assert_eq!(frr.routes.len(), 1, "{vrf:?}: {:?}", frr.routes);
            assert_eq!(frr.routes[0].destination, "10.1.0.0/16");
            assert_eq!(frr.problems.len(), 1, "{:?}", frr.problems);
            assert_eq!(frr.problems[0].line, 1);
            let exit_line = vrf.lines().count();
            assert_eq!(frr.problems[0].block_end, Some(exit_line), "{vrf:?}");
        }
    }

    #[test]
    fn foreign_blocks_are_one_problem_each() {
        let frr = parse(
            "router bgp 64512\n neighbor 192.0.2.1 remote-as 64513\n address-family ipv4 unicast\n  network 10.0.0.0/8\n exit-address-family\nexit\n!\nip route 10.1.0.0/16 192.0.2.1\n",
        );
        assert_eq!(frr.problems.len(), 1);
        assert_eq!(frr.problems[0].line, 1);
        assert_eq!(frr.problems[0].block_end, Some(6));
        assert_eq!(frr.routes.len(), 1);
    }

    #[test]
    fn routes_in_a_vrf_block_are_not_default_routes() {
        let frr = parse(
            "vrf red\n ip route 10.0.0.0/8 192.0.2.1\nexit-vrf\nip route 10.1.0.0/16 192.0.2.1\n",
        );
        assert_eq!(frr.routes.len(), 1);
        assert_eq!(frr.routes[0].destination, "10.1.0.0/16");
        assert_eq!(frr.problems[0].block_end, Some(3));
    }

    fn route(text: &str) -> Result<Route, String> {
        let line = Line {
            number: 1,
            indent: 0,
            text,
            words: text.split_whitespace().collect(),
        };
        parse_route(&line)
    }

    #[test]
    fn route_forms() {
        let r = route("ip route 10.244.1.9/24 172.18.0.4 bfd").unwrap();
        assert_eq!(r.destination, "10.244.1.0/24");
        assert_eq!(r.bfd, Some(RouteBfd::default()));
        let r = route("ip route 10.0.0.0 255.255.0.0 172.18.0.4").unwrap();
        assert_eq!(r.destination, "10.0.0.0/16");
        assert_eq!(r.bfd, None);
        let r = route(
            "ipv6 route 2001:db8:1::/48 2001:db8::1 bfd multi-hop source 2001:db8::2 profile slow",
        )
        .unwrap();
        assert_eq!(
            r.bfd,
            Some(RouteBfd {
                multihop: true,
                source: Some("2001:db8::2".parse().unwrap()),
                profile: Some("slow".into())
            })
        );
        assert!(route("ip route 10.0.0.0/8 172.18.0.4 vrf default bfd").is_ok());
        for bad in [
            "ip route 10.0.0.0/8 net1",
            "ip route 10.0.0.0/8 172.18.0.4 net1",
            "ip route 10.0.0.0/8 172.18.0.4 200",
            "ip route 10.0.0.0/8 172.18.0.4 tag 5",
            "ip route 10.0.0.0/8 blackhole",
            "ip route 10.0.0.0/8 2001:db8::1",
            "ipv6 route 2001:db8::/32 from 2001:db8::/48 2001:db8::1",
            "ip route 10.0.0.0/8 172.18.0.4 bfd vrf red",
            "ip route 10.0.0.0/33 172.18.0.4",
            "ip route 10.0.0.0/8",
        ] {
            assert!(route(bad).is_err(), "{bad}");
        }
    }
}
