use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, StringArray};

use super::read::{CopyReader, Row};
use super::write::CopyWriter;
use super::{CopyFormat, CopyOptions};
use crate::encode::{Format, encode_column};
use crate::{ColumnType, oids};

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("c{i}")).collect()
}

fn read_all(
    options: CopyOptions,
    columns: usize,
    chunks: &[&[u8]],
) -> Result<Vec<Row>, super::CopyError> {
    let mut reader = CopyReader::new(options, names(columns));
    let mut rows = Vec::new();
    for chunk in chunks {
        rows.extend(reader.push(chunk)?);
    }
    rows.extend(reader.finish()?);
    Ok(rows)
}

fn fields(rows: &[Row]) -> Vec<Vec<Option<&str>>> {
    rows.iter()
        .map(|r| {
            r.fields
                .iter()
                .map(|f| f.as_deref().map(|b| std::str::from_utf8(b).unwrap()))
                .collect()
        })
        .collect()
}

#[test]
fn text_rows_escapes_and_nulls() {
    let data = b"1\ta\\tb\n2\t\\N\n3\t\\\\N\n4\t\\101\\x42\\n\n\\.\nignored\n";
    let rows = read_all(CopyOptions::new(CopyFormat::Text), 2, &[data]).unwrap();
    assert_eq!(
        fields(&rows),
        [
            vec![Some("1"), Some("a\tb")],
            vec![Some("2"), None],
            vec![Some("3"), Some("\\N")],
            vec![Some("4"), Some("AB\n")],
        ]
    );
    assert_eq!(
        rows.iter().map(|r| r.line).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
}

#[test]
fn a_row_split_across_messages_and_a_last_line_without_newline() {
    let options = CopyOptions::new(CopyFormat::Text);
    let rows = read_all(options, 2, &[b"10\tab", b"c\r\n2", b"0\txyz"]).unwrap();
    assert_eq!(
        fields(&rows),
        [vec![Some("10"), Some("abc")], vec![Some("20"), Some("xyz")]]
    );
}

#[test]
fn wrong_widths_are_22p04_with_their_line() {
    let options = CopyOptions::new(CopyFormat::Text);
    let e = read_all(options.clone(), 2, &[b"1\ta\n2\n"]).unwrap_err();
    assert_eq!((e.code, e.line), ("22P04", 2));
    assert_eq!(e.message, "missing data for column \"c1\"");
    let e = read_all(options, 2, &[b"1\ta\n2\tb\n3\tc\td\n"]).unwrap_err();
    assert_eq!(
        (e.line, e.message.as_str()),
        (3, "extra data after last expected column")
    );
}

#[test]
fn csv_quotes_header_and_multiline_values() {
    let mut options = CopyOptions::new(CopyFormat::Csv);
    options.header = true;
    let data = b"id,note\n1,\"a,b\"\n2,\n3,\"\"\n4,\"say \"\"hi\"\"\nbye\"\n5,plain\n";
    let rows = read_all(options, 2, &[&data[..20], &data[20..]]).unwrap();
    assert_eq!(
        fields(&rows),
        [
            vec![Some("1"), Some("a,b")],
            vec![Some("2"), None],
            vec![Some("3"), Some("")],
            vec![Some("4"), Some("say \"hi\"\nbye")],
            vec![Some("5"), Some("plain")],
        ]
    );
    // The header is line 1; the quoted newline makes row 4 two lines.
    assert_eq!(
        rows.iter().map(|r| r.line).collect::<Vec<_>>(),
        [2, 3, 4, 5, 7]
    );
}

#[test]
fn csv_delimiter_escape_and_forced_nulls() {
    let mut options = CopyOptions::new(CopyFormat::Csv);
    options.delimiter = b';';
    options.escape = b'\\';
    options.null = b"NULL".to_vec();
    options.force_not_null = vec![true, false];
    options.force_null = vec![false, true];
    let rows = read_all(options, 2, &[b"NULL;\"NULL\"\n\"a\\\"b\";NULL\n"]).unwrap();
    assert_eq!(
        fields(&rows),
        [vec![Some("NULL"), None], vec![Some("a\"b"), None]]
    );
}

#[test]
fn csv_unterminated_quote_is_an_error_at_the_end() {
    let e = read_all(CopyOptions::new(CopyFormat::Csv), 1, &[b"\"open\n"]).unwrap_err();
    assert_eq!((e.code, e.line), ("22P04", 1));
}

fn encoded(text: bool) -> Vec<crate::encode::Encoded> {
    let ids: ArrayRef = Arc::new(Int32Array::from(vec![Some(1), None, Some(3)]));
    let notes: ArrayRef = Arc::new(StringArray::from(vec![Some("a\tb"), Some(""), None]));
    let format = if text { Format::Text } else { Format::Binary };
    vec![
        encode_column(&ids, ColumnType::of(oids::INT4), format).unwrap(),
        encode_column(&notes, ColumnType::of(oids::TEXT), format).unwrap(),
    ]
}

#[test]
fn text_and_csv_written_as_postgresql_writes_them() {
    let writer = CopyWriter::new(CopyOptions::new(CopyFormat::Text));
    let rows = writer.rows(&encoded(true), &writer.header(&["id", "note"]));
    let text: Vec<&[u8]> = rows.iter().map(|b| b.as_ref()).collect();
    assert_eq!(text, [&b"1\ta\\tb\n"[..], b"\\N\t\n", b"3\t\\N\n"]);

    let mut options = CopyOptions::new(CopyFormat::Csv);
    options.header = true;
    let writer = CopyWriter::new(options);
    let header = writer.header(&["id", "note"]);
    let rows = writer.rows(&encoded(true), &header);
    let csv: Vec<&[u8]> = rows.iter().map(|b| b.as_ref()).collect();
    assert_eq!(csv, [&b"id,note\n1,a\tb\n"[..], b",\"\"\n", b"3,\n"]);
}

#[test]
fn what_is_written_reads_back() {
    for format in [CopyFormat::Text, CopyFormat::Csv, CopyFormat::Binary] {
        let options = CopyOptions::new(format);
        let writer = CopyWriter::new(options.clone());
        let mut bytes = Vec::new();
        for row in writer.rows(&encoded(format != CopyFormat::Binary), &writer.header(&[])) {
            bytes.extend_from_slice(&row);
        }
        if format == CopyFormat::Binary {
            bytes.extend_from_slice(&[0xFF, 0xFF]);
        }
        // Fed a byte at a time: every boundary is a message boundary.
        let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
        let rows = read_all(options, 2, &chunks).unwrap();
        let expected: Vec<Vec<Option<Vec<u8>>>> = match format {
            CopyFormat::Binary => vec![
                vec![Some(1i32.to_be_bytes().to_vec()), Some(b"a\tb".to_vec())],
                vec![None, Some(Vec::new())],
                vec![Some(3i32.to_be_bytes().to_vec()), None],
            ],
            _ => vec![
                vec![Some(b"1".to_vec()), Some(b"a\tb".to_vec())],
                vec![None, Some(Vec::new())],
                vec![Some(b"3".to_vec()), None],
            ],
        };
        let got: Vec<_> = rows.into_iter().map(|r| r.fields).collect();
        assert_eq!(got, expected, "{format:?}");
    }
}

#[test]
fn binary_header_is_checked() {
    let options = CopyOptions::new(CopyFormat::Binary);
    let e = read_all(options.clone(), 1, &[b"PGCOPX\n\xff\r\n\0\0\0\0\0\0\0\0\0"]).unwrap_err();
    assert_eq!(e.message, "COPY file signature not recognized");
    let mut cut = super::SIGNATURE.to_vec();
    cut.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
    let e = read_all(options, 1, &[&cut]).unwrap_err();
    assert_eq!(e.message, "unexpected EOF in COPY data");
}
