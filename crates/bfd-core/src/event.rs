use bfd_wire::{Diagnostic, State};

/// Something the caller should know about; drained with `poll_event`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The session changed state. `diag` is the local diagnostic after the change.
    StateChanged {
        /// State before.
        old: State,
        /// State now.
        new: State,
        /// bfd.LocalDiag: why.
        diag: Diagnostic,
    },
    /// A Poll sequence we started was answered: the peer has our new intervals.
    PollCompleted,
}
