//! Where consumed rows go: a [`Sink`] with two implementations, a running server through the
//! proto client's MutateStream (`--server URL`, [`GrpcSink`]) and a store no server holds
//! through `strata_engine::Db` (`--data-dir DIR`, [`DbSink`]). Both apply writes in order and
//! acknowledge each once it is durable, which is what offsets are stored after.
//!
//! Owns the write protocol (a [`Write`] is one or more table batches; acknowledgements count
//! durable writes), re-sending unacknowledged batches after the server becomes reachable
//! again (replaying is harmless: every cell's timestamp comes from its record), and the
//! startup calls (describe, create, get). It must never acknowledge a write before the
//! server's acknowledgement of its last batch (or `Db::mutate_rows`'s return), and never
//! depend on the server crate (only the generated client).

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use strata_engine::{Db, DbOptions, FamilyOptions, Mutation, RowMutation, Timestamp};
use strata_proto::v1 as pb;
use tokio::sync::{mpsc, oneshot};

use super::remote::{Remote, SinkClient};
use super::retry::Backoff;

/// The server's default message limit (64 MiB); tonic's client default of 4 MiB would refuse
/// large batches. Kept here because the loader never depends on the server crate.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// One cell put. Cloning is cheap (reference counts): the family is shared by every cell
/// of its column and the bytes are slices of the write's buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PutCell {
    /// Family.
    pub family: Arc<str>,
    /// Qualifier.
    pub qualifier: Bytes,
    /// Value.
    pub value: Bytes,
}

/// One row to write: every cell a put with the row's timestamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PutRow {
    /// Row key.
    pub key: Bytes,
    /// Timestamp of every cell (microseconds, > 0: never the server's clock).
    pub timestamp: Timestamp,
    /// Cells.
    pub cells: Vec<PutCell>,
}

/// Rows for one table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableBatch {
    /// Table.
    pub table: String,
    /// Rows.
    pub rows: Vec<PutRow>,
}

/// One write: its batches are applied in order; it is acknowledged when all are durable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Write {
    /// The batches (none empty).
    pub batches: Vec<TableBatch>,
}

/// Why writing stopped.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The store in a data directory cannot be opened.
    #[error("cannot open the store in {dir}: {why}")]
    Open {
        /// The data directory.
        dir: String,
        /// Why.
        why: String,
    },
    /// The server refused a call (a code retrying cannot fix).
    #[error("{what} failed: {code:?}: {message}")]
    Status {
        /// The call.
        what: String,
        /// gRPC code.
        code: tonic::Code,
        /// The server's message.
        message: String,
    },
    /// The server URL is not valid.
    #[error("invalid server URL {url:?}: {why}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        why: String,
    },
    /// The engine refused a call.
    #[error("{what} failed: {why}")]
    Engine {
        /// The call.
        what: String,
        /// The engine's error.
        why: String,
    },
}

fn engine(what: impl Into<String>) -> impl FnOnce(strata_engine::Error) -> SinkError {
    let what = what.into();
    move |e| SinkError::Engine {
        what,
        why: e.to_string(),
    }
}

/// Where rows are written.
pub trait Sink: Send + Sized + 'static {
    /// The family names of `table`, or `None` when there is no such table.
    fn families(
        &mut self,
        table: &str,
    ) -> impl Future<Output = Result<Option<Vec<String>>, SinkError>> + Send;

    /// Create `table` with default options for `families` (an existing table is fine).
    fn create_table(
        &mut self,
        table: &str,
        families: &[String],
    ) -> impl Future<Output = Result<(), SinkError>> + Send;

    /// The newest value of one cell.
    fn get_cell(
        &mut self,
        table: &str,
        row: &[u8],
        family: &str,
        qualifier: &[u8],
    ) -> impl Future<Output = Result<Option<Bytes>, SinkError>> + Send;

    /// Start writing: writes are applied in order, each acknowledged once durable.
    fn into_writer(self) -> Writer;
}

