//! Prints the block statistics of table files (raw and stored bytes per family, and what
//! the rest of the file takes: key blocks, indexes, bloom). A measurement aid.
//!
//! cargo run --release -p strata-loader --example sstprops -- FILE...

use strata_engine::sstable::TableReader;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut total = 0u64;
    let mut fam: std::collections::BTreeMap<String, (u64, u64, u64)> = Default::default();
    for a in std::env::args().skip(1) {
        let r = TableReader::open(std::path::Path::new(&a), None)?;
        let p = r.properties();
        total += p.file_size;
        for f in &p.families {
            let e = fam.entry(f.name.to_string()).or_default();
            e.0 += f.raw_bytes;
            e.1 += f.stored_bytes;
            e.2 += f.blocks;
        }
    }
    let mut fam_stored = 0;
    for (n, (raw, stored, blocks)) in &fam {
        fam_stored += stored;
        println!(
            "{n:24} raw {:>8.1} MB stored {:>8.1} MB ({:.2}x) {blocks} blocks",
            *raw as f64 / 1e6,
            *stored as f64 / 1e6,
            *stored as f64 / (*raw).max(1) as f64
        );
    }
    println!(
        "files {:.1} MB, families {:.1} MB, keys+index+bloom {:.1} MB",
        total as f64 / 1e6,
        fam_stored as f64 / 1e6,
        (total - fam_stored) as f64 / 1e6
    );
    Ok(())
}
