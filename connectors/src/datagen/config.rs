//! Parsing a datagen source's options into a [`DatagenConfig`]: one
//! [`ColumnGen`] per declared column, with every default filled in and every
//! field option checked against the column's type and generator kind.

use std::collections::BTreeMap;

use datafusion::arrow::datatypes::{DataType, Field, SchemaRef, TimeUnit};
use eddy_engine::options::{parse_duration, parse_timestamp_micros};
use eddy_engine::{EngineError, Result};

use crate::option_reader::OptionReader;

const DEFAULT_START: &str = "2026-01-01 00:00:00";
const DEFAULT_RANDOM_TIMESTAMP_END: &str = "2026-12-31 23:59:59";
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Everything a datagen reader needs, parsed and defaulted.
#[derive(Debug, Clone)]
pub struct DatagenConfig {
    /// 0 = unthrottled.
    pub rows_per_second: u64,
    /// `None` = unbounded.
    pub number_of_rows: Option<u64>,
    pub rows_per_epoch: u64,
    pub seed: u64,
    /// One per schema column, in schema order.
    pub columns: Vec<ColumnGen>,
}

/// The column types datagen can fill.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ColumnType {
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Decimal { precision: u8, scale: i8 },
    Text { large: bool },
    Boolean,
    Date,
    Timestamp { unit: TimeUnit, tz: bool },
}

/// How one column's values are made. Integer-like values (integers, dates
/// in days, timestamps in microseconds, decimals in units of the scale) are
/// carried as `i64`/`i128` and narrowed when the array is built.
#[derive(Debug, Clone, PartialEq)]
pub enum Generator {
    RandomInt {
        min: i64,
        max: i64,
    },
    RandomDecimal {
        min: i128,
        max: i128,
    },
    RandomFloat {
        min: f64,
        max: f64,
    },
    RandomBool,
    RandomString {
        length: usize,
    },
    /// `start + (i mod period) * unit`, or `start + i * unit` without an end.
    Sequence {
        start: i128,
        period: Option<u64>,
        unit: i128,
    },
    /// Microseconds: `start + i * step - jitter - (late ? late_by : 0)`.
    EventTime {
        start: i64,
        step: i64,
        max_out_of_order: i64,
        late_rate: f64,
        late_by: i64,
    },
}

#[derive(Debug, Clone)]
pub struct ColumnGen {
    pub name: String,
    pub ty: ColumnType,
    pub data_type: DataType,
    pub null_rate: f64,
    pub generator: Generator,
}

const SUPPORTED_TYPES: &str = "BIGINT, INT, SMALLINT, DOUBLE, REAL, NUMERIC, VARCHAR/TEXT, BOOLEAN, DATE, TIMESTAMP, TIMESTAMPTZ";

impl ColumnType {
    fn from_arrow(dt: &DataType) -> Option<ColumnType> {
        Some(match dt {
            DataType::Int16 => ColumnType::Int16,
            DataType::Int32 => ColumnType::Int32,
            DataType::Int64 => ColumnType::Int64,
            DataType::Float32 => ColumnType::Float32,
            DataType::Float64 => ColumnType::Float64,
            DataType::Decimal128(precision, scale) => ColumnType::Decimal {
                precision: *precision,
                scale: *scale,
            },
            DataType::Utf8 => ColumnType::Text { large: false },
            DataType::LargeUtf8 => ColumnType::Text { large: true },
            DataType::Boolean => ColumnType::Boolean,
            DataType::Date32 => ColumnType::Date,
            DataType::Timestamp(unit, tz) => ColumnType::Timestamp {
                unit: *unit,
                tz: tz.is_some(),
            },
            _ => return None,
        })
    }

