//! Tests of the bulk build: edge-case CSV read back from real SSTables, rejects, duplicates,
//! the external sort path, timestamps, and the built-in tables end to end.

use std::collections::BTreeMap;
use std::ops::Bound;

use strata_engine::sstable::TableReader;

use super::*;
use crate::mapping::builtin_mapping;

type Cell = (Vec<u8>, String, Vec<u8>, i64, Vec<u8>);

const TS: i64 = 1_700_000_000_000_000;

fn read_back(files: &[OutputFile]) -> Vec<Cell> {
    let mut out = Vec::new();
    for f in files {
        let r = TableReader::open(&f.path, None).unwrap();
        for c in r.iter(Bound::Unbounded, None).unwrap() {
            let c = c.unwrap();
            out.push((
                c.row.to_vec(),
                c.family.to_string(),
                c.qualifier.to_vec(),
                c.ts,
                c.value.to_vec(),
            ));
        }
    }
    out
}

fn opts(dir: &Path, csv: &[u8], spec: &str, header: &[&str]) -> LoadOptions {
    let p = dir.join("in.csv");
    std::fs::write(&p, csv).unwrap();
    let header: Vec<String> = header.iter().map(|s| s.to_string()).collect();
    let m = TableMapping::from_columns_spec("t", spec, &header, None).unwrap();
    let mut o = LoadOptions::new(p, dir.join("out"), m);
    o.timestamp = Some(TS);
    o.rejects_path = Some(dir.join("rejects.tsv"));
    o
}

fn cell(row: &str, fam: &str, q: &str, v: &[u8]) -> Cell {
    (
        row.as_bytes().to_vec(),
        fam.to_string(),
        q.as_bytes().to_vec(),
        TS,
        v.to_vec(),
    )
}

#[test]
fn edge_case_csv_round_trips_byte_for_byte_and_rejects_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let csv = "\u{feff}id,name,note\r\n\
               1,\"Budi, Santoso\",\"he said \"\"hi\"\"\"\r\n\
               2,Siti Nurhaliza \u{e9}\u{4e2d},\"line one\nline two\"\r\n\
               3,,\r\n\
               4,short\r\n\
               5,too,many,fields\n\
               ,empty key,x\n\
               6,\"multi\nline\nname\",end";
    let mut o = opts(
        dir.path(),
        csv.as_bytes(),
        "HBASE_ROW_KEY,a:name,b:note",
        &["id", "name", "note"],
    );
    o.chunk_size = 16; // many chunks, some records longer than a chunk
    let s = build_table_files(&o).unwrap();
    assert_eq!(s.rows, 4);
    assert_eq!(s.rejects, 3);
    assert_eq!(s.cells, 8);
    let got = read_back(&s.files);
    let want = vec![
        cell("1", "a", "name", b"Budi, Santoso"),
        cell("1", "b", "note", b"he said \"hi\""),
        cell("2", "a", "name", "Siti Nurhaliza \u{e9}\u{4e2d}".as_bytes()),
        cell("2", "b", "note", b"line one\nline two"),
        cell("3", "a", "name", b""),
        cell("3", "b", "note", b""),
        cell("6", "a", "name", b"multi\nline\nname"),
        cell("6", "b", "note", b"end"),
    ];
    assert_eq!(got, want);
    let rejects = std::fs::read_to_string(dir.path().join("rejects.tsv")).unwrap();
    let lines: Vec<&str> = rejects.lines().collect();
    assert_eq!(
        lines,
        vec![
            "6\texpected 3 fields, found 2\t4,short",
            "7\texpected 3 fields, found 4\t5,too,many,fields",
            "8\tempty row key\t,empty key,x",
        ]
    );
}

