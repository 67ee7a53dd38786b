//! The relations of the live catalog as the system tables describe them:
//! a [`Snapshot`] of every table, source and streaming query with its
//! columns (in PostgreSQL's types), indexes, constraints and comments,
//! and the SQL text `pg_get_indexdef` / `pg_get_constraintdef` /
//! `pg_get_expr` show for them. Built from a [`CatalogSource`], once per
//! statement (see [`super::StatementSnapshot`]).

use eddy_catalog::{CatalogObject, ObjectKind};
use eddy_sql::identifiers::quote_if_needed as quote_ident;

use super::oids::{EDDY_CATALOG_SCHEMA, kind_key, relation_oid};
use super::source::CatalogSource;
use super::types;

/// The relation kinds of Eddy objects, in `relkind` letters.
pub fn relkind(kind: ObjectKind) -> Option<&'static str> {
    match kind {
        ObjectKind::Table => Some("r"),
        ObjectKind::Source => Some("f"),
        ObjectKind::StreamingQuery => Some("m"),
        ObjectKind::Sink => None,
    }
}

/// One column of a relation, in PostgreSQL's terms.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub type_oid: i64,
    pub typmod: i32,
    pub not_null: bool,
    /// SQL text of the DEFAULT expression.
    pub default: Option<String>,
}

/// A table, source or streaming query, or one of the `eddy_catalog`
/// relations.
#[derive(Debug, Clone)]
pub struct Relation {
    pub oid: i64,
    pub name: String,
    /// `public`, or `eddy_catalog` for the system relations.
    pub schema: &'static str,
    /// `r`, `f`, `m`, or `v` for a system relation.
    pub relkind: &'static str,
    pub columns: Vec<Column>,
    /// Column names of the primary key (tables only).
    pub primary_key: Vec<String>,
    /// The primary key's index first, then the others (tables only).
    pub indexes: Vec<Index>,
    pub foreign_keys: Vec<ForeignKey>,
    /// `COMMENT ON`: (0 for the relation, else the column's number, text).
    pub comments: Vec<(i64, String)>,
    /// The SELECT of a streaming query; the connector of a source.
    pub definition: Option<String>,
    /// Rows held (tables only).
    pub rows: Option<i64>,
}

/// An index of a table: its primary key, a `UNIQUE` constraint or a
/// `CREATE [UNIQUE] INDEX`.
#[derive(Debug, Clone)]
pub struct Index {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
    pub primary: bool,
    /// A `UNIQUE` constraint (a primary key is one too).
    pub constraint: bool,
}

impl Index {
    pub fn oid(&self) -> i64 {
        relation_oid("index", &self.name)
    }

    pub fn constraint_oid(&self) -> i64 {
        relation_oid("constraint", &self.name)
    }

    /// Its `CREATE INDEX` statement, as `pg_get_indexdef` shows it.
    pub fn definition(&self, table: &str) -> String {
        format!(
            "CREATE {}INDEX {} ON public.{} USING btree ({})",
            if self.unique { "UNIQUE " } else { "" },
            quote_ident(&self.name),
            quote_ident(table),
            quoted_list(&self.columns)
        )
    }

    /// `p` or `u` when a constraint stands behind the index.
    pub fn contype(&self) -> Option<&'static str> {
        if self.primary {
            Some("p")
        } else if self.constraint {
            Some("u")
        } else {
            None
        }
    }
}

/// A foreign key whose referenced table exists: its definition (reached
/// through `Deref`), with the referenced table's OID and column numbers.
#[derive(Debug, Clone)]
pub struct ForeignKey {
    pub def: eddy_catalog::ForeignKeyDef,
    pub referenced_oid: i64,
    pub referenced_attnums: Vec<i16>,
}

impl std::ops::Deref for ForeignKey {
    type Target = eddy_catalog::ForeignKeyDef;

    fn deref(&self) -> &Self::Target {
        &self.def
    }
}

impl ForeignKey {
    pub fn constraint_oid(&self) -> i64 {
        relation_oid("constraint", &self.name)
    }

    /// The single letter `pg_constraint` uses for a referential action.
    pub fn action_code(action: &str) -> &'static str {
        match action {
            "RESTRICT" => "r",
            "CASCADE" => "c",
            "SET NULL" => "n",
            "SET DEFAULT" => "d",
            _ => "a",
        }
    }
}

impl Relation {
    /// 1-based positions of `columns`.
    pub fn attnums(&self, columns: &[String]) -> Vec<i16> {
        columns
            .iter()
            .filter_map(|k| self.columns.iter().position(|c| &c.name == k))
            .map(|p| p as i16 + 1)
            .collect()
    }

    pub fn primary_index(&self) -> Option<&Index> {
        self.indexes.iter().find(|i| i.primary)
    }

