//! [`KafkaSource`]: planning epochs from partition watermarks and reading
//! exactly the planned ranges (the protocol is in the module above).
//!
//! Every call into librdkafka that may block (metadata, watermarks,
//! offsets for times, polling) runs on a blocking thread, so a slow broker
//! never stalls the runtime. Reading polls a chunk of up to
//! [`CHUNK_MESSAGES`] messages per blocking call, then decodes the chunk's
//! payloads with one decoder call: no per-message async work.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use eddy_engine::{
    EngineError, Offsets, PlannedRange, Result, RowPartitions, SampleRange, Source, SourceBatch,
    SourceContext,
};
use futures::stream::{self, BoxStream, StreamExt};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use super::config::{ColumnSource, KafkaSourceConfig, StartupMode};
use super::kafka_error;
use super::reader::{MessageChunk, RangeReader};
use crate::format::{BadRecordHandler, BadRecordInfo, RecordDecoder};

/// Messages decoded per batch.
pub const CHUNK_MESSAGES: usize = 8192;

/// Low and high watermark of each partition of the topic.
type Watermarks = BTreeMap<i32, (i64, i64)>;

/// One query's reader of a Kafka topic.
pub struct KafkaSource {
    /// `kafka source 'name'`, for errors.
    context: String,
    schema: SchemaRef,
    config: KafkaSourceConfig,
    /// Reads the ranges; shared with the blocking tasks that poll it.
    consumer: Arc<BaseConsumer>,
    /// Asks for metadata, watermarks and offsets for times. A client of
    /// its own: a broker answers the requests of one connection in order,
    /// so on the reading consumer's connection these would wait behind a
    /// fetch the broker holds for up to `fetch.wait.max.ms`.
    planner: Arc<BaseConsumer>,
    decoder: RecordDecoder,
    bad_records: BadRecordHandler,
}

impl KafkaSource {
    pub fn new(
        name: &str,
        schema: SchemaRef,
        config: KafkaSourceConfig,
        ctx: SourceContext,
    ) -> Result<Self> {
        let context = format!("kafka source '{name}'");
        let client = || -> Result<Arc<BaseConsumer>> {
            let consumer: BaseConsumer = config
                .client_config(&ctx.query)
                .create()
                .map_err(|e| EngineError::Config(format!("{context}: {e}")))?;
            Ok(Arc::new(consumer))
        };
        let (consumer, planner) = (client()?, client()?);
        let decoder = RecordDecoder::new(config.format, config.payload_schema.clone())?;
        let bad_records = BadRecordHandler::new(config.on_error.clone(), name, &ctx)?;
        Ok(KafkaSource {
            context,
            schema,
            config,
            consumer,
            planner,
            decoder,
            bad_records,
        })
    }

    /// Runs `f` with the planning client on a blocking thread.
    async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&BaseConsumer, &str, &str, Duration) -> Result<T> + Send + 'static,
    {
        let consumer = self.planner.clone();
        let topic = self.config.topic.clone();
        let context = self.context.clone();
        let timeout = self.config.timeout;
        tokio::task::spawn_blocking(move || f(&consumer, &topic, &context, timeout))
            .await
            .map_err(|e| EngineError::Internal(format!("kafka blocking task failed: {e}")))?
    }

    async fn watermarks(&self) -> Result<Watermarks> {
        self.blocking(fetch_watermarks).await
    }

    /// The ranges `[from, to)` to read per partition; `from` is `None` for
    /// a partition added since `from` was taken.
    fn ranges(&self, from: &Offsets, to: &Offsets) -> Result<Vec<(i32, Option<i64>, i64)>> {
        to.iter()
            .map(|(p, &end)| Ok((parse_partition(p)?, from.get(p).copied(), end)))
            .collect()
    }

    /// Decodes one chunk into a batch of the declared schema, handing the
    /// bad records to the `on_error` policy. The batch says which partition
    /// each row came from.
    fn decode(&mut self, chunk: &MessageChunk) -> Result<SourceBatch> {
        let payloads = chunk.payloads();
        let decoded = self.decoder.decode(&payloads)?;
        if !decoded.bad.is_empty() {
            let partitions: Vec<String> = decoded
                .bad
                .iter()
                .map(|b| chunk.partitions[b.index].to_string())
                .collect();
            let infos: Vec<BadRecordInfo<'_>> = decoded
                .bad
                .iter()
                .zip(&partitions)
                .map(|(b, partition)| BadRecordInfo {
                    payload: payloads[b.index],
                    error: &b.error,
                    partition,
                    offset: chunk.offsets[b.index],
                })
                .collect();
            self.bad_records.handle(&infos)?;
        }
        let columns = self
            .config
            .columns
            .iter()
            .zip(self.schema.fields())
            .map(|(source, field)| match source {
                ColumnSource::Payload(i) => Ok(decoded.batch.column(*i).clone()),
                ColumnSource::Metadata(meta) => {
                    let text_key =
                        matches!(field.data_type(), DataType::Utf8 | DataType::LargeUtf8);
                    let array = chunk.metadata_array(*meta, text_key, &decoded.rows);
                    conform(array, field.data_type())
                }
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(decoded.rows.len()));
        Ok(SourceBatch {
            batch: RecordBatch::try_new_with_options(self.schema.clone(), columns, &options)?,
            partitions: row_partitions(&chunk.partitions, &decoded.rows),
        })
    }
}

