//! MutateStream: continuous ingest over one bidirectional stream. Batches are applied one at
//! a time, in order; each is acknowledged with the stream's running totals once the engine
//! says it is durable. Only one batch is held at a time, so gRPC flow control slows a client
//! that sends faster than the store writes.
//!
//! A bad batch (or a transport error, or an oversized message) ends the stream with a status
//! whose message starts with `batch N:` (0-based); batches acknowledged before it stay
//! applied. Each batch is authorized for its own table (write) before it is applied; a
//! refused batch ends the stream the same way, with PERMISSION_DENIED. This module must
//! never apply a batch before the previous one is durable or before it was authorized, and
//! never run engine calls on the async executor.

use std::sync::Arc;

use strata_engine::Db;
use strata_proto::v1 as pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

use crate::auth::{Action, Security};
use crate::convert;
use crate::guard::Caller;
use crate::oversize;
use crate::service::blocking_write;
use crate::status;
use crate::stopping::Stopping;

/// Acknowledgements buffered for a client that is slow to read them.
const BUFFERED_ACKS: usize = 4;

/// The acknowledgement stream of one MutateStream call.
pub type AckStream = ReceiverStream<Result<pb::MutateStreamResponse, Status>>;

/// Who may write which batch: the stream's caller and the server's security.
#[derive(Clone, Debug)]
pub struct Gate {
    /// The authenticated caller of the stream.
    pub caller: Caller,
    /// Authorizes (and audits) each batch.
    pub security: Arc<Security>,
}

impl Gate {
    fn admit(&self, table: &str) -> Result<(), Status> {
        let action = Action::MutateStream;
        self.security
            .authorize(
                &self.caller.call(action.name()),
                &self.caller.principal,
                action,
                Some(table),
            )
            .map_err(|d| status::from_denied(&d))
    }
}

/// Start applying `inbound`'s batches, each admitted by `gate`; returns the stream of
/// acknowledgements.
pub fn start(
    db: Db,
    inbound: Streaming<pb::MutateRowsRequest>,
    stopping: Stopping,
    gate: Gate,
) -> AckStream {
    let (tx, rx) = mpsc::channel(BUFFERED_ACKS);
    tokio::spawn(async move {
        if let Err(status) = run(db, inbound, &tx, stopping, &gate).await {
            let _ = tx.send(Err(status)).await;
        }
    });
    ReceiverStream::new(rx)
}

async fn run(
    db: Db,
    mut inbound: Streaming<pb::MutateRowsRequest>,
    tx: &mpsc::Sender<Result<pb::MutateStreamResponse, Status>>,
    mut stopping: Stopping,
    gate: &Gate,
) -> Result<(), Status> {
    let mut totals = pb::MutateStreamResponse::default();
    loop {
        let index = totals.batches;
        let next = tokio::select! {
            biased;
            () = tx.closed() => return Ok(()), // client gone
            () = stopping.wait() => {
                return Err(Status::unavailable(format!(
                    "batch {index}: not read: the server is shutting down; the {index} batches \
                     before it were applied"
                )));
            }
            next = inbound.message() => next,
        };
        let request = match next {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(()), // client finished sending
            Err(s) => {
                let s = oversize::remap(&s).unwrap_or(s);
                return Err(status::with_context(&s, &format!("batch {index}")));
            }
        };
        let context = format!("batch {index} (table {})", request.table);
        gate.admit(&request.table)
            .map_err(|s| status::with_context(&s, &context))?;
        let table = convert::table(&request.table)
            .map_err(|e| status::with_context(&status::from_convert(&e), &context))?
            .to_owned();
        let rows = convert::row_mutations_from_pb(request.entries)
            .map_err(|e| status::with_context(&status::from_convert(&e), &context))?;
        let db = db.clone();
        let written = blocking_write(move |o| db.mutate_rows_with(&table, rows, o))
            .await
            .map_err(|s| status::with_context(&s, &context))?;
        totals.rows += written.rows;
        totals.cells += written.cells;
        totals.batches += 1;
        if tx.send(Ok(totals)).await.is_err() {
            return Ok(()); // client gone
        }
    }
}
