//! List columns as PostgreSQL arrays: `{1,2,NULL}` / `{a,"b c"}` in text,
//! the one-dimensional binary array format in binary. Lists of booleans,
//! integers, floats and text; other lists stay text through Arrow's display.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
};
use pgwire::api::Type;

/// The array type a list of `element` is reported as, if encoded here.
pub fn array_type(element: &DataType) -> Option<Type> {
    Some(match element {
        DataType::Boolean => Type::BOOL_ARRAY,
        DataType::Int16 => Type::INT2_ARRAY,
        DataType::Int32 => Type::INT4_ARRAY,
        DataType::Int64 => Type::INT8_ARRAY,
        DataType::Float32 => Type::FLOAT4_ARRAY,
        DataType::Float64 => Type::FLOAT8_ARRAY,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Type::TEXT_ARRAY,
        _ => return None,
    })
}

/// One array value, encoded in text or binary.
#[derive(Debug)]
pub struct PgArray {
    pub bytes: Vec<u8>,
}

impl PgArray {
    /// One list's `values` (of a type [`array_type`] accepts).
    pub fn encode(values: &ArrayRef, text: bool) -> PgArray {
        let values = match values.data_type() {
            DataType::LargeUtf8 | DataType::Utf8View => {
                datafusion::arrow::compute::cast(values, &DataType::Utf8)
                    .unwrap_or_else(|_| values.clone())
            }
            _ => values.clone(),
        };
        let elements: Vec<Option<Element>> = (0..values.len())
            .map(|i| values.is_valid(i).then(|| element(&values, i)))
            .collect();
        let bytes = if text {
            text_array(&elements)
        } else {
            let oid = array_type(values.data_type())
                .and_then(|t| element_oid(&t))
                .unwrap_or(Type::TEXT.oid());
            binary_array(&elements, oid)
        };
        PgArray { bytes }
    }
}

impl PgArray {
    /// One `int2vector` or `oidvector` value (`vector` says which): as
    /// text its numbers separated by spaces, in binary an array of int2 or
    /// oid numbered from 0, as PostgreSQL sends them.
    pub fn encode_vector(values: &ArrayRef, text: bool, vector: &Type) -> PgArray {
        let numbers: Vec<i64> = match datafusion::arrow::compute::cast(values, &DataType::Int64) {
            Ok(a) => a.as_primitive::<Int64Type>().iter().flatten().collect(),
            Err(_) => Vec::new(),
        };
        let bytes = if text {
            numbers
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(" ")
                .into_bytes()
        } else if *vector == Type::OID_VECTOR {
            let elements: Vec<Option<Element>> = numbers
                .iter()
                .map(|n| Some(Element::I32(*n as u32 as i32)))
                .collect();
            binary_array_from(&elements, Type::OID.oid(), 0)
        } else {
            let elements: Vec<Option<Element>> = numbers
                .iter()
                .map(|n| Some(Element::I16(*n as i16)))
                .collect();
            binary_array_from(&elements, Type::INT2.oid(), 0)
        };
        PgArray { bytes }
    }
}

enum Element {
    Bool(bool),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Text(String),
}

fn element(values: &ArrayRef, i: usize) -> Element {
    match values.data_type() {
        DataType::Boolean => Element::Bool(values.as_boolean().value(i)),
        DataType::Int16 => Element::I16(values.as_primitive::<Int16Type>().value(i)),
        DataType::Int32 => Element::I32(values.as_primitive::<Int32Type>().value(i)),
        DataType::Int64 => Element::I64(values.as_primitive::<Int64Type>().value(i)),
        DataType::Float32 => Element::F32(values.as_primitive::<Float32Type>().value(i)),
        DataType::Float64 => Element::F64(values.as_primitive::<Float64Type>().value(i)),
        _ => Element::Text(
            values
                .as_string_opt::<i32>()
                .map(|a| a.value(i).to_owned())
                .unwrap_or_default(),
        ),
    }
}

fn element_oid(array: &Type) -> Option<u32> {
    Some(match *array {
        Type::BOOL_ARRAY => Type::BOOL.oid(),
        Type::INT2_ARRAY => Type::INT2.oid(),
        Type::INT4_ARRAY => Type::INT4.oid(),
        Type::INT8_ARRAY => Type::INT8.oid(),
        Type::FLOAT4_ARRAY => Type::FLOAT4.oid(),
        Type::FLOAT8_ARRAY => Type::FLOAT8.oid(),
        Type::TEXT_ARRAY => Type::TEXT.oid(),
        _ => return None,
    })
}

