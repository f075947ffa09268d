//! Request builders (families, the mutation kinds, column selectors), one-call reads and writes,
//! and the status assertion the end-to-end tests share.
//!
//! It builds requests and unpacks replies; the only thing it asserts itself is what a helper
//! promises (e.g. a found row has cells), never a test's expectation.

use strata_proto::v1 as pb;
use strata_proto::v1::strata_client::StrataClient;
use tonic::transport::Channel;

/// A family with default options.
pub fn family(name: &str) -> pb::FamilyOptions {
    pb::FamilyOptions {
        name: name.to_owned(),
        ..Default::default()
    }
}

/// A SetCell mutation.
pub fn set(family: &str, qualifier: &[u8], value: &[u8], ts: i64) -> pb::Mutation {
    pb::Mutation {
        kind: Some(pb::mutation::Kind::SetCell(pb::SetCell {
            family: family.to_owned(),
            qualifier: qualifier.to_vec().into(),
            value: value.to_vec().into(),
            timestamp_micros: ts,
        })),
    }
}

/// A DeleteCells mutation (ts 0: every version).
pub fn delete_cells(family: &str, qualifier: &[u8], ts: i64) -> pb::Mutation {
    pb::Mutation {
        kind: Some(pb::mutation::Kind::DeleteCells(pb::DeleteCells {
            family: family.to_owned(),
            qualifier: qualifier.to_vec().into(),
            timestamp_micros: ts,
            ..Default::default()
        })),
    }
}

/// A DeleteFamily mutation.
pub fn delete_family(family: &str) -> pb::Mutation {
    pb::Mutation {
        kind: Some(pb::mutation::Kind::DeleteFamily(pb::DeleteFamily {
            family: family.to_owned(),
            ..Default::default()
        })),
    }
}

/// A DeleteRow mutation.
pub fn delete_row() -> pb::Mutation {
    pb::Mutation {
        kind: Some(pb::mutation::Kind::DeleteRow(pb::DeleteRow::default())),
    }
}

/// A column selector (empty qualifier: the whole family).
pub fn column(family: &str, qualifier: &[u8]) -> pb::ColumnSelector {
    pb::ColumnSelector {
        family: family.to_owned(),
        qualifier: qualifier.to_vec().into(),
    }
}

/// Create `table` with default-option families.
pub async fn create_table(client: &mut StrataClient<Channel>, table: &str, families: &[&str]) {
    client
        .create_table(pb::CreateTableRequest {
            table: table.to_owned(),
            families: families.iter().map(|f| family(f)).collect(),
        })
        .await
        .unwrap_or_else(|s| panic!("create table {table}: {s:?}"));
}

/// Write one cell with Mutate.
pub async fn put(
    client: &mut StrataClient<Channel>,
    table: &str,
    row: &[u8],
    family: &str,
    qualifier: &[u8],
    value: &[u8],
) {
    client
        .mutate(pb::MutateRequest {
            table: table.to_owned(),
            row: row.to_vec().into(),
            mutations: vec![set(family, qualifier, value, 0)],
        })
        .await
        .unwrap_or_else(|s| panic!("put {table}/{row:?}: {s:?}"));
}

/// Get a whole row (latest versions); None if not found.
pub async fn get_row(
    client: &mut StrataClient<Channel>,
    table: &str,
    row: &[u8],
) -> Option<pb::Row> {
    let r = client
        .get(pb::GetRequest {
            table: table.to_owned(),
            row: row.to_vec().into(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("get {table}/{row:?}: {s:?}"))
        .into_inner();
    if r.found {
        Some(r.row.unwrap_or_else(|| panic!("found implies a row")))
    } else {
        assert!(
            r.row.as_ref().is_none_or(|row| row.cells.is_empty()),
            "not found but cells returned: {r:?}"
        );
        None
    }
}

/// Run a scan to the end; returns every reply's rows in order, and the number of replies.
pub async fn scan_all(
    client: &mut StrataClient<Channel>,
    req: pb::ScanRequest,
) -> Result<(Vec<pb::Row>, usize), tonic::Status> {
    let mut stream = client.scan(req).await?.into_inner();
    let mut rows = Vec::new();
    let mut replies = 0;
    while let Some(reply) = stream.message().await? {
        replies += 1;
        rows.extend(reply.rows);
    }
    Ok((rows, replies))
}

/// Row keys of a scan of the whole table.
pub async fn scan_keys(client: &mut StrataClient<Channel>, table: &str) -> Vec<Vec<u8>> {
    let (rows, _) = scan_all(
        client,
        pb::ScanRequest {
            table: table.to_owned(),
            ..Default::default()
        },
    )
    .await
    .unwrap_or_else(|s| panic!("scan {table}: {s:?}"));
    rows.into_iter().map(|r| r.key.to_vec()).collect()
}

/// `(family, qualifier, value)` of each cell, for compact assertions.
pub fn cells(row: &pb::Row) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    row.cells
        .iter()
        .map(|c| (c.family.clone(), c.qualifier.to_vec(), c.value.to_vec()))
        .collect()
}

/// A `(family, qualifier, value)` triple from string literals.
pub fn triple(family: &str, qualifier: &str, value: &str) -> (String, Vec<u8>, Vec<u8>) {
    (
        family.to_owned(),
        qualifier.as_bytes().to_vec(),
        value.as_bytes().to_vec(),
    )
}

/// Assert a status has `code` and a message containing every one of `needles`.
#[track_caller]
pub fn assert_status(status: &tonic::Status, code: tonic::Code, needles: &[&str]) {
    assert_eq!(
        status.code(),
        code,
        "expected {code:?}, got {:?}: {}",
        status.code(),
        status.message()
    );
    for n in needles {
        assert!(
            status.message().contains(n),
            "status message {:?} should name {n:?}",
            status.message()
        );
    }
}
