//! Peers' figures handed from the driver to `bfdctl peers` and `/metrics` a chunk at a time.
//!
//! A copy of every session's figures, taken at once, is 1.6 MB at 10,000 sessions (and the
//! label text `/metrics` makes from it as much again): a scrape or a `bfdctl peers` raised the
//! daemon's peak memory by 300 B a session, more than the room the memory goal leaves. In
//! chunks, a query holds one chunk's copies at a time. Up to [`CHUNK`] peers, one chunk is all of
//! them, taken at one instant; beyond, chunks are taken as the answer is written, and a reload
//! that changes the peers between two of them cuts the answer short (an answer mixing two
//! configurations could list a peer twice, which Prometheus refuses) rather than let it lie.

use std::cell::Cell;
#[cfg(test)]
use std::time::Duration;

use tokio::sync::oneshot;

use crate::clients::DRIVER_TIMEOUT;
use crate::status::SessionFigures;
use crate::to_driver::ToDriver;

/// Peers' figures per request to the driver: 80 KB of copies, about 50 µs of the driver's time.
pub const CHUNK: usize = 512;

/// What the services ask the driver for.
#[derive(Debug)]
pub enum FiguresRequest {
    /// The daemon-wide figures `/metrics` shows.
    Daemon(oneshot::Sender<DaemonFigures>),
    /// Up to [`CHUNK`] peers' figures from `from`, a place in the configuration order.
    Peers {
        /// Where to start: 0, or a chunk's `next`.
        from: usize,
        /// The way back.
        reply: oneshot::Sender<FiguresChunk>,
    },
}

/// Daemon-wide figures of `/metrics`.
#[derive(Clone, Debug, Default)]
pub struct DaemonFigures {
    /// Dropped packets by reason.
    pub dropped: Vec<(&'static str, u64)>,
    /// How punctually periodic packets have left.
    pub transmit: crate::transmit_timing::TransmitTiming,
    /// Also emit frr_exporter's series.
    pub frr_exporter: bool,
    /// The route installer's figures, filled in outside the driver.
    pub routes: Option<crate::routes::RouteMetrics>,
}

/// Some peers' figures, in configuration order.
#[derive(Clone, Debug, Default)]
pub struct FiguresChunk {
    /// Changes when a reload changes the configured peers: chunks of two generations do not
    /// belong in one answer.
    pub generation: u64,
    /// Peers configured.
    pub total: usize,
    /// The figures.
    pub figures: Vec<SessionFigures>,
    /// Where the next chunk starts; `None` after the last.
    pub next: Option<usize>,
}

/// Why an answer stopped before its last peer.
#[derive(Debug, PartialEq, Eq)]
pub enum Cut {
    /// The driver has stopped.
    Stopped,
    /// The driver did not answer within [`DRIVER_TIMEOUT`].
    Late,
    /// A reload changed the peers since the answer began.
    Changed,
    /// Nobody reads the answer any more.
    Gone,
}

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Cut::Stopped => "daemon is stopping",
            Cut::Late => "the session driver did not answer in time",
            Cut::Changed => "the configured peers changed (a reload) while answering",
            Cut::Gone => "the client left",
        })
    }
}

impl std::error::Error for Cut {}

/// Every peer's figures, chunk after chunk.
pub trait PeerFigures {
    /// Peers configured.
    fn total(&self) -> usize;
    /// Calls `each` with every peer's figures in configuration order, a chunk at a time. May
    /// block (it asks the driver): call it off the runtime's threads.
    fn for_each_chunk(
        &self,
        each: &mut dyn FnMut(&[SessionFigures]) -> Result<(), Cut>,
    ) -> Result<(), Cut>;
}

/// Figures already at hand (tests, small answers), in chunks of [`CHUNK`] like the driver's.
impl PeerFigures for Vec<SessionFigures> {
    fn total(&self) -> usize {
        self.len()
    }

    fn for_each_chunk(
        &self,
        each: &mut dyn FnMut(&[SessionFigures]) -> Result<(), Cut>,
    ) -> Result<(), Cut> {
        self.chunks(CHUNK).try_for_each(each)
    }
}

