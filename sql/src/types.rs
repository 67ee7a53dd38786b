//! SQL type names ↔ catalog [`SqlType`] ↔ Arrow [`DataType`].
//!
//! The catalog stores [`SqlType`] so its format does not follow Arrow's
//! releases; everything that touches data goes through [`arrow_type`] and
//! [`arrow_field`]. Type names follow PostgreSQL: the aliases it accepts are
//! accepted here, and an unknown name fails with its wording and SQLSTATE
//! (42704). Names PostgreSQL knows but Eddy does not store (`time`, arrays,
//! …) are reported as unsupported (0A000) rather than as unknown.
//!
//! `uuid`, `json` and `jsonb` are types of their own in the catalog and on
//! the wire, held as canonical text in Arrow `Utf8` columns whose field
//! metadata names the type (see [`crate::text_types`]). Casts to them in
//! queries are planned as casts to text ([`rewrite_pg_casts`]), with a
//! string literal checked and canonicalised first, so that it compares
//! equal to the stored form.
//!
//! Intervals written as text (`'5 seconds'`, `'00:01:30'`) are parsed here
//! too ([`parse_interval_micros`]): watermarks, window sizes and option values
//! such as `trigger = '1 second'` all need a fixed length in microseconds.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, IntervalUnit, Schema, SchemaRef, TimeUnit};
use datafusion::sql::sqlparser::ast::{self as ast, ExactNumberInfo, ObjectNamePart, TimezoneInfo};
use eddy_catalog::{ColumnDef, SqlType};

use crate::SqlError;
use crate::text_types::TextType;

/// Precision and scale of a `NUMERIC` declared without them. PostgreSQL's
/// unconstrained numeric has no Arrow equivalent; this keeps ten decimals.
pub const DEFAULT_NUMERIC: (u8, i8) = (38, 10);

/// The largest precision Arrow's `Decimal128` holds.
const MAX_NUMERIC_PRECISION: u64 = 38;

/// Maps a type as sqlparser parsed it to the type Eddy stores.
///
/// `SERIAL` / `BIGSERIAL` map to their integer types; the caller decides
/// what, if anything, fills them.
pub fn sql_type_from_ast(dt: &ast::DataType) -> Result<SqlType, SqlError> {
    use ast::DataType as D;
    Ok(match dt {
        D::Boolean | D::Bool => SqlType::Boolean,
        D::SmallInt(_) | D::Int2(_) => SqlType::SmallInt,
        D::Int(_) | D::Integer(_) | D::Int4(_) => SqlType::Int,
        D::BigInt(_) | D::Int8(_) => SqlType::BigInt,
        D::Real | D::Float4 => SqlType::Real,
        D::Double(_) | D::DoublePrecision | D::Float8 => SqlType::Double,
        D::Float(info) => float_type(info)?,
        D::Numeric(info) | D::Decimal(info) | D::Dec(info) => numeric_type(info)?,
        D::Text
        | D::String(_)
        | D::Varchar(_)
        | D::Char(_)
        | D::Character(_)
        | D::CharacterVarying(_)
        | D::CharVarying(_) => SqlType::Text,
        D::Uuid => SqlType::Uuid,
        D::JSON => SqlType::Json,
        D::JSONB => SqlType::Jsonb,
        D::Bytea => SqlType::Bytea,
        D::Date => SqlType::Date,
        D::Timestamp(_, TimezoneInfo::None | TimezoneInfo::WithoutTimeZone)
        | D::TimestampNtz(_) => SqlType::Timestamp,
        D::Timestamp(_, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz) => SqlType::TimestampTz,
        D::Interval { .. } => SqlType::Interval,
        D::Custom(name, modifiers) => custom_type(name, modifiers)?,
        other => {
            return Err(SqlError::unsupported(format!(
                "type {} is not supported",
                other.to_string().to_lowercase()
            )));
        }
    })
}

