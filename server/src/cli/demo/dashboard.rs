//! `strata demo`'s dashboard: the old dashboard's distributions (customers by gender, device
//! and age band, products by category and usage, click events by source and name, transactions
//! by payment method and year) computed by the server's Aggregate RPC (each a scan inside the
//! server reading only the column's family; no row is shipped), and printed as text tables.
//!
//! It owns the queries, how buckets are shown (age bands from the `age` bucket) and the
//! tables' layout; it must never write to the store.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Result;
use strata_proto::v1 as pb;
use strata_server::Client;

use super::Out;
use crate::cli::load::{per_sec, status_error};

/// One printed distribution: title, column, bucket, how its lines are ordered.
struct Query {
    title: &'static str,
    family: &'static str,
    qualifier: &'static str,
    bucket: &'static str,
    order: Order,
}

const fn query(
    title: &'static str,
    (family, qualifier): (&'static str, &'static str),
    bucket: &'static str,
    order: Order,
) -> Query {
    Query {
        title,
        family,
        qualifier,
        bucket,
        order,
    }
}

/// The distributions, per table, in print order.
const QUERIES: [(&str, &[Query]); 4] = [
    (
        "customers",
        &[
            query(
                "Customers by gender",
                ("personal_info", "gender"),
                "value",
                Order::Count,
            ),
            query(
                "Customers by device type",
                ("device_info", "device_type"),
                "value",
                Order::Count,
            ),
            query(
                "Customers by age band",
                ("personal_info", "birthdate"),
                "age",
                Order::Key,
            ),
        ],
    ),
    (
        "product",
        &[
            query(
                "Products by master category",
                ("product_details", "masterCategory"),
                "value",
                Order::Count,
            ),
            query(
                "Products by sub category, top 10",
                ("product_details", "subCategory"),
                "value",
                Order::Top(10),
            ),
            query(
                "Products by usage",
                ("metadata", "usage"),
                "value",
                Order::Count,
            ),
        ],
    ),
    (
        "clickstream",
        &[
            query(
                "Click events by traffic source",
                ("traffic_info", "traffic_source"),
                "value",
                Order::Count,
            ),
            query(
                "Click events by event name",
                ("event_details", "event_name"),
                "value",
                Order::Count,
            ),
        ],
    ),
    (
        "transactions",
        &[
            query(
                "Transactions by payment method",
                ("payment_info", "payment_method"),
                "value",
                Order::Count,
            ),
            query(
                "Transactions by year",
                ("transaction_details", "created_at"),
                "year",
                Order::Key,
            ),
        ],
    ),
];

/// Query the dashboard's distributions, printing a timing line per table and then every
/// distribution. Returns the rows each table's aggregations read.
pub(super) async fn query_and_print(
    client: &mut Client,
    out: &mut Out,
) -> Result<BTreeMap<&'static str, u64>> {
    let mut report = Vec::new();
    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    for (table, queries) in QUERIES {
        let t = Instant::now();
        let mut rows = 0u64;
        let mut cells = 0u64;
        for q in queries {
            let r = aggregate(client, table, q).await?;
            rows = rows.max(r.rows_scanned);
            cells += r.cells_scanned;
            report.push((q.title, distribution(&r, q.bucket), q.order));
        }
        counts.insert(table, rows);
        out.step(
            &format!("query {table}"),
            t.elapsed(),
            format!(
                "{} Aggregate calls: {rows} rows, {cells} cells read in the server, {:.0} cells/s",
                queries.len(),
                per_sec(cells as f64, t.elapsed())
            ),
        );
    }
    out.line(String::new());
    for (title, dist, order) in &report {
        print_distribution(out, title, dist, *order);
    }
    Ok(counts)
}

async fn aggregate(client: &mut Client, table: &str, q: &Query) -> Result<pb::AggregateResponse> {
    let req = pb::AggregateRequest {
        table: table.to_string(),
        family: q.family.to_string(),
        qualifier: q.qualifier.as_bytes().to_vec().into(),
        bucket: q.bucket.to_string(),
        ..Default::default()
    };
    Ok(client
        .aggregate(req)
        .await
        .map_err(|s| {
            status_error(
                &format!("Aggregate of {table} {}:{}", q.family, q.qualifier),
                &s,
            )
        })?
        .into_inner())
}

