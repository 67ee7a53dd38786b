//! JSON as PostgreSQL reads it: [`validate`] checks text the way `json_in`
//! does, [`normalize_jsonb`] rewrites it the way `jsonb_out` prints what
//! `jsonb_in` stored.
//!
//! jsonb keeps no formatting: objects print their keys shorter-first, then
//! bytewise, with the last of duplicate keys kept; separators are `": "`
//! and `", "`; numbers are PostgreSQL numerics (`1e2` → `100`, `1.50` stays
//! `1.50`, `-0` → `0`); strings are unescaped and re-escaped minimally.
//! Numbers are handled as digit strings, never as floats, so no digit is
//! lost.

use crate::SqlError;

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 1_000;

/// PostgreSQL's limit on a numeric's decimal exponent.
const MAX_EXPONENT: i64 = 1_000;

/// Checks that `text` is one JSON value, as the `json` type requires.
pub fn validate(text: &str) -> Result<(), SqlError> {
    Parser::new(text, false).document().map(|_| ())
}

/// `text` as jsonb prints it.
pub fn normalize_jsonb(text: &str) -> Result<String, SqlError> {
    let value = Parser::new(text, true).document()?;
    let mut out = String::with_capacity(text.len());
    value.write(&mut out);
    Ok(out)
}

enum Value {
    Null,
    Bool(bool),
    /// Already in numeric's output form.
    Number(String),
    String(String),
    Array(Vec<Value>),
    /// Sorted, without duplicate keys.
    Object(Vec<(String, Value)>),
}

impl Value {
    fn write(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(n),
            Value::String(s) => write_string(s, out),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Value::Object(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_string(key, out);
                    out.push_str(": ");
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// PostgreSQL's `escape_json`.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A recursive-descent parser. With `jsonb` it builds the normalised
/// value; without, it only checks (and the values it builds are dropped).
struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    jsonb: bool,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str, jsonb: bool) -> Self {
        Parser {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            jsonb,
        }
    }

    fn invalid(&self) -> SqlError {
        SqlError {
            sqlstate: "22P02",
            message: format!(
                "invalid input syntax for type {}",
                if self.jsonb { "jsonb" } else { "json" }
            ),
            position: None,
        }
    }

    fn document(mut self) -> Result<Value, SqlError> {
        let value = self.value(0)?;
        self.skip_whitespace();
        if self.pos != self.bytes.len() {
            return Err(self.invalid());
        }
        Ok(value)
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.bytes.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, SqlError> {
        if depth > MAX_DEPTH {
            return Err(SqlError {
                sqlstate: "54001",
                message: format!("JSON nested deeper than {MAX_DEPTH} levels"),
                position: None,
            });
        }
        self.skip_whitespace();
        match self.bytes.get(self.pos) {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Value::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => self.keyword(),
        }
    }

    fn keyword(&mut self) -> Result<Value, SqlError> {
        for (word, value) in [
            ("null", Value::Null),
            ("true", Value::Bool(true)),
            ("false", Value::Bool(false)),
        ] {
            if self.text[self.pos..].starts_with(word) {
                self.pos += word.len();
                // `nullx` is one invalid token, not `null` then `x`.
                if self
                    .bytes
                    .get(self.pos)
                    .is_some_and(u8::is_ascii_alphanumeric)
                {
                    return Err(self.invalid());
                }
                return Ok(value);
            }
        }
        Err(self.invalid())
    }

    fn object(&mut self, depth: usize) -> Result<Value, SqlError> {
        self.pos += 1;
        let mut members = Vec::new();
        self.skip_whitespace();
        if self.bytes.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_whitespace();
            if self.bytes.get(self.pos) != Some(&b'"') {
                return Err(self.invalid());
            }
            let key = self.string()?;
            self.skip_whitespace();
            if self.bytes.get(self.pos) != Some(&b':') {
                return Err(self.invalid());
            }
            self.pos += 1;
            let value = self.value(depth + 1)?;
            if self.jsonb {
                members.push((key, value));
            }
            self.skip_whitespace();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(self.invalid()),
            }
        }
        // Stable: equal keys stay in input order, so the last one is kept.
        members.sort_by(|(a, _), (b, _)| (a.len(), a.as_bytes()).cmp(&(b.len(), b.as_bytes())));
        let mut unique: Vec<(String, Value)> = Vec::with_capacity(members.len());
        for member in members {
            match unique.last_mut() {
                Some(last) if last.0 == member.0 => *last = member,
                _ => unique.push(member),
            }
        }
        Ok(Value::Object(unique))
    }

