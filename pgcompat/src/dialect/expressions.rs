//! Expressions: `OPERATOR(pg_catalog.~)`, `COLLATE`, `LIKE … ESCAPE`,
//! array literals compared with arrays, `(composite).field`, function
//! calls (`pg_catalog.` prefixes, `_pg_expandarray`,
//! `generate_subscripts`), `ARRAY(SELECT …)`, and subqueries over lateral
//! table functions.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    AccessExpr, BinaryOperator, DataType, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArguments, Query, SelectItem, SetExpr, TableFactor, Value, visit_expressions,
};

use super::ast::{call, function, function_name, number, part_is, string_literal};
use super::casts::rewrite_cast;

/// Rewrites one expression (the visitor reaches the ones inside it).
pub(super) fn rewrite_expr(expr: &mut Expr) {
    match expr {
        Expr::Function(f) => rewrite_function(f),
        Expr::Collate { expr: inner, .. } => *expr = (**inner).clone(),
        Expr::Like {
            pattern,
            escape_char,
            ..
        }
        | Expr::ILike {
            pattern,
            escape_char,
            ..
        } => {
            if let Some(escape) = escape_char
                && let Value::SingleQuotedString(e) = &escape.value
                && e != "\\"
            {
                let e = e.clone();
                match string_literal(pattern).and_then(|p| backslash_escaped(&p, &e)) {
                    Some(rewritten) => {
                        **pattern = Expr::value(Value::SingleQuotedString(rewritten));
                    }
                    None => {
                        let escape = Expr::value(Value::SingleQuotedString(e));
                        **pattern = call("eddy_like_pattern", vec![(**pattern).clone(), escape]);
                    }
                }
                *escape_char = None;
            }
        }
        Expr::BinaryOp { op, left, right } => {
            if let BinaryOperator::PGCustomBinaryOperator(parts) = op
                && let Some(mapped) = parts.last().and_then(|o| operator(o))
            {
                *op = mapped;
            }
            for side in [left, right] {
                if let Some(array) = array_literal(side) {
                    **side = array;
                }
            }
        }
        Expr::Cast {
            expr: inner,
            data_type,
            ..
        } => {
            let inner = (**inner).clone();
            if let Some(replacement) = rewrite_cast(&inner, data_type) {
                *expr = replacement;
            }
        }
        _ => {}
    }
    // `(composite).field` → `get_field(composite, 'field')`.
    if let Expr::CompoundFieldAccess { root, access_chain } = expr
        && let Expr::Nested(inner) = root.as_ref()
        && let [AccessExpr::Dot(Expr::Identifier(field))] = access_chain.as_slice()
    {
        let field = Expr::value(Value::SingleQuotedString(field.value.to_lowercase()));
        *expr = call("get_field", vec![(**inner).clone(), field]);
        return;
    }
    // `ARRAY(SELECT …)` is a function named `array` with a subquery.
    if let Expr::Function(f) = expr
        && function_name(&f.name).as_deref() == Some("array")
        && let FunctionArguments::Subquery(query) = &f.args
        && let Some(replacement) = array_subquery(query)
    {
        *expr = replacement;
    }
    if let Expr::Subquery(query) = expr
        && lateral_table_function(query)
    {
        *expr = Expr::value(Value::Null);
    }
}

/// A LIKE pattern written with `ESCAPE 'c'` rewritten for the default
/// escape, the backslash (DataFusion knows no other): `pg/_%` with `/`
/// becomes `pg\_%`. `None` if the escape is not one character.
pub fn backslash_escaped(pattern: &str, escape: &str) -> Option<String> {
    let mut chars = escape.chars();
    let (Some(e), None) = (chars.next(), chars.next()) else {
        return None;
    };
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        if c == e {
            let next = it.next()?;
            out.push('\\');
            out.push(next);
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    Some(out)
}

fn rewrite_function(f: &mut Function) {
    if f.name.0.len() == 2
        && (part_is(&f.name.0[0], "pg_catalog") || part_is(&f.name.0[0], "information_schema"))
    {
        f.name.0.remove(0);
    }
    // `_pg_expandarray(a)`: the elements of `a` with their positions, one
    // row each, as a composite `(x, n)` (pgjdbc's and Metabase's key
    // queries). The two unnest run in step, like PostgreSQL's set-returning
    // functions in a SELECT list.
    if function_name(&f.name).as_deref() == Some("_pg_expandarray")
        && let FunctionArguments::List(list) = &f.args
        && let [FunctionArg::Unnamed(FunctionArgExpr::Expr(array))] = list.args.as_slice()
    {
        let text = |s: &str| Expr::value(Value::SingleQuotedString(s.into()));
        *f = function(
            "named_struct",
            vec![
                text("x"),
                call("unnest", vec![array.clone()]),
                text("n"),
                subscripts(array.clone()),
            ],
        );
        return;
    }
    if function_name(&f.name).as_deref() == Some("generate_subscripts")
        && let FunctionArguments::List(list) = &f.args
        && let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(array))) = list.args.first()
        && let Expr::Function(unnest) = subscripts(array.clone())
    {
        *f = unnest;
    }
}

