//! Session settings: `SET`, `SHOW`, `RESET` of the parameters clients use.
//! Values are kept as text, like PostgreSQL's GUCs; settings Eddy does not
//! know are accepted with a notice-free pass-through only if they look like
//! an extension's (`a.b`), as PostgreSQL does.

use std::collections::BTreeMap;

use crate::error::{PgError, PgResult};

/// The PostgreSQL version Eddy reports to clients (`server_version`,
/// ParameterStatus, `version()`).
pub const PG_SERVER_VERSION: &str = "16.6";
pub const PG_SERVER_VERSION_NUM: &str = "160006";

/// (name, default) of every setting `SHOW` knows.
const DEFAULTS: &[(&str, &str)] = &[
    ("application_name", ""),
    ("client_encoding", "UTF8"),
    ("client_min_messages", "notice"),
    ("datestyle", "ISO, MDY"),
    ("default_table_access_method", "heap"),
    ("default_tablespace", ""),
    ("default_transaction_isolation", "read committed"),
    ("default_transaction_read_only", "off"),
    ("extra_float_digits", "1"),
    ("idle_in_transaction_session_timeout", "0"),
    ("in_hot_standby", "off"),
    ("integer_datetimes", "on"),
    ("block_size", "8192"),
    ("intervalstyle", "postgres"),
    ("is_superuser", "on"),
    ("lc_collate", "C"),
    ("lc_ctype", "C"),
    ("lc_messages", "C"),
    ("lc_monetary", "C"),
    ("lc_numeric", "C"),
    ("lc_time", "C"),
    ("lock_timeout", "0"),
    ("max_connections", "100"),
    ("max_index_keys", "32"),
    ("max_identifier_length", "63"),
    ("search_path", "\"$user\", public"),
    ("server_encoding", "UTF8"),
    ("server_version", PG_SERVER_VERSION),
    ("server_version_num", PG_SERVER_VERSION_NUM),
    ("session_authorization", "eddy"),
    ("standard_conforming_strings", "on"),
    ("statement_timeout", "0"),
    ("timezone", "UTC"),
    ("transaction_isolation", "read committed"),
    ("transaction_read_only", "off"),
];

/// Settings PostgreSQL reports to the client with ParameterStatus when
/// they change (GUC_REPORT).
pub const REPORTED: &[&str] = &[
    "application_name",
    "client_encoding",
    "datestyle",
    "intervalstyle",
    "standard_conforming_strings",
    "timezone",
];

/// Settings that cannot be changed by `SET`.
const READ_ONLY: &[&str] = &[
    "server_version",
    "server_version_num",
    "server_encoding",
    "integer_datetimes",
    "max_identifier_length",
    "in_hot_standby",
    "is_superuser",
    "session_authorization",
    "lc_collate",
    "lc_ctype",
    "block_size",
    "max_index_keys",
    "max_connections",
];

#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Values set in this session, by lower-case name.
    values: BTreeMap<String, String>,
    /// Names assigned by SET/RESET since the last `take_touched`.
    touched: Vec<String>,
}

impl Settings {
    pub fn with_startup(params: impl IntoIterator<Item = (String, String)>) -> Settings {
        let mut s = Settings::default();
        for (k, v) in params {
            let k = k.to_ascii_lowercase();
            // The user the client logged in as (`current_user`).
            if k == "user" {
                s.values.insert("session_authorization".into(), v);
                continue;
            }
            if default_of(&k).is_some() && !READ_ONLY.contains(&k.as_str()) {
                s.values.insert(k, v);
            }
        }
        s
    }

    pub fn get(&self, name: &str) -> PgResult<String> {
        let name = name.to_ascii_lowercase();
        if let Some(v) = self.values.get(&name) {
            return Ok(v.clone());
        }
        default_of(&name).map(str::to_string).ok_or_else(|| {
            PgError::new(
                "42704",
                format!("unrecognized configuration parameter \"{name}\""),
            )
        })
    }

    pub fn set(&mut self, name: &str, value: &str) -> PgResult<()> {
        let name = name.to_ascii_lowercase();
        if READ_ONLY.contains(&name.as_str()) {
            return Err(PgError::new(
                "55P02",
                format!("parameter \"{name}\" cannot be changed"),
            ));
        }
        if default_of(&name).is_none() && !name.contains('.') {
            return Err(PgError::new(
                "42704",
                format!("unrecognized configuration parameter \"{name}\""),
            ));
        }
        let value = match name.as_str() {
            "timezone" => normalize_time_zone(value)?,
            "datestyle" => normalize_date_style(value)?,
            _ => value.to_string(),
        };
        self.touched.push(name.clone());
        self.values.insert(name, value);
        Ok(())
    }

    pub fn reset(&mut self, name: &str) {
        let name = name.to_ascii_lowercase();
        self.values.remove(&name);
        self.touched.push(name);
    }

    pub fn reset_all(&mut self) {
        self.touched.extend(self.values.keys().cloned());
        self.values.clear();
    }

    /// The reported settings (see [`REPORTED`]) assigned since the last
    /// call, with their values: what ParameterStatus must tell the client.
    pub fn take_reported(&mut self) -> Vec<(String, String)> {
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort();
        touched.dedup();
        touched
            .into_iter()
            .filter(|n| REPORTED.contains(&n.as_str()))
            .map(|n| (display_name(&n), self.get(&n).unwrap_or_default()))
            .collect()
    }

    /// Every known setting with its current value (for `SHOW ALL`).
    pub fn all(&self) -> Vec<(String, String)> {
        DEFAULTS
            .iter()
            .map(|(k, _)| (k.to_string(), self.get(k).unwrap_or_default()))
            .collect()
    }
}

/// The name PostgreSQL uses in `SHOW` headers and ParameterStatus.
pub fn display_name(name: &str) -> String {
    match name.to_ascii_lowercase().as_str() {
        "datestyle" => "DateStyle".into(),
        "timezone" => "TimeZone".into(),
        "intervalstyle" => "IntervalStyle".into(),
        other => other.to_string(),
    }
}

fn default_of(name: &str) -> Option<&'static str> {
    DEFAULTS.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
}

fn normalize_time_zone(value: &str) -> PgResult<String> {
    match value.to_ascii_lowercase().as_str() {
        "utc" | "etc/utc" | "gmt" | "z" | "zulu" | "default" | "local" => Ok("UTC".into()),
        _ if value.parse::<i32>().is_ok() => Ok(value.to_string()),
        _ => Err(PgError::new(
            "22023",
            format!("invalid value for parameter \"TimeZone\": \"{value}\""),
        )
        .with_hint("Eddy sessions run in UTC.")),
    }
}

fn normalize_date_style(value: &str) -> PgResult<String> {
    let v = value.to_ascii_uppercase();
    if v.contains("ISO") || v.contains("MDY") || v.contains("DMY") || v.contains("YMD") {
        Ok(if v.contains("DMY") {
            "ISO, DMY".into()
        } else if v.contains("YMD") {
            "ISO, YMD".into()
        } else {
            "ISO, MDY".into()
        })
    } else {
        Err(PgError::new(
            "22023",
            format!("invalid value for parameter \"DateStyle\": \"{value}\""),
        ))
    }
}
