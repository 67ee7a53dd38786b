//! The operator tree and how batches and epochs flow through it.

use super::*;
use crate::job::OperatorStateSize;

/// The leaf of the operator tree: batches of one source.
pub struct InputNode {
    pub input: usize,
    /// Window columns added (and late rows dropped) by a window relation.
    pub window: Option<WindowAssigner>,
    /// Without a window: the event-time column behind which rows are late
    /// (set when a deduplication needs it).
    pub late_behind_watermark: Option<usize>,
}

/// An operator and the operators feeding it.
pub enum Node {
    Input(InputNode),
    Stages {
        input: Box<Node>,
        pipeline: Pipeline,
    },
    Lookup {
        input: Box<Node>,
        join: Box<LookupJoin>,
    },
    Distinct {
        input: Box<Node>,
        dedup: Box<Dedup>,
        id: u32,
    },
    Aggregate {
        input: Box<Node>,
        agg: Box<WindowAggregate>,
        id: u32,
    },
    Session {
        input: Box<Node>,
        agg: Box<SessionAggregate>,
        id: u32,
    },
    /// Two streams; state ids `id` (left rows) and `id + 1` (right rows).
    IntervalJoin {
        left: Box<Node>,
        right: Box<Node>,
        join: Box<IntervalJoin>,
        id: u32,
    },
}

/// What an epoch collects besides the output.
#[derive(Default)]
pub struct EpochContext {
    /// The watermark rows of the epoch are judged against.
    pub watermark: EventTime,
    /// Collect late rows (`late_rows = 'table'`).
    pub keep_late: bool,
    pub late: Vec<LateRows>,
    pub late_rows: u64,
    pub null_time_rows: u64,
}

type NodeFuture<'a> = BoxFuture<'a, Result<Vec<RecordBatch>>>;

