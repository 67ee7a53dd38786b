//! Window assignment: computes the window columns of a window relation from
//! the event-time column, and drops (and counts) rows that are late.
//!
//! - `TUMBLE`: one window per row, `[k * size, (k + 1) * size)`. Late when
//!   that window has ended at or before the watermark.
//! - `HOP`: a row belongs to every window `[k * slide, k * slide + size)`
//!   that contains it, so it is copied once per open window (size / slide
//!   copies at most); windows that already ended are left out. Late when
//!   all its windows have ended.
//! - `SESSION`: a row starts out as its own session `[ts, ts + gap)`; the
//!   session aggregation merges them. Late when its event time is before
//!   the watermark: it could belong to a session already emitted.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, PrimitiveArray, TimestampMicrosecondArray, UInt32Array,
};
use datafusion::arrow::compute::{filter_record_batch, take_record_batch};
use datafusion::arrow::datatypes::{SchemaRef, TimestampMicrosecondType};
use datafusion::arrow::record_batch::RecordBatch;
use eddy_sql::streaming::WindowKind;

use crate::watermark::EventTime;
use crate::{EngineError, Result};

/// Adds window columns to a source's batches.
#[derive(Debug, Clone)]
pub struct WindowAssigner {
    pub kind: WindowKind,
    /// Index of the event-time column in the input batches.
    pub time_column: usize,
    /// Schema of the output: input columns + the window columns.
    pub output_schema: SchemaRef,
    /// `HOP` only: assign each row to its *pane* (`[k * slide, (k + 1) *
    /// slide)`, as window_start, and window_start + size as window_end)
    /// instead of copying it into every window; the aggregation assembles
    /// windows from panes (see [`crate::aggregate`]).
    pub panes: bool,
}

/// Rows found late, with the window they would have gone to.
pub struct LateRows {
    /// The rows as read from the source.
    pub rows: RecordBatch,
    pub window_start: ArrayRef,
    pub window_end: ArrayRef,
    pub reason: &'static str,
}

/// What assigning windows to a batch produced.
pub struct Assigned {
    pub batch: RecordBatch,
    /// Rows dropped because they were late.
    pub late_rows: usize,
    /// Rows dropped because their event time was NULL.
    pub null_time_rows: usize,
    /// The late rows themselves, when asked for and there are any.
    pub late: Option<LateRows>,
}

pub(crate) const WINDOW_CLOSED: &str = "window closed: its end is at or before the watermark";
pub(crate) const BEHIND_WATERMARK: &str = "event time at or before the watermark";
pub(crate) const SESSION_CLOSED: &str =
    "event time before the watermark: its session may already have been emitted";

