//! Shared helpers for the criterion benchmarks: synthetic rows shaped like the pipeline's
//! transactions table (4 families, 14 columns, ~200 bytes of values) and temporary stores.
//! Every criterion benchmark uses this crate and so runs on mimalloc, the allocator of the
//! `strata` binary. `compare` does not use it and runs on the system allocator (see its
//! module docs).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use strata_engine::{Db, DbOptions, FamilyOptions, Mutation, RowMutation, SyncMode};

/// The `strata` binary's allocator (server/src/main.rs), so benchmarks measure what it runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Families and qualifiers of the synthetic table (the brief's transactions layout).
pub const LAYOUT: &[(&str, &[&str])] = &[
    (
        "payment_info",
        &[
            "payment_method",
            "payment_status",
            "promo_amount",
            "promo_code",
        ],
    ),
    (
        "shipment_info",
        &[
            "shipment_date_limit",
            "shipment_fee",
            "shipment_location_lat",
            "shipment_location_long",
        ],
    ),
    (
        "transaction_details",
        &[
            "created_at",
            "customer_id",
            "product_metadata",
            "session_id",
        ],
    ),
    ("transaction_summary", &["total_amount"]),
];

/// Cells per synthetic row.
pub fn cells_per_row() -> usize {
    LAYOUT.iter().map(|(_, q)| q.len()).sum()
}

/// The row key of row `i` (zero-padded so keys sort like numbers).
pub fn row_key(i: u64) -> Vec<u8> {
    format!("booking-{i:010}").into_bytes()
}

/// A synthetic row with plausible values.
pub fn row(i: u64, rng: &mut StdRng) -> RowMutation {
    let methods = ["Debit Card", "Credit Card", "OVO", "Gopay", "LinkAja"];
    let mut mutations = Vec::with_capacity(cells_per_row());
    for (family, quals) in LAYOUT {
        for q in *quals {
            let value = match *q {
                "payment_method" => methods[rng.random_range(0..methods.len())].to_string(),
                "payment_status" => if rng.random_bool(0.9) {
                    "Success"
                } else {
                    "Failed"
                }
                .to_string(),
                "promo_code" => {
                    if rng.random_bool(0.3) {
                        "AZ2022".to_string()
                    } else {
                        String::new()
                    }
                }
                "product_metadata" => format!(
                    "[{{'product_id': {}, 'quantity': {}, 'item_price': {}}}]",
                    rng.random_range(1000..60000),
                    rng.random_range(1..4),
                    rng.random_range(10000..500000)
                ),
                "created_at" => format!(
                    "2022-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                    rng.random_range(1..13),
                    rng.random_range(1..29),
                    rng.random_range(0..24),
                    rng.random_range(0..60),
                    rng.random_range(0..60),
                    rng.random_range(0..1_000_000)
                ),
                "session_id" => format!("{:032x}", rng.random::<u128>()),
                _ => rng.random_range(0..10_000_000u64).to_string(),
            };
            mutations.push(Mutation::SetCell {
                family: (*family).into(),
                qualifier: q.as_bytes().to_vec().into(),
                value: value.into_bytes().into(),
                timestamp: 0,
            });
        }
    }
    RowMutation {
        row: row_key(i).into(),
        mutations,
    }
}

/// The families of the synthetic table with default options, except the block size when
/// `STRATA_BENCH_BLOCK_SIZE` (bytes) is set: how docs/benchmarks.md compares block sizes
/// with one bench binary.
pub fn families() -> Vec<FamilyOptions> {
    let block_size: Option<u32> = std::env::var("STRATA_BENCH_BLOCK_SIZE")
        .ok()
        .and_then(|v| v.parse().ok());
    LAYOUT
        .iter()
        .map(|(f, _)| {
            let mut o = FamilyOptions::new(*f);
            if let Some(b) = block_size {
                o.block_size = b;
            }
            o
        })
        .collect()
}

/// Open a store in `dir` with the given sync mode and create the synthetic table `t`.
pub fn open_store(dir: &std::path::Path, mode: SyncMode) -> Db {
    open_store_with(dir, mode, DbOptions::default().block_cache_bytes)
}

/// Like [`open_store`] with a block cache of `cache_bytes` (0: no cache).
pub fn open_store_with(dir: &std::path::Path, mode: SyncMode, cache_bytes: usize) -> Db {
    let db = Db::open(
        dir,
        DbOptions {
            sync_mode: mode,
            block_cache_bytes: cache_bytes,
            ..DbOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("open store: {e:?}"));
    if !db.list_tables().iter().any(|t| t == "t") {
        db.create_table("t", families())
            .unwrap_or_else(|e| panic!("create table: {e:?}"));
    }
    db
}

/// Load `n` rows in batches of 1,000 and flush them to files.
pub fn load_rows(db: &Db, n: u64, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut i = 0;
    while i < n {
        let end = (i + 1000).min(n);
        let batch: Vec<RowMutation> = (i..end).map(|k| row(k, &mut rng)).collect();
        db.mutate_rows("t", batch)
            .unwrap_or_else(|e| panic!("write batch: {e:?}"));
        i = end;
    }
    db.flush("t").unwrap_or_else(|e| panic!("flush: {e:?}"));
}
