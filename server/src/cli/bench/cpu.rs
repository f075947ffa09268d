//! The CPU time this process used (user + system, every thread), read at the start and at the
//! end of the measured period, so a run on a machine shared with other work still says what
//! the work cost: with an in-process server it is the clients and the server together; with
//! `--server` only the clients.
//!
//! It owns reading the clock (getrusage); it must never decide anything from the figure.

use std::time::Duration;

/// CPU time used by this process so far (None if the system refuses to say).
pub(super) fn process_cpu() -> Option<Duration> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole rusage into the pointer it is given, which points at
    // memory of that size and alignment.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: getrusage returned 0, so it filled the struct (and zeroed is a valid rusage).
    let usage = unsafe { usage.assume_init() };
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).ok()?)
            .checked_add(Duration::from_micros(u64::try_from(t.tv_usec).ok()?))
    };
    tv(usage.ru_utime)?.checked_add(tv(usage.ru_stime)?)
}

/// The CPU time between two readings.
pub(super) fn used(start: Option<Duration>, end: Option<Duration>) -> Option<Duration> {
    end?.checked_sub(start?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_with_work() {
        let start = process_cpu();
        assert!(start.is_some(), "getrusage failed");
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let spent = used(start, process_cpu()).expect("a later reading is not smaller");
        assert!(spent > Duration::ZERO);
        assert_eq!(used(None, start), None);
    }
}
