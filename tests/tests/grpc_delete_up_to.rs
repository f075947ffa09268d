//! The "every version at or before T" deletes over gRPC against the real `strata serve`
//! (`DeleteCells.up_to`, `DeleteFamily.up_to_timestamp_micros`,
//! `DeleteRow.up_to_timestamp_micros`): each hides exactly the versions with a timestamp <= T
//! that were written before it, never a later put whatever its timestamp, and the result
//! holds across flush, major compaction and a SIGKILL restart.

use strata_tests::grpc::{T0, Version, dump};
use strata_tests::v1 as pb;
use strata_tests::*;
use tonic::Code;

fn columns_up_to(family: &str, qualifier: &[u8], ts: i64) -> pb::Mutation {
    pb::Mutation {
        kind: Some(pb::mutation::Kind::DeleteCells(pb::DeleteCells {
            family: family.to_owned(),
            qualifier: qualifier.to_vec().into(),
            timestamp_micros: ts,
            up_to: true,
        })),
    }
}

fn family_up_to(family: &str, ts: i64) -> pb::Mutation {
    pb::Mutation {
        kind: Some(pb::mutation::Kind::DeleteFamily(pb::DeleteFamily {
            family: family.to_owned(),
            up_to_timestamp_micros: ts,
        })),
    }
}

fn row_up_to(ts: i64) -> pb::Mutation {
    pb::Mutation {
        kind: Some(pb::mutation::Kind::DeleteRow(pb::DeleteRow {
            up_to_timestamp_micros: ts,
        })),
    }
}

/// Versions 10, 20, 30, 40 (µs past T0) of `family:qualifier`, values `<prefix><n>`.
fn four_versions(family: &str, qualifier: &[u8], prefix: &str) -> Vec<pb::Mutation> {
    [10, 20, 30, 40]
        .iter()
        .map(|n| {
            let v = format!("{prefix}{n}");
            set(family, qualifier, v.as_bytes(), T0 + n)
        })
        .collect()
}

