//! Table administration over gRPC against the real `strata serve`: create, list, describe,
//! alter and delete tables, and the family options they set (max versions, TTL) as reads see them.

use strata_tests::grpc::{T0, dump, get_with};
use strata_tests::v1 as pb;
use strata_tests::*;
use tonic::Code;

#[tokio::test]
async fn table_admin_create_list_describe_alter_delete() {
    let server = Server::start().await;
    let mut c = server.client().await;

    assert!(
        c.list_tables(pb::ListTablesRequest {})
            .await
            .expect("list")
            .into_inner()
            .tables
            .is_empty()
    );

    c.create_table(pb::CreateTableRequest {
        table: "orders".into(),
        families: vec![
            family("b_default"),
            pb::FamilyOptions {
                name: "a_tuned".into(),
                max_versions: 3,
                ttl_seconds: 86_400,
                compression: pb::Compression::Zstd as i32,
                compression_level: 9,
                disable_bloom_filter: true,
                block_size: 4096,
            },
            pb::FamilyOptions {
                name: "c_raw".into(),
                compression: pb::Compression::None as i32,
                ..Default::default()
            },
        ],
    })
    .await
    .expect("create orders");
    create_table(&mut c, "customers", &["personal_info"]).await;

    let tables = c
        .list_tables(pb::ListTablesRequest {})
        .await
        .expect("list")
        .into_inner()
        .tables;
    assert_eq!(tables, ["customers", "orders"], "sorted table names");

    let d = c
        .describe_table(pb::DescribeTableRequest {
            table: "orders".into(),
        })
        .await
        .expect("describe")
        .into_inner();
    assert_eq!(d.table, "orders");
    let names: Vec<&str> = d.families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["a_tuned", "b_default", "c_raw"],
        "families sorted by name"
    );
    let tuned = &d.families[0];
    assert_eq!(tuned.max_versions, 3);
    assert_eq!(tuned.ttl_seconds, 86_400);
    assert_eq!(tuned.compression, pb::Compression::Zstd as i32);
    assert_eq!(tuned.compression_level, 9);
    assert!(tuned.disable_bloom_filter);
    assert_eq!(tuned.block_size, 4096);
    // Defaults are filled in: 1 version, forever, zstd level 3, bloom on, 64 KiB blocks.
    let def = &d.families[1];
    assert_eq!(def.max_versions, 1);
    assert_eq!(def.ttl_seconds, 0);
    assert_eq!(def.compression, pb::Compression::Zstd as i32);
    assert_eq!(def.compression_level, 3);
    assert!(!def.disable_bloom_filter);
    assert_eq!(def.block_size, 64 * 1024);
    assert_eq!(d.families[2].compression, pb::Compression::None as i32);
    let stats = d.stats.expect("describe returns stats");
    assert_eq!(stats.files, 0, "a new table has no files");

    // Data in the family that will be dropped, and in one that stays.
    c.mutate(pb::MutateRequest {
        table: "orders".into(),
        row: b"r1".to_vec().into(),
        mutations: vec![
            set("b_default", b"q", b"keep", 0),
            set("c_raw", b"q", b"dropped", 0),
        ],
    })
    .await
    .expect("mutate");

    // Alter: add, drop and modify in one call.
    let altered = c
        .alter_table(pb::AlterTableRequest {
            table: "orders".into(),
            add_families: vec![family("d_new")],
            drop_families: vec!["c_raw".into()],
            modify_families: vec![pb::FamilyOptions {
                name: "b_default".into(),
                max_versions: 5,
                ..Default::default()
            }],
        })
        .await
        .expect("alter")
        .into_inner();
    let names: Vec<&str> = altered.families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["a_tuned", "b_default", "d_new"]);
    assert_eq!(altered.families[1].max_versions, 5);
    let d = c
        .describe_table(pb::DescribeTableRequest {
            table: "orders".into(),
        })
        .await
        .expect("describe")
        .into_inner();
    assert_eq!(d.families, altered.families, "describe agrees with alter");

    // The dropped family's data is gone, and stays gone if the name is added again.
    let row = get_row(&mut c, "orders", b"r1").await.expect("row");
    assert_eq!(cells(&row), [triple("b_default", "q", "keep")]);
    c.alter_table(pb::AlterTableRequest {
        table: "orders".into(),
        add_families: vec![family("c_raw")],
        ..Default::default()
    })
    .await
    .expect("re-add c_raw");
    let row = get_row(&mut c, "orders", b"r1").await.expect("row");
    assert_eq!(
        cells(&row),
        [triple("b_default", "q", "keep")],
        "a re-added family must not resurrect dropped data"
    );

    // Alter errors.
    let e = c
        .alter_table(pb::AlterTableRequest {
            table: "orders".into(),
            drop_families: vec!["nope".into()],
            ..Default::default()
        })
        .await
        .expect_err("drop unknown family");
    assert_status(&e, Code::NotFound, &["nope"]);
    let e = c
        .alter_table(pb::AlterTableRequest {
            table: "orders".into(),
            add_families: vec![family("d_new")],
            ..Default::default()
        })
        .await
        .expect_err("add existing family");
    assert_status(&e, Code::AlreadyExists, &["d_new"]);
    let e = c
        .alter_table(pb::AlterTableRequest {
            table: "orders".into(),
            add_families: vec![family("bad family")],
            ..Default::default()
        })
        .await
        .expect_err("add badly named family");
    assert_status(&e, Code::InvalidArgument, &["bad family"]);

    // Delete.
    c.delete_table(pb::DeleteTableRequest {
        table: "orders".into(),
    })
    .await
    .expect("delete");
    let tables = c
        .list_tables(pb::ListTablesRequest {})
        .await
        .expect("list")
        .into_inner()
        .tables;
    assert_eq!(tables, ["customers"]);
    let e = c
        .get(pb::GetRequest {
            table: "orders".into(),
            row: b"r1".to_vec().into(),
            ..Default::default()
        })
        .await
        .expect_err("get from a deleted table");
    assert_status(&e, Code::NotFound, &["orders"]);
    let e = c
        .delete_table(pb::DeleteTableRequest {
            table: "orders".into(),
        })
        .await
        .expect_err("delete twice");
    assert_status(&e, Code::NotFound, &["orders"]);
    // A table created again under the same name starts empty.
    create_table(&mut c, "orders", &["b_default"]).await;
    assert!(get_row(&mut c, "orders", b"r1").await.is_none());
}

