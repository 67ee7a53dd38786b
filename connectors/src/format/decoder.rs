//! [`RecordDecoder`]: payloads to one Arrow batch, bad records isolated.
//!
//! The fast path feeds every payload to one arrow-json / arrow-csv decoder,
//! checking after each that it held exactly one record, and flushes once. If
//! any payload is not one record or the flush fails (a value of the wrong
//! type anywhere in the slice), the slow path decodes the payloads one at a
//! time to find which ones are bad; a decoder that failed is rebuilt, since
//! its state after an error is unspecified.

use std::sync::Arc;

use datafusion::arrow::array::BooleanArray;
use datafusion::arrow::compute::{concat_batches, filter_record_batch};
use datafusion::arrow::csv;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::json;
use datafusion::arrow::record_batch::RecordBatch;
use eddy_engine::{EngineError, Result};

use super::Format;
use super::timestamp;

/// Decodes payloads of one [`Format`] into batches of one schema.
pub struct RecordDecoder {
    format: Format,
    /// The declared payload columns: the schema of [`Decoded::batch`].
    schema: SchemaRef,
    /// `schema` with timestamp columns as text: what the Arrow decoders
    /// produce before `timestamp::convert` applies Eddy's timestamp rules.
    decode_schema: SchemaRef,
    /// Indexes of the timestamp columns.
    timestamp_columns: Vec<usize>,
}

/// The outcome of [`RecordDecoder::decode`].
#[derive(Debug)]
pub struct Decoded {
    /// The good records, in payload order, with the decoder's schema.
    pub batch: RecordBatch,
    /// For each row of `batch`, the index of its payload.
    pub rows: Vec<usize>,
    /// The payloads that could not be decoded, in index order.
    pub bad: Vec<BadRecord>,
}

/// A payload that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    /// Its index in the slice given to [`RecordDecoder::decode`].
    pub index: usize,
    /// Why, for the user.
    pub error: String,
}

/// One Arrow decoder, of either format.
enum Inner {
    Json(json::reader::Decoder),
    Csv(Box<csv::reader::Decoder>),
}

impl RecordDecoder {
    /// `schema`: the payload columns only (metadata columns such as `_key`
    /// or `_file` are added by the source).
    pub fn new(format: Format, schema: SchemaRef) -> Result<RecordDecoder> {
        let mut timestamp_columns = Vec::new();
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| match f.data_type() {
                DataType::Timestamp(..) => {
                    timestamp_columns.push(i);
                    f.as_ref().clone().with_data_type(DataType::Utf8)
                }
                _ => f.as_ref().clone(),
            })
            .collect();
        let decoder = RecordDecoder {
            format,
            decode_schema: Arc::new(Schema::new(fields)),
            schema,
            timestamp_columns,
        };
        // Unsupported column types surface here, not on the first record.
        decoder.inner(1).map_err(|e| {
            EngineError::Config(format!(
                "format {} cannot decode these columns: {e}",
                decoder.format_name()
            ))
        })?;
        Ok(decoder)
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn format_name(&self) -> &'static str {
        match self.format {
            Format::Json => "json",
            Format::Csv { .. } => "csv",
        }
    }

    fn inner(&self, capacity: usize) -> Result<Inner> {
        // One more than needed, so that a payload holding an extra record is
        // seen as such rather than stopping the decoder early.
        let batch_size = capacity + 1;
        Ok(match self.format {
            Format::Json => Inner::Json(
                json::ReaderBuilder::new(self.decode_schema.clone())
                    .with_batch_size(batch_size)
                    .with_coerce_primitive(true)
                    .build_decoder()?,
            ),
            Format::Csv { delimiter } => Inner::Csv(Box::new(
                csv::ReaderBuilder::new(self.decode_schema.clone())
                    .with_header(false)
                    .with_delimiter(delimiter)
                    .with_batch_size(batch_size)
                    .build_decoder(),
            )),
        })
    }

    /// Decodes one record per payload. The good ones become rows, in order;
    /// the others are reported in [`Decoded::bad`].
    pub fn decode(&mut self, payloads: &[&[u8]]) -> Result<Decoded> {
        let (batch, mut rows, mut bad) = match self.decode_all(payloads)? {
            Some(batch) => (batch, (0..payloads.len()).collect(), Vec::new()),
            None => self.decode_each(payloads)?,
        };
        let (columns, invalid) = timestamp::convert(&batch, &self.timestamp_columns, &self.schema);
        let mut batch = RecordBatch::try_new(self.schema.clone(), columns)?;
        if !invalid.is_empty() {
            let mut keep = vec![true; batch.num_rows()];
            for (row, error) in invalid {
                keep[row] = false;
                bad.push(BadRecord {
                    index: rows[row],
                    error,
                });
            }
            batch = filter_record_batch(&batch, &BooleanArray::from(keep.clone()))?;
            let mut keep = keep.into_iter();
            rows.retain(|_| keep.next().unwrap_or(false));
            bad.sort_by_key(|b| b.index);
        }
        Ok(Decoded { batch, rows, bad })
    }

    /// The fast path: all payloads through one decoder. `None` when any
    /// payload is bad.
    fn decode_all(&self, payloads: &[&[u8]]) -> Result<Option<RecordBatch>> {
        if payloads.is_empty() {
            return Ok(Some(RecordBatch::new_empty(self.decode_schema.clone())));
        }
        let mut inner = self.inner(payloads.len())?;
        for payload in payloads {
            if inner.push(payload).is_err() {
                return Ok(None);
            }
        }
        Ok(match inner.flush() {
            Ok(Some(batch)) if batch.num_rows() == payloads.len() => Some(batch),
            _ => None,
        })
    }

    /// The slow path: one payload at a time.
    fn decode_each(&self, payloads: &[&[u8]]) -> Result<(RecordBatch, Vec<usize>, Vec<BadRecord>)> {
        let mut inner = self.inner(1)?;
        let mut batches = Vec::new();
        let mut rows = Vec::new();
        let mut bad = Vec::new();
        for (index, payload) in payloads.iter().enumerate() {
            let decoded = inner.push(payload).and_then(|()| match inner.flush() {
                Ok(Some(batch)) if batch.num_rows() == 1 => Ok(batch),
                Ok(_) => Err("no record".to_string()),
                Err(e) => Err(clean_arrow_error(&e.to_string())),
            });
            match decoded {
                Ok(batch) => {
                    batches.push(batch);
                    rows.push(index);
                }
                Err(error) => {
                    bad.push(BadRecord { index, error });
                    inner = self.inner(1)?;
                }
            }
        }
        let batch = concat_batches(&self.decode_schema, &batches)?;
        Ok((batch, rows, bad))
    }
}

