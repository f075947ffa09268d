//! The dashboard's content: the old pipeline's charts (customers by gender, device type and
//! age; products by master category, sub category and usage; click events by traffic source,
//! event name and hour of day; transactions by payment method, payment status and year, with
//! the total amount per payment method) and the four tables' row counts, each computed by
//! the aggregation, one scan per table for all of its charts.
//!
//! Tables are found under the brief's names (`customers`, `product`, `transactions`,
//! `clickstream`) or else the pipeline's (`customer`, `click_stream`). A missing table or
//! family shows on its charts as an error; it never fails the page.
//!
//! This module computes and describes; rendering is `pages/dashboard.rs` and `api.rs`.

use std::time::Instant;

use serde::Serialize;
use strata_engine::aggregate::{AggregateResult, Aggregation, BucketKind, Column, Scope};

use super::markup;
use crate::aggregation::Aggregator;
use crate::escape;
use crate::status;

/// How a chart is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChartKind {
    /// Horizontal bars.
    Bar,
    /// Vertical columns (ordered buckets).
    Columns,
    /// A donut of shares.
    Donut,
    /// A line over ordered keys.
    Line,
}

/// Which number of a bucket a chart shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Measure {
    /// Rows per bucket.
    Count,
    /// The sum column per bucket.
    Sum,
}

/// One chart of the dashboard.
#[derive(Clone, Copy, Debug)]
pub struct ChartSpec {
    /// Stable identifier (`customers-by-gender`).
    pub id: &'static str,
    /// Heading.
    pub title: &'static str,
    /// The table's role (the brief's table name).
    pub table: &'static str,
    /// Grouping column.
    pub family: &'static str,
    /// Grouping qualifier.
    pub qualifier: &'static str,
    /// Bucket (`value`, `age`, `year`, ...).
    pub bucket: &'static str,
    /// Buckets kept (0: all).
    pub top: u32,
    /// Summed column, `family:qualifier`.
    pub sum: Option<(&'static str, &'static str)>,
    /// What is drawn.
    pub measure: Measure,
    /// How.
    pub kind: ChartKind,
}

const fn chart(
    id: &'static str,
    title: &'static str,
    table: &'static str,
    column: (&'static str, &'static str),
    bucket: &'static str,
    kind: ChartKind,
) -> ChartSpec {
    ChartSpec {
        id,
        title,
        table,
        family: column.0,
        qualifier: column.1,
        bucket,
        top: 0,
        sum: None,
        measure: Measure::Count,
        kind,
    }
}

const TOTAL_AMOUNT: (&str, &str) = ("transaction_summary", "total_amount");

/// Every chart, in page order.
pub const CHARTS: [ChartSpec; 13] = [
    chart(
        "customers-by-gender",
        "Customers by gender",
        "customers",
        ("personal_info", "gender"),
        "value",
        ChartKind::Donut,
    ),
    chart(
        "customers-by-device-type",
        "Customers by device type",
        "customers",
        ("device_info", "device_type"),
        "value",
        ChartKind::Donut,
    ),
    chart(
        "customers-by-age",
        "Customers by age",
        "customers",
        ("personal_info", "birthdate"),
        "age",
        ChartKind::Columns,
    ),
    chart(
        "products-by-master-category",
        "Products by master category",
        "product",
        ("product_details", "masterCategory"),
        "value",
        ChartKind::Bar,
    ),
    ChartSpec {
        top: 5,
        ..chart(
            "products-by-sub-category",
            "Products by sub category (top 5)",
            "product",
            ("product_details", "subCategory"),
            "value",
            ChartKind::Bar,
        )
    },
    chart(
        "products-by-usage",
        "Products by usage",
        "product",
        ("metadata", "usage"),
        "value",
        ChartKind::Bar,
    ),
    chart(
        "clicks-by-traffic-source",
        "Click events by traffic source",
        "clickstream",
        ("traffic_info", "traffic_source"),
        "value",
        ChartKind::Donut,
    ),
    chart(
        "clicks-by-event-name",
        "Click events by event name",
        "clickstream",
        ("event_details", "event_name"),
        "value",
        ChartKind::Bar,
    ),
    chart(
        "clicks-by-hour-of-day",
        "Click events by hour of day (UTC)",
        "clickstream",
        ("event_details", "event_time"),
        "hour-of-day",
        ChartKind::Columns,
    ),
    ChartSpec {
        sum: Some(TOTAL_AMOUNT),
        ..chart(
            "transactions-by-payment-method",
            "Transactions by payment method",
            "transactions",
            ("payment_info", "payment_method"),
            "value",
            ChartKind::Bar,
        )
    },
    ChartSpec {
        sum: Some(TOTAL_AMOUNT),
        measure: Measure::Sum,
        ..chart(
            "total-amount-by-payment-method",
            "Total amount per payment method",
            "transactions",
            ("payment_info", "payment_method"),
            "value",
            ChartKind::Bar,
        )
    },
    chart(
        "transactions-by-payment-status",
        "Transactions by payment status",
        "transactions",
        ("payment_info", "payment_status"),
        "value",
        ChartKind::Donut,
    ),
    chart(
        "transactions-per-year",
        "Transactions per year",
        "transactions",
        ("transaction_details", "created_at"),
        "year",
        ChartKind::Line,
    ),
];

