//! The `pg_catalog` tables: PostgreSQL's column names and order (the
//! columns clients read), rows from the live catalog. Tables Eddy has no
//! content for (policies, triggers, publications, …) exist empty, so that
//! the queries joining them still plan.

use std::sync::Arc;

use datafusion::catalog::MemTable;
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;

use super::data::{
    Col::{self, *},
    ForeignKey, Index, Relation, Snapshot, boolean, int, int2_array, null, oid_array, table, text,
    text_array,
};
use super::{CatalogContext, oids, types};

pub const NAMES: &[&str] = &[
    "pg_am",
    "pg_attrdef",
    "pg_attribute",
    "pg_auth_members",
    "pg_authid",
    "pg_class",
    "pg_collation",
    "pg_constraint",
    "pg_database",
    "pg_description",
    "pg_enum",
    "pg_extension",
    "pg_foreign_data_wrapper",
    "pg_foreign_server",
    "pg_foreign_table",
    "pg_index",
    "pg_indexes",
    "pg_inherits",
    "pg_language",
    "pg_matviews",
    "pg_namespace",
    "pg_opclass",
    "pg_policy",
    "pg_proc",
    "pg_publication",
    "pg_publication_namespace",
    "pg_publication_rel",
    "pg_range",
    "pg_rewrite",
    "pg_roles",
    "pg_sequence",
    "pg_sequences",
    "pg_settings",
    "pg_shdescription",
    "pg_stat_activity",
    "pg_stat_user_tables",
    "pg_statistic_ext",
    "pg_tables",
    "pg_tablespace",
    "pg_trigger",
    "pg_type",
    "pg_user",
    "pg_views",
];

