//! CSV input: reading a file in large chunks that end on record boundaries (so chunks can be
//! parsed in parallel), the header (UTF-8 BOM stripped), and RFC 4180 records with the line
//! number of their first line and their raw bytes.
//! Owns where records start and end. It must never interpret fields (the mapping does) and
//! never split inside a quoted field.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{LoaderError, Result};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Records longer than this are an error (a stray quote would otherwise make the rest of the
/// file one field held in memory).
pub const MAX_RECORD_BYTES: usize = 256 << 20;

/// Offset just past the last complete record in `buf` (after its `\n`), assuming `buf` starts
/// at a record boundary; `None` if `buf` holds no complete record. Follows the csv crate's
/// quoting rules: a quote opens a quoted field only at the start of a field; inside one, `""`
/// is a literal quote and a lone `"` closes it.
pub fn last_record_end(buf: &[u8], delimiter: u8) -> Option<usize> {
    let n = buf.len();
    let mut last = None;
    let mut i = 0;
    loop {
        // Unquoted: the next quote, and the last newline before it.
        let p = match memchr::memchr(b'"', &buf[i..]) {
            Some(j) => i + j,
            None => {
                if let Some(j) = memchr::memrchr(b'\n', &buf[i..]) {
                    last = Some(i + j + 1);
                }
                return last;
            }
        };
        if let Some(j) = memchr::memrchr(b'\n', &buf[i..p]) {
            last = Some(i + j + 1);
        }
        let at_field_start =
            p == 0 || matches!(buf[p - 1], b'\n' | b'\r') || buf[p - 1] == delimiter;
        if !at_field_start {
            i = p + 1;
            continue;
        }
        // Quoted field: find its closing quote.
        let mut q = p + 1;
        loop {
            let Some(c) = memchr::memchr(b'"', &buf[q..]).map(|j| q + j) else {
                return last; // still inside the quoted field
            };
            if c + 1 >= n {
                return last; // can't tell yet whether it is `""`
            }
            if buf[c + 1] == b'"' {
                q = c + 2;
                continue;
            }
            i = c + 1;
            break;
        }
    }
}

/// A piece of the input holding whole records.
#[derive(Debug)]
pub struct Chunk {
    /// Sequence number of the chunk in the file (0-based).
    pub index: u64,
    /// Line number of the chunk's first byte (1-based).
    pub first_line: u64,
    /// Byte offset of the chunk in the file.
    pub offset: u64,
    /// The bytes.
    pub data: Vec<u8>,
    /// Line breaks in `data` (an upper bound on its records, minus one).
    pub newlines: u64,
}

/// Reads a CSV file as a header and then chunks of whole records.
#[derive(Debug)]
pub struct ChunkReader {
    path: PathBuf,
    file: File,
    delimiter: u8,
    chunk_size: usize,
    carry: Vec<u8>,
    eof: bool,
    next_index: u64,
    next_line: u64,
    next_offset: u64,
    header: Vec<String>,
    file_size: u64,
}

