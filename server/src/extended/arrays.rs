//! Array parameters (`$1::text[]`, `= ANY($1)`), one-dimensional, of
//! booleans, integers, floats and text, in text (`{a,"b c",NULL}`) or binary
//! format, decoded into an Arrow list so that `unnest($1)` and `= ANY($1)`
//! plan. dbmate, for one, binds its schema and table names this way.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use pgwire::api::Type;

/// The array type whose elements are `element`, if arrays of it are
/// decoded here.
pub fn array_of(element: &Type) -> Option<Type> {
    Some(match *element {
        Type::BOOL => Type::BOOL_ARRAY,
        Type::INT2 => Type::INT2_ARRAY,
        Type::INT4 => Type::INT4_ARRAY,
        Type::INT8 => Type::INT8_ARRAY,
        Type::FLOAT4 => Type::FLOAT4_ARRAY,
        Type::FLOAT8 => Type::FLOAT8_ARRAY,
        Type::TEXT => Type::TEXT_ARRAY,
        Type::VARCHAR => Type::VARCHAR_ARRAY,
        Type::NAME => Type::NAME_ARRAY,
        _ => return None,
    })
}

/// The element type of an array type decoded here.
fn element_of(array: &Type) -> Option<(Type, DataType)> {
    Some(match *array {
        Type::BOOL_ARRAY => (Type::BOOL, DataType::Boolean),
        Type::INT2_ARRAY => (Type::INT2, DataType::Int16),
        Type::INT4_ARRAY => (Type::INT4, DataType::Int32),
        Type::INT8_ARRAY => (Type::INT8, DataType::Int64),
        Type::FLOAT4_ARRAY => (Type::FLOAT4, DataType::Float32),
        Type::FLOAT8_ARRAY => (Type::FLOAT8, DataType::Float64),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::NAME_ARRAY => (Type::TEXT, DataType::Utf8),
        _ => return None,
    })
}

pub fn is_array(t: &Type) -> bool {
    element_of(t).is_some()
}

/// Decodes an array parameter of type `t` (`None` for NULL).
pub fn decode_array(t: &Type, raw: Option<(&[u8], bool)>) -> Result<ScalarValue, String> {
    let (element, data_type) = element_of(t).ok_or_else(|| format!("{t} is not an array"))?;
    let Some((bytes, binary)) = raw else {
        return ScalarValue::try_from(DataType::new_list(data_type, true))
            .map_err(|e| e.to_string());
    };
    let elements = if binary {
        binary_elements(bytes)?
            .into_iter()
            .map(|e| e.map(|b| element_from_binary(&element, b)).transpose())
            .collect::<Result<Vec<_>, _>>()?
    } else {
        let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
        text_elements(text)?
            .into_iter()
            .map(|e| e.map(|s| element_from_text(&element, &s)).transpose())
            .collect::<Result<Vec<_>, _>>()?
    };
    let values: Vec<ScalarValue> = elements
        .into_iter()
        .map(|v| v.unwrap_or(ScalarValue::try_from(&data_type).unwrap_or(ScalarValue::Null)))
        .collect();
    Ok(ScalarValue::List(ScalarValue::new_list_nullable(
        &values, &data_type,
    )))
}

fn element_from_text(element: &Type, s: &str) -> Result<ScalarValue, String> {
    let bad = |e: &dyn std::fmt::Display| format!("invalid {element} array element \"{s}\": {e}");
    Ok(match *element {
        Type::BOOL => ScalarValue::Boolean(Some(match s.to_ascii_lowercase().as_str() {
            "t" | "true" | "yes" | "on" | "1" => true,
            "f" | "false" | "no" | "off" | "0" => false,
            _ => return Err(bad(&"not a boolean")),
        })),
        Type::INT2 => ScalarValue::Int16(Some(s.parse().map_err(|e| bad(&e))?)),
        Type::INT4 => ScalarValue::Int32(Some(s.parse().map_err(|e| bad(&e))?)),
        Type::INT8 => ScalarValue::Int64(Some(s.parse().map_err(|e| bad(&e))?)),
        Type::FLOAT4 => ScalarValue::Float32(Some(s.parse().map_err(|e| bad(&e))?)),
        Type::FLOAT8 => ScalarValue::Float64(Some(s.parse().map_err(|e| bad(&e))?)),
        _ => ScalarValue::Utf8(Some(s.to_owned())),
    })
}

