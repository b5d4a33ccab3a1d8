//! Environment checks: root, required binaries, CI mode.

use std::path::{Path, PathBuf};

/// True when running under CI (`CI=true` or `CI=1`): missing requirements then fail instead
/// of skipping.
pub fn is_ci() -> bool {
    matches!(
        std::env::var("CI")
            .map(|v| v.to_ascii_lowercase())
            .as_deref(),
        Ok("true") | Ok("1") | Ok("yes")
    )
}

/// True when the effective user id is 0 (read from `/proc/self/status`).
pub fn is_root() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().nth(1))
        .map(|euid| euid == "0")
        .unwrap_or(false)
}

/// Reports a missing requirement: panics under CI, otherwise prints a SKIP line.
fn missing(what: &str, hint: &str) -> bool {
    let test = std::thread::current()
        .name()
        .unwrap_or("<unnamed test>")
        .to_string();
    if is_ci() {
        panic!("CI=true and {what} is missing for test {test}: {hint}");
    }
    eprintln!("SKIP {test}: {what} is missing ({hint})");
    false
}

/// Returns true when running as root. Otherwise: panics when `CI=true`, else prints a
/// `SKIP` line and returns false (the caller then returns early).
pub fn require_root_or_skip() -> bool {
    if is_root() {
        return true;
    }
    missing(
        "root",
        "network namespaces need root: run the tests as root (CI runs .ci/run as root)",
    )
}

/// Finds an executable: an absolute/relative path is checked as is, a bare name is looked up
/// in `PATH` plus the sbin directories (which a non-login root shell may lack).
pub(crate) fn find_tool(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_executable(&p).then_some(p);
    }
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(name))
        .find(|p| is_executable(p));
    found
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The Debian package that ships a tool, for the install hint.
fn package_for(name: &str) -> &'static str {
    let base = name.rsplit('/').next().unwrap_or(name);
    match base {
        "ip" | "bridge" => "iproute2",
        "bfdd" | "vtysh" | "zebra" | "watchfrr" => "frr",
        "bird" | "birdc" | "birdcl" => "bird2",
        "kill" | "pgrep" | "pkill" => "procps",
        "chrt" | "setpriv" | "prlimit" => "util-linux",
        "tshark" => "tshark",
        "python3" => "python3",
        "ovsdb-tool" | "ovsdb-server" | "ovs-vswitchd" | "ovs-vsctl" => "openvswitch-switch",
        "ovn-northd" => "ovn-central",
        "ovn-controller" => "ovn-host",
        "ovn-nbctl" | "ovn-sbctl" => "ovn-common",
        _ => "the package providing it",
    }
}

/// Returns true when the binary `name` (bare name or absolute path) is available. Otherwise:
/// panics when `CI=true`, else prints a `SKIP` line and returns false.
pub fn require_tool(name: &str) -> bool {
    if find_tool(name).is_some() {
        return true;
    }
    missing(
        &format!("tool `{name}`"),
        &format!("apt-get install -y {}", package_for(name)),
    )
}

/// Returns true when this process may put a thread on SCHED_FIFO (`chrt -f 1 true` succeeds:
/// CAP_SYS_NICE, and real-time runtime where the kernel has RT group scheduling, which
/// containers often lack). Otherwise: panics when `CI=true`, else prints a `SKIP` line.
pub fn require_realtime_scheduling() -> bool {
    if !require_tool("chrt") {
        return false;
    }
    let ok = std::process::Command::new("chrt")
        .args(["-f", "1", "true"])
        .status()
        .is_ok_and(|s| s.success());
    ok || missing(
        "SCHED_FIFO (`chrt -f 1 true` failed)",
        "run as root outside a container, or grant CAP_SYS_NICE and real-time runtime",
    )
}

/// [`require_tool`] for each name; true only when all are present (stops at the first
/// missing one).
pub fn require_tools(names: &[&str]) -> bool {
    names.iter().all(|n| require_tool(n))
}

/// Root plus what the FRR helpers need: `ip`, `/usr/lib/frr/bfdd`, `vtysh`, `kill`.
pub fn require_frr() -> bool {
    require_root_or_skip() && require_tools(&["ip", "kill", crate::frr::FRR_BFDD, "vtysh"])
}

/// Root plus what the BIRD helpers need: `ip`, `bird`, `birdc`, `kill`.
pub fn require_bird() -> bool {
    require_root_or_skip() && require_tools(&["ip", "kill", "bird", "birdc"])
}