/// Rewrites casts DataFusion cannot plan, or plans with another meaning, into
/// PostgreSQL's: casts to `uuid`, `json` and `jsonb` (`x::uuid`, `CAST(x AS
/// jsonb)`, `uuid '…'`) become casts to text, how those columns are stored,
/// with a string literal checked and made canonical (a bad one fails as in
/// PostgreSQL, 22P02); and `'\x0001'::bytea` becomes the hex literal
/// `X'0001'` (DataFusion's cast of a string to binary keeps the text's
/// bytes; psycopg2 sends every `bytes` value this way). For the caller to
/// apply before planning.
pub fn rewrite_pg_casts(stmt: &mut ast::Statement) -> Result<(), SqlError> {
    use std::ops::ControlFlow;
    let flow = ast::visit_expressions_mut(stmt, |expr| {
        bytea_hex_literal(expr);
        if let Some((text_type, ast::Expr::Value(v))) = cast_to_text(expr)
            && let ast::Value::SingleQuotedString(s) = &mut v.value
        {
            match text_type.canonical(s) {
                Ok(canonical) => *s = canonical.into_owned(),
                Err(e) => return ControlFlow::Break(e),
            }
        }
        ControlFlow::Continue(())
    });
    match flow {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// A cast to `uuid`, `json` or `jsonb` (`uuid '…'` included) made a cast
/// to text: the type it named, and the expression cast.
fn cast_to_text(expr: &mut ast::Expr) -> Option<(TextType, &mut ast::Expr)> {
    if let ast::Expr::TypedString(typed) = expr
        && text_type_of_ast(&typed.data_type).is_some()
    {
        let cast = ast::Expr::Cast {
            kind: ast::CastKind::DoubleColon,
            expr: Box::new(ast::Expr::Value(typed.value.clone())),
            data_type: typed.data_type.clone(),
            array: false,
            format: None,
        };
        *expr = cast;
    }
    let ast::Expr::Cast {
        expr: inner,
        data_type,
        ..
    } = expr
    else {
        return None;
    };
    let text_type = text_type_of_ast(data_type)?;
    *data_type = ast::DataType::Text;
    Some((text_type, inner.as_mut()))
}

/// `'\x0001'::bytea` → `X'0001'`.
fn bytea_hex_literal(expr: &mut ast::Expr) {
    if let ast::Expr::Cast {
        expr: inner,
        data_type: ast::DataType::Bytea,
        ..
    } = expr
        && let ast::Expr::Value(v) = inner.as_ref()
        && let ast::Value::SingleQuotedString(s) = &v.value
        && let Some(hex) = s.strip_prefix("\\x")
        && hex.len() % 2 == 0
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        *expr = ast::Expr::Value(ast::Value::HexStringLiteral(hex.to_owned()).with_empty_span());
    }
}

/// `uuid`, `json`, `jsonb`, however spelled (`pg_catalog.uuid`, `"jsonb"`).
fn text_type_of_ast(dt: &ast::DataType) -> Option<TextType> {
    match dt {
        ast::DataType::Uuid => Some(TextType::Uuid),
        ast::DataType::JSON => Some(TextType::Json),
        ast::DataType::JSONB => Some(TextType::Jsonb),
        ast::DataType::Custom(..) => sql_type_from_ast(dt).ok().and_then(TextType::of_sql_type),
        _ => None,
    }
}

/// `FLOAT(p)`: PostgreSQL picks `real` up to 24 bits, `double` up to 53.
fn float_type(info: &ExactNumberInfo) -> Result<SqlType, SqlError> {
    match info {
        ExactNumberInfo::None => Ok(SqlType::Double),
        ExactNumberInfo::Precision(p) if (1..=24).contains(p) => Ok(SqlType::Real),
        ExactNumberInfo::Precision(p) if (25..=53).contains(p) => Ok(SqlType::Double),
        ExactNumberInfo::Precision(0) => Err(SqlError::invalid_value(
            "precision for type float must be at least 1 bit",
        )),
        ExactNumberInfo::Precision(_) => Err(SqlError::invalid_value(
            "precision for type float must be less than 54 bits",
        )),
        ExactNumberInfo::PrecisionAndScale(..) => {
            Err(SqlError::syntax("type float does not take a scale", None))
        }
    }
}

fn numeric_type(info: &ExactNumberInfo) -> Result<SqlType, SqlError> {
    let (precision, scale) = match *info {
        ExactNumberInfo::None => return Ok(SqlType::Numeric(DEFAULT_NUMERIC.0, DEFAULT_NUMERIC.1)),
        ExactNumberInfo::Precision(p) => (p, 0),
        ExactNumberInfo::PrecisionAndScale(p, s) => (p, s),
    };
    if !(1..=MAX_NUMERIC_PRECISION).contains(&precision) {
        return Err(SqlError::invalid_value(format!(
            "NUMERIC precision {precision} must be between 1 and {MAX_NUMERIC_PRECISION}"
        )));
    }
    if scale < 0 || scale > precision as i64 {
        return Err(SqlError::invalid_value(format!(
            "NUMERIC scale {scale} must be between 0 and precision {precision}"
        )));
    }
    Ok(SqlType::Numeric(precision as u8, scale as i8))
}

/// Names sqlparser does not know as types: PostgreSQL's serials and
/// `pg_catalog.`-qualified spellings.
fn custom_type(name: &ast::ObjectName, modifiers: &[String]) -> Result<SqlType, SqlError> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) if ident.quote_style.is_none() => {
                ident.value.to_ascii_lowercase()
            }
            ObjectNamePart::Identifier(ident) => ident.value.clone(),
            ObjectNamePart::Function(f) => f.name.value.clone(),
        })
        .collect();
    let base = match parts.as_slice() {
        [n] => n.as_str(),
        [schema, n] if schema == "pg_catalog" => n.as_str(),
        _ => "",
    };
    let unqualified = match base {
        "serial" | "serial4" => SqlType::Int,
        "bigserial" | "serial8" => SqlType::BigInt,
        "smallserial" | "serial2" => SqlType::SmallInt,
        "timestamptz" => SqlType::TimestampTz,
        "bool" | "boolean" => SqlType::Boolean,
        "int2" | "smallint" => SqlType::SmallInt,
        "int4" | "int" | "integer" => SqlType::Int,
        "int8" | "bigint" => SqlType::BigInt,
        "float4" | "real" => SqlType::Real,
        "float8" => SqlType::Double,
        "text" | "varchar" | "bpchar" => SqlType::Text,
        "uuid" => SqlType::Uuid,
        "json" => SqlType::Json,
        "jsonb" => SqlType::Jsonb,
        "bytea" => SqlType::Bytea,
        "date" => SqlType::Date,
        "timestamp" => SqlType::Timestamp,
        "interval" => SqlType::Interval,
        "numeric" | "decimal" if modifiers.is_empty() => {
            SqlType::Numeric(DEFAULT_NUMERIC.0, DEFAULT_NUMERIC.1)
        }
        _ => {
            return Err(SqlError::undefined(format!(
                "type \"{}\" does not exist",
                parts.join(".")
            )));
        }
    };
    Ok(unqualified)
}

