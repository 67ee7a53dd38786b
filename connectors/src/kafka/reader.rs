//! Reading one epoch's offset ranges off a consumer.
//!
//! [`RangeReader::fill`] is blocking (librdkafka's poll) and runs on a
//! blocking thread; it copies up to a chunk's worth of messages into one
//! [`MessageChunk`] (payloads and keys appended to two byte buffers, so a
//! chunk costs a handful of allocations, not one per message). The source
//! then decodes the chunk's payloads in one call and adds the metadata
//! columns with [`MessageChunk::metadata_array`].
//!
//! A partition is done when a message at or past `to - 1` has been seen, or
//! when the consumer's position has reached `to` (the range ends in records
//! the consumer does not hand out, such as transaction markers). Messages
//! below `from` or at or past `to` are dropped, so the chunk holds exactly
//! the range whatever librdkafka prefetched.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{
    ArrayRef, BinaryArray, Int32Array, Int64Array, StringArray, TimestampMillisecondArray,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use eddy_engine::{EngineError, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::config::MetadataColumn;
use super::kafka_error;

const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Messages copied out of the consumer, column by column.
#[derive(Debug, Default)]
pub struct MessageChunk {
    payloads: Vec<u8>,
    /// `payload_ends[i]` is the end of message `i`'s payload in `payloads`.
    payload_ends: Vec<usize>,
    keys: Vec<u8>,
    key_ends: Vec<i32>,
    key_valid: Vec<bool>,
    pub partitions: Vec<i32>,
    pub offsets: Vec<i64>,
    timestamps: Vec<Option<i64>>,
}

impl MessageChunk {
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Message `i`'s payload (empty for a tombstone).
    pub fn payload(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.payload_ends[i - 1] };
        &self.payloads[start..self.payload_ends[i]]
    }

    pub fn payloads(&self) -> Vec<&[u8]> {
        (0..self.len()).map(|i| self.payload(i)).collect()
    }

    fn push<M: Message>(&mut self, message: &M) {
        self.payloads
            .extend_from_slice(message.payload().unwrap_or_default());
        self.payload_ends.push(self.payloads.len());
        if let Some(key) = message.key() {
            self.keys.extend_from_slice(key);
        }
        self.key_valid.push(message.key().is_some());
        self.key_ends.push(self.keys.len() as i32);
        self.partitions.push(message.partition());
        self.offsets.push(message.offset());
        self.timestamps.push(message.timestamp().to_millis());
    }

    /// The values of a metadata column for the given message indexes (the
    /// rows the decoder produced), in [`MetadataColumn::native_type`].
    pub fn metadata_array(
        &self,
        column: MetadataColumn,
        text_key: bool,
        rows: &[usize],
    ) -> ArrayRef {
        match column {
            MetadataColumn::Partition => Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|&i| self.partitions[i]),
            )),
            MetadataColumn::Offset => Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|&i| self.offsets[i]),
            )),
            MetadataColumn::Timestamp => Arc::new(TimestampMillisecondArray::from_iter(
                rows.iter().map(|&i| self.timestamps[i]),
            )),
            MetadataColumn::Key => self.keys_array(text_key, rows),
        }
    }

    fn keys_array(&self, text: bool, rows: &[usize]) -> ArrayRef {
        let mut values = Vec::new();
        let mut ends = Vec::with_capacity(rows.len() + 1);
        ends.push(0i32);
        for &i in rows {
            let start = if i == 0 {
                0
            } else {
                self.key_ends[i - 1] as usize
            };
            values.extend_from_slice(&self.keys[start..self.key_ends[i] as usize]);
            ends.push(values.len() as i32);
        }
        let offsets = OffsetBuffer::new(ScalarBuffer::from(ends));
        let nulls = NullBuffer::from_iter(rows.iter().map(|&i| self.key_valid[i]));
        let nulls = (nulls.null_count() > 0).then_some(nulls);
        if text {
            // Keys that are not UTF-8 become NULL rather than failing the
            // whole batch.
            match StringArray::try_new(offsets.clone(), values.clone().into(), nulls.clone()) {
                Ok(a) => Arc::new(a),
                Err(_) => Arc::new(StringArray::from_iter(rows.iter().map(|&i| {
                    let start = if i == 0 {
                        0
                    } else {
                        self.key_ends[i - 1] as usize
                    };
                    let key = &self.keys[start..self.key_ends[i] as usize];
                    self.key_valid[i]
                        .then(|| std::str::from_utf8(key).ok())
                        .flatten()
                }))),
            }
        } else {
            Arc::new(BinaryArray::new(offsets, values.into(), nulls))
        }
    }
}

/// What is left to read of one partition.
#[derive(Debug, Clone, Copy)]
struct Remaining {
    /// The next offset wanted.
    next: i64,
    /// End of the range (exclusive).
    to: i64,
}

