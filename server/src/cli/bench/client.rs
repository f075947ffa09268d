//! The benchmark's clients: each issues its workload's operations back to back (a closed loop
//! of unary and server-streaming calls, or one MutateStream call with a window of batches in
//! flight) until the end of the run, and counts what they did and how long each took.
//!
//! It owns the calls, their time-outs and the per-operation counters; it must never decide
//! which operation comes next (the `workload` module does) nor print anything.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strata_proto::v1 as pb;
use strata_server::Client;

use super::histogram::Histogram;
use super::random::Rng;
use super::workload::{
    OPS, Op, Plan, Workload, batch_size, choose_op, fresh_key, make_batch, set_cell,
    template_mutations,
};
use super::{MAX_SCAN_ROWS, OP_TIMEOUT, STREAM_WINDOW, UPDATE_VALUE_BYTES};

/// One operation type's counters.
#[derive(Clone, Default)]
pub(super) struct OpStats {
    pub(super) ops: u64,
    pub(super) errors: u64,
    /// Gets that found no row (reads and read-modify-writes).
    pub(super) not_found: u64,
    /// Rows read (scans, gets) or written (batches, inserts).
    pub(super) rows: u64,
    /// Cells written (batches, inserts, updates).
    pub(super) cells: u64,
    pub(super) latency: Histogram,
}

/// A client's (or, merged, the run's) counters.
#[derive(Default)]
pub(super) struct ClientStats {
    pub(super) ops: [OpStats; OPS.len()],
    pub(super) first_error: Option<String>,
}

impl ClientStats {
    pub(super) fn merge(&mut self, other: ClientStats) {
        for (a, b) in self.ops.iter_mut().zip(other.ops) {
            a.ops += b.ops;
            a.errors += b.errors;
            a.not_found += b.not_found;
            a.rows += b.rows;
            a.cells += b.cells;
            a.latency.merge(&b.latency);
        }
    }

    pub(super) fn error(&mut self, op: Op, what: String) {
        self.ops[op.index()].errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("{}: {what}", op.name()));
        }
    }

    pub(super) fn total_errors(&self) -> u64 {
        self.ops.iter().map(|o| o.errors).sum()
    }
}

/// What a finished operation reports.
#[derive(Default)]
pub(super) struct Done {
    pub(super) rows: u64,
    pub(super) cells: u64,
    pub(super) not_found: bool,
}

/// One client: issue operations back to back until the end of the run.
pub(super) async fn run_client(client: Client, plan: Arc<Plan>, seed: u64) -> ClientStats {
    match plan.workload {
        Workload::Ingest => ingest_client(client, plan, seed).await,
        _ => request_client(client, plan, seed).await,
    }
}

/// A closed-loop client of unary and server-streaming calls.
pub(super) async fn request_client(mut client: Client, plan: Arc<Plan>, seed: u64) -> ClientStats {
    let mut rng = Rng::new(seed);
    let mut stats = ClientStats::default();
    loop {
        let started = Instant::now();
        if started >= plan.end {
            break;
        }
        let op = choose_op(plan.workload, &mut rng);
        let result = tokio::time::timeout(OP_TIMEOUT, do_op(&mut client, &plan, op, &mut rng))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {OP_TIMEOUT:?}")));
        let took = started.elapsed();
        if started < plan.measure_from {
            continue;
        }
        match result {
            Ok(done) => {
                let s = &mut stats.ops[op.index()];
                s.ops += 1;
                s.rows += done.rows;
                s.cells += done.cells;
                s.not_found += u64::from(done.not_found);
                s.latency.record(duration_ns(took));
            }
            Err(e) => stats.error(op, e),
        }
    }
    stats
}

pub(super) fn status_text(call: &str, s: &tonic::Status) -> String {
    format!("{call}: {:?}: {}", s.code(), s.message())
}

pub(super) async fn get_row(client: &mut Client, plan: &Plan, key: &[u8]) -> Result<Done, String> {
    let reply = client
        .get(pb::GetRequest {
            table: plan.table.clone(),
            row: key.to_vec().into(),
            ..Default::default()
        })
        .await
        .map_err(|s| status_text("Get", &s))?
        .into_inner();
    Ok(Done {
        rows: u64::from(reply.found),
        cells: 0,
        not_found: !reply.found,
    })
}

pub(super) async fn update_row(
    client: &mut Client,
    plan: &Plan,
    key: &[u8],
    rng: &mut Rng,
) -> Result<Done, String> {
    let (family, qualifier) = &plan.columns[rng.below(plan.columns.len() as u64) as usize];
    client
        .mutate(pb::MutateRequest {
            table: plan.table.clone(),
            row: key.to_vec().into(),
            mutations: vec![set_cell(family, qualifier, rng.text(UPDATE_VALUE_BYTES))],
        })
        .await
        .map_err(|s| status_text("Mutate", &s))?;
    Ok(Done {
        rows: 1,
        cells: 1,
        not_found: false,
    })
}

