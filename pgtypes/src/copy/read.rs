//! Reading `COPY … FROM STDIN`: bytes in, rows of raw fields out.
//!
//! The reader keeps what it has not yet parsed — the tail of a line cut
//! by a CopyData boundary, a CSV value whose quotes span several lines, a
//! binary tuple not complete yet — and returns every row the new bytes
//! complete. Lines are counted as PostgreSQL counts them (the header is
//! line 1; a quoted CSV value with newlines spans several), so an error
//! names the line an editor shows.

use super::{CopyError, CopyFormat, CopyOptions, SIGNATURE};

/// One row of a COPY stream: its fields' bytes (`None`: NULL), text
/// unescaped, binary as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Its first line (text, CSV) or its number (binary), from 1.
    pub line: u64,
    pub fields: Vec<Option<Vec<u8>>>,
}

/// Parses a COPY stream for a table's columns.
#[derive(Debug)]
pub struct CopyReader {
    options: CopyOptions,
    /// The target columns' names, for errors; their count is the fields
    /// a row must have.
    columns: Vec<String>,
    /// Bytes received and not yet parsed.
    pending: Vec<u8>,
    /// Lines (text, CSV) or rows (binary) consumed so far.
    line: u64,
    /// The header line, or the binary header, is still to be read.
    header_pending: bool,
    /// The end of the data was seen (`\.` or the binary trailer): the
    /// rest is ignored.
    ended: bool,
}

/// What parsing one record found.
enum Record {
    /// The bytes end before the record does.
    Incomplete,
    /// The end-of-data marker.
    End { consumed: usize },
    /// A record of `lines` lines.
    Fields {
        consumed: usize,
        lines: u64,
        fields: Vec<Option<Vec<u8>>>,
    },
}

impl CopyReader {
    pub fn new(options: CopyOptions, columns: Vec<String>) -> CopyReader {
        let header_pending = options.header || options.format == CopyFormat::Binary;
        CopyReader {
            options,
            columns,
            pending: Vec::new(),
            line: 0,
            header_pending,
            ended: false,
        }
    }

    /// Adds `data` and returns the rows it completes.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<Row>, CopyError> {
        if self.ended {
            return Ok(Vec::new());
        }
        self.pending.extend_from_slice(data);
        self.parse(false)
    }

    /// The end of the input: the rows of a last line without a newline;
    /// an error for a quoted CSV value or a binary row cut short.
    pub fn finish(&mut self) -> Result<Vec<Row>, CopyError> {
        if self.ended {
            return Ok(Vec::new());
        }
        self.parse(true)
    }

    fn parse(&mut self, at_end: bool) -> Result<Vec<Row>, CopyError> {
        let mut rows = Vec::new();
        let mut start = 0;
        let result = loop {
            if start == self.pending.len() || self.ended {
                break Ok(());
            }
            let rest = &self.pending[start..];
            let record = match self.options.format {
                CopyFormat::Binary if self.header_pending => match binary_header(rest, at_end) {
                    Ok(Some(consumed)) => {
                        self.header_pending = false;
                        start += consumed;
                        continue;
                    }
                    Ok(None) => break Ok(()),
                    Err(message) => break Err(CopyError::format(1, message)),
                },
                CopyFormat::Binary => binary_tuple(rest, at_end, self.line + 1),
                CopyFormat::Text => Ok(text_line(rest, at_end, &self.options)),
                CopyFormat::Csv => csv_record(rest, at_end, &self.options, self.line + 1),
            };
            match record {
                Err(e) => break Err(e),
                Ok(Record::Incomplete) => break Ok(()),
                Ok(Record::End { consumed }) => {
                    start += consumed;
                    self.ended = true;
                }
                Ok(Record::Fields {
                    consumed,
                    lines,
                    fields,
                }) => {
                    start += consumed;
                    let line = self.line + 1;
                    self.line += lines;
                    if self.header_pending {
                        self.header_pending = false;
                        continue;
                    }
                    match self.check_width(line, fields) {
                        Ok(row) => rows.push(row),
                        Err(e) => break Err(e),
                    }
                }
            }
        };
        self.pending.drain(..start);
        result.map(|()| rows)
    }

    /// A row with exactly one field per column, as PostgreSQL requires.
    fn check_width(&self, line: u64, mut fields: Vec<Option<Vec<u8>>>) -> Result<Row, CopyError> {
        let want = self.columns.len();
        if fields.len() > want {
            let mut e = CopyError::format(line, "extra data after last expected column");
            if self.options.format == CopyFormat::Binary {
                e.message = format!("row field count is {}, expected {want}", fields.len());
            }
            return Err(e);
        }
        if fields.len() < want {
            // An empty line of a one-column table is one empty value.
            if want == 1 && fields.is_empty() {
                fields.push(Some(Vec::new()));
            } else {
                let column = fields.len();
                let mut e = CopyError::format(
                    line,
                    format!("missing data for column \"{}\"", self.columns[column]),
                );
                if self.options.format == CopyFormat::Binary {
                    e.message = format!("row field count is {}, expected {want}", fields.len());
                } else {
                    e.column = Some(column);
                }
                return Err(e);
            }
        }
        Ok(Row { line, fields })
    }
}