/// The Arrow type Eddy's batches use for a column of type `t`.
pub fn arrow_type(t: SqlType) -> DataType {
    match t {
        SqlType::Boolean => DataType::Boolean,
        SqlType::SmallInt => DataType::Int16,
        SqlType::Int => DataType::Int32,
        SqlType::BigInt => DataType::Int64,
        SqlType::Real => DataType::Float32,
        SqlType::Double => DataType::Float64,
        SqlType::Numeric(p, s) if p as u64 <= MAX_NUMERIC_PRECISION => DataType::Decimal128(p, s),
        // Only reachable from an Arrow Decimal256 read back by `sql_type_from_arrow`.
        SqlType::Numeric(p, s) => DataType::Decimal256(p, s),
        SqlType::Text | SqlType::Uuid | SqlType::Json | SqlType::Jsonb => DataType::Utf8,
        SqlType::Bytea => DataType::Binary,
        SqlType::Date => DataType::Date32,
        SqlType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        SqlType::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        SqlType::Interval => DataType::Interval(IntervalUnit::MonthDayNano),
    }
}

/// The Arrow field of a column of type `t`: [`arrow_type`], and for
/// `uuid`, `json` and `jsonb` the metadata naming the type.
pub fn arrow_field(name: &str, t: SqlType, nullable: bool) -> Field {
    let field = Field::new(name, arrow_type(t), nullable);
    match TextType::of_sql_type(t) {
        Some(text_type) => field.with_metadata(text_type.metadata()),
        None => field,
    }
}

/// The Arrow schema of rows with these columns.
pub fn arrow_schema(columns: &[ColumnDef]) -> SchemaRef {
    let fields: Vec<Field> = columns
        .iter()
        .map(|c| arrow_field(&c.name, c.data_type, c.nullable))
        .collect();
    Arc::new(Schema::new(fields))
}

/// The SQL type of a result field: the type its metadata names, else
/// [`sql_type_from_arrow`] of its Arrow type.
pub fn sql_type_from_field(field: &Field) -> Option<SqlType> {
    match TextType::of_field(field) {
        Some(text_type) => Some(text_type.sql_type()),
        None => sql_type_from_arrow(field.data_type()),
    }
}

/// The SQL type a value of Arrow type `dt` is shown as, for results computed
/// by DataFusion (which may widen, narrow or change units). `None` for types
/// with no SQL counterpart here (lists, structs, times of day, …).
pub fn sql_type_from_arrow(dt: &DataType) -> Option<SqlType> {
    Some(match dt {
        DataType::Boolean => SqlType::Boolean,
        DataType::Int8 | DataType::UInt8 | DataType::Int16 => SqlType::SmallInt,
        DataType::UInt16 | DataType::Int32 => SqlType::Int,
        DataType::UInt32 | DataType::Int64 => SqlType::BigInt,
        DataType::UInt64 => SqlType::Numeric(20, 0),
        DataType::Float16 | DataType::Float32 => SqlType::Real,
        DataType::Float64 => SqlType::Double,
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => SqlType::Numeric(*p, *s),
        // An untyped NULL is shown as text, as PostgreSQL does for `SELECT NULL`.
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => SqlType::Text,
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => SqlType::Bytea,
        DataType::Date32 => SqlType::Date,
        DataType::Date64 => SqlType::Timestamp,
        DataType::Timestamp(_, None) => SqlType::Timestamp,
        DataType::Timestamp(_, Some(_)) => SqlType::TimestampTz,
        DataType::Interval(_) | DataType::Duration(_) => SqlType::Interval,
        DataType::Dictionary(_, values) => return sql_type_from_arrow(values),
        _ => return None,
    })
}