/// Builds `name`, or `None` if `pg_catalog` has no such table.
pub async fn build(ctx: &CatalogContext, name: &str) -> DfResult<Option<MemTable>> {
    let needs_snapshot = matches!(
        name,
        "pg_class"
            | "pg_attribute"
            | "pg_attrdef"
            | "pg_index"
            | "pg_indexes"
            | "pg_description"
            | "pg_constraint"
            | "pg_foreign_table"
            | "pg_foreign_server"
            | "pg_matviews"
            | "pg_tables"
            | "pg_stat_user_tables"
    );
    let snapshot = if needs_snapshot {
        ctx.snapshot().await
    } else {
        Arc::new(Snapshot::default())
    };
    let user = ctx.user();
    let table = match name {
        "pg_namespace" => pg_namespace(),
        "pg_class" => pg_class(&snapshot),
        "pg_attribute" => pg_attribute(&snapshot),
        "pg_attrdef" => pg_attrdef(&snapshot),
        "pg_index" => pg_index(&snapshot),
        "pg_indexes" => pg_indexes(&snapshot),
        "pg_constraint" => pg_constraint(&snapshot),
        "pg_type" => pg_type(),
        "pg_database" => pg_database(ctx),
        "pg_roles" | "pg_authid" => pg_roles(&roles(ctx)),
        "pg_user" => pg_user(&roles(ctx)),
        "pg_auth_members" => empty(&[
            ("oid", Oid),
            ("roleid", Oid),
            ("member", Oid),
            ("grantor", Oid),
            ("admin_option", Bool),
        ]),
        "pg_am" => pg_am(),
        "pg_settings" => pg_settings(ctx),
        "pg_extension" => pg_extension(),
        "pg_stat_user_tables" => pg_stat_user_tables(&snapshot),
        "pg_tables" => pg_tables(&snapshot, &user),
        "pg_matviews" => pg_matviews(&snapshot, &user),
        "pg_foreign_table" => pg_foreign_table(&snapshot),
        "pg_foreign_server" => pg_foreign_server(&snapshot),
        "pg_tablespace" => table(
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
        ),
        "pg_collation" => pg_collation(),
        "pg_language" => table(
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
        ),
        "pg_description" => pg_description(&snapshot),
        "pg_shdescription" => empty(&[("objoid", Oid), ("classoid", Oid), ("description", Text)]),
        "pg_proc" => empty(&[
            ("oid", Oid),
            ("proname", Text),
            ("pronamespace", Oid),
            ("proowner", Oid),
            ("prolang", Oid),
            ("prokind", Text),
            ("proretset", Bool),
            ("prorettype", Oid),
            ("pronargs", I16),
            ("proargtypes", OidArray),
            ("proargnames", TextArray),
            ("prosrc", Text),
        ]),
        "pg_inherits" => empty(&[
            ("inhrelid", Oid),
            ("inhparent", Oid),
            ("inhseqno", I32),
            ("inhdetachpending", Bool),
        ]),
        "pg_enum" => empty(&[
            ("oid", Oid),
            ("enumtypid", Oid),
            ("enumsortorder", F32),
            ("enumlabel", Text),
        ]),
        "pg_range" => empty(&[
            ("rngtypid", Oid),
            ("rngsubtype", Oid),
            ("rngmultitypid", Oid),
            ("rngcollation", Oid),
            ("rngsubopc", Oid),
            ("rngcanonical", Text),
            ("rngsubdiff", Text),
        ]),
        "pg_sequence" => empty(&[
            ("seqrelid", Oid),
            ("seqtypid", Oid),
            ("seqstart", I64),
            ("seqincrement", I64),
            ("seqmax", I64),
            ("seqmin", I64),
            ("seqcache", I64),
            ("seqcycle", Bool),
        ]),
        "pg_sequences" => empty(&[
            ("schemaname", Text),
            ("sequencename", Text),
            ("sequenceowner", Text),
            ("data_type", Text),
            ("start_value", I64),
            ("min_value", I64),
            ("max_value", I64),
            ("increment_by", I64),
            ("cycle", Bool),
            ("cache_size", I64),
            ("last_value", I64),
        ]),
        "pg_views" => empty(&[
            ("schemaname", Text),
            ("viewname", Text),
            ("viewowner", Text),
            ("definition", Text),
        ]),
        "pg_rewrite" => empty(&[
            ("oid", Oid),
            ("rulename", Text),
            ("ev_class", Oid),
            ("ev_type", Text),
            ("ev_enabled", Text),
            ("is_instead", Bool),
            ("ev_qual", Text),
            ("ev_action", Text),
        ]),
        "pg_opclass" => empty(&[
            ("oid", Oid),
            ("opcmethod", Oid),
            ("opcname", Text),
            ("opcnamespace", Oid),
            ("opcowner", Oid),
            ("opcfamily", Oid),
            ("opcintype", Oid),
            ("opcdefault", Bool),
            ("opckeytype", Oid),
        ]),
        "pg_policy" => empty(&[
            ("oid", Oid),
            ("polname", Text),
            ("polrelid", Oid),
            ("polcmd", Text),
            ("polpermissive", Bool),
            ("polroles", OidArray),
            ("polqual", Text),
            ("polwithcheck", Text),
        ]),
        "pg_statistic_ext" => empty(&[
            ("oid", Oid),
            ("stxrelid", Oid),
            ("stxname", Text),
            ("stxnamespace", Oid),
            ("stxowner", Oid),
            ("stxstattarget", I32),
            ("stxkeys", I16Array),
            ("stxkind", TextArray),
            ("stxexprs", Text),
        ]),
        "pg_publication" => empty(&[
            ("oid", Oid),
            ("pubname", Text),
            ("pubowner", Oid),
            ("puballtables", Bool),
            ("pubinsert", Bool),
            ("pubupdate", Bool),
            ("pubdelete", Bool),
            ("pubtruncate", Bool),
            ("pubviaroot", Bool),
        ]),
        "pg_publication_rel" => empty(&[
            ("oid", Oid),
            ("prpubid", Oid),
            ("prrelid", Oid),
            ("prqual", Text),
            ("prattrs", I16Array),
        ]),
        "pg_publication_namespace" => empty(&[("oid", Oid), ("pnpubid", Oid), ("pnnspid", Oid)]),
        "pg_trigger" => empty(&[
            ("oid", Oid),
            ("tgrelid", Oid),
            ("tgparentid", Oid),
            ("tgname", Text),
            ("tgfoid", Oid),
            ("tgtype", I16),
            ("tgenabled", Text),
            ("tgisinternal", Bool),
            ("tgconstrrelid", Oid),
            ("tgconstrindid", Oid),
            ("tgconstraint", Oid),
            ("tgdeferrable", Bool),
            ("tginitdeferred", Bool),
            ("tgnargs", I16),
            ("tgattr", I16Array),
            ("tgqual", Text),
        ]),
        "pg_foreign_data_wrapper" => empty(&[
            ("oid", Oid),
            ("fdwname", Text),
            ("fdwowner", Oid),
            ("fdwhandler", Oid),
            ("fdwvalidator", Oid),
            ("fdwacl", TextArray),
            ("fdwoptions", TextArray),
        ]),
        "pg_stat_activity" => pg_stat_activity(ctx, &user),
        _ => return Ok(None),
    };
    table.map(Some)
}