#[test]
fn later_duplicate_wins_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let csv = b"k,v\na,1\nb,1\na,2\nc,1\na,3\nb,2\n";
    let mut o = opts(dir.path(), csv, "HBASE_ROW_KEY,f:v", &["k", "v"]);
    o.chunk_size = 8;
    let s = build_table_files(&o).unwrap();
    assert_eq!((s.rows, s.duplicates), (3, 3));
    let got = read_back(&s.files);
    assert_eq!(
        got,
        vec![
            cell("a", "f", "v", b"3"),
            cell("b", "f", "v", b"2"),
            cell("c", "f", "v", b"1")
        ]
    );
}

#[test]
fn max_rejects_aborts_and_writes_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let csv = b"k,v\na,1\nb\nc\nd,1\n";
    let mut o = opts(dir.path(), csv, "HBASE_ROW_KEY,f:v", &["k", "v"]);
    o.max_rejects = Some(1);
    let err = build_table_files(&o).unwrap_err();
    assert!(
        matches!(err, LoaderError::TooManyRejects { rejects: 2, max: 1 }),
        "{err}"
    );
    o.max_rejects = Some(2);
    assert_eq!(build_table_files(&o).unwrap().rows, 2);
}

#[test]
fn timestamp_column_sets_cell_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let csv = b"k,when\na,2022-07-29T15:22:01.458193Z\nb,yesterday\n";
    let mut o = opts(dir.path(), csv, "HBASE_ROW_KEY,f:when", &["k", "when"]);
    o.timestamp_column = Some("when".into());
    let s = build_table_files(&o).unwrap();
    assert_eq!((s.rows, s.rejects), (1, 1));
    let got = read_back(&s.files);
    assert_eq!(got[0].3, 1_659_108_121_458_193);
    let rejects = std::fs::read_to_string(dir.path().join("rejects.tsv")).unwrap();
    assert!(
        rejects.starts_with("3\tcolumn when: \"yesterday\" is not an ISO-8601 timestamp\t"),
        "{rejects}"
    );
}

fn synthetic_csv(rows: usize) -> Vec<u8> {
    let mut csv = b"k,a,b\n".to_vec();
    for i in 0..rows {
        // Keys repeat (duplicates across runs) and arrive out of order.
        let k = (i * 7919) % (rows * 3 / 4);
        csv.extend_from_slice(format!("key{k:05},\"v,{i}\",{}\n", "x".repeat(i % 13)).as_bytes());
    }
    csv
}

