//! A session's transaction workspace: the catalog changes and table
//! contents a transaction has made but not yet committed.
//!
//! Every statement works through a [`Workspace`], never on the shared
//! catalog or table store directly. Reads see the committed state with the
//! workspace laid over it, so the session's own later statements see what
//! its earlier ones did; other sessions see nothing until [`commit`].
//! Outside `BEGIN … COMMIT` the session commits after each statement, so a
//! statement that fails half-way leaves nothing behind either.
//!
//! ```text
//!  statement ──► Workspace { objects: name → Some(def) | None (dropped),
//!                            tables:  name → rows (copy-on-write) }
//!  COMMIT ──► 1. table rows, durably (appends, or rewrites)
//!             2. catalog changes, one sled transaction
//!             3. streaming queries: stop the dropped/replaced, start the new
//!  ROLLBACK ──► the workspace is dropped
//! ```
//!
//! A savepoint is a clone of the workspace: tables are vectors of
//! reference-counted Arrow batches, so the copy is cheap.
//!
//! [`commit`]: Workspace::commit

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use eddy_catalog::{CatalogError, CatalogObject, ObjectKind};
use eddy_engine::EngineError;
use eddy_engine::table::TableConstraints;
use eddy_sql::types::arrow_schema;

use crate::database::Database;
use crate::error::{UserError, UserResult};

mod schema;
mod tables;

pub use schema::PendingSchema;
pub use tables::PendingTable;

/// A catalog object's key: its namespace (relations or sinks) and name.
type Key = (bool, String);

pub(super) fn key(kind: ObjectKind, name: &str) -> Key {
    (kind.is_relation(), name.to_string())
}