/// The partition of each decoded row (`rows` are the chunk's messages that
/// decoded): a chunk holds messages of any of the assigned partitions.
fn row_partitions(partitions: &[i32], rows: &[usize]) -> RowPartitions {
    let mut ids: Vec<i32> = Vec::new();
    let rows = rows
        .iter()
        .map(|&r| {
            let p = partitions[r];
            match ids.iter().position(|&q| q == p) {
                Some(i) => i as u32,
                None => {
                    ids.push(p);
                    (ids.len() - 1) as u32
                }
            }
        })
        .collect();
    match ids.as_slice() {
        [one] => RowPartitions::One(one.to_string()),
        _ => RowPartitions::PerRow {
            names: ids.iter().map(i32::to_string).collect(),
            rows,
        },
    }
}

fn conform(array: ArrayRef, to: &DataType) -> Result<ArrayRef> {
    if array.data_type() == to {
        Ok(array)
    } else {
        Ok(cast(&array, to)?)
    }
}

fn parse_partition(p: &str) -> Result<i32> {
    p.parse().map_err(|_| {
        EngineError::Internal(format!("kafka offsets name partition '{p}', not a number"))
    })
}

fn offsets_of(map: impl IntoIterator<Item = (i32, i64)>) -> Offsets {
    map.into_iter().map(|(p, o)| (p.to_string(), o)).collect()
}

/// The partitions of `topic` and their watermarks. Blocking.
fn fetch_watermarks(
    consumer: &BaseConsumer,
    topic: &str,
    context: &str,
    timeout: Duration,
) -> Result<Watermarks> {
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| kafka_error(format!("{context}: fetching metadata"), &e))?;
    let Some(meta) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Err(EngineError::external(
            context,
            format!("topic '{topic}' not found"),
            true,
        ));
    };
    if let Some(err) = meta.error() {
        let code: RDKafkaErrorCode = err.into();
        return Err(EngineError::external(
            context,
            format!("topic '{topic}': {code}"),
            true,
        ));
    }
    if meta.partitions().is_empty() {
        return Err(EngineError::external(
            context,
            format!("topic '{topic}' has no partitions"),
            true,
        ));
    }
    meta.partitions()
        .iter()
        .map(|p| {
            let marks = consumer
                .fetch_watermarks(topic, p.id(), timeout)
                .map_err(|e| {
                    kafka_error(format!("{context}: watermarks of partition {}", p.id()), &e)
                })?;
            Ok((p.id(), marks))
        })
        .collect()
}

