//! # eddy-engine
//!
//! The streaming engine. A streaming query runs as a job of *epochs*
//! (micro-batches): each epoch reads a fixed range of every source, pushes
//! the rows through the query's operators as Arrow `RecordBatch`es, hands the
//! epoch's output to the sink, and advances the watermark.
//!
//! ## Layout
//!
//! - [`source`], [`sink`]: the traits connectors implement.
//! - [`connector`], [`options`]: the connector registry and declarative
//!   option validation used at CREATE time.
//! - [`plan`]: turns a DataFusion logical plan into a [`plan::StreamingPlan`],
//!   a tree of operators batches are pushed through.
//! - [`window`]: window assignment (`TUMBLE`, `HOP`, `SESSION`) and late rows.
//! - [`aggregate`]: aggregation (windowed or not, any output mode) and its
//!   keyed state; [`session_window`]: session windows; [`dedup`]: `DISTINCT`;
//!   [`join`]: stream–table joins over a [`lookup::Lookup`].
//! - [`state`]: operator state as checkpoints store it.
//! - [`watermark`]: event-time tracking per source partition; [`late`]:
//!   late rows kept in a table (`late_rows = 'table'`).
//! - [`job`]: the epoch loop, triggers and the query's progress.
//! - [`checkpoint`]: offset log, commit log and state snapshots per query.
//! - [`sample`]: a look at a source — an ad-hoc `SELECT` over a bounded
//!   sample read through the source's own decoding, creating no query.
//! - [`table`]: Eddy tables: keyed, durable storage with constraints,
//!   upserts, deletes by key and optimistic write sets ([`table_store`]
//!   keeps the older import path).

pub mod aggregate;
mod arrays;
pub mod checkpoint;
pub mod connector;
pub mod dedup;
mod error;
pub mod interval_join;
pub mod job;
pub mod join;
pub mod late;
pub mod lookup;
pub mod options;
pub mod plan;
pub mod sample;
pub mod session_window;
pub mod sink;
pub mod source;
pub mod state;
pub mod table;
pub mod table_store;
pub mod watermark;
pub mod window;

pub use connector::{
    ConnectorRegistry, SinkConnector, SinkContext, SourceConnector, SourceContext,
};
pub use error::{EngineError, Result};
pub use lookup::Lookup;
pub use sink::{OutputMode, Sink};
pub use source::{Offsets, PlannedRange, RowPartitions, SampleRange, Source, SourceBatch};
