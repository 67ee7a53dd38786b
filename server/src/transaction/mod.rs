//! A session's transaction workspace: the catalog changes, table contents
//! and role changes a transaction has made but not yet committed.
//!
//! Every statement works through a [`Workspace`], never on the shared
//! catalog, table store or users file directly. Reads see the committed
//! state with the workspace laid over it, so the session's own later
//! statements see what its earlier ones did; other sessions see nothing
//! until [`commit`]. Outside `BEGIN … COMMIT` the session commits after
//! each statement, so a statement that fails half-way leaves nothing behind
//! either. Nothing outside Eddy changes before COMMIT either: a streaming
//! query's sink is only checked when the query is created, and opened (its
//! PostgreSQL table created) by the commit.
//!
//! ```text
//!  statement ──► Workspace { catalog: eddy_catalog::Transaction,
//!                            tables:  name → rows (copy-on-write),
//!                            users:   role changes, replayed at commit }
//!  COMMIT ──► 1. check: catalog conflicts and dependencies, role changes
//!             2. storage of the new tables; every new streaming query
//!                built and its sink checked, then their sinks opened — a
//!                query that cannot start fails the COMMIT before any sink
//!                has done anything, and the new storage is dropped again
//!             3. under the catalog's write lock: roles, table rows
//!                (durably), the catalog in one sled transaction
//!             4. streaming queries: stop the dropped/replaced, run the new
//!  ROLLBACK ──► the workspace is dropped
//! ```
//!
//! A savepoint is a clone of the workspace: tables are vectors of
//! reference-counted Arrow batches, so the copy is cheap.
//!
//! [`commit`]: Workspace::commit

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use eddy_catalog::{CatalogObject, ObjectKind, Objects, Transaction};
use eddy_engine::EngineError;
use eddy_engine::job::StreamingJob;
use eddy_engine::table::TableConstraints;
use eddy_sql::types::arrow_schema;

use crate::database::{Database, Purpose};
use crate::error::{UserError, UserResult};
use crate::users::{UserChange, UserStore, UsersFile};

mod schema;
mod tables;
mod unique;

pub use schema::PendingSchema;
pub use tables::PendingTable;
pub use unique::check_unique;

/// What a transaction has changed, not yet visible to others.
#[derive(Clone)]
pub struct Changes {
    pub(super) catalog: Transaction,
    pub(super) tables: BTreeMap<String, PendingTable>,
    /// CREATE/ALTER/DROP ROLE, in order.
    users: Vec<UserChange>,
}

impl Changes {
    fn new(db: &Database) -> Changes {
        Changes {
            catalog: db.catalog.begin(),
            tables: BTreeMap::new(),
            users: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.catalog.is_empty() && self.tables.is_empty() && self.users.is_empty()
    }
}

/// A session's view of the database: the committed state with its
/// uncommitted changes over it. Cloning shares the same changes (the
/// session's query schema holds one clone).
#[derive(Clone)]
pub struct Workspace {
    db: Arc<Database>,
    changes: Arc<Mutex<Changes>>,
}

impl Workspace {
    pub fn new(db: Arc<Database>) -> Workspace {
        let changes = Changes::new(&db);
        Workspace {
            db,
            changes: Arc::new(Mutex::new(changes)),
        }
    }

