//! PostgreSQL's identifier folding, once for every caller: an unquoted
//! identifier folds to lower case, a quoted one is kept as written.

use datafusion::sql::sqlparser::ast::Ident;

/// The name `ident` stands for.
pub fn fold(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}