#[test]
fn external_sort_matches_in_memory_sort() {
    let dir = tempfile::tempdir().unwrap();
    let csv = synthetic_csv(3000);
    let mut mem = opts(dir.path(), &csv, "HBASE_ROW_KEY,f:a,g:b", &["k", "a", "b"]);
    mem.out_dir = dir.path().join("mem");
    let a = build_table_files(&mem).unwrap();
    assert_eq!(a.spilled_runs, 0);

    let mut ext = mem.clone();
    ext.out_dir = dir.path().join("ext");
    ext.memory_budget = 8 << 10;
    ext.chunk_size = 1024;
    ext.target_file_size = 4 << 10;
    let b = build_table_files(&ext).unwrap();
    assert!(b.spilled_runs > 3, "{} runs", b.spilled_runs);
    assert!(b.files.len() > 1);
    assert_eq!(
        (a.rows, a.duplicates, a.cells),
        (b.rows, b.duplicates, b.cells)
    );
    assert_eq!(a.rows, 2250);
    assert_eq!(a.duplicates, 750);
    let (ra, rb) = (read_back(&a.files), read_back(&b.files));
    assert_eq!(ra, rb);
    // Files hold disjoint, increasing key ranges, and cells come in internal order.
    for w in rb.windows(2) {
        assert!((&w[0].0, &w[0].1, &w[0].2) < (&w[1].0, &w[1].1, &w[1].2));
    }
    // The temp directory is gone.
    let leftovers: Vec<_> = std::fs::read_dir(&ext.out_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".strata-load"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn generated_tables_load_every_field_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    crate::datagen::generate(dir.path(), 0.0002, 3).unwrap();
    for table in ["customers", "product", "transactions", "clickstream"] {
        let csv_path = dir
            .path()
            .join(crate::mapping::builtin_csv_file(table).unwrap());
        let mapping = builtin_mapping(table).unwrap();
        let mut o = LoadOptions::new(&csv_path, dir.path().join(table), mapping.clone());
        o.timestamp = Some(TS);
        o.memory_budget = 64 << 10; // exercise the spill path on real data too
        o.chunk_size = 16 << 10;
        let s = build_table_files(&o).unwrap();
        assert_eq!(s.rejects, 0, "{table}");
        assert_eq!(s.duplicates, 0, "{table}");
        let got = read_back(&s.files);

        let mut r = csv::Reader::from_path(&csv_path).unwrap();
        let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
        let resolved = mapping.resolve(&header, None).unwrap();
        let mut want: BTreeMap<(Vec<u8>, String, Vec<u8>), Vec<u8>> = BTreeMap::new();
        let mut rows = 0;
        for rec in r.byte_records() {
            let rec = rec.unwrap();
            rows += 1;
            let key: Vec<u8> = match table {
                "clickstream" => [&rec[0], b"#", &rec[2], b"#", &rec[3]].concat(),
                "transactions" => rec[2].to_vec(),
                _ => rec[0].to_vec(),
            };
            for c in &resolved.cells {
                want.insert(
                    (key.clone(), c.family.to_string(), c.qualifier.clone()),
                    rec[c.column].to_vec(),
                );
            }
        }
        assert_eq!(s.rows, rows, "{table}");
        let got: BTreeMap<_, _> = got
            .into_iter()
            .map(|(r, f, q, ts, v)| {
                assert_eq!(ts, TS);
                ((r, f, q), v)
            })
            .collect();
        assert_eq!(got.len(), want.len(), "{table}");
        assert!(got == want, "{table}: loaded cells differ from the CSV");
    }
}

#[test]
fn invalid_utf8_keys_are_rejected_but_values_may_be_any_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let csv = b"k\tv\nok\t\xff\xfe\n\xffbad\tx\n";
    let mut o = opts(dir.path(), csv, "HBASE_ROW_KEY,f:v", &["k", "v"]);
    o.delimiter = b'\t';
    let s = build_table_files(&o).unwrap();
    assert_eq!((s.rows, s.rejects), (1, 1));
    assert_eq!(read_back(&s.files), vec![cell("ok", "f", "v", b"\xff\xfe")]);
    let rejects = std::fs::read(dir.path().join("rejects.tsv")).unwrap();
    assert_eq!(
        rejects,
        b"3\trow key column k is not valid UTF-8\t\xffbad\\tx\n".to_vec()
    );
}

#[test]
fn table_family_options_must_cover_the_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path(), b"k,v\na,1\n", "HBASE_ROW_KEY,f:v", &["k", "v"]);
    o.families = vec![FamilyOptions::new("g")];
    let err = build_table_files(&o).unwrap_err();
    assert!(err.to_string().contains("\"f\""), "{err}");
    o.families = vec![FamilyOptions::new("g"), FamilyOptions::new("f")];
    assert_eq!(build_table_files(&o).unwrap().cells, 1);
}

#[test]
fn header_only_file_gives_no_files_and_empty_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(dir.path(), b"k,v\n", "HBASE_ROW_KEY,f:v", &["k", "v"]);
    let s = build_table_files(&o).unwrap();
    assert_eq!((s.rows, s.files.len()), (0, 0));
    let o = opts(dir.path(), b"", "HBASE_ROW_KEY,f:v", &["k", "v"]);
    let err = build_table_files(&o).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
}

