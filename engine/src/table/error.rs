//! [`TableError`]: why a table refused a write, with the SQLSTATE and the
//! PostgreSQL message a client expects.
//!
//! A separate type from [`EngineError`] so that the server can map it
//! one-to-one to a client error (`code()`, `to_string()`, `detail()`), and
//! because the table storage is meant to become a crate of its own (see
//! DESIGN.md). Inside the engine and the connectors it converts into an
//! [`EngineError`], keeping the message and the detail.

use datafusion::arrow::error::ArrowError;

use crate::EngineError;

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A write would give two rows the same primary key or unique key
    /// (23505). `detail` is PostgreSQL's `Key (k)=(v) already exists.`
    #[error("duplicate key value violates unique constraint \"{constraint}\"")]
    UniqueViolation {
        table: String,
        constraint: String,
        detail: String,
    },
    /// A NULL in a NOT NULL (or primary-key) column (23502). `detail` is
    /// PostgreSQL's `Failing row contains (…).`
    #[error(
        "null value in column \"{column}\" of relation \"{table}\" violates not-null constraint"
    )]
    NotNullViolation {
        table: String,
        column: String,
        detail: String,
    },
    /// An optimistic write set would overwrite or delete rows another
    /// writer changed since the version it was based on (40001). Retrying
    /// the whole transaction can succeed.
    #[error("could not serialize access due to concurrent update")]
    SerializationFailure { table: String, detail: String },
    /// A write by key on a table without a primary key (42P10).
    #[error("table \"{table}\" has no primary key: {action} needs one")]
    NoPrimaryKey { table: String, action: &'static str },
    /// A constraint names a column the table does not have (42703).
    #[error(
        "column \"{column}\" named by constraint \"{constraint}\" of table \"{table}\" does not exist"
    )]
    UnknownColumn {
        table: String,
        constraint: String,
        column: String,
    },
    /// Rows whose columns do not fit the table (a bug of the caller, which
    /// converts values to the table's types first).
    #[error("rows do not fit table \"{table}\": {reason}")]
    Schema { table: String, reason: String },
    /// The table's files cannot be read back (XX001).
    #[error("table \"{table}\" is corrupt: {reason}")]
    Corrupt { table: String, reason: String },
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Arrow(#[from] ArrowError),
}

impl TableError {
    /// The SQLSTATE a client gets.
    pub fn code(&self) -> &'static str {
        match self {
            TableError::UniqueViolation { .. } => "23505",
            TableError::NotNullViolation { .. } => "23502",
            TableError::SerializationFailure { .. } => "40001",
            TableError::NoPrimaryKey { .. } => "42P10",
            TableError::UnknownColumn { .. } => "42703",
            TableError::Schema { .. } => "XX000",
            TableError::Corrupt { .. } => "XX001",
            TableError::Io(_) => "58030",
            TableError::Arrow(_) => "XX000",
        }
    }

    /// PostgreSQL's DETAIL line, where it has one.
    pub fn detail(&self) -> Option<&str> {
        match self {
            TableError::UniqueViolation { detail, .. }
            | TableError::NotNullViolation { detail, .. }
            | TableError::SerializationFailure { detail, .. } => Some(detail),
            _ => None,
        }
    }

    /// The violated constraint's name (a unique or primary key).
    pub fn constraint(&self) -> Option<&str> {
        match self {
            TableError::UniqueViolation { constraint, .. } => Some(constraint),
            _ => None,
        }
    }

    /// Whether running the same transaction again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, TableError::SerializationFailure { .. })
    }

    /// The message followed by the detail, for logs and for errors that
    /// have no separate detail field.
    pub fn full_message(&self) -> String {
        match self.detail() {
            Some(detail) => format!("{self} ({detail})"),
            None => self.to_string(),
        }
    }
}

impl From<TableError> for EngineError {
    fn from(e: TableError) -> Self {
        match e {
            TableError::UniqueViolation { .. }
            | TableError::NotNullViolation { .. }
            | TableError::Schema { .. } => EngineError::Data(e.full_message()),
            TableError::NoPrimaryKey { .. } | TableError::UnknownColumn { .. } => {
                EngineError::Config(e.to_string())
            }
            TableError::SerializationFailure { ref table, .. } => EngineError::External {
                context: format!("table \"{table}\""),
                message: e.full_message(),
                retryable: true,
            },
            TableError::Corrupt { .. } => EngineError::Internal(e.to_string()),
            TableError::Io(io) => EngineError::Io(io),
            TableError::Arrow(a) => EngineError::Arrow(a),
        }
    }
}

pub type TableResult<T> = std::result::Result<T, TableError>;

/// `(v1, v2)` as PostgreSQL shows values in a DETAIL line: the values of
/// `columns` at `row`, NULL as `null`.
pub(super) fn values_text(columns: &[datafusion::arrow::array::ArrayRef], row: usize) -> String {
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
    let options = FormatOptions::default().with_null("null");
    let values: Vec<String> = columns
        .iter()
        .map(|c| match ArrayFormatter::try_new(c.as_ref(), &options) {
            Ok(f) => f.value(row).to_string(),
            Err(_) => "?".to_string(),
        })
        .collect();
    format!("({})", values.join(", "))
}
