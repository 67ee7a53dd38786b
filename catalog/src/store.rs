//! The sled-backed store. Two trees: `relations` (sources, tables, streaming
//! queries) and `sinks`. Every mutation is flushed before it returns.

use std::path::Path;
use std::sync::Mutex;

use crate::{CatalogError, CatalogObject, ObjectKind};

pub struct Catalog {
    db: sled::Db,
    relations: sled::Tree,
    sinks: sled::Tree,
    /// Serialises check-then-write sequences (existence and dependency
    /// checks followed by an insert or remove).
    pub(crate) write_lock: Mutex<()>,
}

impl Catalog {
    /// Opens (or creates) the catalog in `dir`.
    pub fn open(dir: &Path) -> Result<Catalog, CatalogError> {
        let db = sled::Config::new().path(dir).open()?;
        let relations = db.open_tree("relations")?;
        let sinks = db.open_tree("sinks")?;
        Ok(Catalog {
            db,
            relations,
            sinks,
            write_lock: Mutex::new(()),
        })
    }

    fn tree(&self, kind: ObjectKind) -> &sled::Tree {
        if kind.is_relation() {
            &self.relations
        } else {
            &self.sinks
        }
    }

    fn decode(key: &[u8], value: &[u8]) -> Result<CatalogObject, CatalogError> {
        serde_json::from_slice(value).map_err(|e| CatalogError::Corrupt {
            key: String::from_utf8_lossy(key).into_owned(),
            reason: e.to_string(),
        })
    }

    /// Looks an object up in the namespace of `kind` (relations or sinks),
    /// whatever its exact kind.
    pub fn lookup(
        &self,
        kind: ObjectKind,
        name: &str,
    ) -> Result<Option<CatalogObject>, CatalogError> {
        match self.tree(kind).get(name)? {
            Some(v) => Ok(Some(Self::decode(name.as_bytes(), &v)?)),
            None => Ok(None),
        }
    }

    /// All objects of `kind`, ordered by name.
    pub fn list(&self, kind: ObjectKind) -> Result<Vec<CatalogObject>, CatalogError> {
        let mut out = Vec::new();
        for entry in self.tree(kind).iter() {
            let (k, v) = entry?;
            let obj = Self::decode(&k, &v)?;
            if obj.kind() == kind {
                out.push(obj);
            }
        }
        Ok(out)
    }

    /// Stores every `(kind, name, Some(object))` and removes every
    /// `(kind, name, None)` in one sled transaction, all or nothing,
    /// flushed before returning. The caller holds the write lock and has
    /// checked the changes ([`Catalog::commit`]).
    pub(crate) fn apply_locked(
        &self,
        changes: &[(ObjectKind, String, Option<CatalogObject>)],
    ) -> Result<(), CatalogError> {
        use sled::Transactional;
        use sled::transaction::{ConflictableTransactionError, TransactionError};
        let encoded: Vec<(bool, &str, Option<Vec<u8>>)> = changes
            .iter()
            .map(|(kind, name, obj)| {
                let value = obj
                    .as_ref()
                    .map(|o| serde_json::to_vec(o).expect("catalog objects always serialise"));
                (kind.is_relation(), name.as_str(), value)
            })
            .collect();
        (&self.relations, &self.sinks)
            .transaction(|(relations, sinks)| {
                for (is_relation, name, value) in &encoded {
                    let tree = if *is_relation { relations } else { sinks };
                    match value {
                        Some(v) => tree.insert(*name, v.clone())?,
                        None => tree.remove(*name)?,
                    };
                }
                Ok::<(), ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                TransactionError::Storage(e) => CatalogError::Storage(e),
                TransactionError::Abort(()) => {
                    CatalogError::Storage(sled::Error::Unsupported("aborted".into()))
                }
            })?;
        self.db.flush()?;
        Ok(())
    }
}

impl crate::Objects for Catalog {
    fn lookup(&self, kind: ObjectKind, name: &str) -> Result<Option<CatalogObject>, CatalogError> {
        Catalog::lookup(self, kind, name)
    }

    fn list(&self, kind: ObjectKind) -> Result<Vec<CatalogObject>, CatalogError> {
        Catalog::list(self, kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transaction::tests::{sink_into, table};

    #[test]
    fn apply_stores_and_removes_in_one_step() {
        let dir = tempfile::tempdir().unwrap();
        {
            let cat = Catalog::open(dir.path()).unwrap();
            cat.apply_locked(&[(ObjectKind::Table, "old".into(), Some(table("old")))])
                .unwrap();
            cat.apply_locked(&[
                (ObjectKind::Table, "old".into(), None),
                (ObjectKind::Table, "new".into(), Some(table("new"))),
                (ObjectKind::Sink, "s".into(), Some(sink_into("s", "new"))),
            ])
            .unwrap();
        }
        let cat = Catalog::open(dir.path()).unwrap();
        assert_eq!(cat.list(ObjectKind::Table).unwrap(), vec![table("new")]);
        assert_eq!(cat.list(ObjectKind::Sink).unwrap().len(), 1);
    }
}
