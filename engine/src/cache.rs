//! The block cache: one per open store, shared by every table file. It holds *decoded*
//! blocks (checksummed, decompressed and parsed, ready for binary search), keyed by a
//! process-unique file id and the block's offset in that file, within a byte budget where
//! each entry is charged its decoded size.
//!
//! Sharded (up to 16 shards, one `parking_lot::Mutex` each) CLOCK replacement: a hit only
//! sets the entry's reference bit, so the lock is held for a hash lookup and nothing else;
//! new entries start unreferenced, so blocks read once (a scan that does insert) are the
//! first to go and blocks hit repeatedly survive a sweep.
//!
//! This module must never hand out a value under a key it was not inserted with, never hold
//! more than its budget after an insert returns (a value larger than a shard's budget is
//! simply not cached), and never call the loader closure with a shard lock held. It knows
//! nothing about file formats: values are opaque `Arc<dyn Any>`.
//!
//! A thread may read in *cache-only* mode ([`cache_only`]): a lookup that misses then fails
//! with [`Error::NotCached`] instead of loading, so a caller on an async worker can try a
//! point get without touching a file and hand it to a blocking thread only when it must
//! read one (RocksDB's `kBlockCacheTier`).

use std::any::Any;
use std::cell::Cell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::error::{Error, Result};

thread_local! {
    /// Whether this thread reads in cache-only mode (see [`cache_only`]).
    static CACHE_ONLY: Cell<bool> = const { Cell::new(false) };
}

/// Run `f` with block loads forbidden on this thread: a block not in the cache fails the
/// lookup with [`Error::NotCached`] instead of being read from its file.
pub(crate) fn cache_only<T>(f: impl FnOnce() -> T) -> T {
    /// Puts the thread's previous mode back, even if `f` unwinds.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            CACHE_ONLY.set(self.0);
        }
    }
    let _restore = Restore(CACHE_ONLY.replace(true));
    f()
}

/// Most shards a cache is split into.
const MAX_SHARDS: usize = 16;
/// Fewest bytes per shard (smaller caches use fewer shards): one large block still fits,
/// and a shard holds enough blocks (a hundred or more of 64 KiB) that random placement
/// leaves shards evenly full, so a working set just under the budget stays cached.
const MIN_SHARD_BYTES: usize = 8 << 20;

/// Where a block lives: which open file (see [`next_file_id`]) and at what offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// Process-unique id of the open file.
    pub file: u64,
    /// Offset of the block in the file.
    pub offset: u64,
}

/// A cached value: shared, type-erased (the reader knows what it stored).
pub type CacheValue = Arc<dyn Any + Send + Sync>;

static NEXT_FILE_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh process-unique file id; every opened table file takes one, so a file reopened
/// (or a new file that reuses a number) never sees another file's blocks.
pub fn next_file_id() -> u64 {
    NEXT_FILE_ID.fetch_add(1, Ordering::Relaxed)
}

/// 64-bit finaliser (MurmurHash3's fmix64): spreads both fields over all bits.
#[inline]
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[inline]
fn key_hash(k: &CacheKey) -> u64 {
    mix(k.file.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ k.offset)
}

/// Hasher for `CacheKey` only (two `write_u64` calls): cheaper than SipHash, and the keys
/// come from this process, not from clients.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        mix(self.0)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(29) ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

struct Slot {
    key: CacheKey,
    value: Option<CacheValue>,
    charge: usize,
    referenced: bool,
}

#[derive(Default)]
struct Shard {
    map: HashMap<CacheKey, usize, BuildHasherDefault<KeyHasher>>,
    slots: Vec<Slot>,
    free: Vec<usize>,
    hand: usize,
    used: usize,
}

impl Shard {
    fn get(&mut self, key: &CacheKey) -> Option<CacheValue> {
        let &i = self.map.get(key)?;
        let slot = self.slots.get_mut(i)?;
        slot.referenced = true;
        slot.value.clone()
    }

    fn remove_slot(&mut self, i: usize) -> usize {
        let Some(slot) = self.slots.get_mut(i) else {
            return 0;
        };
        if slot.value.take().is_none() {
            return 0;
        }
        self.map.remove(&slot.key);
        self.free.push(i);
        self.used -= slot.charge;
        slot.charge
    }

