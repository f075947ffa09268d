//! The RocksDB side of `compare`, driven the way the outside harness drives it:
//! keys `row + 0x00 + qualifier`, one column family per Strata family, a whole-row get as
//! one bounded iterator per column family (seek `row+0x00`, upper bound `row+0x01`; the
//! multi-get over the known cell keys is kept beside it), scans as raw iterators with
//! `fill_cache(false)`, writes as one `WriteBatch` of 1,000 parsed rows per call, bulk load
//! as parse, sort, `SstFileWriter`, `IngestExternalFile(move)`.

use std::path::Path;
use std::time::{Duration, Instant};

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DB, DBCompressionType,
    IngestExternalFileOptions, Options, ReadOptions, SstFileWriter, WriteBatch, WriteOptions,
};
use strata_loader::TableMapping;

use super::R;
use super::data::{Parsed, cell_key_into, layout, parse_csv, record_key};

fn cf_options(block_size: usize, cache: &Cache) -> Options {
    let mut b = BlockBasedOptions::default();
    b.set_block_size(block_size);
    b.set_block_cache(cache);
    b.set_bloom_filter(10.0, false);
    let mut o = Options::default();
    o.set_compression_type(DBCompressionType::Zstd);
    o.set_block_based_table_factory(&b);
    o
}

pub fn open(dir: &Path, families: &[String], block_size: usize, cache: &Cache) -> R<DB> {
    let mut o = Options::default();
    o.create_if_missing(true);
    o.create_missing_column_families(true);
    let cfs = families
        .iter()
        .map(|f| ColumnFamilyDescriptor::new(f, cf_options(block_size, cache)));
    Ok(DB::open_cf_descriptors(&o, dir, cfs)?)
}

/// Parse, sort, write one SST per family with SstFileWriter, ingest (moving the files).
pub fn bulk_load(
    dir: &Path,
    name: &'static str,
    csv: &Path,
    mapping: &TableMapping,
    block_size: usize,
    cache: &Cache,
) -> R<(Parsed, DB)> {
    let parsed = parse_csv(name, csv, mapping)?;
    let db = open(dir, &parsed.families, block_size, cache)?;
    let staging = dir.join("staging");
    std::fs::create_dir_all(&staging)?;
    let opts = cf_options(block_size, cache);
    for (fi, fam) in parsed.families.iter().enumerate() {
        let path = staging.join(format!("{fam}.sst"));
        let mut w = SstFileWriter::create(&opts);
        w.open(&path)?;
        let slots: Vec<(usize, &[u8])> = parsed.family_slots(fi).collect();
        let mut key = Vec::new();
        for (row, values) in &parsed.rows {
            for (i, q) in &slots {
                cell_key_into(&mut key, row, q);
                w.put(&key, values.get(*i).map_or(&[][..], Vec::as_slice))?;
            }
        }
        w.finish()?;
        let cf = db.cf_handle(fam).ok_or("missing column family")?;
        let mut io = IngestExternalFileOptions::default();
        io.set_move_files(true);
        db.ingest_external_file_cf_opts(cf, &io, vec![path])?;
    }
    let _ = std::fs::remove_dir_all(&staging);
    Ok((parsed, db))
}

/// A whole row as the outside harness reads it: one iterator per column family, bounded to
/// the row (`row+0x00` .. `row+0x01`). Returns the cells found.
pub fn get_row_iter(db: &DB, t: &Parsed, row: &[u8], lo: &mut Vec<u8>) -> R<u64> {
    let mut found = 0;
    lo.clear();
    lo.extend_from_slice(row);
    lo.push(0);
    let mut hi = lo.clone();
    if let Some(last) = hi.last_mut() {
        *last = 1;
    }
    for fam in &t.families {
        let cf = db.cf_handle(fam).ok_or("missing column family")?;
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(hi.clone());
        let mut it = db.raw_iterator_cf_opt(cf, ro);
        it.seek(&lo[..]);
        while it.valid() {
            found += 1;
            it.next();
        }
        it.status()?;
    }
    Ok(found)
}

