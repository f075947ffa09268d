//! The strata.v1 `Strata` service: one method per RPC, each converting the request, running
//! the engine call on a blocking thread, and converting the reply or the error.
//!
//! Every RPC first passes [`StrataService::admit`] with its [`Action`]: the one line that
//! authorizes it against its table (the guard layer has already authenticated the caller).
//!
//! This module must never run a blocking engine call on the async executor (use
//! [`blocking`]), never map errors to statuses itself (that is `status.rs`), and never
//! touch a request before `admit` accepted it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use strata_engine::{AlterTable, Db, Result as EngineResult, WriteOptions};
use strata_proto::v1 as pb;
use strata_proto::v1::strata_server::Strata;
use tonic::{Request, Response, Status, Streaming};

use crate::aggregation::{self, Aggregator};
use crate::auth::{Action, Security, can_read};
use crate::config::ServiceOptions;
use crate::convert::{self, ConvertError};
use crate::guard::{Caller, Targeted};
use crate::multi_get::{self, MultiGet};
use crate::read_modify_write;
use crate::reply::ReplyBudget;
use crate::scan::{self, Batching, ScanContext, ScanStream};
use crate::scan_budget::{ConnectionId, Protocol, ScanBudget};
use crate::status;
use crate::stopping::Stopping;
use crate::stream::{self, AckStream};
use crate::tls::Peer;

/// Run a write on tokio's blocking pool, abandoning it if this future is dropped first (the
/// client cancelled the call, its deadline passed, or the connection went): a write that has
/// not yet taken its sequence numbers is then never applied, instead of being applied once
/// a stall clears, after the client saw an error and perhaps retried.
pub async fn blocking_write<T, F>(f: F) -> Result<T, Status>
where
    T: Send + 'static,
    F: FnOnce(&WriteOptions) -> EngineResult<T> + Send + 'static,
{
    /// Raises the flag when dropped: at the end of the call, or when the call is dropped.
    struct AbandonOnDrop(Arc<AtomicBool>);
    impl Drop for AbandonOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
        }
    }
    let flag = Arc::new(AtomicBool::new(false));
    let _abandon = AbandonOnDrop(flag.clone());
    let opts = WriteOptions {
        abandoned: Some(flag),
    };
    blocking(move || f(&opts)).await
}

/// Run a blocking engine call on tokio's blocking pool and map its error to a status.
pub async fn blocking<T, F>(f: F) -> Result<T, Status>
where
    T: Send + 'static,
    F: FnOnce() -> EngineResult<T> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(status::from_engine(&e)),
        Err(join) => Err(status::from_join(join)),
    }
}

fn invalid(e: ConvertError) -> Status {
    status::from_convert(&e)
}

/// The service over one open store.
#[derive(Clone, Debug)]
pub struct StrataService {
    db: Db,
    options: ServiceOptions,
    stopping: Stopping,
    aggregator: Aggregator,
    security: Arc<Security>,
    scans: ScanContext,
}

impl StrataService {
    /// A service over `db`; long-lived calls end when `stopping` is raised; Aggregate runs
    /// through `aggregator` (shared with the HTTP dashboard, so both count against one limit
    /// of concurrent aggregation scans); calls are authorized with `security` (behind a
    /// [`crate::guard::GuardLayer`] of the same); scans count in `budget` (shared with the
    /// Thrift gateway).
    pub fn new(
        db: Db,
        options: ServiceOptions,
        stopping: Stopping,
        aggregator: Aggregator,
        security: Arc<Security>,
        budget: Arc<ScanBudget>,
    ) -> Self {
        let scans = ScanContext {
            db: db.clone(),
            budget,
            stopping: stopping.clone(),
        };
        StrataService {
            db,
            options,
            stopping,
            aggregator,
            security,
            scans,
        }
    }

