//! Bound parameters as the statement sees them: the values the wire
//! front end decoded ([`eddy_wire::Param`]) turned into DataFusion scalars
//! of the parameter's type, with what only the SQL layer knows applied —
//! an interval written as text read by the SQL parser's grammar, uuid,
//! json and jsonb text made canonical as stored (so that `u = $1`
//! compares like with like).

use datafusion::arrow::datatypes::{DataType, IntervalMonthDayNano};
use datafusion::common::ScalarValue;
use eddy_pgtypes::decode::Value;
use eddy_pgtypes::oids;
use eddy_sql::text_types::TextType;
use eddy_wire::{DbError, Param};

/// The scalars of a statement's bound parameters.
pub fn scalars(params: &[Param]) -> Result<Vec<ScalarValue>, DbError> {
    params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            param_scalar(p).map_err(|(code, message)| DbError::invalid_parameter(i, code, &message))
        })
        .collect()
}

/// One parameter as the scalar its statement sees.
fn param_scalar(param: &Param) -> Result<ScalarValue, (&'static str, String)> {
    if param.oid == oids::INTERVAL
        && let Value::Text(text) = &param.value
    {
        let iv = eddy_sql::types::parse_interval(text).map_err(|e| (e.sqlstate, e.message))?;
        return interval(iv.months, iv.days, iv.micros);
    }
    scalar(param.oid, param.value.clone())
}

/// The Arrow type a parameter of type `oid` is bound as.
fn param_data_type(oid: u32) -> DataType {
    use datafusion::arrow::datatypes::{IntervalUnit, TimeUnit};
    match oid {
        oids::BOOL => DataType::Boolean,
        oids::INT2 => DataType::Int16,
        oids::INT4 => DataType::Int32,
        oids::INT8 => DataType::Int64,
        oids::FLOAT4 => DataType::Float32,
        oids::FLOAT8 => DataType::Float64,
        oids::NUMERIC => DataType::Decimal128(38, 10),
        oids::BYTEA => DataType::Binary,
        oids::DATE => DataType::Date32,
        oids::TIMESTAMP => DataType::Timestamp(TimeUnit::Microsecond, None),
        oids::TIMESTAMPTZ => DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        oids::INTERVAL => DataType::Interval(IntervalUnit::MonthDayNano),
        array if eddy_pgtypes::decode::is_known(array) => {
            match eddy_pgtypes::mapping::element_of(array) {
                Some(element) if element != array => {
                    DataType::new_list(param_data_type(element), true)
                }
                _ => DataType::Utf8,
            }
        }
        _ => DataType::Utf8,
    }
}

fn interval(months: i32, days: i32, micros: i64) -> Result<ScalarValue, (&'static str, String)> {
    let nanoseconds = micros
        .checked_mul(1_000)
        .ok_or(("22008", "interval out of range".to_string()))?;
    Ok(ScalarValue::IntervalMonthDayNano(Some(
        IntervalMonthDayNano::new(months, days, nanoseconds),
    )))
}

