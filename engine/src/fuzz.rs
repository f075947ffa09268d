//! What the fuzz harnesses share (issue 10, item 10a): the case count and seed they run with,
//! the ways a file gets damaged (bit flips, overwritten and zeroed bytes, truncations,
//! inserted and removed bytes, length fields that lie), and the committed corpus each harness
//! starts from. The harnesses themselves are test files, one per decoder (WAL segments,
//! SSTables, the manifest, CSV rows, proto-to-engine conversion); `docs/design/robustness.md`
//! says how to run them long.
//!
//! Test-only (behind the `testing` feature): it must never be reachable from a release build.
//! It decides nothing about what a decoder should do with damage; the harnesses assert that.

use std::fmt::Debug;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

use crate::error::Error;

/// Cases per harness: `STRATA_FUZZ_CASES` when set (long runs by hand), else `default` (the
/// bounded count the test suite runs).
pub fn cases(default: u32) -> u32 {
    std::env::var("STRATA_FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The seed: `STRATA_FUZZ_SEED` when set, else a fixed one (so the suite is deterministic; a
/// long run by hand passes a fresh seed and prints it).
pub fn seed() -> u64 {
    std::env::var("STRATA_FUZZ_SEED")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0x5eed_0010)
}

/// Run `test` on `cases(default_cases)` values of `strategy` with the seed, printing both
/// (the line to paste to replay a failure). A failure panics with the seed and proptest's
/// minimal failing input.
pub fn run<S>(
    name: &str,
    default_cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S: Strategy,
    S::Value: Debug,
{
    let cases = cases(default_cases);
    let seed = seed();
    eprintln!(
        "fuzz {name}: {cases} cases, seed {seed} (replay: STRATA_FUZZ_SEED={seed} STRATA_FUZZ_CASES={cases})"
    );
    let config = Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    if let Err(e) = runner.run(&strategy, test) {
        panic!("fuzz {name} failed (STRATA_FUZZ_SEED={seed} STRATA_FUZZ_CASES={cases}): {e}");
    }
    eprintln!("fuzz {name}: {cases} cases passed");
}

/// A position in bytes whose length is known only when damage is applied: a fraction of the
/// length, in 64-bit fixed point (`Pos(u64::MAX / 2)` is the middle).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos(pub u64);

impl Pos {
    /// The position that resolves to byte `i` of `n` (for seeded variants).
    pub fn of(i: usize, n: usize) -> Pos {
        if n == 0 {
            return Pos(0);
        }
        let raw = ((i as u128) << 64).div_ceil(n as u128);
        Pos(u64::try_from(raw).unwrap_or(u64::MAX))
    }

    /// Byte index in `0..n` (0 when `n` is 0).
    pub fn index(self, n: usize) -> usize {
        let i = ((u128::from(self.0) * n as u128) >> 64) as usize;
        i.min(n.saturating_sub(1))
    }
}

impl Arbitrary for Pos {
    type Parameters = ();
    type Strategy = proptest::strategy::Map<proptest::num::u64::Any, fn(u64) -> Pos>;
    fn arbitrary_with((): ()) -> Self::Strategy {
        any::<u64>().prop_map(Pos)
    }
}

/// One way of damaging a file. Positions are resolved against the length of the bytes when
/// applied.
#[derive(Clone, Debug)]
pub enum Damage {
    /// Flip one bit.
    Flip {
        /// Byte.
        at: Pos,
        /// Bit (0-7).
        bit: u8,
    },
    /// Overwrite one byte.
    Set {
        /// Byte.
        at: Pos,
        /// New value.
        byte: u8,
    },
    /// Zero a run of bytes (a lost page, a hole).
    Zero {
        /// First byte.
        at: Pos,
        /// Run length.
        len: u16,
    },
    /// Cut the file short (a torn write).
    Truncate {
        /// New length.
        at: Pos,
    },
    /// Insert bytes.
    Insert {
        /// Where.
        at: Pos,
        /// What.
        bytes: Vec<u8>,
    },
    /// Remove a run of bytes.
    Remove {
        /// First byte.
        at: Pos,
        /// Run length.
        len: u16,
    },
    /// Change a little-endian u32 length field by `delta` (wrapping): one of the harness's
    /// known length fields, or any 4 bytes when it names none.
    Lie {
        /// Which field.
        field: Pos,
        /// Added to the stored value.
        delta: i64,
    },
}

impl Damage {
    /// Apply to `data`; `length_fields` are byte offsets of u32 length fields [`Damage::Lie`]
    /// picks from.
    pub fn apply(&self, data: &mut Vec<u8>, length_fields: &[usize]) {
        let n = data.len();
        match self {
            Damage::Flip { at, bit } => {
                if n > 0
                    && let Some(b) = data.get_mut(at.index(n))
                {
                    *b ^= 1 << (bit % 8);
                }
            }
            Damage::Set { at, byte } => {
                if n > 0
                    && let Some(b) = data.get_mut(at.index(n))
                {
                    *b = *byte;
                }
            }
            Damage::Zero { at, len } => {
                if n > 0 {
                    let start = at.index(n);
                    let end = start.saturating_add(usize::from(*len)).min(n);
                    data.iter_mut().take(end).skip(start).for_each(|b| *b = 0);
                }
            }
            Damage::Truncate { at } => {
                if n > 0 {
                    data.truncate(at.index(n));
                }
            }
            Damage::Insert { at, bytes } => {
                let pos = if n == 0 { 0 } else { at.index(n + 1) };
                data.splice(pos..pos, bytes.iter().copied());
            }
            Damage::Remove { at, len } => {
                if n > 0 {
                    let start = at.index(n);
                    let end = start.saturating_add(usize::from(*len)).min(n);
                    data.drain(start..end);
                }
            }
            Damage::Lie { field, delta } => {
                let pos = if length_fields.is_empty() {
                    if n < 4 {
                        return;
                    }
                    field.index(n - 3)
                } else {
                    length_fields
                        .get(field.index(length_fields.len()))
                        .copied()
                        .unwrap_or(0)
                };
                if let Some(slot) = data.get_mut(pos..pos.saturating_add(4))
                    && let Ok(old) = <[u8; 4]>::try_from(&*slot)
                {
                    let new = i64::from(u32::from_le_bytes(old)).wrapping_add(*delta) as u32;
                    slot.copy_from_slice(&new.to_le_bytes());
                }
            }
        }
    }
}

/// Any one [`Damage`].
pub fn damage() -> impl Strategy<Value = Damage> {
    let delta = prop_oneof![
        -16i64..16,
        any::<i32>().prop_map(i64::from),
        Just(i64::from(u32::MAX)),
        Just(1i64 << 30),
    ];
    prop_oneof![
        4 => (any::<Pos>(), 0u8..8).prop_map(|(at, bit)| Damage::Flip { at, bit }),
        2 => (any::<Pos>(), any::<u8>()).prop_map(|(at, byte)| Damage::Set { at, byte }),
        1 => (any::<Pos>(), 1u16..512).prop_map(|(at, len)| Damage::Zero { at, len }),
        2 => any::<Pos>().prop_map(|at| Damage::Truncate { at }),
        1 => (any::<Pos>(), proptest::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Damage::Insert { at, bytes }),
        1 => (any::<Pos>(), 1u16..64).prop_map(|(at, len)| Damage::Remove { at, len }),
        3 => (any::<Pos>(), delta).prop_map(|(field, delta)| Damage::Lie { field, delta }),
    ]
}

/// One to three damages, applied in order.
pub fn damages() -> impl Strategy<Value = Vec<Damage>> {
    proptest::collection::vec(damage(), 1..4)
}

/// `data` with every damage of `list` applied.
pub fn damaged(data: &[u8], list: &[Damage], length_fields: &[usize]) -> Vec<u8> {
    let mut out = data.to_vec();
    for d in list {
        d.apply(&mut out, length_fields);
    }
    out
}

/// The committed corpus of one harness: `dir/base` is a valid file written by the current
/// code; the other files of `dir` are damaged variants and regression cases. With
/// `STRATA_FUZZ_WRITE_CORPUS=1` the base is rewritten from `make` first (after a format
/// change), and so is every variant named in `variants` (damage applied to the base).
pub fn corpus(
    dir: &Path,
    base: &str,
    make: impl FnOnce() -> Vec<u8>,
    variants: &[(&str, Vec<Damage>)],
    length_fields: &[usize],
) -> std::io::Result<Vec<(PathBuf, Vec<u8>)>> {
    let base_path = dir.join(base);
    if std::env::var_os("STRATA_FUZZ_WRITE_CORPUS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(dir)?;
        let bytes = make();
        std::fs::write(&base_path, &bytes)?;
        for (name, list) in variants {
            std::fs::write(dir.join(name), damaged(&bytes, list, length_fields))?;
        }
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_file() {
            let bytes = std::fs::read(&path)?;
            files.push((path, bytes));
        }
    }
    files.sort();
    Ok(files)
}

/// Whether `e` is [`Error::Corruption`] naming `path` and an offset, in its fields and its
/// message; the reason when not.
pub fn names_file_and_offset(e: &Error, path: &Path) -> Result<(), String> {
    match e {
        Error::Corruption { path: p, .. } if p == path => {
            let text = e.to_string();
            if text.contains(&path.display().to_string()) && text.contains("offset") {
                Ok(())
            } else {
                Err(format!("message does not name the file and offset: {text}"))
            }
        }
        other => Err(format!(
            "expected corruption naming {}, got {other:?}",
            path.display()
        )),
    }
}