/// `unnest(range(1, array_length(a, 1) + 1))`: the positions of `a`'s
/// elements, one row each.
fn subscripts(array: Expr) -> Expr {
    let length = Expr::Cast {
        kind: datafusion::sql::sqlparser::ast::CastKind::Cast,
        expr: Box::new(call("array_length", vec![array, number("1")])),
        data_type: DataType::BigInt(None),
        array: false,
        format: None,
    };
    let upper = Expr::BinaryOp {
        left: Box::new(length),
        op: BinaryOperator::Plus,
        right: Box::new(number("1")),
    };
    call("unnest", vec![call("range", vec![number("1"), upper])])
}

/// `'{0}'` compared with an array column → `ARRAY[0]`.
fn array_literal(expr: &Expr) -> Option<Expr> {
    let Expr::Value(v) = expr else {
        return None;
    };
    let Value::SingleQuotedString(text) = &v.value else {
        return None;
    };
    let inner = text.strip_prefix('{')?.strip_suffix('}')?;
    // `'{"a": 1}'` compared with a jsonb column is a JSON object.
    if serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text)
        .is_ok_and(|object| !object.is_empty())
    {
        return None;
    }
    let items: Vec<&str> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let numeric = items.iter().all(|i| i.parse::<i64>().is_ok());
    let elem = items
        .into_iter()
        .map(|i| {
            if numeric {
                number(i)
            } else {
                Expr::value(Value::SingleQuotedString(i.trim_matches('"').to_string()))
            }
        })
        .collect();
    Some(Expr::Array(datafusion::sql::sqlparser::ast::Array {
        elem,
        named: true,
    }))
}

/// `OPERATOR(schema.op)` → the plain operator.
fn operator(op: &str) -> Option<BinaryOperator> {
    Some(match op {
        "~" => BinaryOperator::PGRegexMatch,
        "~*" => BinaryOperator::PGRegexIMatch,
        "!~" => BinaryOperator::PGRegexNotMatch,
        "!~*" => BinaryOperator::PGRegexNotIMatch,
        "~~" => BinaryOperator::PGLikeMatch,
        "!~~" => BinaryOperator::PGNotLikeMatch,
        "~~*" => BinaryOperator::PGILikeMatch,
        "!~~*" => BinaryOperator::PGNotILikeMatch,
        "=" => BinaryOperator::Eq,
        "<>" | "!=" => BinaryOperator::NotEq,
        "<" => BinaryOperator::Lt,
        "<=" => BinaryOperator::LtEq,
        ">" => BinaryOperator::Gt,
        ">=" => BinaryOperator::GtEq,
        "||" => BinaryOperator::StringConcat,
        "+" => BinaryOperator::Plus,
        "-" => BinaryOperator::Minus,
        _ => return None,
    })
}

/// Whether a subquery reads a table function of another column
/// (`FROM generate_series(0, array_upper(pr.prattrs, 1))`): DataFusion
/// cannot plan those; psql's `\d` uses them only over tables Eddy keeps
/// empty (publications), so such a subquery is NULL.
fn lateral_table_function(query: &Query) -> bool {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return false;
    };
    select.from.iter().any(|t| {
        std::iter::once(&t.relation)
            .chain(t.joins.iter().map(|j| &j.relation))
            .any(|f| match f {
                TableFactor::Table {
                    args: Some(args), ..
                } => args.args.iter().any(|a| {
                    let mut columns = false;
                    let _ = visit_expressions(a, |e: &Expr| {
                        if matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
                            columns = true;
                        }
                        ControlFlow::<()>::Continue(())
                    });
                    columns
                }),
                _ => false,
            })
    })
}

/// `ARRAY(SELECT x FROM … ORDER BY …)` → `(SELECT array_agg(x) FROM …)`;
/// psql's `ARRAY(SELECT … FROM pg_options_to_table(ftoptions))` →
/// `eddy_options_array(ftoptions)`.
fn array_subquery(query: &Query) -> Option<Expr> {
    let mut query = query.clone();
    let SetExpr::Select(select) = query.body.as_mut() else {
        return None;
    };
    if let [from] = select.from.as_slice()
        && from.joins.is_empty()
        && let TableFactor::Table {
            name,
            args: Some(args),
            ..
        } = &from.relation
        && function_name(name).as_deref() == Some("pg_options_to_table")
        && let [FunctionArg::Unnamed(FunctionArgExpr::Expr(options))] = args.args.as_slice()
    {
        return Some(call("eddy_options_array", vec![options.clone()]));
    }
    let [SelectItem::UnnamedExpr(item) | SelectItem::ExprWithAlias { expr: item, .. }] =
        select.projection.as_slice()
    else {
        return None;
    };
    let agg = call("array_agg", vec![item.clone()]);
    select.projection = vec![SelectItem::UnnamedExpr(agg)];
    query.order_by = None;
    Some(Expr::Subquery(Box::new(query)))
}