/// Where the line starting `bytes` ends: the index of its terminator and
/// the terminator's length (`\n`, `\r\n` or `\r`); `None` when the bytes
/// end first (at the end of the input, the last line ends there).
fn line_end(bytes: &[u8], at_end: bool) -> Option<(usize, usize)> {
    let i = bytes.iter().position(|&b| b == b'\n' || b == b'\r');
    match i {
        Some(i) if bytes[i] == b'\n' => Some((i, 1)),
        Some(i) if i + 1 < bytes.len() => Some((i, if bytes[i + 1] == b'\n' { 2 } else { 1 })),
        // A `\r` last: a `\n` may follow in the next message.
        Some(i) => at_end.then_some((i, 1)),
        None => at_end.then_some((bytes.len(), 0)),
    }
}

/// One line of the text format: fields split at the delimiter, the NULL
/// string recognised on the raw field, backslash escapes read.
fn text_line(bytes: &[u8], at_end: bool, options: &CopyOptions) -> Record {
    let Some((end, terminator)) = line_end(bytes, at_end) else {
        return Record::Incomplete;
    };
    let line = &bytes[..end];
    let consumed = end + terminator;
    if line == b"\\." {
        return Record::End { consumed };
    }
    let mut fields = Vec::new();
    if !line.is_empty() {
        let mut raw_start = 0;
        let mut i = 0;
        loop {
            if i == line.len() || line[i] == options.delimiter {
                let raw = &line[raw_start..i];
                fields.push((raw != options.null.as_slice()).then(|| unescape(raw)));
                if i == line.len() {
                    break;
                }
                raw_start = i + 1;
            } else if line[i] == b'\\' && i + 1 < line.len() {
                i += 1;
            }
            i += 1;
        }
    }
    Record::Fields {
        consumed,
        lines: 1,
        fields,
    }
}

/// The text format's backslash escapes: `\b \f \n \r \t \v`, up to three
/// octal digits, `\x` and up to two hex digits, any other character
/// itself.
fn unescape(raw: &[u8]) -> Vec<u8> {
    if !raw.contains(&b'\\') {
        return raw.to_vec();
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        i += 1;
        if b != b'\\' || i == raw.len() {
            out.push(b);
            continue;
        }
        let c = raw[i];
        i += 1;
        match c {
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut value = u32::from(c - b'0');
                for _ in 0..2 {
                    match raw.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(value as u8);
            }
            b'x' if raw.get(i).is_some_and(u8::is_ascii_hexdigit) => {
                let mut value = 0u32;
                for _ in 0..2 {
                    match raw.get(i).and_then(|d| (*d as char).to_digit(16)) {
                        Some(d) => {
                            value = value * 16 + d;
                            i += 1;
                        }
                        None => break,
                    }
                }
                out.push(value as u8);
            }
            other => out.push(other),
        }
    }
    out
}