    /// The caller the guard layer authenticated. A request without one did not pass the
    /// guard: refuse it rather than serve it unchecked.
    fn caller<T>(request: &Request<T>) -> Result<Caller, Status> {
        request
            .extensions()
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| {
                Status::unauthenticated("the request was not authenticated (no guard layer)")
            })
    }

    /// Authorize `action` on the request's table (audited as `auth` says) and hand back the
    /// message.
    fn admit<T: Targeted>(&self, request: Request<T>, action: Action) -> Result<T, Status> {
        let caller = Self::caller(&request)?;
        self.security
            .authorize(
                &caller.call(action.name()),
                &caller.principal,
                action,
                request.get_ref().table(),
            )
            .map_err(|d| status::from_denied(&d))?;
        Ok(request.into_inner())
    }

    fn batching(&self, batch_size: u32, keys_only: bool) -> Batching {
        let rows = if batch_size == 0 {
            self.options.scan_batch_rows
        } else {
            batch_size
        };
        Batching {
            rows: usize::try_from(rows).unwrap_or(usize::MAX).max(1),
            bytes: self.options.scan_reply_bytes(),
            idle_timeout: self.options.scan_idle_timeout,
            keys_only,
        }
    }
}

#[tonic::async_trait]
impl Strata for StrataService {
    async fn create_table(
        &self,
        request: Request<pb::CreateTableRequest>,
    ) -> Result<Response<pb::CreateTableResponse>, Status> {
        let r = self.admit(request, Action::CreateTable)?;
        let table = convert::table(&r.table).map_err(invalid)?.to_owned();
        let families = convert::families_from_pb(r.families).map_err(invalid)?;
        let db = self.db.clone();
        blocking(move || db.create_table(&table, families)).await?;
        Ok(Response::new(pb::CreateTableResponse {}))
    }

    async fn alter_table(
        &self,
        request: Request<pb::AlterTableRequest>,
    ) -> Result<Response<pb::AlterTableResponse>, Status> {
        let r = self.admit(request, Action::AlterTable)?;
        let table = convert::table(&r.table).map_err(invalid)?.to_owned();
        let alter = AlterTable {
            add: convert::families_from_pb(r.add_families).map_err(invalid)?,
            drop: r.drop_families,
            modify: convert::families_from_pb(r.modify_families).map_err(invalid)?,
        };
        let db = self.db.clone();
        let description = blocking(move || {
            db.alter_table(&table, alter)?;
            db.describe_table(&table)
        })
        .await?;
        Ok(Response::new(pb::AlterTableResponse {
            families: description
                .families
                .iter()
                .map(convert::family_to_pb)
                .collect(),
        }))
    }

    async fn delete_table(
        &self,
        request: Request<pb::DeleteTableRequest>,
    ) -> Result<Response<pb::DeleteTableResponse>, Status> {
        let r = self.admit(request, Action::DeleteTable)?;
        let table = convert::table(&r.table).map_err(invalid)?.to_owned();
        let db = self.db.clone();
        blocking(move || db.drop_table(&table)).await?;
        Ok(Response::new(pb::DeleteTableResponse {}))
    }

    async fn list_tables(
        &self,
        request: Request<pb::ListTablesRequest>,
    ) -> Result<Response<pb::ListTablesResponse>, Status> {
        let caller = Self::caller(&request)?;
        self.admit(request, Action::ListTables)?;
        let db = self.db.clone();
        let mut tables = blocking(move || Ok(db.list_tables())).await?;
        tables.retain(|t| can_read(&caller.principal, t));
        Ok(Response::new(pb::ListTablesResponse { tables }))
    }

    async fn describe_table(
        &self,
        request: Request<pb::DescribeTableRequest>,
    ) -> Result<Response<pb::DescribeTableResponse>, Status> {
        let r = self.admit(request, Action::DescribeTable)?;
        let table = convert::table(&r.table).map_err(invalid)?.to_owned();
        let db = self.db.clone();
        let description = blocking(move || db.describe_table(&table)).await?;
        Ok(Response::new(convert::description_to_pb(description)))
    }

