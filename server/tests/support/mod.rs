//! Helpers the server's integration tests share.

#![allow(dead_code, clippy::expect_used)]

use strata_proto::v1 as pb;

pub mod rmw;

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
