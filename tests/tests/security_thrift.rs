//! The Thrift gateway of the real `strata serve` with `--thrift-tls` and client
//! certificates (rcgen, made at test time): the principal is the certificate's name, every
//! method is authorized by the server's one table (a refusal is an IOError naming the
//! permission and the table), `getTableNames` lists only readable tables, a client without a
//! certificate or without TLS gets nothing; and the start-up rules: with `--auth-tokens` a
//! non-loopback gateway needs `--thrift-tls` with `--tls-client-ca`, on loopback it runs with
//! a warning.

use std::path::Path;

use strata_tests::secure::{Access, Pki, create, tokens_file};
use strata_tests::wire::thrift::{Arg, Reply, invoke};
use strata_tests::wire::{self};
use strata_tests::*;
use tokio::io::AsyncReadExt;

const ADMIN: &str = "admin-token-for-the-thrift-test";

fn arg(p: &Path) -> &str {
    p.to_str().unwrap_or_else(|| panic!("utf-8 path"))
}

fn denied(r: &Reply, permission: &str, table: &str) -> bool {
    matches!(r, Reply::Exception(1, m)
        if m.starts_with("PERMISSION_DENIED")
            && m.contains(&format!("{permission} permission"))
            && m.contains(&format!("\"{table}\"")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thrift_over_mtls_authorizes_every_method_by_the_certificates_principal() {
    let pki = Pki::new();
    let (cert, key) = pki.server("server");
    let admin_id = pki.client("admin");
    let reader_id = pki.client("reader");
    let writer_id = pki.client("writer");
    let tokens = tokens_file(
        pki.dir(),
        &[
            ("admin", ADMIN, &["admin"]),
            ("reader", "reader-token-unused", &["read:web_*"]),
            (
                "writer",
                "writer-token-unused",
                &["read:web_*", "write:web_*"],
            ),
        ],
    );
    let thrift = free_addr();
    let thrift_arg = thrift.to_string();
    let ca = pki.ca_path();
    let server = Server::start_protected(
        &[
            "--tls-cert",
            arg(&cert),
            "--tls-key",
            arg(&key),
            "--tls-client-ca",
            arg(&ca),
            "--auth-tokens",
            arg(&tokens),
            "--thrift-listen",
            &thrift_arg,
            "--thrift-tls",
        ],
        Access {
            ca_pem: Some(pki.ca.pem().to_owned()),
            identity: Some(admin_id.clone()),
            token: Some(ADMIN.into()),
        },
    )
    .await;
    let mut admin = server.authed(Some(ADMIN)).await;
    for t in ["web_a", "secret"] {
        create(&mut admin, t).await;
    }
    let connect = |id: &(String, String)| {
        let config = wire::client_config(pki.ca.pem(), Some((&id.0, &id.1)));
        async move {
            wire::tls_connect(thrift, config)
                .await
                .unwrap_or_else(|e| panic!("TLS to the Thrift listener: {e}"))
        }
    };
    let mut reader = connect(&reader_id).await;
    let names = invoke(&mut reader, "getTableNames", &[])
        .await
        .expect("reply");
    assert_eq!(names, Reply::Names(vec!["web_a".into()]));
    let put: &[(&str, &[u8])] = &[("f:q", b"v1")];
    let r = invoke(
        &mut reader,
        "mutateRow",
        &[Arg::Binary(b"web_a"), Arg::Binary(b"r1"), Arg::Puts(put)],
    )
    .await
    .expect("reply");
    assert!(denied(&r, "write", "web_a"), "{r:?}");
    let r = invoke(
        &mut reader,
        "getRow",
        &[Arg::Binary(b"secret"), Arg::Binary(b"r1")],
    )
    .await
    .expect("reply");
    assert!(denied(&r, "read", "secret"), "{r:?}");
    let r = invoke(&mut reader, "deleteTable", &[Arg::Binary(b"web_a")])
        .await
        .expect("reply");
    assert!(denied(&r, "create", "web_a"), "{r:?}");

    let mut writer = connect(&writer_id).await;
    let r = invoke(
        &mut writer,
        "mutateRow",
        &[Arg::Binary(b"web_a"), Arg::Binary(b"r1"), Arg::Puts(put)],
    )
    .await
    .expect("reply");
    assert_eq!(r, Reply::Ok);
    // The reader reads what the writer wrote (the same connection stays usable after denials).
    let r = invoke(
        &mut reader,
        "getRow",
        &[Arg::Binary(b"web_a"), Arg::Binary(b"r1")],
    )
    .await
    .expect("reply");
    assert_eq!(r, Reply::Rows(1));
    // A scanner serves only the principal that opened it.
    let opened = invoke(
        &mut writer,
        "scannerOpen",
        &[Arg::Binary(b"web_a"), Arg::Binary(b"")],
    )
    .await
    .expect("reply");
    let Reply::I32(id) = opened else {
        panic!("scannerOpen: {opened:?}")
    };
    let r = invoke(&mut reader, "scannerGet", &[Arg::I32(id)])
        .await
        .expect("reply");
    assert!(
        matches!(&r, Reply::Exception(1, m) if m.contains("did not open scanner")),
        "{r:?}"
    );
    let r = invoke(&mut writer, "scannerGet", &[Arg::I32(id)])
        .await
        .expect("reply");
    assert_eq!(r, Reply::Rows(1));

    let row = admin
        .get(v1::GetRequest {
            table: "web_a".into(),
            row: b"r1".to_vec().into(),
            ..Default::default()
        })
        .await
        .expect("get")
        .into_inner()
        .row
        .expect("row");
    assert_eq!(cells(&row), [triple("f", "q", "v1")]);

    // The admin's certificate holds every permission: it sees both tables.
    let mut a = connect(&admin_id).await;
    let names = invoke(&mut a, "getTableNames", &[]).await.expect("reply");
    assert_eq!(names, Reply::Names(vec!["secret".into(), "web_a".into()]));

    // Without a client certificate the handshake is refused; plain TCP gets nothing.
    let anonymous = wire::client_config(pki.ca.pem(), None);
    if let Ok(mut io) = wire::tls_connect(thrift, anonymous).await {
        // TLS 1.3 reports the refusal on the first read.
        assert!(invoke(&mut io, "getTableNames", &[]).await.is_err());
    }
    let mut plain = tokio::net::TcpStream::connect(thrift).await.expect("tcp");
    let sent = invoke(&mut plain, "getTableNames", &[]).await;
    assert!(sent.is_err(), "{sent:?}");
    let mut rest = Vec::new();
    let _ = plain.read_to_end(&mut rest).await;
    assert!(!String::from_utf8_lossy(&rest).contains("web_a"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tokens_a_thrift_gateway_needs_mtls_off_loopback_and_warns_on_it() {
    let pki = Pki::new();
    let (cert, key) = pki.server("server");
    let tokens = tokens_file(pki.dir(), &[("admin", ADMIN, &["admin"])]);
    let data = pki.dir().join("data");
    let base = [
        "serve",
        "--data-dir",
        arg(&data),
        "--http-listen",
        "off",
        "--auth-tokens",
        arg(&tokens),
        "--tls-cert",
        arg(&cert),
        "--tls-key",
        arg(&key),
        "--thrift-listen",
        "0.0.0.0:0",
    ];
    let out = run_strata(&base);
    out.assert_failure();
    for needle in [
        "refusing to serve Thrift on 0.0.0.0:0",
        "--thrift-tls",
        "--tls-client-ca",
    ] {
        assert!(out.stderr.contains(needle), "{needle:?} in {}", out.stderr);
    }
    // TLS alone is not enough: Thrift1 carries no token.
    let mut tls_only = base.to_vec();
    tls_only.push("--thrift-tls");
    let out = run_strata(&tls_only);
    out.assert_failure();
    assert!(out.stderr.contains("--tls-client-ca"), "{}", out.stderr);
    assert!(!data.exists(), "the store was opened before the check");

    // On loopback it serves, warning that its callers bypass the tokens.
    let thrift = free_addr().to_string();
    let server = Server::start_protected(
        &["--auth-tokens", arg(&tokens), "--thrift-listen", &thrift],
        Access {
            token: Some(ADMIN.into()),
            ..Access::default()
        },
    )
    .await;
    assert!(
        server.stderr().contains("cannot check tokens"),
        "{}",
        server.stderr()
    );
}
