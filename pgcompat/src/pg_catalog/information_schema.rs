//! `information_schema`, the SQL-standard view of the same relations:
//! tables (`BASE TABLE`, `FOREIGN` for sources, `VIEW` for streaming
//! queries), their columns, the schemata and primary keys.

use datafusion::catalog::MemTable;
use datafusion::error::Result as DfResult;

use super::context::CatalogContext;
use super::rows::{Col::*, boolean, int, null, table, text};
use super::snapshot::{Relation, unique_index_over};
use super::types;

pub const NAMES: &[&str] = &[
    "columns",
    "constraint_column_usage",
    "key_column_usage",
    "referential_constraints",
    "routines",
    "schemata",
    "sequences",
    "table_constraints",
    "tables",
    "views",
];

pub async fn build(ctx: &CatalogContext, name: &str) -> DfResult<Option<MemTable>> {
    if !NAMES.contains(&name) {
        return Ok(None);
    }
    let snapshot = ctx.snapshot().await;
    let db = ctx.database_name.as_str();
    let rels = &snapshot.relations;
    let table = match name {
        "tables" => tables(db, rels),
        "columns" => columns(db, rels),
        "schemata" => schemata(db, &ctx.user()),
        "views" => views(db, rels),
        "table_constraints" => table_constraints(db, rels),
        "key_column_usage" | "constraint_column_usage" => key_column_usage(db, rels, name),
        "referential_constraints" => referential_constraints(db, rels),
        "routines" => table(
            &[
                ("specific_catalog", Text),
                ("specific_schema", Text),
                ("specific_name", Text),
                ("routine_catalog", Text),
                ("routine_schema", Text),
                ("routine_name", Text),
                ("routine_type", Text),
                ("data_type", Text),
            ],
            vec![],
        ),
        "sequences" => table(
            &[
                ("sequence_catalog", Text),
                ("sequence_schema", Text),
                ("sequence_name", Text),
                ("data_type", Text),
                ("start_value", Text),
                ("minimum_value", Text),
                ("maximum_value", Text),
                ("increment", Text),
                ("cycle_option", Text),
            ],
            vec![],
        ),
        _ => return Ok(None),
    };
    table.map(Some)
}

fn table_type(relkind: &str) -> &'static str {
    match relkind {
        "r" => "BASE TABLE",
        "f" => "FOREIGN",
        _ => "VIEW",
    }
}

fn tables(db: &str, rels: &[Relation]) -> DfResult<MemTable> {
    let rows = rels
        .iter()
        .map(|r| {
            vec![
                text(db),
                text(r.schema),
                text(&r.name),
                text(table_type(r.relkind)),
                null(),
                null(),
                null(),
                null(),
                null(),
                text(if r.relkind == "r" { "YES" } else { "NO" }),
                text("NO"),
                null(),
            ]
        })
        .collect();
    table(
        &[
            ("table_catalog", Text),
            ("table_schema", Text),
            ("table_name", Text),
            ("table_type", Text),
            ("self_referencing_column_name", Text),
            ("reference_generation", Text),
            ("user_defined_type_catalog", Text),
            ("user_defined_type_schema", Text),
            ("user_defined_type_name", Text),
            ("is_insertable_into", Text),
            ("is_typed", Text),
            ("commit_action", Text),
        ],
        rows,
    )
}

