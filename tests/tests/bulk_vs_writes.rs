//! A bulk load (`strata load --server`, files adopted through BulkIngest) and a load of the
//! same CSV rows through MutateRows give identical rows, columns and values in a scan
//! (timestamps may differ). Covers a single-column key (transactions) and the composite
//! clickstream key. The layouts are written here from the brief, not taken from the loader.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::path::Path;

use strata_proto::v1::strata_client::StrataClient;
use strata_tests::v1 as pb;
use strata_tests::*;

/// The CSV's rows as MutateRows entries per the layout.
fn rows_of(csv_path: &Path, layout: &Layout) -> Vec<pb::RowMutations> {
    let mut reader = csv::Reader::from_path(csv_path).expect("open csv");
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("column {name} missing"))
    };
    let mut out = Vec::new();
    for rec in reader.records() {
        let rec = rec.expect("record");
        let key = layout
            .2
            .iter()
            .map(|k| rec.get(col(k)).expect("key field"))
            .collect::<Vec<_>>()
            .join("#");
        let mut mutations = Vec::new();
        for (family, quals) in layout.3 {
            for q in *quals {
                mutations.push(set(
                    family,
                    q.as_bytes(),
                    rec.get(col(q)).expect("field").as_bytes(),
                    0,
                ));
            }
        }
        out.push(pb::RowMutations {
            row: key.into_bytes().into(),
            mutations,
        });
    }
    out
}

async fn whole_table(
    client: &mut StrataClient<tonic::transport::Channel>,
    table: &str,
) -> Vec<(Vec<u8>, Vec<(String, Vec<u8>, Vec<u8>)>)> {
    let (rows, _) = scan_all(
        client,
        pb::ScanRequest {
            table: table.to_owned(),
            ..Default::default()
        },
    )
    .await
    .expect("scan");
    rows.iter().map(|r| (r.key.to_vec(), cells(r))).collect()
}

#[tokio::test]
async fn bulk_load_and_mutate_rows_give_the_same_table() {
    let work = tempfile::tempdir().expect("tempdir");
    let csv_dir = work.path().join("csv");
    run_strata(&[
        "gen",
        "--out",
        csv_dir.to_str().expect("utf8"),
        "--scale",
        "0.0005",
        "--seed",
        "7",
    ])
    .assert_success();
    let server = Server::start().await;
    let mut client = server.client().await;
    for layout in [LAYOUTS[2], LAYOUTS[3]] {
        let (table, file, _, families) = layout;
        let csv_path = csv_dir.join(file);
        // Bulk path.
        server
            .cli(&[
                "load",
                "--table",
                table,
                "--csv",
                csv_path.to_str().expect("utf8"),
                "-q",
            ])
            .assert_success();
        // Write path, into a twin table with the same families.
        let twin = format!("{table}_via_writes");
        let names: Vec<&str> = families.iter().map(|(f, _)| *f).collect();
        create_table(&mut client, &twin, &names).await;
        let rows = rows_of(&csv_path, &layout);
        assert!(rows.len() >= 10, "{table}: generated too few rows");
        for chunk in rows.chunks(200) {
            client
                .mutate_rows(pb::MutateRowsRequest {
                    table: twin.clone(),
                    entries: chunk.to_vec(),
                })
                .await
                .expect("mutate_rows");
        }
        let bulk = whole_table(&mut client, table).await;
        let writes = whole_table(&mut client, &twin).await;
        assert!(!bulk.is_empty(), "{table}: bulk load left the table empty");
        assert_eq!(bulk.len(), writes.len(), "{table}: row counts differ");
        for (b, w) in bulk.iter().zip(&writes) {
            assert_eq!(b, w, "{table}: rows differ");
        }
    }
}
