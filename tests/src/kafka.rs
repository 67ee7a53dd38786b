//! A Kafka for tests: librdkafka's in-process mock cluster, a real Kafka
//! protocol endpoint on a localhost port, so an Eddy server started by the
//! test connects to it like to any broker. It lives as long as the
//! [`TestKafka`] value (keep it alive for the whole test).
//!
//! The mock broker does not implement CreateTopics/CreatePartitions or
//! offset lookups by time; topics are created through the mock API.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
use rdkafka::{Offset, TopicPartitionList};

/// One message to produce.
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    /// `None`: chosen by the key's hash.
    pub partition: Option<i32>,
    pub key: Option<String>,
    pub payload: String,
    /// Milliseconds since 1970; `None`: the time of producing.
    pub timestamp_ms: Option<i64>,
}

/// One message read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedMessage {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub payload: Option<String>,
}

/// Produces `messages` to `topic` of the broker at `bootstrap` in order and
/// waits until all are acknowledged. Needs no [`TestKafka`] handle, so a
/// test can produce from a thread of its own while the cluster lives.
pub fn produce_to(bootstrap: &str, topic: &str, messages: &[OutgoingMessage]) -> Result<()> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    for m in messages {
        let mut record = BaseRecord::<str, str>::to(topic).payload(&m.payload);
        if let Some(key) = &m.key {
            record = record.key(key);
        }
        if let Some(p) = m.partition {
            record = record.partition(p);
        }
        if let Some(ts) = m.timestamp_ms {
            record = record.timestamp(ts);
        }
        producer
            .send(record)
            .map_err(|(e, _)| e)
            .with_context(|| format!("producing to {topic}"))?;
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(Duration::from_secs(30))
        .with_context(|| format!("flushing messages to {topic}"))
}

pub struct TestKafka {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl TestKafka {
    /// A one-broker cluster.
    pub fn start() -> Result<TestKafka> {
        Ok(TestKafka {
            cluster: MockCluster::new(1).context("starting the Kafka mock cluster")?,
        })
    }

    /// `host:port` of the broker, for `'properties.bootstrap.servers'`.
    pub fn bootstrap_servers(&self) -> String {
        self.cluster.bootstrap_servers()
    }

    /// Takes the (only) broker down: clients see connection failures until
    /// [`TestKafka::broker_up`].
    pub fn broker_down(&self) -> Result<()> {
        self.cluster
            .broker_down(1)
            .context("taking the mock broker down")
    }

    pub fn broker_up(&self) -> Result<()> {
        self.cluster
            .broker_up(1)
            .context("bringing the mock broker up")
    }

    pub fn create_topic(&self, topic: &str, partitions: i32) -> Result<()> {
        self.cluster
            .create_topic(topic, partitions, 1)
            .with_context(|| format!("creating topic {topic}"))
    }

    /// Produces `messages` in order and waits until all are acknowledged.
    pub fn produce(&self, topic: &str, messages: &[OutgoingMessage]) -> Result<()> {
        produce_to(&self.bootstrap_servers(), topic, messages)
    }

    /// Every message of `topic` up to its high watermarks, ordered by
    /// partition and offset.
    pub fn consume_all(&self, topic: &str, timeout: Duration) -> Result<Vec<ConsumedMessage>> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap_servers())
            .set("group.id", "eddy-tests-reader")
            .set("enable.auto.commit", "false")
            .create()?;
        let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .map(|t| t.partitions().iter().map(|p| p.id()).collect())
            .unwrap_or_default();
        let mut assignment = TopicPartitionList::new();
        let mut expected = 0;
        for &p in &partitions {
            assignment.add_partition_offset(topic, p, Offset::Beginning)?;
            let (low, high) = consumer.fetch_watermarks(topic, p, timeout)?;
            expected += high - low;
        }
        consumer.assign(&assignment)?;
        let deadline = Instant::now() + timeout;
        let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
        let mut out = Vec::new();
        while (out.len() as i64) < expected {
            if Instant::now() > deadline {
                bail!(
                    "read {} of {expected} messages of {topic} within {timeout:?}",
                    out.len()
                );
            }
            if let Some(message) = consumer.poll(Duration::from_millis(100)) {
                let m = message?;
                out.push(ConsumedMessage {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: text(m.key()),
                    payload: text(m.payload()),
                });
            }
        }
        out.sort_by_key(|m| (m.partition, m.offset));
        Ok(out)
    }
}
