//! Read methods: `get`, `getVer(Ts)` (cells of one column or family) and `getRow(s)` with or
//! without columns and timestamp (whole rows).
//!
//! HBase's answers are kept: a missing row is `[]` (rows with no matching cell are omitted),
//! `columns` absent or empty means every family, a timestamp is an exclusive upper bound in
//! milliseconds, row results carry one version per column.

use bytes::Bytes;
use strata_engine::ReadOptions;

use super::{Gateway, Outcome, Peer, Reply, read_options, table_name};
use crate::thrift::args::Args;
use crate::thrift::column::{Column, selectors};
use crate::thrift::error::{ThriftError, show};
use crate::thrift::shape;

fn cells(gw: &Gateway, a: &mut Args, versions: Option<i16>, ts: Option<i16>) -> Outcome {
    let table = table_name(&a.binary(1))?;
    let row = a.binary(2);
    let column = Column::parse(&a.binary(3))?;
    let versions = match versions {
        None => 1,
        Some(id) => {
            let n = a.i32(id);
            u32::try_from(n).ok().filter(|&n| n >= 1).ok_or_else(|| {
                ThriftError::illegal(format!("numVersions {n} must be at least 1"))
            })?
        }
    };
    let ts = ts.and_then(|id| a.i64(id));
    let opts = read_options(vec![column.selector()], versions, ts)?;
    Ok(Reply::Cells(shape::cells(gw.db.get(&table, &row, &opts)?)))
}

/// `get(1: table, 2: row, 3: column)`: the newest cell(s) of a column or family.
pub fn get(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    cells(gw, a, None, None)
}

/// `getVer(1: table, 2: row, 3: column, 4: numVersions)`
pub fn get_ver(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    cells(gw, a, Some(4), None)
}

/// `getVerTs(1: table, 2: row, 3: column, 4: timestamp, 5: numVersions)`
pub fn get_ver_ts(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    cells(gw, a, Some(5), Some(4))
}

/// The rows `keys` (in that order, missing ones omitted), as results.
fn rows(gw: &Gateway, table: &str, keys: Vec<Bytes>, opts: &ReadOptions) -> Outcome {
    let budget = gw.reply_budget();
    let mut bytes = 0usize;
    let mut out = Vec::with_capacity(keys.len().min(1024));
    for key in keys {
        if let Some(row) = gw.db.get(table, &key, opts)? {
            bytes = bytes.saturating_add(shape::encoded_size(&row));
            if bytes > budget {
                return Err(ThriftError::io(format!(
                    "the reply would exceed {budget} bytes (max_message_bytes) at row {:?}: \
                     ask for fewer rows or use a scanner",
                    show(&key)
                )));
            }
            out.push(shape::row_result(row, false));
        }
    }
    Ok(Reply::Rows(out))
}

/// The shared body of the `getRow*` and `getRows*` methods: which argument ids hold the
/// rows (a list or one row), the columns and the timestamp.
fn get_rows(
    gw: &Gateway,
    a: &mut Args,
    many: bool,
    columns: Option<i16>,
    ts: Option<i16>,
) -> Outcome {
    let table = table_name(&a.binary(1))?;
    let keys = if many {
        a.binaries(2).unwrap_or_default()
    } else {
        vec![a.binary(2)]
    };
    let columns = columns.and_then(|id| a.binaries(id));
    let ts = ts.and_then(|id| a.i64(id));
    let opts = read_options(selectors(columns.as_deref())?, 1, ts)?;
    rows(gw, &table, keys, &opts)
}

/// `getRow(1: table, 2: row)`
pub fn get_row(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    get_rows(gw, a, false, None, None)
}

/// `getRowWithColumns(1: table, 2: row, 3: columns)`
pub fn get_row_with_columns(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    get_rows(gw, a, false, Some(3), None)
}

/// `getRowTs(1: table, 2: row, 3: timestamp)`
pub fn get_row_ts(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    get_rows(gw, a, false, None, Some(3))
}

/// `getRowWithColumnsTs(1: table, 2: row, 3: columns, 4: timestamp)`
pub fn get_row_with_columns_ts(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    get_rows(gw, a, false, Some(3), Some(4))
}

/// `getRows(1: table, 2: rows)`
pub fn get_rows_plain(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    get_rows(gw, a, true, None, None)
}

/// `getRowsWithColumns(1: table, 2: rows, 3: columns)`
pub fn get_rows_with_columns(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    get_rows(gw, a, true, Some(3), None)
}

/// `getRowsTs(1: table, 2: rows, 3: timestamp)`
pub fn get_rows_ts(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    get_rows(gw, a, true, None, Some(3))
}

/// `getRowsWithColumnsTs(1: table, 2: rows, 3: columns, 4: timestamp)`
pub fn get_rows_with_columns_ts(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    get_rows(gw, a, true, Some(3), Some(4))
}
