//! `BlockWriter`: compresses one block payload (zstd at the family's level, kept only when it
//! saves space), appends the 9-byte trailer (compression type, uncompressed length,
//! checksum) and writes it, reusing zstd contexts and buffers across blocks. Family blocks
//! of a family with a dictionary (`dictionary.rs`) compress with it instead.
//!
//! This module must never write a block whose trailer does not describe its bytes.

use std::path::Path;

use crate::error::{Error, Result};
use crate::fs::WritableFile;
use crate::options::{Compression, DEFAULT_ZSTD_LEVEL};
use crate::sstable::format::{
    BlockHandle, COMPRESSION_NONE, COMPRESSION_ZSTD, COMPRESSION_ZSTD_DICT, TRAILER_LEN,
    encode_trailer,
};
use zstd::zstd_safe::{CCtx, CDict};

/// Compresses and writes blocks, reusing zstd contexts and buffers.
pub(super) struct BlockWriter {
    compressors: Vec<(i32, zstd::bulk::Compressor<'static>)>,
    /// The context for blocks compressed with a dictionary (the dictionary comes per call).
    dict_cctx: Option<CCtx<'static>>,
    /// The uncompressed payload of the block being written.
    pub(super) payload: Vec<u8>,
    /// Compressed payload + trailer.
    out: Vec<u8>,
}

impl BlockWriter {
    pub(super) fn new() -> Self {
        BlockWriter {
            compressors: Vec::new(),
            dict_cctx: None,
            payload: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Write `self.payload` as one block; returns its handle and bytes on disk.
    pub(super) fn write(
        &mut self,
        file: &mut dyn WritableFile,
        path: &Path,
        compression: Compression,
    ) -> Result<(BlockHandle, u64)> {
        self.write_compressed(file, path, compression, None)
    }

    /// [`BlockWriter::write`] of a family block compressed with its family's dictionary
    /// (compression type `COMPRESSION_ZSTD_DICT`, or raw when that does not save space).
    pub(super) fn write_with_dictionary(
        &mut self,
        file: &mut dyn WritableFile,
        path: &Path,
        dict: &CDict<'_>,
    ) -> Result<(BlockHandle, u64)> {
        self.write_compressed(file, path, Compression::None, Some(dict))
    }

    fn write_compressed(
        &mut self,
        file: &mut dyn WritableFile,
        path: &Path,
        compression: Compression,
        dict: Option<&CDict<'_>>,
    ) -> Result<(BlockHandle, u64)> {
        let ulen = u32::try_from(self.payload.len()).map_err(|_| {
            Error::InvalidArgument(format!(
                "{}: a block of {} bytes exceeds the 4 GiB block limit",
                path.display(),
                self.payload.len()
            ))
        })?;
        let mut ctype = COMPRESSION_NONE;
        self.out.clear();
        if let Compression::Zstd(level) = compression {
            let level = if level == 0 {
                DEFAULT_ZSTD_LEVEL
            } else {
                level
            };
            let pos = match self.compressors.iter().position(|(l, _)| *l == level) {
                Some(p) => p,
                None => {
                    let c = zstd::bulk::Compressor::new(level).map_err(|e| Error::io(path, e))?;
                    self.compressors.push((level, c));
                    self.compressors.len() - 1
                }
            };
            if let Some((_, c)) = self.compressors.get_mut(pos) {
                self.out
                    .reserve(zstd::zstd_safe::compress_bound(self.payload.len()) + TRAILER_LEN);
                let n = c
                    .compress_to_buffer(&self.payload[..], &mut self.out)
                    .map_err(|e| Error::io(path, e))?;
                // Keep the compressed form only when it saves space.
                if n < self.payload.len() {
                    ctype = COMPRESSION_ZSTD;
                } else {
                    self.out.clear();
                }
            }
        }
        if let Some(dict) = dict {
            if self.dict_cctx.is_none() {
                self.dict_cctx = Some(CCtx::try_create().ok_or_else(|| {
                    Error::io(path, std::io::Error::other("zstd could not make a context"))
                })?);
            }
            if let Some(cctx) = self.dict_cctx.as_mut() {
                self.out
                    .reserve(zstd::zstd_safe::compress_bound(self.payload.len()) + TRAILER_LEN);
                let n = cctx
                    .compress_using_cdict(&mut self.out, &self.payload, dict)
                    .map_err(|code| {
                        let msg = zstd::zstd_safe::get_error_name(code);
                        Error::io(path, std::io::Error::other(msg))
                    })?;
                if n < self.payload.len() {
                    ctype = COMPRESSION_ZSTD_DICT;
                } else {
                    self.out.clear();
                }
            }
        }
        if ctype == COMPRESSION_NONE {
            self.out.extend_from_slice(&self.payload);
        }
        let size = self.out.len() as u64;
        let trailer = encode_trailer(&self.out, ctype, ulen);
        self.out.extend_from_slice(&trailer);
        let handle = BlockHandle {
            offset: file.len(),
            size,
        };
        file.append(&self.out).map_err(|e| Error::io(path, e))?;
        Ok((handle, self.out.len() as u64))
    }
}
