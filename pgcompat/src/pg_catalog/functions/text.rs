//! Text and value functions PostgreSQL has and DataFusion lacks, or has
//! otherwise: `format`, `quote_ident`, `quote_literal`, `parse_ident`,
//! `pg_size_pretty`, `json_build_object`, `array_upper` / `array_lower`,
//! and `eddy_like_pattern` (behind [`crate::dialect`]'s rewrite of
//! `LIKE … ESCAPE`).

use std::sync::Arc;

use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;

use eddy_sql::identifiers::quote_if_needed as quote_ident;

use crate::udf::{as_i64, as_text, register, utf8};

pub(super) fn register_all(ctx: &SessionContext) {
    let text = DataType::Utf8;
    register(
        ctx,
        "format",
        &[1, 2, 3, 4, 5, 6, 7, 8],
        DataType::Utf8,
        |args| {
            let Some(template) = as_text(&args[0]) else {
                return Ok(ScalarValue::Utf8(None));
            };
            format_pg(&template, &args[1..])
                .map(|s| ScalarValue::Utf8(Some(s)))
                .map_err(|message| {
                    DataFusionError::External(Box::new(crate::error::PgError::new(
                        "22023", message,
                    )))
                })
        },
    );
    register(ctx, "pg_size_pretty", &[1], DataType::Utf8, |args| {
        Ok(ScalarValue::Utf8(as_i64(&args[0]).map(size_pretty)))
    });
    // `LIKE p ESCAPE 'e'` with a pattern known only at execution
    // (rewritten by `dialect`): the pattern with backslash escapes.
    register(ctx, "eddy_like_pattern", &[2], DataType::Utf8, |args| {
        let (Some(pattern), Some(escape)) = (as_text(&args[0]), as_text(&args[1])) else {
            return Ok(ScalarValue::Utf8(None));
        };
        crate::dialect::backslash_escaped(&pattern, &escape)
            .map(|p| ScalarValue::Utf8(Some(p)))
            .ok_or_else(|| {
                DataFusionError::External(Box::new(crate::error::PgError::new(
                    "22025",
                    "invalid escape string",
                )))
            })
    });
    register(ctx, "quote_ident", &[1], text.clone(), |args| {
        Ok(utf8(as_text(&args[0]).map(|s| quote_ident(&s))))
    });
    register(ctx, "quote_literal", &[1], text.clone(), |args| {
        Ok(utf8(
            as_text(&args[0]).map(|s| format!("'{}'", s.replace('\'', "''"))),
        ))
    });
    // Bounds of a one-dimensional array: NULL for an empty array or
    // another dimension, as in PostgreSQL.
    for (name, lower) in [("array_upper", false), ("array_lower", true)] {
        register(ctx, name, &[2], DataType::Int64, move |args| {
            let length = match &args[0] {
                ScalarValue::List(l) if !l.is_null(0) => l.value(0).len() as i64,
                _ => 0,
            };
            Ok(ScalarValue::Int64(
                (length > 0 && as_i64(&args[1]) == Some(1)).then_some(if lower {
                    1
                } else {
                    length
                }),
            ))
        });
    }
    let text_list = DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)));
    register(ctx, "parse_ident", &[1, 2], text_list, |args| {
        let Some(name) = as_text(&args[0]) else {
            return Ok(ScalarValue::Null);
        };
        let parts = parse_ident(&name).ok_or_else(|| {
            DataFusionError::External(Box::new(crate::error::PgError::new(
                "22023",
                format!("string is not a valid identifier: \"{name}\""),
            )))
        })?;
        let values: Vec<ScalarValue> = parts
            .into_iter()
            .map(|p| ScalarValue::Utf8(Some(p)))
            .collect();
        Ok(ScalarValue::List(ScalarValue::new_list_nullable(
            &values,
            &DataType::Utf8,
        )))
    });
    register(
        ctx,
        "json_build_object",
        &[0, 2, 4, 6, 8, 10, 12, 14, 16],
        DataType::Utf8,
        |args| {
            let mut object = serde_json::Map::new();
            for pair in args.chunks(2) {
                let key = as_text(&pair[0]).unwrap_or_default();
                object.insert(key, json_value(&pair[1]));
            }
            Ok(utf8(Some(serde_json::Value::Object(object).to_string())))
        },
    );
}

fn json_value(v: &ScalarValue) -> serde_json::Value {
    if v.is_null() {
        return serde_json::Value::Null;
    }
    match v {
        ScalarValue::Boolean(Some(b)) => serde_json::Value::Bool(*b),
        other => match as_i64(other) {
            Some(n) if !matches!(other, ScalarValue::Utf8(_)) => serde_json::Value::from(n),
            _ => serde_json::Value::String(as_text(other).unwrap_or_default()),
        },
    }
}

