//! One catalog snapshot per statement.
//!
//! A statement that names several catalog tables (psql's `\d` joins
//! `pg_class`, `pg_attribute`, `pg_index` and `pg_constraint`) or calls
//! catalog functions (`pg_get_indexdef`, `::regclass`) must see one
//! catalog, as PostgreSQL's statement snapshot makes it: were each table
//! built from its own read, a table created or dropped by another session
//! in between would appear in one and not in the other.
//!
//! The session marks its statements with [`StatementSnapshot::begin`];
//! the first catalog read of a statement builds the [`Snapshot`] and the
//! others reuse it, until the returned [`StatementScope`] is dropped (the
//! statement ended, failed or was cancelled). Outside a statement (a
//! Describe planning its statement) every read builds a fresh snapshot.
//!
//! ```text
//! session            StatementSnapshot          CatalogSource
//!    | begin() ---------->| (empty)                   |
//!    | pg_class --------->| build ------------------->| objects()
//!    | pg_attribute ----->| the same Arc<Snapshot>    |
//!    | drop(scope) ------>| (empty)                   |
//! ```

use std::sync::{Arc, Mutex, MutexGuard};

use super::snapshot::Snapshot;
use super::source::CatalogSource;

/// The snapshot of the statement a session is running, shared by every
/// catalog table and function of that session.
#[derive(Debug, Default)]
pub struct StatementSnapshot {
    slot: Mutex<Slot>,
}

#[derive(Debug, Default)]
struct Slot {
    /// Open scopes (a statement run from within another nests).
    open: usize,
    /// Counts the statements begun, so that a build that outlives its
    /// statement is not kept for the next one.
    statement: u64,
    snapshot: Option<Arc<Snapshot>>,
}

impl StatementSnapshot {
    /// Starts a statement: until the returned scope is dropped, catalog
    /// reads share one snapshot.
    pub fn begin(self: &Arc<Self>) -> StatementScope {
        let mut slot = self.lock();
        if slot.open == 0 {
            slot.statement += 1;
            slot.snapshot = None;
        }
        slot.open += 1;
        StatementScope {
            owner: Arc::clone(self),
        }
    }

    /// The statement's snapshot, built from `source` by the first read.
    pub(super) async fn get_or_build(&self, source: &dyn CatalogSource) -> Arc<Snapshot> {
        let statement = {
            let slot = self.lock();
            if let Some(snapshot) = &slot.snapshot {
                return Arc::clone(snapshot);
            }
            slot.statement
        };
        // Built without the lock held: building plans streaming queries.
        // Two reads racing both build; the first one stored wins, and both
        // answer with it.
        let built = Arc::new(Snapshot::build(source).await);
        let mut slot = self.lock();
        if slot.open == 0 || slot.statement != statement {
            return built;
        }
        Arc::clone(slot.snapshot.get_or_insert(built))
    }

    fn lock(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A statement in progress (see [`StatementSnapshot::begin`]); dropping
/// it forgets the statement's snapshot.
#[must_use = "the statement's snapshot is forgotten when the scope is dropped"]
pub struct StatementScope {
    owner: Arc<StatementSnapshot>,
}

impl Drop for StatementScope {
    fn drop(&mut self) {
        let mut slot = self.owner.lock();
        slot.open -= 1;
        if slot.open == 0 {
            slot.snapshot = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, BooleanArray, Int64Array};
    use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider};
    use datafusion::prelude::{SessionConfig, SessionContext};

    use super::super::schemas::PgCatalogSchema;
    use super::super::testing::{GrowingCatalog, context};
    use super::*;

    fn session(statement: Arc<StatementSnapshot>) -> SessionContext {
        let cat = context(Arc::new(GrowingCatalog::default()), statement);
        let config = SessionConfig::new()
            .with_default_catalog_and_schema("eddy", "pg_catalog")
            .with_create_default_catalog_and_schema(false);
        let ctx = SessionContext::new_with_config(config);
        let catalog = MemoryCatalogProvider::new();
        catalog
            .register_schema("pg_catalog", Arc::new(PgCatalogSchema { ctx: cat.clone() }))
            .unwrap();
        ctx.register_catalog("eddy", Arc::new(catalog));
        super::super::functions::register_all(&ctx, &cat);
        ctx
    }

    /// (relations in `pg_class`, relations with columns in
    /// `pg_attribute`, whether `to_regclass('t2')` finds nothing) as one
    /// statement sees them.
    async fn one_statement(ctx: &SessionContext) -> (i64, i64, bool) {
        let batches = ctx
            .sql(
                "SELECT (SELECT count(*) FROM pg_class) AS classes, \
                        (SELECT count(DISTINCT attrelid) FROM pg_attribute) AS described, \
                        to_regclass('t2') IS NULL AS t2_missing",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let batch = &batches[0];
        let int = |i: usize| {
            let column = batch.column(i).as_any().downcast_ref::<Int64Array>();
            column.unwrap().value(0)
        };
        let missing = batch.column(2).as_any().downcast_ref::<BooleanArray>();
        (int(0), int(1), missing.unwrap().value(0))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_tables_and_functions_of_one_statement_read_one_catalog() {
        let statement = Arc::new(StatementSnapshot::default());
        let ctx = session(statement.clone());

        // Read three times in one statement, the catalog would have grown
        // twice: all three reads see its first state, t1 alone.
        let scope = statement.begin();
        assert_eq!(one_statement(&ctx).await, (1, 1, true));
        drop(scope);

        // The next statement reads the catalog again, once.
        let scope = statement.begin();
        assert_eq!(one_statement(&ctx).await, (2, 2, false));
        drop(scope);

        // Outside a statement every read is a read of its own.
        let (classes, described, _) = one_statement(&ctx).await;
        assert_ne!(classes, described);
    }

    #[test]
    fn a_nested_statement_keeps_the_outer_ones_snapshot() {
        let statement = Arc::new(StatementSnapshot::default());
        let source = GrowingCatalog::default();
        let outer = statement.begin();
        let first = futures::executor::block_on(statement.get_or_build(&source));
        let inner = statement.begin();
        let nested = futures::executor::block_on(statement.get_or_build(&source));
        assert!(Arc::ptr_eq(&first, &nested));
        drop(inner);
        let after = futures::executor::block_on(statement.get_or_build(&source));
        assert!(Arc::ptr_eq(&first, &after));
        drop(outer);
        let next = futures::executor::block_on(statement.get_or_build(&source));
        assert_eq!(next.relations.len(), 2);
    }
}