    pub fn db(&self) -> &Arc<Database> {
        &self.db
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Changes> {
        self.changes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the changes so far (a savepoint, or the state before a
    /// statement).
    pub fn snapshot(&self) -> Changes {
        self.lock().clone()
    }

    /// Goes back to a snapshot.
    pub fn restore(&self, snapshot: Changes) {
        *self.lock() = snapshot;
    }

    /// Forgets every change (ROLLBACK).
    pub fn discard(&self) {
        self.restore(Changes::new(&self.db));
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// The catalog as this transaction sees it, as of now (a copy: reading
    /// it does not hold the workspace).
    pub fn catalog_view(&self) -> Transaction {
        self.lock().catalog.clone()
    }

    /// Looks an object up in the namespace of `kind`, as this transaction
    /// sees it.
    pub fn lookup(&self, kind: ObjectKind, name: &str) -> UserResult<Option<CatalogObject>> {
        Ok(self.lock().catalog.lookup(kind, name)?)
    }

    /// Looks up an object that must be of exactly `kind`.
    pub fn get(&self, kind: ObjectKind, name: &str) -> UserResult<CatalogObject> {
        Ok(self.lock().catalog.get(kind, name)?)
    }

    /// All objects of `kind`, ordered by name.
    pub fn list(&self, kind: ObjectKind) -> UserResult<Vec<CatalogObject>> {
        Ok(self.lock().catalog.list(kind)?)
    }

    /// Every object as this transaction sees it, an object after what it
    /// depends on.
    pub fn list_all(&self) -> UserResult<Vec<CatalogObject>> {
        Ok(self.lock().catalog.list_all()?)
    }

    /// Creates an object. `Ok(false)` when one of that name exists and
    /// `if_not_exists` is set.
    pub fn create(&self, obj: CatalogObject, if_not_exists: bool) -> UserResult<bool> {
        Ok(self.lock().catalog.create(obj, if_not_exists)?)
    }

    /// Replaces an object of the same kind, or creates it.
    pub fn create_or_replace(&self, obj: CatalogObject) -> UserResult<()> {
        Ok(self.lock().catalog.create_or_replace(obj)?)
    }

    /// Stores a definition (new, or a changed version of an existing one).
    pub fn put(&self, obj: CatalogObject) -> UserResult<()> {
        Ok(self.lock().catalog.put(obj)?)
    }

    /// Removes a definition without dependency checks (a rename's old name).
    pub fn remove(&self, kind: ObjectKind, name: &str) -> UserResult<()> {
        let mut changes = self.lock();
        changes.catalog.remove(kind, name)?;
        if kind == ObjectKind::Table {
            changes.tables.remove(name);
        }
        Ok(())
    }

    /// Drops an object of exactly `kind`, with the dependents when
    /// `cascade`. Returns the dropped objects, dependents first; empty when
    /// missing and `if_exists`.
    pub fn drop_object(
        &self,
        kind: ObjectKind,
        name: &str,
        if_exists: bool,
        cascade: bool,
    ) -> UserResult<Vec<CatalogObject>> {
        let mut changes = self.lock();
        let dropped = changes
            .catalog
            .drop_object(kind, name, if_exists, cascade)?;
        for obj in &dropped {
            if obj.kind() == ObjectKind::Table {
                changes.tables.remove(obj.name());
            }
        }
        Ok(dropped)
    }

    /// The users file as this transaction sees it.
    pub fn users(&self) -> UserResult<UsersFile> {
        let pending = self.lock().users.clone();
        UserStore::at(&self.db.data_dir).replayed(&pending)
    }

    /// Records a role change (CREATE/ALTER/DROP ROLE), after checking that
    /// it applies to the users file as this transaction sees it. The file
    /// is written at COMMIT, where the changes are applied again to what
    /// other sessions committed meanwhile.
    pub fn change_users(&self, change: UserChange) -> UserResult<()> {
        let mut file = self.users()?;
        change(&mut file)?;
        self.lock().users.push(change);
        Ok(())
    }

    /// Makes the changes visible to everyone, as one step: either all of
    /// them take effect (see the module documentation for the order) or
    /// none, and the COMMIT fails with the reason — a name another session
    /// committed meanwhile (40001), a role that exists now, a streaming
    /// query that cannot start. The workspace is empty afterwards,
    /// whatever happens. Returns warnings: sinks that are not reachable
    /// yet, whose queries keep retrying.
    pub async fn commit(&self) -> UserResult<Vec<String>> {
        let mut changes = std::mem::replace(&mut *self.lock(), Changes::new(&self.db));
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let db = &self.db;
        // 1. What can be checked without effects.
        db.catalog.check(&changes.catalog)?;
        let store = UserStore::at(&db.data_dir);
        if !changes.users.is_empty() {
            store.replayed(&changes.users)?;
        }
        let catalog_changes = changes.catalog.changes();
        // 2. New tables' storage, then the streaming queries to start,
        // built against the transaction's view and their sinks opened.
        let new_tables = tables::create_new_tables(db, &mut changes, &catalog_changes)?;
        let applied = async {
            let started = self.build_jobs(&changes.catalog, &catalog_changes).await?;
            // 3. Roles, rows and the catalog, under the catalog's write
            // lock, so that no other commit comes between the check and
            // the write.
            let commit = db.catalog.lock_for_commit(&changes.catalog)?;
            if !changes.users.is_empty() {
                store.apply(&changes.users)?;
            }
            tables::commit_rows(db, &changes, &catalog_changes)?;
            Ok::<_, UserError>((started, commit.apply()?))
        }
        .await;
        let (started, applied) = match applied {
            Ok(applied) => applied,
            Err(e) => {
                tables::drop_new_tables(db, &new_tables);
                return Err(e);
            }
        };
        let (jobs, notices): (Vec<StreamingJob>, Vec<Option<String>>) = started.into_iter().unzip();
        // 4. What the new catalog implies: dropped tables' storage, stopped
        // and started streaming queries.
        for change in &applied {
            if let Some(CatalogObject::StreamingQuery(q)) = &change.before {
                db.stop_query(&q.name).await;
                // An ALTER keeps the query (its incarnation) and so its
                // state; a drop or a replacement does not.
                let kept = matches!(&change.after,
                    Some(CatalogObject::StreamingQuery(after)) if after.incarnation == q.incarnation);
                if !kept {
                    db.remove_checkpoints(&q.name)?;
                }
            }
            if let Some(CatalogObject::StreamingQuery(q)) = &change.after
                && change.before.is_none()
            {
                // Progress left by a dropped query of that name.
                db.remove_checkpoints(&q.name)?;
            }
            if let Some(CatalogObject::Table(t)) = &change.before
                && !matches!(change.after, Some(CatalogObject::Table(_)))
            {
                db.tables.drop_table(&t.name)?;
            }
            if let Some(CatalogObject::Table(t)) = &change.after
                && !changes.tables.contains_key(&t.name)
                && db.tables.get(&t.name).is_err()
            {
                // A renamed table's storage under its new name.
                let constraints = TableConstraints::from_table_def(t).map_err(EngineError::from)?;
                db.tables
                    .create_or_load_with(&t.name, arrow_schema(&t.columns), constraints)
                    .map_err(EngineError::from)?;
            }
        }
        for job in jobs {
            db.run_job(job);
        }
        Ok(notices.into_iter().flatten().collect())
    }

    /// Builds the streaming queries a commit starts and opens their sinks
    /// (creating their targets). Every query is built and its sink checked
    /// before any sink is opened, so that a query that cannot start fails
    /// the commit before another one's sink has created anything. A sink
    /// that is not reachable now is not a reason: its query retries, and
    /// the notice says so.
    async fn build_jobs(
        &self,
        view: &Transaction,
        catalog_changes: &[eddy_catalog::Change],
    ) -> UserResult<Vec<(StreamingJob, Option<String>)>> {
        let mut jobs = Vec::new();
        for change in catalog_changes {
            let Some(CatalogObject::StreamingQuery(def)) = &change.after else {
                continue;
            };
            let mut job = self
                .db
                .prepare_job(def, view, Purpose::Start)
                .await
                .map_err(|e| cannot_start(&def.name, e))?;
            let notice = match job.check_sink().await {
                Ok(()) => None,
                Err(e) if e.is_retryable() => Some(not_reachable(&def.name, &e)),
                Err(e) => return Err(cannot_start(&def.name, e.into())),
            };
            jobs.push((job, notice));
        }
        for (job, notice) in &mut jobs {
            if notice.is_some() {
                continue;
            }
            match job.open_sink().await {
                Ok(()) => {}
                Err(e) if e.is_retryable() => *notice = Some(not_reachable(job.name(), &e)),
                Err(e) => return Err(cannot_start(job.name(), e.into())),
            }
        }
        Ok(jobs)
    }
}

fn cannot_start(query: &str, e: UserError) -> UserError {
    UserError {
        message: format!("streaming query \"{query}\" cannot start: {}", e.message),
        ..e
    }
}

fn not_reachable(query: &str, e: &EngineError) -> String {
    format!(
        "the sink of streaming query \"{query}\" is not reachable yet ({e}); the query will keep retrying"
    )
}

/// The error of a statement on a name that is not a table.
pub fn not_a_table(name: &str, obj: Option<&CatalogObject>) -> UserError {
    match obj {
        Some(other) => UserError::new(
            "42809",
            format!("\"{name}\" is a {}, not a table", other.kind()),
        ),
        None => UserError::new("42P01", format!("relation \"{name}\" does not exist")),
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::record_batch::RecordBatch;
    use eddy_catalog::{ColumnDef, SqlType, TableDef};

    use super::*;

    fn table(name: &str) -> CatalogObject {
        CatalogObject::Table(TableDef {
            name: name.into(),
            columns: vec![ColumnDef {
                name: "v".into(),
                data_type: SqlType::BigInt,
                nullable: true,
                default: None,
            }],
            primary_key: vec![],
            primary_key_name: None,
            indexes: vec![],
            foreign_keys: vec![],
            comments: Default::default(),
            sql: String::new(),
        })
    }

    fn rows(values: &[i64]) -> RecordBatch {
        let CatalogObject::Table(t) = table("x") else {
            unreachable!()
        };
        RecordBatch::try_new(
            arrow_schema(&t.columns),
            vec![Arc::new(datafusion::arrow::array::Int64Array::from(
                values.to_vec(),
            ))],
        )
        .unwrap()
    }

    fn create(ws: &Workspace, name: &str) {
        assert!(ws.create(table(name), false).unwrap());
        let CatalogObject::Table(t) = table(name) else {
            unreachable!()
        };
        ws.create_table_rows(name, arrow_schema(&t.columns));
    }

    #[tokio::test]
    async fn changes_are_private_until_commit_and_savepoints_restore() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path(), eddy_connectors::registry()).unwrap();
        let ws = Workspace::new(db.clone());
        let other = Workspace::new(db.clone());
        create(&ws, "t");
        ws.append_rows("t", vec![rows(&[1, 2])]).unwrap();
        let savepoint = ws.snapshot();
        ws.append_rows("t", vec![rows(&[3])]).unwrap();
        create(&ws, "u");
        assert!(other.lookup(ObjectKind::Table, "t").unwrap().is_none());
        ws.restore(savepoint);
        assert!(ws.lookup(ObjectKind::Table, "u").unwrap().is_none());
        assert_eq!(ws.table_rows("t").unwrap().1[0].num_rows(), 2);
        ws.commit().await.unwrap();
        assert!(ws.is_empty());
        assert_eq!(db.tables.get("t").unwrap().row_count(), 2);
        assert!(other.lookup(ObjectKind::Table, "t").unwrap().is_some());

        // Dropped in a block that rolls back: still there.
        ws.drop_object(ObjectKind::Table, "t", false, false)
            .unwrap();
        assert!(ws.lookup(ObjectKind::Table, "t").unwrap().is_none());
        ws.discard();
        assert_eq!(db.tables.get("t").unwrap().row_count(), 2);
    }

    #[tokio::test]
    async fn a_name_created_meanwhile_by_another_session_fails_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path(), eddy_connectors::registry()).unwrap();
        let (a, b) = (Workspace::new(db.clone()), Workspace::new(db.clone()));
        create(&a, "t");
        a.append_rows("t", vec![rows(&[1])]).unwrap();
        create(&b, "t");
        b.commit().await.unwrap();
        let err = a.commit().await.unwrap_err();
        assert_eq!(err.sqlstate, "40001");
        assert_eq!(db.tables.get("t").unwrap().row_count(), 0);
    }
}