/// `pg_size_pretty(bytes)` as PostgreSQL prints it: bytes below 10 kB,
/// then kB, MB, GB, TB, PB, each rounded half away from zero.
fn size_pretty(bytes: i64) -> String {
    // (name, below this many of the unit, rounded, bits of the unit)
    const UNITS: [(&str, i64, bool, u32); 6] = [
        ("bytes", 10 * 1024, false, 0),
        ("kB", 20 * 1024 - 1, true, 10),
        ("MB", 20 * 1024 - 1, true, 20),
        ("GB", 20 * 1024 - 1, true, 30),
        ("TB", 20 * 1024 - 1, true, 40),
        ("PB", 20 * 1024 - 1, true, 50),
    ];
    let mut size = bytes;
    for (i, (name, limit, round, bits)) in UNITS.iter().enumerate() {
        let last = i + 1 == UNITS.len();
        if last || size.abs() < *limit {
            if *round {
                size = (size + if size < 0 { -1 } else { 1 }) / 2;
            }
            return format!("{size} {name}");
        }
        let (_, _, next_round, next_bits) = UNITS[i + 1];
        let shift = next_bits - bits - u32::from(next_round) + u32::from(*round);
        size /= 1i64 << shift;
    }
    unreachable!("the last unit always answers")
}

/// PostgreSQL's `format()`: `%s` (the value as text, NULL as empty),
/// `%I` (an identifier, quoted when needed), `%L` (a literal, NULL as
/// `NULL`), `%%`, and positions (`%2$s`).
fn format_pg(template: &str, args: &[ScalarValue]) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    let mut next = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut digits = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        let index = if digits.is_empty() {
            None
        } else if chars.next_if_eq(&'$').is_some() {
            Some(digits.parse::<usize>().map_err(|e| e.to_string())?)
        } else {
            return Err("unrecognized format() type specifier".into());
        };
        let conversion = chars.next().ok_or("unterminated format() type specifier")?;
        if conversion == '%' {
            out.push('%');
            continue;
        }
        let i = match index {
            Some(0) => {
                return Err(
                    "format specifies argument 0, but arguments are numbered from 1".into(),
                );
            }
            Some(n) => n - 1,
            None => next,
        };
        next = i + 1;
        let value = args.get(i).ok_or("too few arguments for format()")?;
        let text = if value.is_null() {
            None
        } else {
            Some(as_text(value).unwrap_or_else(|| value.to_string()))
        };
        match conversion {
            's' => out.push_str(text.as_deref().unwrap_or("")),
            'I' => out.push_str(&quote_ident(
                &text.ok_or("null values cannot be formatted as an SQL identifier")?,
            )),
            'L' => match text {
                Some(t) => out.push_str(&format!("'{}'", t.replace('\'', "''"))),
                None => out.push_str("NULL"),
            },
            other => return Err(format!("unrecognized format() type specifier \"{other}\"")),
        }
    }
    Ok(out)
}

/// `parse_ident('a."B c".d')` → `["a", "B c", "d"]`: unquoted parts fold
/// to lower case, quoted ones keep their text (`""` is a quote). `None`
/// when the text is not a qualified identifier.
fn parse_ident(text: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut chars = text.trim().chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    '"' => break,
                    c => part.push(c),
                }
            }
            if part.is_empty() {
                return None;
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' || c.is_whitespace() {
                    break;
                }
                if !(c.is_alphanumeric() || c == '_' || c == '$') {
                    return None;
                }
                part.push(c.to_lowercase().next().unwrap_or(c));
                chars.next();
            }
            if part.is_empty() {
                return None;
            }
        }
        parts.push(part);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => return Some(parts),
            Some('.') => {
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
            }
            Some(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use datafusion::common::ScalarValue;

    use super::{format_pg, parse_ident};

    #[test]
    fn sizes_like_postgres() {
        use super::size_pretty;
        // Values checked against PostgreSQL 15's pg_size_pretty.
        assert_eq!(size_pretty(0), "0 bytes");
        assert_eq!(size_pretty(10239), "10239 bytes");
        assert_eq!(size_pretty(10240), "10 kB");
        assert_eq!(size_pretty(20_971_519), "20 MB");
        assert_eq!(size_pretty(20_971_520), "20 MB");
        assert_eq!(size_pretty(-10240), "-10 kB");
        assert_eq!(size_pretty(1_099_511_627_776), "1024 GB");
    }

    #[test]
    fn format_like_postgres() {
        let text = |s: &str| ScalarValue::Utf8(Some(s.into()));
        assert_eq!(
            format_pg(
                "%I.%I = %L, %s%%",
                &[
                    text("public"),
                    text("My T"),
                    text("it's"),
                    ScalarValue::Int64(Some(5))
                ]
            ),
            Ok("public.\"My T\" = 'it''s', 5%".into())
        );
        assert_eq!(
            format_pg("%2$s %1$s %s", &[text("a"), text("b")]),
            Ok("b a b".into())
        );
        assert_eq!(
            format_pg(
                "%L|%s|",
                &[ScalarValue::Utf8(None), ScalarValue::Utf8(None)]
            ),
            Ok("NULL||".into())
        );
        assert!(format_pg("%s %s", &[text("a")]).is_err());
    }

    #[test]
    fn parse_ident_splits_and_folds_like_postgres() {
        assert_eq!(
            parse_ident("public.T1"),
            Some(vec!["public".into(), "t1".into()])
        );
        assert_eq!(
            parse_ident("\"My \"\"x\"\" Table\" . b"),
            Some(vec!["My \"x\" Table".into(), "b".into()])
        );
        assert_eq!(parse_ident("a..b"), None);
        assert_eq!(parse_ident("a b"), None);
        assert_eq!(parse_ident("\"open"), None);
    }
}