    fn array(&mut self, depth: usize) -> Result<Value, SqlError> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.bytes.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            let item = self.value(depth + 1)?;
            if self.jsonb {
                items.push(item);
            }
            self.skip_whitespace();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.invalid()),
            }
        }
    }

    /// A string token, unescaped (for json only checked: an empty result).
    fn string(&mut self) -> Result<String, SqlError> {
        self.pos += 1;
        let mut out = String::new();
        let mut run_start = self.pos;
        loop {
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(self.invalid());
            };
            match b {
                b'"' => {
                    if self.jsonb {
                        out.push_str(&self.text[run_start..self.pos]);
                    }
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    if self.jsonb {
                        out.push_str(&self.text[run_start..self.pos]);
                    }
                    self.pos += 1;
                    let c = self.escape()?;
                    if self.jsonb {
                        out.push(c);
                    }
                    run_start = self.pos;
                }
                0x00..=0x1f => return Err(self.invalid()),
                _ => self.pos += 1,
            }
        }
    }

    /// The character an escape (after its backslash) stands for.
    fn escape(&mut self) -> Result<char, SqlError> {
        let Some(&b) = self.bytes.get(self.pos) else {
            return Err(self.invalid());
        };
        self.pos += 1;
        Ok(match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(),
            _ => return Err(self.invalid()),
        })
    }

    fn unicode_escape(&mut self) -> Result<char, SqlError> {
        let first = self.hex4()?;
        let code = match first {
            0xd800..=0xdbff => {
                if !self.text[self.pos..].starts_with("\\u") {
                    return Err(self.invalid());
                }
                self.pos += 2;
                let low = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&low) {
                    return Err(self.invalid());
                }
                0x10000 + ((first - 0xd800) << 10) + (low - 0xdc00)
            }
            0xdc00..=0xdfff => return Err(self.invalid()),
            0 if self.jsonb => {
                return Err(SqlError {
                    sqlstate: "22P05",
                    message: "unsupported Unicode escape sequence".into(),
                    position: None,
                });
            }
            other => other,
        };
        char::from_u32(code).ok_or_else(|| self.invalid())
    }

    fn hex4(&mut self) -> Result<u32, SqlError> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| self.invalid())?;
        self.pos += 4;
        u32::from_str_radix(digits, 16).map_err(|_| self.invalid())
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, as a numeric.
    fn number(&mut self) -> Result<Value, SqlError> {
        let start = self.pos;
        let negative = self.eat(b'-');
        let int_start = self.pos;
        if !self.eat(b'0') && self.digits() == 0 {
            return Err(self.invalid());
        }
        let int = &self.text[int_start..self.pos];
        let mut fraction = "";
        if self.eat(b'.') {
            let fraction_start = self.pos;
            if self.digits() == 0 {
                return Err(self.invalid());
            }
            fraction = &self.text[fraction_start..self.pos];
        }
        let mut exponent: i64 = 0;
        if self.eat(b'e') || self.eat(b'E') {
            let exponent_start = self.pos;
            if !self.eat(b'-') {
                self.eat(b'+');
            }
            if self.digits() == 0 {
                return Err(self.invalid());
            }
            let digits = &self.text[exponent_start..self.pos];
            exponent = digits.parse().unwrap_or(i64::MAX);
        }
        // `01`, `1x`: one invalid token.
        if self
            .bytes
            .get(self.pos)
            .is_some_and(u8::is_ascii_alphanumeric)
        {
            return Err(self.invalid());
        }
        if !self.jsonb {
            return Ok(Value::Null);
        }
        if !(-MAX_EXPONENT..=MAX_EXPONENT).contains(&exponent) {
            return Err(SqlError {
                sqlstate: "22P02",
                message: format!(
                    "invalid input syntax for type numeric: \"{}\"",
                    &self.text[start..self.pos]
                ),
                position: None,
            });
        }
        Ok(Value::Number(numeric_text(
            negative, int, fraction, exponent,
        )))
    }

    fn eat(&mut self, b: u8) -> bool {
        let found = self.bytes.get(self.pos) == Some(&b);
        if found {
            self.pos += 1;
        }
        found
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        self.pos - start
    }
}

