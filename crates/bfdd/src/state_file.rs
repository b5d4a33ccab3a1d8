//! Local discriminators kept across restarts: a peer that keeps addressing our old
//! discriminator (OVN does, after a timeout) is matched at once instead of being discarded
//! until it gives up.

use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::config::{PeerConfig, PeerKey};

mod retired;

pub use retired::Retired;

const FILE_NAME: &str = "discriminators.json";

#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    /// Peer key as text (see `PeerKey`'s Display) -> local discriminator.
    sessions: BTreeMap<String, u32>,
    /// Peers removed from the configuration, oldest first: key as text and discriminator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    retired: Vec<(String, u32)>,
}

/// The discriminator file under the state directory.
///
/// Holds in memory only what a previous run left and no session has taken back yet, plus a
/// digest of the last file written: at thousands of sessions a copy of the running set would
/// cost each session its key as text.
#[derive(Debug)]
pub struct DiscriminatorStore {
    path: PathBuf,
    previous: BTreeMap<String, u32>,
    /// Removed peers' discriminators.
    retired: Retired,
    written: Option<u64>,
    /// Writes the file off the session thread; `None` if that thread could not be started,
    /// and the file is then written in place.
    writer: Option<Writer>,
    /// The last write in place failed.
    in_place_failed: bool,
}

