//! The PostgreSQL table a sink writes into: its name, how to create it from
//! the query's output schema, and how the output columns map onto its
//! columns.

use datafusion::arrow::datatypes::SchemaRef;
use eddy_engine::{EngineError, Result};
use tokio_postgres::Client;

use super::copy::{PgType, column_ddl_type, compatible_targets};

/// `[schema.]table`, each part taken verbatim (case-sensitive) unless
/// double-quoted, in which case `""` stands for `"`.
#[derive(Debug, Clone, PartialEq)]
pub struct TableName {
    pub schema: Option<String>,
    pub table: String,
}

impl TableName {
    pub fn parse(text: &str) -> Result<TableName> {
        let bad = |why: &str| EngineError::Config(format!("invalid table name '{text}': {why}"));
        let mut parts = Vec::new();
        let mut chars = text.trim().chars().peekable();
        loop {
            let mut part = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                loop {
                    match chars.next() {
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            part.push('"');
                        }
                        Some('"') => break,
                        Some(c) => part.push(c),
                        None => return Err(bad("unterminated quote")),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == '.' {
                        break;
                    }
                    part.push(c);
                    chars.next();
                }
            }
            if part.is_empty() {
                return Err(bad("empty name"));
            }
            parts.push(part);
            match chars.next() {
                None => break,
                Some('.') => continue,
                Some(_) => return Err(bad("expected '.' after a quoted name")),
            }
        }
        match parts.len() {
            1 => Ok(TableName {
                schema: None,
                table: parts.pop().unwrap(),
            }),
            2 => {
                let table = parts.pop().unwrap();
                Ok(TableName {
                    schema: parts.pop(),
                    table,
                })
            }
            _ => Err(bad("expected 'table' or 'schema.table'")),
        }
    }

    /// The quoted, possibly qualified name, for SQL text.
    pub fn quoted(&self) -> String {
        self.sibling(&self.table)
    }

    /// Another table in the same schema, quoted.
    pub fn sibling(&self, table: &str) -> String {
        match &self.schema {
            Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(table)),
            None => quote_ident(table),
        }
    }
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.quoted())
    }
}

pub use eddy_sql::identifiers::quoted as quote_ident;

/// A column of the PostgreSQL table.
#[derive(Debug, Clone)]
pub struct PgColumn {
    pub name: String,
    /// The base type (domains resolved), if it is one the sink can write.
    pub pg_type: Option<PgType>,
    /// `format_type()`: what PostgreSQL calls the type, for messages.
    pub type_name: String,
}

/// The table's columns in order, or `None` if it does not exist.
pub async fn table_columns(
    client: &Client,
    table: &TableName,
) -> Result<Option<Vec<PgColumn>>, tokio_postgres::Error> {
    let name = table.quoted();
    let exists: bool = client
        .query_one("SELECT to_regclass($1::text) IS NOT NULL", &[&name])
        .await?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let rows = client
        .query(
            "SELECT a.attname::text, \
                    (CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END)::oid, \
                    format_type(a.atttypid, a.atttypmod) \
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
             WHERE a.attrelid = to_regclass($1::text) AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            &[&name],
        )
        .await?;
    Ok(Some(
        rows.iter()
            .map(|row| PgColumn {
                name: row.get(0),
                pg_type: PgType::from_oid(row.get(1)),
                type_name: row.get(2),
            })
            .collect(),
    ))
}

/// `CREATE TABLE IF NOT EXISTS` with a column per output column and, if
/// given, the key as PRIMARY KEY.
pub fn create_table_sql(
    table: &TableName,
    schema: &SchemaRef,
    key: Option<&[String]>,
) -> Result<String> {
    let mut columns = schema
        .fields()
        .iter()
        .map(|f| {
            let ty = column_ddl_type(f).ok_or_else(|| {
                EngineError::Config(format!(
                    "column {} has type {}, which the postgres sink cannot write",
                    f.name(),
                    f.data_type()
                ))
            })?;
            Ok(format!("{} {ty}", quote_ident(f.name())))
        })
        .collect::<Result<Vec<_>>>()?;
    if let Some(key) = key {
        let key: Vec<String> = key.iter().map(|k| quote_ident(k)).collect();
        columns.push(format!("PRIMARY KEY ({})", key.join(", ")));
    }
    Ok(format!(
        "CREATE TABLE IF NOT EXISTS {table} ({})",
        columns.join(", ")
    ))
}

