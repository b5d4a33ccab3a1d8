//! `bfdctl peer ADDRESS`: one session in full, laid out like FRR's `show bfd peer`.

use std::fmt::Write as _;
use std::net::IpAddr;

use bfd_control::{PeerDetail, Request, Response};

use crate::client::{unexpected, Client};
use crate::error::{Error, Status};
use crate::format::{format_seconds, format_us_as_ms};
use crate::output::{print, print_json};

/// Options of `bfdctl peer`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Peer address (IPv4 or IPv6).
    #[arg(value_name = "ADDRESS")]
    pub address: String,

    /// Local address, to pick among sessions with the same peer.
    #[arg(long, value_name = "ADDRESS")]
    pub local: Option<String>,

    /// Interface, to pick among sessions with the same peer.
    #[arg(long, value_name = "NAME")]
    pub interface: Option<String>,

    /// The multihop session to the peer (by default the single-hop one, if there is one).
    #[arg(long)]
    pub multihop: bool,

    /// Print the session as a JSON object (the fields of `bfdctl peers --json` plus timers and
    /// counters; see the README).
    #[arg(long)]
    pub json: bool,
}

fn check_address(what: &str, text: &str) -> Result<(), Error> {
    text.parse::<IpAddr>().map(|_| ()).map_err(|_| {
        Error::Usage(format!(
            "{what} {text:?} is not an IPv4 or IPv6 address (see `bfdctl peers` for the sessions)"
        ))
    })
}

/// Runs `bfdctl peer`.
pub fn run(client: &Client, args: &Args) -> Result<Status, Error> {
    check_address("peer address", &args.address)?;
    if let Some(local) = &args.local {
        check_address("--local", local)?;
    }
    let request = Request::Peer {
        address: args.address.clone(),
        local: args.local.clone(),
        interface: args.interface.clone(),
        multihop: args.multihop.then_some(true),
    };
    let peer = match client.ask(&request)? {
        Response::Peer { peer } => peer,
        other => return Err(unexpected("peer", &other)),
    };
    check_picked(args, &peer)?;
    if args.json {
        print_json(&peer)?;
    } else {
        print(&detail(&peer))?;
    }
    Ok(Status::Success)
}

/// The session answered is the one asked for: a bfdd older than a selector (`--multihop`
/// came later) ignores it and answers for another session of the same peer.
fn check_picked(args: &Args, peer: &PeerDetail) -> Result<(), Error> {
    let s = &peer.summary;
    let same_address = |a: &str, b: &str| a.parse::<IpAddr>().ok() == b.parse::<IpAddr>().ok();
    let mismatch = if args.multihop && !s.multihop {
        Some("a single-hop session for --multihop")
    } else if args
        .local
        .as_deref()
        .is_some_and(|l| !s.local.as_deref().is_some_and(|got| same_address(l, got)))
    {
        Some("a session with another local address")
    } else if args
        .interface
        .as_deref()
        .is_some_and(|i| s.interface.as_deref() != Some(i))
    {
        Some("a session on another interface")
    } else {
        None
    };
    match mismatch {
        Some(what) => Err(Error::BadAnswer(format!(
            "it describes {what} (peer {}, local {}, interface {}, multihop {})",
            s.peer,
            s.local.as_deref().unwrap_or("-"),
            s.interface.as_deref().unwrap_or("-"),
            s.multihop
        ))),
        None => Ok(()),
    }
}

