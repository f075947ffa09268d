//! Admin methods: listing, creating, describing and deleting tables, regions, compactions and
//! the enabled state (kept by the engine in the manifest: `Db::disable_table`).
//!
//! HBase's answers are kept: table names sorted; `createTable` of an existing table is
//! `AlreadyExists`; `deleteTable` of a missing table, or of an enabled one (HBase requires
//! `disableTable` first), an `IOError`; `getTableRegions` one region
//! with empty start and end keys, or `[]` for a missing table; `compact` takes a table or a
//! region name.

use bytes::Bytes;

use super::{Gateway, Outcome, Peer, Reply, table_name};
use crate::thrift::args::Args;
use crate::thrift::descriptor::{family_from_thrift, family_to_thrift};
use crate::thrift::error::ThriftError;
use crate::thrift::types::{Map, TRegionInfo};

/// HBase's `TThriftServerType.ONE`.
const THRIFT_SERVER_TYPE_ONE: i32 = 1;

fn sorted_tables(gw: &Gateway) -> Vec<String> {
    let mut names = gw.db.list_tables();
    names.sort();
    names
}

fn existing(gw: &Gateway, raw: &Bytes) -> Result<String, ThriftError> {
    let name = table_name(raw)?;
    if !gw.exists(&name) {
        return Err(ThriftError::io(format!("table not found: {name}")));
    }
    Ok(name)
}

/// `getTableNames()`
pub fn get_table_names(gw: &Gateway, _: &Peer, _: &mut Args) -> Outcome {
    Ok(Reply::Names(
        sorted_tables(gw).into_iter().map(Bytes::from).collect(),
    ))
}

/// `getTableNamesWithIsTableEnabled()` (HBase 2.x)
pub fn get_table_names_with_is_table_enabled(gw: &Gateway, _: &Peer, _: &mut Args) -> Outcome {
    // A table dropped since the listing is left out.
    Ok(Reply::Flags(Map(sorted_tables(gw)
        .into_iter()
        .filter_map(|t| {
            let enabled = gw.db.is_table_enabled(&t).ok()?;
            Some((Bytes::from(t), enabled))
        })
        .collect())))
}

/// `getColumnDescriptors(1: tableName)`
pub fn get_column_descriptors(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    let table = table_name(&a.binary(1))?;
    let d = gw.db.describe_table(&table)?;
    let mut all: Vec<(Bytes, _)> = d
        .families
        .iter()
        .map(family_to_thrift)
        .map(|cd| (cd.name.clone(), cd))
        .collect();
    all.sort_by(|x, y| x.0.cmp(&y.0));
    Ok(Reply::Descriptors(Map(all)))
}

/// `getTableRegions(1: tableName)`
pub fn get_table_regions(gw: &Gateway, peer: &Peer, a: &mut Args) -> Outcome {
    let raw = a.binary(1);
    let Ok(table) = table_name(&raw) else {
        return Ok(Reply::Regions(Vec::new()));
    };
    if !gw.exists(&table) {
        return Ok(Reply::Regions(Vec::new()));
    }
    Ok(Reply::Regions(vec![TRegionInfo {
        start_key: Bytes::new(),
        end_key: Bytes::new(),
        id: 1,
        name: Bytes::from(format!("{table},,1")),
        version: 1,
        server_name: Bytes::from(peer.local.ip().to_string()),
        port: i32::from(peer.local.port()),
    }]))
}

/// `createTable(1: tableName, 2: columnFamilies)`
pub fn create_table(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    let table = table_name(&a.binary(1))?;
    if gw.exists(&table) {
        return Err(ThriftError::AlreadyExists(format!(
            "table {table} already exists"
        )));
    }
    let families = a
        .descriptors(2)
        .iter()
        .map(family_from_thrift)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.context(&format!("table {table}")))?;
    gw.db.create_table(&table, families)?;
    Ok(Reply::Void)
}

/// `deleteTable(1: tableName)`: as HBase, only a disabled table is deleted (happybase's
/// `delete_table(name, disable=True)` disables it first); an enabled one is an `IOError`
/// naming it. (gRPC `DeleteTable` deletes an enabled table.)
pub fn delete_table(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    let table = table_name(&a.binary(1))?;
    if gw.db.is_table_enabled(&table)? {
        return Err(ThriftError::io(format!(
            "table {table} is enabled: disable it (disableTable) before deleting it"
        )));
    }
    gw.db.drop_table(&table)?;
    Ok(Reply::Void)
}

/// `isTableEnabled(1: tableName)`
pub fn is_table_enabled(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    let table = existing(gw, &a.binary(1))?;
    Ok(Reply::Bool(gw.db.is_table_enabled(&table)?))
}

/// `enableTable(1: tableName)`
pub fn enable_table(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    let table = existing(gw, &a.binary(1))?;
    gw.db.enable_table(&table)?;
    Ok(Reply::Void)
}

/// `disableTable(1: tableName)`
pub fn disable_table(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    let table = existing(gw, &a.binary(1))?;
    gw.db.disable_table(&table)?;
    Ok(Reply::Void)
}

fn compact(gw: &Gateway, a: &mut Args, major: bool) -> Outcome {
    let raw = a.binary(1);
    // A region name is `table,start key,id`; table names cannot hold a comma.
    let table_part = match raw.iter().position(|&b| b == b',') {
        Some(i) => raw.slice(..i),
        None => raw,
    };
    let table = table_name(&table_part)?;
    gw.db.compact(&table, major)?;
    Ok(Reply::Void)
}

/// `compact(1: tableNameOrRegionName)`
pub fn minor_compact(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    compact(gw, a, false)
}

/// `majorCompact(1: tableNameOrRegionName)`
pub fn major_compact(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    compact(gw, a, true)
}

/// `getThriftServerType()` (HBase 2.x): ONE, this is the Thrift1 service.
pub fn get_thrift_server_type(_: &Gateway, _: &Peer, _: &mut Args) -> Outcome {
    Ok(Reply::I32(THRIFT_SERVER_TYPE_ONE))
}

/// `getClusterId()` (HBase 2.x)
pub fn get_cluster_id(_: &Gateway, _: &Peer, _: &mut Args) -> Outcome {
    Ok(Reply::Text("strata".into()))
}
