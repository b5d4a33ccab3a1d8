//! The services' channel to the driver, which also wakes the driver's thread.
//!
//! While it coalesces receives, the driver sleeps outside its runtime (see `driver`), where a
//! message alone would not wake it; a client must not wait for the next grid point.

use std::thread::Thread;

use tokio::sync::mpsc;

/// Sends to the driver and unparks its thread.
#[derive(Debug)]
pub struct ToDriver<T> {
    tx: mpsc::Sender<T>,
    thread: Thread,
}

impl<T> Clone for ToDriver<T> {
    fn clone(&self) -> Self {
        ToDriver {
            tx: self.tx.clone(),
            thread: self.thread.clone(),
        }
    }
}

impl<T> ToDriver<T> {
    /// `thread` is the driver's: the one that runs [`crate::driver::Driver::run`].
    pub fn new(tx: mpsc::Sender<T>, thread: Thread) -> Self {
        ToDriver { tx, thread }
    }

    /// Queues `value`; an error when the driver has stopped.
    pub async fn send(&self, value: T) -> Result<(), mpsc::error::SendError<T>> {
        let sent = self.tx.send(value).await;
        self.thread.unpark();
        sent
    }
}
