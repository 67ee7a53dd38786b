//! PostgreSQL name rules for identifiers coming from sqlparser's AST:
//! unquoted names fold to lower case, quoted ones are kept; `public.` is
//! the only schema.

use datafusion::sql::sqlparser::ast::{Ident, ObjectName};

use crate::error::{UserError, UserResult};

pub fn ident(ident: &Ident) -> String {
    eddy_sql::identifiers::fold(ident)
}

pub fn object_name(name: &ObjectName) -> UserResult<String> {
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident())
        .map(ident)
        .collect();
    match parts.as_slice() {
        [one] => Ok(one.clone()),
        [schema, one] if schema == "public" => Ok(one.clone()),
        _ => Err(UserError::new(
            "3F000",
            format!("schema of \"{name}\" does not exist; Eddy has only the schema \"public\""),
        )),
    }
}