fn element_from_binary(element: &Type, b: &[u8]) -> Result<ScalarValue, String> {
    let wrong = || format!("binary {element} array element of {} bytes", b.len());
    Ok(match *element {
        Type::BOOL => ScalarValue::Boolean(Some(b.first().ok_or_else(wrong)? != &0)),
        Type::INT2 => {
            ScalarValue::Int16(Some(i16::from_be_bytes(b.try_into().map_err(|_| wrong())?)))
        }
        Type::INT4 => {
            ScalarValue::Int32(Some(i32::from_be_bytes(b.try_into().map_err(|_| wrong())?)))
        }
        Type::INT8 => {
            ScalarValue::Int64(Some(i64::from_be_bytes(b.try_into().map_err(|_| wrong())?)))
        }
        Type::FLOAT4 => {
            ScalarValue::Float32(Some(f32::from_be_bytes(b.try_into().map_err(|_| wrong())?)))
        }
        Type::FLOAT8 => {
            ScalarValue::Float64(Some(f64::from_be_bytes(b.try_into().map_err(|_| wrong())?)))
        }
        _ => ScalarValue::Utf8(Some(
            std::str::from_utf8(b)
                .map_err(|e| e.to_string())?
                .to_owned(),
        )),
    })
}

/// `{a,"b \"c\"",NULL}` → its elements (`None` for NULL).
fn text_elements(text: &str) -> Result<Vec<Option<String>>, String> {
    let invalid = || format!("malformed array literal: \"{text}\"");
    let inner = text
        .trim()
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(invalid)?;
    let mut elements = Vec::new();
    let mut chars = inner.chars().peekable();
    while chars.peek().is_some() {
        let mut value = String::new();
        let quoted = chars.peek() == Some(&'"');
        if quoted {
            chars.next();
            loop {
                match chars.next().ok_or_else(invalid)? {
                    '"' => break,
                    '\\' => value.push(chars.next().ok_or_else(invalid)?),
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                ensure_flat(c).ok_or_else(invalid)?;
                value.push(c);
                chars.next();
            }
        }
        let value = if quoted {
            Some(value)
        } else {
            let trimmed = value.trim();
            (!trimmed.eq_ignore_ascii_case("null")).then(|| trimmed.to_owned())
        };
        elements.push(value);
        match chars.next() {
            None => break,
            Some(',') => {}
            Some(_) => return Err(invalid()),
        }
    }
    Ok(elements)
}

/// Nested arrays are refused.
fn ensure_flat(c: char) -> Option<()> {
    (c != '{' && c != '}' && c != '"').then_some(())
}

/// The binary array format: dimensions, a null flag, the element OID, each
/// dimension's length and lower bound, then length-prefixed elements.
fn binary_elements(b: &[u8]) -> Result<Vec<Option<&[u8]>>, String> {
    let short = || "binary array too short".to_string();
    let int = |at: usize| -> Result<i32, String> {
        let bytes = b.get(at..at + 4).ok_or_else(short)?;
        Ok(i32::from_be_bytes(bytes.try_into().map_err(|_| short())?))
    };
    let dimensions = int(0)?;
    if dimensions == 0 {
        return Ok(Vec::new());
    }
    if dimensions != 1 {
        return Err(format!(
            "arrays of {dimensions} dimensions are not supported"
        ));
    }
    let len = usize::try_from(int(12)?).map_err(|_| short())?;
    let mut at = 20;
    let mut elements = Vec::with_capacity(len);
    for _ in 0..len {
        let n = int(at)?;
        at += 4;
        if n < 0 {
            elements.push(None);
            continue;
        }
        let end = at + n as usize;
        elements.push(Some(b.get(at..end).ok_or_else(short)?));
        at = end;
    }
    Ok(elements)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::AsArray;

    #[test]
    fn text_arrays() {
        let elements = text_elements(r#"{public,"schema migrations","a\"b",NULL,"NULL"}"#);
        assert_eq!(
            elements.unwrap(),
            [
                Some("public".into()),
                Some("schema migrations".into()),
                Some("a\"b".into()),
                None,
                Some("NULL".into())
            ]
        );
        assert_eq!(text_elements("{}").unwrap(), Vec::<Option<String>>::new());
        assert!(text_elements("{{1,2},{3,4}}").is_err());
        assert!(text_elements("1,2").is_err());
    }

    #[test]
    fn binary_int_array() {
        let mut b = Vec::new();
        for v in [1i32, 0, 23, 2, 1] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        b.extend_from_slice(&4i32.to_be_bytes());
        b.extend_from_slice(&7i32.to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        let ScalarValue::List(list) = decode_array(&Type::INT4_ARRAY, Some((&b, true))).unwrap()
        else {
            panic!("not a list");
        };
        let values = list.value(0);
        let ints = values.as_primitive::<datafusion::arrow::datatypes::Int32Type>();
        assert_eq!(ints.iter().collect::<Vec<_>>(), [Some(7), None]);
        let list = decode_array(&Type::TEXT_ARRAY, Some((b"{a,b}", false))).unwrap();
        assert_eq!(list.to_string(), "[a, b]");
    }
}
