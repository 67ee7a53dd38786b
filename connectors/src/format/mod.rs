//! Record formats shared by the message and file connectors: decoding
//! payloads (`format = 'json' | 'csv'`) straight into Arrow, and what to do
//! with the records that do not decode (`on_error`).
//!
//! A source hands [`RecordDecoder::decode`] a slice of payloads, one record
//! each (a Kafka message, a line of a file). The decoder returns one
//! `RecordBatch` of the good records, the payload index of every row, and
//! the bad records with the reason. The source then passes the bad ones,
//! with their location, to a [`BadRecordHandler`], which fails the query,
//! counts them, or counts them and writes them to a dead-letter table.
//!
//! ## Decoding contract
//!
//! - JSON: each payload is exactly one JSON object. Fields are matched to
//!   columns by exact (case-sensitive) name; missing fields and `null` are
//!   NULL; unknown fields are ignored. A value that does not fit the column
//!   (`"abc"` for a BIGINT), a payload that is not one object (two objects,
//!   an array, not JSON, truncated) makes the record bad. Numbers and
//!   booleans given for a TEXT column are taken as their text.
//! - CSV: each payload is one line without header; fields in column order,
//!   `csv.delimiter` between them, `"` quoting. An empty field is NULL. A
//!   line with more or fewer fields than columns, or a field that does not
//!   parse, makes the record bad.
//! - TIMESTAMP / TIMESTAMPTZ (both formats): `YYYY-MM-DD HH:MM:SS[.f]`,
//!   RFC 3339 (`2026-01-01T10:00:00.5Z`, `…+02:00`) or `YYYY-MM-DD`; values
//!   without an offset are UTC. An integer (a JSON number or a string of
//!   digits) is milliseconds since the Unix epoch, as Kafka producers and
//!   Java's `System.currentTimeMillis()` write them.
//!
//! ## Why it is shaped this way
//!
//! The happy path decodes a whole slice with one arrow-json / arrow-csv
//! decoder: no per-row allocation, no `serde_json::Value`. Only when that
//! fails does it decode record by record to isolate the bad ones, so a
//! stream of good records pays nothing for the error handling. Timestamp
//! columns are decoded as text and converted in one pass over the string
//! array (see `timestamp.rs`), which lets both formats share the rules above
//! and report a bad timestamp per row rather than per batch.

mod bad_records;
mod decoder;
#[cfg(test)]
mod tests;
mod timestamp;

use eddy_engine::options::{OptionSpec, OptionValue};
use eddy_engine::{EngineError, Result};

use crate::option_reader::OptionReader;

pub use bad_records::{
    BadRecordHandler, BadRecordInfo, OnError, dead_letter_schema, dead_letter_side_tables,
    dead_letter_table,
};
pub use decoder::{BadRecord, Decoded, RecordDecoder};

/// How payloads are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per payload.
    Json,
    /// One CSV line per payload, no header.
    Csv { delimiter: u8 },
}

/// `format`: required by every connector that decodes or encodes records.
pub const FORMAT_OPTION: OptionSpec = OptionSpec::new(
    "format",
    OptionValue::OneOf(&["json", "csv"]),
    "how records are encoded: json (one object per record) or csv",
)
.required();

/// `csv.delimiter`.
pub const CSV_DELIMITER_OPTION: OptionSpec = OptionSpec::new(
    "csv.delimiter",
    OptionValue::Text,
    "the CSV field separator, one ASCII character or '\\t' (default ',')",
);

/// `on_error`.
pub const ON_ERROR_OPTION: OptionSpec = OptionSpec::new(
    "on_error",
    OptionValue::OneOf(&["fail", "skip", "dead_letter"]),
    "what to do with records that do not decode: fail (default), skip, dead_letter",
);

/// `dead_letter.table`.
pub const DEAD_LETTER_TABLE_OPTION: OptionSpec = OptionSpec::new(
    "dead_letter.table",
    OptionValue::Text,
    "the Eddy table bad records go to with on_error = 'dead_letter' (default '<source>_errors')",
);

impl Format {
    /// Reads `format` and `csv.delimiter`.
    pub fn from_options(options: &OptionReader<'_>) -> Result<Format> {
        let format = options.required("format")?;
        match format.to_ascii_lowercase().as_str() {
            "json" => {
                if options.get("csv.delimiter").is_some() {
                    return Err(EngineError::Config(
                        "option 'csv.delimiter' needs format = 'csv'".into(),
                    ));
                }
                Ok(Format::Json)
            }
            "csv" => Ok(Format::Csv {
                delimiter: parse_delimiter(options.get("csv.delimiter").unwrap_or(","))?,
            }),
            other => Err(EngineError::Config(format!(
                "invalid value '{other}' for option 'format'; expected one of json, csv"
            ))),
        }
    }

    /// The usual file extension: `jsonl` or `csv`.
    pub fn extension(&self) -> &'static str {
        match self {
            Format::Json => "jsonl",
            Format::Csv { .. } => "csv",
        }
    }
}

fn parse_delimiter(value: &str) -> Result<u8> {
    match value {
        "\\t" | "\t" | "tab" => Ok(b'\t'),
        v if v.len() == 1 && v.is_ascii() && !matches!(v, "\"" | "\n" | "\r") => {
            Ok(v.as_bytes()[0])
        }
        v => Err(EngineError::Config(format!(
            "invalid value '{v}' for option 'csv.delimiter'; expected one ASCII character \
             other than a quote or a line break, or '\\t'"
        ))),
    }
}