/// Every `primary_key` column must be one of the query's output columns.
pub fn check_key_in_output(schema: &SchemaRef, key: &[String]) -> Result<()> {
    for name in key {
        if schema.fields().iter().all(|f| f.name() != name) {
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            let hint = names
                .iter()
                .find(|n| n.eq_ignore_ascii_case(name))
                .map(|n| format!(" (names are case-sensitive: did you mean \"{n}\"?)"))
                .unwrap_or_default();
            return Err(EngineError::Config(format!(
                "primary_key column \"{name}\" is not an output column of the query{hint}; \
                 the output columns are {}",
                names.join(", ")
            )));
        }
    }
    Ok(())
}

/// The column lists of the table's unique indexes usable by
/// `ON CONFLICT (columns)`: valid, not deferrable, not partial, without
/// expressions (primary keys and UNIQUE constraints included).
pub async fn unique_keys(
    client: &Client,
    table: &TableName,
) -> Result<Vec<Vec<String>>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT ARRAY(SELECT a.attname::text \
                          FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) \
                          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                          WHERE k.n <= i.indnkeyatts ORDER BY k.n) \
             FROM pg_index i \
             WHERE i.indrelid = to_regclass($1::text) AND i.indisunique AND i.indimmediate \
               AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL \
             ORDER BY i.indisprimary DESC, i.indexrelid",
            &[&table.quoted()],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Upserts need a unique index on exactly the key's columns, in any order.
pub fn check_unique_key(table: &TableName, key: &[String], unique: &[Vec<String>]) -> Result<()> {
    let mut wanted: Vec<&String> = key.iter().collect();
    wanted.sort();
    let matches = |columns: &Vec<String>| {
        let mut columns: Vec<&String> = columns.iter().collect();
        columns.sort();
        columns == wanted
    };
    if unique.iter().any(matches) {
        return Ok(());
    }
    let list = |names: &[String]| {
        let quoted: Vec<String> = names.iter().map(|n| quote_ident(n)).collect();
        format!("({})", quoted.join(", "))
    };
    let existing = if unique.is_empty() {
        "it has none".to_string()
    } else {
        let keys: Vec<String> = unique.iter().map(|k| list(k)).collect();
        format!("its unique keys are {}", keys.join(", "))
    };
    Err(EngineError::Config(format!(
        "PostgreSQL table {table} has no primary key or unique constraint on exactly {}, which mode 'upsert' \
         needs to find the row to replace; {existing}. Add one (ALTER TABLE {table} ADD PRIMARY KEY {}) \
         or change primary_key",
        list(key),
        list(key)
    )))
}

/// For each output column, the type of the table column of the same name;
/// errors name the column and both types.
pub fn match_columns(
    table: &TableName,
    schema: &SchemaRef,
    columns: &[PgColumn],
) -> Result<Vec<PgType>> {
    schema
        .fields()
        .iter()
        .map(|field| {
            let name = field.name();
            let Some(column) = columns.iter().find(|c| &c.name == name) else {
                let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
                let hint = columns
                    .iter()
                    .find(|c| c.name.eq_ignore_ascii_case(name))
                    .map(|c| format!(" (names are case-sensitive: did you mean \"{}\"?)", c.name))
                    .unwrap_or_default();
                return Err(EngineError::Config(format!(
                    "output column \"{name}\" does not exist in PostgreSQL table {table}{hint}; its columns are {}",
                    names.join(", ")
                )));
            };
            let valid = compatible_targets(field.data_type());
            match column.pg_type {
                Some(t) if valid.contains(&t) => Ok(t),
                _ => {
                    let expected: Vec<&str> = valid.iter().map(|t| t.name()).collect();
                    Err(EngineError::Config(format!(
                        "output column \"{name}\" has type {} but column \"{name}\" of PostgreSQL table {table} \
                         is {}; expected one of {}",
                        field.data_type(),
                        column.type_name,
                        if expected.is_empty() { "(none: unsupported type)".to_string() } else { expected.join(", ") }
                    )))
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        let t = TableName::parse("analytics.bid_counts").unwrap();
        assert_eq!(t.quoted(), "\"analytics\".\"bid_counts\"");
        assert_eq!(
            t.sibling("eddy_sink_progress"),
            "\"analytics\".\"eddy_sink_progress\""
        );
        let t = TableName::parse("\"My.Schema\".\"Odd\"\"Name\"").unwrap();
        assert_eq!(
            (t.schema.as_deref(), t.table.as_str()),
            (Some("My.Schema"), "Odd\"Name")
        );
        assert_eq!(t.quoted(), "\"My.Schema\".\"Odd\"\"Name\"");
        assert_eq!(TableName::parse("Counts").unwrap().quoted(), "\"Counts\"");
        assert!(TableName::parse("a.b.c").is_err());
        assert!(TableName::parse("a.").is_err());
        assert!(TableName::parse("\"open").is_err());
    }
}
