//! End to end through the engine: generated clickstream and customers CSV -> table files ->
//! `Db::ingest` -> reads. Checks that the engine adopts what the loader writes and that the
//! clickstream key makes a session prefix scan return its events in time order.

use strata_engine::{Db, DbOptions, FamilyOptions, ReadOptions, ScanOptions};
use strata_loader::bulk::LoadOptions;
use strata_loader::{build_table_files, builtin_csv_file, builtin_mapping, generate};

#[test]
fn loaded_files_ingest_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("csv");
    generate(&data, 0.0002, 11).unwrap();
    let db = Db::open(
        dir.path().join("db"),
        DbOptions {
            background_threads: false,
            ..DbOptions::default()
        },
    )
    .unwrap();
    for table in ["customers", "clickstream"] {
        let mapping = builtin_mapping(table).unwrap();
        let fams: Vec<FamilyOptions> = mapping.families.iter().map(FamilyOptions::new).collect();
        db.create_table(table, fams.clone()).unwrap();
        // Staged in the store's ingest directory, the only place it takes files from.
        let mut o = LoadOptions::new(
            data.join(builtin_csv_file(table).unwrap()),
            db.ingest_dirs()[0].join(table),
            mapping,
        );
        o.families = fams;
        let s = build_table_files(&o).unwrap();
        let reply = db
            .ingest(table, &s.paths(), &format!("load-{table}"))
            .unwrap();
        assert_eq!(reply.files, s.files.len() as u64);
        assert_eq!(reply.cells, s.cells);
    }

    // A customer row: every column of the CSV is there, byte for byte.
    let mut r = csv::Reader::from_path(data.join("customer.csv")).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    let rec = r.records().next().unwrap().unwrap();
    let row = db
        .get("customers", rec[0].as_bytes(), &ReadOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(row.cells.len(), header.len() - 1);
    for c in &row.cells {
        let col = header
            .iter()
            .position(|h| h.as_bytes() == &c.qualifier[..])
            .unwrap();
        assert_eq!(&c.value[..], rec[col].as_bytes(), "{}", header[col]);
    }

    // A session's events by prefix scan, in time order, all of them.
    let mut r = csv::Reader::from_path(data.join("click_stream.csv")).unwrap();
    let recs: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    let session = recs[0][0].to_string();
    let mut want: Vec<String> = recs
        .iter()
        .filter(|x| x[0] == *session)
        .map(|x| x[2].to_string())
        .collect();
    want.sort();
    let rows: Vec<_> = db
        .scan(
            "clickstream",
            ScanOptions {
                prefix: format!("{session}#").into_bytes(),
                ..ScanOptions::default()
            },
        )
        .unwrap()
        .map(|x| x.unwrap())
        .collect();
    let got: Vec<String> = rows
        .iter()
        .map(|row| {
            let c = row
                .cells
                .iter()
                .find(|c| &c.qualifier[..] == b"event_time")
                .unwrap();
            String::from_utf8(c.value.to_vec()).unwrap()
        })
        .collect();
    assert!(want.len() >= 2);
    assert_eq!(got, want);
    db.close().unwrap();
}