/// What a transaction has changed, not yet visible to others.
#[derive(Clone, Default)]
pub struct Changes {
    pub(super) objects: BTreeMap<Key, Option<CatalogObject>>,
    pub(super) tables: HashMap<String, PendingTable>,
    /// Names this transaction created where nothing existed: if another
    /// session commits an object of that name first, this commit fails.
    created: BTreeSet<Key>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty() && self.tables.is_empty()
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
        Workspace {
            db,
            changes: Arc::new(Mutex::new(Changes::default())),
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
        self.restore(Changes::default());
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Looks an object up in the namespace of `kind`, as this transaction
    /// sees it.
    pub fn lookup(&self, kind: ObjectKind, name: &str) -> UserResult<Option<CatalogObject>> {
        if let Some(pending) = self.lock().objects.get(&key(kind, name)) {
            return Ok(pending.clone());
        }
        Ok(self.db.catalog.lookup(kind, name)?)
    }

    /// Looks up an object that must be of exactly `kind`.
    pub fn get(&self, kind: ObjectKind, name: &str) -> UserResult<CatalogObject> {
        match self.lookup(kind, name)? {
            Some(obj) if obj.kind() == kind => Ok(obj),
            Some(obj) => Err(CatalogError::WrongKind {
                name: name.to_string(),
                expected: kind,
                actual: obj.kind(),
            }
            .into()),
            None => Err(CatalogError::NotFound {
                kind,
                name: name.to_string(),
            }
            .into()),
        }
    }

    /// All objects of `kind`, ordered by name.
    pub fn list(&self, kind: ObjectKind) -> UserResult<Vec<CatalogObject>> {
        let mut by_name: BTreeMap<String, CatalogObject> = self
            .db
            .catalog
            .list(kind)?
            .into_iter()
            .map(|o| (o.name().to_string(), o))
            .collect();
        for ((is_relation, name), obj) in &self.lock().objects {
            if *is_relation != kind.is_relation() {
                continue;
            }
            by_name.remove(name);
            if let Some(obj) = obj
                && obj.kind() == kind
            {
                by_name.insert(name.clone(), obj.clone());
            }
        }
        Ok(by_name.into_values().collect())
    }

    /// Every object as this transaction sees it, in the order of
    /// [`Catalog::list_all`](eddy_catalog::Catalog::list_all).
    pub fn list_all(&self) -> UserResult<Vec<CatalogObject>> {
        let mut out = Vec::new();
        for kind in [
            ObjectKind::Table,
            ObjectKind::Source,
            ObjectKind::Sink,
            ObjectKind::StreamingQuery,
        ] {
            out.extend(self.list(kind)?);
        }
        Ok(out)
    }

    fn check_dependencies(&self, obj: &CatalogObject) -> UserResult<()> {
        for (dep_kind, dep) in obj.dependencies() {
            if self.lookup(dep_kind, &dep)?.is_none() {
                return Err(CatalogError::MissingDependency {
                    kind: obj.kind(),
                    name: obj.name().to_string(),
                    dep_kind,
                    dep,
                }
                .into());
            }
        }
        Ok(())
    }

    /// Creates an object. `Ok(false)` when one of that name exists and
    /// `if_not_exists` is set.
    pub fn create(&self, obj: CatalogObject, if_not_exists: bool) -> UserResult<bool> {
        if let Some(existing) = self.lookup(obj.kind(), obj.name())? {
            if if_not_exists {
                return Ok(false);
            }
            return Err(CatalogError::AlreadyExists {
                kind: existing.kind(),
                name: obj.name().to_string(),
            }
            .into());
        }
        let k = key(obj.kind(), obj.name());
        let committed = self.db.catalog.lookup(obj.kind(), obj.name())?.is_some();
        self.put(obj)?;
        if !committed {
            self.lock().created.insert(k);
        }
        Ok(true)
    }

    /// Replaces an object of the same kind, or creates it.
    pub fn create_or_replace(&self, obj: CatalogObject) -> UserResult<()> {
        if let Some(existing) = self.lookup(obj.kind(), obj.name())?
            && existing.kind() != obj.kind()
        {
            return Err(CatalogError::AlreadyExists {
                kind: existing.kind(),
                name: obj.name().to_string(),
            }
            .into());
        }
        self.put(obj)
    }

    /// Stores a definition (new, or a changed version of an existing one).
    pub fn put(&self, obj: CatalogObject) -> UserResult<()> {
        self.check_dependencies(&obj)?;
        self.lock()
            .objects
            .insert(key(obj.kind(), obj.name()), Some(obj));
        Ok(())
    }

    /// Removes a definition without dependency checks (a rename's old name).
    pub fn remove(&self, kind: ObjectKind, name: &str) {
        self.lock().objects.insert(key(kind, name), None);
        if kind == ObjectKind::Table {
            self.lock().tables.remove(name);
        }
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
        let obj = match self.lookup(kind, name)? {
            Some(obj) if obj.kind() == kind => obj,
            None if if_exists => return Ok(Vec::new()),
            Some(other) => {
                return Err(CatalogError::WrongKind {
                    name: name.to_string(),
                    expected: kind,
                    actual: other.kind(),
                }
                .into());
            }
            None => {
                return Err(CatalogError::NotFound {
                    kind,
                    name: name.to_string(),
                }
                .into());
            }
        };
        let all = self.list_all()?;
        if kind == ObjectKind::Table {
            self.drop_foreign_keys_to(&all, name, cascade)?;
        }
        let mut order = Vec::new();
        collect_drop_order(&all, obj, cascade, &mut order)?;
        for obj in &order {
            self.remove(obj.kind(), obj.name());
        }
        Ok(order)
    }

    /// Foreign keys of other tables that reference table `name`: without
    /// `cascade` they keep it from being dropped (2BP01, as in PostgreSQL);
    /// with it they are dropped, not their tables.
    fn drop_foreign_keys_to(
        &self,
        all: &[CatalogObject],
        name: &str,
        cascade: bool,
    ) -> UserResult<()> {
        for obj in all {
            let CatalogObject::Table(t) = obj else {
                continue;
            };
            if t.name == name || !t.foreign_keys.iter().any(|f| f.references == name) {
                continue;
            }
            if !cascade {
                let fk = t.foreign_keys.iter().find(|f| f.references == name);
                let mut error = UserError::new(
                    "2BP01",
                    format!("cannot drop table {name} because other objects depend on it"),
                )
                .with_hint("Use DROP ... CASCADE to drop the dependent objects too.");
                error.detail = fk.map(|f| {
                    format!(
                        "constraint {} on table {} depends on table {name}",
                        f.name, t.name
                    )
                });
                return Err(error);
            }
            let mut t = t.clone();
            t.foreign_keys.retain(|f| f.references != name);
            self.put(CatalogObject::Table(t))?;
        }
        Ok(())
    }

    /// Makes the changes visible to everyone, in one step as far as the
    /// disk allows: table rows first (durable), then the catalog in one
    /// sled transaction, then streaming queries stopped and started. The
    /// workspace is empty afterwards, whatever happens. Returns, for each
    /// streaming query that could not start, why (the changes stay
    /// committed; the query shows as failed).
    pub async fn commit(&self) -> UserResult<Vec<String>> {
        let mut changes = std::mem::take(&mut *self.lock());
        // Created and dropped again: nothing to apply (and another
        // session's object of that name must stay).
        let created = std::mem::take(&mut changes.created);
        changes
            .objects
            .retain(|k, obj| obj.is_some() || !created.contains(k));
        changes.created = created;
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let db = &self.db;
        let mut before = HashMap::new();
        for (is_relation, name) in changes.objects.keys() {
            let kind = if *is_relation {
                ObjectKind::Table
            } else {
                ObjectKind::Sink
            };
            if let Some(obj) = db.catalog.lookup(kind, name)? {
                if changes.created.contains(&(*is_relation, name.clone())) {
                    return Err(UserError::new(
                        "40001",
                        format!(
                            "could not commit: {} \"{name}\" was created by another session meanwhile",
                            obj.kind()
                        ),
                    ));
                }
                before.insert((*is_relation, name.clone()), obj);
            }
        }
        // 1. Rows. Tables dropped in this transaction are removed after the
        // catalog no longer names them.
        tables::commit_rows(db, &changes)?;
        // 2. The catalog.
        let catalog_changes: Vec<(ObjectKind, String, Option<CatalogObject>)> = changes
            .objects
            .iter()
            .map(|((is_relation, name), obj)| {
                let kind = obj.as_ref().map_or(
                    if *is_relation {
                        ObjectKind::Table
                    } else {
                        ObjectKind::Sink
                    },
                    |o| o.kind(),
                );
                (kind, name.clone(), obj.clone())
            })
            .collect();
        db.catalog.apply(&catalog_changes)?;
        // 3. What the new catalog implies: dropped tables' storage, stopped
        // and started streaming queries.
        let mut to_start = Vec::new();
        for (k, obj) in &changes.objects {
            let old = before.get(k);
            if let Some(CatalogObject::StreamingQuery(q)) = old {
                db.stop_query(&q.name).await;
                db.remove_checkpoints(&q.name)?;
            }
            if let Some(CatalogObject::Table(t)) = old
                && !matches!(obj, Some(CatalogObject::Table(_)))
            {
                db.tables.drop_table(&t.name)?;
            }
            match obj {
                Some(CatalogObject::StreamingQuery(q)) => {
                    if old.is_none() {
                        // Progress left by a dropped query of that name.
                        db.remove_checkpoints(&q.name)?;
                    }
                    to_start.push(q.clone());
                }
                Some(CatalogObject::Table(t))
                    if !changes.tables.contains_key(&t.name) && db.tables.get(&t.name).is_err() =>
                {
                    // A renamed table's storage under its new name.
                    let constraints =
                        TableConstraints::from_table_def(t).map_err(EngineError::from)?;
                    db.tables
                        .create_or_load_with(&t.name, arrow_schema(&t.columns), constraints)
                        .map_err(EngineError::from)?;
                }
                _ => {}
            }
        }
        let mut not_started = Vec::new();
        for def in to_start {
            if let Err(why) = db.start_query(&def).await {
                not_started.push(format!(
                    "streaming query \"{}\" was created but cannot start: {why}",
                    def.name
                ));
            }
        }
        Ok(not_started)
    }
}

fn collect_drop_order(
    all: &[CatalogObject],
    obj: CatalogObject,
    cascade: bool,
    order: &mut Vec<CatalogObject>,
) -> UserResult<()> {
    let dependents: Vec<&CatalogObject> = all
        .iter()
        .filter(|o| {
            o.dependencies()
                .iter()
                .any(|(k, n)| k.is_relation() == obj.kind().is_relation() && n == obj.name())
        })
        .collect();
    if !dependents.is_empty() && !cascade {
        return Err(CatalogError::HasDependents {
            kind: obj.kind(),
            name: obj.name().to_string(),
            dependents: dependents
                .iter()
                .map(|d| (d.kind(), d.name().to_string()))
                .collect(),
        }
        .into());
    }
    for dep in dependents {
        if !order
            .iter()
            .any(|o| o.kind() == dep.kind() && o.name() == dep.name())
        {
            collect_drop_order(all, dep.clone(), cascade, order)?;
        }
    }
    order.push(obj);
    Ok(())
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
