//! PostgreSQL types Eddy keeps as text: `uuid`, `json` and `jsonb`.
//!
//! Their values live in Arrow `Utf8` arrays, always in canonical form: a
//! uuid as lowercase hyphenated hex, json as the text given (checked),
//! jsonb as PostgreSQL prints it ([`json::normalize_jsonb`]). The type
//! travels with the column as Arrow field metadata ([`PG_TYPE_KEY`]), set
//! by [`crate::types::arrow_field`] and read by [`TextType::of_field`].
//! DataFusion keeps field metadata through plain column references, so
//! `SELECT u FROM t` still describes a uuid; any expression over such a
//! column (`upper(u)`, `u || ''`) is plain text, which is also what
//! PostgreSQL would need a cast back for.
//!
//! Canonical storage is what lets comparisons stay textual: `u = $1`,
//! `u = '…'::uuid` and `u = '…'` compare the stored text with a parameter
//! or literal canonicalised on the way in (by the parameter decoder, by
//! [`crate::types::rewrite_pg_casts`] and by the analyzer rule
//! [`literals::CanonicalLiterals`]). Every write into a table column of
//! these types goes through [`TextType::canonical_array`].

pub mod json;
pub mod literals;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field};
use eddy_catalog::SqlType;

use crate::SqlError;

pub use eddy_pgtypes::PG_TYPE_KEY;
pub use eddy_pgtypes::uuid::{format_uuid, parse_uuid};

/// A PostgreSQL type stored as Arrow `Utf8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextType {
    Uuid,
    Json,
    Jsonb,
}

impl TextType {
    pub fn of_sql_type(t: SqlType) -> Option<TextType> {
        match t {
            SqlType::Uuid => Some(TextType::Uuid),
            SqlType::Json => Some(TextType::Json),
            SqlType::Jsonb => Some(TextType::Jsonb),
            _ => None,
        }
    }

    pub fn sql_type(self) -> SqlType {
        match self {
            TextType::Uuid => SqlType::Uuid,
            TextType::Json => SqlType::Json,
            TextType::Jsonb => SqlType::Jsonb,
        }
    }

    /// PostgreSQL's name of the type (also the metadata value).
    pub fn name(self) -> &'static str {
        match self {
            TextType::Uuid => "uuid",
            TextType::Json => "json",
            TextType::Jsonb => "jsonb",
        }
    }

    fn of_name(name: &str) -> Option<TextType> {
        [TextType::Uuid, TextType::Json, TextType::Jsonb]
            .into_iter()
            .find(|t| t.name() == name)
    }

    /// The type a field's metadata names, if it is a string field.
    pub fn of_field(field: &Field) -> Option<TextType> {
        if !matches!(
            field.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ) {
            return None;
        }
        field
            .metadata()
            .get(PG_TYPE_KEY)
            .and_then(|name| TextType::of_name(name))
    }

    /// The metadata that marks a field as being of this type.
    pub fn metadata(self) -> HashMap<String, String> {
        HashMap::from([(PG_TYPE_KEY.to_string(), self.name().to_string())])
    }

    /// The canonical text of a value of this type, or PostgreSQL's
    /// 22P02 error for text that is not one.
    pub fn canonical(self, text: &str) -> Result<Cow<'_, str>, SqlError> {
        match self {
            TextType::Uuid => parse_uuid(text)
                .map(|bytes| Cow::Owned(format_uuid(&bytes)))
                .ok_or_else(|| invalid_uuid(text)),
            TextType::Json => json::validate(text).map(|()| Cow::Borrowed(text)),
            TextType::Jsonb => json::normalize_jsonb(text).map(Cow::Owned),
        }
    }

    /// A `Utf8` array with every value canonical (see [`Self::canonical`]).
    /// json values are only checked, so the array is returned as it is.
    pub fn canonical_array(self, array: &ArrayRef) -> Result<ArrayRef, SqlError> {
        let Some(strings) = array.as_string_opt::<i32>() else {
            return Err(SqlError {
                sqlstate: "XX000",
                message: format!(
                    "{} values must be Utf8, not {}",
                    self.name(),
                    array.data_type()
                ),
                position: None,
            });
        };
        if self == TextType::Json {
            for text in strings.iter().flatten() {
                json::validate(text)?;
            }
            return Ok(array.clone());
        }
        let mut out = StringBuilder::with_capacity(strings.len(), strings.value_data().len());
        for value in strings.iter() {
            match value {
                Some(text) => out.append_value(self.canonical(text)?),
                None => out.append_null(),
            }
        }
        Ok(Arc::new(out.finish()))
    }
}

