//! Where bulk ingest may take files from ([`IngestDirs`]) and how one client-named file is
//! taken into the store without trusting its path ([`take`]):
//!
//! 1. The path must lie under an ingest directory: as written (after removing `.` and `..`
//!    lexically), or once canonicalised. A path outside them is `PermissionDenied` whether or
//!    not it exists, so the answer says nothing about the rest of the machine.
//! 2. It is opened relative to the ingest directory, one component at a time, never following
//!    a symbolic link (`O_NOFOLLOW` on every component), non-blocking (a FIFO cannot hang the
//!    call), and `fstat` must say regular file.
//! 3. On the store's filesystem the file is renamed into `sst/` (the client's name is gone,
//!    so nobody else can write the adopted file through it); after the rename the entry must
//!    be the very inode that was opened and its link count 1. Otherwise (another filesystem,
//!    other links, a directory the server cannot change) its bytes are copied from the open
//!    descriptor into a new file. Either way the result is fsynced, and what is checked
//!    afterwards is the store's file, never the source (no gap between check and copy).
//!
//! This works on file descriptors (openat, renameat2, fstat) and not through [`crate::fs::Fs`],
//! whose path-based calls cannot close these races. It must never follow a link, never open
//! anything outside the ingest directories, and never leave a placed file in the store when it
//! gives the file back ([`Placed::undo`]).

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags, Stat};
use rustix::io::Errno;

use crate::error::{Error, Result};

/// The directories bulk ingest adopts files from: absolute, canonical, existing.
#[derive(Clone, Debug)]
pub(crate) struct IngestDirs {
    /// (as configured, canonical) pairs; a request may spell a directory either way.
    dirs: Vec<(PathBuf, PathBuf)>,
}

impl IngestDirs {
    /// `configured` (empty: `data_dir/ingest`), each created if missing and canonicalised.
    ///
    /// # Errors
    ///
    /// A relative directory is [`Error::InvalidArgument`]; creating or resolving one is an
    /// I/O error naming it.
    pub fn resolve(data_dir: &Path, configured: &[PathBuf]) -> Result<IngestDirs> {
        let default = [data_dir.join("ingest")];
        let wanted = if configured.is_empty() {
            &default[..]
        } else {
            configured
        };
        let mut dirs: Vec<(PathBuf, PathBuf)> = Vec::new();
        for d in wanted {
            let abs = std::path::absolute(d).map_err(|e| Error::io(d, e))?;
            std::fs::create_dir_all(&abs).map_err(|e| Error::io(&abs, e))?;
            let canonical = std::fs::canonicalize(&abs).map_err(|e| Error::io(&abs, e))?;
            if !dirs.iter().any(|(_, c)| *c == canonical) {
                dirs.push((lexical(&abs), canonical));
            }
        }
        Ok(IngestDirs { dirs })
    }

    /// The canonical directories, in the configured order.
    pub fn canonical(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|(_, c)| c.clone()).collect()
    }

    /// The ingest directory (canonical) holding `path`, and `path` relative to it.
    fn locate(&self, path: &Path) -> Result<(&Path, PathBuf)> {
        let under = |p: &Path| {
            self.dirs.iter().find_map(|(configured, canonical)| {
                [configured, canonical].into_iter().find_map(|d| {
                    p.strip_prefix(d)
                        .ok()
                        .map(|rel| (canonical.as_path(), rel.to_path_buf()))
                })
            })
        };
        let denied = || {
            Error::PermissionDenied(format!(
                "{} is not under an ingest directory of this store ({}); stage table files \
                 there",
                path.display(),
                self.list()
            ))
        };
        if !path.is_absolute() {
            return Err(Error::InvalidArgument(format!(
                "ingest path {} is not absolute",
                path.display()
            )));
        }
        if let Some(found) = under(&lexical(path)) {
            return Ok(found);
        }
        // Another spelling of an ingest directory (one reached through a link). Whether the
        // path exists is not revealed: outside or missing, the answer is the same.
        match std::fs::canonicalize(path) {
            Ok(c) => under(&c).ok_or_else(denied),
            Err(_) => Err(denied()),
        }
    }

    fn list(&self) -> String {
        let v: Vec<String> = self
            .dirs
            .iter()
            .map(|(_, c)| c.display().to_string())
            .collect();
        v.join(", ")
    }
}

