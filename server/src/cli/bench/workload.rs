//! What the benchmark's clients do: the workloads and their operation mixes, the keys and
//! template rows sampled from a table's CSV file (parsed with the loader's built-in mapping),
//! and the requests built from them (fresh row keys shaped like the table's).
//!
//! It owns the choice of the next operation and of its key; it must never issue a call (the
//! `client` module does) nor measure anything.

use std::path::Path;
use std::time::Instant;

use anyhow::{Result, anyhow};
use strata_engine::RowMutation;
use strata_loader::{MappedCsv, builtin_mapping, row_mutation};
use strata_proto::v1 as pb;
use strata_server::convert::row_mutation_to_pb;

use super::TEMPLATE_ROWS;
use super::random::{Rng, Zipf};

/// The workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// YCSB A: 50% whole-row gets, 50% one-column updates
    YcsbA,
    /// YCSB B: 95% gets, 5% updates
    YcsbB,
    /// YCSB C: gets only
    YcsbC,
    /// YCSB E: 95% short scans (1-100 rows from a random key), 5% whole-row inserts
    YcsbE,
    /// YCSB F: 50% gets, 50% read-modify-write (Get, then Mutate of the same row)
    YcsbF,
    /// Click events streamed through MutateStream in batches of --batch-rows
    Ingest,
    /// MutateRows batches of --batch-rows transaction rows
    Writes,
    /// Whole-row gets only
    Gets,
}

impl Workload {
    pub(super) fn name(self) -> &'static str {
        match self {
            Workload::YcsbA => "ycsb-a",
            Workload::YcsbB => "ycsb-b",
            Workload::YcsbC => "ycsb-c",
            Workload::YcsbE => "ycsb-e",
            Workload::YcsbF => "ycsb-f",
            Workload::Ingest => "ingest",
            Workload::Writes => "writes",
            Workload::Gets => "gets",
        }
    }

    /// The table this workload runs on.
    pub(super) fn table(self, read_table: BenchTable) -> &'static str {
        match self {
            Workload::Ingest => "clickstream",
            Workload::Writes => "transactions",
            _ => read_table.name(),
        }
    }

    /// Whether the workload writes batches (and reports rows/s and cells/s).
    pub(super) fn is_batch_write(self) -> bool {
        matches!(self, Workload::Ingest | Workload::Writes)
    }
}

/// Tables the read workloads can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchTable {
    /// customers (row key customer_id)
    Customers,
    /// transactions (row key booking_id)
    Transactions,
    /// clickstream (row key session_id#event_time#event_id)
    Clickstream,
}

