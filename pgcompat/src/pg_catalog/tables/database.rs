//! Where things live: `pg_database` (Eddy's one database under each of
//! the names a client may connect with), `pg_namespace` (the three
//! schemas) and `pg_tablespace`.

use datafusion::catalog::MemTable;
use datafusion::error::Result as DfResult;

use super::super::context::CatalogContext;
use super::super::oids;
use super::super::rows::{Col::*, boolean, int, null, table, text};

/// Eddy's one database under each of its names.
pub(super) fn pg_database(ctx: &CatalogContext) -> DfResult<MemTable> {
    table(
        &[
            ("oid", Oid),
            ("datname", Text),
            ("datdba", Oid),
            ("encoding", I32),
            ("datlocprovider", Text),
            ("datistemplate", Bool),
            ("datallowconn", Bool),
            ("datconnlimit", I32),
            ("datfrozenxid", I64),
            ("datminmxid", I64),
            ("dattablespace", Oid),
            ("datcollate", Text),
            ("datctype", Text),
            ("daticulocale", Text),
            ("daticurules", Text),
            ("datcollversion", Text),
            ("datacl", TextArray),
        ],
        ctx.source
            .databases()
            .iter()
            .map(|d| {
                vec![
                    int(d.oid),
                    text(d.name),
                    int(10),
                    int(6),
                    text("c"),
                    boolean(d.is_template),
                    boolean(true),
                    int(-1),
                    int(0),
                    int(0),
                    int(oids::PG_DEFAULT_TABLESPACE),
                    text("C"),
                    text("C"),
                    null(),
                    null(),
                    null(),
                    null(),
                ]
            })
            .collect(),
    )
}

pub(super) fn pg_namespace() -> DfResult<MemTable> {
    let row = |oid: i64, name: &str| vec![int(oid), text(name), int(10), null()];
    table(
        &[
            ("oid", Oid),
            ("nspname", Text),
            ("nspowner", Oid),
            ("nspacl", TextArray),
        ],
        vec![
            row(oids::PG_CATALOG, "pg_catalog"),
            row(oids::PUBLIC, "public"),
            row(oids::EDDY_CATALOG, oids::EDDY_CATALOG_SCHEMA),
            row(oids::INFORMATION_SCHEMA, "information_schema"),
        ],
    )
}

pub(super) fn pg_tablespace() -> DfResult<MemTable> {
    table(
        &[
            ("oid", Oid),
            ("spcname", Text),
            ("spcowner", Oid),
            ("spcacl", TextArray),
            ("spcoptions", TextArray),
        ],
        vec![
            vec![int(1663), text("pg_default"), int(10), null(), null()],
            vec![int(1664), text("pg_global"), int(10), null(), null()],
        ],
    )
}
