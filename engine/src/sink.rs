//! The `Sink` trait: where a streaming query's output goes, one epoch at a
//! time. A sink receives each epoch's output once it is final and must make
//! it visible atomically: all of the epoch or none of it.

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;

use crate::Result;

/// How a streaming query's output relates to what earlier epochs wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    /// Rows are final when emitted (a window's row once, when the watermark
    /// passes its end); each epoch adds rows.
    Append,
    /// Each epoch emits the rows whose aggregate changed in it; a later row
    /// replaces an earlier one with the same key.
    Update,
    /// Each epoch emits the whole result, which replaces the previous one.
    Complete,
}

impl OutputMode {
    pub const CHOICES: &'static [&'static str] = &["append", "update", "complete"];

    pub fn parse(value: &str) -> Result<OutputMode> {
        match value.to_ascii_lowercase().as_str() {
            "append" => Ok(OutputMode::Append),
            "update" => Ok(OutputMode::Update),
            "complete" => Ok(OutputMode::Complete),
            _ => Err(crate::EngineError::Config(format!(
                "invalid value '{value}' for option 'output_mode'; expected one of {}",
                Self::CHOICES.join(", ")
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            OutputMode::Append => "append",
            OutputMode::Update => "update",
            OutputMode::Complete => "complete",
        }
    }
}

#[async_trait]
pub trait Sink: Send {
    /// Called once, before [`open`](Self::open), with the query's output
    /// mode. A sink that cannot represent the mode (an appending table fed
    /// updates) refuses it with the reason; a sink whose writes depend on
    /// it (replacing the contents for `complete`) remembers it. The default
    /// accepts every mode and writes each epoch's rows as they come.
    fn set_output_mode(&mut self, _mode: OutputMode) -> Result<()> {
        Ok(())
    }

    /// Checks, without changing anything outside Eddy, that the target
    /// can take the query's output: what [`open`](Self::open) would check,
    /// but nothing is created. Called when a streaming query is created
    /// inside a transaction, whose effects wait for COMMIT. A sink whose
    /// `open` only checks may answer as `open` does; the default has
    /// nothing to check.
    async fn check(&mut self, _schema: SchemaRef) -> Result<()> {
        Ok(())
    }

    /// Called once before the first epoch with the schema of the query's
    /// output: creates the target if asked to, or checks that it fits.
    async fn open(&mut self, schema: SchemaRef) -> Result<()>;

    /// Writes the output of `epoch`, atomically. Returns the rows written.
    /// May be called with no batches (an epoch that produced nothing).
    async fn write_epoch(&mut self, epoch: u64, batches: &[RecordBatch]) -> Result<u64>;
}
