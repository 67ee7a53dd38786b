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

/// Decodes what [`encode`] wrote. A plain Arrow IPC file (what
/// checkpoints held before queries had several stateful operators) is
/// operator 0's state.
pub fn decode(mut bytes: &[u8]) -> Result<BTreeMap<u32, Vec<RecordBatch>>> {
    let truncated = || EngineError::Internal("truncated operator state".into());
    let mut out = BTreeMap::new();
    if bytes.starts_with(b"ARROW1") {
        let batches = FileReader::try_new(Cursor::new(bytes), None)?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        out.insert(0, batches);
        return Ok(out);
    }
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(v: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![v]))]).unwrap()
    }

    #[test]
    fn operators_round_trip_and_old_single_files_are_operator_zero() {
        let state = |v| OperatorState {
            schema: batch(v).schema(),
            batches: vec![batch(v)],
            removed: Vec::new(),
        };
        let states = BTreeMap::from([(0, state(1)), (3, state(2))]);
        let decoded = decode(&encode(&states).unwrap()).unwrap();
        assert_eq!(decoded[&0], vec![batch(1)]);
        assert_eq!(decoded[&3], vec![batch(2)]);
        assert!(decode(&encode(&states).unwrap()[..20]).is_err());

        let mut old = Vec::new();
        let mut writer = FileWriter::try_new(&mut old, &batch(7).schema()).unwrap();
        writer.write(&batch(7)).unwrap();
        writer.finish().unwrap();
        drop(writer);
        assert_eq!(decode(&old).unwrap()[&0], vec![batch(7)]);
    }
}