    pub fn sql_name(&self) -> String {
        match self {
            ColumnType::Int16 => "SMALLINT".into(),
            ColumnType::Int32 => "INT".into(),
            ColumnType::Int64 => "BIGINT".into(),
            ColumnType::Float32 => "REAL".into(),
            ColumnType::Float64 => "DOUBLE".into(),
            ColumnType::Decimal { precision, scale } => format!("NUMERIC({precision},{scale})"),
            ColumnType::Text { .. } => "VARCHAR".into(),
            ColumnType::Boolean => "BOOLEAN".into(),
            ColumnType::Date => "DATE".into(),
            ColumnType::Timestamp { tz: false, .. } => "TIMESTAMP".into(),
            ColumnType::Timestamp { tz: true, .. } => "TIMESTAMPTZ".into(),
        }
    }

    /// Generator kinds valid for the type; the first is the default.
    fn kinds(&self) -> &'static [&'static str] {
        match self {
            ColumnType::Boolean => &["random"],
            ColumnType::Timestamp { .. } => &["event_time", "random"],
            _ => &["random", "sequence"],
        }
    }

    /// Field attributes that apply to this type with `kind`.
    fn attributes(&self, kind: &str) -> &'static [&'static str] {
        match (kind, self) {
            ("sequence", _) => &["kind", "null_rate", "start", "end"],
            ("event_time", _) => &[
                "kind",
                "null_rate",
                "start",
                "step",
                "max_out_of_order",
                "late_rate",
                "late_by",
            ],
            (_, ColumnType::Boolean) => &["kind", "null_rate"],
            (_, ColumnType::Text { .. }) => &["kind", "null_rate", "length"],
            _ => &["kind", "null_rate", "min", "max"],
        }
    }

    /// Inclusive integer bounds of integer types.
    fn int_bounds(&self) -> Option<(i64, i64)> {
        match self {
            ColumnType::Int16 => Some((i16::MIN as i64, i16::MAX as i64)),
            ColumnType::Int32 => Some((i32::MIN as i64, i32::MAX as i64)),
            ColumnType::Int64 => Some((i64::MIN, i64::MAX)),
            _ => None,
        }
    }
}

impl DatagenConfig {
    /// Parses the options of the source `owner` for `schema`.
    pub fn parse(
        owner: &str,
        options: &BTreeMap<String, String>,
        schema: &SchemaRef,
    ) -> Result<Self> {
        let reader = OptionReader::new(owner, options);
        let non_negative = |key: &str, default: i64, min: i64| -> Result<u64> {
            let v = reader.i64(key)?.unwrap_or(default);
            if v < min {
                return Err(EngineError::Config(format!(
                    "option '{key}' of {owner} must be at least {min}, got {v}"
                )));
            }
            Ok(v as u64)
        };
        let rows_per_second = non_negative("rows.per.second", 1000, 0)?;
        let number_of_rows = match reader.get("number.of.rows") {
            Some(_) => Some(non_negative("number.of.rows", 1, 1)?),
            None => None,
        };
        let rows_per_epoch = non_negative("rows.per.epoch", 100_000, 1)?;
        let seed = reader.i64("seed")?.unwrap_or(0) as u64;

        let mut per_column: Vec<BTreeMap<&str, &str>> =
            vec![BTreeMap::new(); schema.fields().len()];
        for (key, value) in options {
            let Some(rest) = key.strip_prefix("fields.") else {
                continue;
            };
            let Some((column, attribute)) = rest.rsplit_once('.') else {
                return Err(EngineError::Config(format!(
                    "invalid option '{key}'; field options look like 'fields.<column>.<attribute>'"
                )));
            };
            let index = column_index(schema, column).ok_or_else(|| {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                EngineError::Config(format!(
                    "option '{key}' names unknown column '{column}'; the source's columns are {}",
                    names.join(", ")
                ))
            })?;
            per_column[index].insert(attribute, value.as_str());
        }

        let columns = schema
            .fields()
            .iter()
            .zip(&per_column)
            .map(|(field, attrs)| parse_column(field, attrs, rows_per_second))
            .collect::<Result<Vec<_>>>()?;
        Ok(DatagenConfig {
            rows_per_second,
            number_of_rows,
            rows_per_epoch,
            seed,
            columns,
        })
    }
}

