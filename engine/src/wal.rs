//! Write-ahead log segments: `{number:06}.log` files holding length- and checksum-framed
//! records whose payloads are opaque bytes (the caller's encoded write batches). The byte
//! layout is documented in docs/format.md, section "WAL".
//!
//! This module owns the framing, the segment header, and the rule that tells a torn tail
//! (a crash while appending: report it, the caller truncates) from damage (an error naming
//! the file and offset). It must never interpret payloads, never use a serde codec for
//! framing, never hand out a record whose checksum failed, and never keep writing to a
//! segment after a failed write or sync (the bytes on disk are then unknown).

#![warn(clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::codec::sub;
use crate::error::{Error, Result};
use crate::filename::{parse_segment_name, segment_path};
use crate::fs::{FileSyncer, Fs, WritableFile};

/// First 8 bytes of every segment: "STRATWAL" read as a little-endian u64.
pub const SEGMENT_MAGIC: u64 = u64::from_le_bytes(*b"STRATWAL");
/// The segment format this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes of the segment header: magic u64, version u32, number u64, crc32 u32.
pub const SEGMENT_HEADER_LEN: usize = 24;
/// Bytes of a record header: length u32, crc32 u32.
pub const RECORD_HEADER_LEN: usize = 8;
/// Largest payload one record can carry.
pub const MAX_PAYLOAD_LEN: usize = u32::MAX as usize;
/// Bytes of checksum work a reader spends looking for valid records after a record whose
/// length runs past the end of the file, before giving up and calling it damage.
const RESYNC_BUDGET: u64 = 1 << 30;
/// Disk blocks of a segment are reserved ahead of its appends this many bytes at a time.
const PREALLOCATE_STEP: u64 = 8 << 20;

fn encode_header(number: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[0..8].copy_from_slice(&SEGMENT_MAGIC.to_le_bytes());
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..20].copy_from_slice(&number.to_le_bytes());
    let crc = crc32fast::hash(&h[0..20]);
    h[20..24].copy_from_slice(&crc.to_le_bytes());
    h
}

fn frame_crc(len_bytes: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(len_bytes);
    h.update(payload);
    h.finalize()
}

/// The little-endian `u32` at `at` (0 past the end: callers check lengths first).
fn le_u32(b: &[u8], at: usize) -> u32 {
    sub(b, at..)
        .first_chunk()
        .map_or(0, |a| u32::from_le_bytes(*a))
}

/// The little-endian `u64` at `at` (0 past the end: callers check lengths first).
fn le_u64(b: &[u8], at: usize) -> u64 {
    sub(b, at..)
        .first_chunk()
        .map_or(0, |a| u64::from_le_bytes(*a))
}

/// The first failure of a segment, shared with its syncers; once set, the segment takes no
/// more writes.
type Failure = Arc<Mutex<Option<String>>>;

fn check_failed(failed: &Failure, path: &Path) -> Result<()> {
    match &*failed.lock() {
        None => Ok(()),
        Some(why) => Err(Error::ReadOnly(format!(
            "WAL segment {} failed earlier ({why}); it takes no more writes",
            path.display()
        ))),
    }
}

fn record_failure(failed: &Failure, what: &str, e: &std::io::Error) {
    let mut f = failed.lock();
    if f.is_none() {
        *f = Some(format!("{what} failed: {e}"));
    }
}

/// Appends records to one segment.
///
/// After any failed append or sync the writer refuses further appends and syncs with
/// [`Error::ReadOnly`]: a failed write may have left part of a frame in the file, and a failed
/// fsync may have dropped dirty pages, so nothing after it could be trusted.
#[derive(Debug)]
pub struct LogWriter {
    file: Box<dyn WritableFile>,
    path: PathBuf,
    number: u64,
    failed: Failure,
    /// Bytes of the file whose disk blocks are reserved (`WritableFile::preallocate`);
    /// `u64::MAX` once reserving failed (then it is not tried again).
    reserved: u64,
}

