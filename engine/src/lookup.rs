//! Lookup tables: the table side of a stream–table join.
//!
//! A streaming query that joins a stream with a table does not read the
//! table as a stream. Each epoch, the join collects the distinct join keys of
//! the stream's rows and asks the table for the rows with those keys: an
//! Eddy table answers from an in-memory index, a `postgres` source sends the
//! keys to PostgreSQL (`WHERE key = ANY($1)`) and may cache the answers for a
//! while (`lookup.cache.ttl`). Nothing is ever reloaded in full per epoch.

use async_trait::async_trait;
use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;

use crate::Result;

/// A relation rows are looked up in by key.
#[async_trait]
pub trait Lookup: Send {
    /// The relation's columns (as declared).
    fn schema(&self) -> SchemaRef;

    /// The rows whose key columns equal one of `keys`. `keys` holds one
    /// array per key column (in the order the lookup was created with), all
    /// of the same length, with distinct rows and no NULLs; each array has
    /// the type of its key column. The answer holds every column of
    /// [`schema`](Self::schema), in any row order; a key may match several
    /// rows or none.
    async fn lookup(&mut self, keys: &[ArrayRef]) -> Result<RecordBatch>;
}
