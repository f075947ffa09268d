//! Rejected rows: what a reject is and the rejects file. Owns the file format
//! `line<TAB>reason<TAB>raw record` (one reject per line; in reason and raw, `\` tab CR LF are
//! written as `\\` `\t` `\r` `\n`, so a multi-line record stays on one line).
//! It must never decide whether a row is rejected; the parser does.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{LoaderError, Result};

/// One rejected CSV record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    /// 1-based line number of the record's first line in the input file.
    pub line: u64,
    /// Why it was rejected.
    pub reason: String,
    /// The record's raw bytes as in the file, without its line terminator.
    pub raw: Vec<u8>,
}

/// Appends rejects to a file, counting them.
#[derive(Debug)]
pub struct RejectWriter {
    path: Option<PathBuf>,
    out: Option<BufWriter<File>>,
    count: u64,
}

fn push_escaped(out: &mut Vec<u8>, b: &[u8]) {
    for &c in b {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(c),
        }
    }
}

/// Format one reject as its line in the rejects file (with the trailing newline).
pub fn format_reject(r: &Reject) -> Vec<u8> {
    let mut out = Vec::with_capacity(r.raw.len() + r.reason.len() + 24);
    out.extend_from_slice(itoa::Buffer::new().format(r.line).as_bytes());
    out.push(b'\t');
    push_escaped(&mut out, r.reason.as_bytes());
    out.push(b'\t');
    push_escaped(&mut out, &r.raw);
    out.push(b'\n');
    out
}

impl RejectWriter {
    /// A writer to `path` (created or truncated now), or one that only counts.
    pub fn new(path: Option<&Path>) -> Result<Self> {
        let out = match path {
            Some(p) => Some(BufWriter::new(
                File::create(p).map_err(|e| LoaderError::io(p, e))?,
            )),
            None => None,
        };
        Ok(RejectWriter {
            path: path.map(Path::to_path_buf),
            out,
            count: 0,
        })
    }

    /// Record one reject.
    pub fn write(&mut self, r: &Reject) -> Result<()> {
        self.count += 1;
        if let (Some(out), Some(p)) = (self.out.as_mut(), self.path.as_ref()) {
            out.write_all(&format_reject(r))
                .map_err(|e| LoaderError::io(p, e))?;
        }
        Ok(())
    }

    /// Rejects so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Flush the file.
    pub fn flush(&mut self) -> Result<()> {
        if let (Some(out), Some(p)) = (self.out.as_mut(), self.path.as_ref()) {
            out.flush().map_err(|e| LoaderError::io(p, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_is_one_line_with_escapes() {
        let r = Reject {
            line: 7,
            reason: "expected 3 fields, found 2".into(),
            raw: b"a,\"x\ny\"\tz\\".to_vec(),
        };
        assert_eq!(
            format_reject(&r),
            b"7\texpected 3 fields, found 2\ta,\"x\\ny\"\\tz\\\\\n".to_vec()
        );
    }
}