fn text_array(elements: &[Option<Element>]) -> Vec<u8> {
    let mut s = String::from("{");
    for (i, e) in elements.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        match e {
            None => s.push_str("NULL"),
            Some(Element::Bool(b)) => s.push(if *b { 't' } else { 'f' }),
            Some(Element::I16(v)) => s.push_str(&v.to_string()),
            Some(Element::I32(v)) => s.push_str(&v.to_string()),
            Some(Element::I64(v)) => s.push_str(&v.to_string()),
            Some(Element::F32(v)) => s.push_str(&float_text(f64::from(*v))),
            Some(Element::F64(v)) => s.push_str(&float_text(*v)),
            Some(Element::Text(t)) => quote_element(&mut s, t),
        }
    }
    s.push('}');
    s.into_bytes()
}

fn float_text(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        v.to_string()
    }
}

/// Quotes an element when PostgreSQL would: empty, `NULL`, or containing
/// braces, commas, quotes, backslashes or spaces.
fn quote_element(s: &mut String, t: &str) {
    let needs_quotes = t.is_empty()
        || t.eq_ignore_ascii_case("null")
        || t.chars()
            .any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\') || c.is_whitespace());
    if !needs_quotes {
        s.push_str(t);
        return;
    }
    s.push('"');
    for c in t.chars() {
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
}

fn binary_array(elements: &[Option<Element>], element_oid: u32) -> Vec<u8> {
    binary_array_from(elements, element_oid, 1)
}

/// An array's binary form, its subscripts starting at `lower_bound`.
fn binary_array_from(elements: &[Option<Element>], element_oid: u32, lower_bound: i32) -> Vec<u8> {
    let mut b = Vec::new();
    let has_null = elements.iter().any(Option::is_none);
    b.extend_from_slice(&1i32.to_be_bytes());
    b.extend_from_slice(&i32::from(has_null).to_be_bytes());
    b.extend_from_slice(&element_oid.to_be_bytes());
    b.extend_from_slice(&(elements.len() as i32).to_be_bytes());
    b.extend_from_slice(&lower_bound.to_be_bytes());
    for e in elements {
        let bytes: Vec<u8> = match e {
            None => {
                b.extend_from_slice(&(-1i32).to_be_bytes());
                continue;
            }
            Some(Element::Bool(v)) => vec![u8::from(*v)],
            Some(Element::I16(v)) => v.to_be_bytes().to_vec(),
            Some(Element::I32(v)) => v.to_be_bytes().to_vec(),
            Some(Element::I64(v)) => v.to_be_bytes().to_vec(),
            Some(Element::F32(v)) => v.to_be_bytes().to_vec(),
            Some(Element::F64(v)) => v.to_be_bytes().to_vec(),
            Some(Element::Text(t)) => t.as_bytes().to_vec(),
        };
        b.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        b.extend_from_slice(&bytes);
    }
    b
}

impl postgres_types::ToSql for PgArray {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres_types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&self.bytes);
        Ok(postgres_types::IsNull::No)
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    postgres_types::to_sql_checked!();
}

impl pgwire::types::ToSqlText for PgArray {
    fn to_sql_text(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
        _format_options: &pgwire::types::format::FormatOptions,
    ) -> Result<postgres_types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&self.bytes);
        Ok(postgres_types::IsNull::No)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int32Array, StringArray};

    use super::*;

    #[test]
    fn vectors_like_postgres() {
        let ints: ArrayRef = Arc::new(datafusion::arrow::array::Int16Array::from(vec![1, 3]));
        assert_eq!(
            PgArray::encode_vector(&ints, true, &Type::INT2_VECTOR).bytes,
            b"1 3"
        );
        let binary = PgArray::encode_vector(&ints, false, &Type::INT2_VECTOR).bytes;
        // One dimension, no NULLs, int2 elements, 2 of them from subscript 0.
        assert_eq!(
            &binary[..20],
            &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 21, 0, 0, 0, 2, 0, 0, 0, 0]
        );
        assert_eq!(&binary[20..], &[0, 0, 0, 2, 0, 1, 0, 0, 0, 2, 0, 3]);
    }

    #[test]
    fn text_arrays_like_postgres() {
        let ints: ArrayRef = Arc::new(Int32Array::from(vec![Some(1), None, Some(-3)]));
        assert_eq!(PgArray::encode(&ints, true).bytes, b"{1,NULL,-3}");
        let texts: ArrayRef =
            Arc::new(StringArray::from(vec!["public", "a b", "", "x\"y", "NULL"]));
        assert_eq!(
            String::from_utf8(PgArray::encode(&texts, true).bytes).unwrap(),
            r#"{public,"a b","","x\"y","NULL"}"#
        );
    }

    #[test]
    fn binary_int_array() {
        let ints: ArrayRef = Arc::new(Int32Array::from(vec![Some(7), None]));
        let mut expected = Vec::new();
        for v in [1i32, 1, 23, 2, 1, 4, 7, -1] {
            expected.extend_from_slice(&v.to_be_bytes());
        }
        assert_eq!(PgArray::encode(&ints, false).bytes, expected);
    }
}
