//! Catalog transactions: a private overlay of definitions over the committed
//! catalog, checked and applied in one step at commit.
//!
//! ```text
//!  Transaction { base: what each touched name held when first touched,
//!                pending: name → Some(definition) | None (dropped) }
//!  reads  ──► pending, else the committed catalog
//!  commit ──► under the catalog's write lock: every touched name still
//!             holds its base (else Conflict), every definition's
//!             dependencies exist in the result (else MissingDependency or
//!             HasDependents), then one sled transaction
//! ```
//!
//! A transaction is a value: cloning it is a savepoint, dropping it a
//! rollback. Two transactions that touch different names commit in either
//! order; two that touch the same name conflict, and the second fails
//! rather than overwrite what the first did.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::{Catalog, CatalogError, CatalogObject, ObjectKind};

/// An object's key: its namespace (relations or sinks) and its name.
type Key = (bool, String);

fn key(kind: ObjectKind, name: &str) -> Key {
    (kind.is_relation(), name.to_string())
}

/// A kind that looks a key's name up in its namespace.
fn namespace_of(k: &Key) -> ObjectKind {
    if k.0 {
        ObjectKind::Table
    } else {
        ObjectKind::Sink
    }
}

/// Read access to definitions: the committed catalog or a transaction's
/// view of it. Job planning and the system catalogs read through it, so
/// that they see a transaction's own uncommitted objects.
pub trait Objects: Send + Sync {
    /// The object named `name` in the namespace of `kind`, whatever its
    /// exact kind.
    fn lookup(&self, kind: ObjectKind, name: &str) -> Result<Option<CatalogObject>, CatalogError>;

    /// All objects of exactly `kind`, ordered by name.
    fn list(&self, kind: ObjectKind) -> Result<Vec<CatalogObject>, CatalogError>;

    /// The object named `name`, which must be of exactly `kind`.
    fn get(&self, kind: ObjectKind, name: &str) -> Result<CatalogObject, CatalogError> {
        match self.lookup(kind, name)? {
            Some(obj) if obj.kind() == kind => Ok(obj),
            Some(obj) => Err(CatalogError::WrongKind {
                name: name.to_string(),
                expected: kind,
                actual: obj.kind(),
            }),
            None => Err(CatalogError::NotFound {
                kind,
                name: name.to_string(),
            }),
        }
    }

    /// Every object, an object after what it depends on (tables, sources,
    /// sinks, then streaming queries).
    fn list_all(&self) -> Result<Vec<CatalogObject>, CatalogError> {
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
}

/// One change a commit made: a name's definition before and after.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub kind: ObjectKind,
    pub name: String,
    pub before: Option<CatalogObject>,
    pub after: Option<CatalogObject>,
}

/// A catalog transaction. See the module documentation.
#[derive(Clone)]
pub struct Transaction {
    catalog: Arc<Catalog>,
    /// What each touched name held in the committed catalog when this
    /// transaction first touched it.
    base: BTreeMap<Key, Option<CatalogObject>>,
    /// What this transaction made of each touched name.
    pending: BTreeMap<Key, Option<CatalogObject>>,
    /// Names whose committed definition this transaction relies on without
    /// changing it (a table it writes rows to): their base is kept too.
    relied_on: BTreeSet<Key>,
}

impl Catalog {
    /// Starts a transaction over this catalog.
    pub fn begin(self: &Arc<Self>) -> Transaction {
        Transaction {
            catalog: self.clone(),
            base: BTreeMap::new(),
            pending: BTreeMap::new(),
            relied_on: BTreeSet::new(),
        }
    }
}

impl Objects for Transaction {
    fn lookup(&self, kind: ObjectKind, name: &str) -> Result<Option<CatalogObject>, CatalogError> {
        match self.pending.get(&key(kind, name)) {
            Some(pending) => Ok(pending.clone()),
            None => self.catalog.lookup(kind, name),
        }
    }

