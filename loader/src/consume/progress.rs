//! What a consumer run reports: the running counts (records, rows, rejects, each partition's
//! offsets and lag) shown on stderr with indicatif while it runs, and the final summary as
//! text or JSON (`--json`).
//!
//! Owns the counts' meaning: records, rows and rejects are counted when their write is
//! durable; a partition's end offset is its stored next offset; lag is the high watermark of
//! the last fetch response minus the next offset consumed. It must never count a record twice
//! or before it is durable.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

/// One partition's offsets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PartitionStats {
    /// The next offset when this run started reading it.
    pub start: i64,
    /// The next offset after the last record taken into a write.
    pub consumed: i64,
    /// The stored next offset (everything before it is durable).
    pub stored: i64,
    /// The high watermark of the last fetch response (`None`: no response yet).
    pub high_watermark: Option<i64>,
}

impl PartitionStats {
    /// Records behind the high watermark.
    pub fn lag(&self) -> Option<i64> {
        self.high_watermark.map(|h| (h - self.consumed).max(0))
    }
}

/// Why the run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Every partition was at its end (`--until-caught-up`).
    CaughtUp,
    /// SIGINT or SIGTERM.
    Signal,
    /// More rejects than `--max-rejects`.
    MaxRejects,
}

impl Stop {
    fn as_str(self) -> &'static str {
        match self {
            Stop::CaughtUp => "caught-up",
            Stop::Signal => "signal",
            Stop::MaxRejects => "max-rejects",
        }
    }
}

/// The counts of a run.
#[derive(Clone, Debug)]
pub struct Stats {
    /// The topic.
    pub topic: String,
    /// The table written.
    pub table: String,
    /// When the run started.
    pub started: Instant,
    /// Data writes durable (each up to `--batch-rows` records).
    pub writes: u64,
    /// Records durable (rows + rejects).
    pub records: u64,
    /// Rows durable.
    pub rows: u64,
    /// Cells durable.
    pub cells: u64,
    /// Rejects durable.
    pub rejects: u64,
    /// Per partition.
    pub partitions: BTreeMap<i32, PartitionStats>,
}

impl Stats {
    /// Empty counts.
    pub fn new(topic: &str, table: &str) -> Self {
        Stats {
            topic: topic.to_string(),
            table: table.to_string(),
            started: Instant::now(),
            writes: 0,
            records: 0,
            rows: 0,
            cells: 0,
            rejects: 0,
            partitions: BTreeMap::new(),
        }
    }

    /// Total lag over the partitions with a known high watermark.
    pub fn lag(&self) -> i64 {
        self.partitions
            .values()
            .filter_map(PartitionStats::lag)
            .sum()
    }
}

/// The final report of a run.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The counts at the end.
    pub stats: Stats,
    /// How it ended.
    pub stop: Stop,
    /// Wall time.
    pub elapsed: Duration,
}

fn per_sec(n: u64, d: Duration) -> f64 {
    let s = d.as_secs_f64();
    if s > 0.0 { n as f64 / s } else { 0.0 }
}

impl Summary {
    /// Records per second over the run.
    pub fn records_per_sec(&self) -> f64 {
        per_sec(self.stats.records, self.elapsed)
    }

    /// The summary as JSON: records, rows, cells, rejects, seconds, and per partition its
    /// start and end offsets, high watermark and lag.
    pub fn to_json(&self) -> serde_json::Value {
        let s = &self.stats;
        let partitions: Vec<serde_json::Value> = s
            .partitions
            .iter()
            .map(|(p, st)| {
                json!({
                    "partition": p,
                    "start_offset": st.start,
                    "end_offset": st.stored,
                    "high_watermark": st.high_watermark,
                    "lag": st.lag(),
                })
            })
            .collect();
        json!({
            "topic": s.topic,
            "table": s.table,
            "stopped": self.stop.as_str(),
            "records": s.records,
            "rows": s.rows,
            "cells": s.cells,
            "rejects": s.rejects,
            "seconds": self.elapsed.as_secs_f64(),
            "records_per_sec": self.records_per_sec(),
            "cells_per_sec": per_sec(s.cells, self.elapsed),
            "partitions": partitions,
        })
    }

