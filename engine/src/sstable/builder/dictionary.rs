//! A family's zstd dictionary while its table file is built (format v4): the family's first
//! blocks are held back, a dictionary is trained on them (zstd's own trainer), written once
//! as a raw block, and every block of the family from then on (the held ones first, in
//! order) is compressed with it.
//!
//! Why: a 4 KiB family block compressed alone pays zstd's entropy tables in every frame,
//! on disk and in every decompression (docs/design/read-path.md section 4). With a
//! dictionary trained on the file's own blocks, the frames reuse the dictionary's tables:
//! measured on the clickstream table's 4 KiB blocks, 31-38% fewer bytes, compression about
//! twice as fast and decompression 1.4-1.7x as fast; on 16 and 64 KiB blocks it gained
//! nothing or lost (docs/design/block-dictionary.md). So only families with small blocks
//! get one.
//!
//! This module must never change what a block decodes to: a dictionary that zstd cannot
//! train or load leaves the family without one (its blocks compress as before), and a block
//! is compressed with the dictionary only after the dictionary block is in the file.

use std::path::Path;

use zstd::zstd_safe::CDict;

use crate::error::Result;
use crate::fs::WritableFile;
use crate::options::{Compression, DEFAULT_ZSTD_LEVEL, FamilyOptions};
use crate::sstable::format::BlockHandle;

use super::block_writer::BlockWriter;

/// Families whose block size is at most this get a dictionary.
pub(crate) const DICTIONARY_MAX_BLOCK_SIZE: u32 = 8 * 1024;
/// Blocks held back and trained on (64 KiB of samples at 4 KiB blocks: measured as good as
/// 128 blocks, at half the training time). A family with fewer blocks in the file gets no
/// dictionary: it would cost more bytes than it saves.
pub(crate) const DICTIONARY_SAMPLE_BLOCKS: usize = 16;
/// Largest dictionary trained.
pub(crate) const DICTIONARY_MAX_BYTES: usize = 8 * 1024;
/// The trainer's parameters (zstd's fastCover): segments of `k` bytes, d-mers of `d`
/// bytes, a frequency table of 2^`f` entries. Fixed, never searched; see
/// [`train_dictionary`].
const TRAIN_K: u32 = 1024;
const TRAIN_D: u32 = 8;
const TRAIN_F: u32 = 14;

/// One family block waiting for its family's dictionary: its uncompressed payload and the
/// row ordinals it covers.
pub(super) struct HeldBlock {
    pub payload: Vec<u8>,
    pub first: u64,
    pub last: u64,
}

/// What `Dictionary::train` hands back: the held blocks, to be written next in order, and
/// the dictionary block's handle and stored bytes when one was written.
pub(super) type Trained = (Vec<HeldBlock>, Option<(BlockHandle, u64)>);

/// Where a family is with its dictionary.
pub(super) enum Dictionary {
    /// No dictionary in this file: blocks compress alone.
    Off,
    /// Blocks held back until there are enough to train on.
    Sampling(Vec<HeldBlock>),
    /// Trained and written: blocks compress with it.
    On(CDict<'static>),
}

impl Dictionary {
    /// The state a family starts in: sampling when its blocks are small and zstd-compressed
    /// and the format has dictionaries.
    pub(super) fn for_family(opts: &FamilyOptions, format_has_dictionaries: bool) -> Self {
        let small = opts.block_size <= DICTIONARY_MAX_BLOCK_SIZE;
        let zstd = matches!(opts.compression, Compression::Zstd(_));
        if format_has_dictionaries && small && zstd {
            Dictionary::Sampling(Vec::with_capacity(DICTIONARY_SAMPLE_BLOCKS))
        } else {
            Dictionary::Off
        }
    }

    /// Uncompressed bytes of the held blocks (what `estimated_size` adds).
    pub(super) fn held_bytes(&self) -> usize {
        match self {
            Dictionary::Sampling(held) => held.iter().map(|b| b.payload.len()).sum(),
            _ => 0,
        }
    }

