//! The `strata` process under test: finding the built binary, a `strata serve` child on a free
//! loopback port (started, health-checked, killed, terminated, restarted on its data
//! directory) and one-shot `strata` commands with their captured output.
//!
//! Every wait is bounded and panics with the process's stderr; it must never leave a child
//! running after its [`Server`] is dropped.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use strata_proto::v1::strata_client::StrataClient;
use tempfile::TempDir;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::secure::{Access, Authed, Token, authed};

/// How long a server may take to answer SERVING after it is started.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server may take to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one CLI command may run.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(30);

/// The `strata` binary built by `cargo build --bin strata`.
///
/// Looks in `$STRATA_BIN`, then `$CARGO_TARGET_DIR/debug/strata`, then next to the test
/// executable (`.../target/debug/deps/<test>` -> `.../target/debug/strata`).
pub fn strata_bin() -> PathBuf {
    let mut tried = Vec::new();
    if let Some(p) = std::env::var_os("STRATA_BIN") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return p;
        }
        tried.push(p);
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let mut dir = PathBuf::from(dir);
        if dir.is_relative() {
            // Relative to the workspace root, which is the parent of this package.
            dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
        }
        let p = dir.join("debug").join("strata");
        if p.is_file() {
            return p;
        }
        tried.push(p);
    }
    if let Ok(exe) = std::env::current_exe() {
        // .../target/debug/deps/<test> -> .../target/debug/strata
        if let Some(debug) = exe.parent().and_then(Path::parent) {
            let p = debug.join("strata");
            if p.is_file() {
                return p;
            }
            tried.push(p);
        }
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/strata");
    if p.is_file() {
        return p;
    }
    tried.push(p);
    panic!(
        "the strata binary was not found (tried {tried:?}); build it first with \
         `cargo build --bin strata` (scripts/test.sh does) or set STRATA_BIN"
    );
}

/// A free TCP port on 127.0.0.1 (bound and released; a server started right after takes it).
pub fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind 127.0.0.1:0: {e:?}"));
    l.local_addr()
        .unwrap_or_else(|e| panic!("local address: {e:?}"))
}

/// A running (or stopped) `strata serve` child process on one data directory.
pub struct Server {
    child: Option<Child>,
    addr: SocketAddr,
    data_dir: PathBuf,
    extra_args: Vec<String>,
    access: Access,
    log_dir: TempDir,
    starts: usize,
    _owned_data: Option<TempDir>,
}

/// What a finished process printed and how it exited.
#[derive(Debug)]
pub struct Output {
    /// Exit code (None: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// Whether the process exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Panic with both streams unless the process exited with code 0.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.success(),
            "command failed with {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panic unless the process exited with a non-zero code and printed a message.
    #[track_caller]
    pub fn assert_failure(&self) -> &Self {
        assert!(
            matches!(self.code, Some(c) if c != 0),
            "command should have failed, exited with {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        assert!(
            !self.stderr.trim().is_empty(),
            "a failing command must say why on stderr\n--- stdout\n{}",
            self.stdout
        );
        self
    }
}

impl Server {
    /// Start a server on a fresh temporary data directory (removed when the server drops).
    pub async fn start() -> Server {
        Server::start_with_args(&[]).await
    }

    /// Start a server on a fresh temporary data directory with extra `serve` flags.
    pub async fn start_with_args(args: &[&str]) -> Server {
        Server::start_protected(args, Access::default()).await
    }

    /// Start a server on a fresh temporary data directory with extra flags that protect it
    /// (TLS, tokens); the harness reaches it (health checks, [`Server::channel`]) with
    /// `access`.
    pub async fn start_protected(args: &[&str], access: Access) -> Server {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp data dir: {e:?}"));
        let data = dir.path().join("data");
        let mut s = Server::start_on_with(&data, args, access).await;
        s._owned_data = Some(dir);
        s
    }

    /// Start a server on `data_dir` (created by the server if missing) with extra flags.
    pub async fn start_on(data_dir: &Path, args: &[&str]) -> Server {
        Server::start_on_with(data_dir, args, Access::default()).await
    }