/// The type as PostgreSQL DDL writes it (`bigint`, `double precision`,
/// `timestamptz`, `numeric(10,2)`), e.g. for `SHOW CREATE` and for creating
/// tables in a PostgreSQL sink.
pub fn pg_type_name(t: SqlType) -> String {
    match t {
        SqlType::Numeric(p, s) => format!("numeric({p},{s})"),
        SqlType::Timestamp => "timestamp".to_string(),
        SqlType::TimestampTz => "timestamptz".to_string(),
        // The catalog's Display already uses the DDL names for the rest.
        other => other.to_string(),
    }
}

const MICROS_PER_SECOND: i128 = 1_000_000;

/// Parses an interval written as text, PostgreSQL-style, into microseconds:
/// `'5 seconds'`, `'1 minute 30 seconds'`, `'10ms'`, `'1.5 hours'`,
/// `'00:01:30'`, `'2 days 04:00:00'`, a bare number meaning seconds, and
/// `'… ago'` for a negative interval.
///
/// Months and years are refused: they have no fixed length, and every user
/// of this (watermark delays, window sizes, triggers) needs one.
pub fn parse_interval_micros(text: &str) -> Result<i64, SqlError> {
    let invalid = || SqlError {
        sqlstate: "22007",
        message: format!("invalid input syntax for type interval: \"{text}\""),
        position: None,
    };
    let mut rest = text.trim().trim_start_matches('@').trim_start();
    let mut total: i128 = 0;
    let mut negate = false;
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        if let Some(after) = strip_word(rest, "ago") {
            negate = true;
            rest = after;
            continue;
        }
        let (number, after_number) = split_number(rest).ok_or_else(invalid)?;
        if after_number.starts_with(':') {
            let (micros, after_time) = parse_clock(rest).ok_or_else(invalid)?;
            total += micros;
            rest = after_time.trim_start();
            continue;
        }
        let after_number = after_number.trim_start();
        let unit_len = after_number
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after_number.len());
        let (unit, after_unit) = after_number.split_at(unit_len);
        let unit_micros = match unit_micros(unit) {
            Some(Ok(m)) => m,
            Some(Err(())) => {
                return Err(SqlError::invalid_value(format!(
                    "interval \"{text}\" has no fixed length; use weeks, days, hours, minutes, \
                     seconds, milliseconds or microseconds"
                )));
            }
            None => return Err(invalid()),
        };
        total += scale_decimal(number, unit_micros).ok_or_else(invalid)?;
        rest = after_unit.trim_start().trim_start_matches(',').trim_start();
    }
    let total = if negate { -total } else { total };
    i64::try_from(total).map_err(|_| SqlError {
        sqlstate: "22008",
        message: format!("interval out of range: \"{text}\""),
        position: None,
    })
}

/// An interval as PostgreSQL keeps it: months, days and microseconds, each
/// on its own because their lengths vary (a month, a day across DST).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Interval {
    pub months: i32,
    pub days: i32,
    pub micros: i64,
}

