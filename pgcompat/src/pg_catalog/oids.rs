//! OIDs: the ones PostgreSQL gives its fixed objects, and stable ones for
//! Eddy's relations ([`relation_oid`]).

use eddy_catalog::{CatalogObject, ObjectKind};

pub const BOOTSTRAP_SUPERUSER: i64 = 10;
pub const PG_CATALOG: i64 = 11;
pub const PUBLIC: i64 = 2200;
/// The schema of Eddy's system relations (query progress), and its OID:
/// below PostgreSQL's first user OID (16384), as initdb's objects are.
pub const EDDY_CATALOG_SCHEMA: &str = "eddy_catalog";
pub const EDDY_CATALOG: i64 = 16_000;

/// The OID of a relation's schema.
pub fn namespace_oid(schema: &str) -> i64 {
    if schema == EDDY_CATALOG_SCHEMA {
        EDDY_CATALOG
    } else {
        PUBLIC
    }
}
pub const INFORMATION_SCHEMA: i64 = 13_183;
pub const HEAP_AM: i64 = 2;
pub const BTREE_AM: i64 = 403;
pub const PG_DEFAULT_TABLESPACE: i64 = 1663;
pub const DEFAULT_COLLATION: i64 = 100;
/// `pg_class`'s own OID (the `classoid` of a relation's comment).
pub const PG_CLASS: i64 = 1259;
/// `pg_class` rows of the system catalogs themselves, for
/// `'pg_class'::regclass` and `classoid` columns.
pub const SYSTEM_RELATIONS: &[(&str, i64)] = &[
    ("pg_type", 1247),
    ("pg_attribute", 1249),
    ("pg_proc", 1255),
    ("pg_class", 1259),
    ("pg_database", 1262),
    ("pg_namespace", 2615),
    ("pg_constraint", 2606),
    ("pg_description", 2609),
    ("pg_index", 2610),
    ("pg_attrdef", 2604),
    ("pg_am", 2601),
    ("pg_authid", 1260),
    ("pg_roles", 12_001),
    ("pg_settings", 12_002),
];

/// The OID of an Eddy relation: FNV-1a of `kind:name`, folded into
/// PostgreSQL's range for user objects (≥ 16384, below 2³¹), so that it is
/// the same in every session and after a restart.
pub fn relation_oid(kind: &str, name: &str) -> i64 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in kind.bytes().chain([b':']).chain(name.bytes()) {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    16_385 + i64::from(hash % (0x7fff_ffff - 16_385))
}

/// The kind part of an object's [`relation_oid`].
pub(crate) fn kind_key(obj: &CatalogObject) -> &'static str {
    match obj.kind() {
        ObjectKind::Table => "table",
        ObjectKind::Source => "source",
        ObjectKind::StreamingQuery => "streaming_query",
        ObjectKind::Sink => "sink",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relation_oids_are_stable_and_in_the_user_range() {
        let a = relation_oid("table", "orders");
        assert_eq!(a, relation_oid("table", "orders"));
        assert_ne!(a, relation_oid("source", "orders"));
        assert!((16_384..i64::from(i32::MAX)).contains(&a));
    }
}