fn invalid_uuid(text: &str) -> SqlError {
    SqlError {
        sqlstate: "22P02",
        message: format!("invalid input syntax for type uuid: \"{text}\""),
        position: None,
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::StringArray;

    use super::*;

    const CANONICAL: &str = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";

    #[test]
    fn uuid_input_forms() {
        for form in [
            CANONICAL,
            "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
            "a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
            "{a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11}",
        ] {
            assert_eq!(TextType::Uuid.canonical(form).unwrap(), CANONICAL, "{form}");
        }
        for bad in [
            "",
            "not-a-uuid",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a111",
            "a0eebc9-99c0b-4ef8-bb6d-6bb9bd380a11",
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
            " a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "a0eebc99--9c0b-4ef8-bb6d-6bb9bd380a11",
            "g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        ] {
            let err = TextType::Uuid.canonical(bad).unwrap_err();
            assert_eq!(err.sqlstate, "22P02", "{bad}");
            assert_eq!(
                err.message,
                format!("invalid input syntax for type uuid: \"{bad}\"")
            );
        }
        let bytes = parse_uuid(CANONICAL).unwrap();
        assert_eq!(bytes[0], 0xa0);
        assert_eq!(bytes[15], 0x11);
        assert_eq!(format_uuid(&bytes), CANONICAL);
    }

    #[test]
    fn arrays_are_made_canonical() {
        let array: ArrayRef = Arc::new(StringArray::from(vec![
            Some("{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}"),
            None,
        ]));
        let out = TextType::Uuid.canonical_array(&array).unwrap();
        let out = out.as_string::<i32>();
        assert_eq!(out.value(0), CANONICAL);
        assert!(out.is_null(1));

        let json: ArrayRef = Arc::new(StringArray::from(vec![r#"{"b":1, "a":[1,2]}"#]));
        let kept = TextType::Json.canonical_array(&json).unwrap();
        assert_eq!(kept.as_string::<i32>().value(0), r#"{"b":1, "a":[1,2]}"#);
        let normalised = TextType::Jsonb.canonical_array(&json).unwrap();
        assert_eq!(
            normalised.as_string::<i32>().value(0),
            r#"{"a": [1, 2], "b": 1}"#
        );
        let bad: ArrayRef = Arc::new(StringArray::from(vec!["{"]));
        assert_eq!(
            TextType::Json.canonical_array(&bad).unwrap_err().message,
            "invalid input syntax for type json"
        );
    }

    #[test]
    fn fields_name_their_type() {
        let field = Field::new("u", DataType::Utf8, true).with_metadata(TextType::Uuid.metadata());
        assert_eq!(TextType::of_field(&field), Some(TextType::Uuid));
        assert_eq!(
            TextType::of_field(&Field::new("t", DataType::Utf8, true)),
            None
        );
        let not_text =
            Field::new("n", DataType::Int32, true).with_metadata(TextType::Jsonb.metadata());
        assert_eq!(TextType::of_field(&not_text), None);
    }

    /// The promise the module relies on: DataFusion passes field metadata
    /// through a column reference, and not through an expression.
    #[tokio::test]
    async fn column_references_keep_the_type() {
        use datafusion::arrow::datatypes::Schema;
        use datafusion::arrow::record_batch::RecordBatch;
        use datafusion::prelude::SessionContext;

        let field = crate::types::arrow_field("u", SqlType::Uuid, true);
        let schema = Arc::new(Schema::new(vec![field]));
        let values: ArrayRef = Arc::new(StringArray::from(vec![CANONICAL]));
        let batch = RecordBatch::try_new(schema, vec![values]).unwrap();
        let ctx = SessionContext::new();
        ctx.register_batch("t", batch).unwrap();
        let typed = |sql: &'static str| {
            let ctx = &ctx;
            async move {
                let df = ctx.sql(sql).await.unwrap();
                TextType::of_field(df.schema().field(0))
            }
        };
        assert_eq!(typed("SELECT u FROM t").await, Some(TextType::Uuid));
        assert_eq!(
            typed("SELECT x.u AS id FROM t AS x WHERE u = 'a'").await,
            Some(TextType::Uuid)
        );
        assert_eq!(typed("SELECT upper(u) FROM t").await, None);
    }
}
