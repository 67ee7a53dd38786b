//! The `Sink` trait: where a streaming query's output goes, one epoch at a
//! time. A sink receives each epoch's output once it is final and must make
//! it visible atomically: all of the epoch or none of it.

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;

use crate::Result;

#[async_trait]
pub trait Sink: Send {
    /// Called once before the first epoch with the schema of the query's
    /// output: creates the target if asked to, or checks that it fits.
    async fn open(&mut self, schema: SchemaRef) -> Result<()>;

    /// Writes the output of `epoch`, atomically. Returns the rows written.
    /// May be called with no batches (an epoch that produced nothing).
    async fn write_epoch(&mut self, epoch: u64, batches: &[RecordBatch]) -> Result<u64>;
}
