//! The Eddy server under test, run as a child process.
//!
//! [`EddyServer`] spawns the `eddy-test-server` binary (the `eddy` CLI built
//! inside this crate) as `serve --listen 127.0.0.1:PORT --data-dir DIR
//! --metrics-listen 127.0.0.1:PORT2` (a free port of its own for `/metrics`,
//! since many servers run at once),
//! appends its stdout and stderr to a log file in its own temporary directory
//! (across restarts, with a marker line per start), and waits, bounded, until
//! a tokio-postgres connection succeeds. The data directory belongs to the
//! caller so that it outlives restarts.
//!
//! Dropping the value kills the process (SIGKILL); [`EddyServer::stop`] is the
//! graceful path (SIGTERM, then a bounded wait).

use std::fs::OpenOptions;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tempfile::TempDir;
use tokio_postgres::Client;

use crate::client::connect;
use crate::{free_port, log_tail};

/// How long the server may take to accept its first connection.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a graceful stop may take before the process is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// A running Eddy server.
pub struct EddyServer {
    binary: PathBuf,
    data_dir: PathBuf,
    /// Holds `eddy.log`; removed on drop.
    scratch: TempDir,
    port: u16,
    /// Where `/metrics` is served, unless the caller's `args` say otherwise.
    metrics_port: u16,
    /// `None` once stopped or killed.
    child: Option<Child>,
    /// Extra environment for the next starts (e.g. `EDDY_FAULT`).
    env: Vec<(String, String)>,
    /// Extra `serve` arguments (e.g. `--tls-cert`).
    args: Vec<String>,
}

impl EddyServer {
    /// Starts the server on a free port with `data_dir`, using the binary
    /// found by [`default_binary`].
    pub async fn start(data_dir: impl AsRef<Path>) -> Result<EddyServer> {
        Self::start_with_binary(default_binary()?, data_dir).await
    }

    /// Starts `binary` (which takes the `eddy` CLI's arguments) on a free
    /// port with `data_dir`.
    pub async fn start_with_binary(
        binary: impl Into<PathBuf>,
        data_dir: impl AsRef<Path>,
    ) -> Result<EddyServer> {
        Self::start_with_options(binary, data_dir, Vec::new(), Vec::new()).await
    }

    /// Like [`EddyServer::start_with_binary`], with extra `serve` arguments
    /// and environment, kept for restarts.
    pub async fn start_with_options(
        binary: impl Into<PathBuf>,
        data_dir: impl AsRef<Path>,
        args: Vec<String>,
        env: Vec<(String, String)>,
    ) -> Result<EddyServer> {
        let mut server = EddyServer {
            binary: binary.into(),
            data_dir: data_dir.as_ref().to_path_buf(),
            scratch: tempfile::Builder::new()
                .prefix("eddy-test-server-")
                .tempdir()?,
            port: 0,
            metrics_port: 0,
            child: None,
            env,
            args,
        };
        // Another process may take the free port between our probe and the
        // server's bind; a few attempts make that race harmless.
        let mut last_error = None;
        for _ in 0..3 {
            server.port = free_port()?;
            server.metrics_port = free_port()?;
            match server.spawn_and_wait().await {
                Ok(()) => return Ok(server),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address `/metrics` is served on (`--metrics-listen`).
    pub fn metrics_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.metrics_port))
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// A new tokio-postgres connection (user `postgres`, database `postgres`).
    pub async fn client(&self) -> Result<Client> {
        connect(self.addr(), "postgres", "postgres")
            .await
            .with_context(|| format!("server log:\n{}", self.log_tail()))
    }

    /// Graceful stop: SIGTERM, then wait up to a minute for the process to
    /// exit. A server that does not exit in time is killed and this fails.
    pub async fn stop(&mut self) -> Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            bail!("the server is not running")
        };
        signal(&child, libc::SIGTERM)?;
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "the server did not exit within {STOP_TIMEOUT:?} of SIGTERM and was killed; log:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Stops the server gracefully and starts it again on the same port with
    /// the same data directory.
    pub async fn restart(&mut self) -> Result<()> {
        if self.child.is_some() {
            self.stop().await?;
        }
        self.spawn_and_wait().await
    }