impl LogWriter {
    /// Create segment `number` in `dir` (replacing a file of that name), write and sync its
    /// header, and sync `dir` so the segment survives a power cut.
    pub fn create(fs: &Arc<dyn Fs>, dir: &Path, number: u64) -> Result<LogWriter> {
        let path = segment_path(dir, number);
        let mut file = fs.create(&path).map_err(|e| Error::io(&path, e))?;
        let done = file
            .append(&encode_header(number))
            .and_then(|()| file.sync())
            .map_err(|e| Error::io(&path, e))
            .and_then(|()| fs.sync_dir(dir).map_err(|e| Error::io(dir, e)));
        if let Err(e) = done {
            drop(file);
            // Best effort: a segment with a torn header reads as empty anyway.
            let _ = fs.remove(&path);
            return Err(e);
        }
        Ok(LogWriter {
            file,
            path,
            number,
            failed: Arc::new(Mutex::new(None)),
            reserved: 0,
        })
    }

    /// Append one record with a single write to the OS. Returns the segment's length after
    /// it. The record is durable only after a [`LogWriter::sync`] (or a syncer's sync) that
    /// starts after this returns. (Tests and tools; the write path frames its own buffer
    /// for [`LogWriter::append_framed`].)
    #[cfg(any(test, feature = "testing"))]
    pub fn append(&mut self, payload: &[u8]) -> Result<u64> {
        let mut frame = vec![0u8; RECORD_HEADER_LEN];
        frame.extend_from_slice(payload);
        self.append_framed(&mut frame)
    }

    /// Append one record whose payload is `frame` after its first [`RECORD_HEADER_LEN`]
    /// bytes, which this fills in with the record header: the same bytes as
    /// [`LogWriter::append`] of the payload, written with one write to the OS without
    /// copying the payload (the write path encodes its batch after that room).
    pub fn append_framed(&mut self, frame: &mut [u8]) -> Result<u64> {
        check_failed(&self.failed, &self.path)?;
        let Some(payload_len) = frame.len().checked_sub(RECORD_HEADER_LEN) else {
            return Err(Error::InvalidArgument(format!(
                "a WAL frame of {} bytes is shorter than its {RECORD_HEADER_LEN}-byte header",
                frame.len()
            )));
        };
        if payload_len > MAX_PAYLOAD_LEN {
            return Err(Error::InvalidArgument(format!(
                "WAL record of {payload_len} bytes exceeds the {MAX_PAYLOAD_LEN}-byte limit"
            )));
        }
        let len_bytes = (payload_len as u32).to_le_bytes();
        let (head, payload) = frame.split_at_mut(RECORD_HEADER_LEN);
        let crc = frame_crc(&len_bytes, payload);
        // Length then crc, both little-endian u32: one little-endian u64.
        head.copy_from_slice(&(u64::from(crc) << 32 | payload_len as u64).to_le_bytes());
        self.reserve(frame.len() as u64);
        if let Err(e) = self.file.append(frame) {
            record_failure(&self.failed, "append", &e);
            return Err(Error::io(&self.path, e));
        }
        Ok(self.file.len())
    }

    /// Make sure the disk blocks of the next `more` bytes are reserved, in steps of
    /// [`PREALLOCATE_STEP`]: an fdatasync after an append into reserved blocks writes no
    /// block-allocation metadata (measured on this machine's ext4: 0.42 ms instead of
    /// 1.45 ms median for a 490 KB append, docs/design/write-path.md). Only a hint: the file's
    /// length and bytes are exactly what was appended, so the format and recovery do not
    /// change; if reserving fails, appends go on without it.
    fn reserve(&mut self, more: u64) {
        let end = self.file.len().saturating_add(more);
        if end <= self.reserved {
            return;
        }
        let want = end.saturating_add(PREALLOCATE_STEP - 1) / PREALLOCATE_STEP * PREALLOCATE_STEP;
        self.reserved = match self.file.preallocate(want) {
            Ok(()) => want,
            Err(e) => {
                tracing::debug!(path = %self.path.display(), error = %e,
                    "WAL preallocation failed; appending without it");
                u64::MAX
            }
        };
    }

    /// fdatasync everything appended so far.
    pub fn sync(&mut self) -> Result<()> {
        check_failed(&self.failed, &self.path)?;
        self.file.sync().map_err(|e| {
            record_failure(&self.failed, "sync", &e);
            Error::io(&self.path, e)
        })
    }

    /// A handle that syncs this segment from another thread while appends go on (group
    /// commit). A failed sync through it also stops this writer.
    pub fn syncer(&self) -> Result<Arc<dyn FileSyncer>> {
        check_failed(&self.failed, &self.path)?;
        let inner = self.file.syncer().map_err(|e| Error::io(&self.path, e))?;
        Ok(Arc::new(SegmentSyncer {
            inner,
            failed: self.failed.clone(),
        }))
    }