    /// Train on the held blocks and, when zstd can, write the dictionary block: returns
    /// the held blocks (to be written next, in order) and the dictionary block's handle
    /// and stored bytes, if one was written. Afterwards the state is `On` or `Off`.
    pub(super) fn train(
        &mut self,
        writer: &mut BlockWriter,
        file: &mut dyn WritableFile,
        path: &Path,
        compression: Compression,
    ) -> Result<Trained> {
        let held = match std::mem::replace(self, Dictionary::Off) {
            Dictionary::Sampling(held) => held,
            other => {
                *self = other;
                return Ok((Vec::new(), None));
            }
        };
        let level = match compression {
            Compression::Zstd(0) => DEFAULT_ZSTD_LEVEL,
            Compression::Zstd(l) => l,
            Compression::None => return Ok((held, None)),
        };
        let Some(dict) = train_dictionary(&held) else {
            // Too little or too uniform input to train on: no dictionary.
            return Ok((held, None));
        };
        let Some(cdict) = CDict::try_create(&dict, level) else {
            return Ok((held, None));
        };
        writer.payload.clear();
        writer.payload.extend_from_slice(&dict);
        let written = writer.write(file, path, Compression::None)?;
        *self = Dictionary::On(cdict);
        Ok((held, Some(written)))
    }
}

/// A dictionary of at most [`DICTIONARY_MAX_BYTES`] trained on the held blocks' payloads,
/// or `None` when zstd cannot train one on them.
///
/// Written against zstd-sys rather than `zstd::dict::from_samples` because that one runs
/// `ZDICT_optimizeTrainFromBuffer_fastCover`, which tries four segment sizes, each with a
/// 2^20-entry table: measured 10 ms per 16 samples of 4 KiB, against 0.6 ms for one fixed
/// parameter set at f = 14 with the same compression ratio (docs/design/block-dictionary.md).
/// The zstd crate does not wrap the parameterised trainer. The parameters are constants,
/// and the trainer is single-threaded, so the dictionary is a pure function of the samples:
/// a file rebuilt from its cells comes out byte for byte the same.
fn train_dictionary(held: &[HeldBlock]) -> Option<Vec<u8>> {
    let mut flat = Vec::with_capacity(held.iter().map(|b| b.payload.len()).sum());
    let mut sizes = Vec::with_capacity(held.len());
    for b in held {
        flat.extend_from_slice(&b.payload);
        sizes.push(b.payload.len());
    }
    let mut dict = vec![0u8; DICTIONARY_MAX_BYTES];
    let params = zstd_sys::ZDICT_fastCover_params_t {
        k: TRAIN_K,
        d: TRAIN_D,
        f: TRAIN_F,
        steps: 0,
        nbThreads: 0,
        splitPoint: 1.0,
        accel: 1,
        shrinkDict: 0,
        shrinkDictMaxRegression: 0,
        zParams: zstd_sys::ZDICT_params_t {
            compressionLevel: 0,
            notificationLevel: 0,
            dictID: 0,
        },
    };
    let samples = u32::try_from(sizes.len()).ok()?;
    // SAFETY: `dict` is a writable buffer of `dict.len()` bytes; `flat` holds exactly the
    // sum of `sizes` bytes and `sizes` has `samples` entries; the trainer reads only those,
    // writes at most `dict.len()` bytes into `dict`, keeps no pointer after returning, and
    // takes `params` by value.
    let n = unsafe {
        zstd_sys::ZDICT_trainFromBuffer_fastCover(
            dict.as_mut_ptr().cast(),
            dict.len(),
            flat.as_ptr().cast(),
            sizes.as_ptr(),
            samples,
            params,
        )
    };
    // SAFETY: `ZDICT_isError` only inspects the integer it is given.
    if unsafe { zstd_sys::ZDICT_isError(n) } != 0 || n > dict.len() {
        return None;
    }
    dict.truncate(n);
    Some(dict)
}
