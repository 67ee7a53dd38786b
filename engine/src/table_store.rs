//! The storage of Eddy tables, at the path other crates import it from;
//! it lives in [`crate::table`].

pub use crate::table::{StoredTable, TableStore, write_atomically};