fn empty(columns: &[(&str, Col)]) -> DfResult<MemTable> {
    table(columns, vec![])
}

fn pg_namespace() -> DfResult<MemTable> {
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
            row(oids::INFORMATION_SCHEMA, "information_schema"),
        ],
    )
}

/// One row of `pg_class`: an Eddy relation, or an index of a table.
struct ClassRow<'a> {
    oid: i64,
    name: String,
    relkind: &'static str,
    relation: &'a Relation,
    index: Option<&'a Index>,
}

/// The relations of `pg_class`: Eddy's and their indexes.
fn class_rows(snapshot: &Snapshot) -> Vec<ClassRow<'_>> {
    let mut rows = Vec::new();
    for r in &snapshot.relations {
        rows.push(ClassRow {
            oid: r.oid,
            name: r.name.clone(),
            relkind: r.relkind,
            relation: r,
            index: None,
        });
        for index in &r.indexes {
            rows.push(ClassRow {
                oid: index.oid(),
                name: index.name.clone(),
                relkind: "i",
                relation: r,
                index: Some(index),
            });
        }
    }
    rows
}

fn pg_class(snapshot: &Snapshot) -> DfResult<MemTable> {
    let columns = [
        ("oid", Oid),
        ("relname", Text),
        ("relnamespace", Oid),
        ("reltype", Oid),
        ("reloftype", Oid),
        ("relowner", Oid),
        ("relam", Oid),
        ("relfilenode", Oid),
        ("reltablespace", Oid),
        ("relpages", I32),
        ("reltuples", F32),
        ("relallvisible", I32),
        ("reltoastrelid", Oid),
        ("relhasindex", Bool),
        ("relisshared", Bool),
        ("relpersistence", Text),
        ("relkind", Text),
        ("relnatts", I16),
        ("relchecks", I16),
        ("relhasrules", Bool),
        ("relhastriggers", Bool),
        ("relhassubclass", Bool),
        ("relrowsecurity", Bool),
        ("relforcerowsecurity", Bool),
        ("relispopulated", Bool),
        ("relreplident", Text),
        ("relispartition", Bool),
        ("relrewrite", Oid),
        ("relfrozenxid", I64),
        ("relminmxid", I64),
        ("relacl", TextArray),
        ("reloptions", TextArray),
        ("relpartbound", Text),
    ];
    let in_foreign_keys: std::collections::HashSet<i64> = snapshot
        .relations
        .iter()
        .flat_map(|r| {
            r.foreign_keys
                .iter()
                .flat_map(move |f| [r.oid, f.referenced_oid])
        })
        .collect();
    let rows = class_rows(snapshot)
        .into_iter()
        .map(|row| {
            let ClassRow {
                oid,
                name,
                relkind,
                relation: r,
                index,
            } = row;
            let is_index = index.is_some();
            let am = match relkind {
                "r" | "m" => oids::HEAP_AM,
                "i" => oids::BTREE_AM,
                _ => 0,
            };
            let natts = index.map_or(r.columns.len(), |i| i.columns.len());
            let tuples = if is_index { None } else { r.rows };
            vec![
                int(oid),
                text(name),
                int(oids::PUBLIC),
                int(0),
                int(0),
                int(oids::BOOTSTRAP_SUPERUSER),
                int(am),
                int(oid),
                int(0),
                int(0),
                ScalarValue::Float32(Some(tuples.map_or(-1.0, |n| n as f32))),
                int(0),
                int(0),
                boolean(!is_index && !r.indexes.is_empty()),
                boolean(false),
                text("p"),
                text(relkind),
                int(natts as i64),
                int(0),
                boolean(false),
                // PostgreSQL's foreign keys are triggers; psql lists them
                // only for tables that have some.
                boolean(!is_index && in_foreign_keys.contains(&r.oid)),
                boolean(false),
                boolean(false),
                boolean(false),
                boolean(true),
                text(if is_index { "n" } else { "d" }),
                boolean(false),
                int(0),
                int(0),
                int(0),
                null(),
                null(),
                null(),
            ]
        })
        .collect();
    table(&columns, rows)
}

