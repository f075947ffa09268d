//! SSTable framing: block handles, the 9-byte block trailer, the 32-byte footer and the meta
//! block (properties, key-block index, family directory). The byte layout is specified in
//! `docs/format.md` ("SSTable"); change both together and bump [`FORMAT_VERSION`]. Files
//! of every version from [`OLDEST_FORMAT_VERSION`] on are read; the builder writes the
//! newest (or, for the frozen-format test, an older one it still knows how to write).
//!
//! This module must never accept a meta block or footer that is inconsistent (handles
//! outside the data region, indexes out of order, counts that disagree): decoding reports
//! what is wrong so the reader can fail with `Error::Corruption` at open.

#![warn(clippy::indexing_slicing)]

use std::sync::Arc;

use bytes::Bytes;

use crate::codec::{
    DecodeError, DecodeResult, Reader, put_fixed32, put_fixed64, put_len_prefixed, put_u8,
    put_varint32, put_varint64, put_zigzag64,
};
use crate::options::{Compression, DEFAULT_ZSTD_LEVEL};

use super::{FamilyProperties, TableProperties};

/// "StrataT1" read as a little-endian u64; the last 8 bytes of every table file.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"StrataT1");
/// The format version this code writes. v2 (over v1): the kinds `DeleteColumnUpTo` (4)
/// and `DeleteFamilyUpTo` (5), and in the meta block the sequence-number range of the
/// file's delete markers and each family's newest put timestamp. v3 (over v2): in each
/// family block, a value derivation per qualifier (values taken from the row key are not
/// stored; `derive.rs`). v4 (over v3): in the family directory, an optional handle of the
/// family's zstd dictionary block, and the block compression type
/// [`COMPRESSION_ZSTD_DICT`] for family blocks compressed with it.
pub(crate) const FORMAT_VERSION: u32 = 4;
/// The first format version whose family blocks carry value derivations.
pub(crate) const DERIVED_VALUES_VERSION: u32 = 3;
/// The first format version whose families may have a zstd dictionary.
pub(crate) const DICTIONARY_VERSION: u32 = 4;
/// The oldest format version this code reads.
pub(crate) const OLDEST_FORMAT_VERSION: u32 = 1;
/// meta offset u64, meta size u64, version u32, footer crc u32, magic u64.
pub(crate) const FOOTER_LEN: usize = 32;
/// compression type u8, uncompressed length u32, crc32 u32.
pub(crate) const TRAILER_LEN: usize = 9;
/// A key block stores a full key (shared = 0) every this many keys.
pub(crate) const KEY_RESTART_INTERVAL: usize = 16;
/// Upper bound of a key block's target size (smaller if a family's block size is smaller).
pub(crate) const MAX_KEY_BLOCK_SIZE: usize = 16 * 1024;

/// Block compression type byte: payload stored as is.
pub(crate) const COMPRESSION_NONE: u8 = 0;
/// Block compression type byte: payload is one zstd frame.
pub(crate) const COMPRESSION_ZSTD: u8 = 1;
/// Block compression type byte (v4 on, family blocks only): payload is one zstd frame
/// compressed with the family's dictionary in the same file (`FamilyMeta::dictionary`).
pub(crate) const COMPRESSION_ZSTD_DICT: u8 = 2;

/// Where a block's payload sits: `size` bytes at `offset`, followed by the trailer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct BlockHandle {
    pub offset: u64,
    pub size: u64,
}

impl BlockHandle {
    pub fn encode(&self, buf: &mut Vec<u8>) {
        put_varint64(buf, self.offset);
        put_varint64(buf, self.size);
    }

    pub fn decode(r: &mut Reader<'_>) -> DecodeResult<BlockHandle> {
        Ok(BlockHandle {
            offset: r.varint64()?,
            size: r.varint64()?,
        })
    }

    /// First byte after the block's trailer, or `None` on overflow.
    pub fn end(&self) -> Option<u64> {
        self.offset
            .checked_add(self.size)?
            .checked_add(TRAILER_LEN as u64)
    }
}

/// CRC-32 (IEEE) over the payload, the compression type and the uncompressed length.
pub(crate) fn block_crc(payload: &[u8], ctype: u8, ulen: u32) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(payload);
    h.update(&[ctype]);
    h.update(&ulen.to_le_bytes());
    h.finalize()
}