/// `p` with `.` removed and `..` applied to the components before it (no filesystem access).
fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// A client's file, open and checked to be a regular file under an ingest directory.
#[derive(Debug)]
pub(crate) struct Source {
    /// The path as the client gave it (for messages).
    pub path: PathBuf,
    /// The directory holding it, open.
    parent: OwnedFd,
    /// Its name in `parent`.
    name: OsString,
    file: File,
    stat: Stat,
}

fn io_err(path: &Path, e: Errno) -> Error {
    Error::io(path, std::io::Error::from(e))
}

/// Open `path` if it is a regular file under one of `dirs` (see the module docs).
///
/// # Errors
///
/// [`Error::PermissionDenied`] outside the ingest directories or through a symbolic link;
/// [`Error::FileNotFound`]; [`Error::InvalidArgument`] for a relative path or something
/// other than a regular file; other I/O errors naming the path.
pub(crate) fn open_source(dirs: &IngestDirs, path: &Path) -> Result<Source> {
    let (root, rel) = dirs.locate(path)?;
    let not_regular =
        || Error::InvalidArgument(format!("{} is not a regular file", path.display()));
    let mut names: Vec<OsString> = rel.iter().map(OsString::from).collect();
    let Some(name) = names.pop() else {
        return Err(not_regular()); // the ingest directory itself
    };
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut dir = rustix::fs::open(root, dir_flags, Mode::empty()).map_err(|e| io_err(root, e))?;
    // Why a component could not be opened, in the caller's terms.
    let refuse = |at: &OwnedFd, component: &OsString, e: Errno| -> Error {
        match rustix::fs::statat(at, component.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                Error::PermissionDenied(format!(
                    "{} is or passes through a symbolic link, which ingest does not follow",
                    path.display()
                ))
            }
            Err(Errno::NOENT) => Error::FileNotFound {
                path: path.to_path_buf(),
            },
            Ok(_) if e == Errno::NOTDIR => Error::FileNotFound {
                path: path.to_path_buf(),
            },
            _ => io_err(path, e),
        }
    };
    for component in &names {
        let flags = dir_flags | OFlags::NOFOLLOW;
        dir = rustix::fs::openat(&dir, component.as_os_str(), flags, Mode::empty())
            .map_err(|e| refuse(&dir, component, e))?;
    }
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    let fd = match rustix::fs::openat(&dir, name.as_os_str(), flags, Mode::empty()) {
        Ok(fd) => fd,
        // A socket cannot be opened at all: it is not a regular file either.
        Err(Errno::NXIO) => return Err(not_regular()),
        Err(e) => return Err(refuse(&dir, &name, e)),
    };
    let stat = rustix::fs::fstat(&fd).map_err(|e| io_err(path, e))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(not_regular());
    }
    Ok(Source {
        path: path.to_path_buf(),
        parent: dir,
        name,
        file: File::from(fd),
        stat,
    })
}

/// How a file came into the store.
#[derive(Debug)]
pub(crate) enum How {
    /// Renamed from the client's directory (its name there is gone).
    Moved {
        /// The client's directory and the file's name in it (to give the file back).
        parent: OwnedFd,
        name: OsString,
    },
    /// Copied (the client's file is untouched).
    Copied,
}

/// A file placed into the store's table file directory, fsynced, not yet adopted.
#[derive(Debug)]
pub(crate) struct Placed {
    /// The client's path.
    pub source: PathBuf,
    /// Where it is now.
    pub path: PathBuf,
    /// Open for reading: the very inode that was checked.
    pub file: File,
    pub how: How,
}

impl Placed {
    /// Give the file back: a moved file returns to its name (unless that name was taken
    /// meanwhile), a copy is removed.
    pub fn undo(self, sst_dir: &OwnedFd) {
        let name = self
            .path
            .file_name()
            .map(OsString::from)
            .unwrap_or_default();
        let back = match &self.how {
            How::Moved { parent, name: src } => rustix::fs::renameat_with(
                sst_dir,
                name.as_os_str(),
                parent,
                src.as_os_str(),
                RenameFlags::NOREPLACE,
            ),
            How::Copied => Err(Errno::EXIST),
        };
        if let Err(e) = back {
            if matches!(self.how, How::Moved { .. }) {
                tracing::warn!(source = %self.source.display(), path = %self.path.display(), error = %e,
                    "cannot move a refused ingest file back; removing it");
            }
            if let Err(e) = rustix::fs::unlinkat(sst_dir, name.as_os_str(), AtFlags::empty()) {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot remove a refused ingest file");
            }
        }
    }
}

