//! [`PgError`]: how this crate refuses, as PostgreSQL would — a SQLSTATE,
//! a message a user can act on, and sometimes a hint.
//!
//! The crate does not know the server's error type. Where DataFusion
//! consumes a value (a catalog function's body) a `PgError` travels as
//! `DataFusionError::External` (see the `From` impl below); the server
//! takes it out again by downcasting, so the client sees this SQLSTATE and
//! message, not DataFusion's wording. Elsewhere ([`crate::settings`],
//! [`crate::pg_catalog::CatalogSource`]) it is returned as it is.

use datafusion::error::DataFusionError;

/// An error a client is answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgError {
    sqlstate: &'static str,
    message: String,
    hint: Option<String>,
}

impl PgError {
    pub fn new(sqlstate: &'static str, message: impl Into<String>) -> PgError {
        PgError {
            sqlstate,
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> PgError {
        self.hint = Some(hint.into());
        self
    }

    /// The five-character SQLSTATE (`22023`, `42704`, …).
    pub fn sqlstate(&self) -> &'static str {
        self.sqlstate
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
}

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PgError {}

/// Through DataFusion as an external error, to be downcast by whoever
/// answers the client.
impl From<PgError> for DataFusionError {
    fn from(e: PgError) -> DataFusionError {
        DataFusionError::External(Box::new(e))
    }
}

pub type PgResult<T> = Result<T, PgError>;