impl ChunkReader {
    /// Open `path` and read its header record.
    pub fn open(path: &Path, delimiter: u8, chunk_size: usize) -> Result<Self> {
        let file = File::open(path).map_err(|e| LoaderError::io(path, e))?;
        let file_size = file.metadata().map_err(|e| LoaderError::io(path, e))?.len();
        let mut r = ChunkReader {
            path: path.to_path_buf(),
            file,
            delimiter,
            chunk_size: chunk_size.max(1),
            carry: Vec::new(),
            eof: false,
            next_index: 0,
            next_line: 1,
            next_offset: 0,
            header: Vec::new(),
            file_size,
        };
        let Some(mut first) = r.read_records(None)? else {
            return Err(r.csv_err("the file is empty: no header".into()));
        };
        let mut skip = 0;
        if first.starts_with(BOM) {
            skip = BOM.len();
        }
        let mut split = RecordSplitter::new(1, delimiter);
        let Some(rec) = split.next(&first[skip..]) else {
            return Err(r.csv_err("the file is empty: no header".into()));
        };
        let end = skip + rec.span.end;
        r.header = rec
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                String::from_utf8(f.to_vec())
                    .map_err(|_| r.csv_err(format!("header column {} is not valid UTF-8", i + 1)))
            })
            .collect::<Result<_>>()?;
        r.next_line = 1 + count_newlines(&first[..end.min(first.len())]);
        r.next_offset = end as u64;
        let rest = first.split_off(end.min(first.len()));
        // The rest of the first read goes first.
        let mut rest = rest;
        rest.extend_from_slice(&r.carry);
        r.carry = rest;
        Ok(r)
    }

    fn csv_err(&self, what: String) -> LoaderError {
        LoaderError::Csv {
            path: self.path.clone(),
            what,
        }
    }

    /// Header names, in order.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// Size of the file in bytes.
    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// Read bytes until the buffer holds at least `chunk_size` bytes and ends on a record
    /// boundary (or the file ends). Leaves the incomplete tail in `carry`.
    fn read_records(&mut self, reuse: Option<Vec<u8>>) -> Result<Option<Vec<u8>>> {
        let mut buf = match reuse {
            Some(mut b) => {
                b.clear();
                b.extend_from_slice(&self.carry);
                self.carry.clear();
                b
            }
            None => std::mem::take(&mut self.carry),
        };
        let mut want = self.chunk_size;
        loop {
            if !self.eof && buf.len() < want {
                buf.reserve(want - buf.len());
                let start = buf.len();
                buf.resize(want, 0);
                let mut filled = start;
                while filled < want {
                    match self.file.read(&mut buf[filled..]) {
                        Ok(0) => {
                            self.eof = true;
                            break;
                        }
                        Ok(k) => filled += k,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(LoaderError::io(&self.path, e)),
                    }
                }
                buf.truncate(filled);
            }
            if self.eof {
                return Ok(if buf.is_empty() { None } else { Some(buf) });
            }
            match last_record_end(&buf, self.delimiter) {
                Some(end) => {
                    self.carry.clear();
                    self.carry.extend_from_slice(&buf[end..]);
                    buf.truncate(end);
                    return Ok(Some(buf));
                }
                None => {
                    if buf.len() > MAX_RECORD_BYTES {
                        return Err(self.csv_err(format!(
                            "a record starting at line {} is longer than {} bytes \
                             (unclosed quote?)",
                            self.next_line, MAX_RECORD_BYTES
                        )));
                    }
                    want = buf.len().saturating_mul(2).max(self.chunk_size);
                }
            }
        }
    }

    /// The next chunk of whole records, or `None` at the end of the file.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        self.next_chunk_reusing(None)
    }

    /// Like [`ChunkReader::next_chunk`], filling `reuse` (a buffer of an earlier chunk) to
    /// save allocating and faulting in a new one.
    pub fn next_chunk_reusing(&mut self, reuse: Option<Vec<u8>>) -> Result<Option<Chunk>> {
        let Some(data) = self.read_records(reuse)? else {
            return Ok(None);
        };
        let newlines = count_newlines(&data);
        let chunk = Chunk {
            index: self.next_index,
            first_line: self.next_line,
            offset: self.next_offset,
            data,
            newlines,
        };
        self.next_index += 1;
        self.next_line += newlines;
        self.next_offset += chunk.data.len() as u64;
        Ok(Some(chunk))
    }
}

fn count_newlines(b: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', b).count() as u64
}

/// Splits a buffer of CSV text into records, one call at a time, without holding on to the
/// buffer between calls: `strata load` writes each parsed row back over the text of the record
/// it came from (`bulk::batch`), so the text cannot stay borrowed while rows are built.
/// The parsing itself is `csv_core` (RFC 4180: quotes open a quoted field only at a field's
/// start, `""` is a literal quote, CR, LF and CRLF end records, blank lines are skipped, a
/// UTF-8 BOM at the very start is dropped), the same parser the csv crate wraps. It never
/// fails: every byte sequence parses as some records.
pub struct RecordSplitter {
    core: csv_core::Reader,
    first_line: u64,
    pos: usize,
    done: bool,
    out: Vec<u8>,
    ends: Vec<usize>,
}