/// One CSV record, which quoted values may spread over several lines.
fn csv_record(
    bytes: &[u8],
    at_end: bool,
    options: &CopyOptions,
    line: u64,
) -> Result<Record, CopyError> {
    let (delimiter, quote, escape) = (options.delimiter, options.quote, options.escape);
    let mut fields = Vec::new();
    let mut field = Vec::new();
    let mut quoted = false;
    let mut in_quotes = false;
    let mut lines = 1;
    let mut i = 0;
    let finish_field = |fields: &mut Vec<Option<Vec<u8>>>, field: Vec<u8>, quoted: bool| {
        let column = fields.len();
        let is_null_text = field == options.null;
        let null = if quoted {
            is_null_text && CopyOptions::flag(&options.force_null, column)
        } else {
            is_null_text && !CopyOptions::flag(&options.force_not_null, column)
        };
        fields.push((!null).then_some(field));
    };
    let consumed = loop {
        if i == bytes.len() {
            if !at_end {
                return Ok(Record::Incomplete);
            }
            if in_quotes {
                return Err(CopyError::format(line, "unterminated CSV quoted field"));
            }
            break i;
        }
        let b = bytes[i];
        if in_quotes {
            if b == escape && escape != quote || b == quote && escape == quote {
                // An escape before a quote (or a doubled quote) is a quote
                // in the value; a quote alone closes the value.
                match bytes.get(i + 1) {
                    None if !at_end => return Ok(Record::Incomplete),
                    Some(&next) if next == quote || (next == escape && escape != quote) => {
                        field.push(next);
                        i += 2;
                        continue;
                    }
                    _ if b == quote => in_quotes = false,
                    _ => field.push(b),
                }
            } else if b == quote {
                in_quotes = false;
            } else {
                if b == b'\n' {
                    lines += 1;
                }
                field.push(b);
            }
            i += 1;
            continue;
        }
        if b == quote {
            in_quotes = true;
            quoted = true;
        } else if b == delimiter {
            finish_field(&mut fields, std::mem::take(&mut field), quoted);
            quoted = false;
        } else if b == b'\n' || b == b'\r' {
            match line_end(&bytes[i..], at_end) {
                None => return Ok(Record::Incomplete),
                Some((_, terminator)) => break i + terminator,
            }
        } else {
            field.push(b);
        }
        i += 1;
    };
    if fields.is_empty() && !quoted && field == b"\\." {
        return Ok(Record::End { consumed });
    }
    finish_field(&mut fields, field, quoted);
    Ok(Record::Fields {
        consumed,
        lines,
        fields,
    })
}

/// The binary header: the signature, the flags (no critical flag may be
/// set: bit 16 was "with OIDs"), the extension area, skipped. Its length
/// once all of it is there.
fn binary_header(bytes: &[u8], at_end: bool) -> Result<Option<usize>, String> {
    let fixed = SIGNATURE.len() + 8;
    if bytes.len() < fixed {
        if at_end || !SIGNATURE.starts_with(&bytes[..bytes.len().min(SIGNATURE.len())]) {
            return Err("COPY file signature not recognized".into());
        }
        return Ok(None);
    }
    if &bytes[..SIGNATURE.len()] != SIGNATURE {
        return Err("COPY file signature not recognized".into());
    }
    let word = |at: usize| i32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let flags = word(SIGNATURE.len());
    if flags & (1 << 16) != 0 {
        return Err("COPY with OIDs is not supported".into());
    }
    if (flags >> 16) != 0 {
        return Err("unrecognized critical flags in COPY file header".into());
    }
    let extension = word(SIGNATURE.len() + 4);
    if extension < 0 {
        return Err("invalid COPY file header (missing length)".into());
    }
    let total = fixed + extension as usize;
    if bytes.len() < total {
        return match at_end {
            true => Err("invalid COPY file header (wrong length)".into()),
            false => Ok(None),
        };
    }
    Ok(Some(total))
}

/// One binary tuple: a field count (`-1`: the trailer), then each field's
/// length (`-1`: NULL) and bytes.
fn binary_tuple(bytes: &[u8], at_end: bool, line: u64) -> Result<Record, CopyError> {
    let short = || match at_end {
        true => Err(CopyError::format(line, "unexpected EOF in COPY data")),
        false => Ok(Record::Incomplete),
    };
    if bytes.len() < 2 {
        return short();
    }
    let count = i16::from_be_bytes([bytes[0], bytes[1]]);
    if count == -1 {
        return Ok(Record::End {
            consumed: bytes.len(),
        });
    }
    if count < 0 {
        return Err(CopyError::format(
            line,
            format!("row field count is {count}, expected a count of fields"),
        ));
    }
    let mut at = 2;
    let mut fields = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let Some(len) = bytes.get(at..at + 4) else {
            return short();
        };
        let len = i32::from_be_bytes(len.try_into().expect("4 bytes"));
        at += 4;
        if len == -1 {
            fields.push(None);
            continue;
        }
        if len < 0 {
            return Err(CopyError::format(line, "invalid field size"));
        }
        let Some(value) = bytes.get(at..at + len as usize) else {
            return short();
        };
        fields.push(Some(value.to_vec()));
        at += len as usize;
    }
    Ok(Record::Fields {
        consumed: at,
        lines: 1,
        fields,
    })
}
