//! CSV generation and bulk loading for Strata.
//!
//! Owns: the synthetic data generator (`datagen`), the CSV-to-cells mapping (`mapping`), robust
//! CSV input with rejects (`csv_input`, `rejects`), a CSV file's rows as engine mutations for
//! callers that write rows one by one (`mapped_csv`), the bulk build of presorted SSTables
//! (`bulk`), and streaming ingest from Kafka (`consume`: `strata consume`). It must never
//! depend on the server crate: it reaches a server only through the generated gRPC client
//! (`strata-proto`). The bulk path never adopts files into a store itself: callers hand the
//! files it writes to `Db::ingest` or `BulkIngest`.

pub mod bulk;
pub mod consume;
pub mod csv_input;
pub mod datagen;
pub mod error;
pub mod flags;
pub mod mapped_csv;
pub mod mapping;
pub mod rejects;
pub mod time;

pub use bulk::{LoadOptions, LoadSummary, Progress, build_table_files};
pub use datagen::{GenSummary, generate};
pub use error::{LoaderError, Result};
pub use flags::{LoadFlags, load_options, parse_size};
pub use mapped_csv::{MappedCsv, RowBatch, RowBatches, row_mutation};
pub use mapping::{RowKeyTemplate, TableMapping, builtin_csv_file, builtin_mapping};
