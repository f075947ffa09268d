//! `strata demo`'s dashboard: the old dashboard's distributions (customers by gender, device
//! and age band, products by category and usage, click events by source and name, transactions
//! by payment method and year) computed through Scan with column selection, and printed as
//! text tables.
//!
//! It owns the queries, the bucketing of values and the tables' layout; it must never write
//! to the store.

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use strata_proto::v1 as pb;
use strata_server::Client;

use super::Out;
use crate::cli::load::{per_sec, status_error};

/// Query the dashboard's distributions, printing a timing line per table and then every
/// distribution. Returns the rows each table's scan saw.
pub(super) async fn query_and_print(
    client: &mut Client,
    out: &mut Out,
) -> Result<BTreeMap<&'static str, u64>> {
    let today = today_days();
    let mut report = Vec::new();
    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();

    let t = Instant::now();
    let (rows, d) = distributions(
        client,
        "customers",
        &[
            ("personal_info", "gender"),
            ("device_info", "device_type"),
            ("personal_info", "birthdate"),
        ],
        |i, v| match i {
            2 => age_band(v, today),
            _ => text(v),
        },
    )
    .await?;
    counts.insert("customers", rows);
    out.step("query customers", t.elapsed(), scan_note(rows, 3, t));
    report.push(("Customers by gender", d[0].clone(), None));
    report.push(("Customers by device type", d[1].clone(), None));
    report.push(("Customers by age band", d[2].clone(), Some(Order::Key)));

    let t = Instant::now();
    let (rows, d) = distributions(
        client,
        "product",
        &[
            ("product_details", "masterCategory"),
            ("product_details", "subCategory"),
            ("metadata", "usage"),
        ],
        |_, v| text(v),
    )
    .await?;
    counts.insert("product", rows);
    out.step("query product", t.elapsed(), scan_note(rows, 3, t));
    report.push(("Products by master category", d[0].clone(), None));
    report.push((
        "Products by sub category, top 10",
        d[1].clone(),
        Some(Order::Top(10)),
    ));
    report.push(("Products by usage", d[2].clone(), None));

    let t = Instant::now();
    let (rows, d) = distributions(
        client,
        "clickstream",
        &[
            ("traffic_info", "traffic_source"),
            ("event_details", "event_name"),
        ],
        |_, v| text(v),
    )
    .await?;
    counts.insert("clickstream", rows);
    out.step("query clickstream", t.elapsed(), scan_note(rows, 2, t));
    report.push(("Click events by traffic source", d[0].clone(), None));
    report.push(("Click events by event name", d[1].clone(), None));

    let t = Instant::now();
    let (rows, d) = distributions(
        client,
        "transactions",
        &[
            ("payment_info", "payment_method"),
            ("transaction_details", "created_at"),
        ],
        |i, v| match i {
            1 => year(v),
            _ => text(v),
        },
    )
    .await?;
    counts.insert("transactions", rows);
    out.step("query transactions", t.elapsed(), scan_note(rows, 2, t));
    report.push(("Transactions by payment method", d[0].clone(), None));
    report.push(("Transactions by year", d[1].clone(), Some(Order::Key)));

    out.line(String::new());
    for (title, dist, order) in &report {
        print_distribution(out, title, dist, order.unwrap_or(Order::Count));
    }
    Ok(counts)
}

fn scan_note(rows: u64, columns: usize, t: Instant) -> String {
    format!(
        "Scan of {columns} columns: {rows} rows, {:.0} rows/s",
        per_sec(rows as f64, t.elapsed())
    )
}

/// Value counts of one column.
type Dist = BTreeMap<String, u64>;

/// Scan `table` selecting `columns` and count, per column, the values `bucket(i, value)`
/// puts them in. Returns the rows seen and one distribution per column.
async fn distributions(
    client: &mut Client,
    table: &str,
    columns: &[(&str, &str)],
    bucket: impl Fn(usize, &[u8]) -> String,
) -> Result<(u64, Vec<Dist>)> {
    let req = pb::ScanRequest {
        table: table.to_string(),
        columns: columns
            .iter()
            .map(|(f, q)| pb::ColumnSelector {
                family: f.to_string(),
                qualifier: q.as_bytes().to_vec().into(),
            })
            .collect(),
        ..Default::default()
    };
    let mut stream = client
        .scan(req)
        .await
        .map_err(|s| status_error(&format!("Scan of {table}"), &s))?
        .into_inner();
    let mut dists = vec![Dist::new(); columns.len()];
    let mut rows = 0u64;
    while let Some(reply) = stream
        .message()
        .await
        .map_err(|s| status_error(&format!("Scan of {table}"), &s))?
    {
        for row in &reply.rows {
            rows += 1;
            for (i, (f, q)) in columns.iter().enumerate() {
                let key = match row
                    .cells
                    .iter()
                    .find(|c| c.family == *f && c.qualifier == q.as_bytes())
                {
                    Some(c) => bucket(i, &c.value),
                    None => "(missing)".to_string(),
                };
                *dists[i].entry(key).or_insert(0) += 1;
            }
        }
    }
    Ok((rows, dists))
}

fn text(v: &[u8]) -> String {
    if v.is_empty() {
        "(empty)".to_string()
    } else {
        String::from_utf8_lossy(v).into_owned()
    }
}

/// The year of an ISO-8601 timestamp.
fn year(v: &[u8]) -> String {
    match v.get(..4) {
        Some(y) if y.iter().all(u8::is_ascii_digit) => text(y),
        _ => "(invalid)".to_string(),
    }
}

/// Days since the epoch, today (UTC).
fn today_days() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| (d.as_secs() / 86_400) as i64)
}

/// The age band of a `YYYY-MM-DD` birthdate on day `today` (days since the epoch).
fn age_band(v: &[u8], today: i64) -> String {
    let parse = |r: std::ops::Range<usize>| -> Option<i64> {
        std::str::from_utf8(v.get(r)?).ok()?.parse().ok()
    };
    let (Some(y), Some(m), Some(d)) = (parse(0..4), parse(5..7), parse(8..10)) else {
        return "(invalid)".to_string();
    };
    let (ty, tm, td) = strata_loader::time::civil_from_days(today);
    let mut age = ty - y;
    if (i64::from(tm), i64::from(td)) < (m, d) {
        age -= 1;
    }
    match age {
        i64::MIN..=17 => "under 18",
        18..=24 => "18-24",
        25..=34 => "25-34",
        35..=44 => "35-44",
        45..=54 => "45-54",
        55..=64 => "55-64",
        _ => "65+",
    }
    .to_string()
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
    fn age_bands_count_birthdays() {
        let today = strata_loader::time::days_from_civil(2024, 6, 15);
        assert_eq!(age_band(b"2000-06-15", today), "18-24"); // 24 today
        assert_eq!(age_band(b"1999-06-16", today), "18-24"); // 24, 25 tomorrow
        assert_eq!(age_band(b"1999-06-15", today), "25-34");
        assert_eq!(age_band(b"2010-01-01", today), "under 18");
        assert_eq!(age_band(b"1950-01-01", today), "65+");
        assert_eq!(age_band(b"19x0-01-01", today), "(invalid)");
        assert_eq!(age_band(b"", today), "(invalid)");
    }

    #[test]
    fn years_and_empty_values() {
        assert_eq!(year(b"2022-07-29T15:22:01.458193Z"), "2022");
        assert_eq!(year(b"22"), "(invalid)");
        assert_eq!(text(b""), "(empty)");
        assert_eq!(text(b"OVO"), "OVO");
    }
}
