//! The type OIDs of `pg_type` and the columns of relations, from
//! [`eddy_pgtypes`] (the mapping results on the wire use too).

use datafusion::arrow::datatypes::Field;
use eddy_catalog::SqlType;

pub use eddy_pgtypes::oid::{PgType, TYPES, by_name, by_oid, format_type};

/// (type OID, typmod) of a column of an Eddy table or source.
pub fn of_sql_type(t: SqlType) -> (i64, i32) {
    of_field(&eddy_sql::types::arrow_field("", t, true))
}

/// (type OID, typmod) of a column computed by a query.
pub fn of_field(field: &Field) -> (i64, i32) {
    let t = eddy_pgtypes::of_field(field);
    (t.oid.into(), t.typmod)
}
