//! The rows a transaction gives Eddy tables, and how COMMIT stores them.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use eddy_catalog::CatalogObject;
use eddy_catalog::ObjectKind;
use eddy_catalog::TableDef;
use eddy_engine::EngineError;
use eddy_engine::table::{TableConstraints, WriteSet, write_together};

use super::{Changes, Workspace};
use crate::database::Database;
use crate::error::{UserError, UserResult};

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
    /// is new or altered: committed as the difference from `base`, or as a
    /// replacement where there is no base.
    pub(super) rewritten: bool,
    /// The table's storage must be created anew (new table, new schema).
    pub(super) recreate: bool,
    /// The committed table this transaction's rows were computed from: its
    /// version and rows ([`StoredTable::snapshot`]). `None` for a table
    /// this transaction created.
    ///
    /// [`StoredTable::snapshot`]: eddy_engine::table::StoredTable::snapshot
    pub(super) base: Option<(u64, Vec<RecordBatch>)>,
}

impl PendingTable {
    /// A committed table as this transaction starts changing it.
    fn based_on(schema: SchemaRef, (version, rows): (u64, Vec<RecordBatch>)) -> PendingTable {
        PendingTable {
            schema,
            batches: rows.clone(),
            appended: Vec::new(),
            rewritten: false,
            recreate: false,
            base: Some((version, rows)),
        }
    }

    /// Whether the transaction only appended to the committed rows: new
    /// rows are then checked against the stored ones by the table's
    /// indexes, not by a scan.
    fn appends_only(&self) -> bool {
        !self.rewritten && !self.recreate && self.base.is_some()
    }
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

    /// Makes this transaction read a committed table as it is now, until
    /// it commits, and base its write on those rows: what it then rewrites
    /// (UPDATE, DELETE) is committed as the difference, so rows other
    /// writers add meanwhile are kept, and a COMMIT that would overwrite or
    /// delete a row another writer changed fails with 40001. Called before
    /// a statement reads the rows it rewrites.
    pub fn pin_rows(&self, name: &str) {
        // A table without storage yet (created or renamed in this
        // transaction) is all pending already: nothing to pin.
        let _ = self.pending_entry(&mut self.lock(), name);
    }

