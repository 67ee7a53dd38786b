//! Operator state as written to checkpoints.
//!
//! Every stateful operator of a query (aggregations, session windows,
//! deduplication) has a number, its position in the operator tree. At each
//! checkpoint it hands over an [`OperatorState`]: Arrow batches in a schema
//! of its own, plus, for windowed aggregations writing a delta, the windows
//! dropped since the previous checkpoint. The checkpoint stores all of them
//! in one sealed file: for each operator, its number, the length of its
//! Arrow IPC file, and the file.

use std::collections::BTreeMap;
use std::io::Cursor;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::reader::FileReader;
use datafusion::arrow::ipc::writer::FileWriter;
use datafusion::arrow::record_batch::RecordBatch;

use crate::{EngineError, Result};

/// One operator's state at a checkpoint.
pub struct OperatorState {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    /// Windows dropped since the previous checkpoint (a windowed
    /// aggregation's delta); empty otherwise.
    pub removed: Vec<i64>,
}

/// Encodes the state of every operator, by operator number.
pub fn encode(states: &BTreeMap<u32, OperatorState>) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for (&id, state) in states {
        let mut ipc = Vec::new();
        {
            let mut writer = FileWriter::try_new(&mut ipc, &state.schema)?;
            for b in &state.batches {
                writer.write(b)?;
            }
            writer.finish()?;
        }
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&(ipc.len() as u64).to_le_bytes());
        out.extend_from_slice(&ipc);
    }
    Ok(out)
}

/// Decodes what [`encode`] wrote.
pub fn decode(mut bytes: &[u8]) -> Result<BTreeMap<u32, Vec<RecordBatch>>> {
    let truncated = || EngineError::Internal("truncated operator state".into());
    let mut out = BTreeMap::new();
    while !bytes.is_empty() {
        if bytes.len() < 12 {
            return Err(truncated());
        }
        let id = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"));
        let len = u64::from_le_bytes(bytes[4..12].try_into().expect("8 bytes")) as usize;
        let body = bytes.get(12..12 + len).ok_or_else(truncated)?;
        let batches = FileReader::try_new(Cursor::new(body), None)?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        out.insert(id, batches);
        bytes = &bytes[12 + len..];
    }
    Ok(out)
}