    /// The segment number.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Bytes in the segment, header included.
    pub fn len(&self) -> u64 {
        self.file.len()
    }

    /// Whether no record was appended yet.
    #[cfg(any(test, feature = "testing"))]
    pub fn is_empty(&self) -> bool {
        self.file.len() <= SEGMENT_HEADER_LEN as u64
    }

    /// The segment's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[derive(Debug)]
struct SegmentSyncer {
    inner: Arc<dyn FileSyncer>,
    failed: Failure,
}

impl FileSyncer for SegmentSyncer {
    fn sync(&self) -> std::io::Result<()> {
        if let Some(why) = &*self.failed.lock() {
            return Err(std::io::Error::other(format!(
                "WAL segment failed earlier ({why})"
            )));
        }
        self.inner.sync().inspect_err(|e| {
            record_failure(&self.failed, "sync", e);
        })
    }
}

/// What [`read_segment`] found in a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentContents {
    /// Payloads of the records that passed their checksums, in order.
    pub records: Vec<Vec<u8>>,
    /// Byte offset in the file of each record (its header), for errors about its payload.
    pub offsets: Vec<u64>,
    /// Bytes from the start of the file through the last good record (0 when even the
    /// header is unusable): where a torn tail or the damage starts.
    pub valid_len: u64,
    /// Set when the segment ends in a torn tail (a crash while appending): what was found,
    /// with the file and byte offset.
    pub torn_tail: Option<String>,
    /// Set, with salvage only, when the records stop at damage (more data follows that
    /// cannot be read): what was found, with the file and byte offset.
    pub damage: Option<String>,
}

/// Read every record of a segment.
///
/// A torn tail (a last record cut short, or whose checksum fails with only zero bytes or
/// nothing after it; likewise a header cut short or failing with only zeros after it) is
/// reported in `torn_tail`, not as an error: the caller decides whether it may be one (only
/// in the newest segment) and truncates to `valid_len`. Damage followed by more non-zero
/// data is [`Error::Corruption`] naming the file and offset, unless `salvage` is true, in
/// which case the records before the damage are returned and `damage` describes it. The
/// file is never changed here. A record whose length runs past the end of the file is
/// a torn tail only if no valid record can be found after its start; a corrupted length in
/// the middle of a segment is therefore damage, not a silent loss of the records after it.
///
/// A bad magic, an unknown format version or a header whose segment number does not match
/// the file name are errors even with `salvage` (the file is not a segment this code can read).
pub fn read_segment(fs: &Arc<dyn Fs>, path: &Path, salvage: bool) -> Result<SegmentContents> {
    let data = fs.read(path).map_err(|e| Error::io(path, e))?;
    let mut out = SegmentContents {
        records: Vec::new(),
        offsets: Vec::new(),
        valid_len: 0,
        torn_tail: None,
        damage: None,
    };
    let shown = path.display();

    if data.len() < SEGMENT_HEADER_LEN {
        out.torn_tail = Some(format!(
            "{shown}: segment header cut short at offset 0 ({} of {SEGMENT_HEADER_LEN} bytes)",
            data.len()
        ));
        return Ok(out);
    }
    let stored_crc = le_u32(&data, 20);
    if crc32fast::hash(sub(&data, 0..20)) != stored_crc {
        let what = "segment header checksum mismatch";
        if is_zero(sub(&data, SEGMENT_HEADER_LEN..)) {
            out.torn_tail = Some(format!(
                "{shown}: {what} at offset 0 with only zero bytes after it"
            ));
            return Ok(out);
        }
        if salvage {
            out.damage = Some(format!("{shown}: {what} at offset 0 (salvaged nothing)"));
            return Ok(out);
        }
        return Err(Error::corruption(path, 0, what));
    }
    let magic = le_u64(&data, 0);
    if magic != SEGMENT_MAGIC {
        return Err(Error::corruption(
            path,
            0,
            format!("not a WAL segment: magic {magic:#018x}"),
        ));
    }
    let version = le_u32(&data, 8);
    if version != FORMAT_VERSION {
        return Err(Error::corruption(
            path,
            8,
            format!("unsupported WAL format version {version} (this build reads {FORMAT_VERSION})"),
        ));
    }
    let number = le_u64(&data, 12);
    let named = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(parse_segment_name);
    if let Some(named) = named
        && named != number
    {
        return Err(Error::corruption(
            path,
            12,
            format!("header says segment {number} but the file is named for segment {named}"),
        ));
    }

    let end = data.len();
    let mut off = SEGMENT_HEADER_LEN;
    out.valid_len = off as u64;
    while off < end {
        let rest = end - off;
        if rest < RECORD_HEADER_LEN {
            out.torn_tail = Some(format!(
                "{shown}: torn tail at offset {off}: record header cut short ({rest} of {RECORD_HEADER_LEN} bytes)"
            ));
            break;
        }
        let len_bytes = sub(&data, off..off + 4);
        let len = le_u32(&data, off) as usize;
        let stored = le_u32(&data, off + 4);
        let body = off + RECORD_HEADER_LEN;
        // `len` comes from the file: compare it with what is left before slicing anything.
        if len > end - body {
            match find_valid_record(&data, off + 1) {
                None => {
                    out.torn_tail = Some(format!(
                        "{shown}: torn tail at offset {off}: record of {len} bytes cut short ({} bytes left)",
                        end - body
                    ));
                    break;
                }
                Some(found) => {
                    let what = match found {
                        Resync::Found(at) => format!(
                            "record length {len} runs past the end of the file, but a valid record follows at offset {at}"
                        ),
                        Resync::GaveUp => format!(
                            "record length {len} runs past the end of the file, and the rest of the file is too large to prove it a torn tail"
                        ),
                    };
                    return damage(path, off, what, salvage, out);
                }
            }
        }
        let payload = sub(&data, body..body + len);
        if frame_crc(len_bytes, payload) != stored {
            let next = body + len;
            if is_zero(sub(&data, next..)) {
                out.torn_tail = Some(format!(
                    "{shown}: torn tail at offset {off}: record checksum mismatch with only zero bytes after it"
                ));
                break;
            }
            return damage(
                path,
                off,
                "record checksum mismatch with more data after it".to_string(),
                salvage,
                out,
            );
        }
        out.records.push(payload.to_vec());
        out.offsets.push(off as u64);
        off = body + len;
        out.valid_len = off as u64;
    }
    Ok(out)
}

