//! Small Arrow helpers the operators share.

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray};
use datafusion::arrow::compute::{cast, prep_null_mask_filter};
use datafusion::arrow::datatypes::DataType;

use crate::Result;

/// Casts each array to its wanted type (the output schema's, a join key's),
/// leaving arrays that already have it untouched.
pub(crate) fn cast_each<'t>(
    arrays: Vec<ArrayRef>,
    types: impl IntoIterator<Item = &'t DataType>,
) -> Result<Vec<ArrayRef>> {
    arrays
        .into_iter()
        .zip(types)
        .map(|(a, t)| Ok(if a.data_type() == t { a } else { cast(&a, t)? }))
        .collect()
}

/// A filter mask with NULL read as false.
pub(crate) fn null_as_false(mask: &BooleanArray) -> BooleanArray {
    if mask.null_count() == 0 {
        mask.clone()
    } else {
        prep_null_mask_filter(mask)
    }
}
