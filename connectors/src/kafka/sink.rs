//! [`KafkaSink`]: one JSON object per row, produced with an idempotent
//! producer; each epoch is flushed before `write_epoch` returns, and a
//! failed delivery fails the epoch (retryable when Kafka's error is), so the
//! engine reports it on the query and writes the epoch again.
//!
//! At-least-once: an epoch written again (after a failed delivery or a
//! crash before the engine's commit) produces its rows again. Why there is
//! no exactly-once mode yet: see the module docs of [`super`].
//!
//! Rows are serialised a batch at a time with arrow-json's line writer and
//! the buffer split at newlines (JSON strings escape theirs). The key is the
//! text of the single `key` column, or a JSON object of several. Producing
//! and flushing run on a blocking thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::array::{Array, AsArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::json::LineDelimitedWriter;
use datafusion::arrow::record_batch::RecordBatch;
use eddy_engine::{EngineError, Result, Sink};
use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

use super::config::KafkaSinkConfig;
use super::{is_retryable, kafka_error};

/// Collects the outcome of deliveries between two resets.
#[derive(Default)]
pub struct DeliveryTracker {
    failed: AtomicU64,
    first_error: Mutex<Option<KafkaError>>,
}

impl DeliveryTracker {
    fn reset(&self) {
        self.failed.store(0, Ordering::SeqCst);
        *self.first_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    fn outcome(&self) -> Option<(u64, KafkaError)> {
        let failed = self.failed.load(Ordering::SeqCst);
        let first = self
            .first_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        first.map(|e| (failed, e))
    }
}

impl ClientContext for DeliveryTracker {}

impl ProducerContext for DeliveryTracker {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result {
            self.failed.fetch_add(1, Ordering::SeqCst);
            self.first_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert_with(|| error.clone());
        }
    }
}

/// Message keys of one batch.
enum Keys {
    None,
    /// One key column, as text.
    Text(StringArray),
    /// Several key columns, one JSON object per row.
    Json(Vec<u8>),
}

/// One batch serialised.
struct EncodedBatch {
    values: Vec<u8>,
    keys: Keys,
}

pub struct KafkaSink {
    /// `kafka sink 'name'`, for errors.
    context: String,
    config: KafkaSinkConfig,
    producer: Arc<BaseProducer<DeliveryTracker>>,
    /// Indexes of the key columns, set by `open`.
    key_columns: Vec<usize>,
}

impl KafkaSink {
    pub fn new(name: &str, config: KafkaSinkConfig) -> Result<Self> {
        let context = format!("kafka sink '{name}'");
        let producer: BaseProducer<DeliveryTracker> = config
            .client_config()
            .create_with_context(DeliveryTracker::default())
            .map_err(|e| EngineError::Config(format!("{context}: {e}")))?;
        Ok(KafkaSink {
            context,
            config,
            producer: Arc::new(producer),
            key_columns: Vec::new(),
        })
    }

    fn encode(&self, batch: &RecordBatch) -> Result<EncodedBatch> {
        let keys = match self.key_columns.as_slice() {
            [] => Keys::None,
            [single] => {
                let column = batch.column(*single);
                let text = match column.data_type() {
                    DataType::Utf8 => column.clone(),
                    _ => cast(column, &DataType::Utf8)?,
                };
                Keys::Text(text.as_string::<i32>().clone())
            }
            several => Keys::Json(json_lines(&batch.project(several)?)?),
        };
        Ok(EncodedBatch {
            values: json_lines(batch)?,
            keys,
        })
    }
}

fn json_lines(batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut writer = LineDelimitedWriter::new(Vec::new());
    writer.write(batch)?;
    writer.finish()?;
    Ok(writer.into_inner())
}

/// Produces every row and waits for all deliveries. Blocking.
fn produce_all(
    producer: &BaseProducer<DeliveryTracker>,
    config: &KafkaSinkConfig,
    context: &str,
    batches: &[EncodedBatch],
) -> Result<u64> {
    producer.context().reset();
    let mut rows = 0u64;
    for batch in batches {
        let mut json_keys = match &batch.keys {
            Keys::Json(buf) => Some(buf.split(|&b| b == b'\n')),
            _ => None,
        };
        let values = batch
            .values
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty());
        for (row, value) in values.enumerate() {
            let key: Option<&[u8]> = match &batch.keys {
                Keys::None => None,
                Keys::Text(keys) => keys.is_valid(row).then(|| keys.value(row).as_bytes()),
                Keys::Json(_) => json_keys.as_mut().and_then(|k| k.next()),
            };
            let mut record = BaseRecord::to(&config.topic).payload(value);
            if let Some(key) = key {
                record = record.key(key);
            }
            send(producer, context, record)?;
            rows += 1;
        }
    }
    producer
        .flush(config.timeout)
        .map_err(|e| kafka_error(format!("{context}: waiting for deliveries"), &e))?;
    if let Some((failed, error)) = producer.context().outcome() {
        return Err(EngineError::external(
            context,
            format!("{failed} of {rows} messages were not delivered: {error}"),
            is_retryable(&error),
        ));
    }
    Ok(rows)
}

/// Enqueues one message, waiting while librdkafka's queue is full.
fn send<'a>(
    producer: &BaseProducer<DeliveryTracker>,
    context: &str,
    mut record: BaseRecord<'a, [u8], [u8]>,
) -> Result<()> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                producer.poll(std::time::Duration::from_millis(50));
            }
            Err((e, _)) => return Err(kafka_error(format!("{context}: producing"), &e)),
        }
    }
}

#[async_trait]
impl Sink for KafkaSink {
    async fn check(&mut self, schema: SchemaRef) -> Result<()> {
        self.open(schema).await
    }

    /// Finds the key columns in the output; nothing changes in Kafka.
    async fn open(&mut self, schema: SchemaRef) -> Result<()> {
        self.key_columns = self
            .config
            .key
            .iter()
            .map(|name| {
                schema.index_of(name).map_err(|_| {
                    let columns: Vec<&str> =
                        schema.fields().iter().map(|f| f.name().as_str()).collect();
                    EngineError::Config(format!(
                        "{}: key column '{name}' is not an output column; expected one of {}",
                        self.context,
                        columns.join(", ")
                    ))
                })
            })
            .collect::<Result<_>>()?;
        Ok(())
    }

    async fn write_epoch(&mut self, _epoch: u64, batches: &[RecordBatch]) -> Result<u64> {
        let encoded = batches
            .iter()
            .filter(|b| b.num_rows() > 0)
            .map(|b| self.encode(b))
            .collect::<Result<Vec<_>>>()?;
        if encoded.is_empty() {
            return Ok(0);
        }
        let producer = self.producer.clone();
        let config = self.config.clone();
        let context = self.context.clone();
        tokio::task::spawn_blocking(move || produce_all(&producer, &config, &context, &encoded))
            .await
            .map_err(|e| EngineError::Internal(format!("kafka produce task failed: {e}")))?
    }
}
