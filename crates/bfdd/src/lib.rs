//! bfdd: a BFD daemon (RFC 5880, 5881, 5883) for OVN-Kubernetes external gateways.
//!
//! The library holds everything; `main.rs` only parses arguments, sets up logging and signals,
//! and calls [`run`]. Tests call [`run`] with a shutdown future of their own.
#![warn(missing_docs)]

pub mod batch_send;
pub mod clients;
pub mod config;
pub mod control;
pub mod driver;
pub mod figures;
pub mod heartbeat;
pub mod logging;
pub mod metrics;
pub mod net;
pub mod peers;
pub mod policy_rules;
pub mod realtime;
pub mod reload;
pub mod routes;
pub mod services;
pub mod state_file;
pub mod status;
#[cfg(test)]
mod test_packets;
pub mod to_driver;
pub mod transmit_timing;

use std::future::Future;
use std::path::PathBuf;

use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::config::Config;
use crate::net::RxSocket;
use crate::to_driver::ToDriver;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listening socket that a configured peer needs could not be bound.
    #[error("cannot listen on UDP {port} ({family}): {source}")]
    Listen {
        /// 3784 or 4784
        port: u16,
        /// "IPv4" or "IPv6"
        family: &'static str,
        /// Why
        #[source]
        source: std::io::Error,
    },
    /// The control socket could not be bound.
    #[error("cannot bind control socket {path}: {source}")]
    Control {
        /// Socket path
        path: PathBuf,
        /// Why
        #[source]
        source: std::io::Error,
    },
    /// The metrics endpoint could not be bound.
    #[error("cannot listen for metrics on {address}{from}: {source}")]
    Metrics {
        /// Address
        address: std::net::SocketAddr,
        /// Where the address came from when not the file: " (from BFDD_METRICS_ADDRESS)".
        from: &'static str,
        /// Why
        #[source]
        source: std::io::Error,
    },
}

/// Binds the four listening sockets (IPv4/IPv6, single hop/multihop). One that fails is an
/// error only when a configured peer needs it: a host without IPv6 still runs IPv4 peers.
fn bind_listeners(config: &Config) -> Result<Vec<RxSocket>, StartError> {
    let mut sockets = Vec::new();
    for (v6, multihop) in [(false, false), (true, false), (false, true), (true, true)] {
        match RxSocket::bind(v6, multihop) {
            Ok(s) => sockets.push(s),
            Err(source) => {
                let needed = config
                    .peers
                    .iter()
                    .any(|p| p.address.is_ipv6() == v6 && p.multihop == multihop);
                let port = if multihop {
                    net::MULTIHOP_PORT
                } else {
                    net::SINGLE_HOP_PORT
                };
                let family = if v6 { "IPv6" } else { "IPv4" };
                if needed {
                    return Err(StartError::Listen {
                        port,
                        family,
                        source,
                    });
                }
                warn!(port, family, error = %source, "not listening; no configured peer needs it");
            }
        }
    }
    Ok(sockets)
}

/// How often bfdd looks for IPv4 policy routing rules added after start while it sends in
/// batches (a netlink dump of the rules: a few dozen microseconds).
const POLICY_RULE_CHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// Completes on SIGTERM or SIGINT. The handlers are installed by this call, not when the
/// future is first polled: until then the signals' default action would kill the daemon
/// without AdminDown to its peers. Must be called inside a tokio runtime.
pub fn stop_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        match handlers {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM"),
                    _ = int.recv() => tracing::info!("SIGINT"),
                }
            }
            _ => {
                tracing::warn!("cannot listen for SIGTERM/SIGINT; stop with SIGKILL");
                std::future::pending::<()>().await;
            }
        }
    }
}

/// The seed of the core's generator, from the kernel's entropy: it draws the initial
/// authentication sequence numbers, which RFC 5880 §6.8.1 wants random, as well as
/// discriminators and jitter. A clock-based seed could be guessed from the daemon's start time
/// and the discriminators it sends in clear. The clock stands in only if the kernel will not
/// say (no `getrandom` system call).
fn seed() -> u64 {
    getrandom::u64().unwrap_or_else(|e| {
        warn!(error = %e, "no random seed from the kernel: seeding from the clock");
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        t ^ (u64::from(std::process::id()) << 32)
    })
}

/// The raw socket for batched sending, if configured and permitted; the log says which way
/// packets go, since the fallback costs CPU at scale.
async fn batch_sender(configured: bool) -> Option<batch_send::BatchSender> {
    if !configured {
        info!("batched transmit off: each session sends from its own socket");
        return None;
    }
    match policy_rules::first_policy_rule().await {
        Ok(None) => {}
        Ok(Some(rule)) => {
            info!(%rule, "batched transmit off: IPv4 policy routing rules choose paths by more than the destination, which the raw socket cannot give the kernel; each session sends from its own socket");
            return None;
        }
        Err(e) => {
            info!(error = %e, "batched transmit off: cannot read the IPv4 routing rules; each session sends from its own socket");
            return None;
        }
    }
    match batch_send::BatchSender::open() {
        Ok(sender) => {
            info!("batched transmit on: IPv4 sessions send through one raw socket");
            Some(sender)
        }
        Err(e) => {
            info!(error = %e, "batched transmit unavailable (needs CAP_NET_RAW): each session sends from its own socket");
            None
        }
    }
}

/// Every session has its own sending socket (its source port identifies it to the peer), so a
/// daemon with thousands of peers needs more descriptors than the usual soft limit of 1,024.
/// Raises the soft open-file limit to the hard one; returns the limit in force.
fn raise_fd_limit() -> Option<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => Some(hard),
            Err(e) => {
                warn!(soft, hard, error = %e, "cannot raise the open-file limit");
                Some(soft)
            }
        },
        Ok((soft, _)) => Some(soft),
        Err(e) => {
            warn!(error = %e, "cannot read the open-file limit");
            None
        }
    }
}