/// Parses an interval written as text in any of PostgreSQL's input styles
/// that clients send: `'1 year 2 mons 3 days 04:05:06.5'`, `'-1 days
/// +02:00:00'`, `'3 days 7384.5 seconds'`, `'1 day, 2:03:04'`, `'@ 1 hour
/// ago'`, and ISO 8601 `'P1Y2M3DT4H5M6.5S'`.
pub fn parse_interval(text: &str) -> Result<Interval, SqlError> {
    let invalid = || SqlError {
        sqlstate: "22007",
        message: format!("invalid input syntax for type interval: \"{text}\""),
        position: None,
    };
    let trimmed = text.trim();
    if let Some(iso) = trimmed.strip_prefix('P') {
        return parse_iso_interval(iso).ok_or_else(invalid);
    }
    let mut rest = trimmed.trim_start_matches('@').trim_start();
    if rest.is_empty() {
        return Err(invalid());
    }
    let (mut months, mut days, mut micros) = (0i128, 0i128, 0i128);
    let mut negate = false;
    while !rest.is_empty() {
        if let Some(after) = strip_word(rest, "ago") {
            negate = true;
            rest = after;
            continue;
        }
        let (number, after_number) = split_number(rest).ok_or_else(invalid)?;
        if after_number.starts_with(':') {
            let (clock, after_clock) = parse_clock(rest).ok_or_else(invalid)?;
            micros += clock;
            rest = after_clock
                .trim_start()
                .trim_start_matches(',')
                .trim_start();
            continue;
        }
        let after_number = after_number.trim_start();
        let unit_len = after_number
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after_number.len());
        let (unit, after_unit) = after_number.split_at(unit_len);
        let lower = unit.to_ascii_lowercase();
        match lower.as_str() {
            "mon" | "mons" | "month" | "months" => months += whole(number).ok_or_else(invalid)?,
            "y" | "yr" | "yrs" | "year" | "years" => {
                months += 12 * whole(number).ok_or_else(invalid)?
            }
            "d" | "day" | "days" => days += whole(number).ok_or_else(invalid)?,
            "w" | "week" | "weeks" => days += 7 * whole(number).ok_or_else(invalid)?,
            _ => match unit_micros(unit) {
                Some(Ok(m)) => micros += scale_decimal(number, m).ok_or_else(invalid)?,
                _ => return Err(invalid()),
            },
        }
        rest = after_unit.trim_start().trim_start_matches(',').trim_start();
    }
    let sign = if negate { -1 } else { 1 };
    let out_of_range = || SqlError {
        sqlstate: "22008",
        message: format!("interval out of range: \"{text}\""),
        position: None,
    };
    Ok(Interval {
        months: i32::try_from(sign * months).map_err(|_| out_of_range())?,
        days: i32::try_from(sign * days).map_err(|_| out_of_range())?,
        micros: i64::try_from(sign * micros).map_err(|_| out_of_range())?,
    })
}

/// A whole number of months or days.
fn whole(number: &str) -> Option<i128> {
    number.parse().ok()
}

/// `1Y2M3DT4H5M6.5S` (after the `P`).
fn parse_iso_interval(iso: &str) -> Option<Interval> {
    let (date, time) = iso.split_once('T').unwrap_or((iso, ""));
    let mut interval = Interval::default();
    let mut take = |part: &str, in_time: bool| -> Option<()> {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' || c == '-' || c == '+' {
                number.push(c);
                continue;
            }
            match (in_time, c) {
                (false, 'Y') => interval.months += 12 * number.parse::<i32>().ok()?,
                (false, 'M') => interval.months += number.parse::<i32>().ok()?,
                (false, 'W') => interval.days += 7 * number.parse::<i32>().ok()?,
                (false, 'D') => interval.days += number.parse::<i32>().ok()?,
                (true, 'H') => interval.micros += scale_decimal(&number, 3_600_000_000)? as i64,
                (true, 'M') => interval.micros += scale_decimal(&number, 60_000_000)? as i64,
                (true, 'S') => interval.micros += scale_decimal(&number, 1_000_000)? as i64,
                _ => return None,
            }
            number.clear();
        }
        number.is_empty().then_some(())
    };
    take(date, false)?;
    take(time, true)?;
    Some(interval)
}

/// `rest` without a leading `word` (case-insensitive, whole word).
fn strip_word<'a>(rest: &'a str, word: &str) -> Option<&'a str> {
    let head = rest.get(..word.len())?;
    let after = &rest[word.len()..];
    let whole = after
        .chars()
        .next()
        .is_none_or(|c| !c.is_ascii_alphanumeric());
    (head.eq_ignore_ascii_case(word) && whole).then(|| after.trim_start())
}

/// A leading `[+-]digits[.digits]` and what follows it.
fn split_number(s: &str) -> Option<(&str, &str)> {
    let sign = usize::from(s.starts_with(['+', '-']));
    let len = s[sign..]
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or(s.len(), |i| i + sign);
    let number = &s[..len];
    let digits = &number[sign..];
    let valid = !digits.is_empty() && digits != "." && digits.matches('.').count() <= 1;
    valid.then(|| (number, &s[len..]))
}