    /// The table's pending entry, made from a snapshot of the stored table
    /// when the transaction has none yet.
    fn pending_entry<'a>(
        &self,
        changes: &'a mut Changes,
        name: &str,
    ) -> UserResult<&'a mut PendingTable> {
        if !changes.tables.contains_key(name) {
            let stored = self.db.tables.get(name)?;
            let pending = PendingTable::based_on(stored.schema(), stored.snapshot());
            changes.tables.insert(name.to_string(), pending);
        }
        Ok(changes.tables.get_mut(name).expect("inserted above"))
    }

    /// Whether this transaction created, changed or dropped an object of
    /// that name, or wrote rows of a table of that name.
    pub fn is_pending(&self, name: &str) -> bool {
        let changes = self.lock();
        changes.catalog.touches(name) || changes.tables.contains_key(name)
    }

    /// Whether this transaction has its own rows of a table: rows it
    /// changed, or the snapshot it pinned (see [`pin_rows`](Self::pin_rows)).
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
                base: None,
            },
        );
    }

    /// Checks rows an INSERT adds against the table's unique keys: by the
    /// stored table's indexes while this transaction only appended to it
    /// (plus the rows it appended), by its pending rows otherwise.
    pub fn check_insert(&self, def: &TableDef, rows: &[RecordBatch]) -> UserResult<()> {
        let changes = self.lock();
        match changes.tables.get(&def.name) {
            Some(pending) if !pending.appends_only() => {
                super::check_unique(def, &pending.batches, rows)
            }
            pending => {
                if let Some(pending) = pending {
                    super::check_unique(def, &pending.appended, rows)?;
                }
                Ok(self.db.tables.get(&def.name)?.check_insert(rows)?)
            }
        }
    }

    /// Appends rows (INSERT). Writing rows relies on the table's committed
    /// definition: a COMMIT after another session dropped or changed the
    /// table fails with 40001 (see [`Transaction::rely_on`]).
    ///
    /// [`Transaction::rely_on`]: eddy_catalog::Transaction::rely_on
    pub fn append_rows(&self, name: &str, batches: Vec<RecordBatch>) -> UserResult<()> {
        let mut changes = self.lock();
        changes.catalog.rely_on(ObjectKind::Table, name)?;
        let pending = self.pending_entry(&mut changes, name)?;
        pending.batches.extend(batches.iter().cloned());
        if !pending.rewritten {
            pending.appended.extend(batches);
        }
        Ok(())
    }

    /// Replaces all rows, possibly with a new schema (UPDATE, DELETE,
    /// TRUNCATE, ALTER TABLE). The rows were computed from what
    /// [`pin_rows`](Self::pin_rows) pinned, if it was called.
    pub fn replace_rows(
        &self,
        name: &str,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> UserResult<()> {
        let stored = self.db.tables.get(name).ok();
        let mut changes = self.lock();
        changes.catalog.rely_on(ObjectKind::Table, name)?;
        let (base, recreate) = match changes.tables.remove(name) {
            Some(pending) => (pending.base, pending.recreate),
            None => (stored.as_ref().map(|t| t.snapshot()), false),
        };
        let recreate = recreate || stored.is_none_or(|t| t.schema().fields() != schema.fields());
        changes.tables.insert(
            name.to_string(),
            PendingTable {
                schema,
                batches,
                appended: Vec::new(),
                rewritten: true,
                recreate,
                base,
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

/// Stores the rows of every table the transaction wrote. Appends and
/// rewrites by difference go to the storage together
/// ([`write_together`]): every table's write is checked — keys (23505),
/// rows others changed meanwhile (40001) — before any is written. Tables
/// replaced whole (new, or altered with new columns or constraints) come
/// after, then the storage's constraints follow changed definitions.
pub(super) fn commit_rows(
    db: &Database,
    changes: &Changes,
    catalog_changes: &[eddy_catalog::Change],
) -> UserResult<()> {
    let mut together = Vec::new();
    let mut replaced = Vec::new();
    for (name, table) in &changes.tables {
        let def = match changes.catalog.pending(ObjectKind::Table, name) {
            Some(Some(CatalogObject::Table(def))) => Some(def),
            None => None,
            _ => continue,
        };
        match (&table.base, table.rewritten, table.recreate, def) {
            // Only appended to (INSERT).
            (Some(_), false, false, _) if !table.appended.is_empty() => {
                together.push((
                    db.tables.get(name)?,
                    WriteSet::insert(table.appended.clone()),
                ));
            }
            (Some(_), false, false, _) => {}
            // Rows rewritten (UPDATE, DELETE) under an unchanged
            // definition: the difference from the rows they were computed
            // from, which keeps what others wrote meanwhile or fails with
            // 40001 if it overwrites it.
            (Some((version, base)), true, false, None) => {
                let ws = WriteSet::rewrite(&table.schema, base, &table.batches, *version)?;
                together.push((db.tables.get(name)?, ws));
            }
            _ => replaced.push((name, table, def)),
        }
    }
    write_together(together)?;
    for (name, table, def) in replaced {
        replace_rows(db, name, table, def)?;
    }
    // A definition changed without its rows being replaced (CREATE UNIQUE
    // INDEX, DROP INDEX, a renamed constraint): the storage's constraints
    // follow, so that every writer is checked against them.
    for change in catalog_changes {
        if let (Some(CatalogObject::Table(_)), Some(CatalogObject::Table(def))) =
            (&change.before, &change.after)
            && let Ok(stored) = db.tables.get(&def.name)
        {
            let constraints = TableConstraints::from_table_def(def).map_err(EngineError::from)?;
            if stored.constraints() != constraints {
                stored.set_constraints(constraints)?;
            }
        }
    }
    Ok(())
}

/// Replaces a table's rows whole: new storage for a new table or schema,
/// or the same storage for an ALTER TABLE that changed its constraints —
/// unless the table was written since this transaction read it (40001).
/// A changed definition brings its constraints: the rows were checked
/// against them in the workspace, so the storage takes the rows first and
/// then the new constraints.
fn replace_rows(
    db: &Database,
    name: &str,
    table: &PendingTable,
    def: Option<&TableDef>,
) -> UserResult<()> {
    if let Some((version, _)) = &table.base
        && db.tables.get(name).is_ok_and(|t| t.version() != *version)
    {
        return Err(concurrent_update(name));
    }
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
    } else {
        let stored = db.tables.get(name)?;
        if constraints.is_some() {
            stored
                .set_constraints(TableConstraints::default())
                .map_err(EngineError::from)?;
        }
        stored.replace(table.batches.clone())?;
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
    Ok(())
}

/// A rewrite of a table another writer changed since it was read.
fn concurrent_update(table: &str) -> UserError {
    UserError {
        detail: Some(format!(
            "table \"{table}\" was written by another session or streaming query since this transaction read it; retry the transaction"
        )),
        ..UserError::new(
            "40001",
            "could not serialize access due to concurrent update",
        )
    }
}