    fn list(&self, kind: ObjectKind) -> Result<Vec<CatalogObject>, CatalogError> {
        let mut by_name: BTreeMap<String, CatalogObject> = self
            .catalog
            .list(kind)?
            .into_iter()
            .map(|o| (o.name().to_string(), o))
            .collect();
        for ((is_relation, name), obj) in &self.pending {
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
}

impl Transaction {
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// Whether the transaction changes nothing (names it created and
    /// dropped again count as nothing).
    pub fn is_empty(&self) -> bool {
        self.pending
            .iter()
            .all(|(k, v)| self.base.get(k) == Some(v))
    }

    /// Whether the transaction created, changed or dropped an object of
    /// that name, in either namespace.
    pub fn touches(&self, name: &str) -> bool {
        self.pending.contains_key(&(true, name.to_string()))
            || self.pending.contains_key(&(false, name.to_string()))
    }

    /// What this transaction made of a name: `None` when it has not
    /// touched it, `Some(None)` when it dropped it.
    pub fn pending(&self, kind: ObjectKind, name: &str) -> Option<Option<&CatalogObject>> {
        self.pending.get(&key(kind, name)).map(Option::as_ref)
    }

    /// What the committed catalog held under this name when the
    /// transaction first touched it (the committed catalog now, if it has
    /// not touched it).
    pub fn committed(
        &self,
        kind: ObjectKind,
        name: &str,
    ) -> Result<Option<CatalogObject>, CatalogError> {
        match self.base.get(&key(kind, name)) {
            Some(base) => Ok(base.clone()),
            None => self.catalog.lookup(kind, name),
        }
    }

    /// Records that this transaction relies on what the committed catalog
    /// holds under a name (the definition of a table it writes rows to):
    /// if another transaction changes or drops it before this one commits,
    /// the commit fails with [`CatalogError::Conflict`].
    pub fn rely_on(&mut self, kind: ObjectKind, name: &str) -> Result<(), CatalogError> {
        let k = key(kind, name);
        if self.pending.contains_key(&k) {
            return Ok(());
        }
        self.record_base(&k)?;
        self.relied_on.insert(k);
        Ok(())
    }

    fn record_base(&mut self, k: &Key) -> Result<(), CatalogError> {
        if !self.base.contains_key(k) {
            let committed = self.catalog.lookup(namespace_of(k), &k.1)?;
            self.base.insert(k.clone(), committed);
        }
        Ok(())
    }

    fn set(&mut self, k: Key, obj: Option<CatalogObject>) -> Result<(), CatalogError> {
        self.record_base(&k)?;
        self.pending.insert(k, obj);
        Ok(())
    }

    fn check_dependencies(&self, obj: &CatalogObject) -> Result<(), CatalogError> {
        for (dep_kind, dep) in obj.dependencies() {
            if self.lookup(dep_kind, &dep)?.is_none() {
                return Err(CatalogError::MissingDependency {
                    kind: obj.kind(),
                    name: obj.name().to_string(),
                    dep_kind,
                    dep,
                });
            }
        }
        Ok(())
    }

    /// Creates an object. `Ok(false)` when one of that name exists and
    /// `if_not_exists` is set.
    pub fn create(
        &mut self,
        obj: CatalogObject,
        if_not_exists: bool,
    ) -> Result<bool, CatalogError> {
        if let Some(existing) = self.lookup(obj.kind(), obj.name())? {
            if if_not_exists {
                return Ok(false);
            }
            return Err(CatalogError::AlreadyExists {
                kind: existing.kind(),
                name: obj.name().to_string(),
            });
        }
        self.put(obj)?;
        Ok(true)
    }

    /// Replaces an object of the same kind, or creates it.
    pub fn create_or_replace(&mut self, obj: CatalogObject) -> Result<(), CatalogError> {
        if let Some(existing) = self.lookup(obj.kind(), obj.name())?
            && existing.kind() != obj.kind()
        {
            return Err(CatalogError::AlreadyExists {
                kind: existing.kind(),
                name: obj.name().to_string(),
            });
        }
        self.put(obj)
    }

    /// Stores a definition, new or a changed version of an existing one,
    /// after checking that what it depends on exists.
    pub fn put(&mut self, obj: CatalogObject) -> Result<(), CatalogError> {
        self.check_dependencies(&obj)?;
        self.set(key(obj.kind(), obj.name()), Some(obj))
    }

    /// Removes a definition without dependency checks (a rename's old
    /// name, whose dependents are re-pointed by the caller).
    pub fn remove(&mut self, kind: ObjectKind, name: &str) -> Result<(), CatalogError> {
        self.set(key(kind, name), None)
    }

    /// Drops an object of exactly `kind`, with its dependents when
    /// `cascade`. Foreign keys of other tables that reference a dropped
    /// table keep it from being dropped without `cascade`, as in
    /// PostgreSQL; with it they are dropped, not their tables. Returns the
    /// dropped objects, dependents first; empty when missing and
    /// `if_exists`.
    pub fn drop_object(
        &mut self,
        kind: ObjectKind,
        name: &str,
        if_exists: bool,
        cascade: bool,
    ) -> Result<Vec<CatalogObject>, CatalogError> {
        let obj = match self.get(kind, name) {
            Ok(obj) => obj,
            Err(CatalogError::NotFound { .. }) if if_exists => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let all = self.list_all()?;
        if kind == ObjectKind::Table {
            self.drop_foreign_keys_to(&all, name, cascade)?;
        }
        let mut order = Vec::new();
        collect_drop_order(&all, obj, cascade, &mut order)?;
        for obj in &order {
            self.remove(obj.kind(), obj.name())?;
        }
        Ok(order)
    }

    fn drop_foreign_keys_to(
        &mut self,
        all: &[CatalogObject],
        name: &str,
        cascade: bool,
    ) -> Result<(), CatalogError> {
        for obj in all {
            let CatalogObject::Table(t) = obj else {
                continue;
            };
            if t.name == name {
                continue;
            }
            let Some(fk) = t.foreign_keys.iter().find(|f| f.references == name) else {
                continue;
            };
            if !cascade {
                return Err(CatalogError::ReferencedByForeignKey {
                    table: name.to_string(),
                    constraint: fk.name.clone(),
                    referencing: t.name.clone(),
                });
            }
            let mut t = t.clone();
            t.foreign_keys.retain(|f| f.references != name);
            self.put(CatalogObject::Table(t))?;
        }
        Ok(())
    }

    /// The changes this transaction would make, names created and dropped
    /// again left out.
    pub fn changes(&self) -> Vec<Change> {
        self.pending
            .iter()
            .filter(|(k, after)| self.base.get(*k) != Some(*after))
            .map(|(k, after)| {
                let before = self.base.get(k).cloned().flatten();
                let kind = after
                    .as_ref()
                    .or(before.as_ref())
                    .map_or(namespace_of(k), CatalogObject::kind);
                Change {
                    kind,
                    name: k.1.clone(),
                    before,
                    after: after.clone(),
                }
            })
            .collect()
    }
}

impl Catalog {
    /// Checks that `tx` could commit now: every name it touched still holds
    /// what it held when first touched, and every definition of the result
    /// has what it depends on. Commit checks again, under the write lock.
    pub fn check(&self, tx: &Transaction) -> Result<(), CatalogError> {
        let changes = tx.changes();
        for change in &changes {
            let now = self.lookup(change.kind, &change.name)?;
            if now != change.before {
                return Err(CatalogError::Conflict {
                    kind: now.as_ref().map_or(change.kind, CatalogObject::kind),
                    name: change.name.clone(),
                    created: change.before.is_none(),
                });
            }
        }
        for k in &tx.relied_on {
            let kind = namespace_of(k);
            let base = tx.base.get(k).cloned().flatten();
            let now = self.lookup(kind, &k.1)?;
            if now != base {
                return Err(CatalogError::Conflict {
                    kind: base.as_ref().map_or(kind, CatalogObject::kind),
                    name: k.1.clone(),
                    created: base.is_none(),
                });
            }
        }
        // Every definition the transaction stores has what it depends on,
        // and nothing depends on a name it drops.
        for change in &changes {
            match &change.after {
                Some(obj) => tx.check_dependencies(obj)?,
                None => {
                    let dependents: Vec<(ObjectKind, String)> = tx
                        .list_all()?
                        .iter()
                        .filter(|o| {
                            o.dependencies().iter().any(|(k, n)| {
                                k.is_relation() == change.kind.is_relation() && *n == change.name
                            })
                        })
                        .map(|o| (o.kind(), o.name().to_string()))
                        .collect();
                    if !dependents.is_empty() {
                        return Err(CatalogError::HasDependents {
                            kind: change.kind,
                            name: change.name.clone(),
                            dependents,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Takes the write lock and [`check`](Self::check)s `tx` under it:
    /// until the returned guard is applied or dropped, no other commit can
    /// come between, so the caller can do what must happen with the
    /// catalog change (store table rows) and then apply it.
    pub fn lock_for_commit<'a>(
        &'a self,
        tx: &'a Transaction,
    ) -> Result<CommitGuard<'a>, CatalogError> {
        let lock = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.check(tx)?;
        Ok(CommitGuard {
            catalog: self,
            tx,
            _lock: lock,
        })
    }

    /// Commits a transaction: checks it and applies its changes in one sled
    /// transaction, flushed before returning. Returns what changed.
    pub fn commit(&self, tx: &Transaction) -> Result<Vec<Change>, CatalogError> {
        self.lock_for_commit(tx)?.apply()
    }
}

/// A checked transaction holding the catalog's write lock
/// ([`Catalog::lock_for_commit`]).
pub struct CommitGuard<'a> {
    catalog: &'a Catalog,
    tx: &'a Transaction,
    _lock: std::sync::MutexGuard<'a, ()>,
}

impl CommitGuard<'_> {
    /// Applies the changes in one sled transaction, flushed before
    /// returning, and releases the lock. Returns what changed.
    pub fn apply(self) -> Result<Vec<Change>, CatalogError> {
        let changes = self.tx.changes();
        let writes: Vec<(ObjectKind, String, Option<CatalogObject>)> = changes
            .iter()
            .map(|c| (c.kind, c.name.clone(), c.after.clone()))
            .collect();
        self.catalog.apply_locked(&writes)?;
        Ok(changes)
    }
}

fn collect_drop_order(
    all: &[CatalogObject],
    obj: CatalogObject,
    cascade: bool,
    order: &mut Vec<CatalogObject>,
) -> Result<(), CatalogError> {
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
        });
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

#[cfg(test)]
pub(crate) mod tests;
