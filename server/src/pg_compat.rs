//! PostgreSQL dialect rewrites applied to a statement's AST before
//! DataFusion plans it.
//!
//! Catalog queries from psql, drivers and BI tools use PostgreSQL syntax
//! DataFusion does not plan: object-identifier casts (`x::regclass`,
//! `'t'::regtype`, `::oid`), schema-qualified functions and types
//! (`pg_catalog.format_type`, `::pg_catalog.text`), `OPERATOR(pg_catalog.~)`,
//! `COLLATE pg_catalog.default` and `ARRAY(SELECT …)`. Each is rewritten into
//! plain SQL over the functions [`crate::pg_catalog::functions`] registers:
//!
//! | PostgreSQL | rewritten to |
//! |---|---|
//! | `'name'::regclass` | `eddy_regclass_oid('name')` (the OID) |
//! | `expr::regclass` | `eddy_regclass_name(expr)` (the name, as PostgreSQL prints it) |
//! | `'int4'::regtype` / `expr::regtype` | `eddy_regtype_oid('int4')` / `format_type(expr, NULL)` |
//! | `expr::regnamespace`, `::regrole`, `::regproc` | the name |
//! | `::oid`, `::regoper`… | `CAST(… AS BIGINT)` (OIDs are BIGINT in Eddy) |
//! | `pg_catalog.f(…)`, `::pg_catalog.t` | `f(…)`, `::t` |
//! | `a OPERATOR(pg_catalog.~) b` | `a ~ b` |
//! | `e COLLATE c` | `e` |
//! | `ARRAY(SELECT x FROM …)` | `(SELECT array_agg(x) FROM …)` |
//! | `generate_subscripts(a, 1)` | `unnest(range(1, array_length(a, 1) + 1))` |
//!
//! The rewrite is purely syntactic: it never looks at the catalog, so it
//! runs once per statement, before binding parameters.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    AccessExpr, BinaryOperator, DataType, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArgumentList, FunctionArguments, Ident, ObjectName, ObjectNamePart, Query, SelectItem,
    SetExpr, Statement, TableAliasColumnDef, TableFactor, Value, VisitMut, VisitorMut,
    visit_expressions, visit_expressions_mut, visit_relations_mut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Table functions that may be written with a `pg_catalog.` prefix.
const TABLE_FUNCTIONS: &[&str] = &[
    "pg_get_keywords",
    "generate_series",
    "unnest",
    "range",
    "pg_show_all_settings",
];

/// Rewrites `stmt` in place (see the module documentation).
pub fn rewrite(stmt: &mut Statement) {
    let _ = visit_relations_mut(stmt, |name: &mut ObjectName| {
        if name.0.len() == 2
            && part_is(&name.0[0], "pg_catalog")
            && name.0[1]
                .as_ident()
                .is_some_and(|i| TABLE_FUNCTIONS.contains(&i.value.to_lowercase().as_str()))
        {
            name.0.remove(0);
        }
        ControlFlow::<()>::Continue(())
    });
    let _ = stmt.visit(&mut ScalarFunctionsInFrom);
    let _ = visit_expressions_mut(stmt, |expr: &mut Expr| {
        rewrite_expr(expr);
        ControlFlow::<()>::Continue(())
    });
}

/// Functions that are table functions in Eddy (the others are scalar).
const KNOWN_TABLE_FUNCTIONS: &[&str] = &[
    "pg_get_keywords",
    "generate_series",
    "unnest",
    "range",
    "pg_show_all_settings",
    "generate_subscripts",
    "pg_options_to_table",
];

/// A scalar function in FROM (`FROM string_to_array(x, ',') s`, as
/// Grafana writes) is a one-row table in PostgreSQL, its column named
/// after the alias: `(SELECT string_to_array(x, ',') AS s) AS s`.
struct ScalarFunctionsInFrom;