/// One record found by a [`RecordSplitter`].
pub struct SplitRecord<'r> {
    /// Line number of the record's first line.
    pub line: u64,
    /// Parsed fields (quotes removed, `""` unescaped).
    pub fields: Fields<'r>,
    /// Where the record's raw text is in the buffer, without leading blank lines and without
    /// its terminator.
    pub raw: std::ops::Range<usize>,
    /// All the bytes the splitter consumed for this record (blank lines before it, its text
    /// and its terminator). The splitter never reads them again, so a caller may overwrite
    /// them.
    pub span: std::ops::Range<usize>,
}

/// The fields of one record.
#[derive(Clone, Copy)]
pub struct Fields<'r> {
    out: &'r [u8],
    ends: &'r [usize],
}

impl<'r> Fields<'r> {
    /// Number of fields.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the record has no fields.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Field `i`, if the record has it.
    pub fn get(&self, i: usize) -> Option<&'r [u8]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.out[start..end])
    }

    /// The fields in order.
    pub fn iter(&self) -> impl Iterator<Item = &'r [u8]> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or_default())
    }
}

impl RecordSplitter {
    /// A splitter for a buffer whose first byte is on line `first_line`.
    pub fn new(first_line: u64, delimiter: u8) -> Self {
        RecordSplitter {
            core: csv_core::ReaderBuilder::new().delimiter(delimiter).build(),
            first_line,
            pos: 0,
            done: false,
            out: vec![0; 1024],
            ends: vec![0; 32],
        }
    }

    /// The next record of `data`. Every call must pass the same buffer; bytes from the
    /// current position on must not change between calls, bytes before it may (see
    /// [`SplitRecord::span`]).
    pub fn next(&mut self, data: &[u8]) -> Option<SplitRecord<'_>> {
        use csv_core::ReadRecordResult as R;
        if self.done {
            return None;
        }
        let start = self.pos.min(data.len());
        let mut line = self.first_line + self.core.line().saturating_sub(1);
        let (mut nout, mut nend) = (0, 0);
        loop {
            let input = &data[self.pos.min(data.len())..];
            let (res, nin, o, e) =
                self.core
                    .read_record(input, &mut self.out[nout..], &mut self.ends[nend..]);
            self.pos += nin;
            nout += o;
            nend += e;
            match res {
                // An empty input tells csv_core the data ended (it then yields the last
                // record, if unterminated, and `End`).
                R::InputEmpty => continue,
                R::OutputFull => {
                    let n = self.out.len().max(1) * 2;
                    self.out.resize(n, 0);
                }
                R::OutputEndsFull => {
                    let n = self.ends.len().max(1) * 2;
                    self.ends.resize(n, 0);
                }
                R::Record => break,
                R::End => {
                    self.done = true;
                    return None;
                }
            }
        }
        let end = self.pos.min(data.len());
        let mut raw = start..end;
        // Blank lines before the record, and the LF of a CRLF ending the previous one, were
        // consumed with it: skip them, counting lines.
        while raw.start < raw.end && matches!(data[raw.start], b'\n' | b'\r') {
            line += (data[raw.start] == b'\n') as u64;
            raw.start += 1;
        }
        while raw.end > raw.start && matches!(data[raw.end - 1], b'\n' | b'\r') {
            raw.end -= 1;
        }
        Some(SplitRecord {
            line,
            fields: Fields {
                out: &self.out[..nout],
                ends: &self.ends[..nend],
            },
            raw,
            span: start..end,
        })
    }
}

/// Iterates the records of one chunk.
pub struct RecordIter<'a> {
    data: &'a [u8],
    split: RecordSplitter,
}

