//! The index and the scans against a naive model (a map from key to row),
//! over a pseudo-random mix of inserts, upserts, deletes and lookups many
//! enough to go through tail merges and full compactions, checked also
//! after reloading from disk.

use std::collections::BTreeMap;

use datafusion::arrow::array::AsArray;
use datafusion::scalar::ScalarValue;

use super::*;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn check(t: &StoredTable, model: &BTreeMap<i64, String>, probes: &mut Rng) {
    let expected: Vec<Row> = model
        .iter()
        .map(|(k, v)| (*k, Some(v.clone()), None))
        .collect();
    assert_eq!(contents(t), expected);
    assert_eq!(t.row_count(), model.len());
    for _ in 0..20 {
        let k = probes.below(400) as i64;
        let found = t
            .get(&[ScalarValue::Int64(Some(k))])
            .unwrap()
            .map(|b| b.column(1).as_string::<i32>().value(0).to_string());
        assert_eq!(found.as_ref(), model.get(&k), "key {k}");
    }
}

#[test]
fn the_index_and_scans_match_a_naive_model_through_compactions_and_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = open_keyed(dir.path());
    let mut model: BTreeMap<i64, String> = BTreeMap::new();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut probes = Rng(42);
    let mut max_segments = 0;
    for step in 0..3000 {
        let n = 1 + rng.below(12) as usize;
        let ks: Vec<i64> = (0..n).map(|_| rng.below(400) as i64).collect();
        let value = format!("s{step}");
        match rng.below(4) {
            0 => {
                let mut distinct = ks.clone();
                distinct.sort_unstable();
                distinct.dedup();
                let batch = keyed_rows(
                    &distinct
                        .iter()
                        .map(|&k| (Some(k), Some(value.as_str()), None))
                        .collect::<Vec<_>>(),
                );
                let result = t.write(WriteSet::insert(vec![batch]));
                if distinct.iter().any(|k| model.contains_key(k)) {
                    assert_eq!(result.unwrap_err().code(), "23505");
                } else {
                    result.unwrap();
                    for k in distinct {
                        model.insert(k, value.clone());
                    }
                }
            }
            1 | 2 => {
                let batch = keyed_rows(
                    &ks.iter()
                        .map(|&k| (Some(k), Some(value.as_str()), None))
                        .collect::<Vec<_>>(),
                );
                t.write(WriteSet::upsert(vec![batch])).unwrap();
                for k in ks {
                    model.insert(k, value.clone());
                }
            }
            _ => {
                let out = t.write(WriteSet::new().delete_keys(keys(&ks))).unwrap();
                let mut removed = 0;
                for k in ks {
                    removed += model.remove(&k).is_some() as u64;
                }
                assert_eq!(out.deleted, removed);
            }
        }
        max_segments = max_segments.max(segment_files(&table_dir(dir.path())).len());
        if step % 97 == 0 {
            check(&t, &model, &mut probes);
        }
        if step % 499 == 0 {
            drop(t);
            t = open_keyed(dir.path());
            check(&t, &model, &mut probes);
        }
    }
    check(&t, &model, &mut probes);
    assert!(max_segments < 32, "{max_segments} segment files at most");
    drop(t);
    check(&open_keyed(dir.path()), &model, &mut probes);
}
