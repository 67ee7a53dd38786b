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
        match self {
            EngineError::External { retryable, .. } => *retryable,
            EngineError::Io(e) => io_is_retryable(e),
            _ => false,
        }
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// An engine error raised inside a DataFusion plan (a sampled source's
/// scan): DataFusion's and Arrow's own errors go back to being theirs, the
/// others travel as `External`, for the server to find by downcasting.
impl From<EngineError> for DataFusionError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::DataFusion(e) => e,
            EngineError::Arrow(e) => DataFusionError::ArrowError(Box::new(e), None),
            other => DataFusionError::External(Box::new(other)),
        }
    }
}

/// Whether an i/o error may go away by itself: an interrupted or timed-out
/// call, a connection that dropped, a resource busy for a while. A full
/// disk, a missing file, a permission or a corrupt input stays until
/// someone acts, so retrying only hides it.
fn io_is_retryable(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        Interrupted
            | TimedOut
            | WouldBlock
            | ConnectionRefused
            | ConnectionReset
            | ConnectionAborted
            | NotConnected
            | BrokenPipe
            | AddrInUse
            | AddrNotAvailable
            | NetworkDown
            | NetworkUnreachable
            | HostUnreachable
            | ResourceBusy
            | Deadlock
    )
}

#[cfg(test)]
mod tests {
    use std::io::{Error, ErrorKind};

    use super::EngineError;

    #[test]
    fn io_errors_are_retried_only_when_they_may_pass() {
        let io = |kind| EngineError::Io(Error::from(kind));
        assert!(io(ErrorKind::TimedOut).is_retryable());
        assert!(io(ErrorKind::ConnectionReset).is_retryable());
        assert!(!io(ErrorKind::StorageFull).is_retryable());
        assert!(!io(ErrorKind::NotFound).is_retryable());
        assert!(!io(ErrorKind::PermissionDenied).is_retryable());
        assert!(!io(ErrorKind::InvalidData).is_retryable());
        // A full disk as the OS reports it (ENOSPC).
        assert!(!EngineError::Io(Error::from_raw_os_error(28)).is_retryable());
    }
}
