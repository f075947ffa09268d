//! Server-rendered SVG charts: horizontal bars (categories), columns (ordered buckets such
//! as ages or hours), donuts (shares) and a line (a value over years), each labelled with
//! its values so it reads without JavaScript, and each data point marked with
//! `data-key`/`data-value` for tests and scripts.
//!
//! Drawn by hand: each chart is a few dozen SVG elements; a plotting crate would add a
//! font/text-layout stack to the server for no gain in what these charts show. This module
//! must never write a label or key without escaping it ([`markup::text`]).
//!
//! [`markup::text`]: super::markup::text

mod bar;
mod columns;
mod donut;
mod line;

use std::fmt::Write as _;

use super::markup;

pub use bar::bar;
pub use columns::columns;
pub use donut::donut;
pub use line::line;

/// One data point: what it is called, its value, and the value as shown.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// The label (raw text; escaped when written).
    pub label: String,
    /// The value.
    pub value: f64,
    /// The value as printed next to the mark.
    pub shown: String,
}

/// Fill colours, repeated when there are more points.
const PALETTE: [&str; 10] = [
    "#3366cc", "#dc3912", "#ff9900", "#109618", "#990099", "#0099c6", "#dd4477", "#66aa00",
    "#b82e2e", "#316395",
];

fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// Longest label drawn in full; longer ones are cut with an ellipsis (the full text stays in
/// the point's `data-key` and tooltip).
const LABEL_CHARS: usize = 22;

/// The label as drawn: cut to [`LABEL_CHARS`], and `(empty)` for the empty value.
fn short(label: &str) -> String {
    if label.is_empty() {
        return "(empty)".to_string();
    }
    if label.chars().count() <= LABEL_CHARS {
        return label.to_string();
    }
    let mut s: String = label.chars().take(LABEL_CHARS - 1).collect();
    s.push('…');
    s
}

/// The opening `<svg>` tag with its title.
fn open(out: &mut String, kind: &str, title: &str, width: u32, height: u32) {
    let t = markup::text(title);
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{t}"><title>{t}</title>"#
    );
}

/// The `<g>` opening a data point.
fn point_open(out: &mut String, p: &Point) {
    let _ = write!(
        out,
        r#"<g class="point" data-key="{}" data-value="{}"><title>{}: {}</title>"#,
        markup::text(&p.label),
        p.value,
        markup::text(&p.label),
        markup::text(&p.shown)
    );
}

/// A chart saying there is nothing to draw.
fn empty(kind: &str, title: &str) -> String {
    let mut out = String::new();
    open(&mut out, kind, title, 520, 60);
    out.push_str(r##"<text x="10" y="35" class="empty" fill="#666">no data</text></svg>"##);
    out
}

fn max_value(points: &[Point]) -> f64 {
    points
        .iter()
        .map(|p| p.value)
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(labels: &[&str]) -> Vec<Point> {
        labels
            .iter()
            .enumerate()
            .map(|(i, l)| Point {
                label: (*l).to_string(),
                value: (i as f64 + 1.0) * 1000.0,
                shown: markup::count((i as u64 + 1) * 1000),
            })
            .collect()
    }

    fn all_charts(ps: &[Point]) -> Vec<(&'static str, String)> {
        vec![
            ("bar", bar("Bars <&>", ps)),
            ("columns", columns("Columns", ps)),
            ("donut", donut("Donut", ps)),
            ("line", line("Line", ps)),
        ]
    }

    /// Every chart parses as XML, has one point per datum with its raw key and value, and
    /// prints each value.
    #[test]
    fn charts_are_well_formed_and_labelled_with_their_values() {
        let ps = points(&[
            "F",
            "M",
            "a much longer category name than fits",
            "\u{e9}t\u{e9}",
        ]);
        for (kind, svg) in all_charts(&ps) {
            let doc =
                roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{kind}: {e}\n{svg}"));
            let root = doc.root_element();
            assert_eq!(root.tag_name().name(), "svg", "{kind}");
            let pts: Vec<_> = root
                .descendants()
                .filter(|n| n.attribute("class") == Some("point"))
                .collect();
            assert_eq!(pts.len(), ps.len(), "{kind}");
            for (n, p) in pts.iter().zip(&ps) {
                assert_eq!(n.attribute("data-key"), Some(p.label.as_str()), "{kind}");
                assert_eq!(
                    n.attribute("data-value").map(|v| v.parse::<f64>().unwrap()),
                    Some(p.value),
                    "{kind}"
                );
                let texts: Vec<&str> = n.descendants().filter_map(|t| t.text()).collect();
                assert!(
                    texts.iter().any(|t| t.contains(&p.shown)),
                    "{kind}: {} not shown in {texts:?}",
                    p.shown
                );
            }
        }
    }

    #[test]
    fn hostile_labels_stay_text() {
        let ps = points(&["<script>alert(1)</script>", "\" onload=\"x", "a&b"]);
        for (kind, svg) in all_charts(&ps) {
            let doc =
                roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{kind}: {e}\n{svg}"));
            assert!(
                !doc.descendants().any(|n| n.tag_name().name() == "script"),
                "{kind}"
            );
            assert!(
                doc.descendants().all(|n| n.attribute("onload").is_none()),
                "{kind}"
            );
            let keys: Vec<&str> = doc
                .descendants()
                .filter_map(|n| n.attribute("data-key"))
                .collect();
            assert_eq!(keys, ["<script>alert(1)</script>", "\" onload=\"x", "a&b"]);
        }
    }

    #[test]
    fn an_empty_key_is_drawn_as_empty_and_kept_in_data_key() {
        let ps = points(&["", "x"]);
        for (kind, svg) in all_charts(&ps) {
            let doc = roxmltree::Document::parse(&svg).unwrap();
            let first = doc
                .descendants()
                .find(|n| n.attribute("class") == Some("point"))
                .unwrap();
            assert_eq!(first.attribute("data-key"), Some(""), "{kind}");
            let label = first
                .descendants()
                .find(|n| n.attribute("class") == Some("label"))
                .and_then(|n| n.text());
            assert_eq!(label, Some("(empty)"), "{kind}");
        }
    }

    #[test]
    fn no_points_is_a_labelled_empty_chart() {
        for (kind, svg) in all_charts(&[]) {
            let doc = roxmltree::Document::parse(&svg).unwrap();
            assert!(svg.contains("no data"), "{kind}");
            assert_eq!(doc.root_element().tag_name().name(), "svg");
        }
    }

    #[test]
    fn one_point_and_zero_values_still_draw() {
        let one = vec![Point {
            label: "only".into(),
            value: 5.0,
            shown: "5".into(),
        }];
        let zeros = vec![
            Point {
                label: "a".into(),
                value: 0.0,
                shown: "0".into(),
            },
            Point {
                label: "b".into(),
                value: 0.0,
                shown: "0".into(),
            },
        ];
        for ps in [one, zeros] {
            for (kind, svg) in all_charts(&ps) {
                roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{kind}: {e}"));
                assert!(!svg.contains("NaN"), "{kind}: {svg}");
            }
        }
    }
}
