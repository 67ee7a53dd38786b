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
//! - [`plan`]: turns a DataFusion logical plan into a [`plan::StreamingPlan`]
//!   (stateless stages around at most one windowed aggregation).
//! - [`window`]: window assignment (`TUMBLE`).
//! - [`aggregate`]: the windowed aggregation operator and its keyed state.
//! - [`watermark`]: event-time tracking; [`late`]: late rows kept in a
//!   table (`late_rows = 'table'`).
//! - [`job`]: the epoch loop, triggers and the query's progress.
//! - [`checkpoint`]: offset log, commit log and state snapshots per query.
//! - [`table_store`]: durable storage of Eddy tables.

pub mod aggregate;
pub mod checkpoint;
pub mod connector;
mod error;
pub mod job;
pub mod late;
pub mod options;
pub mod plan;
pub mod sink;
pub mod source;
pub mod table_store;
pub mod watermark;
pub mod window;

pub use connector::{
    ConnectorRegistry, SinkConnector, SinkContext, SourceConnector, SourceContext,
};
pub use error::{EngineError, Result};
pub use sink::Sink;
pub use source::{Offsets, PlannedRange, Source};
