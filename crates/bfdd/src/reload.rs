//! Reloads (`bfdctl reload`, SIGHUP): the configuration file is read and checked on the
//! services thread, and only a checked configuration goes to the driver.
//!
//! Reading 10,000 peers takes tens of milliseconds, and a file with an error is parsed a second
//! time to name its line (0.1 s there; a second in a debug build): on the driver's thread that
//! long without a packet out or in would flap fast sessions, even for a reload that is refused.
//! Not from the driver's runtime either: a blocking-pool thread started from the driver's
//! thread would inherit its SCHED_FIFO (`realtime-priority`). One task reads every reload in
//! turn, so reloads reach the driver in the order they were asked for, each with the file as
//! it was then.

use std::path::PathBuf;

use tokio::sync::{mpsc, oneshot};

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

/// A reload asked for; `Some` when the asker waits for the driver's answer.
type Asked = Option<oneshot::Sender<Answer>>;

/// Asks for reloads; the reading is done by [`serve`].
#[derive(Clone, Debug)]
pub struct Reloader {
    requests: mpsc::Sender<Asked>,
}

/// What [`serve`] needs: the file, the requests of every [`Reloader`], the way to the driver.
#[derive(Debug)]
pub struct ReloadService {
    path: PathBuf,
    requests: mpsc::Receiver<Asked>,
    driver: ToDriver<ReloadRequest>,
}

/// A [`Reloader`] and the service that carries out its requests for the file at `path`.
pub fn channel(path: PathBuf, driver: ToDriver<ReloadRequest>) -> (Reloader, ReloadService) {
    let (tx, requests) = mpsc::channel(4);
    (
        Reloader { requests: tx },
        ReloadService {
            path,
            requests,
            driver,
        },
    )
}

impl Reloader {
    /// Reloads and waits for the driver to apply the file or keep the running configuration;
    /// the driver's answer, or `None` when the daemon is stopping.
    pub async fn reload(&self) -> Option<Answer> {
        let (tx, rx) = oneshot::channel();
        self.requests.send(Some(tx)).await.ok()?;
        rx.await.ok()
    }

    /// As [`Reloader::reload`], without waiting for the driver's answer (SIGHUP).
    pub async fn reload_unanswered(&self) {
        let _ = self.requests.send(None).await;
    }
}

/// Reads the file for each reload asked for, one after the other (on tokio's blocking pool of
/// the runtime this runs on: the services thread's), and hands the result to the driver.
pub async fn serve(service: ReloadService) {
    serve_with(service, |path| {
        let mut config = Config::load(path).map_err(|e| e.to_string())?;
        config.apply_env()?;
        Ok(config)
    })
    .await;
}

async fn serve_with(
    service: ReloadService,
    load: impl Fn(&std::path::Path) -> Result<Config, String> + Clone + Send + 'static,
) {
    let ReloadService {
        path,
        mut requests,
        driver,
    } = service;
    while let Some(reply) = requests.recv().await {
        let (file, load) = (path.clone(), load.clone());
        let config = tokio::task::spawn_blocking(move || load(&file))
            .await
            .map_err(|e| format!("reading the configuration failed: {e}"))
            .and_then(|loaded| loaded);
        if driver.send(ReloadRequest { config, reply }).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reloads reach the driver in the order asked for, even when an earlier read takes
    /// longer than a later one: the last applied is then the file as last read (reads done
    /// side by side would apply the slow, older one last).
    #[tokio::test]
    async fn reloads_reach_the_driver_in_the_order_asked_for() {
        let (driver_tx, mut driver_rx) = mpsc::channel(64);
        let (reloader, service) = channel(
            "bfdd.toml".into(),
            ToDriver::new(driver_tx, std::thread::current()),
        );
        let reads = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = reads.clone();
        // The n-th read takes the longer the earlier it comes, and yields n peers.
        tokio::spawn(serve_with(service, move |_| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            std::thread::sleep(std::time::Duration::from_millis(50 / n as u64));
            let mut text = String::new();
            for i in 0..n {
                text.push_str(&format!("[[peer]]\naddress = \"198.18.0.{}\"\n", i + 1));
            }
            Config::parse(&text, std::path::Path::new("bfdd.toml")).map_err(|e| e.to_string())
        }));
        let asked: Vec<_> = (0..5)
            .map(|_| {
                let r = reloader.clone();
                tokio::spawn(async move { r.reload_unanswered().await })
            })
            .collect();
        for a in asked {
            a.await.expect("asked");
        }
        let mut seen = Vec::new();
        while seen.len() < 5 {
            let request =
                tokio::time::timeout(std::time::Duration::from_secs(10), driver_rx.recv())
                    .await
                    .expect("every reload reaches the driver")
                    .expect("open");
            seen.push(request.config.expect("valid").peers.len());
        }
        assert_eq!(seen, [1, 2, 3, 4, 5]);
    }
}