/// The trailer that follows a payload on disk.
pub(crate) fn encode_trailer(payload: &[u8], ctype: u8, ulen: u32) -> [u8; TRAILER_LEN] {
    let mut t = [0u8; TRAILER_LEN];
    t[0] = ctype;
    t[1..5].copy_from_slice(&ulen.to_le_bytes());
    t[5..9].copy_from_slice(&block_crc(payload, ctype, ulen).to_le_bytes());
    t
}

/// The fixed footer at the end of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Footer {
    pub meta: BlockHandle,
    pub version: u32,
}

impl Footer {
    pub fn encode(&self) -> [u8; FOOTER_LEN] {
        let mut b = Vec::with_capacity(FOOTER_LEN);
        put_fixed64(&mut b, self.meta.offset);
        put_fixed64(&mut b, self.meta.size);
        put_fixed32(&mut b, self.version);
        let crc = crc32fast::hash(&b);
        put_fixed32(&mut b, crc);
        put_fixed64(&mut b, MAGIC);
        let mut out = [0u8; FOOTER_LEN];
        out.copy_from_slice(&b);
        out
    }

    /// Parse and check magic, checksum and version (in that order, so a file that is not a
    /// table at all reports the magic).
    pub fn decode(b: &[u8]) -> Result<Footer, String> {
        let mut r = Reader::new(b);
        let err = |e: DecodeError| format!("footer: {e}");
        let meta_offset = r.fixed64().map_err(err)?;
        let meta_size = r.fixed64().map_err(err)?;
        let version = r.fixed32().map_err(err)?;
        let crc = r.fixed32().map_err(err)?;
        let magic = r.fixed64().map_err(err)?;
        if magic != MAGIC {
            // The value is not printed: it is 8 bytes of whatever file this is.
            return Err("bad magic: not a Strata table file, or truncated".into());
        }
        let computed = b.get(..20).map(crc32fast::hash);
        if computed != Some(crc) {
            return Err(format!("footer checksum mismatch (stored {crc:#010x})"));
        }
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(format!(
                "unsupported format version {version} (this build reads \
                 {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION})"
            ));
        }
        Ok(Footer {
            meta: BlockHandle {
                offset: meta_offset,
                size: meta_size,
            },
            version,
        })
    }
}

/// One key block in the index: ordinal of its first row, its last row key, where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KeyIndexEntry {
    pub first_ordinal: u64,
    pub last_key: Bytes,
    pub handle: BlockHandle,
}

/// One family block in a family's index: the row ordinals of its first and last cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FamilyIndexEntry {
    pub first_ordinal: u64,
    pub last_ordinal: u64,
    pub handle: BlockHandle,
}

/// A family's entry in the directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FamilyMeta {
    pub props: FamilyProperties,
    pub compression: Compression,
    pub bloom_filter: bool,
    pub block_size: u32,
    /// v4 on: the family's zstd dictionary block (stored raw), which its blocks of
    /// compression type [`COMPRESSION_ZSTD_DICT`] were compressed with.
    pub dictionary: Option<BlockHandle>,
    pub index: Vec<FamilyIndexEntry>,
}

/// Everything the meta block holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Meta {
    /// `format_version`, `file_size` and `families` are not stored here: they come from the
    /// footer, the file length and the family directory.
    pub props: TableProperties,
    pub bloom: Option<BlockHandle>,
    pub key_index: Vec<KeyIndexEntry>,
    pub families: Vec<FamilyMeta>,
}

