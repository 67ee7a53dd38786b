//! Arrow → PostgreSQL: the type a column is described as, on the wire, in
//! `pg_attribute` and in `information_schema` alike.
//!
//! A column's type comes from its Arrow type, except where the field's
//! metadata ([`PG_TYPE_KEY`]) names one Arrow cannot express: `uuid`, `json`
//! and `jsonb` are `Utf8` columns, `int2vector` and `oidvector` are lists.
//! Lists of a scalar the codecs encode are arrays of it; anything else
//! (structs, maps, times) is described as `text` and sent as Arrow displays
//! it, so that the description and the bytes never disagree.

use arrow::datatypes::{DataType, Field};

use crate::oid;

/// The Arrow field metadata key naming a column's PostgreSQL type.
pub const PG_TYPE_KEY: &str = "eddy.pg_type";

/// A PostgreSQL column type: its OID and type modifier (`-1` for none;
/// `numeric(p,s)` is `((p << 16) | s) + 4`, as PostgreSQL stores it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnType {
    pub oid: u32,
    pub typmod: i32,
}

impl ColumnType {
    pub const fn of(oid: u32) -> ColumnType {
        ColumnType { oid, typmod: -1 }
    }

    /// PostgreSQL's name of the type (`int4`, `_text`).
    pub fn name(self) -> &'static str {
        oid::by_oid(self.oid.into()).map_or("text", |t| t.name)
    }
}

/// The type OIDs the codecs know by name.
pub mod oids {
    pub const BOOL: u32 = 16;
    pub const BYTEA: u32 = 17;
    pub const NAME: u32 = 19;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT2VECTOR: u32 = 22;
    pub const INT4: u32 = 23;
    pub const TEXT: u32 = 25;
    pub const OID: u32 = 26;
    pub const OIDVECTOR: u32 = 30;
    pub const JSON: u32 = 114;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
    pub const BPCHAR: u32 = 1042;
    pub const VARCHAR: u32 = 1043;
    pub const DATE: u32 = 1082;
    pub const TIMESTAMP: u32 = 1114;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const INTERVAL: u32 = 1186;
    pub const NUMERIC: u32 = 1700;
    pub const UUID: u32 = 2950;
    pub const JSONB: u32 = 3802;
    pub const UNKNOWN: u32 = 705;
}

/// The type of a column of Arrow type `dt` with no metadata.
pub fn of_arrow(dt: &DataType) -> ColumnType {
    use oids::*;
    let oid = match dt {
        DataType::Boolean => BOOL,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => INT2,
        DataType::Int32 | DataType::UInt16 => INT4,
        DataType::Int64 | DataType::UInt32 => INT8,
        DataType::UInt64 => NUMERIC,
        DataType::Decimal128(p, s) => {
            return ColumnType {
                oid: NUMERIC,
                typmod: if *s >= 0 {
                    ((i32::from(*p) << 16) | i32::from(*s)) + 4
                } else {
                    -1
                },
            };
        }
        DataType::Float16 | DataType::Float32 => FLOAT4,
        DataType::Float64 => FLOAT8,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => BYTEA,
        DataType::Date32 | DataType::Date64 => DATE,
        DataType::Timestamp(_, None) => TIMESTAMP,
        DataType::Timestamp(_, Some(_)) => TIMESTAMPTZ,
        DataType::Interval(_) | DataType::Duration(_) => INTERVAL,
        DataType::List(f) | DataType::LargeList(f) => match array_element(f.data_type()) {
            Some(element) => array_of(element).unwrap_or(TEXT),
            None => TEXT,
        },
        _ => TEXT,
    };
    ColumnType::of(oid)
}

/// The type of a column: the one its metadata names, else [`of_arrow`].
pub fn of_field(field: &Field) -> ColumnType {
    if let Some(named) = field.metadata().get(PG_TYPE_KEY) {
        let is_text = matches!(
            field.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        );
        let is_list = matches!(field.data_type(), DataType::List(_));
        let oid = match named.as_str() {
            "uuid" if is_text => Some(oids::UUID),
            "json" if is_text => Some(oids::JSON),
            "jsonb" if is_text => Some(oids::JSONB),
            "int2vector" if is_list => Some(oids::INT2VECTOR),
            "oidvector" if is_list => Some(oids::OIDVECTOR),
            _ => None,
        };
        if let Some(oid) = oid {
            return ColumnType::of(oid);
        }
    }
    of_arrow(field.data_type())
}

/// The element type of a list of Arrow type `element`, if such lists are
/// sent as PostgreSQL arrays (see [`crate::encode`]).
fn array_element(element: &DataType) -> Option<u32> {
    use oids::*;
    Some(match element {
        DataType::Boolean => BOOL,
        DataType::Int16 => INT2,
        DataType::Int32 => INT4,
        DataType::Int64 => INT8,
        DataType::Float32 => FLOAT4,
        DataType::Float64 => FLOAT8,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => TEXT,
        _ => return None,
    })
}

/// The array type of `element` (`int4` → `_int4`).
pub fn array_of(element: u32) -> Option<u32> {
    let t = oid::by_oid(element.into())?;
    (t.array != 0).then_some(t.array as u32)
}

/// The element type of an array type (`_int4` → `int4`).
pub fn element_of(array: u32) -> Option<u32> {
    let t = oid::by_oid(array.into())?;
    (t.elem != 0 && t.category == "A").then_some(t.elem as u32)
}

/// The metadata that marks a field as being of the PostgreSQL type `name`
/// (`uuid`, `json`, `jsonb`, `int2vector`, `oidvector`).
pub fn metadata(name: &str) -> std::collections::HashMap<String, String> {
    std::collections::HashMap::from([(PG_TYPE_KEY.to_string(), name.to_string())])
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn one_mapping_for_every_reader() {
        let list = |dt| DataType::List(Arc::new(Field::new("item", dt, true)));
        assert_eq!(of_arrow(&list(DataType::Int32)).oid, 1007);
        assert_eq!(of_arrow(&list(DataType::Utf8)).oid, 1009);
        // Lists the codecs cannot send as arrays are text, described so.
        assert_eq!(of_arrow(&list(DataType::Date32)).oid, oids::TEXT);
        assert_eq!(of_arrow(&DataType::Date64).oid, oids::DATE);
        assert_eq!(
            of_arrow(&DataType::Decimal128(10, 2)),
            ColumnType {
                oid: oids::NUMERIC,
                typmod: (10 << 16 | 2) + 4
            }
        );
        let uuid = Field::new("u", DataType::Utf8, true).with_metadata(metadata("uuid"));
        assert_eq!(of_field(&uuid).oid, oids::UUID);
        // Metadata on a field of the wrong Arrow type is ignored.
        let bad = Field::new("u", DataType::Int32, true).with_metadata(metadata("uuid"));
        assert_eq!(of_field(&bad).oid, oids::INT4);
        let vector =
            Field::new("v", list(DataType::Int16), true).with_metadata(metadata("int2vector"));
        assert_eq!(of_field(&vector).oid, oids::INT2VECTOR);
        assert_eq!(array_of(oids::INT4), Some(1007));
        assert_eq!(element_of(1007), Some(oids::INT4));
        assert_eq!(element_of(oids::INT2VECTOR), None);
    }
}
