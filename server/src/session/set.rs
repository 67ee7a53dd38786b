//! `SET`, `SHOW` and `RESET` of session settings, with the changes
//! clients track reported as ParameterStatus.

use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::sql::sqlparser::ast::{Expr, Ident, ObjectName, Set, Value};
use eddy_pgcompat::settings::display_name;

use super::Session;
use crate::error::{UserError, UserResult};
use crate::outcome::Outcome;

impl Session {
    pub(super) fn set(&mut self, set: &Set) -> UserResult<Outcome> {
        let outcome = self.apply_set(set)?;
        self.report_changes();
        Ok(outcome)
    }

    /// Queues a ParameterStatus for every reported setting assigned.
    pub(super) fn report_changes(&mut self) {
        let reported = self
            .settings
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take_reported();
        self.reported.extend(reported);
    }

    fn apply_set(&mut self, set: &Set) -> UserResult<Outcome> {
        let mut settings = self.settings.write().unwrap_or_else(|e| e.into_inner());
        match set {
            Set::SingleAssignment {
                variable, values, ..
            } => {
                let name = setting_name(variable);
                let value = values
                    .iter()
                    .map(setting_value)
                    .collect::<Vec<_>>()
                    .join(", ");
                if value.eq_ignore_ascii_case("default") {
                    settings.reset(&name);
                } else {
                    settings.set(&name, &value)?;
                }
            }
            Set::SetTimeZone { value, .. } => settings.set("timezone", &setting_value(value))?,
            Set::SetNames { charset_name, .. } => {
                settings.set("client_encoding", &charset_name.value)?
            }
            Set::SetTransaction { .. } | Set::SetSessionParam(_) => {}
            other => {
                return Err(UserError::unsupported(format!("{other} is not supported")));
            }
        }
        Ok(Outcome::Command("SET".into(), None))
    }

    pub(super) fn show(&mut self, variable: &[Ident]) -> UserResult<Outcome> {
        let words: Vec<String> = variable.iter().map(|i| i.value.to_lowercase()).collect();
        let name = match words.join(" ").as_str() {
            "time zone" => "timezone".to_string(),
            "transaction isolation level" => "transaction_isolation".to_string(),
            other => other.replace(' ', "_"),
        };
        let settings = self.settings.read().unwrap_or_else(|e| e.into_inner());
        if name == "all" {
            let all = settings.all();
            let schema = Arc::new(Schema::new(vec![
                Field::new("name", DataType::Utf8, false),
                Field::new("setting", DataType::Utf8, false),
            ]));
            let names: StringArray = all.iter().map(|(k, _)| Some(k.as_str())).collect();
            let values: StringArray = all.iter().map(|(_, v)| Some(v.as_str())).collect();
            let batch =
                RecordBatch::try_new(schema.clone(), vec![Arc::new(names), Arc::new(values)])?;
            return Ok(Outcome::Rows(schema, vec![batch]));
        }
        let value = settings.get(&name)?;
        let schema = Arc::new(Schema::new(vec![Field::new(
            display_name(&name),
            DataType::Utf8,
            false,
        )]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(vec![value]))],
        )?;
        Ok(Outcome::Rows(schema, vec![batch]))
    }
}

pub(super) fn setting_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .filter_map(|p| p.as_ident())
        .map(|i| i.value.to_lowercase())
        .collect::<Vec<_>>()
        .join(".")
}

fn setting_value(expr: &Expr) -> String {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) | Value::Number(s, _) => {
                s.clone()
            }
            Value::Boolean(b) => if *b { "on" } else { "off" }.to_string(),
            other => other.to_string(),
        },
        Expr::Identifier(i) => i.value.clone(),
        other => other.to_string(),
    }
}