    /// The constraint (primary key, unique or foreign key) with this OID.
    pub fn constraint_by_oid(&self, oid: i64) -> Option<String> {
        if let Some(i) = self
            .indexes
            .iter()
            .find(|i| i.contype().is_some() && i.constraint_oid() == oid)
        {
            let list = quoted_list(&i.columns);
            return Some(if i.primary {
                format!("PRIMARY KEY ({list})")
            } else {
                format!("UNIQUE ({list})")
            });
        }
        self.foreign_keys
            .iter()
            .find(|f| f.constraint_oid() == oid)
            .map(|f| foreign_key_sql(&f.def))
    }
}

/// `FOREIGN KEY (a) REFERENCES t(b) …`, as `pg_get_constraintdef` shows it.
pub fn foreign_key_sql(fk: &eddy_catalog::ForeignKeyDef) -> String {
    let mut sql = format!(
        "FOREIGN KEY ({}) REFERENCES {}({})",
        quoted_list(&fk.columns),
        quote_ident(&fk.references),
        quoted_list(&fk.referenced_columns)
    );
    if fk.on_update != "NO ACTION" {
        sql.push_str(&format!(" ON UPDATE {}", fk.on_update));
    }
    if fk.on_delete != "NO ACTION" {
        sql.push_str(&format!(" ON DELETE {}", fk.on_delete));
    }
    sql
}

/// The unique index of table `table` over exactly `columns` (in any
/// order): the key a foreign key to those columns relies on.
pub fn unique_index_over<'a>(
    relations: &'a [Relation],
    table: &str,
    columns: &[String],
) -> Option<&'a Index> {
    relations
        .iter()
        .find(|r| r.relkind == "r" && r.name == table)?
        .indexes
        .iter()
        .find(|i| {
            i.unique
                && i.columns.len() == columns.len()
                && i.columns.iter().all(|c| columns.contains(c))
        })
}

/// `"a", "b"` as PostgreSQL quotes a column list.
pub fn quoted_list(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A table's indexes as the catalog shows them, primary key first.
fn indexes_of(t: &eddy_catalog::TableDef) -> Vec<Index> {
    let mut indexes = Vec::new();
    if !t.primary_key.is_empty() {
        indexes.push(Index {
            name: t
                .primary_key_name
                .clone()
                .unwrap_or_else(|| format!("{}_pkey", t.name)),
            columns: t.primary_key.clone(),
            unique: true,
            primary: true,
            constraint: true,
        });
    }
    indexes.extend(t.indexes.iter().map(|i| Index {
        name: i.name.clone(),
        columns: i.columns.clone(),
        unique: i.unique,
        primary: false,
        constraint: i.unique && i.constraint,
    }));
    indexes
}

/// Every relation of the catalog at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub relations: Vec<Relation>,
}

impl Snapshot {
    /// The relations `source` holds now. A catalog that cannot be read
    /// shows as empty: introspection queries should not fail on it.
    pub async fn build(source: &dyn CatalogSource) -> Snapshot {
        let objects = source.objects().unwrap_or_default();
        let mut relations = Vec::new();
        for obj in &objects {
            let oid = relation_oid(kind_key(obj), obj.name());
            let relation = match &obj {
                CatalogObject::Table(t) => Relation {
                    oid,
                    name: t.name.clone(),
                    schema: "public",
                    relkind: "r",
                    columns: t.columns.iter().map(column_of).collect(),
                    primary_key: t.primary_key.clone(),
                    indexes: indexes_of(t),
                    foreign_keys: Vec::new(),
                    comments: t
                        .comments
                        .iter()
                        .filter_map(|(key, text)| {
                            let subid = if key.is_empty() {
                                0
                            } else {
                                t.columns.iter().position(|c| &c.name == key)? as i64 + 1
                            };
                            Some((subid, text.clone()))
                        })
                        .collect(),
                    definition: None,
                    rows: source.table_rows(&t.name),
                },
                CatalogObject::Source(s) => Relation {
                    oid,
                    name: s.name.clone(),
                    schema: "public",
                    relkind: "f",
                    columns: s.columns.iter().map(column_of).collect(),
                    primary_key: vec![],
                    indexes: vec![],
                    foreign_keys: vec![],
                    comments: vec![],
                    definition: Some(s.connector.clone()),
                    rows: None,
                },
                CatalogObject::StreamingQuery(q) => Relation {
                    oid,
                    name: q.name.clone(),
                    schema: "public",
                    relkind: "m",
                    columns: streaming_query_columns(source, &q.query).await,
                    primary_key: vec![],
                    indexes: vec![],
                    foreign_keys: vec![],
                    comments: vec![],
                    definition: Some(q.query.clone()),
                    rows: None,
                },
                CatalogObject::Sink(_) => continue,
            };
            relations.push(relation);
        }
        for (name, schema) in source.system_relations() {
            relations.push(Relation {
                oid: relation_oid(EDDY_CATALOG_SCHEMA, &name),
                name,
                schema: EDDY_CATALOG_SCHEMA,
                relkind: "v",
                columns: columns_of(&schema),
                primary_key: vec![],
                indexes: vec![],
                foreign_keys: vec![],
                comments: vec![],
                definition: None,
                rows: None,
            });
        }
        relations.sort_by(|a, b| (a.schema, &a.name).cmp(&(b.schema, &b.name)));
        // Foreign keys once every relation is known: they name others.
        for obj in &objects {
            let CatalogObject::Table(t) = obj else {
                continue;
            };
            let foreign_keys: Vec<ForeignKey> = t
                .foreign_keys
                .iter()
                .filter_map(|f| {
                    let referenced = relations
                        .iter()
                        .find(|r| r.relkind == "r" && r.name == f.references)?;
                    Some(ForeignKey {
                        def: f.clone(),
                        referenced_oid: referenced.oid,
                        referenced_attnums: referenced.attnums(&f.referenced_columns),
                    })
                })
                .collect();
            if let Some(r) = relations
                .iter_mut()
                .find(|r| r.relkind == "r" && r.name == t.name)
            {
                r.foreign_keys = foreign_keys;
            }
        }
        Snapshot { relations }
    }

