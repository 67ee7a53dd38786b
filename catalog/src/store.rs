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
    write_lock: Mutex<()>,
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

    /// Looks up an object that must be of exactly `kind`.
    pub fn get(&self, kind: ObjectKind, name: &str) -> Result<CatalogObject, CatalogError> {
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

    /// Every object, in an order where an object comes after what it
    /// depends on (sinks and relations without dependencies first).
    pub fn list_all(&self) -> Result<Vec<CatalogObject>, CatalogError> {
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

    /// Stores a new object. Returns `Ok(false)` when an object of that name
    /// exists and `if_not_exists` is set (PostgreSQL's "already exists,
    /// skipping" notice).
    pub fn create(&self, obj: CatalogObject, if_not_exists: bool) -> Result<bool, CatalogError> {
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let kind = obj.kind();
        if let Some(existing) = self.lookup(kind, obj.name())? {
            if if_not_exists {
                return Ok(false);
            }
            return Err(CatalogError::AlreadyExists {
                kind: existing.kind(),
                name: obj.name().to_string(),
            });
        }
        self.check_dependencies(&obj)?;
        self.put(&obj)?;
        Ok(true)
    }

    /// Replaces an existing object of the same kind (or creates it).
    pub fn create_or_replace(&self, obj: CatalogObject) -> Result<(), CatalogError> {
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = self.lookup(obj.kind(), obj.name())?
            && existing.kind() != obj.kind()
        {
            return Err(CatalogError::AlreadyExists {
                kind: existing.kind(),
                name: obj.name().to_string(),
            });
        }
        self.check_dependencies(&obj)?;
        self.put(&obj)
    }

    /// Applies a transaction's changes in one sled transaction: every
    /// `(kind, name, Some(object))` is stored, every `(kind, name, None)`
    /// removed, all or nothing, flushed before returning. The caller has
    /// checked existence and dependencies against its own view.
    pub fn apply(
        &self,
        changes: &[(ObjectKind, String, Option<CatalogObject>)],
    ) -> Result<(), CatalogError> {
        use sled::Transactional;
        use sled::transaction::{ConflictableTransactionError, TransactionError};
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
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

    fn put(&self, obj: &CatalogObject) -> Result<(), CatalogError> {
        let value = serde_json::to_vec(obj).expect("catalog objects always serialise");
        self.tree(obj.kind()).insert(obj.name(), value)?;
        self.db.flush()?;
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

    /// The objects that depend directly on (kind, name).
    pub fn dependents(
        &self,
        kind: ObjectKind,
        name: &str,
    ) -> Result<Vec<CatalogObject>, CatalogError> {
        let mut out = Vec::new();
        for obj in self.list_all()? {
            let depends = obj
                .dependencies()
                .iter()
                .any(|(k, n)| k.is_relation() == kind.is_relation() && n == name);
            if depends {
                out.push(obj);
            }
        }
        Ok(out)
    }

    /// Drops an object of exactly `kind`. Without `cascade`, refuses when
    /// others depend on it, naming them. Returns the dropped objects,
    /// dependents before the objects they depend on; empty when the object
    /// did not exist and `if_exists` is set.
    pub fn drop_object(
        &self,
        kind: ObjectKind,
        name: &str,
        if_exists: bool,
        cascade: bool,
    ) -> Result<Vec<CatalogObject>, CatalogError> {
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let obj = match self.get(kind, name) {
            Ok(obj) => obj,
            Err(CatalogError::NotFound { .. }) if if_exists => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut order = Vec::new();
        self.collect_drop_order(obj, cascade, &mut order)?;
        for obj in &order {
            self.tree(obj.kind()).remove(obj.name())?;
        }
        self.db.flush()?;
        Ok(order)
    }

    fn collect_drop_order(
        &self,
        obj: CatalogObject,
        cascade: bool,
        order: &mut Vec<CatalogObject>,
    ) -> Result<(), CatalogError> {
        let dependents = self.dependents(obj.kind(), obj.name())?;
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
                self.collect_drop_order(dep, cascade, order)?;
            }
        }
        order.push(obj);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::{SinkDef, StreamingQueryDef, TableDef};

    fn table(name: &str) -> CatalogObject {
        CatalogObject::Table(TableDef {
            name: name.into(),
            columns: vec![],
            primary_key: vec![],
            primary_key_name: None,
            indexes: vec![],
            foreign_keys: vec![],
            comments: Default::default(),
            sql: format!("CREATE TABLE {name} ()"),
        })
    }

    fn sink_into(name: &str, table: &str) -> CatalogObject {
        let mut options = BTreeMap::new();
        options.insert("table".to_string(), table.to_string());
        CatalogObject::Sink(SinkDef {
            name: name.into(),
            connector: "table".into(),
            options,
            sql: String::new(),
        })
    }

    #[test]
    fn drop_refuses_dependents_and_cascades() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::open(dir.path()).unwrap();
        cat.create(table("t"), false).unwrap();
        cat.create(table("input"), false).unwrap();
        cat.create(sink_into("s", "t"), false).unwrap();
        cat.create(
            CatalogObject::StreamingQuery(StreamingQueryDef {
                name: "q".into(),
                options: BTreeMap::new(),
                sink: "s".into(),
                query: "SELECT * FROM input".into(),
                inputs: vec!["input".into()],
                incarnation: 1,
                sql: String::new(),
            }),
            false,
        )
        .unwrap();

        let err = cat
            .drop_object(ObjectKind::Table, "t", false, false)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot drop table \"t\" because other objects depend on it: sink \"s\""
        );
        let dropped = cat
            .drop_object(ObjectKind::Table, "t", false, true)
            .unwrap();
        let names: Vec<_> = dropped.iter().map(|o| o.name().to_string()).collect();
        assert_eq!(names, ["q", "s", "t"]);
        assert!(cat.list(ObjectKind::StreamingQuery).unwrap().is_empty());
    }

    #[test]
    fn apply_stores_and_removes_in_one_step() {
        let dir = tempfile::tempdir().unwrap();
        {
            let cat = Catalog::open(dir.path()).unwrap();
            cat.create(table("old"), false).unwrap();
            cat.apply(&[
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

    #[test]
    fn definitions_survive_reopen_and_if_not_exists_skips() {
        let dir = tempfile::tempdir().unwrap();
        {
            let cat = Catalog::open(dir.path()).unwrap();
            assert!(cat.create(table("t"), false).unwrap());
            assert!(!cat.create(table("t"), true).unwrap());
            assert!(matches!(
                cat.create(table("t"), false),
                Err(CatalogError::AlreadyExists { .. })
            ));
        }
        let cat = Catalog::open(dir.path()).unwrap();
        assert_eq!(cat.list(ObjectKind::Table).unwrap(), vec![table("t")]);
        assert!(
            cat.drop_object(ObjectKind::Table, "nope", true, false)
                .unwrap()
                .is_empty()
        );
    }
}
