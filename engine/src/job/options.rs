//! The `WITH (…)` options of `CREATE STREAMING QUERY`, parsed.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::options::{OptionSpec, OptionValue, parse_duration};
use crate::plan::OutputMode;
use crate::{EngineError, Result};

/// The `WITH (…)` options of `CREATE STREAMING QUERY`.
pub const QUERY_OPTIONS: &[OptionSpec] = &[
    OptionSpec::new(
        "trigger",
        OptionValue::Text,
        "when epochs run: an interval such as '1 second', 'continuous', 'once' or 'available_now'",
    ),
    OptionSpec::new(
        "output_mode",
        OptionValue::OneOf(OutputMode::CHOICES),
        "how aggregation results are emitted: append",
    ),
    OptionSpec::new(
        "checkpoint.snapshot_every",
        OptionValue::Integer {
            min: 1,
            max: 1_000_000,
        },
        "a full state snapshot every this many epochs; deltas in between (default 10)",
    ),
    OptionSpec::new(
        "checkpoint.retain",
        OptionValue::Integer {
            min: 1,
            max: 1_000_000,
        },
        "commits kept to fall back to if the newest is damaged, with the snapshot generation before them (default 10)",
    ),
    OptionSpec::new(
        "late_rows",
        OptionValue::OneOf(&["drop", "table"]),
        "what happens to rows whose window has closed: drop (counted) or table (kept in an Eddy table)",
    ),
    OptionSpec::new(
        "late_rows.table",
        OptionValue::Text,
        "with late_rows = 'table': the table (default <query>_late_rows)",
    ),
];

/// An integer option already checked by `validate_options`.
fn number(options: &BTreeMap<String, String>, key: &str) -> Option<u64> {
    options.get(key).and_then(|v| v.trim().parse().ok())
}

/// When epochs run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trigger {
    /// One epoch per interval (an epoch that overruns starts the next at once).
    Interval(Duration),
    /// The next epoch as soon as the previous one is done and data is there.
    Continuous,
    /// One epoch over what is available now, then stop.
    Once,
    /// Everything available now, in as many epochs as needed, then stop.
    AvailableNow,
}

impl Trigger {
    pub fn parse(value: &str) -> Result<Trigger> {
        match value.trim().to_ascii_lowercase().as_str() {
            "continuous" => Ok(Trigger::Continuous),
            "once" => Ok(Trigger::Once),
            "available_now" => Ok(Trigger::AvailableNow),
            other => match parse_duration(other) {
                Some(d) if !d.is_zero() => Ok(Trigger::Interval(d)),
                Some(_) => Ok(Trigger::Continuous),
                None => Err(EngineError::Config(format!(
                    "invalid value '{value}' for option 'trigger'; expected an interval such as '1 second', or one of continuous, once, available_now"
                ))),
            },
        }
    }
}

/// Parsed query options.
#[derive(Debug, Clone)]
pub struct QueryOptions {
    pub trigger: Trigger,
    pub output_mode: OutputMode,
    /// `checkpoint.snapshot_every`.
    pub snapshot_every: u64,
    /// `checkpoint.retain`.
    pub retain: u64,
    /// `late_rows = 'table'`: keep late rows in a table.
    pub keep_late_rows: bool,
    /// `late_rows.table`, if given.
    pub late_rows_table: Option<String>,
}

impl QueryOptions {
    pub fn from_map(options: &BTreeMap<String, String>) -> Result<QueryOptions> {
        crate::options::validate_options("a streaming query", options, QUERY_OPTIONS)?;
        Ok(QueryOptions {
            trigger: Trigger::parse(options.get("trigger").map_or("1 second", |s| s.as_str()))?,
            output_mode: OutputMode::parse(
                options.get("output_mode").map_or("append", |s| s.as_str()),
            )?,
            snapshot_every: number(options, "checkpoint.snapshot_every")
                .unwrap_or(crate::checkpoint::DEFAULT_SNAPSHOT_EVERY),
            retain: number(options, "checkpoint.retain")
                .unwrap_or(crate::checkpoint::DEFAULT_RETAIN),
            keep_late_rows: options
                .get("late_rows")
                .is_some_and(|v| v.eq_ignore_ascii_case("table")),
            late_rows_table: options.get("late_rows.table").cloned(),
        })
    }

    /// The table late rows of query `query` go to, with `late_rows = 'table'`.
    pub fn late_rows_table(&self, query: &str) -> Option<String> {
        self.keep_late_rows.then(|| {
            self.late_rows_table
                .clone()
                .unwrap_or_else(|| format!("{query}_late_rows"))
        })
    }
}
