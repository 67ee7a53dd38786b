use super::*;

fn text(oid: u32, s: &str) -> Result<Value, DecodeError> {
    decode(oid, Some(s.as_bytes()), false)
}

#[test]
fn parameters_in_text() {
    assert_eq!(text(oids::BOOL, "yes"), Ok(Value::Bool(true)));
    assert_eq!(text(oids::BOOL, "off"), Ok(Value::Bool(false)));
    assert!(text(oids::BOOL, "maybe").is_err());
    assert_eq!(text(oids::INT4, " 42 "), Ok(Value::Int4(42)));
    assert_eq!(
        text(oids::INT2, "70000").unwrap_err().message,
        "invalid input syntax for type smallint: \"70000\""
    );
    assert_eq!(
        text(oids::NUMERIC, "-0.50"),
        Ok(Value::Numeric {
            unscaled: -50,
            scale: 2
        })
    );
    assert_eq!(
        text(oids::NUMERIC, "2.5E-2"),
        Ok(Value::Numeric {
            unscaled: 25,
            scale: 3
        })
    );
    assert_eq!(
        text(oids::NUMERIC, "1e3"),
        Ok(Value::Numeric {
            unscaled: 1000,
            scale: 0
        })
    );
    assert_eq!(
        text(oids::FLOAT8, "-Infinity"),
        Ok(Value::Float8(f64::NEG_INFINITY))
    );
    assert_eq!(text(oids::DATE, "1970-01-02"), Ok(Value::Date(1)));
    assert_eq!(
        text(oids::TIMESTAMPTZ, "1970-01-01 01:00:00+01"),
        Ok(Value::TimestampTz(0))
    );
    assert_eq!(
        text(oids::TIMESTAMP, "1970-01-01 01:00:00+01"),
        Ok(Value::Timestamp(3_600_000_000))
    );
    assert_eq!(
        text(oids::BYTEA, "\\x0aff"),
        Ok(Value::Bytes(vec![10, 255]))
    );
    assert_eq!(
        text(oids::UUID, "{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}"),
        Ok(Value::Text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()))
    );
    assert_eq!(
        text(oids::UUID, "nope").unwrap_err().message,
        r#"invalid input syntax for type uuid: "nope""#
    );
    assert_eq!(decode(oids::INT4, None, true), Ok(Value::Null));
}

#[test]
fn parameters_in_binary() {
    let bin = |oid, b: &[u8]| decode(oid, Some(b), true);
    assert_eq!(bin(oids::INT8, &7i64.to_be_bytes()), Ok(Value::Int8(7)));
    assert_eq!(
        bin(oids::INT4, &[0, 1]).unwrap_err().message,
        "binary integer of 2 bytes, expected 4"
    );
    assert_eq!(
        bin(oids::DATE, &(-PG_EPOCH_DAYS).to_be_bytes()),
        Ok(Value::Date(0))
    );
    let mut numeric = Vec::new();
    crate::numeric::Numeric::from_decimal(-12345, 2).append(&mut numeric);
    assert_eq!(
        bin(oids::NUMERIC, &numeric),
        Ok(Value::Numeric {
            unscaled: -12345,
            scale: 2
        })
    );
    let uuid = crate::uuid::parse_uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").unwrap();
    assert_eq!(
        bin(oids::UUID, &uuid),
        Ok(Value::Text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()))
    );
    assert_eq!(bin(oids::JSONB, b"\x01{}"), Ok(Value::Text("{}".into())));
    assert_eq!(
        bin(oids::JSONB, b"\x02{}").unwrap_err().message,
        "unsupported binary jsonb version"
    );
}