/// Move or copy `src` into the store as `sst_dir_path/dst_name` (`sst_dir` is that
/// directory, open) and fsync it.
///
/// # Errors
///
/// I/O errors naming the source or the new file; [`Error::PermissionDenied`] if the file
/// was replaced while it was being moved.
pub(crate) fn place(
    src: Source,
    sst_dir: &OwnedFd,
    sst_dir_path: &Path,
    dst_name: &str,
) -> Result<Placed> {
    let dst = sst_dir_path.join(dst_name);
    let dir_stat = rustix::fs::fstat(sst_dir).map_err(|e| io_err(sst_dir_path, e))?;
    let same_fs = dir_stat.st_dev == src.stat.st_dev;
    if same_fs && src.stat.st_nlink == 1 {
        // None: not movable after all, copied below.
        if let Some(file) = move_in(&src, sst_dir, &dst, dst_name)? {
            return Ok(Placed {
                source: src.path,
                path: dst,
                file,
                how: How::Moved {
                    parent: src.parent,
                    name: src.name,
                },
            });
        }
    }
    let file = copy_in(&src, sst_dir, &dst, dst_name)?;
    Ok(Placed {
        source: src.path,
        path: dst,
        file,
        how: How::Copied,
    })
}

/// Rename `src` to `dst_name` in `sst_dir`; `None` when it must be copied instead (the
/// rename is refused, or the file turned out to have another link).
fn move_in(src: &Source, sst_dir: &OwnedFd, dst: &Path, dst_name: &str) -> Result<Option<File>> {
    match rustix::fs::renameat_with(
        &src.parent,
        src.name.as_os_str(),
        sst_dir,
        dst_name,
        RenameFlags::NOREPLACE,
    ) {
        Ok(()) => {}
        Err(Errno::XDEV | Errno::ACCESS | Errno::PERM | Errno::ROFS | Errno::BUSY) => {
            return Ok(None);
        }
        Err(e) => return Err(io_err(&src.path, e)),
    }
    let give_back = || {
        let _ = rustix::fs::renameat_with(
            sst_dir,
            dst_name,
            &src.parent,
            src.name.as_os_str(),
            RenameFlags::NOREPLACE,
        );
    };
    // The entry renamed must be the inode that was opened and checked: a name swapped in
    // between (a link to some other file) is given back and refused.
    let moved = rustix::fs::statat(sst_dir, dst_name, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| io_err(dst, e))?;
    if (moved.st_dev, moved.st_ino) != (src.stat.st_dev, src.stat.st_ino) {
        give_back();
        return Err(Error::PermissionDenied(format!(
            "{} was replaced while it was being ingested",
            src.path.display()
        )));
    }
    // The client's name is gone; any other name would still reach the adopted file.
    let now = rustix::fs::fstat(&src.file).map_err(|e| io_err(dst, e))?;
    if now.st_nlink != 1 {
        give_back();
        return Ok(None);
    }
    let file = src.file.try_clone().map_err(|e| Error::io(dst, e))?;
    // L5: whoever wrote the file may never have synced it.
    if let Err(e) = file.sync_all() {
        give_back();
        return Err(Error::io(dst, e));
    }
    Ok(Some(file))
}

/// Copy `src`'s bytes (from its open descriptor) into a new `dst_name` in `sst_dir`, fsync
/// it, and return it open for reading.
fn copy_in(src: &Source, sst_dir: &OwnedFd, dst: &Path, dst_name: &str) -> Result<File> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC;
    let out = rustix::fs::openat(sst_dir, dst_name, flags, Mode::from_raw_mode(0o644))
        .map_err(|e| io_err(dst, e))?;
    let mut out = File::from(out);
    let copied = (|| -> std::io::Result<()> {
        let mut input = &src.file;
        std::io::copy(&mut input, &mut out)?;
        out.sync_all()
    })();
    if let Err(e) = copied {
        let _ = rustix::fs::unlinkat(sst_dir, dst_name, AtFlags::empty());
        return Err(Error::io(dst, e));
    }
    drop(out);
    let read = rustix::fs::openat(
        sst_dir,
        dst_name,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
    );
    match read {
        Ok(fd) => Ok(File::from(fd)),
        Err(e) => {
            let _ = rustix::fs::unlinkat(sst_dir, dst_name, AtFlags::empty());
            Err(io_err(dst, e))
        }
    }
}