fn pg_attribute(snapshot: &Snapshot) -> DfResult<MemTable> {
    let columns = [
        ("attrelid", Oid),
        ("attname", Text),
        ("atttypid", Oid),
        ("attstattarget", I32),
        ("attlen", I16),
        ("attnum", I16),
        ("attndims", I32),
        ("attcacheoff", I32),
        ("atttypmod", I32),
        ("attbyval", Bool),
        ("attalign", Text),
        ("attstorage", Text),
        ("attcompression", Text),
        ("attnotnull", Bool),
        ("atthasdef", Bool),
        ("atthasmissing", Bool),
        ("attidentity", Text),
        ("attgenerated", Text),
        ("attisdropped", Bool),
        ("attislocal", Bool),
        ("attinhcount", I32),
        ("attcollation", Oid),
        ("attacl", TextArray),
        ("attoptions", TextArray),
        ("attfdwoptions", TextArray),
    ];
    let mut rows = Vec::new();
    for ClassRow {
        oid,
        relation: r,
        index,
        ..
    } in class_rows(snapshot)
    {
        let columns: Vec<&super::data::Column> = match index {
            Some(index) => index
                .columns
                .iter()
                .filter_map(|k| r.columns.iter().find(|c| &c.name == k))
                .collect(),
            None => r.columns.iter().collect(),
        };
        for (i, c) in columns.into_iter().enumerate() {
            let ty = types::by_oid(c.type_oid);
            // The type's collation, which clients show as "none".
            let collation = 0;
            rows.push(vec![
                int(oid),
                text(&c.name),
                int(c.type_oid),
                int(-1),
                int(ty.map_or(-1, |t| i64::from(t.len))),
                int(i as i64 + 1),
                int(0),
                int(-1),
                int(i64::from(c.typmod)),
                boolean(ty.is_some_and(|t| (1..=8).contains(&t.len))),
                text("i"),
                text("p"),
                text(""),
                boolean(c.not_null),
                boolean(index.is_none() && c.default.is_some()),
                boolean(false),
                text(""),
                text(""),
                boolean(false),
                boolean(true),
                int(0),
                int(collation),
                null(),
                null(),
                null(),
            ]);
        }
    }
    table(&columns, rows)
}

fn pg_attrdef(snapshot: &Snapshot) -> DfResult<MemTable> {
    let mut rows = Vec::new();
    for r in &snapshot.relations {
        for (i, c) in r.columns.iter().enumerate() {
            if let Some(default) = &c.default {
                rows.push(vec![
                    int(super::relation_oid(
                        "default",
                        &format!("{}.{}", r.name, c.name),
                    )),
                    int(r.oid),
                    int(i as i64 + 1),
                    text(default),
                ]);
            }
        }
    }
    table(
        &[
            ("oid", Oid),
            ("adrelid", Oid),
            ("adnum", I16),
            ("adbin", Text),
        ],
        rows,
    )
}

