//! Declarative option specs and their validation. Every connector and the
//! streaming query itself describe their `WITH (…)` options as
//! [`OptionSpec`]s; validation happens at CREATE time and names the valid
//! choices in its errors.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::{EngineError, Result};

/// What values an option takes.
#[derive(Debug, Clone, Copy)]
pub enum OptionValue {
    /// Any string.
    Text,
    /// One of these words (case-insensitive).
    OneOf(&'static [&'static str]),
    /// An integer in `[min, max]`.
    Integer { min: i64, max: i64 },
    /// A floating point number in `[min, max]`.
    Float { min: f64, max: f64 },
    /// `true` or `false`.
    Bool,
    /// A duration such as `'10 seconds'`, `'500 ms'`, `'1 minute'`.
    Duration,
    /// A timestamp `YYYY-MM-DD HH:MM:SS[.ffffff]`.
    Timestamp,
}

/// One option. `key` may contain one `*`, which matches a single segment
/// without dots (e.g. `fields.*.kind` matches `fields.user_id.kind`), or
/// end in `.**`, which matches any non-empty rest, dots included (e.g.
/// `properties.**` matches `properties.security.protocol`).
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    pub key: &'static str,
    pub value: OptionValue,
    pub required: bool,
    /// One line for users; `docs/` carries the long form.
    pub doc: &'static str,
}

impl OptionSpec {
    pub const fn new(key: &'static str, value: OptionValue, doc: &'static str) -> Self {
        OptionSpec {
            key,
            value,
            required: false,
            doc,
        }
    }

    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Whether `key` is this option. For a pattern, returns the segment `*`
    /// matched through `wildcard`.
    pub fn matches<'k>(&self, key: &'k str) -> Option<Option<&'k str>> {
        if let Some(prefix) = self.key.strip_suffix("**") {
            let rest = key.strip_prefix(prefix)?;
            return (!rest.is_empty()).then_some(Some(rest));
        }
        match self.key.split_once('*') {
            None => (self.key == key).then_some(None),
            Some((prefix, suffix)) => {
                let middle = key.strip_prefix(prefix)?.strip_suffix(suffix)?;
                (!middle.is_empty() && !middle.contains('.')).then_some(Some(middle))
            }
        }
    }
}

/// Checks that every option is known, every required one present, and every
/// value of the right form.
pub fn validate_options(
    owner: &str,
    options: &BTreeMap<String, String>,
    specs: &[OptionSpec],
) -> Result<()> {
    for (key, value) in options {
        let Some(spec) = specs.iter().find(|s| s.matches(key).is_some()) else {
            let valid: Vec<&str> = specs.iter().map(|s| s.key).collect();
            return Err(EngineError::Config(format!(
                "unknown option '{key}' for {owner}; expected one of {}",
                valid.join(", ")
            )));
        };
        check_value(key, value, spec.value)?;
    }
    for spec in specs.iter().filter(|s| s.required && !s.key.contains('*')) {
        if !options.contains_key(spec.key) {
            return Err(EngineError::Config(format!(
                "missing required option '{}' for {owner}: {}",
                spec.key, spec.doc
            )));
        }
    }
    Ok(())
}

fn check_value(key: &str, value: &str, kind: OptionValue) -> Result<()> {
    let bad = |expected: String| {
        Err(EngineError::Config(format!(
            "invalid value '{value}' for option '{key}'; expected {expected}"
        )))
    };
    match kind {
        OptionValue::Text => Ok(()),
        OptionValue::OneOf(words) => {
            if words.iter().any(|w| w.eq_ignore_ascii_case(value)) {
                Ok(())
            } else {
                bad(format!("one of {}", words.join(", ")))
            }
        }
        OptionValue::Integer { min, max } => match value.trim().parse::<i64>() {
            Ok(v) if v >= min && v <= max => Ok(()),
            _ => bad(format!("an integer between {min} and {max}")),
        },
        OptionValue::Float { min, max } => match value.trim().parse::<f64>() {
            Ok(v) if v >= min && v <= max => Ok(()),
            _ => bad(format!("a number between {min} and {max}")),
        },
        OptionValue::Bool => match parse_bool(value) {
            Some(_) => Ok(()),
            None => bad("true or false".into()),
        },
        OptionValue::Duration => match parse_duration(value) {
            Some(_) => Ok(()),
            None => bad("a duration such as '10 seconds', '500 milliseconds' or '1 minute'".into()),
        },
        OptionValue::Timestamp => match parse_timestamp_micros(value) {
            Some(_) => Ok(()),
            None => bad("a timestamp such as '2026-01-01 00:00:00'".into()),
        },
    }
}

pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Some(true),
        "false" | "off" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// Parses `'<number> <unit>'` (units: microsecond(s)/us, millisecond(s)/ms,
