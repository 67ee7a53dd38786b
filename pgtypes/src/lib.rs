//! # eddy-pgtypes
//!
//! PostgreSQL's types as Eddy speaks them, in one place: every crate that
//! describes, writes or reads a PostgreSQL value goes through this one, so
//! the type a column is described as and the bytes sent for it cannot
//! disagree between the wire, `pg_catalog`, the COPY writer and the lookup
//! reader. It depends on Arrow only (no DataFusion), so the wire front end
//! can use it without linking the planner.
//!
//! - [`oid`]: the built-in types with PostgreSQL's OIDs (`pg_type`'s rows),
//!   by OID and by name, and `format_type`.
//! - [`mapping`]: Arrow field → PostgreSQL type ([`of_field`]), the one
//!   mapping used everywhere; field metadata names the types Arrow cannot
//!   express (`uuid`, `json`, `jsonb`, vectors).
//! - [`encode`]: Arrow columns → text or binary values, a column at a
//!   time, and rows framed as DataRow or COPY bodies.
//! - [`decode`]: text or binary values → [`decode::Value`], for bound
//!   parameters, lookup rows and COPY input.
//! - [`copy`]: the COPY formats (text, CSV, binary) framing those values,
//!   read for `COPY … FROM STDIN` and written for `COPY … TO STDOUT`.
//! - [`numeric`], [`datetime`], [`float`], [`uuid`]: the codecs of single
//!   values those use.

pub mod copy;
pub mod datetime;
pub mod decode;
pub mod encode;
pub mod float;
pub mod mapping;
pub mod numeric;
pub mod oid;
pub mod uuid;

pub use mapping::{ColumnType, PG_TYPE_KEY, of_arrow, of_field, oids};

/// Copies `bytes` into `out` at `cursor`, advancing it.
#[inline]
pub fn put(out: &mut [u8], cursor: &mut usize, bytes: &[u8]) {
    out[*cursor..*cursor + bytes.len()].copy_from_slice(bytes);
    *cursor += bytes.len();
}