/// The running writer of a sink.
#[derive(Debug)]
pub struct Writer {
    tx: Option<mpsc::Sender<Write>>,
    acks: mpsc::UnboundedReceiver<Result<u64, SinkError>>,
    done: Option<oneshot::Receiver<Result<(), SinkError>>>,
}

/// The writer's side of the acknowledgements: the count of durable writes, or why writing
/// stopped.
type AckSender = mpsc::UnboundedSender<Result<u64, SinkError>>;

/// Writes queued before the consumer waits for the writer.
pub const QUEUED_WRITES: usize = 4;

impl Writer {
    fn channels() -> (
        Writer,
        mpsc::Receiver<Write>,
        AckSender,
        oneshot::Sender<Result<(), SinkError>>,
    ) {
        let (tx, rx) = mpsc::channel(QUEUED_WRITES);
        let (ack_tx, acks) = mpsc::unbounded_channel();
        let (done_tx, done) = oneshot::channel();
        (
            Writer {
                tx: Some(tx),
                acks,
                done: Some(done),
            },
            rx,
            ack_tx,
            done_tx,
        )
    }

    /// The queue of writes (`None` after [`Writer::close`]).
    pub fn queue(&self) -> Option<&mpsc::Sender<Write>> {
        self.tx.as_ref()
    }

    /// The number of writes durable so far, each time it grows; `None` once the writer has
    /// stopped. Cancel-safe.
    pub async fn next_ack(&mut self) -> Option<Result<u64, SinkError>> {
        self.acks.recv().await
    }

    /// Queue no more writes; the writer ends after the queued ones are durable.
    pub fn close(&mut self) {
        self.tx = None;
    }

