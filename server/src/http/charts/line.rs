//! A line over ordered keys (transactions per year): a point per key joined by a line, the
//! value written above each point and the key below the axis.

use std::fmt::Write as _;

use super::{Point, colour, empty, max_value, open, point_open, short};
use crate::http::markup;

const WIDTH: u32 = 520;
const HEIGHT: u32 = 240;
const LEFT: f64 = 40.0;
const RIGHT: f64 = 40.0;
const TOP: f64 = 30.0;
const PLOT_H: f64 = 160.0;
const BASE: f64 = TOP + PLOT_H;

/// A line chart of `points` in their order.
pub fn line(title: &str, points: &[Point]) -> String {
    if points.is_empty() {
        return empty("line", title);
    }
    let max = max_value(points);
    let span = f64::from(WIDTH) - LEFT - RIGHT;
    let step = if points.len() > 1 {
        span / (points.len() - 1) as f64
    } else {
        0.0
    };
    let xy: Vec<(f64, f64)> = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let x = if points.len() > 1 {
                LEFT + step * i as f64
            } else {
                LEFT + span / 2.0
            };
            (x, BASE - p.value.max(0.0) / max * PLOT_H)
        })
        .collect();
    let mut out = String::new();
    open(&mut out, "line", title, WIDTH, HEIGHT);
    let _ = write!(
        out,
        r##"<line x1="{LEFT}" y1="{BASE}" x2="{x2}" y2="{BASE}" stroke="#999"/>"##,
        x2 = f64::from(WIDTH) - RIGHT
    );
    let path: Vec<String> = xy.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    let _ = write!(
        out,
        r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>"#,
        path.join(" "),
        colour(0)
    );
    for (p, (x, y)) in points.iter().zip(&xy) {
        point_open(&mut out, p);
        let _ = write!(
            out,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="4" fill="{c}"/><text class="value" x="{x:.1}" y="{vy:.1}" font-size="12" text-anchor="middle">{value}</text><text class="label" x="{x:.1}" y="{ky}" font-size="12" text-anchor="middle">{key}</text></g>"#,
            c = colour(0),
            vy = y - 8.0,
            ky = BASE + 18.0,
            value = markup::text(&p.shown),
            key = markup::text(&short(&p.label)),
        );
    }
    out.push_str("</svg>");
    out
}