    async fn start_on_with(data_dir: &Path, args: &[&str], access: Access) -> Server {
        let mut s = Server {
            child: None,
            addr: free_addr(),
            data_dir: data_dir.to_path_buf(),
            extra_args: args.iter().map(|s| (*s).to_owned()).collect(),
            access,
            log_dir: tempfile::tempdir().unwrap_or_else(|e| panic!("temp log dir: {e:?}")),
            starts: 0,
            _owned_data: None,
        };
        s.launch().await;
        s
    }

    /// The stderr log of the current (or last) run.
    pub fn log_path(&self) -> PathBuf {
        self.log_dir
            .path()
            .join(format!("server-{}.log", self.starts))
    }

    /// What the current (or last) run wrote to stderr.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The command line of `strata serve` for this server.
    fn command(&self) -> Command {
        let mut cmd = Command::new(strata_bin());
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(self.addr.to_string())
            .args(&self.extra_args)
            // Test servers run without HTTP unless a test asks for it (with --http-listen, or
            // a --config file that may set http_listen): parallel tests would otherwise race
            // for the default port.
            .args(
                (!self
                    .extra_args
                    .iter()
                    .any(|a| a.starts_with("--http-listen") || a.starts_with("--config")))
                .then_some(["--http-listen", "off"])
                .into_iter()
                .flatten(),
            )
            .env("RUST_LOG", "info")
            .env_remove("STRATA_SERVER")
            .env_remove("STRATA_TOKEN")
            .stdin(Stdio::null());
        cmd
    }

    /// Spawn the process and wait for SERVING. Retries with another port if the port was
    /// taken between choosing and binding it.
    async fn launch(&mut self) {
        for attempt in 0..3 {
            self.starts += 1;
            let log = File::create(self.log_path())
                .unwrap_or_else(|e| panic!("create server log: {e:?}"));
            let child = self
                .command()
                .stdout(
                    log.try_clone()
                        .unwrap_or_else(|e| panic!("clone log handle: {e:?}")),
                )
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", strata_bin().display()));
            self.child = Some(child);
            match self.wait_serving().await {
                Ok(()) => return,
                Err(exited) => {
                    let stderr = self.stderr();
                    let port_taken = stderr.contains("cannot listen")
                        || stderr.contains("Address already in use");
                    if exited && port_taken && attempt < 2 {
                        self.addr = free_addr();
                        continue;
                    }
                    self.kill();
                    panic!(
                        "strata serve on {} (data dir {}) did not answer SERVING within {:?}{}\n\
                         --- server stderr\n{stderr}",
                        self.addr,
                        self.data_dir.display(),
                        START_TIMEOUT,
                        if exited { " (the process exited)" } else { "" },
                    );
                }
            }
        }
    }

    /// Poll the health service. Err(true): the process exited; Err(false): timeout.
    async fn wait_serving(&mut self) -> Result<(), bool> {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && child
                    .try_wait()
                    .unwrap_or_else(|e| panic!("try_wait: {e:?}"))
                    .is_some()
            {
                return Err(true);
            }
            if self.health("").await == Some(ServingStatus::Serving) && self.answered_by_us().await
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(false)
    }

    /// Whether the SERVING answer came from our process and not from another test's server
    /// that took the same port: ours logs the address it serves on; if it failed to bind it
    /// logs that and exits, so give it a moment when its log does not name the address yet.
    async fn answered_by_us(&mut self) -> bool {
        let addr = self.addr.to_string();
        let serving_line = |log: &str| {
            log.lines()
                .any(|l| l.contains("serving") && l.contains(&addr))
        };
        if serving_line(&self.stderr()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let log = self.stderr();
        let alive = self
            .child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none());
        alive && !log.contains("cannot listen")
    }