impl Meta {
    /// Encode in format `version` (v1 leaves out what v2 added).
    pub fn encode(&self, buf: &mut Vec<u8>, version: u32) {
        let v2 = version >= 2;
        let p = &self.props;
        put_varint64(buf, p.rows);
        put_varint64(buf, p.cells);
        put_varint64(buf, p.deletes);
        put_len_prefixed(buf, &p.smallest_row);
        put_len_prefixed(buf, &p.largest_row);
        put_zigzag64(buf, p.min_ts);
        put_zigzag64(buf, p.max_ts);
        put_varint64(buf, p.min_seq);
        put_varint64(buf, p.max_seq);
        if v2 {
            put_varint64(buf, p.min_marker_seq);
            put_varint64(buf, p.max_marker_seq);
        }
        match &self.bloom {
            None => put_u8(buf, 0),
            Some(h) => {
                put_u8(buf, 1);
                h.encode(buf);
            }
        }
        put_varint64(buf, self.key_index.len() as u64);
        for e in &self.key_index {
            put_varint64(buf, e.first_ordinal);
            put_len_prefixed(buf, &e.last_key);
            e.handle.encode(buf);
        }
        put_varint64(buf, self.families.len() as u64);
        for f in &self.families {
            put_len_prefixed(buf, f.props.name.as_bytes());
            match f.compression {
                Compression::None => {
                    put_u8(buf, COMPRESSION_NONE);
                    put_zigzag64(buf, 0);
                }
                Compression::Zstd(level) => {
                    put_u8(buf, COMPRESSION_ZSTD);
                    put_zigzag64(buf, i64::from(level));
                }
            }
            put_u8(buf, u8::from(f.bloom_filter));
            put_varint32(buf, f.block_size);
            put_varint64(buf, f.props.cells);
            put_varint64(buf, f.props.deletes);
            put_varint64(buf, f.props.blocks);
            put_varint64(buf, f.props.stored_bytes);
            put_varint64(buf, f.props.raw_bytes);
            if v2 {
                put_zigzag64(buf, f.props.max_put_ts);
            }
            if version >= DICTIONARY_VERSION {
                match &f.dictionary {
                    None => put_u8(buf, 0),
                    Some(h) => {
                        put_u8(buf, 1);
                        h.encode(buf);
                    }
                }
            }
            put_varint64(buf, f.index.len() as u64);
            let mut prev_last = 0u64;
            for e in &f.index {
                put_varint64(buf, e.first_ordinal - prev_last);
                put_varint64(buf, e.last_ordinal - e.first_ordinal);
                e.handle.encode(buf);
                prev_last = e.last_ordinal;
            }
        }
    }

    /// Decode and validate a meta block of format `version`. `data_end` is the meta
    /// block's offset: every other block must end at or before it. Errors carry a
    /// description for `Error::Corruption`.
    pub fn decode(b: &[u8], data_end: u64, version: u32) -> Result<Meta, String> {
        Self::decode_inner(b, data_end, version).map_err(|e| match e {
            MetaError::Decode(d) => format!("meta block: {d}"),
            MetaError::Invalid(s) => format!("meta block: {s}"),
        })
    }