/// The driver's figures: the first chunk, taken before the answer begins (so a driver that
/// does not answer gets a proper error), and the rest asked for as each pass needs them.
pub struct DriverFigures {
    driver: ToDriver<FiguresRequest>,
    runtime: tokio::runtime::Handle,
    generation: u64,
    total: usize,
    /// The first chunk. While it holds every peer, each pass uses it; otherwise only the first
    /// pass does, and later ones ask for it again: kept, it would double what an answer holds.
    first: Cell<Option<FiguresChunk>>,
}

impl std::fmt::Debug for DriverFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverFigures")
            .field("generation", &self.generation)
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

impl DriverFigures {
    /// Takes the first chunk.
    pub async fn start(driver: ToDriver<FiguresRequest>) -> Result<DriverFigures, Cut> {
        let first = ask(driver.clone(), 0).await?;
        Ok(DriverFigures {
            driver,
            runtime: tokio::runtime::Handle::current(),
            generation: first.generation,
            total: first.total,
            first: Cell::new(Some(first)),
        })
    }
}

impl PeerFigures for DriverFigures {
    fn total(&self) -> usize {
        self.total
    }

    fn for_each_chunk(
        &self,
        each: &mut dyn FnMut(&[SessionFigures]) -> Result<(), Cut>,
    ) -> Result<(), Cut> {
        let mut next = Some(0);
        match self.first.take() {
            Some(all) if all.next.is_none() => {
                let passed = each(&all.figures);
                self.first.set(Some(all));
                return passed;
            }
            Some(first) => {
                each(&first.figures)?;
                next = first.next;
            }
            None => {}
        }
        // One chunk at a time, the last dropped before the next is asked for. Asking for the
        // next while writing this one out saved 10-20% of a scrape's time at 10,000 sessions,
        // for a chunk more held (measured: 60-220 KB more at the peak).
        while let Some(from) = next {
            let chunk = self.runtime.block_on(ask(self.driver.clone(), from))?;
            if chunk.generation != self.generation {
                return Err(Cut::Changed);
            }
            each(&chunk.figures)?;
            next = chunk.next;
        }
        Ok(())
    }
}

/// One chunk from the driver.
async fn ask(driver: ToDriver<FiguresRequest>, from: usize) -> Result<FiguresChunk, Cut> {
    request(&driver, |reply| FiguresRequest::Peers { from, reply }).await
}

/// The daemon-wide figures.
pub async fn daemon_figures(driver: &ToDriver<FiguresRequest>) -> Result<DaemonFigures, Cut> {
    request(driver, FiguresRequest::Daemon).await
}

/// Asks the driver, waiting for its answer at most [`DRIVER_TIMEOUT`]: a driver that stopped
/// turning must not hold the client's slot.
async fn request<T>(
    driver: &ToDriver<FiguresRequest>,
    make: impl FnOnce(oneshot::Sender<T>) -> FiguresRequest,
) -> Result<T, Cut> {
    let asked = async {
        let (reply, answer) = oneshot::channel();
        driver.send(make(reply)).await.map_err(|_| Cut::Stopped)?;
        answer.await.map_err(|_| Cut::Stopped)
    };
    tokio::time::timeout(DRIVER_TIMEOUT, asked)
        .await
        .map_err(|_| Cut::Late)?
}

/// A stand-in for the driver in tests: answers from `figures` in chunks, the generation
/// raised after the `change_after`-th chunk request (a reload in mid-answer).
#[cfg(test)]
pub fn test_driver(
    figures: Vec<SessionFigures>,
    daemon: DaemonFigures,
    change_after: Option<usize>,
) -> ToDriver<FiguresRequest> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<FiguresRequest>(8);
    tokio::spawn(async move {
        let mut asked = 0;
        while let Some(request) = rx.recv().await {
            match request {
                FiguresRequest::Daemon(reply) => {
                    let _ = reply.send(daemon.clone());
                }
                FiguresRequest::Peers { from, reply } => {
                    let generation = u64::from(change_after.is_some_and(|n| asked >= n));
                    asked += 1;
                    let end = figures.len().min(from + CHUNK);
                    let _ = reply.send(FiguresChunk {
                        generation,
                        total: figures.len(),
                        figures: figures[from.min(end)..end].to_vec(),
                        next: (end < figures.len()).then_some(end),
                    });
                }
            }
        }
    });
    ToDriver::new(tx, std::thread::current())
}