pub(super) async fn do_op(
    client: &mut Client,
    plan: &Plan,
    op: Op,
    rng: &mut Rng,
) -> Result<Done, String> {
    match op {
        Op::Read => {
            let key = plan.key(rng).to_vec();
            get_row(client, plan, &key).await
        }
        Op::Update => {
            let key = plan.key(rng).to_vec();
            update_row(client, plan, &key, rng).await
        }
        Op::Rmw => {
            let key = plan.key(rng).to_vec();
            let read = get_row(client, plan, &key).await?;
            let mut done = update_row(client, plan, &key, rng).await?;
            done.not_found = read.not_found;
            Ok(done)
        }
        Op::Scan => {
            let key = plan.key(rng).to_vec();
            let limit = 1 + rng.below(MAX_SCAN_ROWS);
            let mut stream = client
                .scan(pb::ScanRequest {
                    table: plan.table.clone(),
                    start_row: key.into(),
                    limit,
                    batch_size: limit as u32,
                    ..Default::default()
                })
                .await
                .map_err(|s| status_text("Scan", &s))?
                .into_inner();
            let mut rows = 0;
            while let Some(reply) = stream
                .message()
                .await
                .map_err(|s| status_text("Scan", &s))?
            {
                rows += reply.rows.len() as u64;
            }
            Ok(Done {
                rows,
                ..Done::default()
            })
        }
        Op::Insert => {
            let template = plan.template(rng);
            let key = fresh_key(&plan.table, &template.row, rng);
            let mutations = template_mutations(template);
            let cells = mutations.len() as u64;
            client
                .mutate(pb::MutateRequest {
                    table: plan.table.clone(),
                    row: key.into(),
                    mutations,
                })
                .await
                .map_err(|s| status_text("Mutate", &s))?;
            Ok(Done {
                rows: 1,
                cells,
                not_found: false,
            })
        }
        Op::Write => {
            let batch = make_batch(plan, rng);
            let (rows, cells) = batch_size(&batch);
            client
                .mutate_rows(batch)
                .await
                .map_err(|s| status_text("MutateRows", &s))?;
            Ok(Done {
                rows,
                cells,
                not_found: false,
            })
        }
        Op::Ingest => Err("ingest batches go through MutateStream".into()),
    }
}

/// An ingest client: one MutateStream call, batches sent back to back with up to
/// [`STREAM_WINDOW`] unacknowledged; a batch's latency is from its send to its (durable)
/// acknowledgement.
pub(super) async fn ingest_client(mut client: Client, plan: Arc<Plan>, seed: u64) -> ClientStats {
    let mut stats = ClientStats::default();
    // Send times and sizes of the batches in flight, oldest first (acks come in order).
    let in_flight: Arc<Mutex<VecDeque<(Instant, u64, u64)>>> = Arc::default();
    let window = Arc::new(tokio::sync::Semaphore::new(STREAM_WINDOW));
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::MutateRowsRequest>(STREAM_WINDOW);
    let producer = {
        let (plan, in_flight, window) = (plan.clone(), in_flight.clone(), window.clone());
        tokio::spawn(async move {
            let mut rng = Rng::new(seed);
            loop {
                let Ok(permit) = window.acquire().await else {
                    break;
                };
                permit.forget();
                if Instant::now() >= plan.end {
                    break;
                }
                let batch = make_batch(&plan, &mut rng);
                let (rows, cells) = batch_size(&batch);
                if let Ok(mut q) = in_flight.lock() {
                    q.push_back((Instant::now(), rows, cells));
                }
                if tx.send(batch).await.is_err() {
                    break;
                }
            }
            // Dropping `tx` ends the request stream; the server answers the rest and closes.
        })
    };
    let call = tokio::time::timeout(
        OP_TIMEOUT,
        client.mutate_stream(tokio_stream::wrappers::ReceiverStream::new(rx)),
    )
    .await;
    let mut replies = match call {
        Ok(Ok(r)) => r.into_inner(),
        Ok(Err(s)) => {
            stats.error(Op::Ingest, status_text("MutateStream", &s));
            window.close();
            producer.abort();
            return stats;
        }
        Err(_) => {
            stats.error(Op::Ingest, "MutateStream did not start".into());
            window.close();
            producer.abort();
            return stats;
        }
    };
    let mut last_rows = 0u64;
    let mut last_cells = 0u64;
    loop {
        match tokio::time::timeout(OP_TIMEOUT, replies.message()).await {
            Ok(Ok(Some(ack))) => {
                let now = Instant::now();
                let sent = in_flight.lock().ok().and_then(|mut q| q.pop_front());
                window.add_permits(1);
                // The acknowledgement carries running totals; this batch is the difference.
                let (rows, cells) = (
                    ack.rows - last_rows.min(ack.rows),
                    ack.cells - last_cells.min(ack.cells),
                );
                (last_rows, last_cells) = (ack.rows, ack.cells);
                if let Some((at, _, _)) = sent
                    && at >= plan.measure_from
                {
                    let s = &mut stats.ops[Op::Ingest.index()];
                    s.ops += 1;
                    s.rows += rows;
                    s.cells += cells;
                    s.latency
                        .record(duration_ns(now.saturating_duration_since(at)));
                }
            }
            Ok(Ok(None)) => break,
            Ok(Err(s)) => {
                stats.error(Op::Ingest, status_text("MutateStream", &s));
                break;
            }
            Err(_) => {
                stats.error(
                    Op::Ingest,
                    format!("no acknowledgement within {OP_TIMEOUT:?}"),
                );
                break;
            }
        }
    }
    window.close();
    producer.abort();
    stats
}

pub(super) fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
