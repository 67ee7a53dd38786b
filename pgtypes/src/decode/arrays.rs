//! Array values, one-dimensional, of booleans, integers, floats and text,
//! in text (`{a,"b c",NULL}`) or binary format. dbmate, for one, binds its
//! schema and table names as a `text[]` (`= ANY($1)`).

use super::{DecodeError, Value, decode_binary, invalid, text};
use crate::mapping::{element_of, oids};

/// Whether arrays of this type are decoded here.
pub fn is_array(oid: u32) -> bool {
    element_of(oid).is_some_and(is_element)
}

fn is_element(oid: u32) -> bool {
    use oids::*;
    matches!(
        oid,
        BOOL | INT2 | INT4 | INT8 | FLOAT4 | FLOAT8 | TEXT | VARCHAR | NAME
    )
}

/// Decodes an array of type `oid`.
pub fn decode_array(oid: u32, bytes: &[u8], binary: bool) -> Result<Value, DecodeError> {
    let element = element_of(oid)
        .filter(|e| is_element(*e))
        .ok_or_else(|| invalid(format!("arrays of type {oid} are not supported")))?;
    // Text-like elements are all decoded as text.
    let element = match element {
        oids::VARCHAR | oids::NAME => oids::TEXT,
        e => e,
    };
    let values = if binary {
        binary_elements(bytes)?
            .into_iter()
            .map(|e| match e {
                None => Ok(Value::Null),
                Some(b) => decode_binary(element, b),
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        let literal = super::utf8(bytes)?;
        text_elements(literal)?
            .into_iter()
            .map(|e| match e {
                None => Ok(Value::Null),
                Some(s) => text::decode_text(element, &s)
                    .map_err(|e| invalid(format!("invalid array element \"{s}\": {}", e.message))),
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    Ok(Value::Array { element, values })
}

/// `{a,"b \"c\"",NULL}` → its elements (`None` for NULL).
fn text_elements(text: &str) -> Result<Vec<Option<String>>, DecodeError> {
    let malformed = || invalid(format!("malformed array literal: \"{text}\""));
    let inner = text
        .trim()
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(malformed)?;
    let mut elements = Vec::new();
    let mut chars = inner.chars().peekable();
    while chars.peek().is_some() {
        let mut value = String::new();
        let quoted = chars.peek() == Some(&'"');
        if quoted {
            chars.next();
            loop {
                match chars.next().ok_or_else(malformed)? {
                    '"' => break,
                    '\\' => value.push(chars.next().ok_or_else(malformed)?),
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                // Nested arrays are refused.
                if matches!(c, '{' | '}' | '"') {
                    return Err(malformed());
                }
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
            Some(_) => return Err(malformed()),
        }
    }
    Ok(elements)
}

/// The binary array format: dimensions, a null flag, the element OID, each
/// dimension's length and lower bound, then length-prefixed elements.
fn binary_elements(b: &[u8]) -> Result<Vec<Option<&[u8]>>, DecodeError> {
    let short = || invalid("binary array too short");
    let int = |at: usize| -> Result<i32, DecodeError> {
        let bytes = b.get(at..at + 4).ok_or_else(short)?;
        Ok(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    };
    let dimensions = int(0)?;
    if dimensions == 0 {
        return Ok(Vec::new());
    }
    if dimensions != 1 {
        return Err(invalid(format!(
            "arrays of {dimensions} dimensions are not supported"
        )));
    }
    let len = usize::try_from(int(12)?).map_err(|_| short())?;
    let mut at = 20;
    let mut elements = Vec::with_capacity(len.min(b.len()));
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
        assert_eq!(
            decode_array(1007, &b, true).unwrap(),
            Value::Array {
                element: oids::INT4,
                values: vec![Value::Int4(7), Value::Null]
            }
        );
        assert_eq!(
            decode_array(1015, b"{a,b}", false).unwrap(),
            Value::Array {
                element: oids::TEXT,
                values: vec![Value::Text("a".into()), Value::Text("b".into())]
            }
        );
    }
}