/// Exact match first; an unquoted option key may differ in case.
fn column_index(schema: &SchemaRef, column: &str) -> Option<usize> {
    let fields = schema.fields();
    fields.iter().position(|f| f.name() == column).or_else(|| {
        let mut matches = fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.name().eq_ignore_ascii_case(column));
        match (matches.next(), matches.next()) {
            (Some((i, _)), None) => Some(i),
            _ => None,
        }
    })
}

/// The field options of one column, with the column for error messages.
struct FieldOptions<'a> {
    column: &'a str,
    attrs: &'a BTreeMap<&'a str, &'a str>,
}

impl FieldOptions<'_> {
    fn key(&self, attr: &str) -> String {
        format!("fields.{}.{attr}", self.column)
    }

    fn get(&self, attr: &str) -> Option<&str> {
        self.attrs.get(attr).copied()
    }

    fn invalid(&self, attr: &str, expected: &str) -> EngineError {
        EngineError::Config(format!(
            "invalid value '{}' for option '{}'; expected {expected}",
            self.get(attr).unwrap_or_default(),
            self.key(attr)
        ))
    }

    fn parse<T>(
        &self,
        attr: &str,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>> {
        self.get(attr)
            .map(|v| parse(v.trim()).ok_or_else(|| self.invalid(attr, expected)))
            .transpose()
    }

    fn rate(&self, attr: &str) -> Result<f64> {
        let v = self.parse(attr, "a number between 0 and 1", |v| {
            v.parse::<f64>().ok().filter(|r| (0.0..=1.0).contains(r))
        })?;
        Ok(v.unwrap_or(0.0))
    }

    fn micros(&self, attr: &str) -> Result<Option<i64>> {
        self.parse(attr, "a duration such as '10 milliseconds'", |v| {
            parse_duration(v).and_then(|d| i64::try_from(d.as_micros()).ok())
        })
    }

    fn timestamp(&self, attr: &str) -> Result<Option<i64>> {
        self.parse(
            attr,
            "a timestamp such as '2026-01-01 00:00:00'",
            parse_timestamp_micros,
        )
    }
}

fn parse_column(
    field: &Field,
    attrs: &BTreeMap<&str, &str>,
    rows_per_second: u64,
) -> Result<ColumnGen> {
    let column = field.name().as_str();
    let ty = ColumnType::from_arrow(field.data_type()).ok_or_else(|| {
        EngineError::Config(format!(
            "datagen cannot generate column {column} of type {}; supported types: {SUPPORTED_TYPES}",
            field.data_type()
        ))
    })?;
    let opts = FieldOptions { column, attrs };
    let kinds = ty.kinds();
    let kind = match opts.get("kind") {
        None => kinds[0],
        Some(k) => kinds
            .iter()
            .copied()
            .find(|valid| valid.eq_ignore_ascii_case(k.trim()))
            .ok_or_else(|| {
                EngineError::Config(format!(
                    "invalid kind '{k}' for column {column} of type {}; expected one of {}",
                    ty.sql_name(),
                    kinds.join(", ")
                ))
            })?,
    };
    let allowed = ty.attributes(kind);
    if let Some(attr) = attrs.keys().find(|a| !allowed.contains(a)) {
        let valid: Vec<String> = allowed.iter().map(|a| opts.key(a)).collect();
        return Err(EngineError::Config(format!(
            "option '{}' does not apply to column {column} ({}, kind {kind}); its options are {}",
            opts.key(attr),
            ty.sql_name(),
            valid.join(", ")
        )));
    }
    let null_rate = opts.rate("null_rate")?;
    if null_rate > 0.0 && !field.is_nullable() {
        return Err(EngineError::Config(format!(
            "option '{}' is set but column {column} is NOT NULL",
            opts.key("null_rate")
        )));
    }
    let generator = match kind {
        "sequence" => sequence(&opts, ty)?,
        "event_time" => event_time(&opts, rows_per_second)?,
        _ => random(&opts, ty)?,
    };
    Ok(ColumnGen {
        name: column.to_string(),
        ty,
        data_type: field.data_type().clone(),
        null_rate,
        generator,
    })
}

