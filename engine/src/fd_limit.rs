//! The process's open-file limit: every open table file holds a descriptor (blocks are read
//! with pread, see `sstable/table_file.rs`), so at open the soft limit is raised to the hard
//! limit, as Go's runtime and many servers do. Without it a store of a few hundred files
//! would run into the usual soft limit of 1024 together with the server's sockets.
//!
//! This module only adjusts the limit; it must never lower it.

/// Raise the soft `RLIMIT_NOFILE` to the hard limit, once per process (best effort: a failure
/// is logged, the store still opens).
pub(crate) fn raise_open_file_limit() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one `rlimit` through a valid pointer to a local.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
            tracing::warn!(error = %std::io::Error::last_os_error(), "cannot read the open-file limit");
            return;
        }
        if lim.rlim_cur >= lim.rlim_max {
            return;
        }
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads one `rlimit` through a valid pointer to a local.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            tracing::warn!(error = %std::io::Error::last_os_error(), soft = lim.rlim_cur,
                "cannot raise the open-file limit; a store with many table files may run out");
        } else {
            tracing::debug!(from = lim.rlim_cur, to = lim.rlim_max, "raised the open-file limit");
        }
    });
}
