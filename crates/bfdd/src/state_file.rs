//! Local discriminators kept across restarts: a peer that keeps addressing our old
//! discriminator (OVN does, after a timeout) is matched at once instead of being discarded
//! until it gives up.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::PeerKey;

const FILE_NAME: &str = "discriminators.json";

#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    /// Peer key as text (see `PeerKey`'s Display) -> local discriminator.
    sessions: BTreeMap<String, u32>,
}

/// The discriminator file under the state directory.
#[derive(Debug)]
pub struct DiscriminatorStore {
    path: PathBuf,
    stored: Stored,
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
        (DiscriminatorStore { path, stored }, warning)
    }

    /// The discriminator a previous run used for this peer.
    pub fn get(&self, key: &PeerKey) -> Option<u32> {
        self.stored.sessions.get(&key.to_string()).copied()
    }

    /// Replaces the stored set with the sessions running now, written atomically (temporary
    /// file, then rename) so a crash mid-write leaves the old file.
    pub fn save<'a>(
        &mut self,
        sessions: impl IntoIterator<Item = (&'a PeerKey, u32)>,
    ) -> io::Result<()> {
        let sessions: BTreeMap<String, u32> = sessions
            .into_iter()
            .map(|(k, d)| (k.to_string(), d))
            .collect();
        if sessions == self.stored.sessions {
            return Ok(());
        }
        self.stored.sessions = sessions;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(&self.stored).map_err(io::Error::other)?;
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let (again, _) = DiscriminatorStore::load(&dir);
        assert_eq!(again.get(&k), Some(0x1234_5678));
        assert_eq!(again.get(&key("198.51.100.5")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn corrupt_file_means_fresh_start_with_a_warning() {
        let dir = tempdir("corrupt");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(FILE_NAME), b"{not json").unwrap();
        let (store, warning) = DiscriminatorStore::load(&dir);
        assert!(warning.unwrap().contains("corrupt"));
        assert_eq!(store.get(&key("198.51.100.4")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