fn columns(db: &str, rels: &[Relation]) -> DfResult<MemTable> {
    let mut rows = Vec::new();
    for r in rels {
        for (i, c) in r.columns.iter().enumerate() {
            let ty = types::by_oid(c.type_oid);
            let data_type = ty.map_or("text", |t| t.sql_name);
            let (precision, scale) = if c.type_oid == 1700 && c.typmod >= 4 {
                let m = c.typmod - 4;
                (Some(i64::from(m >> 16)), Some(i64::from(m & 0xffff)))
            } else {
                match c.type_oid {
                    21 => (Some(16), Some(0)),
                    23 => (Some(32), Some(0)),
                    20 => (Some(64), Some(0)),
                    700 => (Some(24), None),
                    701 => (Some(53), None),
                    _ => (None, None),
                }
            };
            let opt = |v: Option<i64>| v.map_or(null(), int);
            rows.push(vec![
                text(db),
                text(r.schema),
                text(&r.name),
                text(&c.name),
                int(i as i64 + 1),
                c.default.as_ref().map_or(null(), text),
                text(if c.not_null { "NO" } else { "YES" }),
                text(data_type),
                null(),
                null(),
                opt(precision),
                int(if matches!(c.type_oid, 700 | 701) {
                    2
                } else {
                    10
                }),
                opt(scale),
                text(db),
                text("pg_catalog"),
                text(ty.map_or("text", |t| t.name)),
                text("NO"),
                text("NEVER"),
                text(if r.relkind == "r" { "YES" } else { "NO" }),
            ]);
        }
    }
    table(
        &[
            ("table_catalog", Text),
            ("table_schema", Text),
            ("table_name", Text),
            ("column_name", Text),
            ("ordinal_position", I32),
            ("column_default", Text),
            ("is_nullable", Text),
            ("data_type", Text),
            ("character_maximum_length", I32),
            ("character_octet_length", I32),
            ("numeric_precision", I32),
            ("numeric_precision_radix", I32),
            ("numeric_scale", I32),
            ("udt_catalog", Text),
            ("udt_schema", Text),
            ("udt_name", Text),
            ("is_identity", Text),
            ("is_generated", Text),
            ("is_updatable", Text),
        ],
        rows,
    )
}

fn schemata(db: &str, user: &str) -> DfResult<MemTable> {
    let rows = ["pg_catalog", "public", "information_schema", "eddy_catalog"]
        .iter()
        .map(|s| {
            vec![
                text(db),
                text(*s),
                text(user),
                null(),
                null(),
                null(),
                null(),
            ]
        })
        .collect();
    table(
        &[
            ("catalog_name", Text),
            ("schema_name", Text),
            ("schema_owner", Text),
            ("default_character_set_catalog", Text),
            ("default_character_set_schema", Text),
            ("default_character_set_name", Text),
            ("sql_path", Text),
        ],
        rows,
    )
}

fn views(db: &str, rels: &[Relation]) -> DfResult<MemTable> {
    let rows = rels
        .iter()
        .filter(|r| r.relkind == "m")
        .map(|r| {
            vec![
                text(db),
                text("public"),
                text(&r.name),
                text(r.definition.clone().unwrap_or_default()),
                text("NONE"),
                text("NO"),
                text("NO"),
            ]
        })
        .collect();
    table(
        &[
            ("table_catalog", Text),
            ("table_schema", Text),
            ("table_name", Text),
            ("view_definition", Text),
            ("check_option", Text),
            ("is_updatable", Text),
            ("is_insertable_into", Text),
        ],
        rows,
    )
}