    fn decode_inner(b: &[u8], data_end: u64, version: u32) -> Result<Meta, MetaError> {
        let v2 = version >= 2;
        let mut r = Reader::new(b);
        let rows = r.varint64()?;
        let cells = r.varint64()?;
        let deletes = r.varint64()?;
        let smallest_row = r.len_prefixed()?.to_vec();
        let largest_row = r.len_prefixed()?.to_vec();
        let min_ts = r.zigzag64()?;
        let max_ts = r.zigzag64()?;
        let min_seq = r.varint64()?;
        let max_seq = r.varint64()?;
        let (min_marker_seq, max_marker_seq) = if v2 {
            (r.varint64()?, r.varint64()?)
        } else {
            (0, 0)
        };
        let check_handle = |h: &BlockHandle, what: &str| -> Result<(), MetaError> {
            match h.end() {
                Some(end) if end <= data_end => Ok(()),
                _ => Err(MetaError::Invalid(format!(
                    "{what} handle (offset {}, size {}) runs past the data region ending at {data_end}",
                    h.offset, h.size
                ))),
            }
        };
        let bloom = match r.u8()? {
            0 => None,
            1 => {
                let h = BlockHandle::decode(&mut r)?;
                check_handle(&h, "bloom")?;
                Some(h)
            }
            _ => return Err(MetaError::Invalid("bad bloom presence flag".into())),
        };
        let nkeys = r.varint_usize()?;
        if nkeys > r.remaining() {
            return Err(MetaError::Invalid(
                "key index count exceeds meta size".into(),
            ));
        }
        let mut key_index: Vec<KeyIndexEntry> = Vec::with_capacity(nkeys);
        for i in 0..nkeys {
            let first_ordinal = r.varint64()?;
            let last_key = Bytes::copy_from_slice(r.len_prefixed()?);
            let handle = BlockHandle::decode(&mut r)?;
            check_handle(&handle, "key block")?;
            let ok = match key_index.last() {
                None => first_ordinal == 0,
                Some(prev) => first_ordinal > prev.first_ordinal && last_key > prev.last_key,
            };
            if !ok || first_ordinal >= rows {
                return Err(MetaError::Invalid(format!(
                    "key index entry {i} out of order or out of range"
                )));
            }
            key_index.push(KeyIndexEntry {
                first_ordinal,
                last_key,
                handle,
            });
        }
        if (rows == 0) != key_index.is_empty() {
            return Err(MetaError::Invalid(format!(
                "{rows} rows but {} key blocks",
                key_index.len()
            )));
        }
        let nfam = r.varint_usize()?;
        if nfam > r.remaining() {
            return Err(MetaError::Invalid("family count exceeds meta size".into()));
        }
        let mut families: Vec<FamilyMeta> = Vec::with_capacity(nfam);
        let (mut sum_cells, mut sum_deletes) = (0u64, 0u64);
        for _ in 0..nfam {
            let name = std::str::from_utf8(r.len_prefixed()?)
                .map_err(|_| MetaError::Invalid("family name is not UTF-8".into()))?;
            if let Some(prev) = families.last()
                && prev.props.name.as_bytes() >= name.as_bytes()
            {
                return Err(MetaError::Invalid(format!(
                    "family {name:?} out of order in the directory"
                )));
            }
            let name: Arc<str> = Arc::from(name);
            let ctype = r.u8()?;
            let level = i32::try_from(r.zigzag64()?)
                .map_err(|_| MetaError::Invalid("compression level out of range".into()))?;
            let compression = match ctype {
                COMPRESSION_NONE => Compression::None,
                COMPRESSION_ZSTD => Compression::Zstd(if level == 0 {
                    DEFAULT_ZSTD_LEVEL
                } else {
                    level
                }),
                _ => {
                    return Err(MetaError::Invalid(format!(
                        "family {name}: unknown compression {ctype}"
                    )));
                }
            };
            let bloom_filter = match r.u8()? {
                0 => false,
                1 => true,
                _ => return Err(MetaError::Invalid("bad bloom flag".into())),
            };
            let block_size = r.varint32()?;
            let props = FamilyProperties {
                name: name.clone(),
                cells: r.varint64()?,
                deletes: r.varint64()?,
                blocks: r.varint64()?,
                stored_bytes: r.varint64()?,
                raw_bytes: r.varint64()?,
                max_put_ts: if v2 { r.zigzag64()? } else { i64::MIN },
            };
            let dictionary = if version >= DICTIONARY_VERSION {
                match r.u8()? {
                    0 => None,
                    1 => {
                        let h = BlockHandle::decode(&mut r)?;
                        check_handle(&h, "dictionary")?;
                        Some(h)
                    }
                    _ => {
                        return Err(MetaError::Invalid(format!(
                            "family {name}: bad dictionary presence flag"
                        )));
                    }
                }
            } else {
                None
            };
            let nblocks = r.varint_usize()?;
            if nblocks as u64 != props.blocks || nblocks > r.remaining() {
                return Err(MetaError::Invalid(format!(
                    "family {name}: {nblocks} index entries for {} blocks",
                    props.blocks
                )));
            }
            let mut index = Vec::with_capacity(nblocks);
            let mut prev_last = 0u64;
            for i in 0..nblocks {
                let first_ordinal = prev_last
                    .checked_add(r.varint64()?)
                    .ok_or_else(|| MetaError::Invalid("ordinal overflow".into()))?;
                let last_ordinal = first_ordinal
                    .checked_add(r.varint64()?)
                    .ok_or_else(|| MetaError::Invalid("ordinal overflow".into()))?;
                if last_ordinal >= rows {
                    return Err(MetaError::Invalid(format!(
                        "family {name}: block {i} ends at row ordinal {last_ordinal} of {rows}"
                    )));
                }
                let handle = BlockHandle::decode(&mut r)?;
                check_handle(&handle, "family block")?;
                index.push(FamilyIndexEntry {
                    first_ordinal,
                    last_ordinal,
                    handle,
                });
                prev_last = last_ordinal;
            }
            sum_cells = sum_cells.saturating_add(props.cells);
            sum_deletes = sum_deletes.saturating_add(props.deletes);
            families.push(FamilyMeta {
                props,
                compression,
                bloom_filter,
                block_size,
                dictionary,
                index,
            });
        }
        r.expect_end("trailing bytes after the family directory")?;
        if sum_cells != cells || sum_deletes != deletes {
            return Err(MetaError::Invalid(format!(
                "file counts ({cells} cells, {deletes} deletes) disagree with the families' \
                 ({sum_cells}, {sum_deletes})"
            )));
        }
        let mut meta = Meta {
            props: TableProperties {
                format_version: version,
                rows,
                cells,
                deletes,
                file_size: 0,
                smallest_row,
                largest_row,
                min_ts,
                max_ts,
                min_seq,
                max_seq,
                min_marker_seq,
                max_marker_seq,
                families: Vec::new(),
            },
            bloom,
            key_index,
            families,
        };
        if !v2 {
            derive_v1_properties(&mut meta.props, &mut meta.families);
        }
        meta.props.families = meta.families.iter().map(|f| f.props.clone()).collect();
        Ok(meta)
    }
}

