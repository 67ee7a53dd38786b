//! The objects every PostgreSQL database has, as Eddy reports them: access
//! methods (`pg_am`), procedural languages (`pg_language`), collations
//! (`pg_collation`) and the `plpgsql` extension (`pg_extension`).

use datafusion::catalog::MemTable;
use datafusion::error::Result as DfResult;

use super::super::oids;
use super::super::rows::{Col::*, boolean, int, null, table, text};

pub(super) fn pg_am() -> DfResult<MemTable> {
    table(
        &[
            ("oid", Oid),
            ("amname", Text),
            ("amhandler", Text),
            ("amtype", Text),
        ],
        vec![
            vec![
                int(oids::HEAP_AM),
                text("heap"),
                text("heap_tableam_handler"),
                text("t"),
            ],
            vec![
                int(oids::BTREE_AM),
                text("btree"),
                text("bthandler"),
                text("i"),
            ],
            vec![int(405), text("hash"), text("hashhandler"), text("i")],
        ],
    )
}

pub(super) fn pg_language() -> DfResult<MemTable> {
    table(
        &[
            ("oid", Oid),
            ("lanname", Text),
            ("lanowner", Oid),
            ("lanispl", Bool),
            ("lanpltrusted", Bool),
        ],
        vec![
            vec![
                int(12),
                text("internal"),
                int(10),
                boolean(false),
                boolean(false),
            ],
            vec![int(13), text("c"), int(10), boolean(false), boolean(false)],
            vec![int(14), text("sql"), int(10), boolean(false), boolean(true)],
        ],
    )
}

pub(super) fn pg_collation() -> DfResult<MemTable> {
    let row = |oid: i64, name: &str, provider: &str| {
        vec![
            int(oid),
            text(name),
            int(oids::PG_CATALOG),
            int(10),
            text(provider),
            boolean(true),
            int(-1),
            text("C"),
            text("C"),
            null(),
            null(),
        ]
    };
    table(
        &[
            ("oid", Oid),
            ("collname", Text),
            ("collnamespace", Oid),
            ("collowner", Oid),
            ("collprovider", Text),
            ("collisdeterministic", Bool),
            ("collencoding", I32),
            ("collcollate", Text),
            ("collctype", Text),
            ("colliculocale", Text),
            ("collversion", Text),
        ],
        vec![
            row(oids::DEFAULT_COLLATION, "default", "d"),
            row(950, "C", "c"),
            row(951, "POSIX", "c"),
        ],
    )
}

pub(super) fn pg_extension() -> DfResult<MemTable> {
    table(
        &[
            ("oid", Oid),
            ("extname", Text),
            ("extowner", Oid),
            ("extnamespace", Oid),
            ("extrelocatable", Bool),
            ("extversion", Text),
            ("extconfig", OidArray),
            ("extcondition", TextArray),
        ],
        vec![vec![
            int(13_000),
            text("plpgsql"),
            int(10),
            int(oids::PG_CATALOG),
            boolean(false),
            text("1.0"),
            null(),
            null(),
        ]],
    )
}