    /// The summary as text.
    pub fn print(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        let s = &self.stats;
        writeln!(
            w,
            "consumed topic {} into table {} ({})",
            s.topic,
            s.table,
            self.stop.as_str()
        )?;
        writeln!(w, "  records     {}", s.records)?;
        writeln!(w, "  rows        {}", s.rows)?;
        writeln!(w, "  cells       {}", s.cells)?;
        writeln!(w, "  rejects     {}", s.rejects)?;
        writeln!(
            w,
            "  time        {:.2} s, {:.0} records/s, {:.0} cells/s",
            self.elapsed.as_secs_f64(),
            self.records_per_sec(),
            per_sec(s.cells, self.elapsed)
        )?;
        for (p, st) in &s.partitions {
            writeln!(
                w,
                "  partition {p}: offsets {} -> {}, high watermark {}, lag {}",
                st.start,
                st.stored,
                st.high_watermark.map_or("?".into(), |h| h.to_string()),
                st.lag().map_or("?".into(), |l| l.to_string())
            )?;
        }
        Ok(())
    }
}

/// The live line on stderr.
pub struct Progress {
    bar: ProgressBar,
    last: (Instant, u64),
}

impl Progress {
    /// A progress line on stderr (hidden when `quiet` or stderr is not a terminal).
    pub fn new(quiet: bool) -> Self {
        let target = if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        Progress {
            bar,
            last: (Instant::now(), 0),
        }
    }

    /// Redraw with the current counts.
    pub fn update(&mut self, s: &Stats) {
        let now = Instant::now();
        let rate = per_sec(
            s.records.saturating_sub(self.last.1),
            now.duration_since(self.last.0),
        );
        self.last = (now, s.records);
        let mut lags: Vec<String> = s
            .partitions
            .iter()
            .take(8)
            .map(|(p, st)| format!("p{p} {}", st.lag().map_or("?".into(), |l| l.to_string())))
            .collect();
        if s.partitions.len() > 8 {
            lags.push(format!("+{} more", s.partitions.len() - 8));
        }
        self.bar.set_message(format!(
            "{} records ({rate:.0}/s), {} rows, {} rejects, lag {} [{}]",
            s.records,
            s.rows,
            s.rejects,
            s.lag(),
            lags.join(", ")
        ));
        self.bar.tick();
    }

    /// Remove the line.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_json_has_per_partition_offsets_and_lag() {
        let mut s = Stats::new("clicks", "clickstream");
        s.records = 10;
        s.rows = 9;
        s.cells = 54;
        s.rejects = 1;
        s.partitions.insert(
            1,
            PartitionStats {
                start: 3,
                consumed: 13,
                stored: 13,
                high_watermark: Some(15),
            },
        );
        s.partitions.insert(0, PartitionStats::default());
        let sum = Summary {
            stats: s,
            stop: Stop::CaughtUp,
            elapsed: Duration::from_secs(2),
        };
        let j = sum.to_json();
        assert_eq!(j["records"], 10);
        assert_eq!(j["rows"], 9);
        assert_eq!(j["rejects"], 1);
        assert_eq!(j["stopped"], "caught-up");
        assert_eq!(j["records_per_sec"], 5.0);
        assert_eq!(j["partitions"][1]["partition"], 1);
        assert_eq!(j["partitions"][1]["start_offset"], 3);
        assert_eq!(j["partitions"][1]["end_offset"], 13);
        assert_eq!(j["partitions"][1]["lag"], 2);
        assert!(j["partitions"][0]["lag"].is_null());
        let mut text = Vec::new();
        sum.print(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains("partition 1: offsets 3 -> 13, high watermark 15, lag 2"),
            "{text}"
        );
    }
}