fn damage(
    path: &Path,
    off: usize,
    what: String,
    salvage: bool,
    mut out: SegmentContents,
) -> Result<SegmentContents> {
    if salvage {
        out.damage = Some(format!(
            "{}: damage at offset {off}: {what} (salvaged {} records before it)",
            path.display(),
            out.records.len()
        ));
        Ok(out)
    } else {
        Err(Error::corruption(path, off as u64, what))
    }
}

fn is_zero(b: &[u8]) -> bool {
    b.iter().all(|&x| x == 0)
}

enum Resync {
    Found(usize),
    GaveUp,
}

/// Look for a complete record with a good checksum starting at or after `from`. Only used
/// after a record whose length runs past the end of the file, to tell a torn last record
/// (nothing valid after it) from a corrupted length field (valid records after it).
fn find_valid_record(data: &[u8], from: usize) -> Option<Resync> {
    let end = data.len();
    let mut spent: u64 = 0;
    let mut p = from;
    while p + RECORD_HEADER_LEN <= end {
        let len = le_u32(data, p) as usize;
        let body = p + RECORD_HEADER_LEN;
        if len <= end - body {
            spent += len as u64 + 4;
            if spent > RESYNC_BUDGET {
                return Some(Resync::GaveUp);
            }
            if frame_crc(sub(data, p..p + 4), sub(data, body..body + len)) == le_u32(data, p + 4) {
                return Some(Resync::Found(p));
            }
        }
        p += 1;
    }
    None
}