    /// Wait for the writer to end: queue nothing more, let the queued writes finish, and
    /// report how the end went (for the data-directory sink: closing the store). Write
    /// failures arrive through [`Writer::next_ack`] instead.
    pub async fn finish(mut self) -> Result<(), SinkError> {
        self.tx = None;
        match self.done.take() {
            Some(done) => done.await.unwrap_or(Ok(())),
            None => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// --data-dir: a Db.

/// A store no server holds.
#[derive(Clone)]
pub struct DbSink {
    db: Db,
}

impl DbSink {
    /// Open the store in `dir` (which no server may hold).
    pub async fn open(dir: &Path) -> Result<DbSink, SinkError> {
        let d = dir.to_path_buf();
        let opened = tokio::task::spawn_blocking(move || Db::open(&d, DbOptions::default()))
            .await
            .map_err(|e| SinkError::Open {
                dir: dir.display().to_string(),
                why: e.to_string(),
            })?;
        let db = opened.map_err(|e| SinkError::Open {
            dir: dir.display().to_string(),
            why: match e {
                strata_engine::Error::Locked { .. } => "it is held by another process (a \
                    running `strata serve`?): stop it, or consume through it with --server URL"
                    .to_string(),
                other => other.to_string(),
            },
        })?;
        Ok(DbSink { db })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        what: String,
        f: impl FnOnce(Db) -> Result<T, strata_engine::Error> + Send + 'static,
    ) -> Result<T, SinkError> {
        let db = self.db.clone();
        match tokio::task::spawn_blocking(move || f(db)).await {
            Ok(r) => r.map_err(engine(what)),
            Err(e) => Err(SinkError::Engine {
                what,
                why: e.to_string(),
            }),
        }
    }
}

fn to_engine(rows: Vec<PutRow>) -> Vec<RowMutation> {
    rows.into_iter()
        .map(|r| RowMutation {
            row: r.key,
            mutations: r
                .cells
                .into_iter()
                .map(|c| Mutation::SetCell {
                    family: c.family,
                    qualifier: c.qualifier,
                    value: c.value,
                    timestamp: r.timestamp,
                })
                .collect(),
        })
        .collect()
}

impl Sink for DbSink {
    async fn families(&mut self, table: &str) -> Result<Option<Vec<String>>, SinkError> {
        let t = table.to_string();
        self.blocking(format!("describing table {table}"), move |db| {
            match db.describe_table(&t) {
                Ok(d) => Ok(Some(d.families.into_iter().map(|f| f.name).collect())),
                Err(strata_engine::Error::TableNotFound(_)) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await
    }

    async fn create_table(&mut self, table: &str, families: &[String]) -> Result<(), SinkError> {
        let t = table.to_string();
        let f: Vec<FamilyOptions> = families.iter().map(FamilyOptions::new).collect();
        self.blocking(format!("creating table {table}"), move |db| {
            match db.create_table(&t, f) {
                Err(strata_engine::Error::AlreadyExists(_)) => Ok(()),
                other => other,
            }
        })
        .await
    }

    async fn get_cell(
        &mut self,
        table: &str,
        row: &[u8],
        family: &str,
        qualifier: &[u8],
    ) -> Result<Option<Bytes>, SinkError> {
        let (t, r, f, q) = (
            table.to_string(),
            row.to_vec(),
            family.to_string(),
            qualifier.to_vec(),
        );
        let row = self
            .blocking(format!("reading table {table}"), move |db| {
                let opts = strata_engine::ReadOptions {
                    columns: vec![strata_engine::ColumnSelector {
                        family: f,
                        qualifier: Some(q),
                    }],
                    ..Default::default()
                };
                db.get(&t, &r, &opts)
            })
            .await?;
        Ok(row.and_then(|r| r.cells.into_iter().next().map(|c| c.value)))
    }

    fn into_writer(self) -> Writer {
        let (writer, mut rx, acks, done) = Writer::channels();
        let db = self.db;
        let spawned = std::thread::Builder::new()
            .name("consume-db-writer".into())
            .spawn(move || {
                let mut durable = 0u64;
                'writes: while let Some(w) = rx.blocking_recv() {
                    for b in w.batches {
                        let what = format!("writing {} rows to table {}", b.rows.len(), b.table);
                        if let Err(e) = db.mutate_rows(&b.table, to_engine(b.rows)) {
                            // A failure goes to the consumer as an acknowledgement error.
                            let _ = acks.send(Err(engine(what)(e)));
                            break 'writes;
                        }
                    }
                    durable += 1;
                    if acks.send(Ok(durable)).is_err() {
                        break;
                    }
                }
                let _ = done.send(db.close().map_err(engine("closing the store")));
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the store writer thread");
        }
        writer
    }
}

// ---------------------------------------------------------------------------------------------
// --server: MutateStream through the generated client.

/// A running server, reached through the generated gRPC client.
pub struct GrpcSink {
    remote: Remote,
    client: Option<SinkClient>,
}

/// Codes after which a call is retried (the server is restarting, unreachable or
/// overloaded); any other code stops the consumer.
fn retryable(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::Unavailable
            | tonic::Code::Unknown
            | tonic::Code::Cancelled
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Aborted
    )
}

impl GrpcSink {
    /// A sink for the server at `url` (connected on first use; an unreachable server is
    /// retried with back-off).
    pub fn new(url: &str) -> Result<GrpcSink, SinkError> {
        Ok(GrpcSink::to(Remote::plain(url)?))
    }

    /// A sink for `remote` (its TLS and credentials; see [`Remote`]).
    pub fn to(remote: Remote) -> GrpcSink {
        GrpcSink {
            remote,
            client: None,
        }
    }

    /// Run `call` on a connected client, reconnecting and retrying with back-off while the
    /// server is unavailable.
    async fn call<T, F, Fut>(&mut self, what: &str, mut call: F) -> Result<T, SinkError>
    where
        F: FnMut(SinkClient) -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>>,
    {
        let mut backoff = Backoff::new();
        loop {
            let client = match &self.client {
                Some(c) => Ok(c.clone()),
                None => self.remote.client().await,
            };
            let status = match client {
                Ok(c) => {
                    self.client = Some(c.clone());
                    match call(c).await {
                        Ok(v) => return Ok(v),
                        Err(s) => s,
                    }
                }
                Err(s) => s,
            };
            if !retryable(status.code()) {
                return Err(SinkError::Status {
                    what: what.to_string(),
                    code: status.code(),
                    message: status.message().to_string(),
                });
            }
            self.client = None;
            let wait = backoff.next_delay();
            tracing::warn!(server = %self.remote.url(), call = what, code = ?status.code(), message = status.message(), retry_in = ?wait, "the server is unavailable; retrying");
            tokio::time::sleep(wait).await;
        }
    }
}

/// The request of a batch (the batch is kept for a resend; its bytes are shared, not copied).
fn to_pb(b: &TableBatch) -> pb::MutateRowsRequest {
    pb::MutateRowsRequest {
        table: b.table.clone(),
        entries: b
            .rows
            .iter()
            .map(|r| pb::RowMutations {
                row: r.key.clone(),
                mutations: r
                    .cells
                    .iter()
                    .map(|c| pb::Mutation {
                        kind: Some(pb::mutation::Kind::SetCell(pb::SetCell {
                            family: String::from(&*c.family),
                            qualifier: c.qualifier.clone(),
                            value: c.value.clone(),
                            timestamp_micros: r.timestamp,
                        })),
                    })
                    .collect(),
            })
            .collect(),
    }
}

impl Sink for GrpcSink {
    async fn families(&mut self, table: &str) -> Result<Option<Vec<String>>, SinkError> {
        let req = pb::DescribeTableRequest {
            table: table.to_string(),
        };
        let r = self
            .call(&format!("DescribeTable {table}"), |mut c| {
                let req = req.clone();
                async move {
                    match c.describe_table(req).await {
                        Ok(r) => Ok(Some(r.into_inner())),
                        Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
                        Err(s) => Err(s),
                    }
                }
            })
            .await?;
        Ok(r.map(|d| d.families.into_iter().map(|f| f.name).collect()))
    }

    async fn create_table(&mut self, table: &str, families: &[String]) -> Result<(), SinkError> {
        let req = pb::CreateTableRequest {
            table: table.to_string(),
            families: families
                .iter()
                .map(|f| pb::FamilyOptions {
                    name: f.clone(),
                    ..Default::default()
                })
                .collect(),
        };
        self.call(&format!("CreateTable {table}"), |mut c| {
            let req = req.clone();
            async move {
                match c.create_table(req).await {
                    Ok(_) => Ok(()),
                    Err(s) if s.code() == tonic::Code::AlreadyExists => Ok(()),
                    Err(s) => Err(s),
                }
            }
        })
        .await
    }

    async fn get_cell(
        &mut self,
        table: &str,
        row: &[u8],
        family: &str,
        qualifier: &[u8],
    ) -> Result<Option<Bytes>, SinkError> {
        let req = pb::GetRequest {
            table: table.to_string(),
            row: Bytes::copy_from_slice(row),
            columns: vec![pb::ColumnSelector {
                family: family.to_string(),
                qualifier: Bytes::copy_from_slice(qualifier),
            }],
            ..Default::default()
        };
        let r = self
            .call(&format!("Get from {table}"), |mut c| {
                let req = req.clone();
                async move { c.get(req).await.map(tonic::Response::into_inner) }
            })
            .await?;
        Ok(r.row
            .and_then(|row| row.cells.into_iter().next())
            .map(|c| c.value))
    }

    fn into_writer(self) -> Writer {
        let (writer, rx, acks, done) = Writer::channels();
        tokio::spawn(async move {
            // A failure goes to the consumer as an acknowledgement error.
            if let Err(e) = StreamWriter::new(self.remote, self.client)
                .run(rx, &acks)
                .await
            {
                let _ = acks.send(Err(e));
            }
            let _ = done.send(Ok(()));
        });
        writer
    }
}

/// Batches on one MutateStream before the writer waits for acknowledgements.
const STREAM_WINDOW: usize = 8;

/// A batch sent (or to be sent) and not yet acknowledged.
struct InFlight {
    batch: TableBatch,
    /// Whether it is the last batch of its write.
    ends_write: bool,
}

/// Feeds writes into MutateStream calls, one after another: when a stream breaks with a
/// retryable code, a new one is opened and every unacknowledged batch is sent again, in
/// order.
struct StreamWriter {
    remote: Remote,
    client: Option<SinkClient>,
    pending: VecDeque<InFlight>,
    durable: u64,
}

impl StreamWriter {
    fn new(remote: Remote, client: Option<SinkClient>) -> Self {
        StreamWriter {
            remote,
            client,
            pending: VecDeque::new(),
            durable: 0,
        }
    }

    fn push(&mut self, w: Write) {
        let n = w.batches.len();
        for (i, b) in w.batches.into_iter().enumerate() {
            self.pending.push_back(InFlight {
                batch: b,
                ends_write: i + 1 == n,
            });
        }
    }

    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Write>,
        acks: &AckSender,
    ) -> Result<(), SinkError> {
        let mut backoff = Backoff::new();
        let mut input_open = true;
        loop {
            if !input_open && self.pending.is_empty() {
                return Ok(());
            }
            let status = match self
                .stream(&mut rx, &mut input_open, acks, &mut backoff)
                .await
            {
                Ok(()) => continue,
                Err(s) => s,
            };
            if !retryable(status.code()) {
                return Err(SinkError::Status {
                    what: "MutateStream".into(),
                    code: status.code(),
                    message: status.message().to_string(),
                });
            }
            self.client = None;
            let wait = backoff.next_delay();
            tracing::warn!(server = %self.remote.url(), code = ?status.code(), message = status.message(), unacknowledged = self.pending.len(), retry_in = ?wait, "MutateStream broke; sending the unacknowledged batches again");
            tokio::time::sleep(wait).await;
        }
    }

    /// One MutateStream call: send what is pending (again) and what arrives, until the input
    /// ends and everything is acknowledged (`Ok`), or the stream fails.
    async fn stream(
        &mut self,
        rx: &mut mpsc::Receiver<Write>,
        input_open: &mut bool,
        acks: &AckSender,
        backoff: &mut Backoff,
    ) -> Result<(), tonic::Status> {
        let mut client = match self.client.take() {
            Some(c) => c,
            None => self.remote.client().await?,
        };
        let (req_tx, req_rx) = mpsc::channel::<pb::MutateRowsRequest>(STREAM_WINDOW);
        let mut responses = client
            .mutate_stream(tokio_stream::wrappers::ReceiverStream::new(req_rx))
            .await?
            .into_inner();
        self.client = Some(client);
        let mut sent = 0usize; // of `pending`, on this stream
        let mut acked = 0u64; // batches acknowledged on this stream
        loop {
            if !*input_open && self.pending.is_empty() {
                return Ok(()); // dropping req_tx ends the call
            }
            let can_send = sent < self.pending.len();
            tokio::select! {
                permit = req_tx.reserve(), if can_send => {
                    let Ok(permit) = permit else {
                        return Err(tonic::Status::unavailable("the request stream closed"));
                    };
                    permit.send(to_pb(&self.pending[sent].batch));
                    sent += 1;
                }
                w = rx.recv(), if *input_open && self.pending.len() < STREAM_WINDOW * 2 => {
                    match w {
                        Some(w) => self.push(w),
                        None => *input_open = false,
                    }
                }
                m = responses.message() => match m? {
                    Some(ack) => {
                        let n = ack.batches.saturating_sub(acked);
                        acked = ack.batches;
                        for _ in 0..n {
                            if let Some(done) = self.pending.pop_front() {
                                sent = sent.saturating_sub(1);
                                if done.ends_write {
                                    self.durable += 1;
                                }
                            }
                        }
                        backoff.reset();
                        let _ = acks.send(Ok(self.durable));
                    }
                    None => {
                        return Err(tonic::Status::unavailable(
                            "the server ended MutateStream before acknowledging every batch",
                        ));
                    }
                },
            }
        }
    }
}
