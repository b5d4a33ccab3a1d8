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
    /// The session took the discriminator its peer addresses, one of ours from before the
    /// peer lost track of us (see [`crate::Sessions::handle_datagram`]): keep it, as for any
    /// new discriminator.
    DiscriminatorAdopted {
        /// bfd.LocalDiscr before.
        old: u32,
        /// bfd.LocalDiscr now.
        new: u32,
    },
}
