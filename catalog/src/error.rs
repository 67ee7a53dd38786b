use crate::ObjectKind;

/// Errors of the catalog. `AlreadyExists`, `NotFound` and `HasDependents` are
/// the user's to fix; `Storage` and `Corrupt` are faults of the disk or a bug.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{kind} \"{name}\" already exists")]
    AlreadyExists { kind: ObjectKind, name: String },
    #[error("{kind} \"{name}\" does not exist")]
    NotFound { kind: ObjectKind, name: String },
    #[error("\"{name}\" is a {actual}, not a {expected}")]
    WrongKind {
        name: String,
        expected: ObjectKind,
        actual: ObjectKind,
    },
    #[error(
        "cannot drop {kind} \"{name}\" because other objects depend on it: {}",
        dependents.iter().map(|(k, n)| format!("{k} \"{n}\"")).collect::<Vec<_>>().join(", ")
    )]
    HasDependents {
        kind: ObjectKind,
        name: String,
        dependents: Vec<(ObjectKind, String)>,
    },
    #[error("{kind} \"{name}\" depends on {dep_kind} \"{dep}\", which does not exist")]
    MissingDependency {
        kind: ObjectKind,
        name: String,
        dep_kind: ObjectKind,
        dep: String,
    },
    /// `DROP TABLE` of a table another table's foreign key references.
    #[error("cannot drop table {table} because other objects depend on it")]
    ReferencedByForeignKey {
        table: String,
        constraint: String,
        referencing: String,
    },
    /// Another transaction committed a change of a name this one changes
    /// since this one first touched it.
    #[error(
        "could not commit: {kind} \"{name}\" was {} by another session meanwhile",
        if *created { "created" } else { "changed" }
    )]
    Conflict {
        kind: ObjectKind,
        name: String,
        created: bool,
    },
    #[error("catalog storage error: {0}")]
    Storage(#[from] sled::Error),
    #[error("catalog entry \"{key}\" is corrupt: {reason}")]
    Corrupt { key: String, reason: String },
}
