//! Runs the built `bfdctl` against a fake bfdd: a thread answering canned responses on a
//! temporary Unix socket. Checks stdout, stderr and exit codes, which are the interface.
#![allow(clippy::unwrap_used)] // Test helpers panic on purpose.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use bfd_control::{
    NexthopStatus, PeerDetail, PeerSummary, ReadyStatus, ReloadSummary, Response, RouteStatus,
};

/// What the fake daemon does with one connection.
enum Behave {
    /// Read the request, then write this line (with a newline) after a delay.
    Answer(String, Duration),
    /// Read the request, then close without writing.
    Close,
    /// Read the request, write this (no newline), then close: an answer cut short.
    Cut(String),
    /// Read the request, then hold the connection open this long without answering.
    Hang(Duration),
}

fn answer(r: &Response) -> Behave {
    Behave::Answer(serde_json::to_string(r).unwrap(), Duration::ZERO)
}

struct FakeBfdd {
    path: PathBuf,
    requests: mpsc::Receiver<String>,
}

impl FakeBfdd {
    /// Serves one connection per entry of `script`, in order.
    fn start(script: Vec<Behave>) -> FakeBfdd {
        let path = socket_path();
        let listener = UnixListener::bind(&path).unwrap();
        let (tx, requests) = mpsc::channel();
        thread::spawn(move || {
            for behave in script {
                let Ok((stream, _)) = listener.accept() else {
                    return;
                };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                let _ = tx.send(line.trim_end().to_owned());
                let mut stream = stream;
                match behave {
                    Behave::Answer(text, delay) => {
                        thread::sleep(delay);
                        let _ = stream.write_all(format!("{text}\n").as_bytes());
                    }
                    Behave::Close => drop(stream),
                    Behave::Cut(text) => {
                        let _ = stream.write_all(text.as_bytes());
                    }
                    Behave::Hang(d) => {
                        thread::sleep(d);
                        drop(stream);
                    }
                }
            }
        });
        FakeBfdd { path, requests }
    }

    fn request(&self) -> String {
        self.requests
            .recv_timeout(Duration::from_secs(5))
            .expect("bfdctl sent no request")
    }
}