fn random(opts: &FieldOptions, ty: ColumnType) -> Result<Generator> {
    let range_error = |min: &dyn std::fmt::Display, max: &dyn std::fmt::Display| {
        EngineError::Config(format!(
            "option '{}' ({min}) is greater than '{}' ({max})",
            opts.key("min"),
            opts.key("max")
        ))
    };
    Ok(match ty {
        ColumnType::Boolean => Generator::RandomBool,
        ColumnType::Text { .. } => {
            let length = opts.parse("length", "an integer between 0 and 1048576", |v| {
                v.parse::<usize>().ok().filter(|l| *l <= 1 << 20)
            })?;
            Generator::RandomString {
                length: length.unwrap_or(8),
            }
        }
        ColumnType::Float32 | ColumnType::Float64 => {
            let num = |attr, default| -> Result<f64> {
                Ok(opts
                    .parse(attr, "a number", |v| {
                        v.parse::<f64>().ok().filter(|f| f.is_finite())
                    })?
                    .unwrap_or(default))
            };
            let (min, max) = (num("min", 0.0)?, num("max", 1.0)?);
            if min > max {
                return Err(range_error(&min, &max));
            }
            Generator::RandomFloat { min, max }
        }
        ColumnType::Decimal { precision, scale } => {
            let limit = 10i128.pow(precision as u32) - 1;
            let parse = |attr| {
                opts.parse(
                    attr,
                    &format!("a number that fits NUMERIC({precision},{scale})"),
                    |v| parse_decimal(v, scale).filter(|u| u.abs() <= limit),
                )
            };
            let (min, max) = (parse("min")?.unwrap_or(0), parse("max")?.unwrap_or(limit));
            if min > max {
                return Err(range_error(&min, &max));
            }
            Generator::RandomDecimal { min, max }
        }
        ColumnType::Date => {
            let day = |attr, default: &str| -> Result<i64> {
                let micros = opts
                    .timestamp(attr)?
                    .unwrap_or_else(|| parse_timestamp_micros(default).unwrap());
                Ok(micros.div_euclid(MICROS_PER_DAY))
            };
            let (min, max) = (
                day("min", DEFAULT_START)?,
                day("max", DEFAULT_RANDOM_TIMESTAMP_END)?,
            );
            if min > max {
                return Err(range_error(&min, &max));
            }
            Generator::RandomInt { min, max }
        }
        ColumnType::Timestamp { .. } => {
            let ts = |attr, default: &str| -> Result<i64> {
                Ok(opts
                    .timestamp(attr)?
                    .unwrap_or_else(|| parse_timestamp_micros(default).unwrap()))
            };
            let (min, max) = (
                ts("min", DEFAULT_START)?,
                ts("max", DEFAULT_RANDOM_TIMESTAMP_END)?,
            );
            if min > max {
                return Err(range_error(&min, &max));
            }
            Generator::RandomInt { min, max }
        }
        ColumnType::Int16 | ColumnType::Int32 | ColumnType::Int64 => {
            let (lo, hi) = ty.int_bounds().unwrap();
            let int = |attr, default| -> Result<i64> {
                Ok(opts
                    .parse(attr, &format!("an integer between {lo} and {hi}"), |v| {
                        v.parse::<i64>().ok().filter(|n| (lo..=hi).contains(n))
                    })?
                    .unwrap_or(default))
            };
            let (min, max) = (int("min", 0)?, int("max", hi)?);
            if min > max {
                return Err(range_error(&min, &max));
            }
            Generator::RandomInt { min, max }
        }
    })
}

