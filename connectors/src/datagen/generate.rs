//! Generating rows `[start, end)` of a datagen source, column by column,
//! straight into Arrow arrays.
//!
//! Every value is a pure function of `(seed, column name, row number)`: a
//! counter-based generator (SplitMix64's output function applied to a
//! per-column key plus the row number) replaces a sequential RNG, so any
//! range of rows comes out the same however epochs are cut. Each random
//! decision of a row (is it NULL, its value, its jitter, is it late, each
//! block of string characters) draws from its own *stream*: a key derived
//! from the column key and the decision, so decisions are independent.

use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, ArrowPrimitiveType, BooleanArray, GenericStringBuilder, OffsetSizeTrait,
    PrimitiveArray,
};
use datafusion::arrow::buffer::{BooleanBuffer, NullBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, SchemaRef, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use datafusion::arrow::record_batch::RecordBatch;
use eddy_engine::Result;

use super::config::{ColumnGen, ColumnType, Generator};

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
const STREAM_VALUE: u64 = 1;
const STREAM_NULL: u64 = 2;
const STREAM_JITTER: u64 = 3;
const STREAM_LATE: u64 = 4;
const STREAM_STRING_BLOCK: u64 = 1 << 32;
const ALPHABET: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// Characters drawn from one 64-bit random number (62^10 < 2^64).
const CHARS_PER_DRAW: usize = 10;

/// SplitMix64's output function: a bijective 64-bit mixer.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One stream of random numbers indexed by row number.
#[derive(Clone, Copy)]
struct Stream(u64);

impl Stream {
    fn new(column_key: u64, stream: u64) -> Stream {
        Stream(mix(column_key ^ mix(stream.wrapping_mul(GOLDEN))))
    }

    #[inline]
    fn at(self, row: u64) -> u64 {
        mix(self.0.wrapping_add(row.wrapping_mul(GOLDEN)))
    }

    /// Uniform in `[0, 1)`.
    #[inline]
    fn unit(self, row: u64) -> f64 {
        (self.at(row) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[min, max]`.
    #[inline]
    fn int(self, row: u64, min: i64, max: i64) -> i64 {
        let span = (max as i128 - min as i128) as u128 + 1;
        let r = self.at(row);
        if span > u64::MAX as u128 {
            return r as i64;
        }
        (min as i128 + ((r as u128 * span) >> 64) as i128) as i64
    }

    /// Uniform in `[min, max]`, for spans beyond 64 bits too.
    #[inline]
    fn int128(self, row: u64, min: i128, max: i128) -> i128 {
        let span = (max - min) as u128 + 1;
        let r = self.at(row);
        if span <= u64::MAX as u128 {
            return min + ((r as u128 * span) >> 64) as i128;
        }
        let wide = ((r as u128) << 64) | mix(r ^ GOLDEN) as u128;
        min + (wide % span) as i128
    }
}

/// Key of a column: the seed and the column's name, so that adding or
/// reordering columns does not change the others.
fn column_key(seed: u64, name: &str) -> u64 {
    let mut hash: u64 = 0xCBF2_9CE4_8422_2325;
    for b in name.bytes() {
        hash = (hash ^ b as u64).wrapping_mul(0x0100_0000_01B3);
    }
    mix(mix(seed) ^ hash)
}

/// Generates rows `[rows.start, rows.end)` as one batch.
pub fn generate_batch(
    schema: &SchemaRef,
    seed: u64,
    columns: &[ColumnGen],
    rows: Range<u64>,
) -> Result<RecordBatch> {
    let arrays = columns
        .iter()
        .map(|c| generate_column(column_key(seed, &c.name), c, rows.clone()))
        .collect::<Vec<_>>();
    Ok(RecordBatch::try_new(schema.clone(), arrays)?)
}

fn generate_column(key: u64, column: &ColumnGen, rows: Range<u64>) -> ArrayRef {
    let nulls = (column.null_rate > 0.0).then(|| {
        let stream = Stream::new(key, STREAM_NULL);
        let valid: BooleanBuffer = rows
            .clone()
            .map(|i| stream.unit(i) >= column.null_rate)
            .collect();
        NullBuffer::new(valid)
    });
    let dt = column.data_type.clone();
    match column.ty {
        ColumnType::Int16 => {
            primitive::<Int16Type>(ints(key, &column.generator, rows).map(|v| v as i16), nulls)
        }
        ColumnType::Int32 => {
            primitive::<Int32Type>(ints(key, &column.generator, rows).map(|v| v as i32), nulls)
        }
        ColumnType::Int64 => primitive::<Int64Type>(ints(key, &column.generator, rows), nulls),
        ColumnType::Date => {
            primitive::<Date32Type>(ints(key, &column.generator, rows).map(|v| v as i32), nulls)
        }
        ColumnType::Float64 => {
            primitive::<Float64Type>(floats(key, &column.generator, rows), nulls)
        }
        ColumnType::Float32 => primitive::<Float32Type>(
            floats(key, &column.generator, rows).map(|v| v as f32),
            nulls,
        ),
        ColumnType::Decimal { .. } => {
            let values = decimals(key, &column.generator, rows);
            Arc::new(
                PrimitiveArray::<Decimal128Type>::new(values.collect(), nulls).with_data_type(dt),
            )
        }
        ColumnType::Timestamp { unit, .. } => {
            let values: ScalarBuffer<i64> = ints(key, &column.generator, rows)
                .map(|micros| micros_to_unit(micros, unit))
                .collect();
            match unit {
                TimeUnit::Second => timestamps::<TimestampSecondType>(values, nulls, dt),
                TimeUnit::Millisecond => timestamps::<TimestampMillisecondType>(values, nulls, dt),
                TimeUnit::Microsecond => timestamps::<TimestampMicrosecondType>(values, nulls, dt),
                TimeUnit::Nanosecond => timestamps::<TimestampNanosecondType>(values, nulls, dt),
            }
        }
        ColumnType::Boolean => {
            let stream = Stream::new(key, STREAM_VALUE);
            let values: BooleanBuffer = rows.map(|i| stream.at(i) >> 63 == 1).collect();
            Arc::new(BooleanArray::new(values, nulls))
        }
        ColumnType::Text { large: false } => strings::<i32>(key, &column.generator, rows, nulls),
        ColumnType::Text { large: true } => strings::<i64>(key, &column.generator, rows, nulls),
    }
}

fn primitive<T: ArrowPrimitiveType>(
    values: impl Iterator<Item = T::Native>,
    nulls: Option<NullBuffer>,
) -> ArrayRef {
    let values: ScalarBuffer<T::Native> = values.collect();
    Arc::new(PrimitiveArray::<T>::new(values, nulls))
}

fn timestamps<T: ArrowPrimitiveType<Native = i64>>(
    values: ScalarBuffer<i64>,
    nulls: Option<NullBuffer>,
    data_type: DataType,
) -> ArrayRef {
    Arc::new(PrimitiveArray::<T>::new(values, nulls).with_data_type(data_type))
}

fn micros_to_unit(micros: i64, unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => micros.div_euclid(1_000_000),
        TimeUnit::Millisecond => micros.div_euclid(1_000),
        TimeUnit::Microsecond => micros,
        TimeUnit::Nanosecond => micros.saturating_mul(1_000),
    }
}

#[inline]
fn sequence_value(start: i128, period: Option<u64>, unit: i128, row: u64) -> i128 {
    let step = match period {
        Some(p) => row % p,
        None => row,
    };
    start + step as i128 * unit
}

/// Integer-like values: integers, days, timestamp microseconds.
fn ints(key: u64, generator: &Generator, rows: Range<u64>) -> Box<dyn Iterator<Item = i64> + '_> {
    let values = Stream::new(key, STREAM_VALUE);
    match *generator {
        Generator::RandomInt { min, max } => Box::new(rows.map(move |i| values.int(i, min, max))),
        Generator::Sequence {
            start,
            period,
            unit,
        } => Box::new(rows.map(move |i| sequence_value(start, period, unit, i) as i64)),
        Generator::EventTime {
            start,
            step,
            max_out_of_order,
            late_rate,
            late_by,
        } => {
            let jitter = Stream::new(key, STREAM_JITTER);
            let late = Stream::new(key, STREAM_LATE);
            Box::new(rows.map(move |i| {
                let mut t = start.wrapping_add((i as i64).wrapping_mul(step));
                if max_out_of_order > 0 {
                    t = t.wrapping_sub(jitter.int(i, 0, max_out_of_order));
                }
                if late_rate > 0.0 && late.unit(i) < late_rate {
                    t = t.wrapping_sub(late_by);
                }
                t
            }))
        }
        _ => unreachable!("config only pairs integer-like columns with integer generators"),
    }
}

fn floats(key: u64, generator: &Generator, rows: Range<u64>) -> Box<dyn Iterator<Item = f64> + '_> {
    let values = Stream::new(key, STREAM_VALUE);
    match *generator {
        Generator::RandomFloat { min, max } => {
            Box::new(rows.map(move |i| min + values.unit(i) * (max - min)))
        }
        Generator::Sequence {
            start,
            period,
            unit,
        } => Box::new(rows.map(move |i| sequence_value(start, period, unit, i) as f64)),
        _ => unreachable!("config only pairs float columns with float generators"),
    }
}

fn decimals(
    key: u64,
    generator: &Generator,
    rows: Range<u64>,
) -> Box<dyn Iterator<Item = i128> + '_> {
    let values = Stream::new(key, STREAM_VALUE);
    match *generator {
        Generator::RandomDecimal { min, max } => {
            Box::new(rows.map(move |i| values.int128(i, min, max)))
        }
        Generator::Sequence {
            start,
            period,
            unit,
        } => Box::new(rows.map(move |i| sequence_value(start, period, unit, i))),
        _ => unreachable!("config only pairs decimal columns with decimal generators"),
    }
}

fn strings<O: OffsetSizeTrait>(
    key: u64,
    generator: &Generator,
    rows: Range<u64>,
    nulls: Option<NullBuffer>,
) -> ArrayRef {
    let count = (rows.end - rows.start) as usize;
    let is_null = |row: u64| {
        nulls
            .as_ref()
            .is_some_and(|n| n.is_null((row - rows.start) as usize))
    };
    match *generator {
        Generator::RandomString { length } => {
            let mut builder = GenericStringBuilder::<O>::with_capacity(count, count * length);
            let blocks: Vec<Stream> = (0..length.div_ceil(CHARS_PER_DRAW) as u64)
                .map(|b| Stream::new(key, STREAM_STRING_BLOCK + b))
                .collect();
            let mut buf = vec![0u8; length];
            for row in rows.clone() {
                if is_null(row) {
                    builder.append_null();
                    continue;
                }
                for (chunk, stream) in buf.chunks_mut(CHARS_PER_DRAW).zip(&blocks) {
                    let mut r = stream.at(row);
                    for c in chunk {
                        *c = ALPHABET[(r % 62) as usize];
                        r /= 62;
                    }
                }
                builder.append_value(std::str::from_utf8(&buf).expect("alphabet is ASCII"));
            }
            Arc::new(builder.finish())
        }
        Generator::Sequence {
            start,
            period,
            unit,
        } => {
            let mut builder = GenericStringBuilder::<O>::with_capacity(count, count * 8);
            let mut digits = [0u8; 48];
            for row in rows.clone() {
                if is_null(row) {
                    builder.append_null();
                } else {
                    let text = format_i128(sequence_value(start, period, unit, row), &mut digits);
                    builder.append_value(text);
                }
            }
            Arc::new(builder.finish())
        }
        _ => unreachable!("config only pairs text columns with string generators"),
    }
}

/// Writes `v` in decimal into `buf` without allocating.
fn format_i128(v: i128, buf: &mut [u8; 48]) -> &str {
    let mut pos = buf.len();
    let mut n = v.unsigned_abs();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        pos -= 1;
        buf[pos] = b'-';
    }
    std::str::from_utf8(&buf[pos..]).expect("digits are ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_and_streams() {
        let mut buf = [0u8; 48];
        assert_eq!(format_i128(-1234, &mut buf), "-1234");
        assert_eq!(format_i128(0, &mut buf), "0");
        assert_eq!(format_i128(i128::MIN, &mut buf), i128::MIN.to_string());
        let s = Stream::new(column_key(7, "x"), STREAM_VALUE);
        for row in 0..10_000 {
            let v = s.int(row, -3, 3);
            assert!((-3..=3).contains(&v));
            assert!((0.0..1.0).contains(&s.unit(row)));
            let w = s.int128(row, -(10i128.pow(30)), 10i128.pow(30));
            assert!(w.abs() <= 10i128.pow(30));
        }
        assert_eq!(s.int(5, i64::MIN, i64::MAX), s.at(5) as i64);
    }
}
