//! A donut of shares: one ring segment per point, and a legend with each key, its value and
//! its percentage.

use std::f64::consts::PI;
use std::fmt::Write as _;

use super::{Point, colour, empty, open, point_open, short};
use crate::http::markup;

const WIDTH: u32 = 520;
const CX: f64 = 110.0;
const CY: f64 = 110.0;
const R: f64 = 95.0;
const INNER: f64 = 55.0;
const LEGEND_ROW: u32 = 22;

fn at(radius: f64, angle: f64) -> (f64, f64) {
    (CX + radius * angle.sin(), CY - radius * angle.cos())
}

/// A donut chart of `points`.
pub fn donut(title: &str, points: &[Point]) -> String {
    if points.is_empty() {
        return empty("donut", title);
    }
    let total: f64 = points.iter().map(|p| p.value.max(0.0)).sum();
    let height = (LEGEND_ROW * points.len() as u32 + 20).max(225);
    let mut out = String::new();
    open(&mut out, "donut", title, WIDTH, height);
    let mut start = 0.0_f64;
    for (i, p) in points.iter().enumerate() {
        let share = if total > 0.0 {
            p.value.max(0.0) / total
        } else {
            0.0
        };
        point_open(&mut out, p);
        if share >= 0.999_999 {
            // A full ring: an arc cannot start and end at one point.
            let _ = write!(
                out,
                r#"<circle cx="{CX}" cy="{CY}" r="{mid}" fill="none" stroke="{c}" stroke-width="{w}"/>"#,
                mid = (R + INNER) / 2.0,
                w = R - INNER,
                c = colour(i)
            );
        } else if share > 0.0 {
            let end = start + share * 2.0 * PI;
            let large = i32::from(share > 0.5);
            let (x0, y0) = at(R, start);
            let (x1, y1) = at(R, end);
            let (x2, y2) = at(INNER, end);
            let (x3, y3) = at(INNER, start);
            let _ = write!(
                out,
                r#"<path d="M{x0:.2},{y0:.2} A{R},{R} 0 {large} 1 {x1:.2},{y1:.2} L{x2:.2},{y2:.2} A{INNER},{INNER} 0 {large} 0 {x3:.2},{y3:.2} Z" fill="{c}"/>"#,
                c = colour(i)
            );
            start = end;
        }
        let ly = 20 + LEGEND_ROW * i as u32;
        let _ = write!(
            out,
            r#"<rect x="240" y="{ry}" width="12" height="12" fill="{c}"/><text class="label" x="258" y="{ty}" font-size="12">{key}</text><text class="value" x="510" y="{ty}" font-size="12" text-anchor="end">{value} ({pct:.1}%)</text></g>"#,
            ry = ly - 10,
            ty = ly,
            c = colour(i),
            key = markup::text(&short(&p.label)),
            value = markup::text(&p.shown),
            pct = share * 100.0,
        );
    }
    out.push_str("</svg>");
    out
}
