//! The DDL commands: `strata tables`, `create`, `describe`, `alter` and `drop`.
//!
//! Each function owns one command's request and output; family options are parsed by
//! `cli::family` and tables printed by `cli::output`, never here.

use std::io::Write;
use std::time::Instant;

use anyhow::{Result, bail};
use serde_json::json;
use strata_proto::v1 as pb;

use super::{Conn, call, connect, report, took};
use crate::cli::family::FamilySpec;
use crate::cli::output;

/// `strata tables` flags.
#[derive(Debug, clap::Args)]
pub struct TablesArgs {
    #[command(flatten)]
    pub conn: Conn,
}

/// `strata create` flags.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Table name
    pub table: String,
    /// Families, each FAMILY[:opt=val,...]
    #[arg(required = true, value_name = "FAMILY[:opt=val,...]")]
    pub families: Vec<String>,
    #[command(flatten)]
    pub conn: Conn,
}

/// `strata describe` flags.
#[derive(Debug, clap::Args)]
pub struct DescribeArgs {
    /// Table name
    pub table: String,
    #[command(flatten)]
    pub conn: Conn,
}

/// `strata alter` flags.
#[derive(Debug, clap::Args)]
pub struct AlterArgs {
    /// Table name
    pub table: String,
    /// Add a family: FAMILY[:opt=val,...] (repeatable)
    #[arg(long, value_name = "FAMILY[:opt=val,...]")]
    pub add: Vec<String>,
    /// Drop a family and its data (repeatable)
    #[arg(long, value_name = "FAMILY")]
    pub drop: Vec<String>,
    /// Change a family's options: FAMILY:opt=val,... (repeatable)
    #[arg(long, value_name = "FAMILY:opt=val,...")]
    pub modify: Vec<String>,
    #[command(flatten)]
    pub conn: Conn,
}

/// `strata drop` flags.
#[derive(Debug, clap::Args)]
pub struct DropArgs {
    /// Table name
    pub table: String,
    #[command(flatten)]
    pub conn: Conn,
}

pub(super) async fn tables(a: TablesArgs, out: &mut impl Write, start: Instant) -> Result<()> {
    let TablesArgs { conn } = a;
    let mut c = connect(&conn).await?;
    let r = call("ListTables", c.list_tables(pb::ListTablesRequest {}).await)?;
    if conn.json {
        writeln!(out, "{}", json!({ "tables": r.tables }))?;
    } else {
        writeln!(out, "TABLE")?;
        for t in &r.tables {
            writeln!(out, "{t}")?;
        }
        writeln!(out, "{} row(s)", r.tables.len())?;
        took(out, start)?;
    }
    Ok(())
}

pub(super) async fn create(a: CreateArgs, out: &mut impl Write, start: Instant) -> Result<()> {
    let CreateArgs {
        table,
        families,
        conn,
    } = a;
    let families = families
        .iter()
        .map(|f| FamilySpec::parse(f).map(|s| s.to_new()))
        .collect::<Result<Vec<_>>>()?;
    let mut c = connect(&conn).await?;
    call(
        "CreateTable",
        c.create_table(pb::CreateTableRequest {
            table: table.clone(),
            families,
        })
        .await,
    )?;
    if conn.json {
        writeln!(out, "{}", json!({ "created": table }))?;
    } else {
        writeln!(out, "Created table {table}")?;
        took(out, start)?;
    }
    Ok(())
}

pub(super) async fn describe(a: DescribeArgs, out: &mut impl Write) -> Result<()> {
    let DescribeArgs { table, conn } = a;
    let mut c = connect(&conn).await?;
    let d = call(
        "DescribeTable",
        c.describe_table(pb::DescribeTableRequest { table }).await,
    )?;
    if conn.json {
        writeln!(out, "{}", output::describe_json(&d))?;
    } else {
        output::describe_text(out, &d)?;
    }
    Ok(())
}

pub(super) async fn alter(a: AlterArgs, out: &mut impl Write) -> Result<()> {
    let AlterArgs {
        table,
        add,
        drop,
        modify,
        conn,
    } = a;
    if add.is_empty() && drop.is_empty() && modify.is_empty() {
        bail!("alter {table}: nothing to do (give --add, --drop or --modify)");
    }
    let add = add
        .iter()
        .map(|f| FamilySpec::parse(f).map(|s| s.to_new()))
        .collect::<Result<Vec<_>>>()?;
    let modify_specs = modify
        .iter()
        .map(|f| FamilySpec::parse(f))
        .collect::<Result<Vec<_>>>()?;
    let mut c = connect(&conn).await?;
    let mut modify = Vec::with_capacity(modify_specs.len());
    if !modify_specs.is_empty() {
        let current = call(
            "DescribeTable",
            c.describe_table(pb::DescribeTableRequest {
                table: table.clone(),
            })
            .await,
        )?;
        for spec in &modify_specs {
            let Some(base) = current.families.iter().find(|f| f.name == spec.name) else {
                bail!("alter {table}: table has no family {}", spec.name);
            };
            modify.push(spec.apply(base.clone()));
        }
    }
    let r = call(
        "AlterTable",
        c.alter_table(pb::AlterTableRequest {
            table: table.clone(),
            add_families: add,
            drop_families: drop,
            modify_families: modify,
        })
        .await,
    )?;
    if conn.json {
        writeln!(
            out,
            "{}",
            json!({
                "table": table,
                "families": r.families.iter().map(output::family_json).collect::<Vec<_>>(),
            })
        )?;
    } else {
        writeln!(out, "Altered table {table}; families now:")?;
        output::describe_text(
            out,
            &pb::DescribeTableResponse {
                enabled: Default::default(),
                table,
                families: r.families,
                stats: None,
            },
        )?;
    }
    Ok(())
}

pub(super) async fn drop(a: DropArgs, out: &mut impl Write, start: Instant) -> Result<()> {
    let DropArgs { table, conn } = a;
    let mut c = connect(&conn).await?;
    call(
        "DeleteTable",
        c.delete_table(pb::DeleteTableRequest {
            table: table.clone(),
        })
        .await,
    )?;
    report(
        out,
        conn.json,
        json!({ "dropped": table }),
        &format!("Dropped table {table}"),
        start,
    )?;
    Ok(())
}
