//! [`FileSink`]: one file per epoch, made visible by rename.

use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use datafusion::arrow::csv;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::json;
use datafusion::arrow::record_batch::RecordBatch;
use eddy_engine::{EngineError, Result, Sink};

use super::FileSinkConfig;
use crate::format::Format;

pub struct FileSink {
    config: FileSinkConfig,
}

impl FileSink {
    pub fn new(config: FileSinkConfig) -> FileSink {
        FileSink { config }
    }

    /// The file epoch `epoch` is written to.
    pub fn file_name(&self, epoch: u64) -> String {
        format!("part-{epoch:020}.{}", self.config.format.extension())
    }
}

fn io_error(what: String) -> impl FnOnce(std::io::Error) -> EngineError {
    move |e| EngineError::external(what, e, true)
}

/// Encodes `batches` in `format`.
fn encode(config: &FileSinkConfig, batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    match config.format {
        Format::Json => {
            let mut writer = json::LineDelimitedWriter::new(&mut buf);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
        }
        Format::Csv { delimiter } => {
            let mut writer = csv::WriterBuilder::new()
                .with_header(config.header)
                .with_delimiter(delimiter)
                .build(&mut buf);
            for batch in batches {
                writer.write(batch)?;
            }
        }
    }
    Ok(buf)
}

/// Writes `bytes` to `dir/name` through `dir/.name.tmp`, fsync and rename,
/// then fsyncs the directory so the rename is durable.
fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp: PathBuf = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    {
        let mut f =
            std::fs::File::create(&tmp).map_err(io_error(format!("creating {}", tmp.display())))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .map_err(io_error(format!("writing {}", tmp.display())))?;
    }
    std::fs::rename(&tmp, &path).map_err(io_error(format!("renaming to {}", path.display())))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(format!("syncing directory {}", dir.display())))
}

#[async_trait]
impl Sink for FileSink {
    async fn open(&mut self, _schema: SchemaRef) -> Result<()> {
        tokio::fs::create_dir_all(&self.config.dir)
            .await
            .map_err(io_error(format!(
                "creating directory {}",
                self.config.dir.display()
            )))
    }

    async fn write_epoch(&mut self, epoch: u64, batches: &[RecordBatch]) -> Result<u64> {
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        if rows == 0 {
            return Ok(0);
        }
        let config = self.config.clone();
        let name = self.file_name(epoch);
        let batches = batches.to_vec();
        tokio::task::spawn_blocking(move || {
            let bytes = encode(&config, &batches)?;
            write_file(&config.dir, &name, &bytes)
        })
        .await
        .map_err(|e| EngineError::Internal(format!("file sink task failed: {e}")))??;
        Ok(rows as u64)
    }
}
