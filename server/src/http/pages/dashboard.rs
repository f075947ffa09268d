//! The dashboard page: the four tables' row counts, then every chart as inline SVG with a
//! line saying what it was computed from and when. [`main`] is the part the page's script
//! fetches again (`/?fragment=main`) to refresh the numbers in place.

use std::fmt::Write as _;

use crate::http::charts::{self, Point};
use crate::http::dashboard::{Chart, ChartKind, Dashboard, Measure};
use crate::http::markup;

use super::layout::{self, Refresh};

/// The whole page.
pub fn page(d: &Dashboard, refresh: Refresh) -> String {
    layout::page("Dashboard", &main(d, refresh), Some(refresh))
}

/// The refreshed part: totals and charts.
pub fn main(d: &Dashboard, refresh: Refresh) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<p class=\"meta\">Figures computed by the server's Aggregate scans; refreshed every \
         {} s. <span id=\"refresh-state\"></span></p><div class=\"totals\">",
        refresh.seconds
    );
    for t in &d.totals {
        let table = t.table.as_deref().unwrap_or("");
        let _ = write!(
            out,
            "<div class=\"total\" data-role=\"{role}\" data-table=\"{table}\" data-rows=\"{rows}\">\
             <span class=\"label\">{label}</span><span class=\"value\">{shown}</span>",
            role = markup::text(t.role),
            table = markup::text(table),
            rows = t.rows,
            label = markup::text(t.label),
            shown = markup::count(t.rows),
        );
        match &t.error {
            Some(e) => {
                let _ = write!(out, "<span class=\"when error\">{}</span>", markup::text(e));
            }
            None => {
                let _ = write!(
                    out,
                    "<span class=\"when\">rows of {}, computed {} in {:.0} ms</span>",
                    markup::text(table),
                    markup::time(t.computed_at_micros),
                    t.elapsed_ms
                );
            }
        }
        out.push_str("</div>");
    }
    out.push_str("</div><div class=\"grid\">");
    for c in &d.charts {
        chart_card(&mut out, c);
    }
    out.push_str("</div>");
    out
}

fn points(c: &Chart) -> Vec<Point> {
    c.buckets
        .iter()
        .map(|b| match c.measure {
            Measure::Count => Point {
                label: b.key.clone(),
                value: b.count as f64,
                shown: markup::count(b.count),
            },
            Measure::Sum => Point {
                label: b.key.clone(),
                value: b.sum,
                shown: markup::amount(b.sum),
            },
        })
        .collect()
}

fn chart_card(out: &mut String, c: &Chart) {
    let table = c.table.as_deref().unwrap_or("");
    let _ = write!(
        out,
        "<section class=\"card\" id=\"chart-{id}\" data-chart=\"{id}\" data-table=\"{table}\" \
         data-column=\"{column}\" data-bucket=\"{bucket}\" data-top=\"{top}\" \
         data-sum=\"{sum}\" data-measure=\"{measure}\" data-rows-scanned=\"{rows}\" data-rows-missing=\"{missing}\" \
         data-unparsable=\"{unparsable}\" data-other-count=\"{other}\" \
         data-computed-at=\"{at}\"><h2>{title}</h2>",
        id = markup::text(c.id),
        table = markup::text(table),
        column = markup::text(&c.column),
        bucket = markup::text(c.bucket),
        top = c.top,
        sum = markup::text(c.sum.as_deref().unwrap_or("")),
        measure = match c.measure {
            Measure::Count => "count",
            Measure::Sum => "sum",
        },
        rows = c.rows_scanned,
        missing = c.rows_missing,
        unparsable = c.unparsable,
        other = c.other_count,
        at = c.computed_at_micros,
        title = markup::text(c.title),
    );
    if let Some(e) = &c.error {
        let _ = write!(out, "<p class=\"error\">{}</p></section>", markup::text(e));
        return;
    }
    let ps = points(c);
    let svg = match c.kind {
        ChartKind::Bar => charts::bar(c.title, &ps),
        ChartKind::Columns => charts::columns(c.title, &ps),
        ChartKind::Donut => charts::donut(c.title, &ps),
        ChartKind::Line => charts::line(c.title, &ps),
    };
    out.push_str(&svg);
    let what = match (&c.measure, &c.sum) {
        (Measure::Sum, Some(s)) => format!("sum of <code>{}</code> per ", markup::text(s)),
        _ => String::new(),
    };
    let _ = write!(
        out,
        "<p class=\"meta\">{what}<code>{column}</code> ({bucket}) over {rows} rows of \
         <code>{table}</code>: {missing} without it, {unparsable} unparsable",
        column = markup::text(&c.column),
        bucket = markup::text(c.bucket),
        rows = markup::count(c.rows_scanned),
        table = markup::text(table),
        missing = markup::count(c.rows_missing),
        unparsable = markup::count(c.unparsable),
    );
    if c.other_count > 0 {
        let _ = write!(
            out,
            "; {} more buckets hold {} rows",
            c.distinct_buckets.saturating_sub(c.buckets.len() as u64),
            markup::count(c.other_count)
        );
    }
    let _ = write!(
        out,
        ". Computed <time class=\"computed\">{}</time>.</p></section>",
        markup::time(c.computed_at_micros)
    );
}