/// `[-]H:MM[:SS[.ffffff]]`.
fn parse_clock(s: &str) -> Option<(i128, &str)> {
    let len = s
        .find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.' || c == '-' || c == '+'))
        .unwrap_or(s.len());
    let (clock, rest) = s.split_at(len);
    let (negative, clock) = match clock.strip_prefix('-') {
        Some(c) => (true, c),
        None => (false, clock.strip_prefix('+').unwrap_or(clock)),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    let units = [
        3600 * MICROS_PER_SECOND,
        60 * MICROS_PER_SECOND,
        MICROS_PER_SECOND,
    ];
    if !(2..=3).contains(&parts.len()) {
        return None;
    }
    let mut micros = 0;
    for (i, (part, unit)) in parts.iter().zip(units).enumerate() {
        let fraction_allowed = i == parts.len() - 1 && i == 2;
        if part.is_empty() || (part.contains('.') && !fraction_allowed) {
            return None;
        }
        micros += scale_decimal(part, unit)?;
    }
    Some((if negative { -micros } else { micros }, rest))
}

/// `number × unit`, exactly, truncating below one microsecond.
fn scale_decimal(number: &str, unit: i128) -> Option<i128> {
    let (negative, digits) = match number.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, number.strip_prefix('+').unwrap_or(number)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.len() > 18 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let fraction = &fraction[..fraction.len().min(18)];
    let mut value = whole * unit;
    if !fraction.is_empty() {
        let denominator = 10i128.pow(fraction.len() as u32);
        value += fraction.parse::<i128>().ok()? * unit / denominator;
    }
    Some(if negative { -value } else { value })
}

/// Microseconds in one `unit`; `Some(Err)` for months and years; an empty
/// unit means seconds, as in PostgreSQL.
fn unit_micros(unit: &str) -> Option<Result<i128, ()>> {
    let micros = match unit.to_ascii_lowercase().as_str() {
        "us" | "usec" | "usecs" | "microsecond" | "microseconds" => 1,
        "ms" | "msec" | "msecs" | "millisecond" | "milliseconds" => 1_000,
        "" | "s" | "sec" | "secs" | "second" | "seconds" => MICROS_PER_SECOND,
        "m" | "min" | "mins" | "minute" | "minutes" => 60 * MICROS_PER_SECOND,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600 * MICROS_PER_SECOND,
        "d" | "day" | "days" => 86_400 * MICROS_PER_SECOND,
        "w" | "week" | "weeks" => 7 * 86_400 * MICROS_PER_SECOND,
        "mon" | "mons" | "month" | "months" | "y" | "yr" | "yrs" | "year" | "years" | "decade"
        | "decades" | "century" | "centuries" => return Some(Err(())),
        _ => return None,
    };
    Some(Ok(micros))
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn parse_type(name: &str) -> Result<SqlType, SqlError> {
        let dt = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(name)
            .and_then(|mut p| p.parse_data_type())
            .unwrap_or_else(|e| panic!("sqlparser rejected type {name}: {e}"));
        sql_type_from_ast(&dt)
    }

    #[test]
    fn postgres_type_names_and_aliases() {
        let cases = [
            ("BOOLEAN", SqlType::Boolean),
            ("bool", SqlType::Boolean),
            ("SMALLINT", SqlType::SmallInt),
            ("int2", SqlType::SmallInt),
            ("INT", SqlType::Int),
            ("integer", SqlType::Int),
            ("int4", SqlType::Int),
            ("BIGINT", SqlType::BigInt),
            ("int8", SqlType::BigInt),
            ("REAL", SqlType::Real),
            ("float4", SqlType::Real),
            ("FLOAT(10)", SqlType::Real),
            ("DOUBLE", SqlType::Double),
            ("DOUBLE PRECISION", SqlType::Double),
            ("float8", SqlType::Double),
            ("FLOAT", SqlType::Double),
            ("FLOAT(53)", SqlType::Double),
            ("NUMERIC", SqlType::Numeric(38, 10)),
            ("DECIMAL(10,2)", SqlType::Numeric(10, 2)),
            ("numeric(12)", SqlType::Numeric(12, 0)),
            ("VARCHAR", SqlType::Text),
            ("VARCHAR(20)", SqlType::Text),
            ("CHAR(3)", SqlType::Text),
            ("character varying(5)", SqlType::Text),
            ("TEXT", SqlType::Text),
            ("STRING", SqlType::Text),
            ("BYTEA", SqlType::Bytea),
            ("DATE", SqlType::Date),
            ("TIMESTAMP", SqlType::Timestamp),
            ("TIMESTAMP(3)", SqlType::Timestamp),
            ("TIMESTAMP WITHOUT TIME ZONE", SqlType::Timestamp),
            ("TIMESTAMPTZ", SqlType::TimestampTz),
            ("TIMESTAMP WITH TIME ZONE", SqlType::TimestampTz),
            ("INTERVAL", SqlType::Interval),
            ("SERIAL", SqlType::Int),
            ("BIGSERIAL", SqlType::BigInt),
            ("pg_catalog.int8", SqlType::BigInt),
            ("UUID", SqlType::Uuid),
            ("json", SqlType::Json),
            ("JSONB", SqlType::Jsonb),
            ("pg_catalog.uuid", SqlType::Uuid),
            ("pg_catalog.json", SqlType::Json),
            ("pg_catalog.jsonb", SqlType::Jsonb),
        ];
        for (name, expected) in cases {
            assert_eq!(parse_type(name).unwrap(), expected, "{name}");
        }
    }

    #[test]
    fn unknown_and_unsupported_types() {
        let err = parse_type("frobnicator").unwrap_err();
        assert_eq!(err.sqlstate, "42704");
        assert_eq!(err.message, "type \"frobnicator\" does not exist");

        let err = parse_type("TIME").unwrap_err();
        assert_eq!(err.sqlstate, "0A000");
        assert_eq!(err.message, "type time is not supported");

        let err = parse_type("NUMERIC(50, 2)").unwrap_err();
        assert_eq!(err.sqlstate, "22023");
        assert_eq!(err.message, "NUMERIC precision 50 must be between 1 and 38");
        assert!(parse_type("NUMERIC(5, 6)").is_err());
        assert!(parse_type("FLOAT(54)").is_err());
    }

    #[test]
    fn arrow_types_round_trip() {
        let all = [
            SqlType::Boolean,
            SqlType::SmallInt,
            SqlType::Int,
            SqlType::BigInt,
            SqlType::Real,
            SqlType::Double,
            SqlType::Numeric(10, 2),
            SqlType::Text,
            SqlType::Bytea,
            SqlType::Date,
            SqlType::Timestamp,
            SqlType::TimestampTz,
            SqlType::Interval,
            SqlType::Uuid,
            SqlType::Json,
            SqlType::Jsonb,
        ];
        for t in all {
            assert_eq!(
                sql_type_from_field(&arrow_field("c", t, true)),
                Some(t),
                "{t}"
            );
        }
        assert_eq!(arrow_type(SqlType::Jsonb), DataType::Utf8);
        assert_eq!(
            arrow_type(SqlType::TimestampTz),
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
        );
        assert_eq!(
            arrow_type(SqlType::Numeric(10, 2)),
            DataType::Decimal128(10, 2)
        );
    }

    #[test]
    fn arrow_types_datafusion_produces() {
        let cases = [
            (DataType::LargeUtf8, SqlType::Text),
            (DataType::Utf8View, SqlType::Text),
            (DataType::Int8, SqlType::SmallInt),
            (DataType::UInt8, SqlType::SmallInt),
            (DataType::UInt16, SqlType::Int),
            (DataType::UInt32, SqlType::BigInt),
            (DataType::UInt64, SqlType::Numeric(20, 0)),
            (DataType::Float16, SqlType::Real),
            (DataType::Date64, SqlType::Timestamp),
            (
                DataType::Timestamp(TimeUnit::Nanosecond, None),
                SqlType::Timestamp,
            ),
            (
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                SqlType::TimestampTz,
            ),
            (DataType::Decimal256(50, 4), SqlType::Numeric(50, 4)),
            (DataType::Duration(TimeUnit::Second), SqlType::Interval),
            (
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                SqlType::Text,
            ),
        ];
        for (dt, expected) in cases {
            assert_eq!(sql_type_from_arrow(&dt), Some(expected), "{dt}");
        }
        let list = DataType::List(Arc::new(Field::new("item", DataType::Int32, true)));
        assert_eq!(sql_type_from_arrow(&list), None);
        assert_eq!(
            arrow_type(SqlType::Numeric(50, 4)),
            DataType::Decimal256(50, 4)
        );
    }

    #[test]
    fn schema_keeps_names_and_nullability() {
        let columns = [
            ColumnDef {
                name: "id".into(),
                data_type: SqlType::BigInt,
                nullable: false,
                default: None,
            },
            ColumnDef {
                name: "ts".into(),
                data_type: SqlType::Timestamp,
                nullable: true,
                default: None,
            },
        ];
        let schema = arrow_schema(&columns);
        assert_eq!(schema.field(0).name(), "id");
        assert_eq!(schema.field(0).data_type(), &DataType::Int64);
        assert!(!schema.field(0).is_nullable());
        assert_eq!(
            schema.field(1).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, None)
        );
        assert!(schema.field(1).is_nullable());
    }

    #[test]
    fn ddl_type_names() {
        assert_eq!(pg_type_name(SqlType::BigInt), "bigint");
        assert_eq!(pg_type_name(SqlType::Double), "double precision");
        assert_eq!(pg_type_name(SqlType::Timestamp), "timestamp");
        assert_eq!(pg_type_name(SqlType::TimestampTz), "timestamptz");
        assert_eq!(pg_type_name(SqlType::Numeric(10, 2)), "numeric(10,2)");
        assert_eq!(pg_type_name(SqlType::Text), "text");
        assert_eq!(pg_type_name(SqlType::Int), "integer");
        assert_eq!(pg_type_name(SqlType::Uuid), "uuid");
        assert_eq!(pg_type_name(SqlType::Jsonb), "jsonb");
    }

    #[test]
    fn casts_rewritten_for_planning() {
        let rewrite = |sql: &str| {
            let mut stmt = Parser::new(&PostgreSqlDialect {})
                .try_with_sql(sql)
                .and_then(|mut p| p.parse_statement())
                .unwrap();
            rewrite_pg_casts(&mut stmt).unwrap();
            stmt.to_string()
        };
        assert_eq!(
            rewrite("SELECT '{12345678-1234-5678-9ABC-DEF012345678}'::uuid, CAST(j AS jsonb)"),
            "SELECT '12345678-1234-5678-9abc-def012345678'::TEXT, CAST(j AS TEXT)"
        );
        assert_eq!(
            rewrite("INSERT INTO t VALUES ('\\x0001feff'::bytea, '{\"b\":1,\"a\":2}'::jsonb)"),
            "INSERT INTO t VALUES (X'0001feff', '{\"a\": 2, \"b\": 1}'::TEXT)"
        );
        assert_eq!(
            rewrite("SELECT uuid 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', ' [1] '::pg_catalog.json"),
            "SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::TEXT, ' [1] '::TEXT"
        );
        // Not hex: left to the cast, as written.
        assert_eq!(rewrite("SELECT 'abc'::bytea"), "SELECT 'abc'::BYTEA");

        let mut bad = Parser::new(&PostgreSqlDialect {})
            .try_with_sql("SELECT * FROM t WHERE u = 'nope'::uuid")
            .and_then(|mut p| p.parse_statement())
            .unwrap();
        let err = rewrite_pg_casts(&mut bad).unwrap_err();
        assert_eq!(err.sqlstate, "22P02");
        assert_eq!(err.message, "invalid input syntax for type uuid: \"nope\"");
    }

    #[test]
    fn intervals_with_months_and_days() {
        let iv = |months, days, micros| Interval {
            months,
            days,
            micros,
        };
        let cases = [
            ("1 year 2 mons 3 days 04:05:06.5", iv(14, 3, 14_706_500_000)),
            ("1 day 02:03:04.5", iv(0, 1, 7_384_500_000)),
            ("-1 days +02:00:00", iv(0, -1, 7_200_000_000)),
            ("3 days 7384.5 seconds", iv(0, 3, 7_384_500_000)),
            ("1 day, 2:03:04", iv(0, 1, 7_384_000_000)),
            ("@ 1 hour ago", iv(0, 0, -3_600_000_000)),
            (
                "0 years 0 mons 1 days 2 hours 3 mins 4.5 secs",
                iv(0, 1, 7_384_500_000),
            ),
            ("P1Y2M3DT4H5M6.5S", iv(14, 3, 14_706_500_000)),
            ("PT0S", iv(0, 0, 0)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_interval(text).unwrap(), expected, "{text}");
        }
        for bad in ["", "soon", "P1X", "1.5 days"] {
            assert_eq!(parse_interval(bad).unwrap_err().sqlstate, "22007", "{bad}");
        }
    }

    #[test]
    fn interval_texts() {
        let s = 1_000_000;
        let cases = [
            ("5 seconds", 5 * s),
            ("5 second", 5 * s),
            ("5s", 5 * s),
            ("5", 5 * s),
            ("10 milliseconds", 10_000),
            ("500ms", 500_000),
            ("1 minute", 60 * s),
            ("1 minute 30 seconds", 90 * s),
            ("1.5 hours", 5_400 * s),
            ("2 days", 172_800 * s),
            ("1 week", 604_800 * s),
            ("00:01:30", 90 * s),
            ("1 day 01:00:00", 90_000 * s),
            ("00:00:00.25", 250_000),
            ("3 us", 3),
            ("@ 5 secs ago", -5 * s),
            ("  10 MINUTES ", 600 * s),
        ];
        for (text, micros) in cases {
            assert_eq!(parse_interval_micros(text).unwrap(), micros, "{text}");
        }
        for bad in ["", "soon", "5 fortnights", "1.2.3 seconds", "1:2:3:4"] {
            let err = parse_interval_micros(bad).unwrap_err();
            assert_eq!(err.sqlstate, "22007", "{bad}");
            assert_eq!(
                err.message,
                format!("invalid input syntax for type interval: \"{bad}\"")
            );
        }
        let err = parse_interval_micros("1 month").unwrap_err();
        assert!(err.message.contains("no fixed length"), "{}", err.message);
    }
}
