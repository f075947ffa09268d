//! The page shell every page shares: head (title, style, optional refresh), navigation,
//! footer.
//!
//! This module writes only escaped text into the page; its callers pass body HTML they
//! built with escaping.

use std::fmt::Write as _;

use crate::http::markup;

const STYLE: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f4f5f7;color:#222}
header{background:#1f2a44;color:#fff;padding:10px 20px;display:flex;gap:24px;align-items:baseline}
header a{color:#cfe0ff;text-decoration:none}header h1{font-size:18px;margin:0}
main{padding:16px 20px}
.totals{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:16px}
.total{background:#fff;border-radius:6px;padding:10px 16px;min-width:160px;box-shadow:0 1px 2px #0002}
.total .label{display:block;color:#555;font-size:13px}.total .when{display:block}.total .value{display:block;font-size:26px;font-weight:600}
.total .when,.meta{color:#666;font-size:12px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(540px,1fr));gap:14px}
.card{background:#fff;border-radius:6px;padding:10px 14px;box-shadow:0 1px 2px #0002}
.card h2{font-size:15px;margin:4px 0 8px}
.chart{max-width:100%;height:auto}
.error{color:#b00020}
table.data{border-collapse:collapse;background:#fff;margin:8px 0 18px}
table.data th,table.data td{border:1px solid #ddd;padding:4px 10px;text-align:right}
table.data th:first-child,table.data td:first-child{text-align:left}
footer{color:#777;font-size:12px;padding:10px 20px}
"#;

/// How the dashboard refreshes itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refresh {
    /// Seconds between refreshes.
    pub seconds: u32,
}

/// A whole page around `body` (already-escaped HTML).
pub fn page(title: &str, body: &str, refresh: Option<Refresh>) -> String {
    let mut out = String::with_capacity(body.len() + 4096);
    let t = markup::text(title);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} · Strata</title><style>{STYLE}</style>"
    );
    if let Some(r) = refresh {
        // Without JavaScript the page reloads itself; with it, only the numbers are swapped.
        let _ = write!(
            out,
            "<noscript><meta http-equiv=\"refresh\" content=\"{}\"></noscript>",
            r.seconds
        );
    }
    let _ = write!(
        out,
        "</head><body><header><h1>Strata</h1><a href=\"/\">Dashboard</a>\
         <a href=\"/tables\">Tables</a><a href=\"/metrics\">Metrics</a></header>\
         <main id=\"main\">{body}</main><footer>strata {} · all times UTC</footer>",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(r) = refresh {
        let _ = write!(
            out,
            "<script>(function(){{var ms={ms};function tick(){{\
             fetch(location.pathname+'?fragment=main',{{cache:'no-store'}})\
             .then(function(r){{if(!r.ok)throw new Error('HTTP '+r.status);return r.text();}})\
             .then(function(h){{document.getElementById('main').innerHTML=h;}})\
             .catch(function(e){{var s=document.getElementById('refresh-state');\
             if(s)s.textContent='refresh failed: '+e.message;}})\
             .finally(function(){{setTimeout(tick,ms);}});}}\
             setTimeout(tick,ms);}})();</script>",
            ms = u64::from(r.seconds) * 1000
        );
    }
    out.push_str("</body></html>\n");
    out
}