/// Value counts of one column, as printed.
type Dist = BTreeMap<String, u64>;

/// A reply as printed lines: ages grouped into bands, empty values as `(empty)`, rows without
/// the column as `(missing)`, values the bucket could not read as `(invalid)`.
fn distribution(r: &pb::AggregateResponse, bucket: &str) -> Dist {
    let mut d = Dist::new();
    for b in &r.buckets {
        let key = match bucket {
            "age" => std::str::from_utf8(&b.key)
                .ok()
                .and_then(|k| k.parse::<i64>().ok())
                .map_or("(invalid)", age_band)
                .to_string(),
            _ => text(&b.key),
        };
        *d.entry(key).or_insert(0) += b.count;
    }
    for (label, n) in [("(missing)", r.rows_missing), ("(invalid)", r.unparsable)] {
        if n > 0 {
            *d.entry(label.to_string()).or_insert(0) += n;
        }
    }
    d
}

fn text(v: &[u8]) -> String {
    if v.is_empty() {
        "(empty)".to_string()
    } else {
        String::from_utf8_lossy(v).into_owned()
    }
}

/// The band of an age in whole years.
fn age_band(age: i64) -> &'static str {
    match age {
        i64::MIN..=17 => "under 18",
        18..=24 => "18-24",
        25..=34 => "25-34",
        35..=44 => "35-44",
        45..=54 => "45-54",
        55..=64 => "55-64",
        _ => "65+",
    }
}

/// How a distribution's lines are ordered.
#[derive(Clone, Copy, Debug)]
enum Order {
    /// Most frequent first.
    Count,
    /// By value (age bands, years).
    Key,
    /// The N most frequent, then one line for the rest.
    Top(usize),
}

fn print_distribution(out: &mut Out, title: &str, dist: &Dist, order: Order) {
    let total: u64 = dist.values().sum();
    let mut lines: Vec<(String, u64)> = dist.iter().map(|(k, v)| (k.clone(), *v)).collect();
    match order {
        Order::Key => {}
        Order::Count | Order::Top(_) => {
            lines.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        }
    }
    if let Order::Top(n) = order
        && lines.len() > n
    {
        let rest: u64 = lines[n..].iter().map(|l| l.1).sum();
        let others = lines.len() - n;
        lines.truncate(n);
        lines.push((format!("({others} others)"), rest));
    }
    let width = lines
        .iter()
        .map(|l| l.0.chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    out.line(format!("{title} ({total} rows)"));
    out.line(format!("  {:<width$} {:>10} {:>7}", "VALUE", "COUNT", "%"));
    for (k, v) in lines {
        let pct = if total == 0 {
            0.0
        } else {
            v as f64 * 100.0 / total as f64
        };
        out.line(format!("  {k:<width$} {v:>10} {pct:>6.1}%"));
    }
    out.line(String::new());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_fall_into_bands() {
        assert_eq!(age_band(24), "18-24");
        assert_eq!(age_band(25), "25-34");
        assert_eq!(age_band(17), "under 18");
        assert_eq!(age_band(-3), "under 18");
        assert_eq!(age_band(74), "65+");
    }

    #[test]
    fn replies_print_with_bands_and_the_rows_without_a_bucket() {
        let bucket = |k: &str, count| pb::Bucket {
            key: k.as_bytes().to_vec().into(),
            count,
            ..Default::default()
        };
        let r = pb::AggregateResponse {
            buckets: vec![bucket("20", 2), bucket("24", 1), bucket("30", 4)],
            rows_missing: 1,
            unparsable: 3,
            ..Default::default()
        };
        let d = distribution(&r, "age");
        let want: Dist = [
            ("18-24", 3),
            ("25-34", 4),
            ("(missing)", 1),
            ("(invalid)", 3),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(d, want);
        let v = pb::AggregateResponse {
            buckets: vec![bucket("", 2), bucket("OVO", 1)],
            ..Default::default()
        };
        assert_eq!(distribution(&v, "value")["(empty)"], 2);
        assert_eq!(text(b"OVO"), "OVO");
    }
}