impl WindowAssigner {
    /// Adds the window columns and drops late rows and rows whose event time
    /// is NULL. With `keep_late`, the late rows are returned too.
    pub fn assign(
        &self,
        batch: &RecordBatch,
        watermark: EventTime,
        keep_late: bool,
    ) -> Result<Assigned> {
        let ts = time_column(batch, self.time_column)?;
        let null_time_rows = ts.null_count();
        match self.kind {
            WindowKind::Tumble { size_micros } => {
                let start = move |t: i64| t - t.rem_euclid(size_micros);
                let end = move |t: i64| start(t).saturating_add(size_micros);
                let (kept, late_rows, late) = split_late(
                    batch,
                    ts,
                    watermark,
                    keep_late,
                    |t| end(t) <= watermark,
                    |ts| (ts.unary(start), ts.unary(end)),
                    WINDOW_CLOSED,
                )?;
                let ts = time_column(&kept, self.time_column)?;
                let starts = ts.unary(start);
                let ends = ts.unary(end);
                Ok(Assigned {
                    batch: self.with_columns(&kept, starts, ends)?,
                    late_rows,
                    null_time_rows,
                    late,
                })
            }
            WindowKind::Hop {
                slide_micros,
                size_micros,
            } => {
                let last_start = move |t: i64| t - t.rem_euclid(slide_micros);
                let last_end = move |t: i64| last_start(t).saturating_add(size_micros);
                let (kept, late_rows, late) = split_late(
                    batch,
                    ts,
                    watermark,
                    keep_late,
                    |t| last_end(t) <= watermark,
                    |ts| (ts.unary(last_start), ts.unary(last_end)),
                    WINDOW_CLOSED,
                )?;
                if self.panes {
                    let ts = time_column(&kept, self.time_column)?;
                    let starts = ts.unary(last_start);
                    let ends = ts.unary(last_end);
                    return Ok(Assigned {
                        batch: self.with_columns(&kept, starts, ends)?,
                        late_rows,
                        null_time_rows,
                        late,
                    });
                }
                // Each kept row once per window containing it that is still
                // open: starts last_start, last_start - slide, … > ts - size.
                let ts = time_column(&kept, self.time_column)?;
                let per_row = (size_micros + slide_micros - 1) / slide_micros;
                let mut indices = Vec::with_capacity(kept.num_rows() * per_row as usize);
                let mut starts = Vec::with_capacity(indices.capacity());
                for (row, &t) in ts.values().iter().enumerate() {
                    let mut s = last_start(t);
                    while s > t - size_micros {
                        if s.saturating_add(size_micros) > watermark {
                            indices.push(row as u32);
                            starts.push(s);
                        }
                        s -= slide_micros;
                    }
                }
                let expanded = take_record_batch(&kept, &UInt32Array::from(indices))?;
                let ends: Vec<i64> = starts
                    .iter()
                    .map(|s| s.saturating_add(size_micros))
                    .collect();
                Ok(Assigned {
                    batch: self.with_columns(
                        &expanded,
                        TimestampMicrosecondArray::from(starts),
                        TimestampMicrosecondArray::from(ends),
                    )?,
                    late_rows,
                    null_time_rows,
                    late,
                })
            }
            WindowKind::Session { gap_micros } => {
                let end = move |t: i64| t.saturating_add(gap_micros);
                let (kept, late_rows, late) = split_late(
                    batch,
                    ts,
                    watermark,
                    keep_late,
                    |t| t < watermark,
                    |ts| (ts.clone(), ts.unary(end)),
                    SESSION_CLOSED,
                )?;
                let ts = time_column(&kept, self.time_column)?;
                let starts = ts.clone();
                let ends = ts.unary(end);
                Ok(Assigned {
                    batch: self.with_columns(&kept, starts, ends)?,
                    late_rows,
                    null_time_rows,
                    late,
                })
            }
        }
    }

    fn with_columns(
        &self,
        batch: &RecordBatch,
        starts: TimestampMicrosecondArray,
        ends: TimestampMicrosecondArray,
    ) -> Result<RecordBatch> {
        let starts: ArrayRef = Arc::new(starts.with_timezone_opt(None::<String>));
        let ends: ArrayRef = Arc::new(ends.with_timezone_opt(None::<String>));
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        columns.push(starts.clone());
        columns.push(ends.clone());
        if self.kind.is_session() {
            columns.push(starts);
            columns.push(ends);
        }
        Ok(RecordBatch::try_new(self.output_schema.clone(), columns)?)
    }
}

type WindowBounds = (TimestampMicrosecondArray, TimestampMicrosecondArray);

/// Splits `batch` into the rows kept (not late, event time not NULL) and
/// the late rows (returned only with `keep_late`).
fn split_late(
    batch: &RecordBatch,
    ts: &PrimitiveArray<TimestampMicrosecondType>,
    watermark: EventTime,
    keep_late: bool,
    is_late: impl Fn(i64) -> bool,
    bounds: impl Fn(&TimestampMicrosecondArray) -> WindowBounds,
    reason: &'static str,
) -> Result<(RecordBatch, usize, Option<LateRows>)> {
    if watermark == i64::MIN && ts.null_count() == 0 {
        return Ok((batch.clone(), 0, None));
    }
    let keep: BooleanArray = ts
        .iter()
        .map(|t| Some(matches!(t, Some(t) if !is_late(t))))
        .collect();
    let kept = filter_record_batch(batch, &keep)?;
    let late_rows = batch.num_rows() - kept.num_rows() - ts.null_count();
    let late = if keep_late && late_rows > 0 {
        let mask: BooleanArray = ts
            .iter()
            .map(|t| Some(matches!(t, Some(t) if is_late(t))))
            .collect();
        let rows = filter_record_batch(batch, &mask)?;
        let late_ts = datafusion::arrow::compute::filter(ts, &mask)?;
        let (starts, ends) = bounds(late_ts.as_primitive::<TimestampMicrosecondType>());
        Some(LateRows {
            rows,
            window_start: Arc::new(starts.with_timezone_opt(None::<String>)),
            window_end: Arc::new(ends.with_timezone_opt(None::<String>)),
            reason,
        })
    } else {
        None
    };
    Ok((kept, late_rows, late))
}

