//! The container image (container/build.sh) run the way Kubernetes runs deploy/pod.yaml, as the
//! BFD gateway against FRR's bfdd in another namespace.
//!
//! The image is built with `container/build.sh` (static binaries, `FROM scratch`, buildah; no
//! registry) and started with podman inside a test namespace, with the security context of
//! `deploy/pod.yaml` (user, `drop: [ALL]` + its `add` list, read-only root, no privilege
//! escalation) and the pod's writable mounts as host directories (emptyDirs in Kubernetes).
//! The test then checks what the pod relies on: the session comes up on FRR's side, the pod's
//! readiness and liveness commands succeed through `podman exec`, bfdd runs as the non-root
//! user with exactly the capabilities the pod adds, granted by the file capability (ambient
//! set empty: the same as under containerd/CRI-O, which set no ambient capabilities), metrics
//! are served, and `podman stop` (the kubelet's SIGTERM) makes bfdd send AdminDown.
//!
//! Root only. build.sh installs buildah/podman/runc with apt-get when they are missing and
//! writes the podman drop-in the platform needs; when that is impossible the test fails with
//! build.sh's output (with `CI=true`; otherwise it prints SKIP).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use bfdd_integration::{
    check_test_addr, check_test_prefix, control_exchange, is_ci, metric, python3, require_bfdd,
    require_frr, require_tools, wait_until, workspace_root, FrrBfdd, FrrPeer, TestDir, Topology,
    A_V4, B_V4,
};
use k8s_openapi::api::core::v1::{Container, Pod};

/// The session must be Up on FRR's side this long after the container starts.
const UP_WITHIN: Duration = Duration::from_secs(10);
/// Prefix of the containers this test creates (`bfdit-<pid>-...`, like the namespaces).
const NAME_PREFIX: &str = "bfdit-";
/// A route bfdd installs (inside the test namespace only) while the session is Up.
const ROUTE_DST: &str = "203.0.113.0/24";

