//! A private PostgreSQL server per test.
//!
//! [`TestPostgres::start`] runs `initdb` and `pg_ctl start` from the newest
//! `/usr/lib/postgresql/*/bin` (or `$EDDY_TEST_PG_BIN`) in a fresh temporary
//! directory, on a free loopback port, with trust authentication and
//! durability switched off (the tests never crash the machine). The cluster is
//! stopped with `pg_ctl stop -m immediate` when the value is dropped, and the
//! directory is removed after it.
//!
//! PostgreSQL refuses to run as root. When the tests run as root (CI does) the
//! directory is handed to the `postgres` user and every PostgreSQL program is
//! run through `runuser -u postgres --`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tempfile::TempDir;
use tokio::process::Command;
use tokio_postgres::Client;

use crate::client::{connect, within};
use crate::{free_port, log_tail};

/// How long `initdb`, `pg_ctl start` and `pg_ctl stop` may take.
const PG_CTL_TIMEOUT: Duration = Duration::from_secs(120);

/// A running private PostgreSQL cluster.
pub struct TestPostgres {
    /// Holds `data/`, `postgres.log` and the Unix socket; removed on drop.
    dir: TempDir,
    /// Where `initdb` and `pg_ctl` live.
    bin_dir: PathBuf,
    port: u16,
    /// Whether the cluster should be stopped on drop.
    running: bool,
}

impl TestPostgres {
    /// Creates and starts a new cluster.
    pub async fn start() -> Result<TestPostgres> {
        let bin_dir = find_bin_dir()?;
        let dir = tempfile::Builder::new().prefix("eddy-test-pg-").tempdir()?;
        if running_as_root() {
            let status = std::process::Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .context("running chown")?;
            if !status.success() {
                bail!(
                    "chown postgres {} failed; does the postgres user exist?",
                    dir.path().display()
                );
            }
        }
        let mut pg = TestPostgres {
            dir,
            bin_dir,
            port: 0,
            running: false,
        };
        let data = pg.data_dir();
        pg.run(
            "initdb",
            &[
                "-D",
                path_str(&data)?,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )
        .await?;
        // Another process may take the free port between our probe and the
        // server's bind; a few attempts make that race harmless.
        let mut last_error = None;
        for _ in 0..3 {
            pg.port = free_port()?;
            match pg.pg_ctl_start().await {
                Ok(()) => return Ok(pg),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    /// The address PostgreSQL listens on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `jdbc:postgresql://127.0.0.1:PORT/postgres?user=postgres`
    pub fn jdbc_url(&self) -> String {
        format!(
            "jdbc:postgresql://127.0.0.1:{}/postgres?user=postgres",
            self.port
        )
    }

    /// A new tokio-postgres connection to database `postgres` as `postgres`.
    pub async fn client(&self) -> Result<Client> {
        connect(self.addr(), "postgres", "postgres").await
    }

    /// Stops the cluster (fast shutdown) and starts it again on the same port
    /// with the same data.
    pub async fn restart(&mut self) -> Result<()> {
        self.stop("fast").await?;
        self.pg_ctl_start().await
    }

    /// Shuts the server down (fast mode) for an outage; see
    /// [`TestPostgres::start_again`].
    pub async fn shut_down(&mut self) -> Result<()> {
        self.stop("fast").await
    }

    /// Starts the server again after [`TestPostgres::shut_down`], same port
    /// and data.
    pub async fn start_again(&mut self) -> Result<()> {
        self.pg_ctl_start().await
    }

    /// The last lines of the server log, for failure messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log_path(), 40)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    async fn pg_ctl_start(&mut self) -> Result<()> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=100",
            self.port,
            path_str(self.dir.path())?,
        );
        let data = self.data_dir();
        let log = self.log_path();
        let args = [
            "-D",
            path_str(&data)?,
            "-l",
            path_str(&log)?,
            "-o",
            &options,
            "-w",
            "-t",
            "60",
            "start",
        ];
        self.run("pg_ctl", &args)
            .await
            .with_context(|| format!("server log:\n{}", self.log_tail()))?;
        self.running = true;
        let client = self
            .client()
            .await
            .with_context(|| format!("server log:\n{}", self.log_tail()))?;
        crate::client::execute(&client, "SELECT 1").await
    }

    async fn stop(&mut self, mode: &str) -> Result<()> {
        let data = self.data_dir();
        self.run(
            "pg_ctl",
            &["-D", path_str(&data)?, "-m", mode, "-w", "-t", "60", "stop"],
        )
        .await?;
        self.running = false;
        Ok(())
    }

    /// Runs a PostgreSQL program from `bin_dir`, as `postgres` when we are root.
    async fn run(&self, program: &str, args: &[&str]) -> Result<()> {
        let path = self.bin_dir.join(program);
        let mut command = if running_as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        // The postgres user may not be able to read the test's working directory.
        command
            .args(args)
            .current_dir(self.dir.path())
            .kill_on_drop(true);
        let output = within(PG_CTL_TIMEOUT, program, command.output())
            .await?
            .with_context(|| format!("starting {}", path.display()))?;
        if !output.status.success() {
            bail!(
                "{program} {args:?} failed ({}):\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        if !self.running {
            return;
        }
        let pg_ctl = self.bin_dir.join("pg_ctl");
        let mut command = if running_as_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(pg_ctl);
            c
        } else {
            std::process::Command::new(pg_ctl)
        };
        let _ = command
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "-t", "30", "stop"])
            .current_dir(self.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// `$EDDY_TEST_PG_BIN`, or the newest `/usr/lib/postgresql/<version>/bin`
/// that has `initdb`.
fn find_bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("EDDY_TEST_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .with_context(|| format!("reading {}; is PostgreSQL installed?", root.display()))?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => Ok(bin),
        None => bail!(
            "no {}/*/bin/initdb; install PostgreSQL (apt-get install postgresql)",
            root.display()
        ),
    }
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}