/// A decoded value as the scalar of its parameter type: uuid, json and
/// jsonb text made canonical as stored (so that `u = $1` compares like
/// with like).
fn scalar(oid: u32, value: Value) -> Result<ScalarValue, (&'static str, String)> {
    Ok(match value {
        Value::Null => {
            ScalarValue::try_from(&param_data_type(oid)).map_err(|e| ("22P02", e.to_string()))?
        }
        Value::Bool(v) => ScalarValue::Boolean(Some(v)),
        Value::Int2(v) => ScalarValue::Int16(Some(v)),
        Value::Int4(v) => ScalarValue::Int32(Some(v)),
        Value::Int8(v) => ScalarValue::Int64(Some(v)),
        Value::Float4(v) => ScalarValue::Float32(Some(v)),
        Value::Float8(v) => ScalarValue::Float64(Some(v)),
        Value::Numeric { unscaled, scale } => ScalarValue::Decimal128(Some(unscaled), 38, scale),
        Value::Bytes(v) => ScalarValue::Binary(Some(v)),
        Value::Date(v) => ScalarValue::Date32(Some(v)),
        Value::Timestamp(v) => ScalarValue::TimestampMicrosecond(Some(v), None),
        Value::TimestampTz(v) => ScalarValue::TimestampMicrosecond(Some(v), Some("+00:00".into())),
        Value::Interval(iv) => return interval(iv.months, iv.days, iv.micros),
        Value::Text(text) => {
            let text_type = match oid {
                oids::UUID => Some(TextType::Uuid),
                oids::JSON => Some(TextType::Json),
                oids::JSONB => Some(TextType::Jsonb),
                _ => None,
            };
            match text_type {
                Some(t) => ScalarValue::Utf8(Some(
                    t.canonical(&text)
                        .map(|c| c.into_owned())
                        .map_err(|e| (e.sqlstate, e.message))?,
                )),
                None => ScalarValue::Utf8(Some(text)),
            }
        }
        Value::Array { element, values } => {
            let values = values
                .into_iter()
                .map(|v| scalar(element, v))
                .collect::<Result<Vec<_>, _>>()?;
            ScalarValue::List(ScalarValue::new_list_nullable(
                &values,
                &param_data_type(element),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use datafusion::common::ScalarValue;
    use eddy_pgtypes::decode::decode;
    use eddy_pgtypes::oids;
    use eddy_wire::Param;

    use super::scalars;

    const UUID: &str = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";

    /// `bytes` decoded as the wire front end does, then as a scalar.
    fn param(oid: u32, bytes: Option<&[u8]>, binary: bool) -> Result<ScalarValue, String> {
        let as_type = if eddy_pgtypes::decode::is_known(oid) {
            oid
        } else {
            oids::TEXT
        };
        let value = decode(as_type, bytes, binary).map_err(|e| e.message)?;
        scalars(&[Param { oid, value }])
            .map(|mut s| s.remove(0))
            .map_err(|e| e.message)
    }

    fn text(oid: u32, bytes: &[u8], binary: bool) -> Result<String, String> {
        match param(oid, Some(bytes), binary)? {
            ScalarValue::Utf8(Some(s)) => Ok(s),
            other => panic!("not text: {other:?}"),
        }
    }

    #[test]
    fn uuid_and_json_parameters_arrive_canonical() {
        let upper = "{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}";
        assert_eq!(text(oids::UUID, upper.as_bytes(), false).unwrap(), UUID);
        let bytes = eddy_sql::text_types::parse_uuid(UUID).unwrap();
        assert_eq!(text(oids::UUID, &bytes, true).unwrap(), UUID);
        assert_eq!(
            text(oids::UUID, b"nope", false).unwrap_err(),
            r#"invalid input syntax for type uuid: "nope""#
        );
        assert_eq!(
            text(oids::UUID, &bytes[..10], true).unwrap_err(),
            "binary uuid of 10 bytes, expected 16"
        );

        let doc = br#"{"b":1,"a":2}"#;
        assert_eq!(text(oids::JSON, doc, true).unwrap(), r#"{"b":1,"a":2}"#);
        let binary_jsonb = [&[1u8][..], doc].concat();
        assert_eq!(
            text(oids::JSONB, &binary_jsonb, true).unwrap(),
            r#"{"a": 2, "b": 1}"#
        );
        assert_eq!(
            text(oids::JSONB, &[&[2u8][..], doc].concat(), true).unwrap_err(),
            "unsupported binary jsonb version"
        );
        assert_eq!(
            text(oids::JSON, b"{", false).unwrap_err(),
            "invalid value for parameter $1: invalid input syntax for type json"
        );
        // Text stays as sent.
        assert_eq!(text(oids::TEXT, b" A ", false).unwrap(), " A ");
    }

    #[test]
    fn numbers_dates_and_arrays() {
        assert_eq!(
            param(oids::NUMERIC, Some(b"2.50"), false),
            Ok(ScalarValue::Decimal128(Some(250), 38, 2))
        );
        assert_eq!(param(oids::INT4, None, false), Ok(ScalarValue::Int32(None)));
        assert_eq!(
            param(oids::INTERVAL, Some(b"1 day"), false),
            Ok(ScalarValue::IntervalMonthDayNano(Some(
                datafusion::arrow::datatypes::IntervalMonthDayNano::new(0, 1, 0)
            )))
        );
        assert_eq!(
            param(oids::INTERVAL, None, false),
            Ok(ScalarValue::IntervalMonthDayNano(None))
        );
        let text_array = eddy_pgtypes::mapping::array_of(oids::TEXT).unwrap();
        let list = param(text_array, Some(b"{a,b}"), false).unwrap();
        assert_eq!(list.to_string(), "[a, b]");
    }
}
