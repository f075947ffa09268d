//! Back-off between retries of an unavailable broker or server: exponential from 100 ms to
//! 5 s, with jitter so restarted consumers do not retry in step.
//! Owns only the delays. It must never give up: the consumer retries an outage until it ends
//! or the consumer is stopped (skipping ahead is never an option).

use std::time::Duration;

/// First delay.
pub const FIRST: Duration = Duration::from_millis(100);
/// Longest delay.
pub const MAX: Duration = Duration::from_secs(5);

/// Delays of consecutive retries.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

impl Backoff {
    /// Start at [`FIRST`].
    pub fn new() -> Self {
        Backoff { next: FIRST }
    }

    /// The delay before the next retry (doubling, capped at [`MAX`], minus up to 25% jitter).
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(MAX);
        let jitter = rand::random_range(0.75..=1.0);
        d.mul_f64(jitter)
    }

    /// After a success: start again at [`FIRST`].
    pub fn reset(&mut self) {
        self.next = FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_reset() {
        let mut b = Backoff::new();
        let d: Vec<Duration> = (0..10).map(|_| b.next_delay()).collect();
        assert!(d[0] <= FIRST && d[0] >= FIRST.mul_f64(0.75));
        assert!(d[1] > FIRST.mul_f64(1.4) && d[1] <= FIRST * 2);
        assert!(d.iter().all(|x| *x <= MAX));
        assert!(d[9] >= MAX.mul_f64(0.75));
        b.reset();
        assert!(b.next_delay() <= FIRST);
    }
}