    /// The comment on relation `oid` (`subid` 0) or on its column `subid`.
    pub fn comment(&self, oid: i64, subid: i64) -> Option<String> {
        self.relations
            .iter()
            .find(|r| r.oid == oid)?
            .comments
            .iter()
            .find(|(s, _)| *s == subid)
            .map(|(_, text)| text.clone())
    }

    /// The relation with this OID, or the table with an index of this OID.
    pub fn by_oid(&self, oid: i64) -> Option<&Relation> {
        self.relations
            .iter()
            .find(|r| r.oid == oid || r.indexes.iter().any(|i| i.oid() == oid))
    }

    /// An index by OID, with its table.
    pub fn index_by_oid(&self, oid: i64) -> Option<(&Relation, &Index)> {
        self.relations
            .iter()
            .find_map(|r| r.indexes.iter().find(|i| i.oid() == oid).map(|i| (r, i)))
    }

    /// A relation by name: `name` or `public.name` in `public`,
    /// `eddy_catalog.name` among the system relations.
    pub fn by_name(&self, name: &str) -> Option<&Relation> {
        let (schema, name) = match name.split_once('.') {
            Some((schema, name)) if schema.trim_matches('"') == EDDY_CATALOG_SCHEMA => {
                (EDDY_CATALOG_SCHEMA, name)
            }
            _ => ("public", name.strip_prefix("public.").unwrap_or(name)),
        };
        let name = name.trim_matches('"');
        self.relations
            .iter()
            .find(|r| r.schema == schema && r.name == name)
    }
}

fn column_of(c: &eddy_catalog::ColumnDef) -> Column {
    let (type_oid, typmod) = types::of_sql_type(c.data_type);
    Column {
        name: c.name.clone(),
        type_oid,
        typmod,
        not_null: !c.nullable,
        default: c
            .default
            .as_ref()
            .map(|d| default_as_postgres_prints_it(d, c.data_type)),
    }
}

/// A column default as `pg_get_expr` prints it: PostgreSQL keeps a quoted
/// literal with the cast to the column's type (`'none'::text`,
/// `'2024-01-01'::date`); other expressions (`now()`, `42`) as written.
fn default_as_postgres_prints_it(default: &str, t: eddy_catalog::SqlType) -> String {
    use eddy_catalog::SqlType::*;
    let quoted = default.len() >= 2
        && default.starts_with('\'')
        && default.ends_with('\'')
        && !default[1..default.len() - 1]
            .replace("''", "")
            .contains('\'');
    let cast_kept = matches!(
        t,
        Text | Bytea | Date | Timestamp | TimestampTz | Interval | Uuid | Json | Jsonb
    );
    if quoted && cast_kept {
        let (oid, typmod) = types::of_sql_type(t);
        let name = types::format_type(oid, Some(typmod)).unwrap_or_else(|| t.to_string());
        format!("{default}::{name}")
    } else {
        default.to_string()
    }
}

/// A streaming query's output columns: its SELECT planned as at CREATE
/// (none when it no longer plans).
async fn streaming_query_columns(source: &dyn CatalogSource, query: &str) -> Vec<Column> {
    match source.streaming_query_schema(query).await {
        Some(schema) => columns_of(&schema),
        None => vec![],
    }
}

/// The columns of an Arrow schema, in PostgreSQL's types.
fn columns_of(schema: &datafusion::arrow::datatypes::Schema) -> Vec<Column> {
    schema
        .fields()
        .iter()
        .map(|f| {
            let (type_oid, typmod) = types::of_field(f);
            Column {
                name: f.name().clone(),
                type_oid,
                typmod,
                not_null: !f.is_nullable(),
                default: None,
            }
        })
        .collect()
}
