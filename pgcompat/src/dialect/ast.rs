//! Building and reading the AST nodes the rewrites share: calls by name,
//! literals, names compared as PostgreSQL folds them.

use datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident,
    ObjectName, ObjectNamePart, Value,
};

/// Whether a name part is `name`, compared case-insensitively.
pub(super) fn part_is(part: &ObjectNamePart, name: &str) -> bool {
    part.as_ident()
        .is_some_and(|i| i.value.eq_ignore_ascii_case(name))
}

/// The last part of a name, folded as PostgreSQL folds identifiers.
pub(super) fn function_name(name: &ObjectName) -> Option<String> {
    name.0.last()?.as_ident().map(eddy_sql::identifiers::fold)
}

/// A call of `name` with positional arguments.
pub fn function(name: &str, args: Vec<Expr>) -> Function {
    Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
                .collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    }
}

pub(super) fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(function(name, args))
}

pub(super) fn number(n: &str) -> Expr {
    Expr::value(Value::Number(n.into(), false))
}

pub(super) fn string_literal(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

pub(super) fn is_string_literal(expr: &Expr) -> bool {
    matches!(expr, Expr::Value(v) if matches!(v.value, Value::SingleQuotedString(_) | Value::EscapedStringLiteral(_)))
}
