//! Scanner methods: `scannerOpenWithScan` (what happybase uses) and the older `scannerOpen*`
//! forms open a scan over the engine's snapshot; `scannerGet`/`scannerGetList` page through it;
//! `scannerClose` ends it.
//!
//! HBase's answers are kept: the start row is inclusive and the stop row exclusive (empty
//! means the table's end), a timestamp is an exclusive upper bound in ms, `columns` absent or
//! empty means every family, `batchSize` cuts rows into parts, `sortColumns` fills
//! `sortedColumns`, `scannerGetList(n)` returns n results until the end and `[]` only there.
//! `TScan.filterString` is HBase's filter language (timestamps in ms), parsed once at open and
//! run over every row the scanner reads; a string that does not parse is an `IOError` naming
//! the byte offset (the method declares no `IllegalArgument`). `TScan.reversed` reads rows in
//! descending order from `startRow` (inclusive) down to `stopRow` (exclusive), as HBase does.

use std::ops::Bound;
use std::time::Instant;

use bytes::Bytes;
use strata_engine::ScanOptions;
use strata_engine::filter::TimeUnit;

use super::{Gateway, Outcome, Peer, Reply, read_options, table_name};
use crate::convert::ReadFilter;
use crate::scan_budget::{ConnectionId, Protocol};
use crate::thrift::args::Args;
use crate::thrift::column::selectors;
use crate::thrift::error::ThriftError;
use crate::thrift::scanner::Scan;

/// What a scanner covers.
struct Range {
    start: Bytes,
    stop: Option<Bytes>,
    prefix: Option<Bytes>,
    columns: Option<Vec<Bytes>>,
    timestamp: Option<i64>,
    /// `TScan.filterString` (absent or empty: none).
    filter: Option<Bytes>,
    /// `TScan.reversed`: rows in descending order, from `start` (inclusive) down to `stop`
    /// (exclusive), as HBase's reversed scan.
    reversed: bool,
}

fn open(
    gw: &Gateway,
    peer: &Peer,
    table: &str,
    range: Range,
    sorted: bool,
    batch: usize,
) -> Outcome {
    let first = if range.start.is_empty() {
        Bound::Unbounded
    } else {
        Bound::Included(range.start.to_vec())
    };
    let last = match range.stop {
        Some(s) if !s.is_empty() => Bound::Excluded(s.to_vec()),
        _ => Bound::Unbounded,
    };
    // The engine's options hold the low end in `start` whatever the direction.
    let (start, stop) = if range.reversed {
        (last, first)
    } else {
        (first, last)
    };
    let mut opts = ScanOptions {
        start,
        stop,
        prefix: range.prefix.map(|p| p.to_vec()).unwrap_or_default(),
        read: read_options(selectors(range.columns.as_deref())?, 1, range.timestamp)?,
        limit: 0,
        reverse: range.reversed,
    };
    let filter = ReadFilter::prepare(
        range.filter.as_deref().unwrap_or_default(),
        TimeUnit::Millis,
        &mut opts.read,
    )
    .map_err(|e| ThriftError::io(format!("TScan.filterString: {e}")))?
    .map(|f| f.reversed(range.reversed));
    let conn = ConnectionId {
        protocol: Protocol::Thrift,
        client: peer.client,
    };
    // Counted under the caps before it takes a snapshot.
    let slot = gw.scanners.reserve(conn, Instant::now())?;
    let mut rows = Scan::new(
        gw.db.scan(table, opts)?,
        filter.map(|f| f.state()),
        sorted,
        batch,
    );
    rows.release();
    let id = gw.scanners.open(rows, slot, Instant::now())?;
    Ok(Reply::I32(id))
}

/// `scannerOpenWithScan(1: table, 2: scan)`
pub fn open_with_scan(gw: &Gateway, peer: &Peer, a: &mut Args) -> Outcome {
    let table = table_name(&a.binary(1))?;
    let scan = a.scan(2);
    let batch = scan
        .batch_size
        .and_then(|b| usize::try_from(b).ok())
        .unwrap_or(0);
    let range = Range {
        start: scan.start_row.unwrap_or_default(),
        stop: scan.stop_row,
        prefix: None,
        columns: scan.columns,
        timestamp: scan.timestamp,
        filter: scan.filter_string,
        reversed: scan.reversed.unwrap_or(false),
    };
    open(
        gw,
        peer,
        &table,
        range,
        scan.sort_columns.unwrap_or(false),
        batch,
    )
}

/// The older forms: which argument ids hold the start row, the stop row, the columns and the
/// timestamp (`prefix`: the start row is also a prefix every row must have).
fn open_old(
    gw: &Gateway,
    peer: &Peer,
    a: &mut Args,
    stop: Option<i16>,
    columns: i16,
    ts: Option<i16>,
    prefix: bool,
) -> Outcome {
    let table = table_name(&a.binary(1))?;
    let start = a.binary(2);
    let range = Range {
        prefix: prefix.then(|| start.clone()),
        start,
        stop: stop.map(|id| a.binary(id)),
        columns: a.binaries(columns),
        timestamp: ts.and_then(|id| a.i64(id)),
        filter: None,
        reversed: false,
    };
    open(gw, peer, &table, range, false, 0)
}

/// `scannerOpen(1: table, 2: startRow, 3: columns)`
pub fn open_plain(gw: &Gateway, peer: &Peer, a: &mut Args) -> Outcome {
    open_old(gw, peer, a, None, 3, None, false)
}

/// `scannerOpenWithStop(1: table, 2: startRow, 3: stopRow, 4: columns)`
pub fn open_with_stop(gw: &Gateway, peer: &Peer, a: &mut Args) -> Outcome {
    open_old(gw, peer, a, Some(3), 4, None, false)
}

/// `scannerOpenWithPrefix(1: table, 2: startAndPrefix, 3: columns)`
pub fn open_with_prefix(gw: &Gateway, peer: &Peer, a: &mut Args) -> Outcome {
    open_old(gw, peer, a, None, 3, None, true)
}

/// `scannerOpenTs(1: table, 2: startRow, 3: columns, 4: timestamp)`
pub fn open_ts(gw: &Gateway, peer: &Peer, a: &mut Args) -> Outcome {
    open_old(gw, peer, a, None, 3, Some(4), false)
}

/// `scannerOpenWithStopTs(1: table, 2: startRow, 3: stopRow, 4: columns, 5: timestamp)`
pub fn open_with_stop_ts(gw: &Gateway, peer: &Peer, a: &mut Args) -> Outcome {
    open_old(gw, peer, a, Some(3), 4, Some(5), false)
}

fn next(gw: &Gateway, id: i32, n: i32) -> Outcome {
    let n = usize::try_from(n)
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| ThriftError::illegal(format!("nbRows {n} must be at least 1")))?;
    let scan = gw.scanners.get(id, Instant::now())?;
    let rows = {
        let mut scan = scan.lock();
        let rows = scan.next(n, gw.reply_budget());
        // Between calls the scanner holds no table version (it re-opens at its snapshot).
        scan.release();
        rows
    };
    gw.scanners.touch(id, Instant::now());
    Ok(Reply::Rows(rows?))
}

/// `scannerGet(1: id)`
pub fn get(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    next(gw, a.i32(1), 1)
}

/// `scannerGetList(1: id, 2: nbRows)`
pub fn get_list(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    let id = a.i32(1);
    let n = a.i32(2);
    next(gw, id, n)
}

/// `scannerClose(1: id)`
pub fn close(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    gw.scanners.close(a.i32(1), Instant::now())?;
    Ok(Reply::Void)
}