    /// Evict unreferenced entries (clearing reference bits on the way) until `need` more
    /// bytes fit in `capacity`. Returns (entries evicted, bytes freed).
    fn make_room(&mut self, need: usize, capacity: usize) -> (u64, usize) {
        let (mut n, mut freed) = (0u64, 0usize);
        // Two sweeps suffice: the first clears every reference bit it passes.
        let mut budget = self.slots.len() * 2 + 1;
        while self.used + need > capacity && self.used > 0 && budget > 0 {
            budget -= 1;
            if self.hand >= self.slots.len() {
                self.hand = 0;
            }
            let i = self.hand;
            self.hand += 1;
            let Some(slot) = self.slots.get_mut(i) else {
                continue;
            };
            if slot.value.is_none() {
                continue;
            }
            if slot.referenced {
                slot.referenced = false;
                continue;
            }
            freed += self.remove_slot(i);
            n += 1;
        }
        (n, freed)
    }
}

/// Counters of a cache since it was created, and its current contents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Budget in bytes (0: caching disabled).
    pub capacity: u64,
    /// Bytes charged by the entries held now.
    pub bytes: u64,
    /// Entries held now.
    pub entries: u64,
    /// Lookups that found their block.
    pub hits: u64,
    /// Lookups that did not.
    pub misses: u64,
    /// Blocks added.
    pub inserts: u64,
    /// Blocks dropped to make room.
    pub evictions: u64,
}

/// A sharded CLOCK cache of decoded blocks with a byte budget. See the module docs.
pub struct BlockCache {
    shards: Box<[Mutex<Shard>]>,
    shard_bits: u32,
    shard_capacity: usize,
    capacity: usize,
    bytes: AtomicU64,
    entries: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    inserts: AtomicU64,
    evictions: AtomicU64,
}

