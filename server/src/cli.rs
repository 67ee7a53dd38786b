//! The command line of the `eddy` binary.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tokio::sync::watch;

use crate::database::Database;

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
        /// Where the catalog, tables and checkpoints live.
        #[arg(long, default_value = "./eddy-data")]
        data_dir: PathBuf,
        /// Create and start the demo pipeline (datagen → 10-second windows →
        /// the Eddy table `clicks_per_page`) if it does not exist yet.
        #[arg(long)]
        demo: bool,
    },
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
    match cli.command {
        Command::Serve {
            listen,
            data_dir,
            demo,
        } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(serve(listen, data_dir, demo)),
    }
}

async fn serve(listen: SocketAddr, data_dir: PathBuf, demo: bool) -> anyhow::Result<()> {
    let db = Database::open(&data_dir, eddy_connectors::registry())?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
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
    crate::server::serve(listener, db, rx).await
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
