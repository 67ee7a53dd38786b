//! Writing `COPY … TO STDOUT`: encoded columns in, one buffer per row out
//! (PostgreSQL sends a CopyData per row), with the header line or the
//! binary signature before the first. The binary trailer is the wire's
//! (pgwire appends it to a binary COPY).

use bytes::Bytes;

use super::{CopyFormat, CopyOptions, SIGNATURE};
use crate::encode::Encoded;

/// Lays rows out in one COPY format.
#[derive(Debug, Clone)]
pub struct CopyWriter {
    options: CopyOptions,
}

impl CopyWriter {
    pub fn new(options: CopyOptions) -> CopyWriter {
        CopyWriter { options }
    }

    /// Whether the columns are to be encoded in their binary forms.
    pub fn binary(&self) -> bool {
        self.options.format.is_binary()
    }

    /// What precedes the first row: the binary signature, or the header
    /// line of the column `names`; empty when nothing does.
    pub fn header(&self, names: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        match self.options.format {
            CopyFormat::Binary => {
                out.extend_from_slice(SIGNATURE);
                out.extend_from_slice(&0i32.to_be_bytes());
                out.extend_from_slice(&0i32.to_be_bytes());
            }
            _ if self.options.header => {
                for (i, name) in names.iter().enumerate() {
                    if i > 0 {
                        out.push(self.options.delimiter);
                    }
                    self.write_value(name.as_bytes(), false, names.len() == 1, &mut out);
                }
                out.push(b'\n');
            }
            _ => {}
        }
        out
    }

    /// The rows of `columns` (encoded as [`binary`](Self::binary) says),
    /// each in a buffer of its own, `prefix` (the header, for the first
    /// batch) before the first.
    pub fn rows(&self, columns: &[Encoded], prefix: &[u8]) -> Vec<Bytes> {
        let rows = columns.first().map_or(0, Encoded::rows);
        let mut values: Vec<_> = columns.iter().map(Encoded::values).collect();
        // One buffer for the batch, sliced into rows at the end.
        let mut buf = prefix.to_vec();
        let mut ends = Vec::with_capacity(rows);
        let single = columns.len() == 1;
        for _ in 0..rows {
            if self.binary() {
                buf.extend_from_slice(&(columns.len() as i16).to_be_bytes());
            }
            for (i, column) in values.iter_mut().enumerate() {
                let value = column.next().expect("every column has every row");
                if self.binary() {
                    match value {
                        None => buf.extend_from_slice(&(-1i32).to_be_bytes()),
                        Some(v) => {
                            buf.extend_from_slice(&(v.len() as i32).to_be_bytes());
                            buf.extend_from_slice(v);
                        }
                    }
                    continue;
                }
                if i > 0 {
                    buf.push(self.options.delimiter);
                }
                match value {
                    None => buf.extend_from_slice(&self.options.null),
                    Some(v) => {
                        let force = CopyOptions::flag(&self.options.force_quote, i);
                        self.write_value(v, force, single, &mut buf);
                    }
                }
            }
            if !self.binary() {
                buf.push(b'\n');
            }
            ends.push(buf.len());
        }
        let all = Bytes::from(buf);
        let starts = std::iter::once(0).chain(ends.iter().copied());
        starts
            .zip(&ends)
            .map(|(start, &end)| all.slice(start..end))
            .collect()
    }

    fn write_value(&self, value: &[u8], force_quote: bool, single: bool, out: &mut Vec<u8>) {
        match self.options.format {
            CopyFormat::Csv => self.write_csv(value, force_quote, single, out),
            _ => self.write_text(value, out),
        }
    }

    /// The text format: backslash, newline, carriage return, the
    /// delimiter and the other control characters PostgreSQL escapes.
    fn write_text(&self, value: &[u8], out: &mut Vec<u8>) {
        for &b in value {
            let escaped = match b {
                b'\\' => Some(b'\\'),
                8 => Some(b'b'),
                12 => Some(b'f'),
                b'\n' => Some(b'n'),
                b'\r' => Some(b'r'),
                b'\t' => Some(b't'),
                11 => Some(b'v'),
                d if d == self.options.delimiter => Some(d),
                _ => None,
            };
            match escaped {
                Some(e) => out.extend_from_slice(&[b'\\', e]),
                None => out.push(b),
            }
        }
    }

    /// CSV: quoted when forced, when the value holds the delimiter, the
    /// quote, a line break, equals the NULL string, or is `\.` alone on
    /// its line; quotes and escapes inside escaped.
    fn write_csv(&self, value: &[u8], force_quote: bool, single: bool, out: &mut Vec<u8>) {
        let CopyOptions {
            delimiter,
            quote,
            escape,
            ..
        } = self.options;
        let quoted = force_quote
            || value == self.options.null.as_slice()
            || (single && value == b"\\.")
            || value
                .iter()
                .any(|&b| b == delimiter || b == quote || b == b'\n' || b == b'\r');
        if !quoted {
            out.extend_from_slice(value);
            return;
        }
        out.push(quote);
        for &b in value {
            if b == quote || b == escape {
                out.push(escape);
            }
            out.push(b);
        }
        out.push(quote);
    }
}
