//! The command line of the `eddy` binary.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::sync::watch;

use crate::auth::AuthMode;
use crate::database::Database;
use crate::metrics::endpoint::MetricsListen;
use crate::server::ServerConfig;
use crate::users::{BOOTSTRAP_USER, UserStore};

#[derive(Parser)]
#[command(
    name = "eddy",
    version,
    about = "A streaming SQL server that speaks the PostgreSQL wire protocol"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on for PostgreSQL clients.
        #[arg(long, default_value = "127.0.0.1:5544")]
        listen: SocketAddr,
        /// Address to serve Prometheus metrics on (`GET /metrics`), or
        /// `off`.
        #[arg(long, default_value = crate::metrics::endpoint::DEFAULT_LISTEN)]
        metrics_listen: MetricsListen,
        /// Where the catalog, tables and checkpoints live.
        #[arg(long, default_value = "./eddy-data")]
        data_dir: PathBuf,
        /// Create and start the demo pipeline (datagen → 10-second windows →
        /// the Eddy table `clicks_per_page`) if it does not exist yet.
        #[arg(long)]
        demo: bool,
        #[command(flatten)]
        security: SecurityArgs,
    },
}

/// Authentication, TLS and connection limits.
#[derive(clap::Args)]
struct SecurityArgs {
    /// When clients must give a password: `auto` (when a user has a
    /// password or when listening beyond loopback), `password`, `trust`.
    #[arg(long, value_enum, default_value = "auto")]
    auth: AuthMode,
    /// A file whose first line is the password of the superuser `eddy`
    /// (created if needed); the environment variable EDDY_PASSWORD does the
    /// same.
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// PEM certificate (chain) for TLS; needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for TLS; needs --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Sessions beyond this many are refused (FATAL 53300).
    #[arg(long, default_value_t = 100)]
    max_connections: usize,
}

/// Entry point of the `eddy` binary (also used by the end-to-end tests).
pub fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    std::panic::set_hook(Box::new(log_panic));
    match cli.command {
        Command::Serve {
            listen,
            metrics_listen,
            data_dir,
            demo,
            security,
        } => {
            // Sessions parse, plan and run statements on this runtime's
            // threads, whose stacks are sized for the deepest statement the
            // parser lets through (see `eddy_sql::parser::depth`). The server
            // itself runs as a task too, not on the main thread's stack.
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .thread_stack_size(eddy_sql::STATEMENT_STACK_SIZE)
                .enable_all()
                .build()?;
            runtime.block_on(async {
                tokio::spawn(serve(listen, metrics_listen, data_dir, demo, security))
                    .await
                    .context("the server task panicked")?
            })
        }
    }
}

/// A panic is one error line in the log (where it happened, and its
/// message), not a backtrace on stderr: whoever catches it — a session ends
/// the statement with XX000, tokio ends the task — carries on.
fn log_panic(info: &std::panic::PanicHookInfo<'_>) {
    let message = eddy_wire::panic_message(info.payload());
    let location = info
        .location()
        .map(|l| format!("{}:{}", l.file(), l.line()))
        .unwrap_or_default();
    let thread = std::thread::current();
    tracing::error!(
        thread = thread.name().unwrap_or("unnamed"),
        %location,
        "panic: {message}"
    );
}

/// Sets the bootstrap password and checks that someone can log in: a
/// server that requires passwords while nobody has one refuses to start
/// rather than lock everyone out.
fn server_config(
    listen: SocketAddr,
    data_dir: &std::path::Path,
    args: SecurityArgs,
) -> anyhow::Result<ServerConfig> {
    let store = UserStore::at(data_dir);
    let bootstrap = match (&args.password_file, std::env::var("EDDY_PASSWORD")) {
        (Some(path), _) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading --password-file {}", path.display()))?
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
        ),
        (None, Ok(password)) => Some(password),
        (None, Err(_)) => None,
    };
    if let Some(password) = bootstrap {
        anyhow::ensure!(!password.is_empty(), "the bootstrap password is empty");
        store
            .set_password(BOOTSTRAP_USER, &password)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        tracing::info!(user = BOOTSTRAP_USER, "bootstrap password set");
    }
    let needs_passwords = match args.auth {
        AuthMode::Trust => false,
        AuthMode::Password => true,
        AuthMode::Auto => !listen.ip().is_loopback(),
    };
    if needs_passwords && !store.has_passwords()? {
        anyhow::bail!(
            "eddy on {listen} requires passwords, but no user has one: set EDDY_PASSWORD or --password-file for the superuser \"{BOOTSTRAP_USER}\" (or pass --auth trust to accept every connection)"
        );
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(eddy_wire::TlsConfig::from_pem_files(cert, key)?),
        _ => None,
    };
    anyhow::ensure!(
        args.max_connections > 0,
        "--max-connections must be at least 1"
    );
    Ok(ServerConfig {
        tls,
        auth: args.auth,
        max_connections: args.max_connections,
        metrics: None,
    })
}

async fn serve(
    listen: SocketAddr,
    metrics_listen: MetricsListen,
    data_dir: PathBuf,
    demo: bool,
    security: SecurityArgs,
) -> anyhow::Result<()> {
    let db = Database::open(&data_dir, eddy_connectors::registry())?;
    let mut config = server_config(listen, &data_dir, security)?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    config.metrics = match metrics_listen {
        MetricsListen::Off => None,
        MetricsListen::At(addr) => {
            Some(tokio::net::TcpListener::bind(addr).await.with_context(|| {
                format!(
                    "cannot serve /metrics on {addr} (--metrics-listen takes an address or `off`)"
                )
            })?)
        }
    };
    db.start_all_queries().await;
    if demo {
        crate::demo::install(&db).await?;
        tracing::info!(
            "demo pipeline running; watch it with: psql -h {} -p {} -c 'SELECT * FROM {} ORDER BY window_start DESC, clicks DESC LIMIT 10'",
            listen.ip(),
            listen.port(),
            crate::demo::DEMO_TABLE
        );
    }
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        let _ = tx.send(true);
    });
    crate::server::serve(listener, db, config, rx).await
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