/// What a v1 file does not record, bounded from what it does: its markers may have any of
/// its sequence numbers, and a family with puts may have one as new as the file's newest
/// timestamp.
pub(crate) fn derive_v1_properties(props: &mut TableProperties, families: &mut [FamilyMeta]) {
    (props.min_marker_seq, props.max_marker_seq) = if props.deletes > 0 {
        (props.min_seq, props.max_seq)
    } else {
        (0, 0)
    };
    for f in families {
        f.props.max_put_ts = if f.props.cells > f.props.deletes {
            props.max_ts
        } else {
            i64::MIN
        };
    }
}

enum MetaError {
    Decode(DecodeError),
    Invalid(String),
}

impl From<DecodeError> for MetaError {
    fn from(e: DecodeError) -> Self {
        MetaError::Decode(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footer_round_trips_and_checks_magic_crc_version() {
        let f = Footer {
            meta: BlockHandle {
                offset: 1234,
                size: 56,
            },
            version: FORMAT_VERSION,
        };
        let b = f.encode();
        assert_eq!(Footer::decode(&b).unwrap(), f);
        let mut bad = b;
        bad[31] ^= 1;
        assert!(Footer::decode(&bad).unwrap_err().contains("magic"));
        let mut bad = b;
        bad[3] ^= 1;
        assert!(Footer::decode(&bad).unwrap_err().contains("checksum"));
        let v1 = Footer { version: 1, ..f }.encode();
        assert_eq!(Footer::decode(&v1).unwrap().version, 1);
        for bad in [0, FORMAT_VERSION + 1] {
            let b = Footer { version: bad, ..f }.encode();
            assert!(Footer::decode(&b).unwrap_err().contains("version"));
        }
        assert!(Footer::decode(&b[..20]).is_err());
    }

    #[test]
    fn trailer_crc_covers_type_and_length() {
        let t = encode_trailer(b"abc", COMPRESSION_NONE, 3);
        assert_ne!(
            block_crc(b"abc", COMPRESSION_ZSTD, 3),
            block_crc(b"abc", 0, 3)
        );
        assert_ne!(block_crc(b"abc", 0, 4), block_crc(b"abc", 0, 3));
        assert_eq!(
            u32::from_le_bytes([t[5], t[6], t[7], t[8]]),
            block_crc(b"abc", 0, 3)
        );
    }

    fn sample_meta() -> Meta {
        let h = |o| BlockHandle {
            offset: o,
            size: 10,
        };
        let fam = |name: &str, blocks: Vec<FamilyIndexEntry>, cells, dictionary| FamilyMeta {
            props: FamilyProperties {
                name: Arc::from(name),
                cells,
                deletes: 1,
                blocks: blocks.len() as u64,
                stored_bytes: 40,
                raw_bytes: 90,
                max_put_ts: 77,
            },
            compression: Compression::Zstd(5),
            bloom_filter: true,
            block_size: 4096,
            dictionary,
            index: blocks,
        };
        let families = vec![
            fam(
                "a",
                vec![
                    FamilyIndexEntry {
                        first_ordinal: 0,
                        last_ordinal: 3,
                        handle: h(0),
                    },
                    FamilyIndexEntry {
                        first_ordinal: 3,
                        last_ordinal: 4,
                        handle: h(19),
                    },
                ],
                7,
                Some(h(38)),
            ),
            fam("b", vec![], 0, None),
        ];
        Meta {
            props: TableProperties {
                format_version: FORMAT_VERSION,
                rows: 5,
                cells: 7,
                deletes: 2,
                file_size: 0,
                smallest_row: b"r0".to_vec(),
                largest_row: b"r4".to_vec(),
                min_ts: -5,
                max_ts: 99,
                min_seq: 1,
                max_seq: 8,
                min_marker_seq: 3,
                max_marker_seq: 6,
                families: families.iter().map(|f| f.props.clone()).collect(),
            },
            bloom: Some(h(38)),
            key_index: vec![
                KeyIndexEntry {
                    first_ordinal: 0,
                    last_key: Bytes::from_static(b"r2"),
                    handle: h(57),
                },
                KeyIndexEntry {
                    first_ordinal: 3,
                    last_key: Bytes::from_static(b"r4"),
                    handle: h(76),
                },
            ],
            families,
        }
    }

    #[test]
    fn meta_round_trips_and_rejects_inconsistencies() {
        let m = sample_meta();
        let mut b = Vec::new();
        m.encode(&mut b, FORMAT_VERSION);
        assert_eq!(Meta::decode(&b, 95, FORMAT_VERSION).unwrap(), m);
        // A handle beyond the data region.
        assert!(
            Meta::decode(&b, 94, FORMAT_VERSION)
                .unwrap_err()
                .contains("runs past")
        );
        // Trailing garbage.
        let mut t = b.clone();
        t.push(0);
        assert!(Meta::decode(&t, 95, FORMAT_VERSION).is_err());
        // Every truncation fails cleanly.
        for n in 0..b.len() {
            assert!(
                Meta::decode(&b[..n], 95, FORMAT_VERSION).is_err(),
                "prefix {n} accepted"
            );
        }
        // Counts that disagree.
        let mut m2 = sample_meta();
        m2.props.cells = 8;
        let mut b2 = Vec::new();
        m2.encode(&mut b2, FORMAT_VERSION);
        assert!(
            Meta::decode(&b2, 95, FORMAT_VERSION)
                .unwrap_err()
                .contains("disagree")
        );
    }

    #[test]
    fn a_v1_meta_block_reads_with_bounds_for_what_it_lacks() {
        let m = sample_meta();
        let mut v1 = Vec::new();
        m.encode(&mut v1, 1);
        let mut v2 = Vec::new();
        m.encode(&mut v2, 2);
        assert!(v1.len() < v2.len());
        // A v1 block is not a v2 one (and the other way round).
        assert!(Meta::decode(&v1, 95, 2).is_err());
        let got = Meta::decode(&v1, 95, 1).unwrap();
        assert_eq!(got.props.format_version, 1);
        // Markers may have any of the file's sequence numbers; families with puts may be
        // as new as the file.
        assert_eq!((got.props.min_marker_seq, got.props.max_marker_seq), (1, 8));
        assert_eq!(got.props.families[0].max_put_ts, 99);
        assert_eq!(got.props.families[1].max_put_ts, i64::MIN);
        let mut again = Vec::new();
        got.encode(&mut again, 1);
        assert_eq!(again, v1);
    }

    #[test]
    fn a_v3_meta_block_has_no_dictionaries_and_a_v4_one_keeps_them() {
        let m = sample_meta();
        let mut v3 = Vec::new();
        m.encode(&mut v3, 3);
        let mut v4 = Vec::new();
        m.encode(&mut v4, 4);
        // One presence byte per family, plus family a's handle.
        assert!(v4.len() > v3.len() + 2);
        assert!(Meta::decode(&v3, 95, 4).is_err());
        assert!(Meta::decode(&v4, 95, 3).is_err());
        let got3 = Meta::decode(&v3, 95, 3).unwrap();
        assert!(got3.families.iter().all(|f| f.dictionary.is_none()));
        let got4 = Meta::decode(&v4, 95, 4).unwrap();
        assert_eq!(got4.families[0].dictionary, m.families[0].dictionary);
        assert_eq!(got4.families[1].dictionary, None);
        // A bad presence byte is named: it is where the encodings with and without family
        // a's dictionary first differ.
        let mut none = m.clone();
        none.families[0].dictionary = None;
        let mut b0 = Vec::new();
        none.encode(&mut b0, 4);
        let mut b = v4.clone();
        let flag_at = b.iter().zip(&b0).position(|(x, y)| x != y).unwrap();
        assert_eq!((b[flag_at], b0[flag_at]), (1, 0));
        b[flag_at] = 7;
        assert!(
            Meta::decode(&b, 95, 4)
                .unwrap_err()
                .contains("dictionary presence")
        );
    }
}