impl VisitorMut for ScalarFunctionsInFrom {
    type Break = ();

    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::Table {
            name,
            args: Some(args),
            alias,
            ..
        } = factor
        else {
            return ControlFlow::Continue(());
        };
        let Some(function) = function_name(name) else {
            return ControlFlow::Continue(());
        };
        if KNOWN_TABLE_FUNCTIONS.contains(&function.as_str()) || name.0.len() > 1 {
            // One column: PostgreSQL names it after the table alias
            // (`generate_series(1, 3) AS i` has a column `i`).
            if matches!(
                function.as_str(),
                "generate_series" | "range" | "unnest" | "generate_subscripts"
            ) && let Some(alias) = alias
                && alias.columns.is_empty()
            {
                alias.columns = vec![TableAliasColumnDef {
                    name: alias.name.clone(),
                    data_type: None,
                }];
            }
            return ControlFlow::Continue(());
        }
        let call = Expr::Function(Function {
            name: name.clone(),
            uses_odbc_syntax: false,
            parameters: FunctionArguments::None,
            args: FunctionArguments::List(FunctionArgumentList {
                duplicate_treatment: None,
                args: args.args.clone(),
                clauses: vec![],
            }),
            filter: None,
            null_treatment: None,
            over: None,
            within_group: vec![],
        });
        let table = alias
            .as_ref()
            .map_or_else(|| Ident::new(&function), |a| a.name.clone());
        let column = alias
            .as_ref()
            .and_then(|a| a.columns.first())
            .map_or_else(|| table.clone(), |c| c.name.clone());
        let sql = format!("SELECT * FROM (SELECT {call} AS {column}) AS {table}");
        if let Ok(Statement::Query(query)) = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(&sql)
            .and_then(|mut p| p.parse_statement())
            && let SetExpr::Select(select) = *query.body
            && let Some(from) = select.from.into_iter().next()
        {
            *factor = from.relation;
        }
        ControlFlow::Continue(())
    }
}

fn part_is(part: &ObjectNamePart, name: &str) -> bool {
    part.as_ident()
        .is_some_and(|i| i.value.eq_ignore_ascii_case(name))
}

