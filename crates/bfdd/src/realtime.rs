//! `[daemon] realtime-priority`: the thread that runs the sessions on SCHED_FIFO.
//!
//! On a busy node the driver's thread is often runnable but not running: at 5,000 sessions x
//! 50 ms on two cores beside the load harness it waited up to 6 ms for a CPU, and a periodic
//! packet that waits longer than the 5 ms the schedule allows leaves past its §6.8.7 window.
//! A real-time thread runs ahead of every normal one. Only this thread: the control socket,
//! metrics and route installer keep normal priority, so a slow client cannot hold back a
//! timer. Threads started from it would inherit the policy; the driver starts none (see
//! `main.rs`). A SCHED_FIFO thread is outside CFS bandwidth control, so a container's CPU
//! limit does not cap it; the kernel's real-time throttling (95% of each second by default)
//! does.

use std::fmt;

use thread_priority::unix::{
    set_thread_priority_and_policy, thread_native_id, RealtimeThreadSchedulePolicy,
    ThreadSchedulePolicy,
};
use thread_priority::{ThreadPriority, ThreadPriorityValue};

/// Why the thread stays at normal priority.
#[derive(Debug)]
pub struct RealtimeError(String);

impl fmt::Display for RealtimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RealtimeError {}

/// Puts the calling thread on SCHED_FIFO at `priority` (1..=99). Needs CAP_SYS_NICE, or an
/// `RLIMIT_RTPRIO` of at least `priority`.
pub fn enter(priority: u8) -> Result<(), RealtimeError> {
    let value = ThreadPriorityValue::try_from(priority)
        .map_err(|e| RealtimeError(format!("priority {priority}: {e}")))?;
    set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Crossplatform(value),
        ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo),
    )
    .map_err(|e| match e {
        thread_priority::Error::OS(code) => {
            RealtimeError(nix::errno::Errno::from_raw(code).desc().to_string())
        }
        other => RealtimeError(other.to_string()),
    })
}
