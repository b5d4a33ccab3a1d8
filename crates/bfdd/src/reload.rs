//! Reloads (`bfdctl reload`, SIGHUP): the configuration file is read and checked off the
//! session thread, and only a checked configuration goes to the driver.
//!
//! Reading 10,000 peers takes tens of milliseconds, and a file with an error is parsed a second
//! time to name its line (0.1 s there; a second in a debug build): on the driver's thread that
//! long without a packet out or in would flap fast sessions, even for a reload that is refused.

use std::path::PathBuf;

use tokio::sync::oneshot;

use crate::config::Config;
use crate::control::Answer;
use crate::to_driver::ToDriver;

/// A configuration read for a reload, on its way to the driver.
#[derive(Debug)]
pub struct ReloadRequest {
    /// The checked configuration, or why the file was refused.
    pub config: Result<Config, String>,
    /// Where the driver's answer goes; `None` for SIGHUP, which nobody waits on.
    pub reply: Option<oneshot::Sender<Answer>>,
}

/// Reads the configuration file and hands it to the driver.
#[derive(Clone, Debug)]
pub struct Reloader {
    path: PathBuf,
    driver: ToDriver<ReloadRequest>,
}

impl Reloader {
    /// `path` is the file bfdd started with.
    pub fn new(path: PathBuf, driver: ToDriver<ReloadRequest>) -> Reloader {
        Reloader { path, driver }
    }

    /// Reads the file (on tokio's blocking pool) and waits for the driver to apply it or keep
    /// the running configuration; the driver's answer, or `None` when it has stopped.
    pub async fn reload(&self) -> Option<Answer> {
        let (tx, rx) = oneshot::channel();
        self.send(Some(tx)).await.then_some(())?;
        rx.await.ok()
    }

    /// As [`Reloader::reload`], without waiting for the driver's answer (SIGHUP). Reloads sent
    /// one after another reach the driver in order, each with the file as it was read.
    pub async fn reload_unanswered(&self) {
        self.send(None).await;
    }

    async fn send(&self, reply: Option<oneshot::Sender<Answer>>) -> bool {
        let path = self.path.clone();
        let config = tokio::task::spawn_blocking(move || {
            Config::load(&path).map(|mut config| {
                config.apply_env();
                config
            })
        })
        .await
        .map_err(|e| format!("reading the configuration failed: {e}"))
        .and_then(|loaded| loaded.map_err(|e| e.to_string()));
        self.driver
            .send(ReloadRequest { config, reply })
            .await
            .is_ok()
    }
}