fn rewrite_expr(expr: &mut Expr) {
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

fn string_literal(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
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

fn function_name(name: &ObjectName) -> Option<String> {
    name.0.last()?.as_ident().map(eddy_sql::identifiers::fold)
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

fn number(n: &str) -> Expr {
    Expr::value(Value::Number(n.into(), false))
}

pub(crate) fn function(name: &str, args: Vec<Expr>) -> Function {
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

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(function(name, args))
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

/// The lower-case name of a type, without a `pg_catalog.` prefix.
fn type_name(data_type: &DataType) -> Option<String> {
    match data_type {
        DataType::Regclass => Some("regclass".into()),
        DataType::Custom(name, _) => function_name(name),
        _ => None,
    }
}

fn is_string_literal(expr: &Expr) -> bool {
    matches!(expr, Expr::Value(v) if matches!(v.value, Value::SingleQuotedString(_) | Value::EscapedStringLiteral(_)))
}

fn rewrite_cast(inner: &Expr, data_type: &mut DataType) -> Option<Expr> {
    if let Some(name) = type_name(data_type) {
        // A parameter cast to an OID type is that type's input, as text
        // (`$1::regclass` with 'pg_catalog.pg_class', SQLAlchemy's way).
        let literal = is_string_literal(inner)
            || matches!(inner, Expr::Value(v) if matches!(v.value, Value::Placeholder(_)));
        let arg = || vec![inner.clone()];
        match name.as_str() {
            "regclass" if literal => return Some(call("eddy_regclass_oid", arg())),
            "regclass" => return Some(call("eddy_regclass_name", arg())),
            "regtype" if literal => return Some(call("eddy_regtype_oid", arg())),
            "regtype" => {
                return Some(call(
                    "format_type",
                    vec![inner.clone(), Expr::value(Value::Null)],
                ));
            }
            "regnamespace" if literal => return Some(call("eddy_regnamespace_oid", arg())),
            "regnamespace" => return Some(call("eddy_regnamespace_name", arg())),
            "regrole" if literal => return Some(call("eddy_regrole_oid", arg())),
            "regrole" => return Some(call("pg_get_userbyid", arg())),
            "regproc" | "regprocedure" => {
                *data_type = DataType::Text;
                return None;
            }
            "oid" | "regoper" | "regoperator" | "regconfig" | "regdictionary" | "xid" | "cid"
            | "tid" => {
                *data_type = DataType::BigInt(None);
                return None;
            }
            _ => {}
        }
    }
    if let Some(plain) = plain_type(data_type) {
        *data_type = plain;
    }
    // `'orders'::regclass::text` is the name again.
    if matches!(data_type, DataType::Text | DataType::Varchar(_))
        && let Expr::Function(f) = inner
        && function_name(&f.name).as_deref() == Some("eddy_regclass_oid")
    {
        return Some(call("eddy_regclass_name", vec![inner.clone()]));
    }
    None
}

/// PostgreSQL types DataFusion does not know, as the types that hold the
/// same values; `pg_catalog.`-qualified types as their plain names.
fn plain_type(data_type: &DataType) -> Option<DataType> {
    match data_type {
        DataType::Array(elem) => {
            use datafusion::sql::sqlparser::ast::ArrayElemTypeDef;
            let rewrite = |t: &DataType| plain_type(t).map(Box::new);
            match elem {
                ArrayElemTypeDef::SquareBracket(t, size) => Some(DataType::Array(
                    ArrayElemTypeDef::SquareBracket(rewrite(t)?, *size),
                )),
                ArrayElemTypeDef::AngleBracket(t) => {
                    Some(DataType::Array(ArrayElemTypeDef::AngleBracket(rewrite(t)?)))
                }
                ArrayElemTypeDef::Parenthesis(t) => {
                    Some(DataType::Array(ArrayElemTypeDef::Parenthesis(rewrite(t)?)))
                }
                ArrayElemTypeDef::None => None,
            }
        }
        DataType::Custom(name, modifiers) => {
            let last = function_name(name)?;
            let mapped = match last.as_str() {
                "name" | "char" | "bpchar" | "citext" | "unknown" | "regproc" | "xml" => {
                    return Some(DataType::Text);
                }
                "oid" | "regclass" | "regtype" | "xid" => return Some(DataType::BigInt(None)),
                "int2vector" => return Some(smallint_array()),
                "oidvector" => return Some(bigint_array()),
                _ if name.0.len() > 1 => last,
                _ => return None,
            };
            let text = if modifiers.is_empty() {
                mapped
            } else {
                format!("{mapped}({})", modifiers.join(","))
            };
            Parser::new(&PostgreSqlDialect {})
                .try_with_sql(&text)
                .ok()?
                .parse_data_type()
                .ok()
        }
        DataType::Char(_) | DataType::Character(_) => Some(DataType::Text),
        _ => None,
    }
}

fn smallint_array() -> DataType {
    use datafusion::sql::sqlparser::ast::ArrayElemTypeDef;
    DataType::Array(ArrayElemTypeDef::SquareBracket(
        Box::new(DataType::SmallInt(None)),
        None,
    ))
}

fn bigint_array() -> DataType {
    use datafusion::sql::sqlparser::ast::ArrayElemTypeDef;
    DataType::Array(ArrayElemTypeDef::SquareBracket(
        Box::new(DataType::BigInt(None)),
        None,
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut stmt = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .pop()
            .unwrap();
        rewrite(&mut stmt);
        stmt.to_string()
    }

    #[test]
    fn object_identifier_casts() {
        assert_eq!(
            rewritten("SELECT c.oid::pg_catalog.regclass FROM t WHERE x = 'orders'::regclass"),
            "SELECT eddy_regclass_name(c.oid) FROM t WHERE x = eddy_regclass_oid('orders')"
        );
        assert_eq!(
            rewritten("SELECT 'orders'::regclass::text, 16384::oid, a::regtype"),
            "SELECT eddy_regclass_name(eddy_regclass_oid('orders')), 16384::BIGINT, format_type(a, NULL)"
        );
    }

    #[test]
    fn qualified_names_operators_and_collations() {
        assert_eq!(
            rewritten(
                "SELECT pg_catalog.format_type(a, b)::pg_catalog.text FROM c \
                 WHERE c.relname OPERATOR(pg_catalog.~) '^(orders)$' COLLATE pg_catalog.default"
            ),
            "SELECT format_type(a, b)::TEXT FROM c WHERE c.relname ~ '^(orders)$'"
        );
    }

    #[test]
    fn array_literals_but_not_json_objects() {
        assert_eq!(
            rewritten("SELECT 1 FROM t WHERE k = '{1,2}' AND j = '{\"a\": [1, 2]}'"),
            "SELECT 1 FROM t WHERE k = ARRAY[1, 2] AND j = '{\"a\": [1, 2]}'"
        );
    }

    #[test]
    fn like_with_another_escape() {
        assert_eq!(
            rewritten("SELECT 1 FROM n WHERE nspname NOT LIKE 'pg/_%' ESCAPE '/'"),
            "SELECT 1 FROM n WHERE nspname NOT LIKE 'pg\\_%'"
        );
    }

    #[test]
    fn scalar_function_in_from() {
        assert_eq!(
            rewritten("SELECT s[i] FROM generate_series(1, 2) AS i, string_to_array('a,b', ',') s"),
            "SELECT s[i] FROM generate_series(1, 2) AS i (i), (SELECT string_to_array('a,b', ',') AS s) AS s"
        );
    }

    #[test]
    fn array_of_a_subquery() {
        assert_eq!(
            rewritten("SELECT array(SELECT rolname FROM pg_roles ORDER BY 1)"),
            "SELECT (SELECT array_agg(rolname) FROM pg_roles)"
        );
    }
}