/// The first offset at or after `millis` per partition (the high
/// watermark where there is none). Blocking.
fn offsets_for_time(
    consumer: &BaseConsumer,
    topic: &str,
    context: &str,
    timeout: Duration,
    millis: i64,
) -> Result<Offsets> {
    let marks = fetch_watermarks(consumer, topic, context, timeout)?;
    let mut query = TopicPartitionList::new();
    for &p in marks.keys() {
        query
            .add_partition_offset(topic, p, Offset::Offset(millis))
            .map_err(|e| kafka_error(context, &e))?;
    }
    let found = consumer
        .offsets_for_times(query, timeout)
        .map_err(|e| kafka_error(format!("{context}: offsets for timestamp {millis}"), &e))?;
    Ok(offsets_of(marks.iter().map(|(&p, &(_, high))| {
        let offset = found
            .find_partition(topic, p)
            .and_then(|e| match e.offset() {
                Offset::Offset(o) if o >= 0 => Some(o),
                _ => None,
            })
            .unwrap_or(high);
        (p, offset)
    })))
}

/// The end of each partition's next epoch: `from` (or the low watermark of
/// a new partition) plus its share of `max_records`, capped by the high
/// watermark. Partitions gone from the metadata keep their position.
pub fn plan_ends(from: &Offsets, marks: &Watermarks, max_records: i64) -> Offsets {
    let n = marks.len().max(1) as i64;
    let share = max_records / n + i64::from(max_records % n != 0);
    let mut end = from.clone();
    for (&p, &(low, high)) in marks {
        let start = from.get(&p.to_string()).copied().unwrap_or(low);
        end.insert(
            p.to_string(),
            high.min(start.saturating_add(share)).max(start),
        );
    }
    end
}

/// The range of a look at the topic: from each partition's `starts` entry
/// (clamped into its watermarks; the low watermark where absent) up to
/// `rows` records, capped by the high watermark as observed now.
pub fn sample_ends(starts: &Offsets, marks: &Watermarks, rows: i64) -> (Offsets, Offsets) {
    let mut from = Offsets::new();
    let mut to = Offsets::new();
    for (&p, &(low, high)) in marks {
        let start = starts
            .get(&p.to_string())
            .copied()
            .unwrap_or(low)
            .clamp(low, high.max(low));
        from.insert(p.to_string(), start);
        to.insert(
            p.to_string(),
            high.min(start.saturating_add(rows)).max(start),
        );
    }
    (from, to)
}