impl Drop for FakeBfdd {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn socket_path() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bfdctl-{}-{n}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

fn bfdctl(socket: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bfdctl"));
    cmd.env_remove("BFDD_SOCKET")
        .arg("--socket")
        .arg(socket)
        .args(args);
    cmd
}

fn run(socket: &Path, args: &[&str]) -> Output {
    bfdctl(socket, args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn summary(id: u32, peer: &str, state: &str, diag: &str) -> PeerSummary {
    PeerSummary {
        id,
        peer: peer.into(),
        local: None,
        interface: None,
        multihop: false,
        state: state.into(),
        diag: diag.into(),
        state_seconds: None,
    }
}

fn two_peers(second_state: &str) -> Response {
    let mut a = summary(1866236061, "172.18.0.4", "up", "ok");
    a.local = Some("172.18.0.10".into());
    a.interface = Some("net1".into());
    a.state_seconds = Some(3723);
    let mut b = summary(7, "198.51.100.4", second_state, "control-expired");
    b.state_seconds = Some(42);
    Response::Peers { peers: vec![a, b] }
}

#[test]
fn peers_table() {
    let bfdd = FakeBfdd::start(vec![answer(&two_peers("down"))]);
    let o = run(&bfdd.path, &["peers"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(bfdd.request(), r#"{"request":"peers"}"#);
    assert_eq!(
        stdout(&o),
        "SESSION-ID  LOCAL        PEER          INTERFACE  STATE  FOR     DIAG\n\
         1866236061  172.18.0.10  172.18.0.4    net1       up     1h2m3s  ok\n\
         7           -            198.51.100.4  -          down   42s     control-expired\n"
    );
    assert_eq!(stderr(&o), "");
}

#[test]
fn peers_json_has_the_stable_fields() {
    let bfdd = FakeBfdd::start(vec![answer(&two_peers("down"))]);
    let o = run(&bfdd.path, &["peers", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let peers = v.as_array().unwrap();
    assert_eq!(peers.len(), 2);
    let keys: Vec<&str> = peers[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "diag",
            "id",
            "interface",
            "local",
            "multihop",
            "peer",
            "state",
            "state_seconds"
        ]
    );
    assert_eq!(peers[0]["id"], 1866236061);
    assert_eq!(peers[0]["interface"], "net1");
    assert_eq!(peers[1]["local"], serde_json::Value::Null);
    assert_eq!(peers[1]["state"], "down");
}

#[test]
fn peers_frr_format() {
    let bfdd = FakeBfdd::start(vec![answer(&two_peers("admin_down"))]);
    let o = run(&bfdd.path, &["peers", "--format", "frr"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stdout(&o),
        concat!(
            "Session count: 2\n",
            "SessionId  LocalAddress                             PeerAddress                             Status         \n",
            "=========  ============                             ===========                             ======         \n",
            "1866236061 172.18.0.10                              172.18.0.4                              up             \n",
            "7          unknown                                  198.51.100.4                            admin-down     \n",
        )
    );
}

#[test]
fn check_exits_1_naming_sessions_not_up() {
    let bfdd = FakeBfdd::start(vec![answer(&two_peers("down"))]);
    let o = run(&bfdd.path, &["peers", "--check"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "198.51.100.4 down (control-expired)\n");
}

#[test]
fn check_exits_0_when_all_up() {
    let bfdd = FakeBfdd::start(vec![answer(&two_peers("up"))]);
    let o = run(&bfdd.path, &["peers", "--check"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "2 of 2 sessions up\n");
}

#[test]
fn check_any_exits_0_with_one_up() {
    let bfdd = FakeBfdd::start(vec![answer(&two_peers("down"))]);
    let o = run(&bfdd.path, &["peers", "--check", "--any"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "1 of 2 sessions up\n");
}

#[test]
fn check_any_exits_1_with_none_up() {
    let peers = vec![
        summary(1, "198.51.100.4", "down", "control-expired"),
        summary(2, "198.51.100.5", "init", "ok"),
    ];
    let bfdd = FakeBfdd::start(vec![answer(&Response::Peers { peers })]);
    let o = run(&bfdd.path, &["peers", "--check", "--any"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o),
        "198.51.100.4 down (control-expired)\n198.51.100.5 init (ok)\n"
    );
}

#[test]
fn check_with_no_sessions_is_not_healthy() {
    let bfdd = FakeBfdd::start(vec![
        answer(&Response::Peers { peers: vec![] }),
        answer(&Response::Peers { peers: vec![] }),
    ]);
    for args in [&["peers", "--check"][..], &["peers", "--check", "--any"]] {
        let o = run(&bfdd.path, args);
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(stdout(&o), "no sessions configured\n");
    }
}

#[test]
fn missing_socket_exits_2_fast_with_one_line() {
    let path = socket_path();
    let started = Instant::now();
    let o = run(&path, &["peers", "--check"]);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o),
        format!(
            "bfdctl: cannot reach bfdd at {}: No such file or directory (is bfdd running? set --socket or BFDD_SOCKET)\n",
            path.display()
        )
    );
}

#[test]
fn socket_from_environment() {
    let bfdd = FakeBfdd::start(vec![answer(&two_peers("up"))]);
    let o = Command::new(env!("CARGO_BIN_EXE_bfdctl"))
        .env("BFDD_SOCKET", &bfdd.path)
        .args(["peers", "--check"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// bfdd reads an empty BFDD_SOCKET as unset; so must bfdctl, or a template that renders
/// `value: ""` turns every probe into a usage error.
#[test]
fn empty_socket_variable_means_the_default_socket() {
    let o = Command::new(env!("CARGO_BIN_EXE_bfdctl"))
        .env("BFDD_SOCKET", "")
        .args(["version"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("bfdctl "), "{}", stdout(&o));
}

/// A daemon that stopped accepting (its listen queue full) must not hang a probe past
/// --timeout: a plain blocking connect would wait for ever.
#[test]
fn connect_to_a_full_listen_queue_exits_2_after_timeout() {
    let path = socket_path();
    let listener =
        socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
    listener
        .bind(&socket2::SockAddr::unix(&path).unwrap())
        .unwrap();
    listener.listen(0).unwrap();
    // Fill the queue until a non-blocking connect is refused for want of room.
    let mut queued = Vec::new();
    loop {
        let c = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
        c.set_nonblocking(true).unwrap();
        match c.connect(&socket2::SockAddr::unix(&path).unwrap()) {
            Ok(()) => queued.push(c),
            Err(_) => break,
        }
        assert!(queued.len() < 64, "the listen queue never filled");
    }
    let mut child = bfdctl(&path, &["--timeout", "300ms", "ready"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("bfdctl still waiting to connect after 5 s");
        }
        thread::sleep(Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        format!(
            "bfdctl: bfdd at {} did not answer within 300ms (is it hung? check its log, or raise --timeout)\n",
            path.display()
        )
    );
    drop(listener);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn close_without_answer_exits_2() {
    let bfdd = FakeBfdd::start(vec![Behave::Close]);
    let o = run(&bfdd.path, &["peers"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        format!(
            "bfdctl: bfdd at {} closed the connection without answering (check bfdd's log)\n",
            bfdd.path.display()
        )
    );
}

#[test]
fn no_answer_exits_2_after_timeout() {
    let bfdd = FakeBfdd::start(vec![Behave::Hang(Duration::from_secs(10))]);
    let started = Instant::now();
    let o = run(&bfdd.path, &["--timeout", "300ms", "peers", "--check"]);
    let took = started.elapsed();
    assert_eq!(o.status.code(), Some(2));
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(
        stderr(&o),
        format!(
            "bfdctl: bfdd at {} did not answer within 300ms (is it hung? check its log, or raise --timeout)\n",
            bfdd.path.display()
        )
    );
}

/// bfdd stops writing `peers` when a reload changes the peers mid-answer: bfdctl says the
/// answer was cut short and to ask again, not that it cannot understand bfdd.
#[test]
fn answer_cut_short_exits_2_saying_so() {
    let whole = serde_json::to_string(&two_peers("up")).unwrap();
    let bfdd = FakeBfdd::start(vec![Behave::Cut(whole[..whole.len() / 2].to_string())]);
    let o = run(&bfdd.path, &["peers", "--check"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        format!(
            "bfdctl: bfdd at {} stopped its answer after {} bytes (a reload changed the peers, or bfdd is stopping or stuck: see its log; ask again)\n",
            bfdd.path.display(),
            whole.len() / 2
        )
    );
    // A whole answer without its newline is still an answer.
    let bfdd = FakeBfdd::start(vec![Behave::Cut(whole)]);
    let o = run(&bfdd.path, &["peers", "--check"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn garbage_answer_exits_2() {
    let bfdd = FakeBfdd::start(vec![Behave::Answer("hello".into(), Duration::ZERO)]);
    let o = run(&bfdd.path, &["peers"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).starts_with("bfdctl: cannot understand bfdd's answer: "));
    assert_eq!(stderr(&o).lines().count(), 1);
}

#[test]
fn wrong_answer_kind_exits_2() {
    let bfdd = FakeBfdd::start(vec![answer(&Response::Version {
        version: "0.1.0".into(),
    })]);
    let o = run(&bfdd.path, &["peers"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "bfdctl: bfdd answered a peers request with \"version\" (are bfdd and bfdctl the same version?)\n"
    );
}

#[test]
fn ready_and_not_ready() {
    let status = |ready| {
        answer(&Response::Ready(ReadyStatus {
            ready,
            config: "/etc/bfdd/bfdd.toml".into(),
            sessions: 3,
            problem: None,
        }))
    };
    let stuck = answer(&Response::Ready(ReadyStatus {
        ready: false,
        config: "/etc/bfdd/bfdd.toml".into(),
        sessions: 3,
        problem: Some("the session driver has not run for 20 s".into()),
    }));
    let bfdd = FakeBfdd::start(vec![status(true), status(false), status(true), stuck]);
    let o = run(&bfdd.path, &["ready"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(bfdd.request(), r#"{"request":"ready"}"#);
    assert_eq!(
        stdout(&o),
        "ready: 3 sessions, config /etc/bfdd/bfdd.toml\n"
    );
    let o = run(&bfdd.path, &["ready"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o),
        "not ready: 3 sessions, config /etc/bfdd/bfdd.toml\n"
    );
    let o = run(&bfdd.path, &["ready", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"ready": true, "config": "/etc/bfdd/bfdd.toml", "sessions": 3})
    );
    // A daemon whose session driver is stuck says so; the probe fails.
    let o = run(&bfdd.path, &["ready"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o),
        "not ready: 3 sessions, config /etc/bfdd/bfdd.toml (the session driver has not run for 20 s)\n"
    );
}

#[test]
fn ready_unreachable_exits_2() {
    let o = run(&socket_path(), &["ready"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn reload_summary_and_error() {
    let bfdd = FakeBfdd::start(vec![
        answer(&Response::Reloaded(ReloadSummary {
            added: 1,
            removed: 0,
            changed: 2,
            unchanged: 5,
            restart_needed: Vec::new(),
        })),
        answer(&Response::Reloaded(ReloadSummary {
            added: 0,
            removed: 0,
            changed: 0,
            unchanged: 3,
            restart_needed: vec![
                "daemon.frr-exporter-metrics".into(),
                "daemon.log-format".into(),
            ],
        })),
        answer(&Response::error(
            "/etc/bfdd/bfdd.toml:7: peer[0].address: \"x\" is not an IPv4 or IPv6 address",
        )),
    ]);
    let o = run(&bfdd.path, &["reload"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(bfdd.request(), r#"{"request":"reload"}"#);
    assert_eq!(
        stdout(&o),
        "reloaded: 1 added, 0 removed, 2 changed, 5 unchanged\n"
    );
    assert_eq!(stderr(&o), "");
    // Settings that wait for a restart are named; the rest of the reload took effect.
    let o = run(&bfdd.path, &["reload"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stdout(&o),
        "reloaded: 0 added, 0 removed, 0 changed, 3 unchanged\n"
    );
    assert_eq!(
        stderr(&o),
        "bfdctl: not applied until bfdd restarts: daemon.frr-exporter-metrics, daemon.log-format\n"
    );
    let o = run(&bfdd.path, &["reload"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o),
        "bfdctl: bfdd: /etc/bfdd/bfdd.toml:7: peer[0].address: \"x\" is not an IPv4 or IPv6 address\n"
    );
}

/// bfdd could not answer now (its driver held up, stopping): "unknown", exit 2, not the
/// negative state of exit 1, so a script can tell "unhealthy" from "ask again".
#[test]
fn an_answer_bfdd_could_not_give_now_exits_2() {
    let bfdd = FakeBfdd::start(vec![answer(&Response::unavailable(
        "the session driver did not answer within 10 s (see `bfdctl ready`)",
    ))]);
    let o = run(&bfdd.path, &["peers", "--check"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o),
        "bfdctl: bfdd: the session driver did not answer within 10 s (see `bfdctl ready`) (ask again)\n"
    );
}

#[test]
fn version_with_and_without_bfdd() {
    let bfdd = FakeBfdd::start(vec![answer(&Response::Version {
        version: "9.8.7".into(),
    })]);
    let o = run(&bfdd.path, &["version"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stdout(&o),
        format!("bfdctl {}\nbfdd 9.8.7\n", env!("CARGO_PKG_VERSION"))
    );
    let o = run(&socket_path(), &["version"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stdout(&o),
        format!(
            "bfdctl {}\nbfdd: not reachable\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert!(stderr(&o).starts_with("bfdctl: cannot reach bfdd at "));
}

#[test]
fn routes_table_and_json() {
    let routes = Response::Routes {
        routes: vec![RouteStatus {
            destination: "10.244.1.0/24".into(),
            table: 254,
            installed: false,
            nexthops: vec![NexthopStatus {
                gateway: "172.18.0.4".into(),
                bfd: true,
                active: false,
            }],
            reason: Some("no next hop is up".into()),
        }],
    };
    let bfdd = FakeBfdd::start(vec![answer(&routes), answer(&routes)]);
    let o = run(&bfdd.path, &["routes"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stdout(&o),
        "DESTINATION    TABLE  INSTALLED  NEXTHOPS         REASON\n\
         10.244.1.0/24  254    no         172.18.0.4[bfd]  no next hop is up\n"
    );
    let o = run(&bfdd.path, &["routes", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!([{
            "destination": "10.244.1.0/24",
            "table": 254,
            "installed": false,
            "nexthops": [{"gateway": "172.18.0.4", "bfd": true, "active": false}],
            "reason": "no next hop is up"
        }])
    );
}

fn detail() -> PeerDetail {
    let mut s = summary(1866236061, "172.18.0.4", "up", "ok");
    s.local = Some("172.18.0.10".into());
    s.interface = Some("net1".into());
    s.state_seconds = Some(61);
    PeerDetail {
        summary: s,
        remote_id: 99,
        passive: true,
        auth: Some("keyed-sha1".into()),
        desired_min_tx_us: 100_000,
        required_min_rx_us: 200_000,
        detect_multiplier: 3,
        advertised_min_tx_us: 100_000,
        tx_interval_us: 200_000,
        detection_time_us: Some(600_000),
        remote_state: "up".into(),
        remote_diag: "ok".into(),
        remote_min_tx_us: 300_000,
        remote_min_rx_us: 300_000,
        remote_min_echo_rx_us: 0,
        remote_detect_multiplier: 3,
        poll_active: false,
        tx_packets: 5,
        tx_errors: 0,
        rx_packets: 4,
        rx_errors: 1,
        up_count: 1,
        down_count: 0,
    }
}

#[test]
fn peer_detail_text_and_request() {
    let bfdd = FakeBfdd::start(vec![answer(&Response::Peer {
        peer: Box::new(detail()),
    })]);
    let o = run(
        &bfdd.path,
        &[
            "peer",
            "172.18.0.4",
            "--interface",
            "net1",
            "--local",
            "172.18.0.10",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let request: serde_json::Value = serde_json::from_str(&bfdd.request()).unwrap();
    assert_eq!(
        request,
        serde_json::json!({"request": "peer", "address": "172.18.0.4", "local": "172.18.0.10", "interface": "net1"})
    );
    let text = stdout(&o);
    assert!(text.starts_with(
        "BFD Peer:\n\tpeer 172.18.0.4 local-address 172.18.0.10 interface net1\n\t\tID: 1866236061\n\t\tRemote ID: 99\n\t\tPassive mode\n\t\tStatus: up\n\t\tUptime: 1m1s\n\t\tDiagnostics: ok\n\t\tRemote diagnostics: ok\n"
    ), "{text}");
    assert!(text.contains("\t\tLocal timers:\n\t\t\tDetect-multiplier: 3\n\t\t\tReceive interval: 200ms\n\t\t\tTransmission interval: 100ms\n"));
    assert!(text.contains("\t\tRemote timers:\n\t\t\tDetect-multiplier: 3\n\t\t\tReceive interval: 300ms\n\t\t\tTransmission interval: 300ms\n\t\t\tEcho receive interval: disabled\n"));
    assert!(text.contains("\t\tAuthentication: keyed-sha1\n"));
}

#[test]
fn peer_multihop_asks_for_the_multihop_session() {
    let mut multihop = detail();
    multihop.summary.multihop = true;
    multihop.summary.interface = None;
    let bfdd = FakeBfdd::start(vec![answer(&Response::Peer {
        peer: Box::new(multihop),
    })]);
    let o = run(&bfdd.path, &["peer", "172.18.0.4", "--multihop"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let request: serde_json::Value = serde_json::from_str(&bfdd.request()).unwrap();
    assert_eq!(
        request,
        serde_json::json!({"request": "peer", "address": "172.18.0.4", "multihop": true})
    );
}

/// A bfdd that does not know a selector (an older one, before --multihop) answers for
/// another session of the peer: bfdctl must not show it as the one asked for.
#[test]
fn peer_answer_for_another_session_exits_2() {
    let bfdd = FakeBfdd::start(vec![
        answer(&Response::Peer {
            peer: Box::new(detail()),
        }),
        answer(&Response::Peer {
            peer: Box::new(detail()),
        }),
    ]);
    let o = run(&bfdd.path, &["peer", "172.18.0.4", "--multihop"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert_eq!(stdout(&o), "");
    assert!(
        stderr(&o).starts_with(
            "bfdctl: cannot understand bfdd's answer: it describes a single-hop session for --multihop (peer 172.18.0.4, local 172.18.0.10, interface net1, multihop false)"
        ),
        "{}",
        stderr(&o)
    );
    let o = run(
        &bfdd.path,
        &["peer", "172.18.0.4", "--local", "172.18.0.11"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("it describes a session with another local address"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn peer_json_is_the_peer_detail() {
    let bfdd = FakeBfdd::start(vec![answer(&Response::Peer {
        peer: Box::new(detail()),
    })]);
    let o = run(&bfdd.path, &["peer", "172.18.0.4", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let back: PeerDetail = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(back, detail());
}

#[test]
fn peer_not_found_exits_1() {
    let bfdd = FakeBfdd::start(vec![answer(&Response::error(
        "no session with peer 192.0.2.1",
    ))]);
    let o = run(&bfdd.path, &["peer", "192.0.2.1"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "bfdctl: bfdd: no session with peer 192.0.2.1\n");
}

#[test]
fn bad_address_is_a_usage_error() {
    let o = run(&socket_path(), &["peer", "not-an-address"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o).lines().count(), 1);
    assert!(stderr(&o).contains("\"not-an-address\" is not an IPv4 or IPv6 address"));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["frobnicate"][..],
        &["peers", "--any"],
        &["peers", "--check", "--json"],
        &["--timeout", "0s", "peers"],
        &[],
    ] {
        let o = run(&socket_path(), args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
    }
    let o = run(&socket_path(), &["--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("import-frr"));
}

/// `bfdctl ARGS` answered 2,000 peers in `state` (the first one Up), with its stdout closed
/// before it writes: the answer comes late, so the pipe is surely closed by then.
fn with_stdout_closed(args: &[&str], state: &str) -> Output {
    let mut peers: Vec<PeerSummary> = (0..2000)
        .map(|i| summary(i, &format!("10.0.{}.{}", i / 250, i % 250 + 1), state, "ok"))
        .collect();
    peers[0].state = "up".into();
    let text = serde_json::to_string(&Response::Peers { peers }).unwrap();
    let bfdd = FakeBfdd::start(vec![Behave::Answer(text, Duration::from_millis(300))]);
    let mut child = bfdctl(&bfdd.path, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

#[test]
fn broken_pipe_exits_0_quietly() {
    let o = with_stdout_closed(&["peers"], "up");
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stderr(&o), "");
}

#[test]
fn broken_pipe_keeps_a_failed_check_failed() {
    let o = with_stdout_closed(&["peers", "--check"], "down");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "");
}
