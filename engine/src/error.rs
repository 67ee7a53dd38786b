use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;

/// Errors of the engine and of the connectors built on it, classified by
/// whose fault they are and whether retrying can help.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A definition or option the user gave is invalid (bad option, bad
    /// value, unknown column). Not retryable; fix the statement.
    #[error("{0}")]
    Config(String),
    /// The query cannot be run as a streaming query (unsupported shape,
    /// missing watermark, …). Not retryable.
    #[error("{0}")]
    Plan(String),
    /// An outside system (PostgreSQL, Kafka, the file system) failed.
    /// `retryable` says whether trying again later may succeed.
    #[error("{context}: {message}")]
    External {
        context: String,
        message: String,
        retryable: bool,
    },
    /// Input data that cannot be processed (bad record, wrong type).
    #[error("{0}")]
    Data(String),
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    #[error(transparent)]
    Arrow(#[from] ArrowError),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A bug in Eddy.
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    pub fn external(
        context: impl Into<String>,
        err: impl std::fmt::Display,
        retryable: bool,
    ) -> Self {
        EngineError::External {
            context: context.into(),
            message: err.to_string(),
            retryable,
        }
    }

    /// Whether the operation may succeed if tried again unchanged.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            EngineError::External {
                retryable: true,
                ..
            } | EngineError::Io(_)
        )
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