/// second(s)/s/sec, minute(s)/min/m, hour(s)/h, day(s)/d) or a plain number
/// of seconds. Several terms add up: `'1 minute 30 seconds'`.
pub fn parse_duration(value: &str) -> Option<Duration> {
    parse_duration_bare_in(value, Duration::from_secs(1))
}

/// The one duration grammar, for Eddy's options ([`parse_duration`]) and
/// PostgreSQL's time settings (`statement_timeout = 5000`), which differ
/// only in what a number without a unit counts: `bare` (a second for
/// Eddy's options, a millisecond for PostgreSQL's settings).
pub fn parse_duration_bare_in(value: &str, bare: Duration) -> Option<Duration> {
    let tokens = split_number_units(value)?;
    let mut total_micros: u128 = 0;
    for (number, unit) in tokens {
        let micros_per_unit: f64 = match unit.to_ascii_lowercase().as_str() {
            "" => bare.as_micros() as f64,
            "us" | "microsecond" | "microseconds" => 1.0,
            "ms" | "millisecond" | "milliseconds" => 1e3,
            "s" | "sec" | "secs" | "second" | "seconds" => 1e6,
            "m" | "min" | "mins" | "minute" | "minutes" => 60e6,
            "h" | "hour" | "hours" => 3600e6,
            "d" | "day" | "days" => 86_400e6,
            _ => return None,
        };
        if number < 0.0 {
            return None;
        }
        total_micros += (number * micros_per_unit).round() as u128;
    }
    Some(Duration::from_micros(total_micros.try_into().ok()?))
}

fn split_number_units(value: &str) -> Option<Vec<(f64, String)>> {
    let mut out = Vec::new();
    let mut rest = value.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_end].parse().ok()?;
        rest = rest[num_end..].trim_start();
        let unit_end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        out.push((number, rest[..unit_end].to_string()));
        rest = rest[unit_end..].trim_start();
    }
    Some(out)
}

/// Parses `YYYY-MM-DD[ HH:MM:SS[.ffffff]]` (or with `T`) into microseconds
/// since the Unix epoch, UTC.
pub fn parse_timestamp_micros(value: &str) -> Option<i64> {
    use chrono::{NaiveDate, NaiveDateTime};
    let v = value.trim();
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(ts) = NaiveDateTime::parse_from_str(v, fmt) {
            return Some(ts.and_utc().timestamp_micros());
        }
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .map(|d| d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[OptionSpec] = &[
        OptionSpec::new(
            "mode",
            OptionValue::OneOf(&["append", "upsert", "overwrite"]),
            "write mode",
        ),
        OptionSpec::new("table", OptionValue::Text, "target table").required(),
        OptionSpec::new(
            "fields.*.kind",
            OptionValue::OneOf(&["random", "sequence"]),
            "generator",
        ),
    ];

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn unknown_option_lists_valid_ones() {
        let err = validate_options(
            "sink connector 'postgres'",
            &opts(&[("modee", "x"), ("table", "t")]),
            SPECS,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown option 'modee' for sink connector 'postgres'; expected one of mode, table, fields.*.kind"
        );
    }

    #[test]
    fn bad_value_lists_choices_and_patterns_match() {
        let err =
            validate_options("x", &opts(&[("mode", "merge"), ("table", "t")]), SPECS).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value 'merge' for option 'mode'; expected one of append, upsert, overwrite"
        );
        validate_options(
            "x",
            &opts(&[("fields.user_id.kind", "random"), ("table", "t")]),
            SPECS,
        )
        .unwrap();
        assert!(
            validate_options(
                "x",
                &opts(&[("fields.a.b.kind", "random"), ("table", "t")]),
                SPECS
            )
            .is_err()
        );
        assert!(validate_options("x", &opts(&[]), SPECS).is_err());
        let any = OptionSpec::new("properties.**", OptionValue::Text, "passed through");
        assert_eq!(
            any.matches("properties.security.protocol"),
            Some(Some("security.protocol"))
        );
        assert_eq!(any.matches("properties."), None);
        assert_eq!(any.matches("property.x"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10 seconds"), Some(Duration::from_secs(10)));
        assert_eq!(
            parse_duration("1 minute 30 seconds"),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_duration("10 milliseconds"),
            Some(Duration::from_millis(10))
        );
        assert_eq!(parse_duration("2"), Some(Duration::from_secs(2)));
        let millis = Duration::from_millis(1);
        assert_eq!(
            parse_duration_bare_in("5000", millis),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_duration_bare_in("2min", millis),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_duration_bare_in("1.5 s", millis),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_duration_bare_in("-1", millis), None);
        assert_eq!(parse_duration("fast"), None);
    }
}