/// `int.fraction × 10^exponent` as PostgreSQL's numeric prints it: no
/// exponent, as many fraction digits as the input implied (`1.50e1` →
/// `15.0`), no negative zero.
fn numeric_text(negative: bool, int: &str, fraction: &str, exponent: i64) -> String {
    let digits: Vec<u8> = int.bytes().chain(fraction.bytes()).collect();
    let point = int.len() as i64 + exponent;
    let scale = (fraction.len() as i64 - exponent).max(0) as usize;
    let digit_at = |i: i64| -> u8 {
        if i >= 0 && (i as usize) < digits.len() {
            digits[i as usize]
        } else {
            b'0'
        }
    };
    let mut whole: String = (0..point.max(0)).map(|i| digit_at(i) as char).collect();
    let trimmed = whole.trim_start_matches('0').len();
    whole.drain(..whole.len() - trimmed);
    if whole.is_empty() {
        whole.push('0');
    }
    let fraction: String = (0..scale as i64)
        .map(|i| digit_at(point + i) as char)
        .collect();
    let zero = digits.iter().all(|&d| d == b'0');
    let mut out = String::with_capacity(whole.len() + fraction.len() + 2);
    if negative && !zero {
        out.push('-');
    }
    out.push_str(&whole);
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(&fraction);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonb_prints_like_postgres() {
        let cases = [
            (r#"{"b": [1,2], "a":1}"#, r#"{"a": 1, "b": [1, 2]}"#),
            (r#"{"aa":1,"b":2,"a":3}"#, r#"{"a": 3, "b": 2, "aa": 1}"#),
            (r#"{"a":1,"a":2}"#, r#"{"a": 2}"#),
            (" [ ] ", "[]"),
            ("{}", "{}"),
            (
                r#"{"x": {"z": null, "y": true}}"#,
                r#"{"x": {"y": true, "z": null}}"#,
            ),
            (r#""a\/b\u00e9\n""#, r#""a/bé\n""#),
            (r#""\u001f\ud83d\ude00""#, "\"\\u001f😀\""),
            ("1e2", "100"),
            ("1.50", "1.50"),
            ("1.50e1", "15.0"),
            ("1.5e-3", "0.0015"),
            ("-0", "0"),
            ("-0.0", "0.0"),
            ("-12.5E+1", "-125"),
            ("0e5", "0"),
            (
                "123456789012345678901234567890.5",
                "123456789012345678901234567890.5",
            ),
            ("false", "false"),
        ];
        for (input, printed) in cases {
            assert_eq!(normalize_jsonb(input).unwrap(), printed, "{input}");
        }
    }

    #[test]
    fn invalid_json_is_refused() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\" 1}",
            "01",
            "1.",
            ".5",
            "+1",
            "nul",
            "nullx",
            "'a'",
            "\"a",
            "\"\\x\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "{1: 2}",
            "[1] 2",
            "\"tab\there\"",
        ] {
            let err = validate(bad).unwrap_err();
            assert_eq!(err.sqlstate, "22P02", "{bad:?}");
            assert_eq!(err.message, "invalid input syntax for type json", "{bad:?}");
            let err = normalize_jsonb(bad).unwrap_err();
            assert_eq!(
                err.message, "invalid input syntax for type jsonb",
                "{bad:?}"
            );
        }
        assert!(validate(r#" {"a": [1, 2.5e3, "x", null]} "#).is_ok());
        // json keeps a NUL escape; jsonb, like PostgreSQL's, cannot store it.
        assert!(validate(r#""\u0000""#).is_ok());
        assert_eq!(
            normalize_jsonb(r#""\u0000""#).unwrap_err().sqlstate,
            "22P05"
        );
        assert_eq!(normalize_jsonb("1e1001").unwrap_err().sqlstate, "22P02");
        let deep = "[".repeat(2_000) + &"]".repeat(2_000);
        assert_eq!(validate(&deep).unwrap_err().sqlstate, "54001");
    }
}
