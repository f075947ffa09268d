//! Vertical columns for ordered buckets (ages, hours of day): keys along the bottom, each
//! column's value written above it, turned upright when columns are narrow.

use std::fmt::Write as _;

use super::{Point, colour, empty, max_value, open, point_open, short};
use crate::http::markup;

const WIDTH: u32 = 520;
const HEIGHT: u32 = 260;
const LEFT: f64 = 10.0;
const TOP: f64 = 60.0;
const PLOT_H: f64 = 140.0;
const BASE: f64 = TOP + PLOT_H;

/// A column chart of `points` in their order.
pub fn columns(title: &str, points: &[Point]) -> String {
    if points.is_empty() {
        return empty("columns", title);
    }
    let slot = (f64::from(WIDTH) - 2.0 * LEFT) / points.len() as f64;
    let upright = slot < 34.0;
    let font = if slot < 12.0 { 8 } else { 11 };
    let max = max_value(points);
    let mut out = String::new();
    open(&mut out, "columns", title, WIDTH, HEIGHT);
    let _ = write!(
        out,
        r##"<line x1="{LEFT}" y1="{BASE}" x2="{x2}" y2="{BASE}" stroke="#999"/>"##,
        x2 = f64::from(WIDTH) - LEFT
    );
    for (i, p) in points.iter().enumerate() {
        let x = LEFT + slot * i as f64;
        let cx = x + slot / 2.0;
        let h = (p.value.max(0.0) / max * PLOT_H).max(1.0);
        point_open(&mut out, p);
        let _ = write!(
            out,
            r#"<rect x="{rx:.1}" y="{ry:.1}" width="{rw:.1}" height="{h:.1}" fill="{c}"/>"#,
            rx = x + slot * 0.1,
            ry = BASE - h,
            rw = slot * 0.8,
            c = colour(0),
        );
        let (vy, ky) = (BASE - h - 4.0, BASE + 12.0);
        let value = markup::text(&p.shown);
        let label = short(&p.label);
        let key = markup::text(&label);
        if upright {
            let _ = write!(
                out,
                r#"<text class="value" font-size="{font}" transform="translate({cx:.1},{vy:.1}) rotate(-90)">{value}</text><text class="label" font-size="{font}" text-anchor="end" transform="translate({kx:.1},{ky:.1}) rotate(-90)">{key}</text></g>"#,
                cx = cx + f64::from(font) / 3.0,
                kx = cx + f64::from(font) / 3.0,
            );
        } else {
            let _ = write!(
                out,
                r#"<text class="value" x="{cx:.1}" y="{vy:.1}" font-size="{font}" text-anchor="middle">{value}</text><text class="label" x="{cx:.1}" y="{ky:.1}" font-size="{font}" text-anchor="middle">{key}</text></g>"#,
                ky = ky + 2.0,
            );
        }
    }
    out.push_str("</svg>");
    out
}
