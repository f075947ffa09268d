//! `DirLock`: an exclusive advisory lock (flock) on `LOCK` in the data directory, so two
//! processes never open one store. Released when dropped (or when the process dies).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::error::{Error, Result};

/// Holds the lock while alive.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// Take the lock on `dir/LOCK` or fail with `Error::Locked`.
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        let path = dir.join(crate::filename::LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        // SAFETY: flock only reads the descriptor, which `file` keeps open for this call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(Error::Locked {
                    path: dir.to_path_buf(),
                });
            }
            return Err(Error::io(&path, err));
        }
        Ok(DirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_dir_fails() {
        let d = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(d.path()).unwrap();
        assert!(matches!(
            DirLock::acquire(d.path()),
            Err(Error::Locked { .. })
        ));
        drop(first);
        assert!(DirLock::acquire(d.path()).is_ok());
    }
}