#[test]
fn external_sort_with_key_columns_as_cells_and_per_row_timestamps() {
    // Spilled rows store per-row timestamps and refer to key columns instead of repeating
    // them; the result must equal the in-memory build, duplicates included.
    let dir = tempfile::tempdir().unwrap();
    let mut csv = b"s,t,v\n".to_vec();
    for i in 0..3000usize {
        let s = (i * 7919) % 1800;
        let t = format!("2022-07-29T15:22:{:02}.{:06}Z", i % 60, s);
        csv.extend_from_slice(format!("s{s:05},{t},\"v,{i}\"\n").as_bytes());
    }
    let mut mem = opts(dir.path(), &csv, "HBASE_ROW_KEY,f:t,g:v", &["s", "t", "v"]);
    let header: Vec<String> = ["s", "t", "v"].iter().map(|s| s.to_string()).collect();
    mem.mapping =
        TableMapping::from_columns_spec("t", "f:s,f:t,g:v", &header, Some("{s}#{t}")).unwrap();
    mem.timestamp_column = Some("t".into());
    mem.out_dir = dir.path().join("mem");
    let a = build_table_files(&mem).unwrap();
    assert_eq!(a.spilled_runs, 0);
    let mut ext = mem.clone();
    ext.out_dir = dir.path().join("ext");
    ext.memory_budget = 8 << 10;
    ext.chunk_size = 1024;
    let b = build_table_files(&ext).unwrap();
    assert!(b.spilled_runs > 3, "{} runs", b.spilled_runs);
    assert_eq!(
        (a.rows, a.duplicates, a.cells),
        (b.rows, b.duplicates, b.cells)
    );
    assert!(a.duplicates > 0);
    let (ra, rb) = (read_back(&a.files), read_back(&b.files));
    assert_eq!(ra, rb);
    assert!(
        ra.iter().any(|c| c.3 != ra[0].3),
        "timestamps differ per row"
    );
}

#[test]
fn rows_longer_than_their_record_text_are_placed_after_the_chunk_text() {
    // Each parsed row is written over its record's text when it fits there. A key template
    // with long literals makes rows longer than their text unless a skipped column left room;
    // both kinds, rejects and quoted fields must come out exactly as the CSV says, across
    // chunk boundaries and with buffers recycled through the spill path.
    const LIT: &str = "=a-literal-longer-than-the-delimiters=";
    let dir = tempfile::tempdir().unwrap();
    let mut csv = b"a,b,c,d\n".to_vec();
    let mut want = Vec::new();
    for i in 0..400usize {
        let d = if i % 3 == 0 {
            "x".repeat(80)
        } else {
            String::new()
        };
        let c = if i % 5 == 0 {
            format!("\"q\"\"{i}\"\"\"")
        } else {
            format!("c{i}")
        };
        if i % 7 == 3 {
            csv.extend_from_slice(format!("k{i:04},only,three\n").as_bytes());
            continue;
        }
        csv.extend_from_slice(format!("k{i:04},b{i},{c},{d}\n").as_bytes());
        let key = format!("k{i:04}{LIT}b{i}");
        let cv = if i % 5 == 0 {
            format!("q\"{i}\"")
        } else {
            format!("c{i}")
        };
        want.push(cell(&key, "f", "b", format!("b{i}").as_bytes()));
        want.push(cell(&key, "f", "c", cv.as_bytes()));
    }
    want.sort();
    let header: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
    let template = format!("{{a}}{LIT}{{b}}");
    let mut base = opts(
        dir.path(),
        &csv,
        "HBASE_ROW_KEY,f:b,f:c,-",
        &["a", "b", "c", "d"],
    );
    base.mapping =
        TableMapping::from_columns_spec("t", "-,f:b,f:c,-", &header, Some(&template)).unwrap();
    for (name, budget, chunk) in [("mem", 1 << 30, 1000), ("ext", 8 << 10, 700)] {
        let mut o = base.clone();
        o.out_dir = dir.path().join(name);
        o.memory_budget = budget;
        o.chunk_size = chunk;
        let s = build_table_files(&o).unwrap();
        assert_eq!(
            s.rejects,
            (0..400).filter(|i| i % 7 == 3).count() as u64,
            "{name}"
        );
        assert_eq!(read_back(&s.files), want, "{name}");
    }
}
