//! Unique keys checked over a transaction's rows (23505), for writes whose
//! rows are checked as a whole — UPDATE, ALTER TABLE, CREATE UNIQUE INDEX,
//! an INSERT into a table the transaction rewrote; other INSERTs are
//! checked by the stored table's indexes.

use std::collections::HashSet;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::ScalarValue;
use eddy_catalog::TableDef;

use crate::error::{UserError, UserResult};

/// The table's unique keys: (constraint name, column positions).
fn unique_keys(def: &TableDef) -> Vec<(String, Vec<usize>)> {
    let positions = |cols: &[String]| -> Vec<usize> {
        cols.iter()
            .filter_map(|c| def.columns.iter().position(|d| &d.name == c))
            .collect()
    };
    let mut keys = Vec::new();
    if !def.primary_key.is_empty() {
        let name = def
            .primary_key_name
            .clone()
            .unwrap_or_else(|| format!("{}_pkey", def.name));
        keys.push((name, positions(&def.primary_key)));
    }
    for index in def.indexes.iter().filter(|i| i.unique) {
        keys.push((index.name.clone(), positions(&index.columns)));
    }
    keys
}

/// Checks the primary key and unique indexes over `existing` and `added`
/// together (23505 on a duplicate). Rows with a NULL in a unique key never
/// conflict, as in PostgreSQL.
pub fn check_unique(
    def: &TableDef,
    existing: &[RecordBatch],
    added: &[RecordBatch],
) -> UserResult<()> {
    if added.iter().all(|b| b.num_rows() == 0) {
        return Ok(());
    }
    for (constraint, key) in unique_keys(def) {
        if key.is_empty() {
            continue;
        }
        let fields = key
            .iter()
            .map(|&i| {
                let dt = added
                    .iter()
                    .chain(existing)
                    .next()
                    .map(|b| b.column(i).data_type().clone())
                    .unwrap_or(DataType::Null);
                SortField::new(dt)
            })
            .collect();
        let converter = RowConverter::new(fields)?;
        let mut seen = HashSet::new();
        for batch in existing.iter().chain(added) {
            let arrays: Vec<ArrayRef> = key.iter().map(|&i| batch.column(i).clone()).collect();
            let rows = converter.convert_columns(&arrays)?;
            for (r, row) in rows.iter().enumerate() {
                if arrays.iter().any(|a| a.is_null(r)) {
                    continue;
                }
                if !seen.insert(row.as_ref().to_vec()) {
                    return Err(duplicate_key(def, &constraint, &key, &arrays, r));
                }
            }
        }
    }
    Ok(())
}

fn duplicate_key(
    def: &TableDef,
    constraint: &str,
    key: &[usize],
    arrays: &[ArrayRef],
    row: usize,
) -> UserError {
    let columns: Vec<&str> = key.iter().map(|&i| def.columns[i].name.as_str()).collect();
    let values: Vec<String> = arrays
        .iter()
        .map(|a| {
            ScalarValue::try_from_array(a, row)
                .map(|v| v.to_string())
                .unwrap_or_default()
        })
        .collect();
    UserError {
        detail: Some(format!(
            "Key ({})=({}) already exists.",
            columns.join(", "),
            values.join(", ")
        )),
        ..UserError::new(
            "23505",
            format!("duplicate key value violates unique constraint \"{constraint}\""),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use datafusion::arrow::array::StringArray;
    use datafusion::arrow::datatypes::{Field, Schema};
    use eddy_catalog::{ColumnDef, IndexDef, SqlType};

    fn def() -> TableDef {
        TableDef {
            name: "t".into(),
            columns: vec![ColumnDef {
                name: "k".into(),
                data_type: SqlType::Text,
                nullable: true,
                default: None,
            }],
            primary_key: vec![],
            primary_key_name: None,
            indexes: vec![IndexDef {
                name: "t_k_key".into(),
                columns: vec!["k".into()],
                unique: true,
                constraint: true,
            }],
            foreign_keys: vec![],
            comments: Default::default(),
            sql: String::new(),
        }
    }

    fn batch(values: Vec<Option<&str>>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, true)]));
        RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(values))]).unwrap()
    }

    #[test]
    fn unique_keys_refuse_duplicates_but_not_nulls() {
        let existing = [batch(vec![Some("a"), None])];
        assert!(check_unique(&def(), &existing, &[batch(vec![Some("b"), None])]).is_ok());
        let err = check_unique(&def(), &existing, &[batch(vec![Some("a")])]).unwrap_err();
        assert_eq!(err.sqlstate, "23505");
        assert!(err.message.contains("\"t_k_key\""), "{}", err.message);
    }
}