/// Runs a command, returning its output whatever the exit status.
fn run(cmd: &mut Command) -> Result<Output> {
    cmd.output().with_context(|| format!("running {cmd:?}"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

/// `podman rm -f` on drop (also on panic, after printing the container's log then).
struct Running {
    name: String,
}

impl Running {
    fn logs(&self) -> String {
        Command::new("podman")
            .args(["logs", &self.name])
            .output()
            .map(|o| format!("{}{}", stdout(&o), stderr(&o)))
            .unwrap_or_default()
    }

    fn exec(&self, argv: &[String]) -> Result<Output> {
        run(Command::new("podman")
            .arg("exec")
            .arg(&self.name)
            .args(argv))
    }

    fn pid(&self) -> Result<u32> {
        let o = run(Command::new("podman").args(["inspect", "-f", "{{.State.Pid}}", &self.name]))?;
        ensure!(o.status.success(), "podman inspect: {}", stderr(&o));
        let pid: u32 = stdout(&o).parse().context("podman inspect pid")?;
        ensure!(pid != 0, "container {} is not running", self.name);
        Ok(pid)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- podman logs {} ---\n{}", self.name, self.logs());
        }
        let _ = Command::new("podman")
            .args(["rm", "-f", "-t", "2", &self.name])
            .output();
    }
}

/// Removes pods and containers left by earlier runs of these tests that were killed (their
/// pid is gone).
fn remove_stale_containers() {
    for (list, rm) in [
        (
            &["pod", "ps", "--format", "{{.Name}}"][..],
            &["pod", "rm", "-f"][..],
        ),
        (
            &["ps", "-a", "--format", "{{.Names}}"][..],
            &["rm", "-f"][..],
        ),
    ] {
        let Ok(o) = Command::new("podman").args(list).output() else {
            return;
        };
        for name in stdout(&o).lines() {
            let Some(pid) = name
                .strip_prefix(NAME_PREFIX)
                .and_then(|r| r.split('-').next())
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = Command::new("podman").args(rm).arg(name).output();
            }
        }
    }
}

/// Builds the image with container/build.sh; returns `NAME:TAG`. The build's output goes to
/// `log` and its tail into the error.
fn build_image(log: &Path) -> Result<String> {
    let script = workspace_root().join("container/build.sh");
    let t = Instant::now();
    let o = run(Command::new("bash")
        .arg(&script)
        .current_dir(workspace_root()))?;
    let text = format!("{}\n{}", stderr(&o), stdout(&o));
    std::fs::write(log, &text)?;
    if !o.status.success() {
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "container/build.sh failed ({}); last lines:\n{}",
            o.status,
            tail.join("\n")
        );
    }
    let out = stdout(&o);
    let image = out
        .lines()
        .find_map(|l| l.strip_prefix("image: "))
        .context("build.sh printed no `image:` line")?
        .to_string();
    let size = out
        .lines()
        .find_map(|l| l.strip_prefix("size: "))
        .unwrap_or("?");
    eprintln!(
        "built {image} ({size}) in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Ok(image)
}

/// The image, built once per test process (both tests use it; building it twice at once would
/// race on the tags).
fn image(dir: &TestDir) -> Result<String> {
    static IMAGE: OnceLock<std::result::Result<String, String>> = OnceLock::new();
    IMAGE
        .get_or_init(|| build_image(&dir.join("build.log")).map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

/// [`image`], or `None` after a SKIP line when podman cannot be had outside CI.
fn image_or_skip(dir: &TestDir) -> Result<Option<String>> {
    match image(dir) {
        Ok(i) => Ok(Some(i)),
        Err(e) if !is_ci() && !Path::new("/usr/bin/podman").exists() => {
            let test = std::thread::current().name().unwrap_or("?").to_string();
            eprintln!("SKIP {test}: {e:#}");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn deploy_pod() -> Result<Pod> {
    let path = workspace_root().join("deploy/pod.yaml");
    let text = std::fs::read_to_string(&path)?;
    serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Every IP address written in `text` (words of digits, hex, dots and colons that parse as
/// one, with any `/len` cut off), so that no address escapes the test ranges unseen.
fn ip_literals(text: &str) -> Vec<std::net::IpAddr> {
    text.split(|c: char| !(c.is_ascii_hexdigit() || c == '.' || c == ':' || c == '/'))
        .filter_map(|word| {
            let word = word.split('/').next()?;
            word.parse()
                .ok()
                .or_else(|| word.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
        })
        .collect()
}

/// The exec command of a probe.
fn probe_command(c: &Container, readiness: bool) -> Result<Vec<String>> {
    let probe = if readiness {
        &c.readiness_probe
    } else {
        &c.liveness_probe
    };
    probe
        .as_ref()
        .and_then(|p| p.exec.as_ref())
        .and_then(|e| e.command.clone())
        .context("probe is not an exec probe")
}

/// Capability bits (`CapEff` in /proc/PID/status) of names like `NET_ADMIN`.
fn cap_mask(names: &[String]) -> Result<u64> {
    let mut mask = 0u64;
    for n in names {
        let bit = match n.as_str() {
            "NET_BIND_SERVICE" => 10,
            "NET_BROADCAST" => 11,
            "NET_ADMIN" => 12,
            "NET_RAW" => 13,
            other => bail!("capability {other}: add its number to cap_mask"),
        };
        mask |= 1 << bit;
    }
    Ok(mask)
}

/// `Field:` of /proc/PID/status.
fn proc_status(pid: u32, field: &str) -> Result<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
        .map(|v| v.trim().to_string())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// A directory the container user owns (an emptyDir in Kubernetes).
fn owned_dir(base: &TestDir, name: &str, uid: u32, gid: u32) -> Result<PathBuf> {
    let p = base.join(name);
    std::fs::create_dir_all(&p)?;
    std::os::unix::fs::chown(&p, Some(uid), Some(gid))?;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o750))?;
    Ok(p)
}

#[test]
fn image_runs_as_the_pod_does_and_brings_up_bfd_with_frr() -> Result<()> {
    if !require_frr() || !require_bfdd() || !require_tools(&["bash", "cargo"]) {
        return Ok(());
    }
    check_test_prefix(ROUTE_DST)?;
    let dir = TestDir::new("container")?;

    // The image, built as shipped.
    let Some(image) = image_or_skip(&dir)? else {
        return Ok(());
    };
    remove_stale_containers();

    // What deploy/pod.yaml asks of the runtime.
    let pod = deploy_pod()?;
    let spec = pod.spec.context("pod spec")?;
    let psc = spec.security_context.clone().unwrap_or_default();
    let c = spec.containers.first().context("no container")?.clone();
    let sc = c.security_context.clone().unwrap_or_default();
    let uid = u32::try_from(psc.run_as_user.context("runAsUser")?)?;
    let gid = u32::try_from(psc.run_as_group.unwrap_or(psc.run_as_user.unwrap_or(0)))?;
    let caps = sc.capabilities.clone().unwrap_or_default();
    let add = caps.add.clone().unwrap_or_default();
    let drop = caps.drop.clone().unwrap_or_default();
    ensure!(drop == ["ALL"], "pod.yaml drops {drop:?}, expected [ALL]");
    let readiness = probe_command(&c, true)?;
    let liveness = probe_command(&c, false)?;
    let args = c.args.clone().unwrap_or_default();

    // FRR in namespace A, the container in namespace B.
    let topo = Topology::new()?;
    let frr = FrrBfdd::start(
        &topo.a,
        &[FrrPeer::new(B_V4).local(A_V4).interval(300).multiplier(3)],
    )?;

    // The pod's mounts: config (read-only ConfigMap), control socket and state (emptyDirs).
    let etc = dir.join("etc");
    std::fs::create_dir_all(&etc)?;
    std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o755))?;
    std::fs::write(
        etc.join("bfdd.toml"),
        format!(
            r#"[daemon]
control-socket = "/run/bfdd/bfdd.sock"
metrics-address = "0.0.0.0:9000"
state-dir = "/var/lib/bfdd"

[[peer]]
address = "{A_V4}"
local-address = "{B_V4}"
interface = "eth0"
desired-min-tx = "300ms"
required-min-rx = "300ms"
detect-multiplier = 3

[[route]]
destination = "{ROUTE_DST}"
gateway = "{A_V4}"
bfd = true
"#
        ),
    )?;
    std::fs::set_permissions(
        etc.join("bfdd.toml"),
        std::fs::Permissions::from_mode(0o644),
    )?;
    let run_dir = owned_dir(&dir, "run", uid, gid)?;
    let state_dir = owned_dir(&dir, "state", uid, gid)?;

    let name = format!("{NAME_PREFIX}{}-gw", std::process::id());
    let mut cmd = Command::new("podman");
    cmd.args(["run", "--rm", "-d", "--pull=never", "--name", &name])
        .arg(format!("--network=ns:/run/netns/{}", topo.b.name()))
        .arg(format!("--user={uid}:{gid}"))
        .arg("--cap-drop=ALL");
    for cap in &add {
        cmd.arg(format!("--cap-add={cap}"));
    }
    if sc.read_only_root_filesystem == Some(true) {
        // Kubernetes mounts no tmpfs over /run, /tmp; neither shall podman.
        cmd.args(["--read-only", "--read-only-tmpfs=false"]);
    }
    if sc.allow_privilege_escalation == Some(false) {
        cmd.args(["--security-opt", "no-new-privileges"]);
    }
    cmd.arg(format!("--volume={}:/etc/bfdd:ro", etc.display()))
        .arg(format!("--volume={}:/run/bfdd", run_dir.display()))
        .arg(format!("--volume={}:/var/lib/bfdd", state_dir.display()))
        .arg(&image)
        .args(&args);
    eprintln!("{cmd:?}");
    let started = Instant::now();
    let o = run(&mut cmd)?;
    // Guarded before the status is looked at: a failed start may still leave a container.
    let ctr = Running { name };
    ensure!(
        o.status.success(),
        "podman run failed ({}): {}",
        o.status,
        stderr(&o)
    );

    // 1. FRR sees the session Up.
    let v = frr.wait_peer_status(B_V4, "up", UP_WITHIN)?;
    eprintln!(
        "FRR: session Up {:.2} s after podman run",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(v["remote-receive-interval"], 300, "{v}");

    // 2. The pod's probes, run the way the kubelet runs them.
    for (what, argv) in [("readiness", &readiness), ("liveness", &liveness)] {
        let o = ctr.exec(argv)?;
        ensure!(
            o.status.success(),
            "{what} probe {argv:?} failed ({}): {}{}",
            o.status,
            stdout(&o),
            stderr(&o)
        );
    }
    let check = ctr.exec(&["/usr/bin/bfdctl".into(), "peers".into(), "--check".into()])?;
    ensure!(
        check.status.success(),
        "bfdctl peers --check: {}",
        stdout(&check)
    );

    // 3. Non-root, and exactly the pod's capabilities, from the file capability.
    let pid = ctr.pid()?;
    let uids = proc_status(pid, "Uid")?;
    ensure!(
        uids.split_whitespace().all(|u| u == uid.to_string()),
        "bfdd runs as uid {uids}, want {uid}"
    );
    let eff = u64::from_str_radix(&proc_status(pid, "CapEff")?, 16)?;
    let amb = u64::from_str_radix(&proc_status(pid, "CapAmb")?, 16)?;
    assert_eq!(eff, cap_mask(&add)?, "CapEff {eff:#x}");
    assert_eq!(
        amb, 0,
        "CapAmb {amb:#x}: caps must come from the file, as in Kubernetes"
    );
    if sc.allow_privilege_escalation == Some(false) {
        assert_eq!(proc_status(pid, "NoNewPrivs")?, "1");
    }

    // 4. Metrics on :9000 in the pod's network namespace.
    let script = "import sys,urllib.request;sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:9000/metrics',timeout=5).read().decode())";
    let text = topo.b.exec(&[python3(), "-c", script])?;
    assert_eq!(
        metric(&text, "bfd_session_up", &[("peer", A_V4)]),
        Some(1.0),
        "{text}"
    );

    // 5. State written under the read-only root (discriminators kept across restarts).
    ensure!(
        std::fs::read_dir(&state_dir)?.next().is_some(),
        "bfdd wrote nothing to its state directory"
    );

    // 6. The configured route, installed with CAP_NET_ADMIN from the file capability.
    let answer = control_exchange(&run_dir.join("bfdd.sock"), r#"{"request":"routes"}"#)?;
    let routes: serde_json::Value = serde_json::from_str(&answer)?;
    ensure!(
        routes["routes"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["destination"] == ROUTE_DST)),
        "bfdd does not report the configured route {ROUTE_DST}: {answer}"
    );
    let installed = wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
        topo.b
            .ip(&["route", "show", ROUTE_DST])
            .is_ok_and(|r| r.contains(&format!("via {A_V4}")))
    });
    let now = control_exchange(&run_dir.join("bfdd.sock"), r#"{"request":"routes"}"#)?;
    ensure!(installed, "route {ROUTE_DST} not installed: {now}");
    eprintln!("route {ROUTE_DST} via {A_V4} installed by the non-root bfdd");

    // 7. The kubelet's SIGTERM (podman stop): AdminDown, so FRR goes down at once and says
    //    why, instead of timing out.
    let t = Instant::now();
    let o = run(Command::new("podman").args(["stop", "-t", "5", &ctr.name]))?;
    ensure!(o.status.success(), "podman stop: {}", stderr(&o));
    ensure!(
        t.elapsed() < Duration::from_secs(4),
        "bfdd took {:?} to stop (podman sends SIGKILL after 5 s)",
        t.elapsed()
    );
    let v = frr.wait_peer_status(B_V4, "down", Duration::from_secs(2))?;
    assert_eq!(v["diagnostic"], "neighbor signaled session down", "{v}");
    Ok(())
}

/// `podman pod rm -f` on drop.
struct PlayedPod {
    name: String,
    container: String,
}

impl Drop for PlayedPod {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Ok(o) = Command::new("podman")
                .args(["logs", &self.container])
                .output()
            {
                eprintln!(
                    "--- podman logs {} ---\n{}{}",
                    self.container,
                    stdout(&o),
                    stderr(&o)
                );
            }
        }
        let _ = Command::new("podman")
            .args(["pod", "rm", "-f", "-t", "2", &self.name])
            .output();
    }
}

/// The manifests themselves, deploy/configmap.yaml + deploy/pod.yaml, under
/// `podman kube play`: the ConfigMap mounted where the args point, the emptyDirs writable under
/// the read-only root, the pod's user and capabilities, and its readiness command answering.
/// `--network none` (kube play cannot join a test namespace): the sessions to the manifest's
/// real node addresses fail to send and its routes fail with "network unreachable", so no
/// packet leaves; the pod's container ports are left out, as podman refuses port mappings
/// without a network.
#[test]
fn deploy_manifests_run_under_podman_kube_play() -> Result<()> {
    if !require_bfdd() || !require_tools(&["bash", "cargo"]) {
        return Ok(());
    }
    let dir = TestDir::new("kube-play")?;
    let Some(image) = image_or_skip(&dir)? else {
        return Ok(());
    };
    remove_stale_containers();

    let mut pod = deploy_pod()?;
    let name = format!("{NAME_PREFIX}{}-ext-gw", std::process::id());
    pod.metadata.name = Some(name.clone());
    let spec = pod.spec.as_mut().context("pod spec")?;
    // `--network none` is what keeps the pod's packets and routes off this machine's network;
    // a pod in the host's namespace would have neither.
    ensure!(
        spec.host_network != Some(true),
        "pod.yaml asks for the host network: not played here"
    );
    let c = spec.containers.first_mut().context("no container")?;
    ensure!(
        c.image.as_deref() == Some(image.as_str()),
        "pod.yaml runs {:?}, build.sh built {image}",
        c.image
    );
    c.ports = None;
    // podman 4.3 cannot set a variable from status.podIP, and a pod without a network has no
    // address but loopback: the metrics listen there.
    let env = c.env.as_mut().context("pod.yaml sets no environment")?;
    let before = env.len();
    env.retain(|e| e.name != "POD_IP");
    ensure!(env.len() < before, "pod.yaml no longer sets POD_IP");
    let metrics = env
        .iter_mut()
        .find(|e| e.name == "BFDD_METRICS_ADDRESS")
        .context("pod.yaml no longer sets BFDD_METRICS_ADDRESS")?;
    ensure!(
        metrics.value.as_deref() == Some("$(POD_IP)"),
        "BFDD_METRICS_ADDRESS is {:?}",
        metrics.value
    );
    metrics.value = Some("127.0.0.1".into());
    let c = c.clone();
    let sc = c.security_context.clone().unwrap_or_default();
    let add = sc
        .capabilities
        .as_ref()
        .and_then(|caps| caps.add.clone())
        .unwrap_or_default();
    let uid = spec
        .security_context
        .as_ref()
        .and_then(|s| s.run_as_user)
        .context("runAsUser")?;
    let pod_file = dir.join("pod.yaml");
    std::fs::write(&pod_file, serde_yaml::to_string(&pod)?)?;

    // The manifest's kind-cluster addresses, moved into the test ranges: nothing can leave
    // without a network, and no test names an address outside them.
    let configmap = std::fs::read_to_string(workspace_root().join("deploy/configmap.yaml"))?
        .replace("172.18.0.", "198.18.0.")
        .replace("10.244.", "198.19.");
    // Loopback and the wildcard are where the daemon listens, not where packets go.
    let addrs = ip_literals(&configmap);
    ensure!(
        addrs.len() > 10,
        "found only {addrs:?} in deploy/configmap.yaml"
    );
    for addr in addrs {
        if !addr.is_loopback() && !addr.is_unspecified() {
            check_test_addr(addr).context("deploy/configmap.yaml after moving its addresses")?;
        }
    }
    let configmap_file = dir.join("configmap.yaml");
    std::fs::write(&configmap_file, configmap)?;
    let o = run(Command::new("podman")
        .args(["kube", "play", "--network", "none", "--configmap"])
        .arg(&configmap_file)
        .arg(&pod_file))?;
    let played = PlayedPod {
        container: format!("{name}-{}", c.name),
        name,
    };
    ensure!(
        o.status.success(),
        "podman kube play failed ({}): {}{}",
        o.status,
        stdout(&o),
        stderr(&o)
    );

    let readiness = probe_command(&c, true)?;
    let exec = |argv: &[String]| {
        Command::new("podman")
            .arg("exec")
            .arg(&played.container)
            .args(argv)
            .output()
    };
    let ready = wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
        exec(&readiness).is_ok_and(|o| o.status.success())
    });
    ensure!(ready, "readiness {readiness:?} never succeeded");
    let peers = exec(&["/usr/bin/bfdctl".into(), "peers".into(), "--json".into()])?;
    let peers: serde_json::Value = serde_json::from_slice(&peers.stdout)?;
    assert_eq!(peers.as_array().map(Vec::len), Some(3), "{peers}");

    let o = run(Command::new("podman").args([
        "inspect",
        "-f",
        "{{.State.Pid}} {{.HostConfig.ReadonlyRootfs}}",
        &played.container,
    ]))?;
    let out = stdout(&o);
    let (pid, ro) = out.split_once(' ').context("podman inspect")?;
    let pid: u32 = pid.parse()?;
    assert_eq!(ro, "true", "root filesystem not read-only");
    assert_eq!(
        proc_status(pid, "Uid")?.split_whitespace().next(),
        Some(uid.to_string().as_str())
    );
    let eff = u64::from_str_radix(&proc_status(pid, "CapEff")?, 16)?;
    assert_eq!(eff, cap_mask(&add)?, "CapEff {eff:#x}");
    assert_eq!(proc_status(pid, "CapAmb")?, "0000000000000000");
    if sc.allow_privilege_escalation == Some(false) {
        assert_eq!(proc_status(pid, "NoNewPrivs")?, "1");
    }
    // The metrics on the address BFDD_METRICS_ADDRESS gave (127.0.0.1 here, for the pod IP),
    // on the configuration's port, and not on every address: the listening sockets of the
    // pod's network namespace, addresses in the kernel's hex (127.0.0.1:9000 is 0100007F:2328).
    let tcp = std::fs::read_to_string(format!("/proc/{pid}/net/tcp"))?;
    let listening: Vec<&str> = tcp
        .lines()
        .skip(1)
        .filter_map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            (fields.get(3) == Some(&"0A")).then(|| fields[1])
        })
        .collect();
    ensure!(
        listening.contains(&"0100007F:2328") && !listening.contains(&"00000000:2328"),
        "metrics not on 127.0.0.1:9000 alone; listening: {listening:?}"
    );
    Ok(())
}