    async fn mutate(
        &self,
        request: Request<pb::MutateRequest>,
    ) -> Result<Response<pb::MutateResponse>, Status> {
        let r = self.admit(request, Action::Mutate)?;
        let table = convert::table(&r.table).map_err(invalid)?.to_owned();
        let m = convert::row_mutation_from_pb(r.row, r.mutations).map_err(invalid)?;
        let db = self.db.clone();
        let written = blocking_write(move |o| db.mutate_rows_with(&table, vec![m], o)).await?;
        Ok(Response::new(pb::MutateResponse {
            rows: written.rows,
            cells: written.cells,
        }))
    }

    async fn mutate_rows(
        &self,
        request: Request<pb::MutateRowsRequest>,
    ) -> Result<Response<pb::MutateRowsResponse>, Status> {
        let r = self.admit(request, Action::MutateRows)?;
        let table = convert::table(&r.table).map_err(invalid)?.to_owned();
        let rows = convert::row_mutations_from_pb(r.entries).map_err(invalid)?;
        let db = self.db.clone();
        let written = blocking_write(move |o| db.mutate_rows_with(&table, rows, o)).await?;
        Ok(Response::new(pb::MutateRowsResponse {
            rows: written.rows,
            cells: written.cells,
        }))
    }

    type MutateStreamStream = AckStream;

    async fn mutate_stream(
        &self,
        request: Request<Streaming<pb::MutateRowsRequest>>,
    ) -> Result<Response<AckStream>, Status> {
        // Each batch names its table: stream.rs admits every batch with Action::MutateStream.
        let gate = stream::Gate {
            caller: Self::caller(&request)?,
            security: self.security.clone(),
        };
        Ok(Response::new(stream::start(
            self.db.clone(),
            request.into_inner(),
            self.stopping.clone(),
            gate,
        )))
    }

    async fn get(
        &self,
        request: Request<pb::GetRequest>,
    ) -> Result<Response<pb::GetResponse>, Status> {
        let r = self.admit(request, Action::Get)?;
        let table = convert::table(&r.table).map_err(invalid)?.to_owned();
        let mut read = convert::read_options_from_pb(r.columns, r.max_versions, r.time_range)
            .map_err(invalid)?;
        let filter = convert::read_filter(&r.filter, &mut read).map_err(invalid)?;
        // A get answered from memory (memtables, cached blocks) takes a few microseconds and
        // never waits: it runs on the async worker, since handing every get to the blocking
        // pool cost more than the gets (thread wake-ups measured at a third of the server's
        // CPU with 8 clients). A get that must read a table file (fault mmapped pages,
        // decompress a block) goes to a blocking thread, so slow disks never stall the
        // workers every call's I/O runs on.
        let cached = self
            .db
            .get_cached(&table, &r.row, &read)
            .map_err(|e| status::from_engine(&e))?;
        let found = match cached {
            Some(found) => found,
            None => {
                let (db, t, row) = (self.db.clone(), table.clone(), r.row.clone());
                blocking(move || db.get(&t, &row, &read)).await?
            }
        };
        // Filtering one row is as cheap (the filter's regexes are size-bounded).
        let reply = convert::get_reply(found, filter.as_ref());
        ReplyBudget::new(&table, self.options.max_message_bytes).add(&reply)?;
        Ok(Response::new(reply))
    }

    type ScanStream = ScanStream;

    async fn scan(
        &self,
        request: Request<pb::ScanRequest>,
    ) -> Result<Response<ScanStream>, Status> {
        // The listener's connections carry their peer (`tls::incoming`); tonic's own TCP
        // listener only its connect info.
        let client = request
            .extensions()
            .get::<Peer>()
            .and_then(|p| p.addr)
            .or_else(|| request.remote_addr());
        let conn = ConnectionId {
            protocol: Protocol::Grpc,
            client,
        };
        let mut r = self.admit(request, Action::Scan)?;
        let table = convert::table(&r.table).map_err(invalid)?.to_owned();
        let mut options = convert::scan_options_from_pb(&mut r).map_err(invalid)?;
        let filter = convert::read_filter(&r.filter, &mut options.read)
            .map_err(invalid)?
            .map(|f| f.reversed(options.reverse));
        let batching = self.batching(r.batch_size, r.keys_only);
        let stream = scan::start(&self.scans, conn, table, options, filter, batching).await?;
        Ok(Response::new(stream))
    }

