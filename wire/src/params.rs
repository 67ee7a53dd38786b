//! Bound parameters: each value of a Bind message decoded by its prepared
//! type, in the format the client sent it, through
//! [`eddy_pgtypes::decode`]. A type the decoder does not know is read as
//! text, as PostgreSQL's `unknown` is.

use eddy_pgtypes::decode::{decode, is_known};
use eddy_pgtypes::oids;

use crate::backend::Param;
use crate::error::DbError;

/// One parameter as the Bind message holds it.
pub(crate) struct RawParam<'a> {
    /// `None`: NULL.
    pub bytes: Option<&'a [u8]>,
    pub binary: bool,
}

/// Decodes bound parameters by their prepared types (`text` past them).
pub(crate) fn decode_params<'a>(
    raw: impl IntoIterator<Item = RawParam<'a>>,
    types: &[u32],
) -> Result<Vec<Param>, DbError> {
    raw.into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let oid = types.get(i).copied().unwrap_or(oids::TEXT);
            decode_param(oid, raw).map_err(|e| DbError::invalid_parameter(i, e.code, &e.message))
        })
        .collect()
}

fn decode_param(oid: u32, raw: RawParam<'_>) -> Result<Param, eddy_pgtypes::decode::DecodeError> {
    let as_type = if is_known(oid) { oid } else { oids::TEXT };
    let value = decode(as_type, raw.bytes, raw.binary)?;
    Ok(Param { oid, value })
}

#[cfg(test)]
mod tests {
    use eddy_pgtypes::decode::Value;
    use eddy_pgtypes::oids;

    use super::{RawParam, decode_params};
    use crate::backend::Param;

    fn one(oid: u32, bytes: Option<&[u8]>, binary: bool) -> Result<Value, (String, String)> {
        decode_params([RawParam { bytes, binary }], &[oid])
            .map(|mut p| p.remove(0).value)
            .map_err(|e| (e.code.to_string(), e.message))
    }

    #[test]
    fn text_and_binary_by_type() {
        assert_eq!(one(oids::INT4, Some(b"42"), false), Ok(Value::Int4(42)));
        assert_eq!(
            one(oids::INT4, Some(&42i32.to_be_bytes()), true),
            Ok(Value::Int4(42))
        );
        assert_eq!(one(oids::INT8, None, true), Ok(Value::Null));
        assert_eq!(
            one(oids::NUMERIC, Some(b"2.50"), false),
            Ok(Value::Numeric {
                unscaled: 250,
                scale: 2
            })
        );
        // A type the decoder does not know stays text, even in binary.
        assert_eq!(
            one(oids::NAME, Some(b"abc"), true),
            Ok(Value::Text("abc".into()))
        );
    }

    #[test]
    fn errors_name_the_parameter() {
        let params = [
            RawParam {
                bytes: Some(b"1"),
                binary: false,
            },
            RawParam {
                bytes: Some(b"x"),
                binary: false,
            },
        ];
        let e = decode_params(params, &[oids::INT4, oids::INT4]).unwrap_err();
        assert_eq!(e.code, "22P02");
        assert_eq!(
            e.message,
            "invalid value for parameter $2: invalid input syntax for type integer: \"x\""
        );
        // Parameters past the prepared types are text.
        let params = [RawParam {
            bytes: Some(b"x"),
            binary: false,
        }];
        assert_eq!(
            decode_params(params, &[]).unwrap(),
            [Param {
                oid: oids::TEXT,
                value: Value::Text("x".into())
            }]
        );
    }
}
