//! `strata demo`'s click stream: the click events' CSV file read through the built-in mapping
//! (the loader's `MappedCsv`) and sent through one MutateStream call in micro-batches, the old
//! Kafka path; the server's final acknowledgement is checked against what was sent.
//!
//! It owns the producer thread and the acknowledgement check; it must never build mutations
//! of its own (the loader and `convert` do) nor print (the caller reports the totals).

use std::path::Path;

use anyhow::{Result, anyhow, bail};
use strata_loader::{MappedCsv, builtin_mapping};
use strata_proto::v1 as pb;
use strata_server::Client;
use strata_server::convert::row_mutation_to_pb;

use crate::cli::load::status_error;

/// MutateStream batches in flight before the producer waits for the server.
const STREAM_WINDOW: usize = 8;

/// What a MutateStream run did.
#[derive(Debug, Default)]
pub(super) struct Streamed {
    pub(super) rows: u64,
    pub(super) cells: u64,
    pub(super) batches: u64,
    pub(super) rejects: u64,
}

/// Stream `csv` into `table` through MutateStream, `batch_rows` rows per batch, parsing it
/// with the table's built-in mapping and the loader's parser. Returns the server's final
/// acknowledged totals (and the parser's rejects).
pub(super) async fn stream_csv(
    client: &mut Client,
    table: &str,
    csv: &Path,
    batch_rows: usize,
) -> Result<Streamed> {
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::MutateRowsRequest>(STREAM_WINDOW);
    let (path, name) = (csv.to_path_buf(), table.to_string());
    let producer =
        tokio::task::spawn_blocking(move || produce_batches(&path, &name, batch_rows, tx));
    let call = client
        .mutate_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await;
    let acks = match call {
        Ok(resp) => {
            let mut stream = resp.into_inner();
            let mut last = pb::MutateStreamResponse::default();
            loop {
                match stream.message().await {
                    Ok(Some(ack)) => last = ack,
                    Ok(None) => break Ok(last),
                    Err(s) => break Err(status_error(&format!("MutateStream into {table}"), &s)),
                }
            }
        }
        Err(s) => Err(status_error(&format!("MutateStream into {table}"), &s)),
    };
    // If the stream failed, the producer's sends fail and it returns; report the server's
    // error first, since it says why.
    let produced = producer.await?;
    let acks = acks?;
    let produced = produced?;
    if acks.rows != produced.rows || acks.batches != produced.batches {
        bail!(
            "MutateStream acknowledged {} rows in {} batches, but {} rows in {} batches were sent",
            acks.rows,
            acks.batches,
            produced.rows,
            produced.batches
        );
    }
    Ok(Streamed {
        rows: acks.rows,
        cells: acks.cells,
        batches: acks.batches,
        rejects: produced.rejects,
    })
}

/// Read `csv` with the built-in mapping of `table` (the loader's [`MappedCsv`]) and send
/// MutateRows batches of `batch_rows` rows (every mapped column a SetCell with the server's
/// clock as timestamp).
fn produce_batches(
    csv: &Path,
    table: &str,
    batch_rows: usize,
    tx: tokio::sync::mpsc::Sender<pb::MutateRowsRequest>,
) -> Result<Streamed> {
    let mapping = builtin_mapping(table).ok_or_else(|| anyhow!("no mapping for {table}"))?;
    let mut stats = Streamed::default();
    for batch in MappedCsv::open(csv, &mapping)?.batches(batch_rows) {
        let batch = batch?;
        stats.rejects += batch.rejects.len() as u64;
        for r in &batch.rejects {
            tracing::warn!(line = r.line, reason = %r.reason, "rejected click event");
        }
        if batch.rows.is_empty() {
            continue;
        }
        stats.batches += 1;
        stats.rows += batch.rows.len() as u64;
        stats.cells += batch
            .rows
            .iter()
            .map(|r| r.mutations.len() as u64)
            .sum::<u64>();
        tx.blocking_send(pb::MutateRowsRequest {
            table: table.to_string(),
            entries: batch.rows.into_iter().map(row_mutation_to_pb).collect(),
        })
        .map_err(|_| anyhow!("the MutateStream call ended before every batch was sent"))?;
    }
    Ok(stats)
}