/// Reads the ranges of one epoch; owned by one blocking call at a time.
pub struct RangeReader {
    consumer: Arc<BaseConsumer>,
    topic: String,
    /// `kafka source 'name'`, for errors.
    context: String,
    timeout: Duration,
    pending: BTreeMap<i32, Remaining>,
    /// Last time a wanted message arrived.
    last_progress: Instant,
    last_error: Option<String>,
}

impl RangeReader {
    /// Assigns every partition with something to read at its `from`
    /// offset (`None`: a partition new since the last epoch, read from its
    /// beginning).
    pub fn start(
        consumer: Arc<BaseConsumer>,
        topic: &str,
        context: &str,
        timeout: Duration,
        ranges: &[(i32, Option<i64>, i64)],
    ) -> Result<Self> {
        let mut assignment = TopicPartitionList::new();
        let mut pending = BTreeMap::new();
        for &(partition, from, to) in ranges {
            if to <= from.unwrap_or(0) {
                continue;
            }
            let offset = from.map_or(Offset::Beginning, Offset::Offset);
            assignment
                .add_partition_offset(topic, partition, offset)
                .map_err(|e| kafka_error(context, &e))?;
            pending.insert(
                partition,
                Remaining {
                    next: from.unwrap_or(0),
                    to,
                },
            );
        }
        if !pending.is_empty() {
            // Start from a clean assignment: an earlier read that failed
            // half-way left its partitions and positions behind.
            let _ = consumer.unassign();
            // librdkafka keeps a partition paused across assignments, and
            // the previous read paused the partitions it finished. Resume
            // before assigning: starting a partition wakes the fetcher,
            // resuming one does not, so a partition resumed after its
            // start would wait for the fetcher's next wake-up (up to 1 s).
            consumer
                .resume(&assignment)
                .map_err(|e| kafka_error(format!("{context}: resuming partitions"), &e))?;
            consumer
                .assign(&assignment)
                .map_err(|e| kafka_error(format!("{context}: assigning partitions"), &e))?;
        }
        Ok(RangeReader {
            consumer,
            topic: topic.to_string(),
            context: context.to_string(),
            timeout,
            pending,
            last_progress: Instant::now(),
            last_error: None,
        })
    }

    pub fn is_done(&self) -> bool {
        self.pending.is_empty()
    }

    /// Polls until `chunk` holds `max` messages or every range is read.
    /// Blocking.
    pub fn fill(&mut self, chunk: &mut MessageChunk, max: usize) -> Result<()> {
        while chunk.len() < max && !self.pending.is_empty() {
            match self.consumer.poll(POLL_INTERVAL) {
                Some(Ok(message)) => {
                    let partition = message.partition();
                    let offset = message.offset();
                    if message.topic() != self.topic {
                        continue;
                    }
                    let Some(range) = self.pending.get_mut(&partition) else {
                        continue;
                    };
                    if offset < range.next {
                        continue;
                    }
                    if offset < range.to {
                        chunk.push(&message);
                        range.next = offset + 1;
                        self.last_progress = Instant::now();
                    }
                    if offset + 1 >= range.to {
                        self.finish(partition);
                    }
                }
                Some(Err(e)) => self.last_error = Some(e.to_string()),
                None => self.check_positions()?,
            }
        }
        if self.pending.is_empty() {
            // Stop fetching in the background until the next epoch.
            let _ = self.consumer.unassign();
        }
        Ok(())
    }

    fn finish(&mut self, partition: i32) {
        self.pending.remove(&partition);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&self.topic, partition);
        let _ = self.consumer.pause(&tpl);
    }

    /// Ends partitions whose position passed the range without a message
    /// at its last offset, and fails when nothing arrived for too long.
    fn check_positions(&mut self) -> Result<()> {
        if let Ok(positions) = self.consumer.position() {
            for element in positions.elements_for_topic(&self.topic) {
                let partition = element.partition();
                if let (Offset::Offset(position), Some(range)) =
                    (element.offset(), self.pending.get(&partition))
                    && position >= range.to
                {
                    self.finish(partition);
                }
            }
        }
        if self.pending.is_empty() || self.last_progress.elapsed() < self.timeout {
            return Ok(());
        }
        let (partition, range) = self.pending.iter().next().expect("pending is not empty");
        Err(EngineError::external(
            &self.context,
            format!(
                "no record from partition {partition} at offset {} (reading up to {}) \
                 within {:?}{}",
                range.next,
                range.to,
                self.timeout,
                self.last_error
                    .as_ref()
                    .map(|e| format!("; last error: {e}"))
                    .unwrap_or_default()
            ),
            true,
        ))
    }
}
