//! The `blackhole` sink: accepts every epoch and discards it, returning the
//! row count. For benchmarks and for trying a query out.

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use eddy_catalog::SinkDef;
use eddy_engine::options::OptionSpec;
use eddy_engine::{Result, Sink, SinkConnector, SinkContext};

/// `connector = 'blackhole'`.
pub struct BlackholeConnector;

impl SinkConnector for BlackholeConnector {
    fn name(&self) -> &'static str {
        "blackhole"
    }

    fn options(&self) -> &'static [OptionSpec] {
        &[]
    }

    fn validate(&self, _def: &SinkDef, _ctx: &SinkContext) -> Result<()> {
        Ok(())
    }

    fn create(&self, _def: &SinkDef, _ctx: SinkContext) -> Result<Box<dyn Sink>> {
        Ok(Box::new(BlackholeSink))
    }
}

pub struct BlackholeSink;

#[async_trait]
impl Sink for BlackholeSink {
    async fn open(&mut self, _schema: SchemaRef) -> Result<()> {
        Ok(())
    }

    async fn write_epoch(&mut self, _epoch: u64, batches: &[RecordBatch]) -> Result<u64> {
        Ok(batches.iter().map(|b| b.num_rows() as u64).sum())
    }
}