    /// Starts the server again after [`EddyServer::kill`] or
    /// [`EddyServer::stop`], on the same port with the same data directory.
    pub async fn start_again(&mut self) -> Result<()> {
        if self.child.is_some() {
            bail!("the server is still running");
        }
        self.spawn_and_wait().await
    }

    /// Sets an environment variable for the next starts of the server.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_owned()));
    }

    /// Drops the environment set with [`EddyServer::set_env`].
    pub fn clear_env(&mut self) {
        self.env.clear();
    }

    /// Waits (bounded) for the server to exit by itself, e.g. at an
    /// injected fault, and returns its exit status.
    pub async fn wait_for_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let child = self.child.as_mut().context("the server is not running")?;
            if let Some(status) = child.try_wait()? {
                self.child = None;
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!(
                    "the server did not exit within {timeout:?}; log:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The last lines of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log_path(), 60)
    }

    /// The server's log file (stdout and stderr, across restarts).
    pub fn log_path(&self) -> PathBuf {
        self.scratch.path().join("eddy.log")
    }

    async fn spawn_and_wait(&mut self) -> Result<()> {
        let listen = format!("127.0.0.1:{}", self.port);
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        writeln!(
            log,
            "=== eddy-test-server serve --listen {listen} --data-dir {} ===",
            self.data_dir.display()
        )?;
        let mut command = Command::new(&self.binary);
        command
            .arg("serve")
            .arg("--listen")
            .arg(&listen)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if !self.args.iter().any(|a| a.starts_with("--metrics-listen")) {
            command
                .arg("--metrics-listen")
                .arg(self.metrics_addr().to_string());
        }
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "info");
        }
        command.env_remove("EDDY_FAULT");
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        let child = command
            .spawn()
            .with_context(|| format!("spawning {}", self.binary.display()))?;
        self.child = Some(child);
        self.wait_ready().await
    }

    /// Waits until a client can connect, failing early if the process exits.
    async fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            let child = self.child.as_mut().context("the server is not running")?;
            if let Some(status) = child.try_wait()? {
                self.child = None;
                bail!(
                    "the server exited during startup ({status}); log:\n{}",
                    self.log_tail()
                );
            }
            let attempt = tokio::time::timeout(
                Duration::from_secs(5),
                connect(self.addr(), "postgres", "postgres"),
            );
            match attempt.await {
                Ok(Ok(_client)) => return Ok(()),
                // Up, but requiring a password.
                Ok(Err(e))
                    if ["password authentication failed", "password missing"]
                        .iter()
                        .any(|m| format!("{e:#}").contains(m)) =>
                {
                    return Ok(());
                }
                _ => {}
            }
            if Instant::now() >= deadline {
                self.kill()?;
                bail!(
                    "the server accepted no connection on {} within {STARTUP_TIMEOUT:?}; log:\n{}",
                    self.addr(),
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for EddyServer {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// The test server binary: `$EDDY_TEST_SERVER_BIN`, or `eddy-test-server`
/// in cargo's output directory (the parent of the test executable's `deps/`).
/// Integration tests can pass `env!("CARGO_BIN_EXE_eddy-test-server")` to
/// [`EddyServer::start_with_binary`] instead.
pub fn default_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("EDDY_TEST_SERVER_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    let out_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("test executable has no parent directory")?;
    let binary = out_dir.join("eddy-test-server");
    if !binary.exists() {
        bail!(
            "{} does not exist; build it with cargo build -p eddy-tests",
            binary.display()
        );
    }
    Ok(binary)
}

fn signal(child: &Child, signal: libc::c_int) -> Result<()> {
    let pid = libc::pid_t::try_from(child.id())?;
    // SAFETY: kill has no memory-safety preconditions; the pid is our own
    // child, which has not been reaped yet, so it cannot have been reused.
    if unsafe { libc::kill(pid, signal) } != 0 {
        return Err(std::io::Error::last_os_error()).context("sending a signal to the server");
    }
    Ok(())
}
