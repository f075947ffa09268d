//! TLS on the gRPC listener of the real `strata serve`, with certificates made by rcgen at
//! test time: a round trip from Rust and from the CLI over https, mTLS refusing a client
//! without a certificate, and SIGHUP serving a new certificate to new connections (on the
//! gRPC, HTTP and Thrift listeners alike) while an old connection keeps working.

use std::path::Path;
use std::time::{Duration, Instant};

use strata_tests::secure::{Access, Pki, authed};
use strata_tests::v1 as pb;
use strata_tests::wire;
use strata_tests::*;
use tonic::Code;

fn arg(p: &Path) -> &str {
    p.to_str().unwrap_or_else(|| panic!("utf-8 path"))
}

fn trusting(pki: &Pki) -> Access {
    Access {
        ca_pem: Some(pki.ca.pem().to_owned()),
        ..Access::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_round_trip_from_rust_and_the_cli() {
    let pki = Pki::new();
    let (cert, key) = pki.server("server");
    let server = Server::start_protected(
        &["--tls-cert", arg(&cert), "--tls-key", arg(&key)],
        trusting(&pki),
    )
    .await;
    assert!(server.url().starts_with("https://"), "{}", server.url());

    let mut c = server.client().await;
    create_table(&mut c, "t", &["f"]).await;
    put(&mut c, "t", b"r1", "f", b"q", b"over tls").await;
    let row = get_row(&mut c, "t", b"r1").await.expect("row");
    assert_eq!(cells(&row), [triple("f", "q", "over tls")]);

    let ca = pki.ca_path();
    let out = server.cli(&["get", "t", "r1", "--tls-ca", arg(&ca)]);
    out.assert_success();
    assert!(out.stdout.contains("over tls"), "{}", out.stdout);
    let out = server.cli(&["put", "t", "r2", "f:q", "from cli", "--tls-ca", arg(&ca)]);
    out.assert_success();

    // The system's roots do not know the test CA: the server's certificate is refused.
    let out = server.cli(&["tables"]);
    out.assert_failure();
    assert!(out.stderr.contains("cannot connect"), "{}", out.stderr);
    // A plain-text client gets no answer from a TLS listener.
    let plain = format!("http://{}", server.addr());
    let out = run_strata(&["tables", "--server", &plain]);
    out.assert_failure();
    // TLS flags on an http:// URL are a mistake, said so.
    let out = run_strata(&["tables", "--server", &plain, "--tls-ca", arg(&ca)]);
    out.assert_failure();
    assert!(
        out.stderr.contains("--tls-ca needs an https://"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_rejects_a_client_without_a_certificate_and_accepts_one_with() {
    let pki = Pki::new();
    let (cert, key) = pki.server("server");
    let identity = pki.client("analyst");
    let ca = pki.ca_path();
    let server = Server::start_protected(
        &[
            "--tls-cert",
            arg(&cert),
            "--tls-key",
            arg(&key),
            "--tls-client-ca",
            arg(&ca),
        ],
        Access {
            identity: Some(identity),
            ..trusting(&pki)
        },
    )
    .await;

    // With a certificate: served (a CA-signed certificate alone is trusted fully).
    let mut c = server.authed(None).await;
    c.create_table(pb::CreateTableRequest {
        table: "t".into(),
        families: vec![family("f")],
    })
    .await
    .expect("create with a client certificate");

    // Without one: the handshake (or the first call on it) fails.
    let bare = trusting(&pki);
    let refused = async {
        let channel = bare.endpoint(&server.url()).connect().await?;
        authed(channel, None)
            .list_tables(pb::ListTablesRequest {})
            .await
            .map(|_| ())
            .map_err(|s| -> Box<dyn std::error::Error> { Box::new(s) })
    }
    .await;
    assert!(
        refused.is_err(),
        "a client without a certificate was served"
    );

    // The CLI the same way.
    let dir = pki.dir();
    let with = [
        "tables",
        "--tls-ca",
        arg(&ca),
        "--tls-client-cert",
        &format!("{}/client-analyst.pem", dir.display()),
        "--tls-client-key",
        &format!("{}/client-analyst.key", dir.display()),
    ];
    let out = server.cli(&with);
    out.assert_success();
    assert!(out.stdout.contains('t'), "{}", out.stdout);
    server
        .cli(&["tables", "--tls-ca", arg(&ca)])
        .assert_failure();
}

/// Wait (bounded) until the server's log contains `needle`.
async fn wait_for_log(server: &Server, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !server.stderr().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "the server never logged {needle:?}\n--- server stderr\n{}",
            server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_serves_a_new_certificate_to_new_connections_and_keeps_old_ones() {
    let old_ca = Pki::new();
    let new_ca = Pki::new();
    let (cert, key) = old_ca.server("server");
    // The HTTP and Thrift listeners use the same files and reload with gRPC.
    let (http, thrift) = (free_addr(), free_addr());
    let (http_arg, thrift_arg) = (http.to_string(), thrift.to_string());
    let server = Server::start_protected(
        &[
            "--tls-cert",
            arg(&cert),
            "--tls-key",
            arg(&key),
            "--http-listen",
            &http_arg,
            "--thrift-listen",
            &thrift_arg,
            "--thrift-tls",
        ],
        trusting(&old_ca),
    )
    .await;
    let mut old_conn = server.client().await;
    create_table(&mut old_conn, "t", &["f"]).await;

    // Replace the files with a certificate of another CA, then SIGHUP.
    let (new_cert, new_key) = new_ca.server("server");
    std::fs::copy(&new_cert, &cert).expect("replace certificate");
    std::fs::copy(&new_key, &key).expect("replace key");
    server.signal(libc::SIGHUP);
    wait_for_log(&server, "TLS certificate reloaded listener=\"Thrift\"").await;

    // A new connection gets the new certificate: trusted by the new CA only.
    let fresh = trusting(&new_ca)
        .endpoint(&server.url())
        .connect()
        .await
        .expect("new CA connects");
    let tables = authed(fresh, None)
        .list_tables(pb::ListTablesRequest {})
        .await
        .expect("served over the new certificate")
        .into_inner()
        .tables;
    assert_eq!(tables, ["t"]);
    let stale = trusting(&old_ca).endpoint(&server.url()).connect().await;
    assert!(
        stale.is_err(),
        "a new connection still got the old certificate"
    );
    for (listener, addr) in [("HTTP", http), ("Thrift", thrift)] {
        let old = wire::client_config(old_ca.ca.pem(), None);
        assert!(
            wire::tls_connect(addr, old).await.is_err(),
            "{listener} still serves the old certificate"
        );
        let new = wire::client_config(new_ca.ca.pem(), None);
        let io = wire::tls_connect(addr, new).await;
        assert!(io.is_ok(), "{listener} over the new certificate: {io:?}");
    }
    let mut io = wire::tls_connect(thrift, wire::client_config(new_ca.ca.pem(), None))
        .await
        .expect("thrift over TLS");
    let names = wire::thrift::invoke(&mut io, "getTableNames", &[]).await;
    assert_eq!(
        names.ok(),
        Some(wire::thrift::Reply::Names(vec!["t".into()]))
    );
    let io = wire::tls_connect(http, wire::client_config(new_ca.ca.pem(), None))
        .await
        .expect("http over TLS");
    let page = wire::http_get(io, "/api/tables", None)
        .await
        .expect("reply");
    assert_eq!(page.status, 200, "{page:?}");

    // The connection made before the reload still works (it was not dropped: a reconnect
    // would need the old CA's certificate, which the server no longer has).
    put(&mut old_conn, "t", b"r", "f", b"q", b"still here").await;
    assert!(get_row(&mut old_conn, "t", b"r").await.is_some());
    assert!(server.stderr().contains("SIGHUP received"));
    let status = old_conn
        .get(pb::GetRequest {
            table: "nope".into(),
            row: b"r".to_vec().into(),
            ..Default::default()
        })
        .await
        .expect_err("unknown table");
    assert_eq!(status.code(), Code::NotFound);
}