    /// The health status of `service` ("" for the whole server), None if unreachable.
    pub async fn health(&self, service: &str) -> Option<ServingStatus> {
        let channel = self
            .access
            .endpoint(&self.url())
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(2))
            .connect()
            .await
            .ok()?;
        let token = Token::new(self.access.token.as_deref());
        let reply = HealthClient::with_interceptor(channel, token)
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .ok()?;
        ServingStatus::try_from(reply.into_inner().status).ok()
    }

    /// The listen address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (`https://` when the harness reaches it with a CA).
    pub fn url(&self) -> String {
        format!("{}://{}", self.access.scheme(), self.addr)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The process id of the running server.
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .unwrap_or_else(|| panic!("server is running"))
            .id()
    }

    /// A gRPC channel to the server (with a per-call timeout so a hung call fails a test).
    pub async fn channel(&self) -> Channel {
        self.access
            .endpoint(&self.url())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .connect()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "cannot connect to {}: {e}\n--- server stderr\n{}",
                    self.url(),
                    self.stderr()
                )
            })
    }

    /// A Strata client with a large receive limit.
    pub async fn client(&self) -> StrataClient<Channel> {
        StrataClient::new(self.channel().await)
            .max_decoding_message_size(256 << 20)
            .max_encoding_message_size(256 << 20)
    }

    /// A Strata client sending `token` (over the harness's TLS).
    pub async fn authed(&self, token: Option<&str>) -> Authed {
        authed(self.channel().await, token)
    }

    /// Send `signal` (e.g. `libc::SIGHUP`) to the running server.
    pub fn signal(&self, signal: libc::c_int) {
        let pid =
            libc::pid_t::try_from(self.pid()).unwrap_or_else(|e| panic!("pid fits pid_t: {e:?}"));
        // SAFETY: kill(2) on our own child's pid, which we have not reaped yet.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({signal}) failed");
    }

    /// SIGKILL the server and reap it (no-op if it is not running).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM the server and wait (bounded) for it to exit; returns its exit status.
    ///
    /// Async so that the caller's runtime keeps serving its own client connections while the
    /// server drains them (HTTP/2 graceful shutdown waits for the client's PING reply).
    pub async fn terminate(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        let mut child = self
            .child
            .take()
            .unwrap_or_else(|| panic!("server is running"));
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = child
                .try_wait()
                .unwrap_or_else(|e| panic!("try_wait: {e:?}"))
            {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "strata serve did not exit within {STOP_TIMEOUT:?} of SIGTERM\n\
                     --- server stderr\n{}",
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c
                .try_wait()
                .unwrap_or_else(|e| panic!("try_wait: {e:?}"))
                .is_none(),
            None => false,
        }
    }

    /// Start the server again on the same data directory, flags and port (after a kill or
    /// terminate; kills a running one first).
    pub async fn restart(&mut self) {
        self.kill();
        self.launch().await;
    }

    /// [`Server::restart`] with `args` as the extra `serve` flags from now on.
    pub async fn restart_with_args(&mut self, args: &[&str]) {
        self.extra_args = args.iter().map(|s| (*s).to_owned()).collect();
        self.restart().await;
    }

    /// Run `strata ARGS... --server URL` against this server.
    pub fn cli(&self, args: &[&str]) -> Output {
        let url = self.url();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--server", url.as_str()]);
        run_strata(&all)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Run `strata ARGS...` (no implicit server), wait at most [`CLI_TIMEOUT`], capture output.
pub fn run_strata(args: &[&str]) -> Output {
    run_strata_env(args, &[])
}

/// [`run_strata`] with extra environment variables (`STRATA_TOKEN`, ...).
pub fn run_strata_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    run_strata_bytes_env(
        &args
            .iter()
            .map(|a| a.as_bytes().to_vec())
            .collect::<Vec<_>>(),
        env,
    )
}

/// [`run_strata`] with arguments that may not be UTF-8.
pub fn run_strata_bytes(args: &[Vec<u8>]) -> Output {
    run_strata_bytes_env(args, &[])
}

fn run_strata_bytes_env(args: &[Vec<u8>], env: &[(&str, &str)]) -> Output {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir for output: {e:?}"));
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    let mut child = Command::new(strata_bin())
        .args(args.iter().map(|a| std::ffi::OsStr::from_bytes(a)))
        .env_remove("STRATA_SERVER")
        .env_remove("STRATA_TOKEN")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap_or_else(|e| panic!("stdout file: {e:?}")))
        .stderr(File::create(&err_path).unwrap_or_else(|e| panic!("stderr file: {e:?}")))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", strata_bin().display()));
    let deadline = Instant::now() + CLI_TIMEOUT;
    let status = loop {
        if let Some(s) = child
            .try_wait()
            .unwrap_or_else(|e| panic!("try_wait: {e:?}"))
        {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "strata {:?} did not finish within {CLI_TIMEOUT:?}\n--- stderr\n{}",
                args.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>(),
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        code: status.code(),
        stdout: String::from_utf8_lossy(&std::fs::read(&out_path).unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&std::fs::read(&err_path).unwrap_or_default()).into_owned(),
    }
}
