//! [`write_together`]: write sets for several tables — one transaction's
//! rows — checked all before any is written, so that a conflict (40001) or
//! a violated key (23505) in one table leaves every table as it was.

use std::sync::Arc;

use super::error::TableResult;
use super::stored::StoredTable;
use super::write::{WriteOutcome, WriteSet};

/// Applies one write set per table, each atomically and durably: every
/// set is checked first, under all the tables' locks (taken in name order,
/// so two such writers cannot deadlock), and only when all pass are they
/// written, one segment per table. A refusal changes nothing; only an I/O
/// failure while writing the segments can leave the tables before it
/// written and the rest not.
pub fn write_together(writes: Vec<(Arc<StoredTable>, WriteSet)>) -> TableResult<Vec<WriteOutcome>> {
    let (tables, sets): (Vec<Arc<StoredTable>>, Vec<WriteSet>) = writes.into_iter().unzip();
    let mut order: Vec<usize> = (0..tables.len()).collect();
    order.sort_by(|&a, &b| tables[a].name().cmp(tables[b].name()));
    let mut guards: Vec<_> = order.iter().map(|&i| tables[i].lock()).collect();
    let mut sets: Vec<Option<WriteSet>> = sets.into_iter().map(Some).collect();
    let mut checked = Vec::with_capacity(tables.len());
    for (guard, &i) in guards.iter_mut().zip(&order) {
        let ws = sets[i].take().expect("one write set per table");
        checked.push(tables[i].check_write(guard, ws)?);
    }
    let mut outcomes = vec![WriteOutcome::default(); tables.len()];
    for ((guard, &i), checked) in guards.iter_mut().zip(&order).zip(checked) {
        outcomes[i] = tables[i].finish_write(guard, checked)?;
    }
    Ok(outcomes)
}
