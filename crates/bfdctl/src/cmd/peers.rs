//! `bfdctl peers`: every session, one line each; `--check` turns it into a probe.

use std::net::IpAddr;

use bfd_control::{PeerSummary, Request, Response};

use crate::client::{unexpected, Client};
use crate::error::{Error, Status};
use crate::format::{format_seconds, Table};
use crate::output::{keep_verdict, print, print_json};

/// Options of `bfdctl peers`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the sessions as a JSON array (fields: id, peer, local, interface, multihop, state,
    /// diag, state_seconds).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// Exit 0 only if every session is Up, else print the others and exit 1 (no sessions
    /// counts as not healthy).
    #[arg(long, conflicts_with_all = ["json", "format"])]
    pub check: bool,

    /// With --check: exit 0 if at least one session is Up.
    #[arg(long, requires = "check")]
    pub any: bool,

    /// Table layout: bfdctl's own, or exactly FRR's `show bfd peers brief`.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,
}

/// `--format` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns with interface, time in state and diagnostic.
    Table,
    /// FRR 8.x `show bfd peers brief`, byte for byte.
    Frr,
}

/// Runs `bfdctl peers`.
pub fn run(client: &Client, args: &Args) -> Result<Status, Error> {
    let peers = match client.ask(&Request::Peers)? {
        Response::Peers { peers } => peers,
        other => return Err(unexpected("peers", &other)),
    };
    if args.check {
        let (text, status) = check(&peers, args.any);
        return keep_verdict(print(&text), status);
    }
    if args.json {
        print_json(&peers)?;
    } else if args.format == Some(Format::Frr) {
        print(&frr_brief(&peers))?;
    } else {
        print(&table(&peers))?;
    }
    Ok(Status::Success)
}

fn dash(value: Option<&str>) -> String {
    value.unwrap_or("-").to_owned()
}

/// bfdctl's own table.
pub fn table(peers: &[PeerSummary]) -> String {
    let mut t = Table::new(&[
        "SESSION-ID",
        "LOCAL",
        "PEER",
        "INTERFACE",
        "STATE",
        "FOR",
        "DIAG",
    ]);
    for p in peers {
        let peer = if p.multihop {
            format!("{} (multihop)", p.peer)
        } else {
            p.peer.clone()
        };
        t.push(vec![
            p.id.to_string(),
            dash(p.local.as_deref()),
            peer,
            dash(p.interface.as_deref()),
            p.state.clone(),
            p.state_seconds
                .map_or_else(|| "-".to_owned(), format_seconds),
            p.diag.clone(),
        ]);
    }
    t.render()
}

/// FRR's brief state word: `state_list[]` in FRR's bfdd/bfdd.c.
fn frr_state(state: &str) -> &str {
    match state {
        "admin_down" | "admin-down" | "admindown" => "admin-down",
        other => other,
    }
}

/// FRR's LocalAddress column. FRR prints the learned source address for single hop
/// (`satostr(&bs->local_address)`, "unknown" until known) and the key's local address for
/// multihop (`inet_ntop` of the key, all zeros when unset); bfdd only knows the configured one.
fn frr_local(p: &PeerSummary) -> String {
    match (&p.local, p.multihop) {
        (Some(local), _) => local.clone(),
        (None, false) => "unknown".to_owned(),
        (None, true) => match p.peer.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => "::".to_owned(),
            _ => "0.0.0.0".to_owned(),
        },
    }
}

/// `show bfd peers brief` as FRR 8.x prints it (bfdd/bfdd_vty.c, `_display_peers_brief` and
/// `_display_peer_brief`): `"%-10u"`, `" %-40s"`, `" %-40s"`, `"%-15s\n"`, trailing blanks
/// included, and no blank between PeerAddress and Status beyond the padding.
pub fn frr_brief(peers: &[PeerSummary]) -> String {
    let mut out = format!("Session count: {}\n", peers.len());
    out.push_str(&format!(
        "{:<10} {:<40} {:<40}{:<15}\n",
        "SessionId", "LocalAddress", "PeerAddress", "Status"
    ));
    out.push_str(&format!(
        "{:<10} {:<40} {:<40}{:<15}\n",
        "=========", "============", "===========", "======"
    ));
    for p in peers {
        out.push_str(&format!(
            "{:<10} {:<40} {:<40}{:<15}\n",
            p.id,
            frr_local(p),
            p.peer,
            frr_state(&p.state)
        ));
    }
    out
}