/// Every constraint of a table: (name, type, columns).
fn constraints(r: &Relation) -> Vec<(String, &'static str, Vec<String>)> {
    let mut all: Vec<(String, &'static str, Vec<String>)> = r
        .indexes
        .iter()
        .filter_map(|i| match i.contype()? {
            "p" => Some((i.name.clone(), "PRIMARY KEY", i.columns.clone())),
            _ => Some((i.name.clone(), "UNIQUE", i.columns.clone())),
        })
        .collect();
    all.extend(
        r.foreign_keys
            .iter()
            .map(|f| (f.name.clone(), "FOREIGN KEY", f.columns.clone())),
    );
    all
}

fn table_constraints(db: &str, rels: &[Relation]) -> DfResult<MemTable> {
    let mut rows = Vec::new();
    for r in rels {
        for (name, kind, _) in constraints(r) {
            rows.push(vec![
                text(db),
                text("public"),
                text(name),
                text(db),
                text("public"),
                text(&r.name),
                text(kind),
                text("NO"),
                text("NO"),
                text("YES"),
                if kind == "UNIQUE" || kind == "PRIMARY KEY" {
                    boolean(true)
                } else {
                    null()
                },
            ]);
        }
    }
    table(
        &[
            ("constraint_catalog", Text),
            ("constraint_schema", Text),
            ("constraint_name", Text),
            ("table_catalog", Text),
            ("table_schema", Text),
            ("table_name", Text),
            ("constraint_type", Text),
            ("is_deferrable", Text),
            ("initially_deferred", Text),
            ("enforced", Text),
            ("nulls_distinct", Bool),
        ],
        rows,
    )
}

fn referential_constraints(db: &str, rels: &[Relation]) -> DfResult<MemTable> {
    let mut rows = Vec::new();
    for r in rels {
        for f in &r.foreign_keys {
            rows.push(vec![
                text(db),
                text("public"),
                text(&f.name),
                text(db),
                text("public"),
                text(
                    unique_index_over(rels, &f.references, &f.referenced_columns)
                        .map_or_else(String::new, |i| i.name.clone()),
                ),
                text("NONE"),
                text(&f.on_update),
                text(&f.on_delete),
            ]);
        }
    }
    table(
        &[
            ("constraint_catalog", Text),
            ("constraint_schema", Text),
            ("constraint_name", Text),
            ("unique_constraint_catalog", Text),
            ("unique_constraint_schema", Text),
            ("unique_constraint_name", Text),
            ("match_option", Text),
            ("update_rule", Text),
            ("delete_rule", Text),
        ],
        rows,
    )
}

/// `key_column_usage`: each constrained column, with its position (and for
/// a foreign key, the position of the column it references in that
/// table's unique constraint). `constraint_column_usage`: the columns each
/// constraint uses; for a foreign key, the referenced table's.
fn key_column_usage(db: &str, rels: &[Relation], name: &str) -> DfResult<MemTable> {
    let mut rows = Vec::new();
    let mut push =
        |constraint: &str, table_name: &str, column: &str, extra: Option<(i64, Option<i64>)>| {
            let mut row = vec![
                text(db),
                text("public"),
                text(constraint),
                text(db),
                text("public"),
                text(table_name),
                text(column),
            ];
            if let Some((position, in_unique)) = extra {
                row.push(int(position));
                row.push(in_unique.map_or_else(null, int));
            }
            rows.push(row);
        };
    for r in rels {
        for (constraint, kind, columns) in constraints(r) {
            let fk = r.foreign_keys.iter().find(|f| f.name == constraint);
            if name == "key_column_usage" {
                for (i, c) in columns.iter().enumerate() {
                    // Where the referenced column stands in the key it references.
                    let in_unique = fk.map(|f| {
                        unique_index_over(rels, &f.references, &f.referenced_columns)
                            .and_then(|key| {
                                key.columns
                                    .iter()
                                    .position(|k| Some(k) == f.referenced_columns.get(i))
                            })
                            .map_or(i as i64 + 1, |p| p as i64 + 1)
                    });
                    push(&constraint, &r.name, c, Some((i as i64 + 1, in_unique)));
                }
            } else if kind == "FOREIGN KEY"
                && let Some(f) = fk
            {
                for c in &f.referenced_columns {
                    push(&constraint, &f.references, c, None);
                }
            } else {
                for c in &columns {
                    push(&constraint, &r.name, c, None);
                }
            }
        }
    }
    let mut columns = vec![
        ("constraint_catalog", Text),
        ("constraint_schema", Text),
        ("constraint_name", Text),
        ("table_catalog", Text),
        ("table_schema", Text),
        ("table_name", Text),
        ("column_name", Text),
    ];
    if name == "key_column_usage" {
        columns.push(("ordinal_position", I32));
        columns.push(("position_in_unique_constraint", I32));
    }
    table(&columns, rows)
}