fn pg_index(snapshot: &Snapshot) -> DfResult<MemTable> {
    let columns = [
        ("indexrelid", Oid),
        ("indrelid", Oid),
        ("indnatts", I16),
        ("indnkeyatts", I16),
        ("indisunique", Bool),
        ("indnullsnotdistinct", Bool),
        ("indisprimary", Bool),
        ("indisexclusion", Bool),
        ("indimmediate", Bool),
        ("indisclustered", Bool),
        ("indisvalid", Bool),
        ("indcheckxmin", Bool),
        ("indisready", Bool),
        ("indislive", Bool),
        ("indisreplident", Bool),
        ("indkey", Int2Vector),
        ("indcollation", OidVector),
        ("indclass", OidVector),
        ("indoption", Int2Vector),
        ("indexprs", Text),
        ("indpred", Text),
    ];
    let mut rows = Vec::new();
    for r in &snapshot.relations {
        for index in &r.indexes {
            let keys = r.attnums(&index.columns);
            let n = keys.len() as i64;
            rows.push(vec![
                int(index.oid()),
                int(r.oid),
                int(n),
                int(n),
                boolean(index.unique),
                boolean(false),
                boolean(index.primary),
                boolean(false),
                boolean(true),
                boolean(false),
                boolean(true),
                boolean(false),
                boolean(true),
                boolean(true),
                boolean(false),
                int2_array(&keys),
                oid_array(&vec![0; keys.len()]),
                oid_array(&vec![0; keys.len()]),
                int2_array(&vec![0; keys.len()]),
                null(),
                null(),
            ]);
        }
    }
    table(&columns, rows)
}

/// Comments on tables (`objsubid` 0) and their columns, as rows of
/// `pg_class` (`classoid` 1259).
fn pg_description(snapshot: &Snapshot) -> DfResult<MemTable> {
    let rows = snapshot
        .relations
        .iter()
        .flat_map(|r| {
            r.comments.iter().map(|(subid, comment)| {
                vec![int(r.oid), int(oids::PG_CLASS), int(*subid), text(comment)]
            })
        })
        .collect();
    table(
        &[
            ("objoid", Oid),
            ("classoid", Oid),
            ("objsubid", I32),
            ("description", Text),
        ],
        rows,
    )
}

/// The `pg_indexes` view: each index with its `CREATE INDEX` statement.
fn pg_indexes(snapshot: &Snapshot) -> DfResult<MemTable> {
    let mut rows = Vec::new();
    for r in &snapshot.relations {
        for index in &r.indexes {
            rows.push(vec![
                text("public"),
                text(&r.name),
                text(&index.name),
                null(),
                text(index.definition(&r.name)),
            ]);
        }
    }
    table(
        &[
            ("schemaname", Text),
            ("tablename", Text),
            ("indexname", Text),
            ("tablespace", Text),
            ("indexdef", Text),
        ],
        rows,
    )
}

fn pg_constraint(snapshot: &Snapshot) -> DfResult<MemTable> {
    let columns = [
        ("oid", Oid),
        ("conname", Text),
        ("connamespace", Oid),
        ("contype", Text),
        ("condeferrable", Bool),
        ("condeferred", Bool),
        ("convalidated", Bool),
        ("conrelid", Oid),
        ("contypid", Oid),
        ("conindid", Oid),
        ("conparentid", Oid),
        ("confrelid", Oid),
        ("confupdtype", Text),
        ("confdeltype", Text),
        ("confmatchtype", Text),
        ("conislocal", Bool),
        ("coninhcount", I32),
        ("connoinherit", Bool),
        ("conkey", I16Array),
        ("confkey", I16Array),
        ("conpfeqop", OidArray),
        ("conppeqop", OidArray),
        ("conffeqop", OidArray),
        ("conexclop", OidArray),
        ("conbin", Text),
    ];
    let mut rows = Vec::new();
    for r in &snapshot.relations {
        for index in &r.indexes {
            let Some(contype) = index.contype() else {
                continue;
            };
            rows.push(vec![
                int(index.constraint_oid()),
                text(&index.name),
                int(oids::PUBLIC),
                text(contype),
                boolean(false),
                boolean(false),
                boolean(true),
                int(r.oid),
                int(0),
                int(index.oid()),
                int(0),
                int(0),
                text(" "),
                text(" "),
                text(" "),
                boolean(true),
                int(0),
                boolean(true),
                int2_array(&r.attnums(&index.columns)),
                null(),
                null(),
                null(),
                null(),
                null(),
                null(),
            ]);
        }
        for fk in &r.foreign_keys {
            // The referenced table's unique index over the referenced columns.
            let referenced_index = super::data::unique_index_over(
                &snapshot.relations,
                &fk.references,
                &fk.referenced_columns,
            )
            .map_or(0, |i| i.oid());
            rows.push(vec![
                int(fk.constraint_oid()),
                text(&fk.name),
                int(oids::PUBLIC),
                text("f"),
                boolean(false),
                boolean(false),
                boolean(true),
                int(r.oid),
                int(0),
                int(referenced_index),
                int(0),
                int(fk.referenced_oid),
                text(ForeignKey::action_code(&fk.on_update)),
                text(ForeignKey::action_code(&fk.on_delete)),
                text("s"),
                boolean(true),
                int(0),
                boolean(true),
                int2_array(&r.attnums(&fk.columns)),
                int2_array(&fk.referenced_attnums),
                null(),
                null(),
                null(),
                null(),
                null(),
            ]);
        }
    }
    table(&columns, rows)
}