impl DiscriminatorStore {
    /// Loads what a previous run left. A missing or unreadable file only means fresh random
    /// discriminators: it is reported as a warning, never a failure to start.
    pub fn load(state_dir: &Path) -> (DiscriminatorStore, Option<String>) {
        let path = state_dir.join(FILE_NAME);
        let (stored, warning) = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(stored) => (stored, None),
                Err(e) => (
                    Stored::default(),
                    Some(format!("{}: corrupt, starting fresh: {e}", path.display())),
                ),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => (Stored::default(), None),
            Err(e) => (
                Stored::default(),
                Some(format!(
                    "{}: unreadable, starting fresh: {e}",
                    path.display()
                )),
            ),
        };
        // Started here, on the main thread: from the session thread it would inherit
        // SCHED_FIFO (`realtime-priority`).
        let writer = Writer::spawn(path.clone()).ok();
        let mut store = DiscriminatorStore {
            path,
            previous: stored.sessions,
            retired: Retired::default(),
            written: None,
            writer,
            in_place_failed: false,
        };
        for (key, discriminator) in stored.retired {
            store.retired.insert(key, discriminator);
        }
        (store, warning)
    }

    /// The discriminator a previous run used for this peer, handed out once.
    pub fn take(&mut self, key: &PeerKey) -> Option<u32> {
        if self.previous.is_empty() {
            return None;
        }
        self.previous.remove(&key.to_string())
    }

    /// The discriminator this peer had when it was removed, handed out once.
    pub fn take_retired(&mut self, key: &PeerKey) -> Option<u32> {
        if self.retired.is_empty() {
            return None;
        }
        self.retired.take(&key.to_string())
    }

    /// Keeps the discriminator of a peer removed from the configuration (or left in the file
    /// by a run that had it), for when it comes back; the oldest go past [`Retired::MAX`].
    pub fn retire(&mut self, key: &PeerKey, discriminator: u32) {
        self.retired.insert(key.to_string(), discriminator);
    }

    /// Forgets `discriminator` wherever it is kept for a peer: a running session has it.
    pub fn release(&mut self, discriminator: u32) {
        self.retired.release(discriminator);
        self.previous.retain(|_, d| *d != discriminator);
    }

    /// Takes out what a previous run left under keys none of `configs` has: the peers of
    /// another configuration, whose discriminators their successors may take over. Parsed back
    /// from the text keys; one that does not parse is dropped.
    pub fn take_unwanted(&mut self, configs: &[PeerConfig]) -> Vec<(PeerKey, u32)> {
        if self.previous.is_empty() {
            return Vec::new();
        }
        let wanted: HashSet<String> = configs.iter().map(|c| c.key().to_string()).collect();
        let unwanted: Vec<String> = self
            .previous
            .keys()
            .filter(|k| !wanted.contains(*k))
            .cloned()
            .collect();
        unwanted
            .into_iter()
            .filter_map(|text| {
                let discriminator = self.previous.remove(&text)?;
                text.parse::<PeerKey>().ok().map(|key| (key, discriminator))
            })
            .collect()
    }

    /// Holds `discriminator` for `key` until a session takes it, as if a previous run had
    /// left it (a pending peer that inherited it from the one it replaced).
    pub fn hold(&mut self, key: &PeerKey, discriminator: u32) {
        self.retired.release(discriminator);
        self.previous.insert(key.to_string(), discriminator);
    }

    /// The discriminators peers not started yet may still claim: a new session must not take
    /// one, or that peer would come back with another and OVN, which keeps addressing the
    /// old one, would talk to the wrong session.
    pub fn held(&self) -> impl Iterator<Item = u32> + '_ {
        self.previous
            .values()
            .copied()
            .chain(self.retired.discriminators())
    }

    /// The discriminators kept for peers not started yet (a previous run's, or inherited by a
    /// peer waiting for its interface), not those of removed peers.
    pub fn kept_for_pending(&self) -> impl Iterator<Item = u32> + '_ {
        self.previous.values().copied()
    }

    /// The discriminator a previous run used for this peer, still unclaimed.
    pub fn unclaimed(&self, key: &PeerKey) -> Option<u32> {
        if self.previous.is_empty() {
            return None;
        }
        self.previous.get(&key.to_string()).copied()
    }

    /// Replaces the stored set with the sessions running now (and the removed peers'
    /// discriminators kept). The file is written by a thread
    /// of its own, atomically and flushed to disk ([`write_atomically`]); errors are logged
    /// there, and the same set saved again after a failed write is written again (see
    /// [`DiscriminatorStore::failed`]). Dropping the store waits for the last write. A crash
    /// before the write is done leaves the file as it was: new discriminators may already be
    /// on the wire by then, the price of keeping disk waits off the session thread.
    pub fn save<'a>(
        &mut self,
        sessions: impl IntoIterator<Item = (&'a PeerKey, u32)>,
    ) -> io::Result<()> {
        let stored = Stored {
            sessions: sessions
                .into_iter()
                .map(|(k, d)| (k.to_string(), d))
                .collect(),
            retired: self
                .retired
                .in_order()
                .map(|(key, d)| (key.to_owned(), d))
                .collect(),
        };
        let text = serde_json::to_vec_pretty(&stored).map_err(io::Error::other)?;
        let digest = {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            text.hash(&mut h);
            h.finish()
        };
        if self.written == Some(digest) && !self.failed() {
            return Ok(());
        }
        match &self.writer {
            Some(writer) => writer.write(text),
            // Recorded only once written: a failure is tried again with the same set.
            None => {
                let written = write_atomically(&self.path, &text);
                self.in_place_failed = written.is_err();
                written?;
            }
        }
        self.written = Some(digest);
        Ok(())
    }

    /// Whether the last write failed (full disk, a permission changed): the driver saves
    /// again on its retry tick until one succeeds.
    pub fn failed(&self) -> bool {
        self.in_place_failed
            || self
                .writer
                .as_ref()
                .is_some_and(|w| w.failed.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Returns once every save so far is on disk (or has failed and been logged).
    pub fn sync(&self) {
        if let Some(writer) = &self.writer {
            writer.sync();
        }
    }
}

enum WriterJob {
    Write(Vec<u8>),
    Sync(std::sync::mpsc::Sender<()>),
}

/// One file's writer thread: an fsync can take long on a busy node's disk, and the session
/// thread must not wait for it. Writes are done in order; a backlog is collapsed to its
/// newest content.
#[derive(Debug)]
struct Writer {
    jobs: Option<std::sync::mpsc::Sender<WriterJob>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The last write failed.
    failed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Writer {
    fn spawn(path: PathBuf) -> io::Result<Writer> {
        let (jobs, queue) = std::sync::mpsc::channel::<WriterJob>();
        let failed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let failed_here = failed.clone();
        let thread = std::thread::Builder::new()
            .name("bfdd-state".into())
            .spawn(move || {
                let mut pending: Option<Vec<u8>> = None;
                let mut waiters = Vec::new();
                while let Ok(job) = queue.recv() {
                    // Everything queued meanwhile: only the newest content matters.
                    for job in std::iter::once(job).chain(queue.try_iter()) {
                        match job {
                            WriterJob::Write(bytes) => pending = Some(bytes),
                            WriterJob::Sync(done) => waiters.push(done),
                        }
                    }
                    if let Some(bytes) = pending.take() {
                        let result = write_atomically(&path, &bytes);
                        let was_failing =
                            failed_here.swap(result.is_err(), std::sync::atomic::Ordering::Relaxed);
                        // Once per failing spell: the driver tries again every few seconds.
                        match result {
                            Err(e) if !was_failing => {
                                warn!(file = %path.display(), error = %e, "cannot save discriminators; a restart would use new ones; retrying");
                            }
                            Ok(()) if was_failing => {
                                info!(file = %path.display(), "discriminators saved again");
                            }
                            _ => {}
                        }
                    }
                    for done in waiters.drain(..) {
                        let _ = done.send(());
                    }
                }
            })?;
        Ok(Writer {
            jobs: Some(jobs),
            thread: Some(thread),
            failed,
        })
    }

    fn write(&self, bytes: Vec<u8>) {
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(WriterJob::Write(bytes));
        }
    }

    fn sync(&self) {
        let (done, wait) = std::sync::mpsc::channel();
        if let Some(jobs) = &self.jobs {
            if jobs.send(WriterJob::Sync(done)).is_ok() {
                let _ = wait.recv();
            }
        }
    }
}

impl Drop for Writer {
    /// A clean exit keeps the last save: the thread finishes the queue before it ends.
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Writes `path` through a temporary file and a rename, creating its directory, so a crash
/// mid-write leaves the old file. Both the file and the directory entry are flushed to disk:
/// without that, a node crash soon after can leave an empty file on file systems that do not
/// order a rename after its data (XFS; ext4 with `noauto_da_alloc`), and an emptyDir outlives
/// a node reboot.
pub fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = dir {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Removed peers' discriminators survive a save and a load, are not drawn for new peers
    /// (`held`), and past [`Retired::MAX`] the oldest go first.
    #[test]
    fn retired_discriminators_are_kept_bounded_and_oldest_go_first() {
        let dir = std::env::temp_dir().join(format!("bfdd-retired-{}", std::process::id()));
        let key = |i: u32| -> PeerKey {
            format!("198.18.{}.{}", i / 256, i % 256)
                .parse()
                .expect("peer key")
        };
        let (mut store, _) = DiscriminatorStore::load(&dir);
        let last = u32::try_from(Retired::MAX).expect("small") + 1;
        for i in 0..=last {
            store.retire(&key(i), 1_000 + i);
        }
        store.save(std::iter::empty()).expect("save");
        store.sync();
        let (mut store, warning) = DiscriminatorStore::load(&dir);
        assert_eq!(warning, None);
        assert_eq!(store.held().count(), Retired::MAX);
        assert!(store.held().any(|d| d == 1_000 + last));
        assert_eq!(store.take_retired(&key(0)), None, "the oldest went first");
        assert_eq!(store.take_retired(&key(1)), None);
        assert_eq!(store.take_retired(&key(2)), Some(1_002));
        assert_eq!(store.take_retired(&key(2)), None, "handed out once");
        assert_eq!(store.take(&key(3)), None, "not a previous run's own");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn key(s: &str) -> PeerKey {
        PeerKey {
            address: s.parse().unwrap(),
            local_address: None,
            interface: Some("net1".into()),
            multihop: false,
        }
    }

    fn tempdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("bfdd-state-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn discriminators_survive_a_restart() {
        let dir = tempdir("roundtrip");
        let (mut store, warning) = DiscriminatorStore::load(&dir);
        assert!(warning.is_none());
        let k = key("198.51.100.4");
        store.save([(&k, 0x1234_5678)]).unwrap();
        store.sync();
        let (mut again, _) = DiscriminatorStore::load(&dir);
        assert_eq!(again.take(&k), Some(0x1234_5678));
        assert_eq!(again.take(&k), None, "handed out once");
        assert_eq!(again.take(&key("198.51.100.5")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn keys_are_read_back_as_written() {
        for text in [
            "198.51.100.4",
            "198.51.100.4 local 198.51.100.1",
            "fe80::1 interface net1",
            "2001:db8::4 local 2001:db8::1 interface net1 multihop",
            "203.0.113.9 multihop",
        ] {
            let key: PeerKey = text.parse().unwrap();
            assert_eq!(key.to_string(), text);
        }
        for bad in [
            "",
            "nonsense",
            "198.51.100.4 local",
            "198.51.100.4 multihop extra",
        ] {
            assert!(bad.parse::<PeerKey>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_keys_no_peer_has_are_handed_over() {
        let dir = tempdir("unwanted");
        let (mut store, _) = DiscriminatorStore::load(&dir);
        let (kept, changed) = (key("198.51.100.4"), key("198.51.100.5"));
        store.save([(&kept, 1), (&changed, 2)]).unwrap();
        store.sync();
        let (mut again, _) = DiscriminatorStore::load(&dir);
        let configs = crate::config::Config::parse(
            "[[peer]]\naddress = \"198.51.100.4\"\ninterface = \"net1\"\n\
             [[peer]]\naddress = \"198.51.100.5\"\ninterface = \"net1\"\nlocal-address = \"198.51.100.1\"\n",
            Path::new("test.toml"),
        )
        .unwrap()
        .peers;
        assert_eq!(again.take_unwanted(&configs), vec![(changed, 2)]);
        assert_eq!(
            again.take(&kept),
            Some(1),
            "a wanted key stays for its peer"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn corrupt_file_means_fresh_start_with_a_warning() {
        let dir = tempdir("corrupt");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(FILE_NAME), b"{not json").unwrap();
        let (mut store, warning) = DiscriminatorStore::load(&dir);
        assert!(warning.unwrap().contains("corrupt"));
        assert_eq!(store.take(&key("198.51.100.4")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The writer thread keeps saves in order (a backlog collapses to the newest), and a
    /// clean exit, which drops the store, does not lose the last one.
    #[test]
    fn the_newest_save_is_on_disk_once_the_store_is_dropped() {
        let dir = tempdir("newest");
        let (mut store, _) = DiscriminatorStore::load(&dir);
        let k = key("198.51.100.4");
        for d in 1..=500 {
            store.save([(&k, d)]).unwrap();
        }
        drop(store);
        let (mut again, _) = DiscriminatorStore::load(&dir);
        assert_eq!(again.take(&k), Some(500));
        assert!(
            !dir.join(format!("{FILE_NAME}.tmp")).exists(),
            "temporary file left"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A write that fails (the directory unwritable for a while) is tried again when the same
    /// set is saved again, which the driver does on its retry tick while `failed()` holds.
    #[test]
    fn a_failed_write_is_retried_with_the_same_set() {
        let base = tempdir("retry");
        std::fs::create_dir_all(&base).unwrap();
        // A file where the state directory should be: nothing can be written under it.
        let dir = base.join("state");
        std::fs::write(&dir, b"in the way").unwrap();
        let (mut store, _) = DiscriminatorStore::load(&dir);
        let k = key("198.51.100.4");
        store.save([(&k, 7)]).unwrap();
        store.sync();
        assert!(store.failed());
        std::fs::remove_file(&dir).unwrap();
        store.save([(&k, 7)]).unwrap();
        store.sync();
        assert!(!store.failed());
        drop(store);
        let (mut again, _) = DiscriminatorStore::load(&dir);
        assert_eq!(again.take(&k), Some(7));
        std::fs::remove_dir_all(&base).unwrap();
    }

    /// The same without the writer thread (it could not start): the file is written in place,
    /// and a failed write is still tried again.
    #[test]
    fn a_failed_write_in_place_is_retried_too() {
        let base = tempdir("retry-in-place");
        std::fs::create_dir_all(&base).unwrap();
        let dir = base.join("state");
        std::fs::write(&dir, b"in the way").unwrap();
        let (mut store, _) = DiscriminatorStore::load(&dir);
        store.writer = None;
        let k = key("198.51.100.4");
        assert!(store.save([(&k, 9)]).is_err());
        assert!(store.failed());
        std::fs::remove_file(&dir).unwrap();
        store.save([(&k, 9)]).unwrap();
        assert!(!store.failed());
        let (mut again, _) = DiscriminatorStore::load(&dir);
        assert_eq!(again.take(&k), Some(9));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
