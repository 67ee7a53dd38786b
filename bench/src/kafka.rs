//! The Kafka and JSON scenarios: messages like `{"key": 42, "value": 7,
//! "ts": "2026-01-01 00:00:01.234"}` (10,000 keys, event time 100 µs apart
//! with up to 2 s of disorder), produced into librdkafka's mock cluster once
//! (16 partitions) and read by every run.

use std::time::{Duration, Instant};

use anyhow::Context;
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use eddy_connectors::format::{Format, RecordDecoder};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
use rdkafka::{Offset, TopicPartitionList};

const TOPIC: &str = "bench-events";
/// The mock broker keeps only about 4 MB per partition (older messages are
/// deleted), so the messages are spread over enough partitions to keep all.
const PARTITIONS: i32 = 16;

/// `rows` JSON messages, deterministic.
pub fn json_messages(rows: u64) -> Vec<String> {
    let start = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    (0..rows)
        .map(|i| {
            let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i >> 17);
            let key = h % 10_000 + 1;
            let value = (h >> 20) % 1_000_000;
            let jitter = ((h >> 40) % 2_000_000) as i64;
            let micros = i as i64 * 100 - jitter;
            let ts = start + chrono::TimeDelta::microseconds(micros);
            format!(
                r#"{{"key": {key}, "value": {value}, "ts": "{}"}}"#,
                ts.format("%Y-%m-%d %H:%M:%S%.6f")
            )
        })
        .collect()
}

/// Decodes the messages into Arrow in chunks of 8,192 and reports MB/s.
pub fn report_json_decode(messages: &[String], repeat: usize) -> anyhow::Result<()> {
    let schema = std::sync::Arc::new(Schema::new(vec![
        Field::new("key", DataType::Int64, true),
        Field::new("value", DataType::Int64, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
    ]));
    let bytes: usize = messages.iter().map(|m| m.len()).sum();
    let payloads: Vec<&[u8]> = messages.iter().map(|m| m.as_bytes()).collect();
    let mut rates = Vec::new();
    for _ in 0..repeat {
        let mut decoder = RecordDecoder::new(Format::Json, schema.clone())?;
        let started = Instant::now();
        let mut rows = 0;
        for chunk in payloads.chunks(8192) {
            let decoded = decoder.decode(chunk)?;
            anyhow::ensure!(
                decoded.bad.is_empty(),
                "bad records: {:?}",
                decoded.bad.first()
            );
            rows += decoded.batch.num_rows();
        }
        let secs = started.elapsed().as_secs_f64();
        anyhow::ensure!(
            rows == messages.len(),
            "decoded {rows} of {} rows",
            messages.len()
        );
        rates.push(bytes as f64 / secs / 1e6);
        println!(
            "  decoded {rows} messages ({:.1} MB) in {secs:.2} s",
            bytes as f64 / 1e6
        );
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "json-decode: median {:.0} MB/s ({:.0} messages/s) over {repeat} runs",
        rates[rates.len() / 2],
        rates[rates.len() / 2] * 1e6 / (bytes as f64 / messages.len() as f64)
    );
    Ok(())
}

/// A mock cluster holding the messages.
pub struct Cluster {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl Cluster {
    pub fn with_messages(messages: &[String]) -> anyhow::Result<Cluster> {
        let cluster = MockCluster::new(1).context("starting the mock cluster")?;
        cluster.create_topic(TOPIC, PARTITIONS, 1)?;
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .set("linger.ms", "20")
            .set("queue.buffering.max.messages", "1000000")
            .create()?;
        for (i, payload) in messages.iter().enumerate() {
            let mut record = BaseRecord::<(), str>::to(TOPIC)
                .payload(payload)
                .partition(i as i32 % PARTITIONS);
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((_, back)) => {
                        record = back;
                        producer.poll(Duration::from_millis(10));
                    }
                }
            }
        }
        producer.flush(Duration::from_secs(120))?;
        Ok(Cluster { cluster })
    }

    /// Reads every message with a plain consumer (no decoding): the rate
    /// the mock broker itself serves at, the baseline for the pipeline.
    /// Returns messages per second.
    pub fn consume_all(&self, expected: usize) -> anyhow::Result<f64> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.cluster.bootstrap_servers())
            .set("group.id", "eddy-bench-baseline")
            .set("enable.auto.commit", "false")
            .create()?;
        let mut assignment = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            assignment.add_partition_offset(TOPIC, p, Offset::Beginning)?;
        }
        consumer.assign(&assignment)?;
        let started = Instant::now();
        let mut seen = 0;
        while seen < expected {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(300),
                "consumed only {seen} messages"
            );
            if let Some(message) = consumer.poll(Duration::from_millis(100)) {
                message?;
                seen += 1;
            }
        }
        Ok(expected as f64 / started.elapsed().as_secs_f64())
    }

    /// The `events` source over the topic, from the beginning.
    pub fn source_sql(&self) -> String {
        format!(
            "CREATE SOURCE events (key BIGINT, value BIGINT, ts TIMESTAMP,
                WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
             WITH (connector = 'kafka', topic = '{TOPIC}',
                   'properties.bootstrap.servers' = '{}',
                   'scan.startup.mode' = 'earliest', format = 'json',
                   'max.records.per.epoch' = '200000')",
            self.cluster.bootstrap_servers()
        )
    }
}