impl Inner {
    /// Feeds one payload; fails unless it held exactly one whole record.
    fn push(&mut self, payload: &[u8]) -> std::result::Result<(), String> {
        let arrow_err = |e: datafusion::arrow::error::ArrowError| clean_arrow_error(&e.to_string());
        match self {
            Inner::Json(d) => {
                let before = d.len();
                let consumed = d.decode(payload).map_err(arrow_err)?;
                if consumed < payload.len() {
                    return Err("more than one JSON value in one record".into());
                }
                // A top-level scalar only ends at a delimiter.
                d.decode(b"\n").map_err(arrow_err)?;
                if d.has_partial_record() {
                    return Err("truncated JSON".into());
                }
                match d.len() - before {
                    0 => Err("empty record: no JSON value".into()),
                    1 => Ok(()),
                    _ => Err("more than one JSON value in one record".into()),
                }
            }
            Inner::Csv(d) => {
                let line = strip_line_end(payload);
                let before = d.capacity();
                let consumed = d.decode(line).map_err(arrow_err)?;
                if consumed < line.len() {
                    return Err("more than one CSV line in one record".into());
                }
                d.decode(b"\n").map_err(arrow_err)?;
                match before - d.capacity() {
                    0 => Err("empty or unterminated CSV record (an unclosed quote?)".into()),
                    1 => Ok(()),
                    _ => Err("more than one CSV line in one record".into()),
                }
            }
        }
    }

    fn flush(&mut self) -> Result<Option<RecordBatch>, datafusion::arrow::error::ArrowError> {
        match self {
            Inner::Json(d) => d.flush(),
            Inner::Csv(d) => d.flush(),
        }
    }
}

/// A payload without its final line break, if any.
fn strip_line_end(payload: &[u8]) -> &[u8] {
    let p = payload.strip_suffix(b"\n").unwrap_or(payload);
    p.strip_suffix(b"\r").unwrap_or(p)
}

/// Arrow's messages start with the error kind ("Json error: …"); users need
/// only the reason.
fn clean_arrow_error(message: &str) -> String {
    for prefix in [
        "Json error: ",
        "Csv error: ",
        "Parser error: ",
        "Invalid argument error: ",
    ] {
        if let Some(rest) = message.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    message.to_string()
}
