//! How long consecutive epochs take through the real `KafkaSource`
//! against the mock cluster: a measurement, not a test of correctness, so
//! it is ignored by default and asserts nothing about time. Run it with
//!
//! ```text
//! cargo test -p eddy-connectors --lib kafka::tests::epoch_latency -- --ignored --nocapture
//! ```
//!
//! It prints, per scenario (a backlog read in epochs; caught up, a few new
//! records per epoch; idle), the median and maximum time of `plan_epoch`
//! and of reading the planned range (to the first batch and to the end).

use std::time::{Duration, Instant};

use futures::StreamExt;

use super::*;

const PARTITIONS: i32 = 4;
const EPOCHS: usize = 15;

#[derive(Default)]
struct Timings {
    plan: Vec<Duration>,
    first_batch: Vec<Duration>,
    read: Vec<Duration>,
}

impl Timings {
    fn report(&self, scenario: &str) {
        let epochs = self.plan.len();
        let total: Vec<Duration> = self
            .plan
            .iter()
            .zip(&self.read)
            .map(|(p, r)| *p + *r)
            .collect();
        let median = |mut v: Vec<Duration>| {
            v.sort();
            v[v.len() / 2]
        };
        let max = |v: &[Duration]| v.iter().max().copied().unwrap_or_default();
        eprintln!(
            "{scenario}: median (max) over {epochs} epochs: plan_epoch {:?} ({:?}), \
             first batch {:?} ({:?}), read {:?} ({:?}), plan + read {:?} ({:?})",
            median(self.plan.clone()),
            max(&self.plan),
            median(self.first_batch.clone()),
            max(&self.first_batch),
            median(self.read.clone()),
            max(&self.read),
            median(total.clone()),
            max(&total),
        );
    }
}

/// Plans and reads one epoch from `from`, returning its end and the rows
/// read.
async fn epoch(t: &mut TestSource, from: &Offsets, timings: &mut Timings) -> (Offsets, usize) {
    let start = Instant::now();
    let planned = t.source.plan_epoch(from).await.unwrap();
    timings.plan.push(start.elapsed());
    let start = Instant::now();
    let mut rows = 0;
    let mut first = None;
    let mut stream = t.source.read(from, &planned.end);
    while let Some(batch) = stream.next().await {
        rows += batch.unwrap().batch.num_rows();
        first.get_or_insert_with(|| start.elapsed());
    }
    drop(stream);
    timings.read.push(start.elapsed());
    timings
        .first_batch
        .push(first.unwrap_or_else(|| start.elapsed()));
    (planned.end, rows)
}

/// A backlog read in epochs of `max.records.per.epoch`: every epoch's
/// records are in Kafka before it is planned.
#[tokio::test]
#[ignore = "a measurement; run with --ignored --nocapture"]
async fn epoch_latency() {
    let cluster = cluster(PARTITIONS);
    let bootstrap = cluster.bootstrap_servers();
    let events: Vec<(i32, i64)> = (0..20_000).map(|i| ((i % 4) as i32, i)).collect();
    produce_events(&bootstrap, &events);
    let mut t = source(
        &bootstrap,
        &[
            ("scan.startup.mode", "earliest"),
            ("max.records.per.epoch", "1000"),
        ],
        schema(&[]),
    );
    let mut from = t.source.initial_offsets().await.unwrap();
    let mut timings = Timings::default();
    for _ in 0..EPOCHS {
        let (end, rows) = epoch(&mut t, &from, &mut timings).await;
        assert_eq!(rows, 1000);
        from = end;
    }
    timings.report("backlog, 1000 records per epoch");

    // Caught up: each epoch reads the few records produced since the last.
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("linger.ms", "0")
        .create()
        .unwrap();
    let mut timings = Timings::default();
    let mut from = t.source.available_end(&from).await.unwrap();
    let mut id = 100_000;
    for _ in 0..EPOCHS {
        for p in 0..PARTITIONS {
            let (_, key, payload, ts) = event(p, id);
            id += 1;
            producer
                .send(
                    BaseRecord::to(TOPIC)
                        .partition(p)
                        .key(&key)
                        .payload(&payload)
                        .timestamp(ts),
                )
                .unwrap();
        }
        producer.flush(Duration::from_secs(10)).unwrap();
        let (end, rows) = epoch(&mut t, &from, &mut timings).await;
        assert_eq!(rows, PARTITIONS as usize);
        from = end;
    }
    timings.report("caught up, 1 record per partition per epoch");

    let mut timings = Timings::default();
    for _ in 0..EPOCHS {
        let (end, rows) = epoch(&mut t, &from, &mut timings).await;
        assert_eq!(rows, 0);
        from = end;
    }
    timings.report("idle, no new record");
}
