//! [`FileSource`]: reading new files of a directory, each exactly once.
//! See the module documentation of [`super`] for the offsets protocol.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use eddy_engine::{EngineError, Offsets, PlannedRange, Result, SampleRange, Source, SourceBatch};
use futures::stream::{self, BoxStream, StreamExt};
use tokio::io::AsyncReadExt;

use super::{ColumnSource, FileSourceConfig, glob_matches, is_ignored, split_schema};
use crate::format::{BadRecordHandler, BadRecordInfo, RecordDecoder};

/// Bytes read from a file at a time; a batch holds the lines of one chunk.
const CHUNK_BYTES: usize = 4 << 20;

/// One query's reader of a file source.
pub struct FileSource {
    schema: SchemaRef,
    config: FileSourceConfig,
    decoder: RecordDecoder,
    handler: BadRecordHandler,
    /// Where each column of `schema` comes from.
    layout: Vec<ColumnSource>,
}

/// A file that `plan_epoch` may pick.
#[derive(Debug)]
struct Listed {
    name: String,
    size: u64,
    modified: SystemTime,
}

impl FileSource {
    pub fn new(
        schema: SchemaRef,
        config: FileSourceConfig,
        handler: BadRecordHandler,
    ) -> Result<FileSource> {
        let (payload, layout) = split_schema(&schema)?;
        Ok(FileSource {
            decoder: RecordDecoder::new(config.format, payload)?,
            schema,
            config,
            handler,
            layout,
        })
    }

    /// Readable files not in `from`, oldest first.
    async fn new_files(&self, from: &Offsets) -> Result<Vec<Listed>> {
        let dir = self.config.dir.clone();
        let glob = self.config.glob.clone();
        let listed = tokio::task::spawn_blocking(move || list(&dir, &glob))
            .await
            .map_err(|e| EngineError::Internal(format!("file listing task failed: {e}")))??;
        let mut new: Vec<Listed> = listed
            .into_iter()
            .filter(|f| !from.contains_key(&f.name))
            .collect();
        new.sort_by(|a, b| (a.modified, &a.name).cmp(&(b.modified, &b.name)));
        Ok(new)
    }

    /// Decodes the lines of `bytes`, the first of which is line
    /// `first_line` of file `name`, into a batch of the source's schema.
    fn decode_lines(&mut self, name: &str, bytes: &[u8], first_line: i64) -> Result<RecordBatch> {
        let mut payloads = Vec::new();
        let mut line_numbers = Vec::new();
        let text = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        for (i, line) in text.split(|&b| b == b'\n').enumerate() {
            let number = first_line + i as i64;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if (self.config.header && number == 1) || line.trim_ascii().is_empty() {
                continue;
            }
            payloads.push(line);
            line_numbers.push(number);
        }
        let decoded = self.decoder.decode(&payloads)?;
        let bad: Vec<BadRecordInfo<'_>> = decoded
            .bad
            .iter()
            .map(|b| BadRecordInfo {
                payload: payloads[b.index],
                error: &b.error,
                partition: name,
                offset: line_numbers[b.index],
            })
            .collect();
        self.handler.handle(&bad)?;
        let rows = decoded.rows.len();
        let columns: Vec<ArrayRef> = self
            .layout
            .iter()
            .map(|c| match c {
                ColumnSource::Payload(i) => decoded.batch.column(*i).clone(),
                ColumnSource::File => Arc::new(StringArray::from(vec![name; rows])) as ArrayRef,
                ColumnSource::Line => Arc::new(Int64Array::from_iter_values(
                    decoded.rows.iter().map(|&r| line_numbers[r]),
                )),
            })
            .collect();
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

/// Regular files of `dir` that match `glob` and are complete and non-empty.
fn list(dir: &PathBuf, glob: &str) -> Result<Vec<Listed>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        EngineError::external(format!("listing directory {}", dir.display()), e, true)
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if is_ignored(&name) || !glob_matches(glob, &name) {
            continue;
        }
        // A file renamed or removed since the listing is simply not there.
        let Ok(meta) = std::fs::metadata(entry.path()) else {
            continue;
        };
        if meta.is_file() && meta.len() > 0 {
            files.push(Listed {
                name,
                size: meta.len(),
                modified: meta.modified()?,
            });
        }
    }
    Ok(files)
}

