//! Helpers the server's integration tests share.

#![allow(dead_code, clippy::expect_used)]

use strata_proto::v1 as pb;

pub mod rmw;

/// Serve `db` over gRPC on a free loopback port with `options`, and a client of it.
pub async fn serve(
    db: &strata_engine::Db,
    options: strata_server::ServiceOptions,
) -> (strata_server::ServerHandle, strata_server::Client) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let server = strata_server::start(db.clone(), listener, options)
        .await
        .expect("start");
    let client = strata_server::connect(&server.url(), &strata_server::ClientSecurity::default())
        .await
        .expect("connect");
    (server, client)
}

/// Create table `t` with the one family `f`.
pub async fn create_t(c: &mut strata_server::Client) {
    create_table(c, "t").await;
}

/// Write rows `r000`, `r001`, ... (`rows` of them) of table `t`, each with `value` in `f:q`.
pub async fn write_rows(c: &mut strata_server::Client, rows: usize, value: bytes::Bytes) {
    c.mutate_rows(pb::MutateRowsRequest {
        table: "t".into(),
        entries: (0..rows)
            .map(|i| pb::RowMutations {
                row: format!("r{i:03}").into_bytes().into(),
                mutations: vec![pb::Mutation {
                    kind: Some(pb::mutation::Kind::SetCell(pb::SetCell {
                        family: "f".into(),
                        qualifier: "q".into(),
                        value: value.clone(),
                        timestamp_micros: 0,
                    })),
                }],
            })
            .collect(),
    })
    .await
    .expect("write");
}

/// A store in `dir` (no fsyncs, no background work) served as [`serve`] does.
pub async fn open_and_serve(
    dir: &std::path::Path,
    options: strata_server::ServiceOptions,
) -> (
    strata_engine::Db,
    strata_server::ServerHandle,
    strata_server::Client,
) {
    let db = strata_engine::Db::open(
        dir,
        strata_engine::DbOptions {
            sync_mode: strata_engine::SyncMode::None,
            background_threads: false,
            ..strata_engine::DbOptions::default()
        },
    )
    .expect("open store");
    let (server, client) = serve(&db, options).await;
    (db, server, client)
}

/// Create `table` with one family `f` of default options.
pub async fn create_table(c: &mut strata_server::Client, table: &str) {
    c.create_table(pb::CreateTableRequest {
        table: table.into(),
        families: vec![pb::FamilyOptions {
            name: "f".into(),
            ..Default::default()
        }],
    })
    .await
    .expect("create");
}