/// A whole row through one `batched_multi_get_cf` per column family over the known keys.
pub fn get_row_multiget(db: &DB, t: &Parsed, row: &[u8]) -> R<u64> {
    let mut found = 0;
    let mut key = Vec::new();
    for (fi, fam) in t.families.iter().enumerate() {
        let cf = db.cf_handle(fam).ok_or("missing column family")?;
        let keys: Vec<Vec<u8>> = t
            .family_slots(fi)
            .map(|(_, q)| {
                cell_key_into(&mut key, row, q);
                key.clone()
            })
            .collect();
        for v in db.batched_multi_get_cf(cf, &keys, true) {
            if v?.is_some() {
                found += 1;
            }
        }
    }
    Ok(found)
}

/// Every cell of `families`, one raw iterator per column family that does not fill the
/// block cache. Returns (cells, key + value bytes).
pub fn scan(db: &DB, families: &[String], deadline: Instant) -> R<(u64, u64)> {
    let (mut cells, mut bytes) = (0u64, 0u64);
    for fam in families {
        let cf = db.cf_handle(fam).ok_or("missing column family")?;
        let mut ro = ReadOptions::default();
        ro.fill_cache(false);
        let mut it = db.raw_iterator_cf_opt(cf, ro);
        it.seek_to_first();
        while it.valid() {
            cells += 1;
            bytes += (it.key().map_or(0, <[u8]>::len) + it.value().map_or(0, <[u8]>::len)) as u64;
            if cells.is_multiple_of(65536) && Instant::now() > deadline {
                return Ok((cells, bytes));
            }
            it.next();
        }
        it.status()?;
    }
    Ok((cells, bytes))
}

/// What a write phase measured.
pub struct WriteRun {
    pub cells: u64,
    /// Until the last batch was acknowledged.
    pub write: Duration,
    /// Until flushes and compactions were idle as well.
    pub settled: Duration,
}

/// Parse `csv` 1,000 records at a time and write each as one `WriteBatch` (until `bound`),
/// then flush every family and wait until no compaction runs or is pending.
pub fn write_csv(
    dir: &Path,
    csv: &Path,
    mapping: &TableMapping,
    sync: bool,
    block_size: usize,
    cache: &Cache,
    bound: Duration,
) -> R<WriteRun> {
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).from_path(csv)?;
    let header: Vec<String> = rdr.headers()?.iter().map(str::to_string).collect();
    let l = layout(&header, mapping)?;
    let db = open(dir, &l.resolved.families, block_size, cache)?;
    let cfs: Vec<_> = l
        .resolved
        .families
        .iter()
        .map(|f| db.cf_handle(f).ok_or("missing column family"))
        .collect::<Result<_, _>>()?;
    let mut wo = WriteOptions::default();
    wo.set_sync(sync);
    let started_writes = Instant::now();
    let (mut cells, mut rows) = (0u64, 0usize);
    let (mut row, mut key) = (Vec::new(), Vec::new());
    let mut rec = csv::ByteRecord::new();
    let mut b = WriteBatch::default();
    loop {
        let more = rdr.read_byte_record(&mut rec)?;
        if more && rec.len() == l.resolved.field_count {
            record_key(&l, &rec, &mut row);
            if !row.is_empty() {
                for (slot, fi) in l.resolved.cells.iter().zip(&l.family_of) {
                    cell_key_into(&mut key, &row, &slot.qualifier);
                    let cf = cfs.get(*fi).ok_or("missing column family")?;
                    b.put_cf(cf, &key, rec.get(slot.column).unwrap_or(&[]));
                    cells += 1;
                }
                rows += 1;
            }
        }
        if rows == super::BATCH_ROWS || (!more && rows > 0) {
            db.write_opt(std::mem::take(&mut b), &wo)?;
            rows = 0;
            if started_writes.elapsed() > bound {
                break;
            }
        }
        if !more {
            break;
        }
    }
    let write = started_writes.elapsed();
    for cf in &cfs {
        db.flush_cf(cf)?;
    }
    loop {
        let running = db
            .property_int_value("rocksdb.num-running-compactions")?
            .unwrap_or(0);
        let pending = cfs.iter().try_fold(0u64, |acc, cf| {
            db.property_int_value_cf(cf, "rocksdb.compaction-pending")
                .map(|v| acc + v.unwrap_or(0))
        })?;
        if running == 0 && pending == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let settled = started_writes.elapsed();
    Ok(WriteRun {
        cells,
        write,
        settled,
    })
}