impl Node {
    /// Pushes a batch of stream `input` through the subtree; returns what
    /// this node passes on now.
    pub fn push<'a>(
        &'a mut self,
        input: usize,
        batch: RecordBatch,
        cx: &'a mut EpochContext,
    ) -> NodeFuture<'a> {
        Box::pin(async move {
            let from_child = match self {
                Node::Input(leaf) => {
                    if leaf.input != input {
                        return Ok(Vec::new());
                    }
                    return Ok(vec![leaf.assign(batch, cx)?]);
                }
                Node::IntervalJoin {
                    left, right, join, ..
                } => {
                    let from_left = left.push(input, batch.clone(), cx).await?;
                    let from_right = right.push(input, batch, cx).await?;
                    return join_both(join, from_left, from_right);
                }
                Node::Stages { input: child, .. }
                | Node::Lookup { input: child, .. }
                | Node::Distinct { input: child, .. }
                | Node::Aggregate { input: child, .. }
                | Node::Session { input: child, .. } => child.push(input, batch, cx).await?,
            };
            self.consume(from_child).await
        })
    }

    /// Ends the epoch at `watermark` (the one the next epoch will use):
    /// children first, then this node; returns what this node emits.
    pub fn finish<'a>(
        &'a mut self,
        watermark: EventTime,
        cx: &'a mut EpochContext,
    ) -> NodeFuture<'a> {
        Box::pin(async move {
            let from_child = match self {
                Node::Input(_) => return Ok(Vec::new()),
                Node::IntervalJoin {
                    left, right, join, ..
                } => {
                    let from_left = left.finish(watermark, cx).await?;
                    let from_right = right.finish(watermark, cx).await?;
                    let out = join_both(join, from_left, from_right)?;
                    join.finish_epoch(watermark)?;
                    return Ok(out);
                }
                Node::Stages { input: child, .. }
                | Node::Lookup { input: child, .. }
                | Node::Distinct { input: child, .. }
                | Node::Aggregate { input: child, .. }
                | Node::Session { input: child, .. } => child.finish(watermark, cx).await?,
            };
            let mut out = self.consume(from_child).await?;
            match self {
                Node::Aggregate { agg, .. } => {
                    out.extend(agg.finish_epoch(cx.watermark, watermark)?)
                }
                Node::Session { agg, .. } => out.extend(agg.finish_epoch(watermark)?),
                Node::Distinct { dedup, .. } => dedup.finish_epoch(watermark),
                _ => {}
            }
            Ok(out)
        })
    }

    /// Applies this node to its child's output.
    async fn consume(&mut self, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::with_capacity(batches.len());
        for batch in batches.into_iter().filter(|b| b.num_rows() > 0) {
            match self {
                Node::Input(_) | Node::IntervalJoin { .. } => out.push(batch),
                Node::Stages { pipeline, .. } => out.push(pipeline.apply(batch)?),
                Node::Lookup { join, .. } => out.push(join.process(&batch).await?),
                Node::Distinct { dedup, .. } => out.push(dedup.process(&batch)?),
                Node::Aggregate { agg, .. } => agg.update(&batch)?,
                Node::Session { agg, .. } => agg.update(&batch)?,
            }
        }
        out.retain(|b| b.num_rows() > 0);
        Ok(out)
    }

    fn children(&mut self) -> Vec<&mut Node> {
        match self {
            Node::Input(_) => Vec::new(),
            Node::IntervalJoin { left, right, .. } => vec![left, right],
            Node::Stages { input, .. }
            | Node::Lookup { input, .. }
            | Node::Distinct { input, .. }
            | Node::Aggregate { input, .. }
            | Node::Session { input, .. } => vec![input],
        }
    }

    fn children_ref(&self) -> Vec<&Node> {
        match self {
            Node::Input(_) => Vec::new(),
            Node::IntervalJoin { left, right, .. } => vec![left, right],
            Node::Stages { input, .. }
            | Node::Lookup { input, .. }
            | Node::Distinct { input, .. }
            | Node::Aggregate { input, .. }
            | Node::Session { input, .. } => vec![input],
        }
    }

    /// The state of every stateful operator, by operator number.
    pub fn checkpoint(&mut self, full: bool, out: &mut BTreeMap<u32, OperatorState>) -> Result<()> {
        match self {
            Node::Aggregate { agg, id, .. } => {
                out.insert(*id, agg.checkpoint(full)?);
            }
            Node::Session { agg, id, .. } => {
                out.insert(*id, agg.checkpoint()?);
            }
            Node::Distinct { dedup, id, .. } => {
                out.insert(*id, dedup.checkpoint()?);
            }
            Node::IntervalJoin { join, id, .. } => {
                let (left, right) = join.checkpoint();
                out.insert(*id, left);
                out.insert(*id + 1, right);
            }
            _ => {}
        }
        for child in self.children() {
            child.checkpoint(full, out)?;
        }
        Ok(())
    }

    /// Applies one checkpoint of a recovery chain.
    pub fn apply(&mut self, part: &StatePart) -> Result<()> {
        match self {
            Node::Aggregate { agg, id, .. } => {
                let removed = part.removed.get(id).map(Vec::as_slice).unwrap_or_default();
                let batches = part
                    .operators
                    .get(id)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                agg.apply(removed, batches)?;
            }
            Node::Session { agg, id, .. } => {
                if let Some(batches) = part.operators.get(id) {
                    agg.restore(batches)?;
                }
            }
            Node::Distinct { dedup, id, .. } => {
                if let Some(batches) = part.operators.get(id) {
                    dedup.restore(batches)?;
                }
            }
            Node::IntervalJoin { join, id, .. } => {
                join.restore(
                    part.operators.get(id).map(Vec::as_slice),
                    part.operators.get(&(*id + 1)).map(Vec::as_slice),
                )?;
            }
            _ => {}
        }
        for child in self.children() {
            child.apply(part)?;
        }
        Ok(())
    }

    /// Forgets all state (before a restore).
    pub fn clear(&mut self) {
        match self {
            Node::Aggregate { agg, .. } => agg.clear(),
            Node::Session { agg, .. } => agg.clear(),
            Node::Distinct { dedup, .. } => dedup.clear(),
            Node::IntervalJoin { join, .. } => join.clear(),
            _ => {}
        }
        for child in self.children() {
            child.clear();
        }
    }

    /// Whether any operator keeps state.
    pub fn is_stateful(&self) -> bool {
        matches!(
            self,
            Node::Aggregate { .. }
                | Node::Session { .. }
                | Node::Distinct { .. }
                | Node::IntervalJoin { .. }
        ) || self.children_ref().into_iter().any(Node::is_stateful)
    }

    /// The earliest time at which advancing the watermark emits something
    /// (the end of the earliest open window or session).
    pub fn earliest_close(&self) -> Option<i64> {
        let own = match self {
            Node::Aggregate { agg, .. } => agg.earliest_window_end(),
            Node::Session { agg, .. } => agg.earliest_end(),
            _ => None,
        };
        own.into_iter()
            .chain(
                self.children_ref()
                    .into_iter()
                    .filter_map(Node::earliest_close),
            )
            .min()
    }

    /// The state each stateful operator holds, in plan order (inputs
    /// first).
    pub fn operator_states(&self) -> Vec<OperatorStateSize> {
        let mut out = Vec::new();
        self.collect_states(&mut out);
        out
    }

    fn collect_states(&self, out: &mut Vec<OperatorStateSize>) {
        for child in self.children_ref() {
            child.collect_states(out);
        }
        let (id, kind, rows, bytes) = match self {
            Node::Aggregate { agg, id, .. } => {
                (*id, "window aggregate", agg.state_rows(), agg.state_bytes())
            }
            Node::Session { agg, id, .. } => {
                (*id, "session window", agg.state_rows(), agg.state_bytes())
            }
            Node::Distinct { dedup, id, .. } => (
                *id,
                "deduplication",
                dedup.state_rows(),
                dedup.state_bytes(),
            ),
            Node::IntervalJoin { join, id, .. } => {
                (*id, "interval join", join.state_rows(), join.state_bytes())
            }
            _ => return,
        };
        out.push(OperatorStateSize {
            id,
            kind,
            rows: rows as u64,
            bytes: bytes as u64,
        });
    }

    /// Rows and approximate bytes of state held.
    pub fn state_size(&self) -> (u64, u64) {
        let own = match self {
            Node::Aggregate { agg, .. } => (agg.state_rows(), agg.state_bytes()),
            Node::Session { agg, .. } => (agg.state_rows(), agg.state_bytes()),
            Node::Distinct { dedup, .. } => (dedup.state_rows(), dedup.state_bytes()),
            Node::IntervalJoin { join, .. } => (join.state_rows(), join.state_bytes()),
            _ => (0, 0),
        };
        self.children_ref()
            .into_iter()
            .map(Node::state_size)
            .fold((own.0 as u64, own.1 as u64), |(r, b), (cr, cb)| {
                (r + cr, b + cb)
            })
    }

    /// Switches a hopping window's leaf to panes, if the rows reach the
    /// aggregation without anything in between looking at the window
    /// columns (only filters that do not refer to them).
    pub(super) fn use_panes(&mut self) -> bool {
        match self {
            Node::Input(InputNode {
                window: Some(w), ..
            }) => {
                w.panes = true;
                true
            }
            Node::Stages { input, pipeline } if pipeline.filters_only() => input.use_panes(),
            _ => false,
        }
    }

    /// Makes the leaves without a window drop rows behind the watermark.
    pub(super) fn set_late_behind_watermark(&mut self, time_column: usize) {
        match self {
            Node::Input(leaf) if leaf.window.is_none() => {
                leaf.late_behind_watermark = Some(time_column)
            }
            _ => {
                for child in self.children() {
                    child.set_late_behind_watermark(time_column);
                }
            }
        }
    }
}

/// Joins what each side of an interval join passed on.
fn join_both(
    join: &mut IntervalJoin,
    from_left: Vec<RecordBatch>,
    from_right: Vec<RecordBatch>,
) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    for b in from_left.iter().filter(|b| b.num_rows() > 0) {
        out.push(join.process(true, b)?);
    }
    for b in from_right.iter().filter(|b| b.num_rows() > 0) {
        out.push(join.process(false, b)?);
    }
    out.retain(|b| b.num_rows() > 0);
    Ok(out)
}

impl InputNode {
    fn assign(&self, batch: RecordBatch, cx: &mut EpochContext) -> Result<RecordBatch> {
        let assigned = match (&self.window, self.late_behind_watermark) {
            (Some(window), _) => window.assign(&batch, cx.watermark, cx.keep_late)?,
            (None, Some(column)) => {
                drop_behind_watermark(&batch, column, cx.watermark, cx.keep_late)?
            }
            (None, None) => return Ok(batch),
        };
        cx.late_rows += assigned.late_rows as u64;
        cx.null_time_rows += assigned.null_time_rows as u64;
        cx.late.extend(assigned.late);
        Ok(assigned.batch)
    }
}