/// The FRR `show bfd peer` layout (bfdd/bfdd_vty.c `_display_peer`), tabs included, with
/// bfdd's extra facts (negotiated timers, counters) in the same style.
pub fn detail(p: &PeerDetail) -> String {
    let s = &p.summary;
    let mut out = String::from("BFD Peer:\n");
    let _ = write!(out, "\tpeer {}", s.peer);
    if s.multihop {
        out.push_str(" multihop");
    }
    if let Some(local) = &s.local {
        let _ = write!(out, " local-address {local}");
    }
    if let Some(interface) = &s.interface {
        let _ = write!(out, " interface {interface}");
    }
    out.push('\n');
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(format!("\t\tID: {}", s.id));
    line(format!("\t\tRemote ID: {}", p.remote_id));
    line(if p.passive {
        "\t\tPassive mode".to_owned()
    } else {
        "\t\tActive mode".to_owned()
    });
    let time = s.state_seconds.map(format_seconds);
    match s.state.as_str() {
        "admin_down" | "admin-down" => line("\t\tStatus: shutdown".to_owned()),
        "down" => {
            line("\t\tStatus: down".to_owned());
            if let Some(t) = time {
                line(format!("\t\tDowntime: {t}"));
            }
        }
        "up" => {
            line("\t\tStatus: up".to_owned());
            if let Some(t) = time {
                line(format!("\t\tUptime: {t}"));
            }
        }
        other => line(format!("\t\tStatus: {other}")),
    }
    line(format!("\t\tDiagnostics: {}", s.diag));
    line(format!("\t\tRemote diagnostics: {}", p.remote_diag));
    line(format!("\t\tRemote state: {}", p.remote_state));
    line("\t\tPeer Type: configured".to_owned());
    line(format!(
        "\t\tAuthentication: {}",
        p.auth.as_deref().unwrap_or("none")
    ));
    if p.poll_active {
        line("\t\tPoll sequence: in progress".to_owned());
    }
    line("\t\tLocal timers:".to_owned());
    line(format!("\t\t\tDetect-multiplier: {}", p.detect_multiplier));
    line(format!(
        "\t\t\tReceive interval: {}",
        format_us_as_ms(u64::from(p.required_min_rx_us))
    ));
    line(format!(
        "\t\t\tTransmission interval: {}",
        format_us_as_ms(u64::from(p.desired_min_tx_us))
    ));
    line(format!(
        "\t\t\tAdvertised transmission interval: {}",
        format_us_as_ms(u64::from(p.advertised_min_tx_us))
    ));
    line("\t\t\tEcho receive interval: disabled".to_owned());
    line("\t\t\tEcho transmission interval: disabled".to_owned());
    line("\t\tRemote timers:".to_owned());
    line(format!(
        "\t\t\tDetect-multiplier: {}",
        p.remote_detect_multiplier
    ));
    line(format!(
        "\t\t\tReceive interval: {}",
        format_us_as_ms(u64::from(p.remote_min_rx_us))
    ));
    line(format!(
        "\t\t\tTransmission interval: {}",
        format_us_as_ms(u64::from(p.remote_min_tx_us))
    ));
    line(if p.remote_min_echo_rx_us == 0 {
        "\t\t\tEcho receive interval: disabled".to_owned()
    } else {
        format!(
            "\t\t\tEcho receive interval: {}",
            format_us_as_ms(u64::from(p.remote_min_echo_rx_us))
        )
    });
    line("\t\tNegotiated timers:".to_owned());
    line(format!(
        "\t\t\tTransmission interval: {}",
        format_us_as_ms(u64::from(p.tx_interval_us))
    ));
    line(match p.detection_time_us {
        Some(us) => format!("\t\t\tDetection time: {}", format_us_as_ms(us)),
        None => "\t\t\tDetection time: peer not heard yet".to_owned(),
    });
    line("\t\tCounters:".to_owned());
    line(format!(
        "\t\t\tControl packet input: {} packets",
        p.rx_packets
    ));
    line(format!(
        "\t\t\tControl packet output: {} packets",
        p.tx_packets
    ));
    line(format!(
        "\t\t\tControl packet send errors: {} packets",
        p.tx_errors
    ));
    line(format!(
        "\t\t\tControl packets discarded: {} packets",
        p.rx_errors
    ));
    line(format!("\t\t\tSession up events: {}", p.up_count));
    line(format!("\t\t\tSession down events: {}", p.down_count));
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bfd_control::PeerSummary;

    pub(crate) fn sample() -> PeerDetail {
        PeerDetail {
            summary: PeerSummary {
                id: 1866236061,
                peer: "172.18.0.4".into(),
                local: Some("172.18.0.10".into()),
                interface: Some("net1".into()),
                multihop: false,
                state: "up".into(),
                diag: "ok".into(),
                state_seconds: Some(3723),
            },
            remote_id: 42,
            passive: false,
            auth: None,
            desired_min_tx_us: 300_000,
            required_min_rx_us: 300_000,
            detect_multiplier: 3,
            advertised_min_tx_us: 300_000,
            tx_interval_us: 300_000,
            detection_time_us: Some(900_000),
            remote_state: "up".into(),
            remote_diag: "ok".into(),
            remote_min_tx_us: 300_000,
            remote_min_rx_us: 300_000,
            remote_min_echo_rx_us: 50_000,
            remote_detect_multiplier: 3,
            poll_active: false,
            tx_packets: 10,
            tx_errors: 1,
            rx_packets: 9,
            rx_errors: 0,
            up_count: 1,
            down_count: 0,
        }
    }

    #[test]
    fn frr_layout() {
        let text = detail(&sample());
        let expected_start = "BFD Peer:\n\
            \tpeer 172.18.0.4 local-address 172.18.0.10 interface net1\n\
            \t\tID: 1866236061\n\
            \t\tRemote ID: 42\n\
            \t\tActive mode\n\
            \t\tStatus: up\n\
            \t\tUptime: 1h2m3s\n\
            \t\tDiagnostics: ok\n\
            \t\tRemote diagnostics: ok\n";
        assert!(text.starts_with(expected_start), "{text}");
        assert!(text.contains(
            "\t\tLocal timers:\n\t\t\tDetect-multiplier: 3\n\t\t\tReceive interval: 300ms\n\t\t\tTransmission interval: 300ms\n"
        ));
        assert!(text.contains("\t\tRemote timers:\n\t\t\tDetect-multiplier: 3\n"));
        assert!(text.contains("\t\t\tEcho receive interval: 50ms\n"));
        assert!(text.contains("\t\t\tDetection time: 900ms\n"));
        assert!(text.contains("\t\t\tControl packet send errors: 1 packets\n"));
        assert!(text.ends_with("\t\t\tSession down events: 0\n\n"));
    }

    #[test]
    fn admin_down_is_shutdown_like_frr() {
        let mut p = sample();
        p.summary.state = "admin_down".into();
        p.summary.multihop = true;
        let text = detail(&p);
        assert!(text.contains("\tpeer 172.18.0.4 multihop local-address"));
        assert!(text.contains("\t\tStatus: shutdown\n\t\tDiagnostics"));
    }
}
