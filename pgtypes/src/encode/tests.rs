use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int8Array, Int32Array,
    Int64Array, ListArray, StringArray, TimestampMicrosecondArray, TimestampNanosecondArray,
};
use arrow::datatypes::{DataType, Field, Int32Type};
use bytes::BytesMut;

use super::*;
use crate::mapping::{metadata, of_arrow, of_field};

fn text(array: ArrayRef) -> Vec<Option<String>> {
    let target = of_arrow(array.data_type());
    let encoded = encode_column(&array, target, Format::Text).unwrap();
    (0..encoded.rows())
        .map(|r| {
            encoded
                .value(r)
                .map(|b| String::from_utf8(b.to_vec()).unwrap())
        })
        .collect()
}

fn binary(array: ArrayRef, target: ColumnType) -> Vec<Option<Vec<u8>>> {
    let encoded = encode_column(&array, target, Format::Binary).unwrap();
    (0..encoded.rows())
        .map(|r| encoded.value(r).map(<[u8]>::to_vec))
        .collect()
}

#[test]
fn scalars_in_text_like_postgres() {
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        text(Arc::new(Int64Array::from(vec![
            Some(-5),
            None,
            Some(i64::MAX)
        ]))),
        [s("-5"), None, s("9223372036854775807")]
    );
    assert_eq!(text(Arc::new(Int8Array::from(vec![7]))), [s("7")]);
    assert_eq!(
        text(Arc::new(BooleanArray::from(vec![true, false]))),
        [s("t"), s("f")]
    );
    assert_eq!(
        text(Arc::new(Float64Array::from(vec![1.0, 0.5, 1e20]))),
        [s("1"), s("0.5"), s("1e+20")]
    );
    let decimals = Decimal128Array::from(vec![150, -5])
        .with_precision_and_scale(10, 2)
        .unwrap();
    assert_eq!(text(Arc::new(decimals)), [s("1.50"), s("-0.05")]);
    assert_eq!(
        text(Arc::new(Date32Array::from(vec![19_723]))),
        [s("2024-01-01")]
    );
    assert_eq!(
        text(Arc::new(TimestampMicrosecondArray::from(vec![1_500_000]))),
        [s("1970-01-01 00:00:01.5")]
    );
    let zoned = TimestampNanosecondArray::from(vec![-1]).with_timezone("+00:00");
    assert_eq!(text(Arc::new(zoned)), [s("1969-12-31 23:59:59.999999+00")]);
    let far = arrow::array::TimestampSecondArray::from(vec![i64::MAX]);
    let err = encode_column(
        &(Arc::new(far) as ArrayRef),
        ColumnType::of(oids::TIMESTAMP),
        Format::Text,
    )
    .unwrap_err();
    assert_eq!(
        (err.code, err.message.as_str()),
        ("22008", "timestamp out of range")
    );
    let bytea = arrow::array::BinaryArray::from(vec![&b"\x01\xab"[..]]);
    assert_eq!(text(Arc::new(bytea)), [s("\\x01ab")]);
}

#[test]
fn uuid_and_json_by_their_type() {
    let strings: ArrayRef = Arc::new(StringArray::from(vec![
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        r#"{"a": 1}"#,
    ]));
    let uuid = of_field(&Field::new("u", DataType::Utf8, true).with_metadata(metadata("uuid")));
    let first = strings.slice(0, 1);
    let mut expected = vec![0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8];
    expected.extend([0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11]);
    assert_eq!(binary(first.clone(), uuid), [Some(expected)]);
    let jsonb = ColumnType::of(oids::JSONB);
    assert_eq!(
        binary(strings.slice(1, 1), jsonb),
        [Some(b"\x01{\"a\": 1}".to_vec())]
    );
    let err = encode_column(&strings.slice(1, 1), uuid, Format::Binary).unwrap_err();
    assert_eq!(err.code, "22P02");
}

#[test]
fn integers_are_range_checked_into_narrower_targets() {
    let wide: ArrayRef = Arc::new(Int64Array::from(vec![3_000_000_000]));
    let err = encode_column(&wide, ColumnType::of(oids::INT4), Format::Binary).unwrap_err();
    assert_eq!(
        err.message,
        "value 3000000000 does not fit PostgreSQL type integer"
    );
    let small: ArrayRef = Arc::new(Int32Array::from(vec![-2]));
    assert_eq!(
        binary(small, ColumnType::of(oids::INT2)),
        [Some(vec![0xff, 0xfe])]
    );
}

#[test]
fn lists_are_arrays() {
    let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
        Some(vec![Some(1), None, Some(3)]),
        None,
        Some(vec![]),
    ]);
    let list: ArrayRef = Arc::new(list);
    assert_eq!(
        text(list.clone()),
        [Some("{1,NULL,3}".into()), None, Some("{}".into())]
    );
    let target = of_arrow(list.data_type());
    assert_eq!(target.oid, 1007);
    let first = binary(list, target).remove(0).unwrap();
    // 1 dimension, has nulls, int4, 3 elements from 1.
    assert_eq!(
        &first[..20],
        &[0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 23, 0, 0, 0, 3, 0, 0, 0, 1]
    );
    let words = StringArray::from(vec![Some("a b"), Some("NULL"), Some("x")]);
    let offsets = arrow::buffer::OffsetBuffer::new(vec![0, 3].into());
    let field = Arc::new(Field::new("item", DataType::Utf8, true));
    let words: ArrayRef = Arc::new(ListArray::new(field, offsets, Arc::new(words), None));
    assert_eq!(text(words), [Some(r#"{"a b","NULL",x}"#.into())]);
}

#[test]
fn rows_are_framed_with_lengths() {
    let a: ArrayRef = Arc::new(Int32Array::from(vec![Some(1), None]));
    let b: ArrayRef = Arc::new(StringArray::from(vec!["xy", "z"]));
    let columns = [
        encode_column(&a, of_arrow(a.data_type()), Format::Text).unwrap(),
        encode_column(&b, of_arrow(b.data_type()), Format::Text).unwrap(),
    ];
    let mut out = BytesMut::new();
    let ends = write_rows(&columns, 0..2, &2i16.to_be_bytes(), &mut out);
    assert_eq!(ends, [13, 24]);
    assert_eq!(&out[..13], b"\0\x02\0\0\0\x011\0\0\0\x02xy");
    assert_eq!(&out[13..], b"\0\x02\xff\xff\xff\xff\0\0\0\x01z");
    let mut second = BytesMut::new();
    write_rows(&columns, 1..2, &2i16.to_be_bytes(), &mut second);
    assert_eq!(&second[..], &out[13..]);
}