/// The `--check` verdict: the text to print and the exit status.
///
/// Sessions shut down in the configuration (`admin_down`) are left out, as the alerts leave
/// them out: a peer taken out for maintenance must not make the gateway NotReady. Our own
/// `admin_down` is only ever that (a peer's AdminDown takes us Down, not AdminDown).
pub fn check(peers: &[PeerSummary], any: bool) -> (String, Status) {
    if peers.is_empty() {
        return ("no sessions configured\n".to_owned(), Status::Negative);
    }
    let enabled: Vec<&PeerSummary> = peers.iter().filter(|p| p.state != "admin_down").collect();
    if enabled.is_empty() {
        return (
            format!("all {} sessions shut down\n", peers.len()),
            Status::Negative,
        );
    }
    let up = enabled.iter().filter(|p| p.state == "up").count();
    let healthy = if any { up > 0 } else { up == enabled.len() };
    if healthy {
        let shut = peers.len() - enabled.len();
        let shut = if shut > 0 {
            format!(" ({shut} shut down)")
        } else {
            String::new()
        };
        return (
            format!("{up} of {} sessions up{shut}\n", enabled.len()),
            Status::Success,
        );
    }
    let mut out = String::new();
    for p in enabled.iter().filter(|p| p.state != "up") {
        out.push_str(&p.peer);
        if let Some(local) = &p.local {
            out.push_str(&format!(" local {local}"));
        }
        if let Some(interface) = &p.interface {
            out.push_str(&format!(" interface {interface}"));
        }
        out.push_str(&format!(" {} ({})\n", p.state, p.diag));
    }
    (out, Status::Negative)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(id: u32, peer: &str, state: &str) -> PeerSummary {
        PeerSummary {
            id,
            peer: peer.into(),
            local: None,
            interface: None,
            multihop: false,
            state: state.into(),
            diag: "ok".into(),
            state_seconds: None,
        }
    }

    /// The example from the OVN-Kubernetes FRR setup, as FRR printed it (vtysh pads every
    /// column, so the lines end in blanks).
    #[test]
    fn frr_brief_matches_frr_byte_for_byte() {
        let mut p = peer(1866236061, "172.18.0.4", "up");
        p.local = Some("172.18.0.10".into());
        let expected = concat!(
            "Session count: 1\n",
            "SessionId  LocalAddress                             PeerAddress                             Status         \n",
            "=========  ============                             ===========                             ======         \n",
            "1866236061 172.18.0.10                              172.18.0.4                              up             \n",
        );
        assert_eq!(frr_brief(&[p]), expected);
    }

    #[test]
    fn frr_brief_column_widths() {
        let mut a = peer(7, "2001:db8::4", "admin_down");
        a.multihop = true;
        let b = peer(3856185010, "172.18.0.4", "down");
        let text = frr_brief(&[a, b]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Session count: 2");
        for line in &lines[1..] {
            // 10 + 1 + 40 + 1 + 40 + 15
            assert_eq!(line.len(), 107, "{line:?}");
        }
        assert_eq!(&lines[3][..11], "7          ");
        assert_eq!(&lines[3][11..51], format!("{:<40}", "::"));
        assert_eq!(&lines[3][52..92], format!("{:<40}", "2001:db8::4"));
        assert_eq!(&lines[3][92..], format!("{:<15}", "admin-down"));
        assert_eq!(&lines[4][..11], "3856185010 ");
        assert_eq!(lines[4][11..51].trim_end(), "unknown");
        assert_eq!(lines[4][92..].trim_end(), "down");
    }

    #[test]
    fn own_table() {
        let mut a = peer(1, "198.51.100.4", "up");
        a.local = Some("198.51.100.10".into());
        a.interface = Some("net1".into());
        a.state_seconds = Some(3723);
        let mut b = peer(22, "203.0.113.1", "down");
        b.multihop = true;
        b.diag = "control-expired".into();
        assert_eq!(
            table(&[a, b]),
            "SESSION-ID  LOCAL          PEER                    INTERFACE  STATE  FOR     DIAG\n\
             1           198.51.100.10  198.51.100.4            net1       up     1h2m3s  ok\n\
             22          -              203.0.113.1 (multihop)  -          down   -       control-expired\n"
        );
    }

    #[test]
    fn check_all_and_any() {
        let mut down = peer(2, "198.51.100.4", "down");
        down.diag = "control-expired".into();
        let peers = vec![peer(1, "198.51.100.5", "up"), down];
        assert_eq!(
            check(&peers, false),
            (
                "198.51.100.4 down (control-expired)\n".to_owned(),
                Status::Negative
            )
        );
        assert_eq!(
            check(&peers, true),
            ("1 of 2 sessions up\n".to_owned(), Status::Success)
        );
        assert_eq!(
            check(&[], true),
            ("no sessions configured\n".to_owned(), Status::Negative)
        );
    }

    /// A peer shut down in the configuration (as import-frr turns FRR's `shutdown`) does not
    /// fail the probe; it counts neither way. Nothing enabled at all is not healthy.
    #[test]
    fn check_leaves_out_sessions_shut_down() {
        let peers = vec![
            peer(1, "198.51.100.5", "up"),
            peer(2, "198.51.100.4", "admin_down"),
        ];
        for any in [false, true] {
            assert_eq!(
                check(&peers, any),
                (
                    "1 of 1 sessions up (1 shut down)\n".to_owned(),
                    Status::Success
                )
            );
        }
        let peers = vec![
            peer(1, "198.51.100.5", "init"),
            peer(2, "198.51.100.4", "admin_down"),
        ];
        assert_eq!(
            check(&peers, false),
            ("198.51.100.5 init (ok)\n".to_owned(), Status::Negative)
        );
        assert_eq!(
            check(&[peer(2, "198.51.100.4", "admin_down")], false),
            ("all 1 sessions shut down\n".to_owned(), Status::Negative)
        );
    }
}
