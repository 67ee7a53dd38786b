//! What a statement answers, shared by the session that runs it, the
//! modules that carry it out (DDL, DML, users) and the backend that hands
//! it to the wire front end: below all of them, so that none imports
//! another for it.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;

/// A session's transaction state, as ReadyForQuery reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxState {
    Idle,
    InBlock,
    Failed,
}

/// The result of one statement.
pub enum Outcome {
    Rows(SchemaRef, Vec<RecordBatch>),
    /// Rows of `INSERT`/`UPDATE`/`DELETE … RETURNING`, answered with the
    /// statement's tag (`INSERT 0 n`, `UPDATE n`, `DELETE n`).
    TaggedRows(&'static str, SchemaRef, Vec<RecordBatch>),
    Command(String, Option<usize>),
    Begin,
    /// `COMMIT` or `ROLLBACK`; the tag to answer with.
    End(&'static str),
    Empty,
}

impl Outcome {
    /// Rows answered with `tag` and their count instead of `SELECT n`.
    pub fn tagged(self, tag: &'static str) -> Outcome {
        match self {
            Outcome::Rows(schema, batches) => Outcome::TaggedRows(tag, schema, batches),
            other => other,
        }
    }
}
