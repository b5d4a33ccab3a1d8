//! The routing table and protocol id of our routes, kept in the state directory: a restart
//! with others configured (with keep-on-exit, or after a crash) must still remove the routes
//! left under the old ones, which nothing else would ever list again.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where our routes were last installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// `[routes] table`
    pub table: u32,
    /// `[routes] protocol`
    pub protocol: u8,
}

/// The file under the state directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotFile(PathBuf);

impl SlotFile {
    /// `routes.json` under `state_dir`.
    pub fn in_dir(state_dir: &Path) -> SlotFile {
        SlotFile(state_dir.join("routes.json"))
    }

    /// What the last run recorded; `None` when nothing usable is there (first run, or a file
    /// that does not parse, which only means nothing is cleaned up).
    pub fn read(&self) -> Option<Slot> {
        let bytes = std::fs::read(&self.0).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Records `slot`.
    pub fn write(&self, slot: Slot) -> io::Result<()> {
        let text = serde_json::to_vec(&slot).map_err(io::Error::other)?;
        crate::state_file::write_atomically(&self.0, &text)
    }

    /// The file's path, for messages.
    pub fn path(&self) -> &Path {
        &self.0
    }
}