    async fn bulk_ingest(
        &self,
        request: Request<pb::BulkIngestRequest>,
    ) -> Result<Response<pb::BulkIngestResponse>, Status> {
        let r = self.admit(request, Action::BulkIngest)?;
        let table = convert::table(&r.table).map_err(invalid)?.to_owned();
        let paths = convert::ingest_paths(r.paths).map_err(invalid)?;
        let ingest_id = r.ingest_id;
        let db = self.db.clone();
        let reply = blocking(move || db.ingest(&table, &paths, &ingest_id)).await?;
        Ok(Response::new(pb::BulkIngestResponse {
            files: reply.files,
            cells: reply.cells,
            bytes: reply.bytes,
        }))
    }

    async fn flush(
        &self,
        request: Request<pb::FlushRequest>,
    ) -> Result<Response<pb::FlushResponse>, Status> {
        let r = self.admit(request, Action::Flush)?;
        let table = convert::table(&r.table).map_err(invalid)?.to_owned();
        let db = self.db.clone();
        blocking(move || db.flush(&table)).await?;
        Ok(Response::new(pb::FlushResponse {}))
    }

    async fn compact(
        &self,
        request: Request<pb::CompactRequest>,
    ) -> Result<Response<pb::CompactResponse>, Status> {
        let r = self.admit(request, Action::Compact)?;
        let table = convert::table(&r.table).map_err(invalid)?.to_owned();
        let db = self.db.clone();
        blocking(move || db.compact(&table, r.major)).await?;
        Ok(Response::new(pb::CompactResponse {}))
    }

    // Atomic read-modify-write: the row's lock is held in the engine across the read and
    // the durable write, so each runs as a write does (blocking pool, abandoned when the
    // call is dropped). Authorized as the table says in `auth/authorize.rs`: Increment and
    // Append need write, CheckAndMutate read and write (it tells the caller what it read).

    async fn check_and_mutate(
        &self,
        request: Request<pb::CheckAndMutateRequest>,
    ) -> Result<Response<pb::CheckAndMutateResponse>, Status> {
        let r = self.admit(request, Action::CheckAndMutate)?;
        let table = convert::table(&r.table).map_err(invalid)?.to_owned();
        let cm = read_modify_write::check_and_mutate(r).map_err(invalid)?;
        let db = self.db.clone();
        let applied = blocking_write(move |o| db.check_and_mutate(&table, cm, o)).await?;
        Ok(Response::new(pb::CheckAndMutateResponse { applied }))
    }

    async fn increment(
        &self,
        request: Request<pb::IncrementRequest>,
    ) -> Result<Response<pb::IncrementResponse>, Status> {
        let r = self.admit(request, Action::Increment)?;
        let table = convert::table(&r.table).map_err(invalid)?.to_owned();
        let deltas = read_modify_write::deltas(r.deltas);
        let db = self.db.clone();
        let row = blocking_write(move |o| db.increment(&table, r.row, deltas, o)).await?;
        Ok(Response::new(pb::IncrementResponse {
            row: Some(convert::row_to_pb(row)),
        }))
    }

    async fn append(
        &self,
        request: Request<pb::AppendRequest>,
    ) -> Result<Response<pb::AppendResponse>, Status> {
        let r = self.admit(request, Action::Append)?;
        let table = convert::table(&r.table).map_err(invalid)?.to_owned();
        let cells = read_modify_write::appends(r.cells);
        let (db, t) = (self.db.clone(), table.clone());
        let row = blocking_write(move |o| db.append(&t, r.row, cells, o)).await?;
        let row = convert::row_to_pb(row);
        // The values are written; a reply too big to send says so, naming the row, rather
        // than failing opaquely (the reply is the same row a Get of it would carry).
        ReplyBudget::new(&table, self.options.max_message_bytes).add(&pb::GetResponse {
            found: true,
            row: Some(row.clone()),
        })?;
        Ok(Response::new(pb::AppendResponse { row: Some(row) }))
    }

