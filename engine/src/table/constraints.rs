//! What a table refuses: its primary key, unique keys and NOT NULL columns,
//! by column position. Built from the catalog's [`TableDef`] (or, for a
//! table created without one, from the nullability of its Arrow schema), and
//! checked by the storage on every write, whoever the writer is.

use datafusion::arrow::datatypes::Schema;
use eddy_catalog::TableDef;

use super::error::{TableError, TableResult};

/// A primary key or a unique key: a named set of columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyConstraint {
    /// The constraint's name, as PostgreSQL reports it (`t_pkey`, `t_k_key`).
    pub name: String,
    /// Column positions in the table, in key order.
    pub columns: Vec<usize>,
}

/// The constraints of one table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableConstraints {
    /// Rows are identified by these columns (never NULL); upserts and
    /// deletes by key go through it.
    pub primary_key: Option<KeyConstraint>,
    /// Other unique keys. A row with a NULL in any of a key's columns never
    /// conflicts, as in PostgreSQL.
    pub unique: Vec<KeyConstraint>,
    /// Columns that refuse NULL (the primary key's columns need not be
    /// listed: they always refuse it).
    pub not_null: Vec<usize>,
}

impl TableConstraints {
    /// Only NOT NULL, from the schema's non-nullable fields: what a table
    /// created through [`TableStore::create_or_load`](super::TableStore::create_or_load)
    /// (without its definition) enforces.
    pub fn from_schema(schema: &Schema) -> TableConstraints {
        TableConstraints {
            not_null: schema
                .fields()
                .iter()
                .enumerate()
                .filter(|(_, f)| !f.is_nullable())
                .map(|(i, _)| i)
                .collect(),
            ..TableConstraints::default()
        }
    }

    /// The constraints a catalog definition declares: its primary key
    /// (named `primary_key_name` or `<table>_pkey`), every unique index,
    /// and its NOT NULL columns. Non-unique indexes and foreign keys are not
    /// enforced.
    pub fn from_table_def(def: &TableDef) -> TableResult<TableConstraints> {
        let positions = |constraint: &str, names: &[String]| -> TableResult<Vec<usize>> {
            names
                .iter()
                .map(|name| {
                    def.columns
                        .iter()
                        .position(|c| &c.name == name)
                        .ok_or_else(|| TableError::UnknownColumn {
                            table: def.name.clone(),
                            constraint: constraint.to_string(),
                            column: name.clone(),
                        })
                })
                .collect()
        };
        let primary_key = if def.primary_key.is_empty() {
            None
        } else {
            let name = def
                .primary_key_name
                .clone()
                .unwrap_or_else(|| format!("{}_pkey", def.name));
            let columns = positions(&name, &def.primary_key)?;
            Some(KeyConstraint { name, columns })
        };
        let unique = def
            .indexes
            .iter()
            .filter(|i| i.unique)
            .map(|i| {
                Ok(KeyConstraint {
                    name: i.name.clone(),
                    columns: positions(&i.name, &i.columns)?,
                })
            })
            .collect::<TableResult<Vec<_>>>()?;
        let not_null = def
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.nullable)
            .map(|(i, _)| i)
            .collect();
        Ok(TableConstraints {
            primary_key,
            unique,
            not_null,
        })
    }

    /// The keys to index: the primary key first (when there is one), then
    /// the unique keys.
    pub(super) fn keys(&self) -> impl Iterator<Item = &KeyConstraint> {
        self.primary_key.iter().chain(&self.unique)
    }

    /// Every column that refuses NULL: NOT NULL ones and the primary key's,
    /// in column order, each once.
    pub(super) fn non_null_columns(&self) -> Vec<usize> {
        let mut columns: Vec<usize> = self
            .not_null
            .iter()
            .chain(self.primary_key.iter().flat_map(|k| &k.columns))
            .copied()
            .collect();
        columns.sort_unstable();
        columns.dedup();
        columns
    }

    /// Checks that every column position exists in a table of `width`
    /// columns.
    pub(super) fn check_columns(&self, table: &str, width: usize) -> TableResult<()> {
        for key in self.keys() {
            if key.columns.is_empty() {
                return Err(TableError::Schema {
                    table: table.to_string(),
                    reason: format!("constraint \"{}\" has no columns", key.name),
                });
            }
            if let Some(&c) = key.columns.iter().find(|&&c| c >= width) {
                return Err(TableError::Schema {
                    table: table.to_string(),
                    reason: format!(
                        "constraint \"{}\" names column {} of {width}",
                        key.name,
                        c + 1
                    ),
                });
            }
        }
        if let Some(&c) = self.not_null.iter().find(|&&c| c >= width) {
            return Err(TableError::Schema {
                table: table.to_string(),
                reason: format!("NOT NULL names column {} of {width}", c + 1),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use eddy_catalog::{ColumnDef, IndexDef, SqlType};

    use super::*;

    fn column(name: &str, nullable: bool) -> ColumnDef {
        ColumnDef {
            name: name.into(),
            data_type: SqlType::BigInt,
            nullable,
            default: None,
        }
    }

    #[test]
    fn a_definition_gives_named_keys_and_not_null_columns() {
        let def = TableDef {
            name: "t".into(),
            columns: vec![column("a", false), column("b", true), column("c", true)],
            primary_key: vec!["b".into()],
            primary_key_name: None,
            indexes: vec![
                IndexDef {
                    name: "t_c_key".into(),
                    columns: vec!["c".into()],
                    unique: true,
                    constraint: true,
                },
                IndexDef {
                    name: "t_a_idx".into(),
                    columns: vec!["a".into()],
                    unique: false,
                    constraint: false,
                },
            ],
            foreign_keys: vec![],
            comments: Default::default(),
            sql: String::new(),
        };
        let c = TableConstraints::from_table_def(&def).unwrap();
        assert_eq!(
            c.primary_key,
            Some(KeyConstraint {
                name: "t_pkey".into(),
                columns: vec![1]
            })
        );
        assert_eq!(
            c.unique,
            [KeyConstraint {
                name: "t_c_key".into(),
                columns: vec![2]
            }]
        );
        assert_eq!(c.not_null, [0]);
        assert_eq!(c.non_null_columns(), [0, 1]);

        let mut bad = def;
        bad.primary_key = vec!["nope".into()];
        let err = TableConstraints::from_table_def(&bad).unwrap_err();
        assert_eq!(err.code(), "42703");
        assert_eq!(
            err.to_string(),
            "column \"nope\" named by constraint \"t_pkey\" of table \"t\" does not exist"
        );
    }
}
