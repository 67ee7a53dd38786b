/// An error in a statement's text or meaning, with the SQLSTATE a client
/// should see and, when known, the 1-based character position in the query
/// string (PostgreSQL's error cursor).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SqlError {
    pub sqlstate: &'static str,
    pub message: String,
    pub position: Option<usize>,
}

impl SqlError {
    /// 42601 syntax_error.
    pub fn syntax(message: impl Into<String>, position: Option<usize>) -> Self {
        SqlError {
            sqlstate: "42601",
            message: message.into(),
            position,
        }
    }

    /// 0A000 feature_not_supported.
    pub fn unsupported(message: impl Into<String>) -> Self {
        SqlError {
            sqlstate: "0A000",
            message: message.into(),
            position: None,
        }
    }

    /// 42704 undefined_object (e.g. an unknown type name).
    pub fn undefined(message: impl Into<String>) -> Self {
        SqlError {
            sqlstate: "42704",
            message: message.into(),
            position: None,
        }
    }

    /// 22023 invalid_parameter_value.
    pub fn invalid_value(message: impl Into<String>) -> Self {
        SqlError {
            sqlstate: "22023",
            message: message.into(),
            position: None,
        }
    }
}
