//! Horizontal bars, one per category: the label on the left, the bar, the value after it.

use std::fmt::Write as _;

use super::{Point, colour, empty, max_value, open, point_open, short};
use crate::http::markup;

const WIDTH: u32 = 520;
const LABEL_WIDTH: f64 = 150.0;
const BAR_AREA: f64 = 250.0;
const ROW: u32 = 24;

/// A bar chart of `points` in their order.
pub fn bar(title: &str, points: &[Point]) -> String {
    if points.is_empty() {
        return empty("bar", title);
    }
    let height = ROW * points.len() as u32 + 8;
    let max = max_value(points);
    let mut out = String::new();
    open(&mut out, "bar", title, WIDTH, height);
    for (i, p) in points.iter().enumerate() {
        let y = 4 + ROW * i as u32;
        let w = (p.value.max(0.0) / max * BAR_AREA).max(1.0);
        point_open(&mut out, p);
        let _ = write!(
            out,
            r#"<text class="label" x="{lx}" y="{ty}" text-anchor="end" font-size="12">{label}</text><rect x="{LABEL_WIDTH}" y="{ry}" width="{w:.1}" height="{bh}" fill="{c}"/><text class="value" x="{vx:.1}" y="{ty}" font-size="12">{value}</text></g>"#,
            lx = LABEL_WIDTH - 6.0,
            ty = y + 16,
            label = markup::text(&short(&p.label)),
            ry = y + 3,
            bh = ROW - 6,
            c = colour(i),
            vx = LABEL_WIDTH + w + 5.0,
            value = markup::text(&p.shown),
        );
    }
    out.push_str("</svg>");
    out
}
