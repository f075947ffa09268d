//! The HTTP listener of the real `strata serve` over https (rcgen certificates made at test
//! time, the client trusting only the test CA) with `--auth-tokens`: 401 with a Basic
//! challenge without a token, 403 naming the permission and the table with a token lacking
//! it, 200 with it (Bearer and Basic), table lists showing only readable tables, and no
//! answer to plain HTTP.

use std::path::Path;

use strata_tests::secure::{Access, Pki, create, tokens_file};
use strata_tests::wire::{self, HttpReply};
use strata_tests::*;
use tokio::net::TcpStream;

const ADMIN: &str = "admin-token-for-the-http-test";
const VIEWER: &str = "viewer-token-for-the-http-test";

fn arg(p: &Path) -> &str {
    p.to_str().unwrap_or_else(|| panic!("utf-8 path"))
}

fn basic(user: &str, token: &str) -> String {
    use std::fmt::Write as _;
    // Base64 by hand: the tests crate needs no codec for one header.
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{token}").into_bytes();
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let _ = out.write_char(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_pages_need_a_token_and_the_read_permission_of_their_table() {
    let pki = Pki::new();
    let (cert, key) = pki.server("server");
    let tokens = tokens_file(
        pki.dir(),
        &[
            ("admin", ADMIN, &["admin"]),
            ("viewer", VIEWER, &["read:web_*"]),
        ],
    );
    let http = free_addr();
    let http_arg = http.to_string();
    let server = Server::start_protected(
        &[
            "--tls-cert",
            arg(&cert),
            "--tls-key",
            arg(&key),
            "--auth-tokens",
            arg(&tokens),
            "--http-listen",
            &http_arg,
        ],
        Access {
            ca_pem: Some(pki.ca.pem().to_owned()),
            token: Some(ADMIN.into()),
            ..Access::default()
        },
    )
    .await;
    let mut admin = server.authed(Some(ADMIN)).await;
    for t in ["web_visits", "secret"] {
        create(&mut admin, t).await;
    }
    assert!(
        server
            .stderr()
            .contains(&format!("dashboard at https://{http}/")),
        "{}",
        server.stderr()
    );

    let tls = wire::client_config(pki.ca.pem(), None);
    let get = |path: &'static str, auth: Option<String>| {
        let tls = tls.clone();
        async move {
            let io = wire::tls_connect(http, tls)
                .await
                .unwrap_or_else(|e| panic!("TLS to the HTTP listener: {e}"));
            wire::http_get(io, path, auth.as_deref())
                .await
                .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        }
    };
    let bearer = |t: &str| Some(format!("Bearer {t}"));

    // No token, or a wrong one: 401 with the challenge a browser prompts for.
    for auth in [None, bearer("not-a-token"), Some(basic("viewer", ADMIN))] {
        let r: HttpReply = get("/api/tables", auth.clone()).await;
        assert_eq!(r.status, 401, "{auth:?}: {r:?}");
        let challenge = r.header("www-authenticate").unwrap_or_default();
        assert!(challenge.starts_with("Basic realm=\"strata\""), "{r:?}");
    }
    assert_eq!(get("/", None).await.status, 401);
    assert_eq!(get("/metrics", None).await.status, 401);

    // A token lacking read on the table: 403 naming the permission and the table.
    let r = get("/api/tables/secret", bearer(VIEWER)).await;
    assert_eq!(r.status, 403, "{r:?}");
    assert!(
        r.body.contains("read permission") && r.body.contains("secret"),
        "{}",
        r.body
    );
    // With it: 200, by Bearer or by Basic (the browser's way).
    for auth in [bearer(VIEWER), Some(basic("viewer", VIEWER))] {
        let r = get("/api/tables/web_visits", auth).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert!(r.body.contains("\"name\":\"web_visits\""), "{}", r.body);
    }
    // Lists show only what the caller may read.
    let r = get("/api/tables", bearer(VIEWER)).await;
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains("web_visits") && !r.body.contains("secret"),
        "{}",
        r.body
    );
    let r = get("/api/tables", bearer(ADMIN)).await;
    assert!(
        r.body.contains("web_visits") && r.body.contains("secret"),
        "{}",
        r.body
    );
    assert_eq!(get("/metrics", bearer(VIEWER)).await.status, 200);

    // Plain HTTP gets no page from the TLS listener.
    let plain = TcpStream::connect(http).await.expect("connect");
    let answered = wire::http_get(plain, "/api/tables", bearer(ADMIN).as_deref()).await;
    assert!(
        answered.as_ref().map_or(true, |r| r.status != 200),
        "{answered:?}"
    );
}