fn pg_type() -> DfResult<MemTable> {
    let columns = [
        ("oid", Oid),
        ("typname", Text),
        ("typnamespace", Oid),
        ("typowner", Oid),
        ("typlen", I16),
        ("typbyval", Bool),
        ("typtype", Text),
        ("typcategory", Text),
        ("typispreferred", Bool),
        ("typisdefined", Bool),
        ("typdelim", Text),
        ("typrelid", Oid),
        ("typsubscript", Text),
        ("typelem", Oid),
        ("typarray", Oid),
        ("typinput", Text),
        ("typoutput", Text),
        ("typreceive", Text),
        ("typsend", Text),
        ("typalign", Text),
        ("typstorage", Text),
        ("typnotnull", Bool),
        ("typbasetype", Oid),
        ("typtypmod", I32),
        ("typndims", I32),
        ("typcollation", Oid),
        ("typdefault", Text),
        ("typacl", TextArray),
    ];
    let rows = types::TYPES
        .iter()
        .map(|t| {
            let io = if t.elem != 0 { "array" } else { t.name };
            vec![
                int(t.oid),
                text(t.name),
                int(oids::PG_CATALOG),
                int(10),
                int(i64::from(t.len)),
                boolean((1..=8).contains(&t.len)),
                text("b"),
                text(t.category),
                boolean(false),
                boolean(true),
                text(","),
                int(0),
                text(if t.elem != 0 {
                    "array_subscript_handler"
                } else {
                    "-"
                }),
                int(t.elem),
                int(t.array),
                text(format!("{io}_in")),
                text(format!("{io}_out")),
                text(format!("{io}_recv")),
                text(format!("{io}_send")),
                text("i"),
                text("p"),
                boolean(false),
                int(0),
                int(-1),
                int(0),
                int(if t.oid == 25 || t.oid == 1043 {
                    oids::DEFAULT_COLLATION
                } else {
                    0
                }),
                null(),
                null(),
            ]
        })
        .collect();
    table(&columns, rows)
}