impl BenchTable {
    pub(super) fn name(self) -> &'static str {
        match self {
            BenchTable::Customers => "customers",
            BenchTable::Transactions => "transactions",
            BenchTable::Clickstream => "clickstream",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Keys and template rows from the CSV files.

/// What the workload needs of a table's CSV file.
pub(super) struct Sample {
    /// The mapping's cells in order: (family, qualifier).
    pub(super) columns: Vec<(String, Vec<u8>)>,
    /// Row keys, a uniform sample of at most `max_keys`, in random order.
    pub(super) keys: Vec<Vec<u8>>,
    /// The first rows, whose values inserted rows take (with fresh keys).
    pub(super) templates: Vec<RowMutation>,
    /// Rows in the file.
    pub(super) rows_seen: u64,
}

/// Parse `csv` with the built-in mapping of `table` (so keys are built exactly as the load
/// built them, clickstream's composite key included) and keep a reservoir sample of keys.
pub(super) fn sample_table(csv: &Path, table: &str, max_keys: usize, seed: u64) -> Result<Sample> {
    let mapping = builtin_mapping(table).ok_or_else(|| anyhow!("no mapping for {table}"))?;
    let mut rows = MappedCsv::open(csv, &mapping)?;
    let resolved = rows.mapping().clone();
    let columns = resolved
        .cells
        .iter()
        .map(|c| (c.family.to_string(), c.qualifier.clone()))
        .collect();
    let mut rng = Rng::new(seed ^ 0x5eed_0f6b_e4c4);
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut templates = Vec::new();
    let mut seen = 0u64;
    while let Some(batch) = rows.next_chunk()? {
        for i in 0..batch.rows.len() {
            seen += 1;
            if keys.len() < max_keys {
                keys.push(batch.key(i).to_vec());
            } else {
                // Reservoir sampling: row `seen` replaces a kept key with probability
                // max_keys / seen.
                let j = rng.below(seen);
                if let Some(slot) = keys.get_mut(j as usize) {
                    *slot = batch.key(i).to_vec();
                }
            }
            if templates.len() < TEMPLATE_ROWS {
                templates.push(row_mutation(batch, i, &resolved));
            }
        }
    }
    // Random order, so Zipfian ranks (hot keys) are spread over the key space.
    for i in (1..keys.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        keys.swap(i, j);
    }
    Ok(Sample {
        columns,
        keys,
        templates,
        rows_seen: seen,
    })
}

// ---------------------------------------------------------------------------------------------
// The clients.

/// Everything the clients share.
pub(super) struct Plan {
    pub(super) workload: Workload,
    pub(super) table: String,
    pub(super) columns: Vec<(String, Vec<u8>)>,
    pub(super) keys: Vec<Vec<u8>>,
    pub(super) templates: Vec<Template>,
    pub(super) zipf: Option<Zipf>,
    pub(super) batch_rows: usize,
    /// Operations that start at or after this instant are measured.
    pub(super) measure_from: Instant,
    /// No operation starts at or after this instant.
    pub(super) end: Instant,
}

impl Plan {
    pub(super) fn key(&self, rng: &mut Rng) -> &[u8] {
        let n = self.keys.len() as u64;
        let i = match &self.zipf {
            Some(z) => z.next(rng).min(n - 1),
            None => rng.below(n),
        };
        &self.keys[i as usize]
    }

    pub(super) fn template(&self, rng: &mut Rng) -> &Template {
        &self.templates[rng.below(self.templates.len() as u64) as usize]
    }
}

/// A template row as the wire's, converted once (not once per inserted row: the clients
/// share the machine's cores with the server they measure).
pub(super) struct Template {
    /// The template's row key (fresh keys take its shape).
    pub(super) row: Vec<u8>,
    /// Its cells, as SetCells.
    pub(super) mutations: Vec<pb::Mutation>,
}

impl From<RowMutation> for Template {
    fn from(m: RowMutation) -> Template {
        let wire = row_mutation_to_pb(m);
        Template {
            row: wire.row.to_vec(),
            mutations: wire.mutations,
        }
    }
}

/// A whole row of SetCells with a template's values.
pub(super) fn template_mutations(template: &Template) -> Vec<pb::Mutation> {
    template.mutations.clone()
}

pub(super) fn set_cell(family: &str, qualifier: &[u8], value: Vec<u8>) -> pb::Mutation {
    pb::Mutation {
        kind: Some(pb::mutation::Kind::SetCell(pb::SetCell {
            family: family.to_string(),
            qualifier: qualifier.to_vec().into(),
            value: value.into(),
            timestamp_micros: 0,
        })),
    }
}

/// Operation types, each with its own counters and histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Op {
    Read,
    Update,
    Scan,
    Insert,
    Rmw,
    Write,
    Ingest,
}

pub(super) const OPS: [Op; 7] = [
    Op::Read,
    Op::Update,
    Op::Scan,
    Op::Insert,
    Op::Rmw,
    Op::Write,
    Op::Ingest,
];

impl Op {
    pub(super) fn name(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Update => "update",
            Op::Scan => "scan",
            Op::Insert => "insert",
            Op::Rmw => "read-modify-write",
            Op::Write => "write-batch",
            Op::Ingest => "ingest-batch",
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// The operation mix of each request workload.
pub(super) fn choose_op(w: Workload, rng: &mut Rng) -> Op {
    let pct = rng.below(100);
    match w {
        Workload::YcsbA => {
            if pct < 50 {
                Op::Read
            } else {
                Op::Update
            }
        }
        Workload::YcsbB => {
            if pct < 95 {
                Op::Read
            } else {
                Op::Update
            }
        }
        Workload::YcsbC | Workload::Gets => Op::Read,
        Workload::YcsbE => {
            if pct < 95 {
                Op::Scan
            } else {
                Op::Insert
            }
        }
        Workload::YcsbF => {
            if pct < 50 {
                Op::Read
            } else {
                Op::Rmw
            }
        }
        Workload::Writes => Op::Write,
        Workload::Ingest => Op::Ingest,
    }
}

/// A batch of `plan.batch_rows` new rows built from template rows.
pub(super) fn make_batch(plan: &Plan, rng: &mut Rng) -> pb::MutateRowsRequest {
    let entries = (0..plan.batch_rows)
        .map(|_| {
            let template = plan.template(rng);
            pb::RowMutations {
                row: fresh_key(&plan.table, &template.row, rng).into(),
                mutations: template_mutations(template),
            }
        })
        .collect();
    pb::MutateRowsRequest {
        table: plan.table.clone(),
        entries,
    }
}

pub(super) fn batch_size(b: &pb::MutateRowsRequest) -> (u64, u64) {
    (
        b.entries.len() as u64,
        b.entries.iter().map(|e| e.mutations.len() as u64).sum(),
    )
}

/// A new row key shaped like the table's: a random UUID, and for clickstream the template's
/// `#event_time#event_id` after it (a new session with the template's event).
pub(super) fn fresh_key(table: &str, template_key: &[u8], rng: &mut Rng) -> Vec<u8> {
    let (a, b) = (rng.next_u64(), rng.next_u64());
    let mut key = format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    )
    .into_bytes();
    if table == "clickstream"
        && let Some(p) = template_key.iter().position(|&c| c == b'#')
    {
        key.extend_from_slice(&template_key[p..]);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_keys_look_like_the_tables() {
        let mut rng = Rng::new(1);
        let k = fresh_key("transactions", b"x", &mut rng);
        assert_eq!(k.len(), 36);
        let c = fresh_key("clickstream", b"s#2022-01-01T00:00:00Z#e1", &mut rng);
        assert!(c.ends_with(b"#2022-01-01T00:00:00Z#e1"), "{c:?}");
        assert_ne!(fresh_key("transactions", b"x", &mut rng), k);
    }

    #[test]
    fn op_mixes() {
        let mut rng = Rng::new(3);
        let n = 10_000;
        let updates = (0..n)
            .filter(|_| choose_op(Workload::YcsbB, &mut rng) == Op::Update)
            .count();
        assert!(updates > 300 && updates < 700, "{updates}");
        assert!((0..100).all(|_| choose_op(Workload::Gets, &mut rng) == Op::Read));
    }
}