/// The four tables: role (the brief's name), heading, and the names tried in order.
pub const TABLES: [(&str, &str, &[&str]); 4] = [
    ("product", "Products", &["product"]),
    ("customers", "Customers", &["customers", "customer"]),
    ("transactions", "Transactions", &["transactions"]),
    (
        "clickstream",
        "Click events",
        &["clickstream", "click_stream"],
    ),
];

impl ChartSpec {
    /// The aggregation that computes this chart.
    pub fn aggregation(&self) -> Result<Aggregation, String> {
        let bucket: BucketKind = self.bucket.parse()?;
        let mut a = Aggregation::count_by(self.family, self.qualifier.as_bytes().to_vec())
            .bucket(bucket)
            .top(self.top);
        if let Some((f, q)) = self.sum {
            a = a.sum(Column::new(f, q.as_bytes().to_vec()));
        }
        Ok(a)
    }
}

/// One bucket as the dashboard shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShownBucket {
    /// The key as text (`\xNN` for bytes that are not UTF-8).
    pub key: String,
    /// Rows.
    pub count: u64,
    /// The sum column over the bucket (0 without one).
    pub sum: f64,
}

/// A computed chart.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Chart {
    /// Identifier.
    pub id: &'static str,
    /// Heading.
    pub title: &'static str,
    /// How it is drawn.
    pub kind: ChartKind,
    /// What it draws.
    pub measure: Measure,
    /// The table read (None: none of its names exists).
    pub table: Option<String>,
    /// `family:qualifier`.
    pub column: String,
    /// The bucket.
    pub bucket: &'static str,
    /// Buckets kept (0: all).
    pub top: u32,
    /// Summed column, `family:qualifier`.
    pub sum: Option<String>,
    /// The buckets, in the aggregation's order.
    pub buckets: Vec<ShownBucket>,
    /// Rows read.
    pub rows_scanned: u64,
    /// Rows without the column.
    pub rows_missing: u64,
    /// Values the bucket could not read.
    pub unparsable: u64,
    /// Rows in buckets cut by `top`.
    pub other_count: u64,
    /// Distinct buckets before the cut.
    pub distinct_buckets: u64,
    /// When computed (microseconds since the epoch; 0 when not computed).
    pub computed_at_micros: i64,
    /// The same, as RFC 3339.
    pub computed_at: Option<String>,
    /// Why it could not be computed.
    pub error: Option<String>,
}

/// A table's row count.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Total {
    /// Role (the brief's table name).
    pub role: &'static str,
    /// Heading.
    pub label: &'static str,
    /// The table read (None: none of its names exists).
    pub table: Option<String>,
    /// Rows (the most rows any of its charts read).
    pub rows: u64,
    /// When computed.
    pub computed_at_micros: i64,
    /// The same, as RFC 3339.
    pub computed_at: Option<String>,
    /// Time the table's scan took, in milliseconds.
    pub elapsed_ms: f64,
    /// Why it could not be computed.
    pub error: Option<String>,
}

/// The whole dashboard.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Dashboard {
    /// Row counts of the four tables.
    pub totals: Vec<Total>,
    /// Every chart, in page order.
    pub charts: Vec<Chart>,
}

fn column_name(family: &str, qualifier: &str) -> String {
    format!("{family}:{qualifier}")
}

fn blank_chart(spec: &ChartSpec, table: Option<String>, error: Option<String>) -> Chart {
    Chart {
        id: spec.id,
        title: spec.title,
        kind: spec.kind,
        measure: spec.measure,
        table,
        column: column_name(spec.family, spec.qualifier),
        bucket: spec.bucket,
        top: spec.top,
        sum: spec.sum.map(|(f, q)| column_name(f, q)),
        buckets: Vec::new(),
        rows_scanned: 0,
        rows_missing: 0,
        unparsable: 0,
        other_count: 0,
        distinct_buckets: 0,
        computed_at_micros: 0,
        computed_at: None,
        error,
    }
}

fn filled_chart(spec: &ChartSpec, table: &str, r: &AggregateResult) -> Chart {
    Chart {
        buckets: r
            .buckets
            .iter()
            .map(|b| ShownBucket {
                key: escape::json(&b.key).into_owned(),
                count: b.count,
                sum: b.sum,
            })
            .collect(),
        rows_scanned: r.rows_scanned,
        rows_missing: r.rows_missing,
        unparsable: r.unparsable,
        other_count: r.other_count,
        distinct_buckets: r.distinct_buckets,
        computed_at_micros: r.computed_at_micros,
        computed_at: Some(markup::rfc3339(r.computed_at_micros)),
        ..blank_chart(spec, Some(table.to_string()), None)
    }
}

