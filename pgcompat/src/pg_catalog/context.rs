//! [`CatalogContext`]: what a session's catalog tables and functions are
//! built from.

use std::sync::{Arc, RwLock};

use super::snapshot::Snapshot;
use super::source::CatalogSource;
use super::statement::StatementSnapshot;
use crate::settings::Settings;

/// What the catalog tables and functions of a session are built from.
#[derive(Clone)]
pub struct CatalogContext {
    /// The session's view of the database: inside a transaction block,
    /// its uncommitted objects are listed too (Alembic looks for its table
    /// in `pg_class` within its block).
    pub source: Arc<dyn CatalogSource>,
    pub settings: Arc<RwLock<Settings>>,
    /// The name the client connected with (`current_database()`).
    pub database_name: String,
    /// The snapshot of the statement running, which every catalog table
    /// and function of the statement reads; the session begins and ends
    /// its statements on it.
    pub statement: Arc<StatementSnapshot>,
}

impl CatalogContext {
    /// The user this session runs as (the owner of everything it sees).
    pub fn user(&self) -> String {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get("session_authorization")
            .unwrap_or_else(|_| "eddy".into())
    }

    /// The catalog as the running statement sees it (see
    /// [`StatementSnapshot`]).
    pub async fn snapshot(&self) -> Arc<Snapshot> {
        self.statement.get_or_build(self.source.as_ref()).await
    }
}