#[tokio::test]
async fn max_versions_and_ttl_are_enforced() {
    let server = Server::start().await;
    let mut c = server.client().await;
    c.create_table(pb::CreateTableRequest {
        table: "t".into(),
        families: vec![
            pb::FamilyOptions {
                name: "two".into(),
                max_versions: 2,
                ..Default::default()
            },
            pb::FamilyOptions {
                name: "ttl".into(),
                ttl_seconds: 3600,
                ..Default::default()
            },
        ],
    })
    .await
    .expect("create");
    let muts = (1..=4)
        .map(|i| set("two", b"q", format!("v{i}").as_bytes(), T0 + i))
        .collect();
    c.mutate(pb::MutateRequest {
        table: "t".into(),
        row: b"r".to_vec().into(),
        mutations: muts,
    })
    .await
    .expect("mutate");
    // A cell older than the TTL expires at once; one with the server's clock does not.
    c.mutate(pb::MutateRequest {
        table: "t".into(),
        row: b"r".to_vec().into(),
        mutations: vec![
            set("ttl", b"old", b"expired", T0),
            set("ttl", b"new", b"live", 0),
        ],
    })
    .await
    .expect("mutate");
    let check = |row: pb::Row| {
        let vals: Vec<(String, Vec<u8>, Vec<u8>)> = cells(&row);
        assert_eq!(
            vals,
            [
                triple("ttl", "new", "live"),
                triple("two", "q", "v4"),
                triple("two", "q", "v3"),
            ],
            "max_versions 2 keeps two versions, TTL hides the old cell"
        );
    };
    let req = pb::GetRequest {
        table: "t".into(),
        row: b"r".to_vec().into(),
        max_versions: 10,
        ..Default::default()
    };
    check(get_with(&mut c, req.clone()).await.expect("found"));
    // Flushing and compacting changes nothing a read returns.
    c.flush(pb::FlushRequest { table: "t".into() })
        .await
        .expect("flush");
    c.compact(pb::CompactRequest {
        table: "t".into(),
        major: true,
    })
    .await
    .expect("compact");
    check(get_with(&mut c, req).await.expect("found"));
}

#[tokio::test]
async fn lowering_max_versions_is_not_undone_by_raising_it() {
    // A family keeps at most max_versions versions, and compaction never changes what a read
    // returns: so versions hidden by lowering max_versions must stay hidden when it is raised
    // again, whether or not a compaction ran in between.
    let server = Server::start().await;
    let mut c = server.client().await;
    for table in ["compacted", "not_compacted"] {
        c.create_table(pb::CreateTableRequest {
            table: table.into(),
            families: vec![pb::FamilyOptions {
                name: "f".into(),
                max_versions: 3,
                ..Default::default()
            }],
        })
        .await
        .expect("create");
        c.mutate(pb::MutateRequest {
            table: table.into(),
            row: b"r".to_vec().into(),
            mutations: (1..=3)
                .map(|i| set("f", b"q", format!("v{i}").as_bytes(), T0 + i))
                .collect(),
        })
        .await
        .expect("put");
        c.flush(pb::FlushRequest {
            table: table.into(),
        })
        .await
        .expect("flush");
        let modify = |n: u32| pb::AlterTableRequest {
            table: table.into(),
            modify_families: vec![pb::FamilyOptions {
                name: "f".into(),
                max_versions: n,
                ..Default::default()
            }],
            ..Default::default()
        };
        c.alter_table(modify(1)).await.expect("lower");
        assert_eq!(dump(&mut c, table).await.len(), 1);
        if table == "compacted" {
            c.compact(pb::CompactRequest {
                table: table.into(),
                major: true,
            })
            .await
            .expect("compact");
        }
        c.alter_table(modify(3)).await.expect("raise");
    }
    let compacted = dump(&mut c, "compacted").await;
    let not_compacted = dump(&mut c, "not_compacted").await;
    assert_eq!(compacted.len(), 1, "{compacted:?}");
    assert_eq!(
        not_compacted, compacted,
        "the same history reads differently depending on whether a compaction ran"
    );
}
