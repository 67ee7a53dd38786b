//! The error a client is answered with: severity, SQLSTATE, message, and
//! where known the position in the query string, a detail and a hint —
//! the fields of PostgreSQL's ErrorResponse that clients show.

use pgwire::error::{ErrorInfo, PgWireError};

/// An error as it reaches the client. Backends build it from their own
/// errors; the front end builds it for what it finds itself (a parameter
/// that does not decode, a cancelled statement, a failed login).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    /// `ERROR`, `FATAL` (the connection ends), or `WARNING`/`NOTICE`.
    pub severity: &'static str,
    pub code: &'static str,
    pub message: String,
    /// 1-based character position in the statement's text.
    pub position: Option<usize>,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl DbError {
    /// An `ERROR` with SQLSTATE `code`.
    pub fn new(code: &'static str, message: impl Into<String>) -> DbError {
        DbError {
            severity: "ERROR",
            code,
            message: message.into(),
            position: None,
            detail: None,
            hint: None,
        }
    }

    /// A `FATAL` error: the connection closes after it is sent.
    pub fn fatal(code: &'static str, message: impl Into<String>) -> DbError {
        DbError {
            severity: "FATAL",
            ..DbError::new(code, message)
        }
    }

    /// XX000: a bug of the server's, not the user's fault.
    pub fn internal(message: impl Into<String>) -> DbError {
        DbError::new("XX000", message)
    }

    /// 57014, as PostgreSQL answers a statement stopped by `why` (`user
    /// request`, `statement timeout`).
    pub fn query_canceled(why: &str) -> DbError {
        DbError::new("57014", format!("canceling statement due to {why}"))
    }

    /// A bound parameter that is not a value of its type (numbered from 0).
    pub fn invalid_parameter(index: usize, code: &'static str, message: &str) -> DbError {
        DbError::new(
            code,
            format!("invalid value for parameter ${}: {message}", index + 1),
        )
    }

    pub(crate) fn into_error_info(self) -> ErrorInfo {
        let mut info = ErrorInfo::new(self.severity.into(), self.code.into(), self.message);
        info.position = self.position.map(|p| p.to_string());
        info.detail = self.detail;
        info.hint = self.hint;
        info
    }

    pub(crate) fn into_pgwire(self) -> PgWireError {
        PgWireError::UserError(Box::new(self.into_error_info()))
    }
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DbError {}
