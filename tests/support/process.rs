//! Process and temporary-directory guards.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::netns::Netns;

static DIR_COUNTER: AtomicU32 = AtomicU32::new(0);
static STALE_CLEANUP: Once = Once::new();

/// Prefix of every temporary directory this harness creates: `bfdd-it-<pid>-<n>-<tag>`.
const DIR_PREFIX: &str = "bfdd-it-";

/// True when no process with this pid exists (a harness run that died without cleanup).
pub(crate) fn pid_is_dead(pid: u32) -> bool {
    pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes temporary directories left by harness runs that died without cleanup (SIGKILL,
/// abort): `bfdd-it-<pid>-...` whose pid no longer exists.
fn cleanup_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(DIR_PREFIX)
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid_is_dead(pid) && e.path().is_dir() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// How long [`Process`]'s `Drop` waits after SIGTERM before SIGKILL.
const DROP_GRACE: Duration = Duration::from_secs(2);

/// A temporary directory `/tmp/bfdd-it-<pid>-<n>-<tag>`, removed on drop (kept when the
/// environment variable `BFDD_IT_KEEP` is set, for debugging). The first `TestDir` of a run
/// removes directories left by earlier runs that died (their pid no longer exists).
#[derive(Debug)]
pub struct TestDir {
    path: PathBuf,
}

impl TestDir {
    /// Creates a fresh directory (mode 0755, so that daemons that drop privileges can reach
    /// subdirectories they own).
    pub fn new(tag: &str) -> Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        if std::env::var_os("BFDD_IT_KEEP").is_none() {
            STALE_CLEANUP.call_once(cleanup_stale_dirs);
        }
        let n = DIR_COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!(
            "{DIR_PREFIX}{}-{}-{}",
            std::process::id(),
            n,
            sanitize(tag)
        ));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        Ok(Self { path })
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `self.path().join(name)`.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Creates (if needed) a subdirectory owned by `user:group` with mode 0770.
    pub fn subdir_owned_by(&self, name: &str, user: &str, group: &str) -> Result<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let p = self.path.join(name);
        std::fs::create_dir_all(&p)?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o770))?;
        chown(&p, user, group)?;
        Ok(p)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::env::var_os("BFDD_IT_KEEP").is_some() {
            eprintln!("keeping test directory {}", self.path.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// `chown user:group path` (via the `chown` tool, to avoid a passwd parser).
pub(crate) fn chown(path: &Path, user: &str, group: &str) -> Result<()> {
    let out = Command::new("chown")
        .arg(format!("{user}:{group}"))
        .arg(path)
        .output()
        .context("running chown")?;
    if !out.status.success() {
        bail!(
            "chown {user}:{group} {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Keeps only characters that are safe in file and namespace names.
pub(crate) fn sanitize(tag: &str) -> String {
    tag.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(24)
        .collect()
}

/// A process started inside a namespace (`ip netns exec NS argv...`, which `exec`s, so the
/// PID is the program's own). Its stdout and stderr go to `<dir>/<name>.log`.
///
/// Drop sends SIGTERM, waits up to 2 s, then SIGKILLs and reaps it; when the thread is
/// panicking (a failing test), the log is printed to stderr.
#[derive(Debug)]
pub struct Process {
    name: String,
    child: Option<Child>,
    log_path: PathBuf,
    exit: Option<ExitStatus>,
}

impl Process {
    /// Spawns `argv` inside `ns`, logging to `<log_dir>/<name>.log` (appending).
    pub fn spawn(ns: &Netns, name: &str, argv: &[&str], log_dir: &Path) -> Result<Self> {
        Self::spawn_env(ns, name, argv, &[], log_dir)
    }

    /// [`Process::spawn`] with extra environment variables.
    pub fn spawn_env(
        ns: &Netns,
        name: &str,
        argv: &[&str],
        env: &[(&str, &str)],
        log_dir: &Path,
    ) -> Result<Self> {
        let Some((program, args)) = argv.split_first() else {
            bail!("empty argv for {name}");
        };
        let log_path = log_dir.join(format!("{}.log", sanitize(name)));
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let log_err = log.try_clone()?;
        let mut cmd = ns.command(program);
        cmd.args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        let child = cmd
            .spawn()
            .with_context(|| format!("spawning {name}: {argv:?} in netns {}", ns.name()))?;
        Ok(Self {
            name: name.to_string(),
            child: Some(child),
            log_path,
            exit: None,
        })
    }

    /// The process id (also valid after exit, until drop).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The name given at spawn time.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True while the process has not exited (reaps it if it has).
    pub fn is_running(&mut self) -> bool {
        self.try_wait().is_none()
    }

    /// The exit status if the process has exited (reaping it), else `None`.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.exit.is_some() {
            return self.exit;
        }
        let child = self.child.as_mut()?;
        if let Ok(Some(st)) = child.try_wait() {
            self.exit = Some(st);
        }
        self.exit
    }

    /// Sends a signal by name (`TERM`, `KILL`, `HUP`, `STOP`, `CONT`, ...) with `kill -s`.
    /// Does nothing once the process has been reaped.
    pub fn signal(&mut self, sig: &str) -> Result<()> {
        if self.try_wait().is_some() {
            return Ok(());
        }
        let Some(pid) = self.pid() else {
            return Ok(());
        };
        let out = Command::new("kill")
            .args(["-s", sig, &pid.to_string()])
            .output()
            .context("running kill")?;
        if !out.status.success() && self.try_wait().is_none() {
            bail!(
                "kill -s {sig} {pid} ({}): {}",
                self.name,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// Waits up to `timeout` for the process to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.try_wait() {
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL; always reaps. Returns the exit status.
    pub fn terminate(&mut self, grace: Duration) -> Result<ExitStatus> {
        if let Some(st) = self.try_wait() {
            return Ok(st);
        }
        let _ = self.signal("TERM");
        if let Some(st) = self.wait_exit(grace) {
            return Ok(st);
        }
        eprintln!(
            "{} (pid {:?}) ignored SIGTERM for {grace:?}: SIGKILL",
            self.name,
            self.pid()
        );
        let Some(child) = self.child.as_mut() else {
            bail!("{}: no child", self.name);
        };
        let _ = child.kill();
        let st = child.wait().context("reaping after SIGKILL")?;
        self.exit = Some(st);
        Ok(st)
    }

    /// The log file (stdout + stderr).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The log's current contents.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Prints the log to stderr (the test harness shows it for failing tests).
    pub fn dump_log(&self) {
        eprintln!(
            "----- log of {} (pid {:?}, {}) -----\n{}----- end of log of {} -----",
            self.name,
            self.pid(),
            self.log_path.display(),
            self.log(),
            self.name
        );
    }

    /// Fails with the log attached if the process has exited.
    pub fn ensure_running(&mut self) -> Result<()> {
        if let Some(st) = self.try_wait() {
            bail!(
                "{} exited unexpectedly ({st}); log:\n{}",
                self.name,
                self.log()
            );
        }
        Ok(())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.child.is_none() {
            return;
        }
        let _ = self.terminate(DROP_GRACE);
        if std::thread::panicking() {
            self.dump_log();
        }
    }
}