fn size_offset(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

/// The files an epoch `[from, to)` reads, with the bytes to read, by name.
fn files_to_read(from: &Offsets, to: &Offsets) -> Result<VecDeque<(String, u64)>> {
    to.iter()
        .filter(|(name, _)| !from.contains_key(*name))
        .map(|(name, &size)| {
            u64::try_from(size)
                .map(|size| (name.clone(), size))
                .map_err(|_| EngineError::Internal(format!("negative size {size} for file {name}")))
        })
        .collect()
}

/// The file being read by a `read` stream.
struct OpenFile {
    name: String,
    file: tokio::fs::File,
    /// Bytes of the planned size not read yet.
    remaining: u64,
    /// Bytes read but not decoded yet: an incomplete last line.
    carry: Vec<u8>,
    /// The number of the first line in `carry`.
    next_line: i64,
}

struct ReadState<'a> {
    source: &'a mut FileSource,
    files: VecDeque<(String, u64)>,
    current: Option<OpenFile>,
}

impl ReadState<'_> {
    /// The next non-empty batch, or `None` when every file is read.
    async fn next_batch(&mut self) -> Result<Option<SourceBatch>> {
        loop {
            let Some(open) = &mut self.current else {
                let Some((name, size)) = self.files.pop_front() else {
                    return Ok(None);
                };
                let path = self.source.config.dir.join(&name);
                let file = tokio::fs::File::open(&path).await.map_err(|e| {
                    EngineError::external(format!("opening {}", path.display()), e, true)
                })?;
                self.current = Some(OpenFile {
                    name,
                    file,
                    remaining: size,
                    carry: Vec::new(),
                    next_line: 1,
                });
                continue;
            };
            let want = open.remaining.min(CHUNK_BYTES as u64) as usize;
            let start = open.carry.len();
            open.carry.resize(start + want, 0);
            open.file
                .read_exact(&mut open.carry[start..])
                .await
                .map_err(|e| {
                    EngineError::external(
                        format!(
                            "reading file {} (it must not shrink or be removed while it may be replayed)",
                            open.name
                        ),
                        e,
                        false,
                    )
                })?;
            open.remaining -= want as u64;
            let last = open.remaining == 0;
            let end = if last {
                open.carry.len()
            } else {
                match open.carry.iter().rposition(|&b| b == b'\n') {
                    Some(i) => i + 1,
                    // A line longer than a chunk: read on.
                    None => continue,
                }
            };
            let chunk: Vec<u8> = open.carry.drain(..end).collect();
            let lines = chunk.iter().filter(|&&b| b == b'\n').count() as i64;
            let (name, first_line) = (open.name.clone(), open.next_line);
            open.next_line += lines;
            if last {
                self.current = None;
            }
            let batch = self.source.decode_lines(&name, &chunk, first_line)?;
            if batch.num_rows() > 0 {
                return Ok(Some(SourceBatch::of_partition(name, batch)));
            }
        }
    }
}

#[async_trait]
impl Source for FileSource {
    fn offset_unit(&self) -> &'static str {
        "bytes"
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn initial_offsets(&mut self) -> Result<Offsets> {
        Ok(Offsets::new())
    }

    /// Each file is read once, whole.
    fn partitions_end_when_read(&self) -> bool {
        true
    }

    async fn plan_epoch(&mut self, from: &Offsets) -> Result<PlannedRange> {
        let mut end = from.clone();
        for file in self
            .new_files(from)
            .await?
            .into_iter()
            .take(self.config.max_files_per_epoch)
        {
            end.insert(file.name, size_offset(file.size));
        }
        Ok(PlannedRange {
            end,
            exhausted: false,
        })
    }

    async fn available_end(&mut self, from: &Offsets) -> Result<Offsets> {
        let mut end = from.clone();
        for file in self.new_files(from).await? {
            end.insert(file.name, size_offset(file.size));
        }
        Ok(end)
    }

    /// The newest file, by the order files are read in (modification
    /// time, then name): its first `rows` rows, cut by the reader.
    async fn sample_range(&mut self, rows: u64) -> Result<SampleRange> {
        let newest = self.new_files(&Offsets::new()).await?.pop();
        let (to, description) = match newest {
            Some(file) => {
                let description =
                    format!("at most {rows} rows of its newest file, '{}'", file.name);
                (
                    Offsets::from([(file.name, size_offset(file.size))]),
                    description,
                )
            }
            None => (
                Offsets::new(),
                format!("no file: {} holds none to read", self.config.dir.display()),
            ),
        };
        Ok(SampleRange {
            from: Offsets::new(),
            to,
            description,
        })
    }

    fn read<'a>(
        &'a mut self,
        from: &'a Offsets,
        to: &'a Offsets,
    ) -> BoxStream<'a, Result<SourceBatch>> {
        let files = match files_to_read(from, to) {
            Ok(files) => files,
            Err(e) => return stream::once(async { Err(e) }).boxed(),
        };
        let state = ReadState {
            source: self,
            files,
            current: None,
        };
        stream::try_unfold(state, |mut state| async move {
            Ok(state.next_batch().await?.map(|batch| (batch, state)))
        })
        .boxed()
    }
}