/// The store's table file directory, open (for [`place`] and [`Placed::undo`]).
///
/// # Errors
///
/// The I/O error of opening it.
pub(crate) fn open_dir(path: &Path) -> Result<OwnedFd> {
    rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs(root: &Path) -> IngestDirs {
        IngestDirs::resolve(root, &[]).unwrap()
    }

    fn kind(e: &Error) -> &'static str {
        match e {
            Error::PermissionDenied(_) => "denied",
            Error::FileNotFound { .. } => "missing",
            Error::InvalidArgument(_) => "invalid",
            _ => "other",
        }
    }

    #[test]
    fn paths_are_checked_lexically_and_without_following_links() {
        let tmp = tempfile::tempdir().unwrap();
        let d = dirs(tmp.path());
        let ing = tmp.path().join("ingest");
        assert!(ing.is_dir(), "created");
        std::fs::create_dir_all(ing.join("sub")).unwrap();
        std::fs::write(ing.join("sub/a.sst"), b"x").unwrap();
        std::fs::write(tmp.path().join("outside"), b"secret").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("outside"), ing.join("l.sst")).unwrap();
        std::os::unix::fs::symlink(ing.join("sub"), ing.join("ldir")).unwrap();
        let open = |p: PathBuf| open_source(&d, &p);
        assert!(open(ing.join("sub/a.sst")).is_ok());
        assert!(open(ing.join("sub/./x/../a.sst")).is_ok());
        for (p, want) in [
            (tmp.path().join("outside"), "denied"),
            (tmp.path().join("nothing-here"), "denied"),
            (ing.join("../outside"), "denied"),
            (ing.join("l.sst"), "denied"),
            (ing.join("ldir/a.sst"), "denied"),
            (ing.join("sub/b.sst"), "missing"),
            (ing.join("sub/a.sst/c"), "missing"),
            (ing.join("sub"), "invalid"),
            (ing.clone(), "invalid"),
            (PathBuf::from("relative.sst"), "invalid"),
        ] {
            let e = open(p.clone()).unwrap_err();
            assert_eq!(kind(&e), want, "{}: {e}", p.display());
            assert!(!e.to_string().contains("secret"));
        }
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let tmp = tempfile::tempdir().unwrap();
        let d = dirs(tmp.path());
        let fifo = tmp.path().join("ingest/p.sst");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let e = open_source(&d, &fifo).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }

    #[test]
    fn a_move_takes_the_only_name_and_a_linked_file_is_copied() {
        let tmp = tempfile::tempdir().unwrap();
        let d = dirs(tmp.path());
        let sst = tmp.path().join("sst");
        std::fs::create_dir_all(&sst).unwrap();
        let sst_fd = open_dir(&sst).unwrap();
        let src = tmp.path().join("ingest/a.sst");
        std::fs::write(&src, b"table bytes").unwrap();
        let placed = place(open_source(&d, &src).unwrap(), &sst_fd, &sst, "000001.sst").unwrap();
        assert!(matches!(placed.how, How::Moved { .. }));
        assert!(!src.exists());
        assert_eq!(
            std::fs::read(sst.join("000001.sst")).unwrap(),
            b"table bytes"
        );
        placed.undo(&sst_fd);
        assert!(src.exists(), "given back");
        assert!(!sst.join("000001.sst").exists());

        // A second name would reach the adopted file: copy instead, leave both names.
        let other = tmp.path().join("ingest/other-name");
        std::fs::hard_link(&src, &other).unwrap();
        let placed = place(open_source(&d, &src).unwrap(), &sst_fd, &sst, "000002.sst").unwrap();
        assert!(matches!(placed.how, How::Copied));
        assert!(src.exists() && other.exists());
        std::fs::write(&other, b"changed").unwrap();
        assert_eq!(
            std::fs::read(sst.join("000002.sst")).unwrap(),
            b"table bytes"
        );
        placed.undo(&sst_fd);
        assert!(!sst.join("000002.sst").exists());
    }
}