/// The first of `names` that is a table of the store.
pub fn resolve_table(existing: &[String], names: &[&str]) -> Option<String> {
    names
        .iter()
        .find(|n| existing.iter().any(|e| e == *n))
        .map(|n| (*n).to_string())
}

/// Compute the dashboard: one aggregation scan per table (run concurrently, as many at once
/// as the aggregator allows).
pub async fn compute(aggregator: &Aggregator) -> Dashboard {
    compute_for(aggregator, |_| None).await
}

/// [`compute`] for a caller: `refusal(table)` says why the caller may not read a table, and
/// such a table is not scanned; its charts show the refusal instead.
pub async fn compute_for(
    aggregator: &Aggregator,
    refusal: impl Fn(&str) -> Option<String>,
) -> Dashboard {
    let existing = {
        let db = aggregator.db().clone();
        tokio::task::spawn_blocking(move || db.list_tables())
            .await
            .unwrap_or_default()
    };
    let tasks: Vec<_> = TABLES
        .iter()
        .map(|(role, label, names)| {
            let a = aggregator.clone();
            let table = resolve_table(&existing, names);
            let refused = table.as_deref().and_then(&refusal);
            (
                *role,
                *label,
                table.clone(),
                tokio::spawn(async move {
                    match refused {
                        Some(why) => failed_table(role, label, table, why),
                        None => compute_table(&a, role, label, table).await,
                    }
                }),
            )
        })
        .collect();
    let mut totals = Vec::new();
    let mut charts: Vec<(usize, Chart)> = Vec::new();
    for (role, label, table, task) in tasks {
        let (total, table_charts) = match task.await {
            Ok(done) => done,
            Err(e) => failed_table(role, label, table, format!("dashboard task failed: {e}")),
        };
        totals.push(total);
        charts.extend(table_charts);
    }
    charts.sort_by_key(|(i, _)| *i);
    Dashboard {
        totals,
        charts: charts.into_iter().map(|(_, c)| c).collect(),
    }
}

fn charts_of(role: &str) -> Vec<(usize, &'static ChartSpec)> {
    CHARTS
        .iter()
        .enumerate()
        .filter(|(_, c)| c.table == role)
        .collect()
}

fn failed_table(
    role: &'static str,
    label: &'static str,
    table: Option<String>,
    error: String,
) -> (Total, Vec<(usize, Chart)>) {
    let charts = charts_of(role)
        .into_iter()
        .map(|(i, s)| (i, blank_chart(s, table.clone(), Some(error.clone()))))
        .collect();
    let total = Total {
        role,
        label,
        table,
        rows: 0,
        computed_at_micros: 0,
        computed_at: None,
        elapsed_ms: 0.0,
        error: Some(error),
    };
    (total, charts)
}

async fn compute_table(
    aggregator: &Aggregator,
    role: &'static str,
    label: &'static str,
    table: Option<String>,
) -> (Total, Vec<(usize, Chart)>) {
    let Some(name) = table.clone() else {
        return failed_table(role, label, None, format!("no table named {role}"));
    };
    let specs = charts_of(role);
    let aggs: Result<Vec<Aggregation>, String> =
        specs.iter().map(|(_, s)| s.aggregation()).collect();
    let started = Instant::now();
    let result = match aggs {
        Ok(aggs) => aggregator
            .run(&name, &Scope::all(), &aggs)
            .await
            .map_err(|e| status::from_aggregate(&e).message().to_string()),
        Err(e) => Err(e),
    };
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let results = match result {
        Ok(r) => r,
        Err(e) => {
            let (mut total, charts) = failed_table(role, label, table, e);
            total.elapsed_ms = elapsed_ms;
            return (total, charts);
        }
    };
    let computed_at_micros = results.first().map_or(0, |r| r.computed_at_micros);
    let total = Total {
        role,
        label,
        table,
        rows: results.iter().map(|r| r.rows_scanned).max().unwrap_or(0),
        computed_at_micros,
        computed_at: Some(markup::rfc3339(computed_at_micros)),
        elapsed_ms,
        error: None,
    };
    let charts = specs
        .iter()
        .zip(&results)
        .map(|((i, s), r)| (*i, filled_chart(s, &name, r)))
        .collect();
    (total, charts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chart_has_a_valid_aggregation_on_a_known_table() {
        for c in &CHARTS {
            c.aggregation().unwrap_or_else(|e| panic!("{}: {e}", c.id));
            assert!(
                TABLES.iter().any(|(role, _, _)| *role == c.table),
                "{}",
                c.id
            );
        }
        let mut ids: Vec<&str> = CHARTS.iter().map(|c| c.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), CHARTS.len());
    }

    #[test]
    fn tables_fall_back_to_the_pipeline_names() {
        let names = ["customer".to_string(), "clickstream".to_string()];
        assert_eq!(
            resolve_table(&names, &["customers", "customer"]).as_deref(),
            Some("customer")
        );
        let both = ["customers".to_string(), "customer".to_string()];
        assert_eq!(
            resolve_table(&both, &["customers", "customer"]).as_deref(),
            Some("customers")
        );
        assert_eq!(resolve_table(&names, &["product"]), None);
    }
}