/// Eddy's one database under each of its names.
fn pg_database(ctx: &CatalogContext) -> DfResult<MemTable> {
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

/// The roles: the bootstrap superuser (OID 10) is the session's user.
/// A role of `pg_roles`: oid, name, can log in.
struct Role {
    oid: i64,
    name: String,
    login: bool,
}

/// The session's user (the bootstrap superuser, oid 10) and the users
/// created with `CREATE USER`; passwords are never shown (`********`).
fn roles(ctx: &CatalogContext) -> Vec<Role> {
    let user = ctx.user();
    let mut roles = vec![Role {
        oid: oids::BOOTSTRAP_SUPERUSER,
        name: user.clone(),
        login: true,
    }];
    for stored in ctx.source.roles() {
        if stored.name != user {
            roles.push(Role {
                oid: super::relation_oid("role", &stored.name),
                name: stored.name,
                login: stored.can_login,
            });
        }
    }
    roles
}

fn pg_roles(roles: &[Role]) -> DfResult<MemTable> {
    table(
        &[
            ("oid", Oid),
            ("rolname", Text),
            ("rolsuper", Bool),
            ("rolinherit", Bool),
            ("rolcreaterole", Bool),
            ("rolcreatedb", Bool),
            ("rolcanlogin", Bool),
            ("rolreplication", Bool),
            ("rolconnlimit", I32),
            ("rolpassword", Text),
            ("rolvaliduntil", Timestamptz),
            ("rolbypassrls", Bool),
            ("rolconfig", TextArray),
        ],
        roles
            .iter()
            .map(|r| {
                vec![
                    int(r.oid),
                    text(&r.name),
                    boolean(true),
                    boolean(true),
                    boolean(true),
                    boolean(true),
                    boolean(r.login),
                    boolean(false),
                    int(-1),
                    text("********"),
                    null(),
                    boolean(true),
                    null(),
                ]
            })
            .collect(),
    )
}

fn pg_user(roles: &[Role]) -> DfResult<MemTable> {
    table(
        &[
            ("usename", Text),
            ("usesysid", Oid),
            ("usecreatedb", Bool),
            ("usesuper", Bool),
            ("userepl", Bool),
            ("usebypassrls", Bool),
            ("passwd", Text),
            ("valuntil", Timestamptz),
            ("useconfig", TextArray),
        ],
        roles
            .iter()
            .filter(|r| r.login)
            .map(|r| {
                vec![
                    text(&r.name),
                    int(r.oid),
                    boolean(true),
                    boolean(true),
                    boolean(false),
                    boolean(true),
                    text("********"),
                    null(),
                    null(),
                ]
            })
            .collect(),
    )
}

fn pg_am() -> DfResult<MemTable> {
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

fn pg_settings(ctx: &CatalogContext) -> DfResult<MemTable> {
    let all = ctx.settings.read().unwrap_or_else(|e| e.into_inner()).all();
    let rows = all
        .into_iter()
        .map(|(name, value)| {
            let is_bool = value == "on" || value == "off";
            let numeric = value.parse::<i64>().is_ok();
            vec![
                text(&name),
                text(&value),
                null(),
                text("Eddy"),
                text(""),
                null(),
                text("user"),
                text(if is_bool {
                    "bool"
                } else if numeric {
                    "integer"
                } else {
                    "string"
                }),
                text("default"),
                null(),
                null(),
                null(),
                text(&value),
                text(&value),
                null(),
                null(),
                boolean(false),
            ]
        })
        .collect();
    table(
        &[
            ("name", Text),
            ("setting", Text),
            ("unit", Text),
            ("category", Text),
            ("short_desc", Text),
            ("extra_desc", Text),
            ("context", Text),
            ("vartype", Text),
            ("source", Text),
            ("min_val", Text),
            ("max_val", Text),
            ("enumvals", TextArray),
            ("boot_val", Text),
            ("reset_val", Text),
            ("sourcefile", Text),
            ("sourceline", I32),
            ("pending_restart", Bool),
        ],
        rows,
    )
}

fn pg_extension() -> DfResult<MemTable> {
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

fn pg_stat_user_tables(snapshot: &Snapshot) -> DfResult<MemTable> {
    let counters = [
        "seq_scan",
        "seq_tup_read",
        "idx_scan",
        "idx_tup_fetch",
        "n_tup_ins",
        "n_tup_upd",
        "n_tup_del",
        "n_tup_hot_upd",
        "n_live_tup",
        "n_dead_tup",
        "n_mod_since_analyze",
        "n_ins_since_vacuum",
    ];
    let mut columns = vec![("relid", Oid), ("schemaname", Text), ("relname", Text)];
    columns.extend(counters.iter().map(|c| (*c, I64)));
    for c in [
        "last_vacuum",
        "last_autovacuum",
        "last_analyze",
        "last_autoanalyze",
    ] {
        columns.push((c, Timestamptz));
    }
    for c in [
        "vacuum_count",
        "autovacuum_count",
        "analyze_count",
        "autoanalyze_count",
    ] {
        columns.push((c, I64));
    }
    let rows = snapshot
        .relations
        .iter()
        .filter(|r| r.relkind == "r")
        .map(|r| {
            let live = r.rows.unwrap_or(0);
            let mut row = vec![int(r.oid), text("public"), text(&r.name)];
            for c in counters {
                row.push(int(if c == "n_live_tup" || c == "n_tup_ins" {
                    live
                } else {
                    0
                }));
            }
            row.extend([null(), null(), null(), null()]);
            row.extend([int(0), int(0), int(0), int(0)]);
            row
        })
        .collect();
    table(&columns, rows)
}

fn pg_tables(snapshot: &Snapshot, user: &str) -> DfResult<MemTable> {
    let rows = snapshot
        .relations
        .iter()
        .filter(|r| r.relkind == "r")
        .map(|r| {
            vec![
                text("public"),
                text(&r.name),
                text(user),
                null(),
                boolean(!r.indexes.is_empty()),
                boolean(false),
                boolean(false),
                boolean(false),
            ]
        })
        .collect();
    table(
        &[
            ("schemaname", Text),
            ("tablename", Text),
            ("tableowner", Text),
            ("tablespace", Text),
            ("hasindexes", Bool),
            ("hasrules", Bool),
            ("hastriggers", Bool),
            ("rowsecurity", Bool),
        ],
        rows,
    )
}

fn pg_matviews(snapshot: &Snapshot, user: &str) -> DfResult<MemTable> {
    let rows = snapshot
        .relations
        .iter()
        .filter(|r| r.relkind == "m")
        .map(|r| {
            vec![
                text("public"),
                text(&r.name),
                text(user),
                null(),
                boolean(false),
                boolean(true),
                text(r.definition.clone().unwrap_or_default()),
            ]
        })
        .collect();
    table(
        &[
            ("schemaname", Text),
            ("matviewname", Text),
            ("matviewowner", Text),
            ("tablespace", Text),
            ("hasindexes", Bool),
            ("ispopulated", Bool),
            ("definition", Text),
        ],
        rows,
    )
}

/// The foreign server of a source: one per connector.
pub fn server_oid(connector: &str) -> i64 {
    super::relation_oid("server", connector)
}

fn pg_foreign_table(snapshot: &Snapshot) -> DfResult<MemTable> {
    let rows = snapshot
        .relations
        .iter()
        .filter(|r| r.relkind == "f")
        .map(|r| {
            let connector = r.definition.clone().unwrap_or_default();
            // Only the connector: other options may hold secrets.
            let option = format!("connector={connector}");
            vec![
                int(r.oid),
                int(server_oid(&connector)),
                text_array(&[option.as_str()]),
            ]
        })
        .collect();
    table(
        &[
            ("ftrelid", Oid),
            ("ftserver", Oid),
            ("ftoptions", TextArray),
        ],
        rows,
    )
}

/// One foreign server per connector that a source uses.
fn pg_foreign_server(snapshot: &Snapshot) -> DfResult<MemTable> {
    let mut connectors: Vec<String> = snapshot
        .relations
        .iter()
        .filter(|r| r.relkind == "f")
        .filter_map(|r| r.definition.clone())
        .collect();
    connectors.sort();
    connectors.dedup();
    let rows = connectors
        .iter()
        .map(|c| {
            vec![
                int(server_oid(c)),
                text(c),
                int(10),
                int(0),
                null(),
                null(),
                null(),
                null(),
            ]
        })
        .collect();
    table(
        &[
            ("oid", Oid),
            ("srvname", Text),
            ("srvowner", Oid),
            ("srvfdw", Oid),
            ("srvtype", Text),
            ("srvversion", Text),
            ("srvacl", TextArray),
            ("srvoptions", TextArray),
        ],
        rows,
    )
}

fn pg_collation() -> DfResult<MemTable> {
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

fn pg_stat_activity(ctx: &CatalogContext, user: &str) -> DfResult<MemTable> {
    table(
        &[
            ("datid", Oid),
            ("datname", Text),
            ("pid", I32),
            ("usesysid", Oid),
            ("usename", Text),
            ("application_name", Text),
            ("client_addr", Text),
            ("backend_start", Timestamptz),
            ("state", Text),
            ("query", Text),
            ("backend_type", Text),
        ],
        vec![vec![
            int(ctx
                .source
                .databases()
                .iter()
                .find(|d| d.name == ctx.database_name)
                .map_or(0, |d| d.oid)),
            text(&ctx.database_name),
            int(i64::from(std::process::id())),
            int(10),
            text(user),
            text(
                ctx.settings
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .get("application_name")
                    .unwrap_or_default(),
            ),
            null(),
            null(),
            text("active"),
            null(),
            text("client backend"),
        ]],
    )
}