    async fn multi_get(
        &self,
        request: Request<pb::MultiGetRequest>,
    ) -> Result<Response<pb::MultiGetResponse>, Status> {
        let r = self.admit(request, Action::MultiGet)?;
        let call = MultiGet::from_pb(r).map_err(invalid)?;
        let bounds = multi_get::Bounds {
            max_rows: self.options.max_rows_per_multiget,
            reply_bytes: self.options.max_message_bytes,
        };
        // Up to max_rows_per_multiget gets: the blocking pool, unlike a single Get.
        let db = self.db.clone();
        let reply = tokio::task::spawn_blocking(move || call.run(&db, bounds))
            .await
            .map_err(status::from_join)?
            .map_err(|e| status::from_multi_get(&e))?;
        Ok(Response::new(reply))
    }

    async fn aggregate(
        &self,
        request: Request<pb::AggregateRequest>,
    ) -> Result<Response<pb::AggregateResponse>, Status> {
        let call =
            aggregation::wire::from_pb(self.admit(request, Action::Aggregate)?).map_err(invalid)?;
        let mut results = self
            .aggregator
            .run(
                &call.table,
                &call.scope,
                std::slice::from_ref(&call.aggregation),
            )
            .await
            .map_err(|e| status::from_aggregate(&e))?;
        let result = results
            .pop()
            .ok_or_else(|| Status::internal("the aggregation returned no result"))?;
        Ok(Response::new(aggregation::wire::to_pb(&result)))
    }

    async fn server_info(
        &self,
        request: Request<pb::ServerInfoRequest>,
    ) -> Result<Response<pb::ServerInfoResponse>, Status> {
        self.admit(request, Action::ServerInfo)?;
        Ok(Response::new(convert::server_info(&self.db, &self.options)))
    }

    async fn disable_table(
        &self,
        request: Request<pb::DisableTableRequest>,
    ) -> Result<Response<pb::DisableTableResponse>, Status> {
        let r = self.admit(request, Action::DisableTable)?;
        let table = convert::table(&r.table).map_err(invalid)?.to_owned();
        let db = self.db.clone();
        blocking(move || db.disable_table(&table)).await?;
        Ok(Response::new(pb::DisableTableResponse {}))
    }

    async fn enable_table(
        &self,
        request: Request<pb::EnableTableRequest>,
    ) -> Result<Response<pb::EnableTableResponse>, Status> {
        let r = self.admit(request, Action::EnableTable)?;
        let table = convert::table(&r.table).map_err(invalid)?.to_owned();
        let db = self.db.clone();
        blocking(move || db.enable_table(&table)).await?;
        Ok(Response::new(pb::EnableTableResponse {}))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::blocking_write;

    /// A write call dropped before its engine work ran (the client went away) raises the
    /// flag the engine checks before applying the write.
    #[tokio::test]
    async fn a_dropped_write_call_abandons_its_write() {
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (seen_tx, seen_rx) = mpsc::channel();
        let mut call = Box::pin(blocking_write(move |opts| {
            let _ = go_rx.recv();
            let abandoned = opts
                .abandoned
                .as_ref()
                .is_some_and(|a| a.load(std::sync::atomic::Ordering::Acquire));
            let _ = seen_tx.send(abandoned);
            Ok(())
        }));
        // Poll once, so the engine work is on the blocking pool, waiting for `go`.
        assert!(
            tokio::time::timeout(Duration::ZERO, &mut call)
                .await
                .is_err(),
            "the call finished before it was dropped"
        );
        drop(call);
        go_tx.send(()).expect("the write is waiting");
        let abandoned = tokio::task::spawn_blocking(move || seen_rx.recv())
            .await
            .expect("join")
            .expect("the write ran");
        assert!(abandoned, "the dropped call did not abandon its write");
    }
}