/// Parses a sequence bound into the generator's integer domain.
type ParseValue = Box<dyn Fn(&str) -> Option<i128>>;

fn sequence(opts: &FieldOptions, ty: ColumnType) -> Result<Generator> {
    let (parse, unit, default): (ParseValue, i128, i128) = match ty {
        ColumnType::Int16 | ColumnType::Int32 | ColumnType::Int64 => {
            let (lo, hi) = ty.int_bounds().unwrap();
            let p = move |v: &str| {
                v.parse::<i64>()
                    .ok()
                    .filter(|n| (lo..=hi).contains(n))
                    .map(i128::from)
            };
            (Box::new(p), 1, 1)
        }
        ColumnType::Decimal { precision, scale } => {
            let limit = 10i128.pow(precision as u32) - 1;
            let p = move |v: &str| parse_decimal(v, scale).filter(|u| u.abs() <= limit);
            let unit = if scale >= 0 {
                10i128.pow(scale as u32)
            } else {
                1
            };
            (Box::new(p), unit, unit)
        }
        ColumnType::Date => {
            let p =
                |v: &str| parse_timestamp_micros(v).map(|m| m.div_euclid(MICROS_PER_DAY) as i128);
            (Box::new(p), 1, p(DEFAULT_START).unwrap())
        }
        _ => (
            Box::new(|v: &str| v.parse::<i64>().ok().map(i128::from)),
            1,
            1,
        ),
    };
    let expected = match ty {
        ColumnType::Date => "a date such as '2026-01-01'".to_string(),
        _ => format!("a value of type {}", ty.sql_name()),
    };
    let start = opts.parse("start", &expected, &parse)?.unwrap_or(default);
    // Without an end, integers wrap back to `start` after the type's
    // largest value rather than overflowing.
    let implicit_end = match ty {
        ColumnType::Int16 | ColumnType::Int32 | ColumnType::Int64 => {
            ty.int_bounds().map(|(_, hi)| i128::from(hi))
        }
        _ => None,
    };
    let period = match opts.parse("end", &expected, &parse)?.or(implicit_end) {
        None => None,
        Some(end) if end < start => {
            return Err(EngineError::Config(format!(
                "option '{}' is before '{}'",
                opts.key("end"),
                opts.key("start")
            )));
        }
        Some(end) => Some(((end - start) / unit + 1) as u64),
    };
    Ok(Generator::Sequence {
        start,
        period,
        unit,
    })
}

fn event_time(opts: &FieldOptions, rows_per_second: u64) -> Result<Generator> {
    let default_step = if rows_per_second == 0 {
        1_000
    } else {
        (1_000_000 / rows_per_second as i64).max(1)
    };
    Ok(Generator::EventTime {
        start: opts
            .timestamp("start")?
            .unwrap_or_else(|| parse_timestamp_micros(DEFAULT_START).unwrap()),
        step: opts.micros("step")?.unwrap_or(default_step),
        max_out_of_order: opts.micros("max_out_of_order")?.unwrap_or(0),
        late_rate: opts.rate("late_rate")?,
        late_by: opts.micros("late_by")?.unwrap_or(60_000_000),
    })
}

/// Parses a decimal literal into units of `10^-scale`; `None` if it has
/// more fractional digits than the scale or does not fit.
pub fn parse_decimal(text: &str, scale: i8) -> Option<i128> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part
        .bytes()
        .chain(frac_part.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let frac_part = frac_part.trim_end_matches('0');
    let scale = scale.max(0) as usize;
    if frac_part.len() > scale {
        return None;
    }
    let mut units: i128 = 0;
    for b in int_part.bytes().chain(frac_part.bytes()) {
        units = units.checked_mul(10)?.checked_add((b - b'0') as i128)?;
    }
    units = units.checked_mul(10i128.checked_pow((scale - frac_part.len()) as u32)?)?;
    Some(if negative { -units } else { units })
}
