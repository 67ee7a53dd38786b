//! PostgreSQL's `COPY` formats — text, CSV and binary — as framing around
//! the values [`crate::encode`] writes and [`crate::decode`] reads.
//!
//! - [`read::CopyReader`] turns the bytes a client sends for `COPY … FROM
//!   STDIN` into rows of raw field values, chunk by chunk as CopyData
//!   messages arrive (a row may be split across messages), counting lines
//!   so that an error can say where it is. What a field *means* — its type
//!   — is the caller's: it decodes each field with [`crate::decode`].
//! - [`write::CopyWriter`] lays encoded columns out as `COPY … TO STDOUT`
//!   rows: one buffer per row, as PostgreSQL sends one CopyData per row.
//!
//! ```text
//!  text    a\tb\n          NULL \N, backslash escapes (\t \n \\ \ooo \xhh)
//!  csv     a,"b ""q"""\n   NULL an unquoted empty field, quotes doubled
//!  binary  "PGCOPY\n\xff\r\n\0" i32 flags i32 ext | i16 n (i32 len, bytes)* | i16 -1
//! ```
//!
//! The rules are PostgreSQL's (`copyfromparse.c`, `copyto.c`): the NULL
//! string is compared with a field's raw text before escapes are read, a
//! line holding only `\.` ends the data, CSV quotes a value that holds
//! the delimiter, the quote, a newline, or equals the NULL string.

pub mod read;
pub mod write;

#[cfg(test)]
mod tests;

/// The first bytes of a binary COPY stream.
pub const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// The format of a COPY stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyFormat {
    Text,
    Csv,
    Binary,
}

impl CopyFormat {
    /// Whether the values are the types' binary forms.
    pub fn is_binary(self) -> bool {
        self == CopyFormat::Binary
    }
}

/// How a COPY stream is laid out: `COPY`'s options, with the per-column
/// ones (`FORCE_QUOTE`, `FORCE_NOT_NULL`, `FORCE_NULL`) resolved to one
/// flag per column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOptions {
    pub format: CopyFormat,
    /// Between fields: tab in text, comma in CSV.
    pub delimiter: u8,
    /// What stands for NULL: `\N` in text, an unquoted empty field in CSV.
    pub null: Vec<u8>,
    /// The first line holds the column names (skipped when reading).
    pub header: bool,
    /// CSV: the quote character.
    pub quote: u8,
    /// CSV: the character that escapes a quote inside a quoted value.
    pub escape: u8,
    /// CSV, writing: columns quoted whatever their value.
    pub force_quote: Vec<bool>,
    /// CSV, reading: columns where the NULL string is a value, not NULL.
    pub force_not_null: Vec<bool>,
    /// CSV, reading: columns where a quoted NULL string is NULL too.
    pub force_null: Vec<bool>,
}

impl CopyOptions {
    /// PostgreSQL's defaults for `format`.
    pub fn new(format: CopyFormat) -> CopyOptions {
        let (delimiter, null): (u8, &[u8]) = match format {
            CopyFormat::Csv => (b',', b""),
            _ => (b'\t', b"\\N"),
        };
        CopyOptions {
            format,
            delimiter,
            null: null.to_vec(),
            header: false,
            quote: b'"',
            escape: b'"',
            force_quote: Vec::new(),
            force_not_null: Vec::new(),
            force_null: Vec::new(),
        }
    }

    fn flag(flags: &[bool], column: usize) -> bool {
        flags.get(column).copied().unwrap_or(false)
    }
}

/// Data that is not a valid COPY stream, or a row that does not fit the
/// table's columns: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyError {
    /// `22P04` (bad COPY file format) unless said otherwise.
    pub code: &'static str,
    pub message: String,
    /// The line of the input (text, CSV) or the row (binary), from 1.
    pub line: u64,
    /// The column (from 0) the error is in, when it is in one.
    pub column: Option<usize>,
}

impl CopyError {
    fn format(line: u64, message: impl Into<String>) -> CopyError {
        CopyError {
            code: "22P04",
            message: message.into(),
            line,
            column: None,
        }
    }
}

impl std::fmt::Display for CopyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (line {})", self.message, self.line)
    }
}

impl std::error::Error for CopyError {}
