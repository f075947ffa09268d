//! The server-wide "shutting down" signal that long-lived calls (scans, mutate streams) watch,
//! so that a graceful shutdown is not held up by a client that never hangs up.
//!
//! This module only carries the signal; it must never decide when to stop.

use tokio::sync::watch;

/// Raises the signal.
#[derive(Debug)]
pub struct StopSender(watch::Sender<bool>);

/// Watches the signal. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Stopping(watch::Receiver<bool>);

/// A new, lowered signal.
pub fn channel() -> (StopSender, Stopping) {
    let (tx, rx) = watch::channel(false);
    (StopSender(tx), Stopping(rx))
}

impl StopSender {
    /// Raise the signal; every [`Stopping::wait`] returns.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

impl Stopping {
    /// Whether the signal is raised.
    pub fn is_stopping(&self) -> bool {
        *self.0.borrow()
    }

    /// Wait until the signal is raised. Never returns if the sender is dropped unraised.
    pub async fn wait(&mut self) {
        if self.0.wait_for(|s| *s).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn wait_returns_once_raised() {
        let (tx, mut rx) = channel();
        assert!(!rx.is_stopping());
        tx.stop();
        tokio::time::timeout(Duration::from_secs(1), rx.wait())
            .await
            .expect("returns");
        assert!(rx.is_stopping());
    }

    #[tokio::test]
    async fn dropped_sender_does_not_stop() {
        let (tx, mut rx) = channel();
        drop(tx);
        let waited = tokio::time::timeout(Duration::from_millis(50), rx.wait()).await;
        assert!(waited.is_err());
    }
}
