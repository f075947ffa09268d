//! `strata consume --server https://...` reaches a protected server the way every client
//! command does (the CA, the token from --token-file or STRATA_TOKEN): its start-up calls
//! (DescribeTable) travel over TLS with the token, before any broker is contacted, so no
//! broker is needed to see them succeed, be refused, or be misconfigured.

use std::path::Path;

use strata_tests::secure::{Access, Pki, tokens_file};
use strata_tests::*;

const LOADER: &str = "loader-token-for-the-consume-test";

fn arg(p: &Path) -> &str {
    p.to_str().unwrap_or_else(|| panic!("utf-8 path"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_reaches_an_https_server_with_the_ca_and_the_token() {
    let pki = Pki::new();
    let (cert, key) = pki.server("server");
    let tokens = tokens_file(pki.dir(), &[("loader", LOADER, &["read", "write"])]);
    let server = Server::start_protected(
        &[
            "--tls-cert",
            arg(&cert),
            "--tls-key",
            arg(&key),
            "--auth-tokens",
            arg(&tokens),
        ],
        Access {
            ca_pem: Some(pki.ca.pem().to_owned()),
            token: Some(LOADER.into()),
            ..Access::default()
        },
    )
    .await;
    let url = server.url();
    let ca = pki.ca_path();
    let token_file = pki.write("loader.token", &format!("{LOADER}\n"));
    let consume = |extra: &[&str]| {
        let mut args = vec![
            "consume",
            "--brokers",
            "127.0.0.1:1",
            "--topic",
            "events",
            // A built-in mapping, its table not created: the start-up check says so.
            "--table",
            "customers",
        ];
        args.extend_from_slice(extra);
        args.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>, env: &[(&str, &str)]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_strata_env(&args, env)
    };

    // Authenticated over TLS: the server answers the start-up DescribeTable (NOT_FOUND), before any broker.
    let ok = consume(&[
        "--server",
        &url,
        "--tls-ca",
        arg(&ca),
        "--token-file",
        arg(&token_file),
    ]);
    let out = run(ok, &[]);
    out.assert_failure();
    assert!(
        out.stderr.contains("customers does not exist"),
        "{}",
        out.stderr
    );
    let out = run(
        consume(&["--server", &url, "--tls-ca", arg(&ca)]),
        &[("STRATA_TOKEN", LOADER)],
    );
    assert!(
        out.stderr.contains("customers does not exist"),
        "{}",
        out.stderr
    );

    // A wrong token is refused, and not retried.
    let out = run(
        consume(&["--server", &url, "--tls-ca", arg(&ca)]),
        &[("STRATA_TOKEN", "wrong")],
    );
    out.assert_failure();
    assert!(
        out.stderr.contains("token presented is not valid"),
        "{}",
        out.stderr
    );

    // TLS flags on a plain URL are a mistake, said at once.
    let plain = format!("http://{}", server.addr());
    let out = run(consume(&["--server", &plain, "--tls-ca", arg(&ca)]), &[]);
    out.assert_failure();
    assert!(
        out.stderr.contains("--tls-ca needs an https://"),
        "{}",
        out.stderr
    );
}