/// One record of a chunk.
pub struct RecordRef<'r> {
    /// Line number of the record's first line.
    pub line: u64,
    /// Parsed fields (quotes removed, `""` unescaped).
    pub fields: Fields<'r>,
    /// The record's raw bytes without its terminator.
    pub raw: &'r [u8],
}

impl<'a> RecordIter<'a> {
    /// Records of `data`, whose first byte is on line `first_line`.
    pub fn new(data: &'a [u8], first_line: u64, delimiter: u8) -> Self {
        RecordIter {
            data,
            split: RecordSplitter::new(first_line, delimiter),
        }
    }

    /// The next record.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<RecordRef<'_>> {
        let r = self.split.next(self.data)?;
        Some(RecordRef {
            line: r.line,
            fields: r.fields,
            raw: &self.data[r.raw],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_end_respects_quotes() {
        let d = b',';
        assert_eq!(last_record_end(b"a,b\nc,d\n", d), Some(8));
        assert_eq!(last_record_end(b"a,b\nc,d", d), Some(4));
        assert_eq!(last_record_end(b"a,\"x\ny\"\nc", d), Some(8));
        assert_eq!(last_record_end(b"a,\"x\ny", d), None);
        assert_eq!(last_record_end(b"a,\"x\"\nb,\"c\nd", d), Some(6));
        assert_eq!(last_record_end(b"a,\"x\"\"\ny\"\n", d), Some(10));
        // A quote inside an unquoted field is literal: the newline after it ends the record.
        assert_eq!(last_record_end(b"a,b\"c\nd", d), Some(6));
        // Ambiguous end: the trailing quote may be the first half of `""`.
        assert_eq!(last_record_end(b"x\n\"a\"", d), Some(2));
        assert_eq!(last_record_end(b"x\r\n\"a\nb\"\r\n", d), Some(10));
        assert_eq!(last_record_end(b"a;\"x\ny\"\n", b';'), Some(8));
        assert_eq!(last_record_end(b"", d), None);
    }

    #[test]
    fn records_carry_lines_and_raw_bytes() {
        let data = b"a,b\r\n\"x\ny\",\"q\"\"\"\n\nlast,1";
        let mut it = RecordIter::new(data, 10, b',');
        let mut got = Vec::new();
        while let Some(r) = it.next() {
            got.push((
                r.line,
                r.fields.iter().map(|f| f.to_vec()).collect::<Vec<_>>(),
                r.raw.to_vec(),
            ));
        }
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[0],
            (10, vec![b"a".to_vec(), b"b".to_vec()], b"a,b".to_vec())
        );
        assert_eq!(
            got[1],
            (
                11,
                vec![b"x\ny".to_vec(), b"q\"".to_vec()],
                b"\"x\ny\",\"q\"\"\"".to_vec()
            )
        );
        assert_eq!(got[2].0, 14);
        assert_eq!(got[2].2, b"last,1".to_vec());
    }

    #[test]
    fn chunks_split_on_record_boundaries_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        let mut body = b"\xEF\xBB\xBFk,v\n".to_vec();
        for i in 0..200 {
            body.extend_from_slice(format!("{i},\"multi\nline, {i}\"\n").as_bytes());
        }
        std::fs::write(&p, &body).unwrap();
        let mut r = ChunkReader::open(&p, b',', 37).unwrap();
        assert_eq!(r.header(), &["k".to_string(), "v".to_string()]);
        let mut n = 0;
        let mut chunks = 0;
        while let Some(c) = r.next_chunk().unwrap() {
            chunks += 1;
            let mut it = RecordIter::new(&c.data, c.first_line, b',');
            while let Some(rec) = it.next() {
                assert_eq!(rec.fields.len(), 2);
                assert_eq!(rec.line, 2 + 2 * n);
                assert_eq!(
                    rec.fields.get(1).unwrap(),
                    format!("multi\nline, {n}").as_bytes()
                );
                n += 1;
            }
        }
        assert_eq!(n, 200);
        assert!(chunks > 10, "{chunks} chunks");
    }
}
