//! Functions whose answer Eddy knows without looking: every privilege is
//! granted and every object visible; there are no rules, triggers,
//! partitions, sequences or statistics objects; relations take no space;
//! expressions are stored as SQL text.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::prelude::SessionContext;

use crate::udf::{as_i64, as_text, register, utf8};

pub(super) fn register_all(ctx: &SessionContext) {
    let text = DataType::Utf8;
    // No index is ever scanned: indexes are recorded, unique ones enforced.
    register(ctx, "pg_stat_get_numscans", &[1], DataType::Int64, |_| {
        Ok(ScalarValue::Int64(Some(0)))
    });
    // No rules.
    register(ctx, "pg_get_ruledef", &[1, 2], DataType::Utf8, |_| {
        Ok(ScalarValue::Utf8(None))
    });
    // Eddy has no triggers (pg_trigger is empty).
    register(ctx, "pg_get_triggerdef", &[1, 2], DataType::Utf8, |_| {
        Ok(ScalarValue::Utf8(None))
    });
    // Eddy has no partitioned tables: a relation's only "ancestor" is itself.
    register(
        ctx,
        "pg_partition_ancestors",
        &[1],
        DataType::Int64,
        |args| Ok(ScalarValue::Int64(as_i64(&args[0]))),
    );
    for name in [
        "pg_type_is_visible",
        "pg_function_is_visible",
        "pg_collation_is_visible",
        "pg_opclass_is_visible",
    ] {
        register(ctx, name, &[1], DataType::Boolean, |_| {
            Ok(ScalarValue::Boolean(Some(true)))
        });
    }
    for name in [
        "has_table_privilege",
        "has_schema_privilege",
        "has_database_privilege",
        "has_column_privilege",
        "has_any_column_privilege",
        "has_sequence_privilege",
        "has_function_privilege",
        "pg_has_role",
    ] {
        register(ctx, name, &[2, 3, 4], DataType::Boolean, |_| {
            Ok(ScalarValue::Boolean(Some(true)))
        });
    }
    for name in ["pg_relation_is_publishable", "pg_is_in_recovery"] {
        register(ctx, name, &[0, 1], DataType::Boolean, |_| {
            Ok(ScalarValue::Boolean(Some(false)))
        });
    }
    // Expressions are stored as SQL text: `pg_get_expr` returns them as is.
    register(ctx, "pg_get_expr", &[2, 3], text.clone(), |args| {
        Ok(utf8(as_text(&args[0])))
    });
    for name in [
        "shobj_description",
        "pg_get_statisticsobjdef_columns",
        "pg_get_serial_sequence",
        "pg_get_partkeydef",
        "pg_get_function_identity_arguments",
        "pg_get_function_result",
    ] {
        register(ctx, name, &[1, 2], text.clone(), |_| Ok(ScalarValue::Null));
    }
    register(ctx, "pg_encoding_to_char", &[1], text.clone(), |args| {
        Ok(utf8(as_i64(&args[0]).map(|e| {
            if e == 6 { "UTF8" } else { "SQL_ASCII" }.to_string()
        })))
    });
    register(ctx, "pg_tablespace_location", &[1], text.clone(), |_| {
        Ok(utf8(Some(String::new())))
    });
    for name in [
        "pg_total_relation_size",
        "pg_relation_size",
        "pg_table_size",
        "pg_indexes_size",
    ] {
        register(ctx, name, &[1, 2], DataType::Int64, |_| {
            Ok(ScalarValue::Int64(Some(0)))
        });
    }
    register(ctx, "txid_current", &[0], DataType::Int64, |_| {
        Ok(ScalarValue::Int64(Some(1)))
    });
}