#[async_trait]
impl Source for KafkaSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn initial_offsets(&mut self) -> Result<Offsets> {
        match self.config.startup {
            StartupMode::Earliest => Ok(offsets_of(
                self.watermarks()
                    .await?
                    .into_iter()
                    .map(|(p, (low, _))| (p, low)),
            )),
            StartupMode::Latest => Ok(offsets_of(
                self.watermarks()
                    .await?
                    .into_iter()
                    .map(|(p, (_, high))| (p, high)),
            )),
            StartupMode::Timestamp(millis) => {
                self.blocking(move |c, topic, context, timeout| {
                    offsets_for_time(c, topic, context, timeout, millis)
                })
                .await
            }
        }
    }

    async fn plan_epoch(&mut self, from: &Offsets) -> Result<PlannedRange> {
        let marks = self.watermarks().await?;
        Ok(PlannedRange {
            end: plan_ends(from, &marks, self.config.max_records_per_epoch),
            exhausted: false,
        })
    }

    async fn available_end(&mut self, from: &Offsets) -> Result<Offsets> {
        let marks = self.watermarks().await?;
        Ok(plan_ends(from, &marks, i64::MAX))
    }

    /// `scan.startup.mode` decides where, as for a query starting fresh:
    /// `latest` (the default) takes the last `rows` records of each
    /// partition, `earliest` the first `rows` kept, `timestamp` the `rows`
    /// from the first at or after the timestamp. The end is the high
    /// watermark as observed now: a look never waits for new records.
    async fn sample_range(&mut self, rows: u64) -> Result<SampleRange> {
        let n = i64::try_from(rows).unwrap_or(i64::MAX);
        let marks = self.watermarks().await?;
        let (starts, which) = match self.config.startup {
            StartupMode::Latest => (
                offsets_of(
                    marks
                        .iter()
                        .map(|(&p, &(low, high))| (p, high.saturating_sub(n).max(low))),
                ),
                format!("the last {rows} records"),
            ),
            StartupMode::Earliest => (
                Offsets::new(),
                format!("the first {rows} records (scan.startup.mode = 'earliest')"),
            ),
            StartupMode::Timestamp(millis) => (
                self.blocking(move |c, topic, context, timeout| {
                    offsets_for_time(c, topic, context, timeout, millis)
                })
                .await?,
                format!("{rows} records from scan.startup.timestamp_millis = {millis}"),
            ),
        };
        let (from, to) = sample_ends(&starts, &marks, n);
        let partitions = match marks.len() {
            1 => "of its one partition".to_string(),
            n => format!("of each of its {n} partitions"),
        };
        Ok(SampleRange {
            from,
            to,
            description: format!("at most {which} {partitions}"),
        })
    }

    fn read<'a>(
        &'a mut self,
        from: &'a Offsets,
        to: &'a Offsets,
    ) -> BoxStream<'a, Result<SourceBatch>> {
        let ranges = match self.ranges(from, to) {
            Ok(r) => r,
            Err(e) => return stream::once(async { Err(e) }).boxed(),
        };
        let state = ReadState::NotStarted(ranges);
        stream::try_unfold((self, state), |(source, mut state)| async move {
            loop {
                let reader = match state {
                    ReadState::Done => return Ok(None),
                    // Assigning is local to librdkafka: no need for a
                    // blocking thread.
                    ReadState::NotStarted(ranges) => RangeReader::start(
                        source.consumer.clone(),
                        &source.config.topic,
                        &source.context,
                        source.config.timeout,
                        &ranges,
                    )?,
                    ReadState::Reading(reader) => reader,
                };
                if reader.is_done() {
                    return Ok(None);
                }
                let (reader, chunk) = tokio::task::spawn_blocking(move || {
                    let mut reader = reader;
                    let mut chunk = MessageChunk::default();
                    reader
                        .fill(&mut chunk, CHUNK_MESSAGES)
                        .map(|()| (reader, chunk))
                })
                .await
                .map_err(|e| EngineError::Internal(format!("kafka read task failed: {e}")))??;
                state = if reader.is_done() {
                    ReadState::Done
                } else {
                    ReadState::Reading(reader)
                };
                if chunk.is_empty() {
                    continue;
                }
                let batch = source.decode(&chunk)?;
                if batch.batch.num_rows() > 0 {
                    return Ok(Some((batch, (source, state))));
                }
            }
        })
        .boxed()
    }
}

enum ReadState {
    NotStarted(Vec<(i32, Option<i64>, i64)>),
    Reading(RangeReader),
    Done,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_is_clamped_into_each_partition() {
        // Partition 0 holds 10..50, 1 is empty at 7, 2 holds 0..3.
        let marks = Watermarks::from([(0, (10, 50)), (1, (7, 7)), (2, (0, 3))]);
        let latest = offsets_of([(0, 45), (1, 7), (2, 0)]);
        let (from, to) = sample_ends(&latest, &marks, 5);
        assert_eq!(from, offsets_of([(0, 45), (1, 7), (2, 0)]));
        assert_eq!(to, offsets_of([(0, 50), (1, 7), (2, 3)]));
        // Earliest: no starts, so every partition from its low watermark;
        // a timestamp offset below the low watermark is clamped up.
        let (from, to) = sample_ends(&offsets_of([(0, 2)]), &marks, 5);
        assert_eq!(from, offsets_of([(0, 10), (1, 7), (2, 0)]));
        assert_eq!(to, offsets_of([(0, 15), (1, 7), (2, 3)]));
    }

    #[test]
    fn each_decoded_row_keeps_its_partition() {
        // Messages of partitions 2, 0, 2, 1; the second did not decode.
        let partitions = [2, 0, 2, 1];
        assert_eq!(
            row_partitions(&partitions, &[0, 2, 3]),
            RowPartitions::PerRow {
                names: vec!["2".into(), "1".into()],
                rows: vec![0, 0, 1],
            }
        );
        assert_eq!(
            row_partitions(&partitions, &[0, 2]),
            RowPartitions::One("2".into())
        );
    }
}