/// The segments in `dir` as (number, path), sorted by number. Other files are ignored.
pub fn list_segments(fs: &Arc<dyn Fs>, dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out: Vec<(u64, PathBuf)> = fs
        .list(dir)
        .map_err(|e| Error::io(dir, e))?
        .into_iter()
        .filter_map(|p| {
            let n = parse_segment_name(p.file_name()?.to_str()?)?;
            Some((n, p))
        })
        .collect();
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault_fs::FaultFs;

    fn real() -> Arc<dyn Fs> {
        crate::fs::real()
    }

    fn payloads() -> Vec<Vec<u8>> {
        vec![b"first record".to_vec(), Vec::new(), vec![0xAB; 300]]
    }

    /// Write `records` to segment 7 in `dir`; return the path and each record's offset.
    fn write_segment(fs: &Arc<dyn Fs>, dir: &Path, records: &[Vec<u8>]) -> (PathBuf, Vec<u64>) {
        let mut w = LogWriter::create(fs, dir, 7).unwrap();
        let mut offsets = Vec::new();
        for r in records {
            offsets.push(w.len());
            let after = w.append(r).unwrap();
            assert_eq!(after, w.len());
        }
        w.sync().unwrap();
        (w.path().to_path_buf(), offsets)
    }

    fn corruption_at(err: Error) -> (PathBuf, u64) {
        match err {
            Error::Corruption { path, offset, .. } => (path, offset),
            other => panic!("expected corruption, got {other}"),
        }
    }

    /// A record appended from a frame (the write path's room-for-the-header buffer) is the
    /// same bytes as one appended from its payload; the reserved disk blocks change neither
    /// the file's length nor what a reader finds.
    #[test]
    fn framed_appends_write_the_same_bytes_and_preallocation_keeps_the_length() {
        let fs = real();
        let plain = tempfile::tempdir().unwrap();
        let framed = tempfile::tempdir().unwrap();
        let (want_path, _) = write_segment(&fs, plain.path(), &payloads());
        let mut w = LogWriter::create(&fs, framed.path(), 7).unwrap();
        for p in payloads() {
            let mut frame = vec![0xEE; RECORD_HEADER_LEN];
            frame.extend_from_slice(&p);
            let after = w.append_framed(&mut frame).unwrap();
            assert_eq!(after, w.len());
        }
        w.sync().unwrap();
        let got = std::fs::read(w.path()).unwrap();
        assert_eq!(got, std::fs::read(&want_path).unwrap());
        // Blocks were reserved past the end (where the filesystem can), the length was not.
        assert_eq!(std::fs::metadata(w.path()).unwrap().len(), w.len());
        assert_eq!(w.len(), got.len() as u64);
        let contents = read_segment(&fs, w.path(), false).unwrap();
        assert_eq!(contents.records, payloads());
        assert!(contents.torn_tail.is_none());
        assert!(matches!(
            w.append_framed(&mut [0u8; RECORD_HEADER_LEN - 1]),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn round_trip_and_listing() {
        let dir = tempfile::tempdir().unwrap();
        let fs = real();
        let (path, _) = write_segment(&fs, dir.path(), &payloads());
        assert_eq!(path, dir.path().join("000007.log"));
        let c = read_segment(&fs, &path, false).unwrap();
        assert_eq!(c.records, payloads());
        assert_eq!(c.valid_len, std::fs::metadata(&path).unwrap().len());
        assert_eq!(c.torn_tail, None);

        let w = LogWriter::create(&fs, dir.path(), 1_234_567).unwrap();
        assert!(w.is_empty());
        assert_eq!(w.number(), 1_234_567);
        LogWriter::create(&fs, dir.path(), 3).unwrap();
        std::fs::write(dir.path().join("MANIFEST"), b"x").unwrap();
        std::fs::write(dir.path().join("0000009.log"), b"x").unwrap();
        std::fs::write(dir.path().join("000009.log.tmp"), b"x").unwrap();
        let listed = list_segments(&fs, dir.path()).unwrap();
        let numbers: Vec<u64> = listed.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, vec![3, 7, 1_234_567]);
        assert_eq!(listed[2].1, dir.path().join("1234567.log"));
    }

    #[test]
    fn torn_tail_at_every_offset_of_the_last_record() {
        let dir = tempfile::tempdir().unwrap();
        let fs = real();
        let (path, offsets) = write_segment(&fs, dir.path(), &payloads());
        let full = std::fs::read(&path).unwrap();
        let last = offsets[2] as usize;
        for cut in last..full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            let c = read_segment(&fs, &path, false).unwrap();
            assert_eq!(c.records, payloads()[..2].to_vec(), "cut at {cut}");
            assert_eq!(c.valid_len, last as u64, "cut at {cut}");
            assert_eq!(c.torn_tail.is_some(), cut > last, "cut at {cut}");
            if cut > last {
                let t = c.torn_tail.unwrap();
                assert!(t.contains(&format!("offset {last}")), "{t}");
            }
        }
    }

    #[test]
    fn torn_header_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let fs = real();
        let (path, _) = write_segment(&fs, dir.path(), &[]);
        let full = std::fs::read(&path).unwrap();
        for cut in 0..SEGMENT_HEADER_LEN {
            std::fs::write(&path, &full[..cut]).unwrap();
            let c = read_segment(&fs, &path, false).unwrap();
            assert!(c.records.is_empty());
            assert_eq!(c.valid_len, 0);
            assert!(c.torn_tail.is_some(), "cut at {cut}");
        }
        // A header that was never written (zero-filled by the filesystem).
        std::fs::write(&path, [0u8; 64]).unwrap();
        let c = read_segment(&fs, &path, false).unwrap();
        assert!(c.records.is_empty() && c.torn_tail.is_some());
        // A damaged header followed by data is damage.
        let mut bad = full.clone();
        bad[13] ^= 1;
        bad.extend_from_slice(b"more");
        std::fs::write(&path, &bad).unwrap();
        let (p, off) = corruption_at(read_segment(&fs, &path, false).unwrap_err());
        assert_eq!((p, off), (path.clone(), 0));
        let c = read_segment(&fs, &path, true).unwrap();
        assert!(c.records.is_empty() && c.damage.is_some() && c.torn_tail.is_none());
    }

    #[test]
    fn flipped_byte_in_middle_record_is_corruption_and_salvage_keeps_the_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let fs = real();
        let records = vec![b"one".to_vec(), b"two two".to_vec(), b"three".to_vec()];
        let (path, offsets) = write_segment(&fs, dir.path(), &records);
        let full = std::fs::read(&path).unwrap();
        let mid = offsets[1] as usize;
        // Every byte of the middle record: length, checksum and payload.
        for i in mid..offsets[2] as usize {
            let mut bad = full.clone();
            bad[i] ^= 0x40;
            std::fs::write(&path, &bad).unwrap();
            let err = read_segment(&fs, &path, false).unwrap_err();
            assert!(err.to_string().contains("000007.log"), "{err}");
            assert_eq!(corruption_at(err), (path.clone(), mid as u64), "byte {i}");
            let c = read_segment(&fs, &path, true).unwrap();
            assert_eq!(c.records, records[..1].to_vec());
            assert_eq!(c.valid_len, mid as u64);
            assert_eq!(c.torn_tail, None);
            assert!(c.damage.unwrap().contains(&format!("offset {mid}")));
            assert_eq!(
                std::fs::read(&path).unwrap(),
                bad,
                "reading changes nothing"
            );
        }
    }

    #[test]
    fn zero_filled_tail_is_torn() {
        let dir = tempfile::tempdir().unwrap();
        let fs = real();
        let (path, _) = write_segment(&fs, dir.path(), &payloads());
        let good = std::fs::metadata(&path).unwrap().len();
        let mut data = std::fs::read(&path).unwrap();
        for extra in [1usize, 7, 8, 9, 4096] {
            data.truncate(good as usize);
            data.resize(good as usize + extra, 0);
            std::fs::write(&path, &data).unwrap();
            let c = read_segment(&fs, &path, false).unwrap();
            assert_eq!(c.records, payloads(), "{extra} zero bytes");
            assert_eq!(c.valid_len, good);
            assert!(c.torn_tail.is_some());
        }
    }

    #[test]
    fn huge_length_field_is_caught_without_allocating_it() {
        let dir = tempfile::tempdir().unwrap();
        let fs = real();
        let records = vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()];
        let (path, offsets) = write_segment(&fs, dir.path(), &records);
        let full = std::fs::read(&path).unwrap();
        let huge = 0xFFFF_FFF0u32.to_le_bytes();

        // In the middle, with valid records after it: damage, not a torn tail.
        let mut bad = full.clone();
        let mid = offsets[1] as usize;
        bad[mid..mid + 4].copy_from_slice(&huge);
        std::fs::write(&path, &bad).unwrap();
        let (_, off) = corruption_at(read_segment(&fs, &path, false).unwrap_err());
        assert_eq!(off, mid as u64);

        // In the last record: indistinguishable from a record cut short, so torn.
        let mut bad = full.clone();
        let last = offsets[2] as usize;
        bad[last..last + 4].copy_from_slice(&huge);
        std::fs::write(&path, &bad).unwrap();
        let c = read_segment(&fs, &path, false).unwrap();
        assert_eq!(c.records, records[..2].to_vec());
        assert_eq!(c.valid_len, last as u64);
    }

    #[test]
    fn mismatched_number_and_bad_version_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let fs = real();
        let (path, _) = write_segment(&fs, dir.path(), &payloads());
        let renamed = dir.path().join("000008.log");
        std::fs::rename(&path, &renamed).unwrap();
        let (p, off) = corruption_at(read_segment(&fs, &renamed, true).unwrap_err());
        assert_eq!((p, off), (renamed.clone(), 12));

        let mut data = std::fs::read(&renamed).unwrap();
        data[8] = 9;
        let crc = crc32fast::hash(&data[0..20]);
        data[20..24].copy_from_slice(&crc.to_le_bytes());
        std::fs::write(&path, &data).unwrap();
        let (_, off) = corruption_at(read_segment(&fs, &path, false).unwrap_err());
        assert_eq!(off, 8);
    }

    #[test]
    fn power_cut_keeps_exactly_the_synced_records() {
        let dir = tempfile::tempdir().unwrap();
        let ffs = FaultFs::new();
        let fs: Arc<dyn Fs> = ffs.clone();
        let mut w = LogWriter::create(&fs, dir.path(), 1).unwrap();
        w.append(b"a").unwrap();
        w.sync().unwrap();
        w.append(b"b").unwrap();
        // Group commit: a syncer on another thread covers what was appended before it.
        let s = w.syncer().unwrap();
        std::thread::spawn(move || s.sync().unwrap())
            .join()
            .unwrap();
        w.append(b"c").unwrap();
        let path = w.path().to_path_buf();
        ffs.simulate_power_cut().unwrap();
        assert!(
            w.append(b"d").is_err(),
            "handles from before the cut are dead"
        );
        let c = read_segment(&fs, &path, false).unwrap();
        assert_eq!(c.records, vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(c.torn_tail, None);

        // A segment created but whose directory entry was never synced does not survive;
        // one whose header sync failed is removed.
        ffs.fail_syncs(true);
        assert!(LogWriter::create(&fs, dir.path(), 2).is_err());
        ffs.fail_syncs(false);
        assert_eq!(list_segments(&fs, dir.path()).unwrap().len(), 1);
    }

    #[test]
    fn group_commit_syncs_while_appends_continue() {
        let dir = tempfile::tempdir().unwrap();
        let ffs = FaultFs::new();
        let fs: Arc<dyn Fs> = ffs.clone();
        let mut w = LogWriter::create(&fs, dir.path(), 1).unwrap();
        let s = w.syncer().unwrap();
        let records: Vec<Vec<u8>> = (0..200u32).map(|i| i.to_le_bytes().repeat(3)).collect();
        let to_write = records.clone();
        let writer = std::thread::spawn(move || {
            for r in &to_write {
                w.append(r).unwrap();
            }
            w
        });
        for _ in 0..20 {
            s.sync().unwrap();
        }
        let mut w = writer.join().unwrap();
        s.sync().unwrap();
        w.append(b"never synced").unwrap();
        ffs.simulate_power_cut().unwrap();
        let c = read_segment(&fs, w.path(), false).unwrap();
        assert_eq!(c.records, records);
        assert_eq!(c.torn_tail, None);
    }

    #[test]
    fn failed_append_stops_the_writer_and_keeps_earlier_records() {
        let dir = tempfile::tempdir().unwrap();
        let ffs = FaultFs::new();
        let fs: Arc<dyn Fs> = ffs.clone();
        let mut w = LogWriter::create(&fs, dir.path(), 1).unwrap();
        w.append(b"kept").unwrap();
        w.sync().unwrap();
        ffs.set_space_limit(Some(ffs.bytes_written() + 10));
        let err = w.append(&[7u8; 64]).unwrap_err();
        assert!(err.is_no_space(), "{err}");
        ffs.set_space_limit(None);
        assert!(matches!(w.append(b"x"), Err(Error::ReadOnly(_))));
        assert!(matches!(w.sync(), Err(Error::ReadOnly(_))));
        let c = read_segment(&fs, w.path(), false).unwrap();
        assert_eq!(c.records, vec![b"kept".to_vec()]);

        // A failed sync through a syncer stops the writer too.
        let mut w = LogWriter::create(&fs, dir.path(), 2).unwrap();
        w.append(b"x").unwrap();
        let s = w.syncer().unwrap();
        ffs.fail_syncs(true);
        assert!(s.sync().is_err());
        ffs.fail_syncs(false);
        assert!(s.sync().is_err());
        assert!(matches!(w.append(b"y"), Err(Error::ReadOnly(_))));
    }
}