impl std::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockCache")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl BlockCache {
    /// A cache holding at most `capacity_bytes` of charged entries; 0 disables caching
    /// (every lookup misses, nothing is kept).
    pub fn new(capacity_bytes: usize) -> Arc<BlockCache> {
        let mut shards = MAX_SHARDS;
        while shards > 1 && capacity_bytes / shards < MIN_SHARD_BYTES {
            shards /= 2;
        }
        Arc::new(BlockCache {
            shards: (0..shards).map(|_| Mutex::new(Shard::default())).collect(),
            shard_bits: shards.trailing_zeros(),
            shard_capacity: capacity_bytes / shards,
            capacity: capacity_bytes,
            bytes: AtomicU64::new(0),
            entries: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            inserts: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        })
    }

    /// The byte budget.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    #[inline]
    fn shard(&self, key: &CacheKey) -> &Mutex<Shard> {
        let i = if self.shard_bits == 0 {
            0
        } else {
            (key_hash(key) >> (64 - self.shard_bits)) as usize
        };
        // `i < shards.len()` by construction; fall back to shard 0 rather than panic.
        self.shards.get(i).unwrap_or(&self.shards[0])
    }

    /// Look a block up, counting a hit or a miss.
    pub fn get(&self, key: &CacheKey) -> Option<CacheValue> {
        let found = if self.capacity == 0 {
            None
        } else {
            self.shard(key).lock().get(key)
        };
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Add (or replace) a block charged `charge` bytes, evicting others as needed. A block
    /// larger than a shard's budget is not kept.
    pub fn insert(&self, key: CacheKey, value: CacheValue, charge: usize) {
        if charge > self.shard_capacity {
            return;
        }
        let mut s = self.shard(&key).lock();
        let mut freed = 0usize;
        let mut evicted = 0u64;
        let mut removed = 0u64;
        if let Some(&i) = s.map.get(&key) {
            freed += s.remove_slot(i);
            removed += 1;
        }
        let (n, f) = s.make_room(charge, self.shard_capacity);
        evicted += n;
        freed += f;
        if s.used + charge > self.shard_capacity {
            // Could not make room (cannot happen with a consistent shard); keep the budget.
            drop(s);
            self.account(freed, evicted + removed, evicted, 0, 0);
            return;
        }
        let slot = Slot {
            key,
            value: Some(value),
            charge,
            referenced: false,
        };
        let i = match s.free.pop() {
            Some(i) => {
                if let Some(x) = s.slots.get_mut(i) {
                    *x = slot;
                }
                i
            }
            None => {
                s.slots.push(slot);
                s.slots.len() - 1
            }
        };
        s.map.insert(key, i);
        s.used += charge;
        drop(s);
        self.account(freed, evicted + removed, evicted, charge, 1);
    }

    fn account(&self, freed: usize, gone: u64, evicted: u64, added: usize, inserted: u64) {
        if freed > 0 {
            self.bytes.fetch_sub(freed as u64, Ordering::Relaxed);
        }
        if gone > 0 {
            self.entries.fetch_sub(gone, Ordering::Relaxed);
        }
        if evicted > 0 {
            self.evictions.fetch_add(evicted, Ordering::Relaxed);
        }
        if inserted > 0 {
            self.bytes.fetch_add(added as u64, Ordering::Relaxed);
            self.entries.fetch_add(inserted, Ordering::Relaxed);
            self.inserts.fetch_add(inserted, Ordering::Relaxed);
        }
    }

    /// The cached block under `key`, or `load()`'s result. With `fill` the loaded block is
    /// inserted, charged the size `load` returns; without it (scans) it is only returned.
    /// `load` runs without any lock held; two threads missing the same key at once both
    /// load it and the later insert replaces the earlier. A cached value of another type
    /// than `T` counts as a miss and is replaced.
    pub fn get_or_insert_with<T, F>(&self, key: CacheKey, fill: bool, load: F) -> Result<Arc<T>>
    where
        T: Any + Send + Sync,
        F: FnOnce() -> Result<(Arc<T>, usize)>,
    {
        if let Some(v) = self.get(&key)
            && let Ok(t) = v.downcast::<T>()
        {
            return Ok(t);
        }
        if CACHE_ONLY.get() {
            return Err(Error::NotCached);
        }
        let (value, charge) = load()?;
        if fill && self.capacity > 0 {
            self.insert(key, value.clone(), charge);
        }
        Ok(value)
    }

    /// Drop every block of one file (it was closed: its blocks can never be asked for
    /// again). Linear in the number of cached blocks; files close rarely.
    pub fn erase_file(&self, file: u64) {
        if self.capacity == 0 {
            return;
        }
        for shard in self.shards.iter() {
            let mut s = shard.lock();
            let victims: Vec<usize> = s
                .slots
                .iter()
                .enumerate()
                .filter(|(_, x)| x.value.is_some() && x.key.file == file)
                .map(|(i, _)| i)
                .collect();
            if victims.is_empty() {
                continue;
            }
            let mut freed = 0;
            for &i in &victims {
                freed += s.remove_slot(i);
            }
            drop(s);
            self.account(freed, victims.len() as u64, 0, 0, 0);
        }
    }

    /// Counters and current size.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            capacity: self.capacity as u64,
            bytes: self.bytes.load(Ordering::Relaxed),
            entries: self.entries.load(Ordering::Relaxed),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            inserts: self.inserts.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(file: u64, offset: u64) -> CacheKey {
        CacheKey { file, offset }
    }

    fn load(v: u64, charge: usize) -> impl FnOnce() -> Result<(Arc<u64>, usize)> {
        move || Ok((Arc::new(v), charge))
    }

    #[test]
    fn hits_and_misses_are_counted() {
        let c = BlockCache::new(1 << 20);
        let a = c.get_or_insert_with(key(1, 0), true, load(7, 100)).unwrap();
        assert_eq!(*a, 7);
        // Cached: the loader is not called again.
        let b = c
            .get_or_insert_with(key(1, 0), true, || -> Result<(Arc<u64>, usize)> {
                Err(crate::error::Error::InvalidArgument("loaded twice".into()))
            })
            .unwrap();
        assert_eq!(*b, 7);
        assert!(c.get(&key(2, 0)).is_none());
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.inserts), (1, 2, 1));
        assert_eq!((s.bytes, s.entries), (100, 1));
    }

    #[test]
    fn eviction_keeps_the_budget_and_prefers_unreferenced_blocks() {
        // 1 MiB: a single shard, so the test controls which blocks compete.
        let c = BlockCache::new(1 << 20);
        let charge = 100 << 10;
        for off in 0..10 {
            c.get_or_insert_with(key(1, off), true, load(off, charge))
                .unwrap();
        }
        // Block 0 is hot.
        assert!(c.get(&key(1, 0)).is_some());
        for off in 10..40 {
            c.get_or_insert_with(key(1, off), true, load(off, charge))
                .unwrap();
            assert!(c.stats().bytes <= 1 << 20);
            assert!(c.get(&key(1, 0)).is_some(), "hot block evicted at {off}");
        }
        let s = c.stats();
        assert_eq!(s.inserts, 40);
        assert_eq!(s.entries, 10);
        assert_eq!(s.evictions, 30);
        assert_eq!(s.bytes, 10 * charge as u64);
        // Cold blocks inserted early are gone.
        assert!(c.get(&key(1, 1)).is_none());
    }

    #[test]
    fn oversized_blocks_and_zero_capacity_are_not_kept() {
        let c = BlockCache::new(1 << 20);
        let v = c
            .get_or_insert_with(key(1, 0), true, load(1, 2 << 20))
            .unwrap();
        assert_eq!(*v, 1);
        assert_eq!(c.stats().entries, 0);

        let off = BlockCache::new(0);
        off.get_or_insert_with(key(1, 0), true, load(1, 10))
            .unwrap();
        off.get_or_insert_with(key(1, 0), true, load(1, 10))
            .unwrap();
        let s = off.stats();
        assert_eq!((s.hits, s.misses, s.entries, s.bytes), (0, 2, 0, 0));
    }

    #[test]
    fn no_fill_lookups_do_not_insert_and_erase_file_drops_only_that_file() {
        let c = BlockCache::new(64 << 20);
        c.get_or_insert_with(key(1, 0), false, load(1, 10)).unwrap();
        assert_eq!(c.stats().entries, 0);
        for f in 1..=3 {
            for off in 0..50 {
                c.get_or_insert_with(key(f, off), true, load(f, 10))
                    .unwrap();
            }
        }
        assert_eq!(c.stats().entries, 150);
        c.erase_file(2);
        let s = c.stats();
        assert_eq!((s.entries, s.bytes), (100, 1000));
        assert!(c.get(&key(2, 7)).is_none());
        assert_eq!(
            c.get(&key(3, 7)).map(|v| v.downcast::<u64>().ok()),
            Some(Some(Arc::new(3)))
        );
        // Freed slots are reused.
        c.get_or_insert_with(key(4, 0), true, load(4, 10)).unwrap();
        assert_eq!(c.stats().entries, 101);
    }

    #[test]
    fn replacing_a_key_keeps_one_entry() {
        let c = BlockCache::new(1 << 20);
        c.insert(key(1, 0), Arc::new(1u64), 10);
        c.insert(key(1, 0), Arc::new(2u64), 30);
        let s = c.stats();
        assert_eq!((s.entries, s.bytes), (1, 30));
        let v = c.get(&key(1, 0)).and_then(|v| v.downcast::<u64>().ok());
        assert_eq!(v.as_deref(), Some(&2));
    }

    #[test]
    fn concurrent_use_stays_within_budget_and_consistent() {
        let c = BlockCache::new(4 << 20);
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let c = &c;
                s.spawn(move || {
                    for i in 0..5_000u64 {
                        let off = (i * 7 + t * 13) % 2_000;
                        let v = c
                            .get_or_insert_with(key(1, off), true, load(off, 4096))
                            .unwrap();
                        assert_eq!(*v, off);
                    }
                });
            }
        });
        let s = c.stats();
        assert!(s.bytes <= 4 << 20, "{s:?}");
        assert_eq!(s.hits + s.misses, 20_000);
        assert_eq!(s.bytes, s.entries * 4096);
        assert!(s.inserts >= s.entries + s.evictions);
        // Every held entry is counted in exactly one shard map.
        let held: usize = c.shards.iter().map(|m| m.lock().map.len()).sum();
        assert_eq!(held as u64, s.entries);
    }
}
