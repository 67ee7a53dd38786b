//! The rows a transaction gives Eddy tables, and how COMMIT stores them.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use eddy_catalog::CatalogObject;
use eddy_catalog::ObjectKind;
use eddy_engine::EngineError;
use eddy_engine::table::TableConstraints;

use super::{Changes, Workspace};
use crate::database::Database;
use crate::error::UserResult;

/// The rows a transaction gave a table.
#[derive(Clone)]
pub struct PendingTable {
    pub schema: SchemaRef,
    /// Every row as this transaction sees it.
    pub batches: Vec<RecordBatch>,
    /// Rows appended since the committed contents, when nothing else
    /// changed: committed as an append, so that rows a streaming query
    /// adds meanwhile are kept.
    pub(super) appended: Vec<RecordBatch>,
    /// The contents were rewritten (UPDATE, DELETE, TRUNCATE) or the table
    /// is new or altered: committed as a replacement.
    pub(super) rewritten: bool,
    /// The table's storage must be created anew (new table, new schema).
    pub(super) recreate: bool,
}

impl Workspace {
    /// The schema and rows of a table as this transaction sees them.
    pub fn table_rows(&self, name: &str) -> UserResult<(SchemaRef, Vec<RecordBatch>)> {
        if let Some(t) = self.lock().tables.get(name) {
            return Ok((t.schema.clone(), t.batches.clone()));
        }
        let table = self.db.tables.get(name)?;
        Ok((table.schema(), table.batches()))
    }

    /// Whether this transaction created, changed or dropped an object of
    /// that name, or wrote rows of a table of that name.
    pub fn is_pending(&self, name: &str) -> bool {
        let changes = self.lock();
        changes.catalog.touches(name) || changes.tables.contains_key(name)
    }

    /// Whether a table's rows were changed by this transaction (its pending
    /// rows then differ from the stored ones).
    pub fn has_pending_rows(&self, name: &str) -> bool {
        self.lock().tables.contains_key(name)
    }

    /// A new table's storage, empty (CREATE TABLE).
    pub fn create_table_rows(&self, name: &str, schema: SchemaRef) {
        self.lock().tables.insert(
            name.to_string(),
            PendingTable {
                schema,
                batches: Vec::new(),
                appended: Vec::new(),
                rewritten: true,
                recreate: true,
            },
        );
    }

    /// Appends rows (INSERT). Writing rows relies on the table's committed
    /// definition: a COMMIT after another session dropped or changed the
    /// table fails with 40001 (see [`Transaction::rely_on`]).
    ///
    /// [`Transaction::rely_on`]: eddy_catalog::Transaction::rely_on
    pub fn append_rows(&self, name: &str, batches: Vec<RecordBatch>) -> UserResult<()> {
        let (schema, mut all) = self.table_rows(name)?;
        let mut changes = self.lock();
        changes.catalog.rely_on(ObjectKind::Table, name)?;
        let pending = changes
            .tables
            .entry(name.to_string())
            .or_insert_with(|| PendingTable {
                schema,
                batches: Vec::new(),
                appended: Vec::new(),
                rewritten: false,
                recreate: false,
            });
        all.extend(batches.iter().cloned());
        pending.batches = all;
        if !pending.rewritten {
            pending.appended.extend(batches);
        }
        Ok(())
    }

    /// Replaces all rows, possibly with a new schema (UPDATE, DELETE,
    /// TRUNCATE, ALTER TABLE).
    pub fn replace_rows(
        &self,
        name: &str,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> UserResult<()> {
        let mut changes = self.lock();
        changes.catalog.rely_on(ObjectKind::Table, name)?;
        let recreate = changes.tables.get(name).is_some_and(|t| t.recreate)
            || self
                .db
                .tables
                .get(name)
                .map_or(true, |t| t.schema().fields() != schema.fields());
        changes.tables.insert(
            name.to_string(),
            PendingTable {
                schema,
                batches,
                appended: Vec::new(),
                rewritten: true,
                recreate,
            },
        );
        Ok(())
    }
}

/// Creates, empty, the storage of the tables this transaction creates
/// under names no table had, so that the streaming queries the commit
/// starts can be built against them (a table sink's target, a late-row
/// table); their rows are stored with the others' by [`commit_rows`].
/// Returns their names, for [`drop_new_tables`] if the commit fails.
pub(super) fn create_new_tables(
    db: &Database,
    changes: &mut Changes,
    catalog_changes: &[eddy_catalog::Change],
) -> UserResult<Vec<String>> {
    let mut created = Vec::new();
    for change in catalog_changes {
        let Some(CatalogObject::Table(def)) = &change.after else {
            continue;
        };
        if matches!(change.before, Some(CatalogObject::Table(_))) {
            continue;
        }
        let Some(pending) = changes.tables.get_mut(&change.name) else {
            continue;
        };
        if !pending.recreate {
            continue;
        }
        let made = (|| {
            let constraints = TableConstraints::from_table_def(def).map_err(EngineError::from)?;
            db.tables.drop_table(&change.name)?;
            db.tables
                .create_or_load_with(&change.name, pending.schema.clone(), constraints)
                .map_err(EngineError::from)
        })();
        if let Err(e) = made {
            drop_new_tables(db, &created);
            return Err(e.into());
        }
        // The storage is there now: the rows replace its (empty) contents.
        pending.recreate = false;
        pending.rewritten = true;
        created.push(change.name.clone());
    }
    Ok(created)
}

/// Drops the storage [`create_new_tables`] made, when the commit fails.
pub(super) fn drop_new_tables(db: &Database, names: &[String]) {
    for name in names {
        if let Err(e) = db.tables.drop_table(name) {
            tracing::warn!(table = %name, error = %e, "dropping the storage of an uncommitted table");
        }
    }
}

/// Stores the rows of every table the transaction wrote: appends where only
/// rows were added, replacements where they were rewritten, new storage
/// where the table is new or its schema changed.
pub(super) fn commit_rows(db: &Database, changes: &Changes) -> UserResult<()> {
    for (name, table) in &changes.tables {
        let def = match changes.catalog.pending(ObjectKind::Table, name) {
            Some(Some(CatalogObject::Table(def))) => Some(def),
            None => None,
            _ => continue,
        };
        // A changed definition (ALTER TABLE) brings its constraints:
        // the rows were checked against them in the workspace, so the
        // storage takes the rows first and then the new constraints.
        let constraints = def
            .map(TableConstraints::from_table_def)
            .transpose()
            .map_err(EngineError::from)?;
        if table.recreate {
            db.tables.drop_table(name)?;
            db.tables
                .create_or_load_with(name, table.schema.clone(), TableConstraints::default())
                .map_err(EngineError::from)?
                .replace(table.batches.clone())?;
        } else if table.rewritten {
            let stored = db.tables.get(name)?;
            if constraints.is_some() {
                stored
                    .set_constraints(TableConstraints::default())
                    .map_err(EngineError::from)?;
            }
            stored.replace(table.batches.clone())?;
        } else {
            db.tables.get(name)?.append(&table.appended)?;
        }
        let constraints = match (constraints, table.recreate) {
            (Some(c), _) => Some(c),
            // Recreated with its definition unchanged: the committed one.
            (None, true) => match db.catalog.lookup(ObjectKind::Table, name)? {
                Some(CatalogObject::Table(def)) => {
                    Some(TableConstraints::from_table_def(&def).map_err(EngineError::from)?)
                }
                _ => None,
            },
            (None, false) => None,
        };
        if let Some(constraints) = constraints {
            db.tables
                .get(name)?
                .set_constraints(constraints)
                .map_err(EngineError::from)?;
        }
    }
    Ok(())
}
