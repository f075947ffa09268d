//! End to end: `strata serve --http-listen`: the dashboard and /metrics answer on the given
//! address; an explicitly given address that is taken stops the server at start-up with a
//! message naming it; `--http-listen off` serves no HTTP; the TOML file's `http_listen`
//! works like the flag.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use strata_tests::*;

fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

#[tokio::test]
async fn the_dashboard_and_metrics_answer_on_the_given_address() {
    let web = free_addr();
    let server = Server::start_with_args(&["--http-listen", &web.to_string()]).await;
    let page = http_get(web, "/").expect("GET /");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("data-chart=\"customers-by-gender\""));
    let metrics = http_get(web, "/metrics").expect("GET /metrics");
    assert!(
        metrics.contains("strata_rpc_requests_total{api=\"grpc\""),
        "{metrics}"
    );
    assert!(metrics.contains("strata_rpc_requests_total{api=\"http\",method=\"/\"} 1"));
    assert!(
        server
            .stderr()
            .contains(&format!("dashboard at http://{web}/"))
    );
}

#[tokio::test]
async fn off_serves_no_http_and_the_file_setting_works() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("strata.toml");
    let config_arg = config.to_str().expect("utf-8").to_string();
    let web = free_addr();
    std::fs::write(&config, format!("http_listen = \"{web}\"\n")).expect("write config");
    {
        let _server =
            Server::start_with_args(&["--config", &config_arg, "--http-listen", "off"]).await;
        assert!(http_get(web, "/").is_err(), "the flag wins over the file");
    }
    let _server = Server::start_with_args(&["--config", &config_arg]).await;
    let page = http_get(web, "/tables").expect("GET /tables");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
}

#[tokio::test]
async fn a_taken_default_port_leaves_the_server_running_without_http() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("empty.toml");
    std::fs::write(&config, "").expect("write config");
    // Hold the default port (if something else holds it already, it is taken all the same).
    let held = TcpListener::bind(DEFAULT_HTTP);
    let server = Server::start_with_args(&["--config", config.to_str().expect("utf-8")]).await;
    assert!(server.health("").await.is_some(), "the server runs");
    if held.is_ok() {
        assert!(
            server.stderr().contains("default HTTP address is not free"),
            "{}",
            server.stderr()
        );
    }
}

/// The documented default of --http-listen.
const DEFAULT_HTTP: &str = "127.0.0.1:8080";

#[test]
fn a_taken_explicit_address_stops_the_server_at_start_up() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(strata_bin())
        .args(["serve", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--listen", &free_addr().to_string()])
        .args(["--http-listen", &addr.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn strata serve");
    let deadline = Instant::now() + START_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("strata serve kept running with its HTTP address taken");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains(&addr.to_string()), "{stderr}");
    assert!(stderr.contains("HTTP"), "{stderr}");
}

#[test]
fn demo_serve_keeps_the_dashboard_up_until_interrupted() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(strata_bin())
        .args(["demo", "--scale", "0.0005", "--serve", "--dir"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn strata demo");
    let stdout = child.stdout.take().expect("stdout");
    // Read lines on a thread so a demo that never gets there fails the test instead of
    // hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut dashboard = None;
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(1)) else {
            continue;
        };
        if let Some(url) = line.strip_prefix("dashboard: ") {
            dashboard = url.split_whitespace().next().map(str::to_string);
        }
        let done = line.contains("until Ctrl-C");
        seen.push(line);
        if done {
            break;
        }
    }
    let url = dashboard.unwrap_or_else(|| panic!("no dashboard URL in:\n{}", seen.join("\n")));
    assert!(
        seen.iter().any(|l| l.contains("until Ctrl-C")),
        "{}",
        seen.join("\n")
    );
    let addr: SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("address");
    let page = http_get(addr, "/api/dashboard").expect("GET /api/dashboard");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("\"role\":\"clickstream\""), "{page}");
    // SAFETY: kill(2) with a pid we spawned and SIGINT; no memory is involved.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0, "kill");
    let deadline = Instant::now() + STOP_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "demo --serve did not stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    assert!(http_get(addr, "/").is_err(), "still serving after exit");
}
