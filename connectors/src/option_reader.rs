//! Typed access to a connector's `WITH (…)` options.
//!
//! The registry has already checked every value against its
//! [`OptionSpec`](eddy_engine::options::OptionSpec) by the time a connector
//! reads them, but `create` may also be called on a definition loaded from
//! the catalog, so the readers still fail with a `Config` error (never panic)
//! on a malformed value.

use std::collections::BTreeMap;
use std::time::Duration;

use eddy_engine::options::{parse_bool, parse_duration, parse_timestamp_micros};
use eddy_engine::{EngineError, Result};

/// Reads options of one object; `owner` names it in errors.
pub struct OptionReader<'a> {
    owner: String,
    options: &'a BTreeMap<String, String>,
}

impl<'a> OptionReader<'a> {
    pub fn new(owner: impl Into<String>, options: &'a BTreeMap<String, String>) -> Self {
        OptionReader {
            owner: owner.into(),
            options,
        }
    }

    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.options.get(key).map(|v| v.as_str())
    }

    pub fn required(&self, key: &str) -> Result<&'a str> {
        self.get(key).ok_or_else(|| {
            EngineError::Config(format!(
                "missing required option '{key}' for {}",
                self.owner
            ))
        })
    }

    fn invalid(&self, key: &str, value: &str, expected: &str) -> EngineError {
        EngineError::Config(format!(
            "invalid value '{value}' for option '{key}' of {}; expected {expected}",
            self.owner
        ))
    }

    pub fn i64(&self, key: &str) -> Result<Option<i64>> {
        self.get(key)
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|_| self.invalid(key, v, "an integer"))
            })
            .transpose()
    }

    pub fn f64(&self, key: &str) -> Result<Option<f64>> {
        self.get(key)
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|_| self.invalid(key, v, "a number"))
            })
            .transpose()
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>> {
        self.get(key)
            .map(|v| parse_bool(v).ok_or_else(|| self.invalid(key, v, "true or false")))
            .transpose()
    }

    pub fn duration(&self, key: &str) -> Result<Option<Duration>> {
        self.get(key)
            .map(|v| {
                parse_duration(v)
                    .ok_or_else(|| self.invalid(key, v, "a duration such as '10 seconds'"))
            })
            .transpose()
    }

    /// A timestamp as microseconds since the Unix epoch.
    pub fn timestamp_micros(&self, key: &str) -> Result<Option<i64>> {
        self.get(key)
            .map(|v| {
                parse_timestamp_micros(v).ok_or_else(|| {
                    self.invalid(key, v, "a timestamp such as '2026-01-01 00:00:00'")
                })
            })
            .transpose()
    }
}
