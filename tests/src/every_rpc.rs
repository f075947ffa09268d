//! Every RPC of the Strata service called once with a small request on one table, for the
//! security tests: which codes come back with no token, a wrong token or a token lacking a
//! permission. A call that passed authorization answers OK, NOT_FOUND, UNIMPLEMENTED or
//! another code of the engine; a refused one answers UNAUTHENTICATED or PERMISSION_DENIED.
//!
//! It only calls and reports; it must never assert (the tests say what they expect).

use strata_proto::v1 as pb;
use tonic::Code;

use crate::secure::Authed;
use crate::set;

/// Whether an RPC changes data or tables (needs write, create or admin) or only reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Get, Scan, DescribeTable, ListTables, MultiGet, Aggregate, ServerInfo.
    Read,
    /// Everything else.
    Mutating,
}

fn code<T>(r: Result<tonic::Response<T>, tonic::Status>) -> (Code, String) {
    match r {
        Ok(_) => (Code::Ok, String::new()),
        Err(s) => (s.code(), s.message().to_owned()),
    }
}

/// Call each RPC on `table` (its row `r`, family `f`); returns (RPC, kind, code, message).
pub async fn call_every_rpc(
    c: &mut Authed,
    table: &str,
) -> Vec<(&'static str, Kind, Code, String)> {
    use Kind::*;
    let t = || table.to_owned();
    let row = || tonic::codegen::Bytes::from_static(b"r");
    let mut out = Vec::new();
    let mut push = |name, kind, (code, msg): (Code, String)| out.push((name, kind, code, msg));

    push(
        "ListTables",
        Read,
        code(c.list_tables(pb::ListTablesRequest {}).await),
    );
    push(
        "DescribeTable",
        Read,
        code(
            c.describe_table(pb::DescribeTableRequest { table: t() })
                .await,
        ),
    );
    push(
        "Get",
        Read,
        code(
            c.get(pb::GetRequest {
                table: t(),
                row: row(),
                ..Default::default()
            })
            .await,
        ),
    );
    let scan = match c
        .scan(pb::ScanRequest {
            table: t(),
            ..Default::default()
        })
        .await
    {
        Ok(r) => {
            let mut s = r.into_inner();
            match s.message().await {
                Ok(_) => (Code::Ok, String::new()),
                Err(e) => (e.code(), e.message().to_owned()),
            }
        }
        Err(e) => (e.code(), e.message().to_owned()),
    };
    push("Scan", Read, scan);
    push(
        "MultiGet",
        Read,
        code(
            c.multi_get(pb::MultiGetRequest {
                table: t(),
                ..Default::default()
            })
            .await,
        ),
    );
    push(
        "Aggregate",
        Read,
        code(
            c.aggregate(pb::AggregateRequest {
                table: t(),
                ..Default::default()
            })
            .await,
        ),
    );
    push(
        "ServerInfo",
        Read,
        code(c.server_info(pb::ServerInfoRequest {}).await),
    );

    let mutation = || vec![set("f", b"q", b"v", 0)];
    push(
        "Mutate",
        Mutating,
        code(
            c.mutate(pb::MutateRequest {
                table: t(),
                row: row(),
                mutations: mutation(),
            })
            .await,
        ),
    );
    let batch = || pb::MutateRowsRequest {
        table: t(),
        entries: vec![pb::RowMutations {
            row: row(),
            mutations: mutation(),
        }],
    };
    push("MutateRows", Mutating, code(c.mutate_rows(batch()).await));
    let stream = match c.mutate_stream(tokio_stream::iter(vec![batch()])).await {
        Ok(r) => {
            let mut acks = r.into_inner();
            match acks.message().await {
                Ok(_) => (Code::Ok, String::new()),
                Err(e) => (e.code(), e.message().to_owned()),
            }
        }
        Err(e) => (e.code(), e.message().to_owned()),
    };
    push("MutateStream", Mutating, stream);
    push(
        "CheckAndMutate",
        Mutating,
        code(
            c.check_and_mutate(pb::CheckAndMutateRequest {
                table: t(),
                row: row(),
                ..Default::default()
            })
            .await,
        ),
    );
    push(
        "Increment",
        Mutating,
        code(
            c.increment(pb::IncrementRequest {
                table: t(),
                row: row(),
                ..Default::default()
            })
            .await,
        ),
    );
    push(
        "Append",
        Mutating,
        code(
            c.append(pb::AppendRequest {
                table: t(),
                row: row(),
                ..Default::default()
            })
            .await,
        ),
    );
    push(
        "BulkIngest",
        Mutating,
        code(
            c.bulk_ingest(pb::BulkIngestRequest {
                table: t(),
                paths: vec!["/nonexistent/x.sst".into()],
                ingest_id: "every-rpc".into(),
            })
            .await,
        ),
    );
    push(
        "Flush",
        Mutating,
        code(c.flush(pb::FlushRequest { table: t() }).await),
    );
    push(
        "Compact",
        Mutating,
        code(
            c.compact(pb::CompactRequest {
                table: t(),
                major: false,
            })
            .await,
        ),
    );
    push(
        "AlterTable",
        Mutating,
        code(
            c.alter_table(pb::AlterTableRequest {
                table: t(),
                ..Default::default()
            })
            .await,
        ),
    );
    push(
        "DisableTable",
        Mutating,
        code(
            c.disable_table(pb::DisableTableRequest { table: t() })
                .await,
        ),
    );
    push(
        "EnableTable",
        Mutating,
        code(c.enable_table(pb::EnableTableRequest { table: t() }).await),
    );
    push(
        "CreateTable",
        Mutating,
        code(
            c.create_table(pb::CreateTableRequest {
                table: format!("{table}_new"),
                families: vec![crate::family("f")],
            })
            .await,
        ),
    );
    push(
        "DeleteTable",
        Mutating,
        code(c.delete_table(pb::DeleteTableRequest { table: t() }).await),
    );
    out
}
