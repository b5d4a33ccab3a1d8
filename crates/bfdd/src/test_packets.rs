//! Control packets the unit tests send, built in one place.

use bfd_wire::{ControlPacket, Diagnostic, State};

/// A Down packet with FRR's timers, as a peer sends while it looks for us.
pub fn down(my_discriminator: u32, your_discriminator: u32) -> ControlPacket {
    ControlPacket {
        diag: Diagnostic::NoDiagnostic,
        state: State::Down,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator,
        your_discriminator,
        desired_min_tx: 1_000_000,
        required_min_rx: 300_000,
        required_min_echo_rx: 0,
        auth: None,
    }
}