#[tokio::test]
async fn delete_up_to_t_hides_exactly_the_earlier_versions_at_or_before_t() {
    let mut server = Server::start().await;
    let mut c = server.client().await;
    let fam = |name: &str| pb::FamilyOptions {
        name: name.into(),
        max_versions: 10,
        ..Default::default()
    };
    c.create_table(pb::CreateTableRequest {
        table: "t".into(),
        families: vec![fam("f"), fam("g")],
    })
    .await
    .expect("create");
    let m = |row: &[u8], mutations: Vec<pb::Mutation>| pb::MutateRequest {
        table: "t".into(),
        row: row.to_vec().into(),
        mutations,
    };
    for row in [b"a", b"b", b"c", b"d"] {
        let mut puts = four_versions("f", b"q", "fq");
        puts.extend(four_versions("f", b"r", "fr"));
        puts.extend(four_versions("g", b"q", "gq"));
        c.mutate(m(row, puts)).await.expect("put");
    }
    // Half the versions in a file, half in the memtable: the deletes reach both.
    c.flush(pb::FlushRequest { table: "t".into() })
        .await
        .expect("flush");

    // a: column f:q up to T0+20 (the bound itself is covered, T0+30 is not); then a put at
    // T0+15, written after the delete, stays visible.
    c.mutate(m(b"a", vec![columns_up_to("f", b"q", T0 + 20)]))
        .await
        .expect("delete column up to");
    c.mutate(m(b"a", vec![set("f", b"q", b"after", T0 + 15)]))
        .await
        .expect("put after");
    // b: family f up to T0+30; g untouched.
    c.mutate(m(b"b", vec![family_up_to("f", T0 + 30)]))
        .await
        .expect("delete family up to");
    // c: the row up to T0+10, and in the same call a put at T0+5 after it.
    c.mutate(m(
        b"c",
        vec![row_up_to(T0 + 10), set("g", b"z", b"same-call", T0 + 5)],
    ))
    .await
    .expect("delete row up to");
    // d: up_to with timestamp 0 is every version of the column.
    c.mutate(m(b"d", vec![columns_up_to("g", b"q", 0)]))
        .await
        .expect("delete column up to 0");

    let v = |row: &str, fam: &str, q: &str, n: i64, val: &str| -> Version {
        (
            row.as_bytes().to_vec(),
            fam.to_owned(),
            q.as_bytes().to_vec(),
            T0 + n,
            val.as_bytes().to_vec(),
        )
    };
    let all = |row: &str, fam: &str, q: &str, keep: &[i64]| -> Vec<Version> {
        keep.iter()
            .map(|&n| v(row, fam, q, n, &format!("{fam}{q}{n}")))
            .collect()
    };
    let mut expected = Vec::new();
    expected.extend(all("a", "f", "q", &[40, 30]));
    expected.push(v("a", "f", "q", 15, "after"));
    expected.extend(all("a", "f", "r", &[40, 30, 20, 10]));
    expected.extend(all("a", "g", "q", &[40, 30, 20, 10]));
    expected.extend(all("b", "f", "q", &[40]));
    expected.extend(all("b", "f", "r", &[40]));
    expected.extend(all("b", "g", "q", &[40, 30, 20, 10]));
    expected.extend(all("c", "f", "q", &[40, 30, 20]));
    expected.extend(all("c", "f", "r", &[40, 30, 20]));
    expected.extend(all("c", "g", "q", &[40, 30, 20]));
    expected.push(v("c", "g", "z", 5, "same-call"));
    expected.extend(all("d", "f", "q", &[40, 30, 20, 10]));
    expected.extend(all("d", "f", "r", &[40, 30, 20, 10]));

    assert_eq!(dump(&mut c, "t").await, expected, "memtable + files");
    c.flush(pb::FlushRequest { table: "t".into() })
        .await
        .expect("flush");
    assert_eq!(dump(&mut c, "t").await, expected, "after flush");
    c.compact(pb::CompactRequest {
        table: "t".into(),
        major: true,
    })
    .await
    .expect("compact");
    assert_eq!(dump(&mut c, "t").await, expected, "after major compaction");
    // A delete up to T written after the compaction still hides only earlier versions.
    c.mutate(m(b"b", vec![columns_up_to("g", b"q", T0 + 20)]))
        .await
        .expect("delete after compaction");
    expected.retain(|x| !(x.0 == b"b" && x.1 == "g" && x.3 <= T0 + 20));
    drop(c);
    server.kill();
    server.restart().await;
    let mut c = server.client().await;
    assert_eq!(
        dump(&mut c, "t").await,
        expected,
        "after SIGKILL and restart (the last delete replayed from the WAL)"
    );
}

#[tokio::test]
async fn a_bad_up_to_delete_is_invalid_argument_and_applies_nothing() {
    let server = Server::start().await;
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f"]).await;
    let m = |mutations: Vec<pb::Mutation>| pb::MutateRequest {
        table: "t".into(),
        row: b"r".to_vec().into(),
        mutations,
    };
    c.mutate(m(vec![set("f", b"q", b"v", T0)]))
        .await
        .expect("put");
    for bad in [
        columns_up_to("f", b"q", -1),
        family_up_to("f", -5),
        row_up_to(-1),
    ] {
        let s = c.mutate(m(vec![bad])).await.expect_err("negative bound");
        assert_status(&s, Code::InvalidArgument, &["timestamp"]);
    }
    let s = c
        .mutate(m(vec![family_up_to("nope", T0)]))
        .await
        .expect_err("unknown family");
    assert_eq!(s.code(), Code::NotFound, "{s:?}");
    let row = get_row(&mut c, "t", b"r").await.expect("still there");
    assert_eq!(cells(&row), [triple("f", "q", "v")]);
}