/// Descriptors kept free of sessions: the services thread's (netlink, control and metrics
/// clients), a reload's configuration and secret files, the state file.
const FD_RESERVE: u64 = 64;

/// The sessions that fit under `limit` with the descriptors open now and the reserve; warns
/// when the configuration has more peers than that.
fn socket_budget(limit: u64, peers: usize) -> peers::SocketBudget {
    let open = std::fs::read_dir("/proc/self/fd").map_or(16, |d| d.count() as u64);
    let sessions = usize::try_from(limit.saturating_sub(open + FD_RESERVE)).unwrap_or(usize::MAX);
    if peers > sessions {
        warn!(
            limit,
            peers,
            sessions,
            "the open-file limit leaves room for fewer sessions than peers configured; the rest stay pending: raise the nofile limit"
        );
    }
    peers::SocketBudget { limit, sessions }
}

/// Runs the daemon until `shutdown` completes; then every peer is sent AdminDown and the
/// function returns. `hup` is the SIGHUP handler, which reloads the configuration; the caller
/// installs it (and the one behind `shutdown`) as early as it can. Must run inside a tokio
/// runtime.
pub async fn run(
    config_path: PathBuf,
    config: Config,
    shutdown: impl Future<Output = ()>,
    hup: std::io::Result<tokio::signal::unix::Signal>,
) -> Result<(), StartError> {
    let fd_limit = raise_fd_limit();
    let rx = bind_listeners(&config)?;
    let (control_listener, _socket_file) =
        control::bind(&config.daemon.control_socket).map_err(|source| StartError::Control {
            path: config.daemon.control_socket.clone(),
            source,
        })?;
    let metrics_listener = match config.daemon.metrics_address {
        Some(address) => Some(
            std::net::TcpListener::bind(address)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .map_err(|source| StartError::Metrics {
                    address,
                    from: if std::env::var_os(config::METRICS_ENV).is_some_and(|v| !v.is_empty()) {
                        " (from BFDD_METRICS_ADDRESS)"
                    } else {
                        ""
                    },
                    source,
                })?,
        ),
        None => None,
    };

    let (store, warning) = state_file::DiscriminatorStore::load(&config.daemon.state_dir);
    if let Some(warning) = warning {
        warn!("{warning}");
    }
    let seed = seed();
    let batch = batch_sender(config.daemon.batched_transmit).await;
    let batching = batch.is_some();
    let mut peers = peers::Peers::new(store, (seed >> 16) as u16, batch);
    if let Some(limit) = fd_limit {
        peers.limit_sockets(socket_budget(limit, config.peers.len()));
    }
    let (control_tx, control_rx) = mpsc::channel(64);
    let (figures_tx, figures_rx) = mpsc::channel(8);
    let (reload_tx, reload_rx) = mpsc::channel(4);
    // `run` is polled by the driver's runtime, on the driver's thread.
    let (reloader, reload_service) = reload::channel(
        config_path.clone(),
        ToDriver::new(reload_tx, std::thread::current()),
    );
    // Ready: configuration loaded and listening sockets bound, which is true from here on.
    let (ready_source, readiness) = control::readiness(bfd_control::ReadyStatus {
        ready: true,
        config: config_path.display().to_string(),
        sessions: config.peers.len(),
        problem: None,
    });

    let socket_path = config.daemon.control_socket.clone();
    let metrics_address = config.daemon.metrics_address;
    let peer_count = config.peers.len();
    let sockets = services::ServiceSockets {
        control: control_listener,
        metrics: metrics_listener,
    };
    let (services, routes) = services::Services::start(
        sockets,
        config.routes.clone(),
        config.daemon.state_dir.clone(),
        services::DriverLinks {
            control: ToDriver::new(control_tx, std::thread::current()),
            figures: ToDriver::new(figures_tx, std::thread::current()),
            reloader: reloader.clone(),
            reload_service,
        },
        readiness,
    )
    .map_err(|source| StartError::Control {
        path: socket_path.clone(),
        source,
    })?;
    let mut driver = driver::Driver::new(config, rx, peers, routes, ready_source, seed);
    let hup_task = tokio::spawn(forward_sighup(hup, reloader));
    let rules_task = batching.then(|| {
        let found = std::sync::Arc::new(std::sync::OnceLock::new());
        driver.watch_policy_rules(found.clone());
        tokio::spawn(policy_rules::watch(found, POLICY_RULE_CHECK))
    });
    info!(
        config = %config_path.display(),
        control_socket = %socket_path.display(),
        metrics = %metrics_address.map_or("off".to_string(), |a| a.to_string()),
        peers = peer_count,
        version = env!("CARGO_PKG_VERSION"),
        "bfdd ready"
    );
    driver
        .run(shutdown, control_rx, figures_rx, reload_rx)
        .await;
    hup_task.abort();
    if let Some(task) = rules_task {
        task.abort();
    }
    drop(services);
    Ok(())
}

async fn forward_sighup(
    hup: std::io::Result<tokio::signal::unix::Signal>,
    reloader: reload::Reloader,
) {
    let Ok(mut hup) = hup else {
        warn!("cannot listen for SIGHUP; use `bfdctl reload`");
        return;
    };
    // The reload service reads the file (see `reload`); signals that arrive meanwhile
    // collapse into one more.
    while hup.recv().await.is_some() {
        info!("SIGHUP: reloading configuration");
        reloader.reload_unanswered().await;
    }
}
