//! Helpers the gRPC end-to-end tests (`tests/tests/grpc_*.rs`) share: a fixed timestamp,
//! request builders for batches, and reads that return every option's or every version's
//! result.
//!
//! It builds requests and reads replies only; it must never assert anything a test should
//! state itself.

use strata_proto::v1 as pb;

use crate::{scan_all, set};

/// A fixed timestamp (2023-11-14) for writes that set their own versions.
pub const T0: i64 = 1_700_000_000_000_000;

/// One row's mutations, for MutateRows and MutateStream batches.
pub fn row_mutations(row: &[u8], mutations: Vec<pb::Mutation>) -> pb::RowMutations {
    pb::RowMutations {
        row: row.to_vec().into(),
        mutations,
    }
}

/// Get with every option of `req`; None if the row is not found.
pub async fn get_with(
    client: &mut strata_proto::v1::strata_client::StrataClient<tonic::transport::Channel>,
    req: pb::GetRequest,
) -> Option<pb::Row> {
    let r = client
        .get(req)
        .await
        .unwrap_or_else(|s| panic!("get: {s:?}"))
        .into_inner();
    if r.found { r.row } else { None }
}

/// A MutateRows request of `rows` rows (`s00000`...), starting at `first`, each with
/// `cells_per_row` cells `f:q0`... of value `v`.
pub fn batch(
    table: &str,
    first: usize,
    rows: usize,
    cells_per_row: usize,
) -> pb::MutateRowsRequest {
    pb::MutateRowsRequest {
        table: table.into(),
        entries: (first..first + rows)
            .map(|i| {
                row_mutations(
                    format!("s{i:05}").as_bytes(),
                    (0..cells_per_row)
                        .map(|q| set("f", format!("q{q}").as_bytes(), b"v", 0))
                        .collect(),
                )
            })
            .collect(),
    }
}

/// One stored version: (row, family, qualifier, timestamp, value).
pub type Version = (Vec<u8>, String, Vec<u8>, i64, Vec<u8>);

/// Every version of every cell of a table.
pub async fn dump(
    c: &mut strata_proto::v1::strata_client::StrataClient<tonic::transport::Channel>,
    table: &str,
) -> Vec<Version> {
    let (rows, _) = scan_all(
        c,
        pb::ScanRequest {
            table: table.into(),
            max_versions: 100,
            ..Default::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("scan: {e:?}"));
    rows.into_iter()
        .flat_map(|r| {
            let key = r.key.clone();
            r.cells.into_iter().map(move |c| {
                (
                    key.to_vec(),
                    c.family,
                    c.qualifier.to_vec(),
                    c.timestamp_micros,
                    c.value.to_vec(),
                )
            })
        })
        .collect()
}

/// Write an SSTable of `rows` rows (`ing00000`...) with cells in families f and g, all at
/// timestamp [`T0`]; returns the number of cells.
pub fn build_sstable(path: &std::path::Path, first: usize, rows: usize) -> u64 {
    let fs = strata_engine::fs::real();
    let mut b = strata_engine::sstable::TableBuilder::new(
        &fs,
        path,
        strata_engine::sstable::TableBuildOptions {
            families: vec![
                strata_engine::FamilyOptions::new("f"),
                strata_engine::FamilyOptions::new("g"),
            ],
        },
    )
    .unwrap_or_else(|e| panic!("table builder for {}: {e}", path.display()));
    let mut cells = 0;
    for i in first..first + rows {
        let key = format!("ing{i:05}");
        for (family, q, v) in [
            ("f", "a", format!("fa{i}")),
            ("f", "b", format!("fb{i}")),
            ("g", "c", format!("gc{i}")),
        ] {
            b.add(&strata_engine::CellRef {
                row: key.as_bytes(),
                family,
                kind: strata_engine::CellKind::Put,
                qualifier: q.as_bytes(),
                ts: T0,
                seq: 0,
                value: v.as_bytes(),
            })
            .unwrap_or_else(|e| panic!("add cell: {e}"));
            cells += 1;
        }
    }
    b.finish()
        .unwrap_or_else(|e| panic!("finish {}: {e}", path.display()));
    cells
}
