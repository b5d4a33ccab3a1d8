//! The services beside the driver: control socket, `/metrics` and the route installer, on a
//! thread and runtime of their own.
//!
//! The driver owns the BFD sockets and timers on the main thread's single-threaded runtime, so a
//! packet or deadline wakes exactly one thread. Clients (a probe, a scrape of 10,000 sessions)
//! and netlink work happen here, so they never delay a packet, and `ready` is answered even while
//! the driver is busy starting thousands of sessions. The two sides talk through channels.

use std::io;
use std::thread::JoinHandle;

use tokio::sync::oneshot;
use tracing::warn;

use crate::config::RoutesConfig;
use crate::control::{self, ControlRequest};
use crate::figures::FiguresRequest;
use crate::metrics;
use crate::reload::{self, ReloadService, Reloader};
use crate::routes::{self, RouteHandle};
use crate::to_driver::ToDriver;

/// What the services thread needs.
pub struct ServiceSockets {
    /// Bound control socket.
    pub control: std::os::unix::net::UnixListener,
    /// Bound metrics listener, when metrics are on.
    pub metrics: Option<std::net::TcpListener>,
}

/// The services' ways to the driver.
pub struct DriverLinks {
    /// Control requests.
    pub control: ToDriver<ControlRequest>,
    /// Peers' and daemon figures, for `bfdctl peers` and scrapes.
    pub figures: ToDriver<FiguresRequest>,
    /// Asks for reloads (the control socket's `reload`).
    pub reloader: Reloader,
    /// Reads the file for every reload, here (see [`crate::reload`]).
    pub reload_service: ReloadService,
}

/// The running services; dropping it stops them and joins the thread.
pub struct Services {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Services {
    /// Starts the thread. Returns the route installer's handle (`None` without netlink).
    pub fn start(
        sockets: ServiceSockets,
        routes_config: RoutesConfig,
        state_dir: std::path::PathBuf,
        driver: DriverLinks,
        ready: control::Readiness,
    ) -> io::Result<(Services, Option<RouteHandle>)> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop_tx, stop_rx) = oneshot::channel();
        let (routes_tx, routes_rx) = std::sync::mpsc::channel();
        let DriverLinks {
            control: control_tx,
            figures,
            reloader,
            reload_service,
        } = driver;
        let thread = std::thread::Builder::new()
            .name("bfdd-services".into())
            .spawn(move || {
                runtime.block_on(async move {
                    // Started even with no [[route]]: routes of ours left by an earlier run must
                    // still go.
                    let routes = match routes::spawn_netlink(
                        routes_config,
                        routes::SlotFile::in_dir(&state_dir),
                    ) {
                        Ok(handle) => Some(handle),
                        Err(e) => {
                            warn!(error = %e, "no route installer: netlink unavailable");
                            None
                        }
                    };
                    let _ = routes_tx.send(routes.clone());
                    // Reloads read here, not on the driver's (perhaps real-time) thread.
                    tokio::spawn(reload::serve(reload_service));
                    match tokio::net::UnixListener::from_std(sockets.control) {
                        Ok(l) => {
                            tokio::spawn(control::serve(
                                l,
                                control_tx,
                                figures.clone(),
                                reloader,
                                ready,
                                routes.clone(),
                            ));
                        }
                        Err(e) => warn!(error = %e, "control socket unusable"),
                    }
                    if let Some(listener) = sockets.metrics {
                        match tokio::net::TcpListener::from_std(listener) {
                            Ok(l) => {
                                tokio::spawn(metrics::serve(l, figures, routes));
                            }
                            Err(e) => warn!(error = %e, "metrics listener unusable"),
                        }
                    }
                    let _ = stop_rx.await;
                });
            })?;
        let routes = routes_rx.recv().unwrap_or(None);
        Ok((
            Services {
                stop: Some(stop_tx),
                thread: Some(thread),
            },
            routes,
        ))
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