/// Drops rows whose event time is at or before the watermark (or NULL): the
/// late rule of a deduplication without a window.
pub fn drop_behind_watermark(
    batch: &RecordBatch,
    column: usize,
    watermark: EventTime,
    keep_late: bool,
) -> Result<Assigned> {
    let ts = time_column(batch, column)?;
    let null_time_rows = ts.null_count();
    let (kept, late_rows, late) = split_late(
        batch,
        ts,
        watermark,
        keep_late,
        |t| t <= watermark,
        |ts| {
            let nulls = TimestampMicrosecondArray::new_null(ts.len());
            (nulls.clone(), nulls)
        },
        BEHIND_WATERMARK,
    )?;
    Ok(Assigned {
        batch: kept,
        late_rows,
        null_time_rows,
        late,
    })
}

fn time_column(
    batch: &RecordBatch,
    index: usize,
) -> Result<&PrimitiveArray<TimestampMicrosecondType>> {
    batch
        .column(index)
        .as_primitive_opt::<TimestampMicrosecondType>()
        .ok_or_else(|| {
            EngineError::Internal("window time column is not a microsecond timestamp".into())
        })
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    use super::*;

    fn assigner(kind: WindowKind) -> WindowAssigner {
        let ts_type = DataType::Timestamp(TimeUnit::Microsecond, None);
        let input = Schema::new(vec![Field::new("ts", ts_type, true)]);
        WindowAssigner {
            output_schema: eddy_sql::streaming::window_schema(&input, &kind),
            kind,
            time_column: 0,
            panes: false,
        }
    }

    fn batch(ts: Vec<Option<i64>>) -> RecordBatch {
        let ts_type = DataType::Timestamp(TimeUnit::Microsecond, None);
        let input = Arc::new(Schema::new(vec![Field::new("ts", ts_type, true)]));
        RecordBatch::try_new(input, vec![Arc::new(TimestampMicrosecondArray::from(ts))]).unwrap()
    }

    fn column(batch: &RecordBatch, i: usize) -> Vec<i64> {
        batch
            .column(i)
            .as_primitive::<TimestampMicrosecondType>()
            .values()
            .to_vec()
    }

    #[test]
    fn tumble_assigns_aligned_windows_and_drops_closed_ones() {
        let w = assigner(WindowKind::Tumble { size_micros: 10 });
        let out = w
            .assign(
                &batch(vec![Some(-1), Some(5), Some(10), Some(25), None]),
                10,
                true,
            )
            .unwrap();
        // -1 → [-10, 0) and 5 → [0, 10) are closed at watermark 10.
        assert_eq!(out.late_rows, 2);
        assert_eq!(out.null_time_rows, 1);
        let late = out.late.unwrap();
        assert_eq!(late.rows.num_rows(), 2);
        assert_eq!(column(&out.batch, 1), vec![10, 20]);
        assert_eq!(column(&out.batch, 2), vec![20, 30]);
    }

    #[test]
    fn hop_copies_rows_into_each_open_window() {
        let w = assigner(WindowKind::Hop {
            slide_micros: 5,
            size_micros: 15,
        });
        // 12 is in [0,15), [5,20), [10,25); at watermark 15 [0,15) is closed.
        // 3 is in [-10,5), [-5,10), [0,15): all closed, so late.
        let out = w.assign(&batch(vec![Some(12), Some(3)]), 15, true).unwrap();
        assert_eq!(out.late_rows, 1);
        assert_eq!(column(&out.batch, 1), vec![10, 5]);
        assert_eq!(column(&out.batch, 2), vec![25, 20]);
        let out = w.assign(&batch(vec![Some(12)]), i64::MIN, false).unwrap();
        assert_eq!(column(&out.batch, 1), vec![10, 5, 0]);
    }

    #[test]
    fn session_rows_start_as_their_own_session() {
        let w = assigner(WindowKind::Session { gap_micros: 100 });
        let out = w
            .assign(&batch(vec![Some(50), Some(200)]), 60, false)
            .unwrap();
        assert_eq!(out.late_rows, 1);
        assert_eq!(column(&out.batch, 1), vec![200]);
        assert_eq!(column(&out.batch, 2), vec![300]);
        assert_eq!(column(&out.batch, 4), vec![300]);
    }
}
