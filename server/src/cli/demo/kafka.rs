//! `strata demo --kafka HOST:PORT`: the click events through a Kafka topic, as the old
//! pipeline streamed them. The CSV rows are produced into a fresh topic as bare Avro datums of
//! the shipped click_stream schema (the loader's `consume::produce`), then read back into the
//! table by the same consumer as `strata consume` (MutateStream to the in-process server)
//! until it is caught up.
//!
//! It owns the topic's name and the two steps' output lines; it must never map or write rows
//! itself (the consumer does).

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use strata_loader::consume::{
    self, ConsumeOptions, DecodeOptions, Format, GrpcSink, MappingFlags, produce,
};

use super::Out;
use super::stream::Streamed;
use crate::cli::load::per_sec;

/// Partitions of the demo's topic.
const PARTITIONS: i32 = 3;

/// Produce `csv` into a new topic on `brokers`, then consume it into `table` through the
/// server at `url`.
pub(super) async fn stream_through_kafka(
    url: &str,
    brokers: &str,
    table: &str,
    csv: &Path,
    batch_rows: usize,
    out: &mut Out,
) -> Result<Streamed> {
    // A topic of its own: an existing one may hold another run's events.
    let topic = format!("strata-demo-click_stream-{}", strata_engine::now_micros());
    let mapping = MappingFlags::choose(table, None, None, None, None)
        .map_err(consume::ConsumeError::Config)?;
    let decode = DecodeOptions {
        format: Format::Avro,
        schemas: Vec::new(),
        fields: None,
        mapping,
    };
    let brokers: Vec<String> = brokers.split(',').map(str::to_string).collect();
    let mut o = ConsumeOptions::new(brokers, &topic, table, decode);
    o.batch_rows = batch_rows;
    o.until_caught_up = true;
    o.quiet = true;
    o.name = "demo".into();

    let t = Instant::now();
    let produced = produce::produce_csv(&o.kafka, &topic, PARTITIONS, csv, "clickstream").await?;
    out.step(
        "kafka produce",
        t.elapsed(),
        format!(
            "{} click events as Avro into topic {topic} ({PARTITIONS} partitions), {:.0} records/s",
            produced.records,
            per_sec(produced.records as f64, t.elapsed())
        ),
    );
    let summary = consume::consume(&o, GrpcSink::new(url)?, std::future::pending()).await?;
    Ok(Streamed {
        rows: summary.stats.rows,
        cells: summary.stats.cells,
        batches: summary.stats.writes,
        rejects: summary.stats.rejects + produced.rejects,
    })
}