/// `n` sessions' figures for tests: distinct peers, Up, a mix of interfaces and hop modes.
#[cfg(test)]
pub fn test_figures(n: u32) -> Vec<SessionFigures> {
    (0..n)
        .map(|i| SessionFigures {
            id: i + 1,
            peer: format!("198.18.{}.{}", i / 250, 1 + i % 250)
                .parse()
                .expect("address"),
            local: Some("198.51.100.1".parse().expect("address")),
            interface: (i % 2 == 0).then(|| "net1".into()),
            multihop: i % 3 == 0,
            state: Some((bfd_core::State::Up, bfd_core::Diagnostic::NoDiagnostic)),
            in_state: Some(Duration::from_secs(u64::from(i))),
            state_changes: [0; 4],
            tx_packets: u64::from(i),
            send_errors: 0,
            rx_packets: 0,
            detection_time: None,
            tx_interval: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(source: &dyn PeerFigures) -> Result<(Vec<u32>, usize), Cut> {
        let mut ids = Vec::new();
        let mut chunks = 0;
        source.for_each_chunk(&mut |chunk| {
            chunks += 1;
            ids.extend(chunk.iter().map(|f| f.id));
            Ok(())
        })?;
        Ok((ids, chunks))
    }

    #[tokio::test]
    async fn every_peer_once_in_order_a_chunk_at_a_time() {
        let all = test_figures(1300);
        let source = DriverFigures::start(test_driver(all.clone(), DaemonFigures::default(), None))
            .await
            .expect("first chunk");
        assert_eq!(source.total(), 1300);
        let (first, second) =
            tokio::task::spawn_blocking(move || (collect(&source), collect(&source)))
                .await
                .expect("joined");
        let (ids, chunks) = first.expect("whole");
        assert_eq!(ids, all.iter().map(|f| f.id).collect::<Vec<_>>());
        assert_eq!(chunks, 3);
        // A second pass (the next metric family) asks for every chunk again, the first too.
        assert_eq!(second.expect("whole"), (ids, 3));
    }

    /// A reload between two chunks cuts the answer: its two halves would belong to two
    /// configurations.
    #[tokio::test]
    async fn a_reload_between_chunks_cuts_the_answer() {
        let source = DriverFigures::start(test_driver(
            test_figures(1300),
            DaemonFigures::default(),
            Some(1),
        ))
        .await
        .expect("first chunk");
        let result = tokio::task::spawn_blocking(move || collect(&source))
            .await
            .expect("joined");
        assert_eq!(result, Err(Cut::Changed));
    }

    /// Up to one chunk of peers, every pass uses the one taken first: no further request.
    #[tokio::test]
    async fn a_single_chunk_is_taken_once() {
        let source = DriverFigures::start(test_driver(
            test_figures(CHUNK as u32),
            DaemonFigures::default(),
            Some(1),
        ))
        .await
        .expect("first chunk");
        let result = tokio::task::spawn_blocking(move || (collect(&source), collect(&source)))
            .await
            .expect("joined");
        assert_eq!(result.0.expect("whole").1, 1);
        assert_eq!(result.1.expect("whole").1, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_driver_that_does_not_answer_is_late_and_a_stopped_one_stopped() {
        let (tx, rx) = tokio::sync::mpsc::channel::<FiguresRequest>(8);
        let held = ToDriver::new(tx, std::thread::current());
        assert_eq!(ask(held.clone(), 0).await.err(), Some(Cut::Late));
        drop(rx);
        assert_eq!(ask(held.clone(), 0).await.err(), Some(Cut::Stopped));
        assert_eq!(daemon_figures(&held).await.err(), Some(Cut::Stopped));
    }
}
