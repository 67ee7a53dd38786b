//! Result column names as PostgreSQL gives them.
//!
//! PostgreSQL names an output column written without `AS` after its
//! expression (`FigureColname` in `parse_target.c`): a column reference by
//! its last name, a function call by the function's name (`count`, `now`),
//! a cast by its argument's name or else by the type's internal name
//! (`x::text` is `x`, `'1'::int` is `int4`), `CASE` by its `ELSE` branch's
//! name or else `case`, `EXISTS`, `ARRAY` and `ROW` by those words, a field
//! access or subscript by the field or the subscripted value, a scalar
//! subquery by its column; everything else (operators, literals, `true`)
//! is `?column?`. DataFusion names a column after its whole expression
//! (`count(*)`, `Int64(1) + Int64(1)`), and BI tools and ORMs read results
//! by name, so Eddy applies PostgreSQL's rule, kept in [`figure_colname`]:
//!
//! - the top level of an ad-hoc query is named in the result's description
//!   ([`output_columns`], [`rename_fields`]), not in the plan: PostgreSQL
//!   allows two columns of one name (`SELECT 1, 2`, `SELECT a::int,
//!   a::text`), a DataFusion projection does not. For the planner, such
//!   columns get aliases of their own instead ([`name_for_planning`]);
//!   those never reach the client;
//! - derived tables and CTEs get the names as `AS` aliases where they stay
//!   unique ([`name_derived_columns`]), so that an outer query can refer to
//!   the `count` of `(SELECT count(*) …)`;
//! - a streaming query's output columns become a sink's columns, so they are
//!   aliased as well ([`name_output_columns`]); two columns of one name are
//!   refused (42701), as PostgreSQL's `CREATE TABLE AS` refuses them.

use datafusion::arrow::datatypes::{Field, Schema};
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    AccessExpr, DataType, ExactNumberInfo, Expr, Ident, Query, Select, SelectItem, SetExpr,
    TableFactor, TableWithJoins, TimezoneInfo, TrimWhereField, visit_expressions,
};

use crate::{SqlError, identifiers};

/// The name of a column PostgreSQL can give no better name.
pub const UNNAMED: &str = "?column?";

/// How firmly an expression names its column: a cast or `CASE` replaces a
/// fallback name found inside it (`'1'::int::text` is `text`), never a
/// name (`x::text` is `x`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strength {
    Fallback,
    Named,
}

/// PostgreSQL's name for the column an unaliased `expr` computes.
pub fn figure_colname(expr: &Expr) -> String {
    figure(expr).map_or_else(|| UNNAMED.to_string(), |(name, _)| name)
}

fn figure(expr: &Expr) -> Option<(String, Strength)> {
    let named = |name: &str| Some((name.to_string(), Strength::Named));
    match expr {
        Expr::Identifier(ident) => Some((identifiers::fold(ident), Strength::Named)),
        Expr::CompoundIdentifier(parts) => parts
            .last()
            .map(|i| (identifiers::fold(i), Strength::Named)),
        Expr::CompoundFieldAccess { root, access_chain } => access_chain
            .iter()
            .rev()
            .find_map(field_name)
            .map(|name| (name, Strength::Named))
            .or_else(|| figure(root)),
        Expr::Nested(inner) | Expr::Collate { expr: inner, .. } => figure(inner),
        Expr::Function(function) => function
            .name
            .0
            .last()
            .and_then(|part| part.as_ident())
            .map(|ident| (identifiers::fold(ident), Strength::Named)),
        Expr::Cast {
            expr, data_type, ..
        } => match figure(expr) {
            Some(found @ (_, Strength::Named)) => Some(found),
            _ => Some((type_name(data_type), Strength::Fallback)),
        },
        // `DATE '…'` and `INTERVAL '…'` are casts of a string constant.
        Expr::TypedString(typed) => Some((type_name(&typed.data_type), Strength::Fallback)),
        Expr::Interval(_) => Some(("interval".to_string(), Strength::Fallback)),
        Expr::Case { else_result, .. } => match else_result.as_deref().and_then(figure) {
            Some(found @ (_, Strength::Named)) => Some(found),
            _ => Some(("case".to_string(), Strength::Fallback)),
        },
        Expr::Exists { negated: false, .. } => named("exists"),
        Expr::Array(_) => named("array"),
        Expr::Tuple(_) => named("row"),
        // The subquery's column always has a name, `?column?` at worst.
        Expr::Subquery(query) => match output_columns(query)?.into_iter().next()? {
            OutputColumn::Named(name) => Some((name, Strength::Named)),
            OutputColumn::Expanded => None,
        },
        // The SQL-syntax functions, named by the function PostgreSQL's
        // grammar turns them into.
        Expr::Extract { .. } => named("extract"),
        Expr::Substring { shorthand, .. } => named(if *shorthand { "substr" } else { "substring" }),
        Expr::Position { .. } => named("position"),
        Expr::Overlay { .. } => named("overlay"),
        Expr::Ceil { .. } => named("ceil"),
        Expr::Floor { .. } => named("floor"),
        Expr::AtTimeZone { .. } => named("timezone"),
        Expr::Trim { trim_where, .. } => named(match trim_where {
            Some(TrimWhereField::Leading) => "ltrim",
            Some(TrimWhereField::Trailing) => "rtrim",
            _ => "btrim",
        }),
        _ => None,
    }
}

/// The field a `.field` access names (subscripts name none).
fn field_name(access: &AccessExpr) -> Option<String> {
    match access {
        AccessExpr::Dot(Expr::Identifier(field)) => Some(identifiers::fold(field)),
        AccessExpr::Dot(Expr::CompoundIdentifier(parts)) => parts.last().map(identifiers::fold),
        _ => None,
    }
}

/// The internal name of a type as PostgreSQL's grammar records it for a
/// cast: `int` is `int4`, `double precision` is `float8`, `int[]` is `int4`.
fn type_name(data_type: &DataType) -> String {
    use DataType as D;
    let name = match data_type {
        D::Bool | D::Boolean => "bool",
        D::SmallInt(_) | D::Int2(_) => "int2",
        D::Int(_) | D::Integer(_) | D::Int4(_) => "int4",
        D::BigInt(_) | D::Int8(_) => "int8",
        D::Real | D::Float4 => "float4",
        D::Double(_) | D::DoublePrecision | D::Float8 => "float8",
        D::Float(ExactNumberInfo::Precision(p) | ExactNumberInfo::PrecisionAndScale(p, _))
            if *p <= 24 =>
        {
            "float4"
        }
        D::Float(_) => "float8",
        D::Numeric(_) | D::Decimal(_) | D::Dec(_) => "numeric",
        D::Text | D::String(_) => "text",
        D::Varchar(_) | D::CharacterVarying(_) | D::CharVarying(_) => "varchar",
        D::Char(_) | D::Character(_) => "bpchar",
        D::Uuid => "uuid",
        D::JSON => "json",
        D::JSONB => "jsonb",
        D::Bytea => "bytea",
        D::Date => "date",
        D::Time(_, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz) => "timetz",
        D::Time(..) => "time",
        D::Timestamp(_, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz) => "timestamptz",
        D::Timestamp(..) => "timestamp",
        D::Interval { .. } => "interval",
        D::Regclass => "regclass",
        D::Bit(_) => "bit",
        D::BitVarying(_) | D::VarBit(_) => "varbit",
        D::Array(element) => {
            use datafusion::sql::sqlparser::ast::ArrayElemTypeDef as E;
            return match element {
                E::SquareBracket(inner, _) | E::AngleBracket(inner) | E::Parenthesis(inner) => {
                    type_name(inner)
                }
                E::None => "array".to_string(),
            };
        }
        D::Custom(name, _) => {
            return name
                .0
                .last()
                .and_then(|part| part.as_ident())
                .map_or_else(|| name.to_string(), identifiers::fold);
        }
        other => {
            let text = other.to_string().to_lowercase();
            return text
                .split('(')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
        }
    };
    name.to_string()
}

/// One output column of a query, as its SELECT list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputColumn {
    /// A column PostgreSQL names so.
    Named(String),
    /// The columns a `*` or `t.*` expands to; DataFusion names them by their
    /// column names already.
    Expanded,
}

impl OutputColumn {
    /// The name, unless the column is one of a `*`'s.
    pub fn name(&self) -> Option<&str> {
        match self {
            OutputColumn::Named(name) => Some(name),
            OutputColumn::Expanded => None,
        }
    }
}

/// The output columns of `query`, from its (leftmost) SELECT list, as a set
/// operation takes its names from its first branch; `None` for a query
/// whose columns are not listed (`VALUES`, named `column1`… as PostgreSQL
/// names them).
pub fn output_columns(query: &Query) -> Option<Vec<OutputColumn>> {
    let select = leftmost_select(&query.body)?;
    Some(select.projection.iter().map(item_column).collect())
}

/// The columns a SELECT list (or RETURNING list) item gives.
pub fn item_column(item: &SelectItem) -> OutputColumn {
    match item {
        SelectItem::UnnamedExpr(expr) => OutputColumn::Named(figure_colname(expr)),
        SelectItem::ExprWithAlias { alias, .. } => OutputColumn::Named(identifiers::fold(alias)),
        _ => OutputColumn::Expanded,
    }
}

fn leftmost_select(body: &SetExpr) -> Option<&Select> {
    match body {
        SetExpr::Select(select) => Some(select),
        SetExpr::Query(query) => leftmost_select(&query.body),
        SetExpr::SetOperation { left, .. } => leftmost_select(left),
        _ => None,
    }
}

fn leftmost_select_mut(body: &mut SetExpr) -> Option<&mut Select> {
    match body {
        SetExpr::Select(select) => Some(select),
        SetExpr::Query(query) => leftmost_select_mut(&mut query.body),
        SetExpr::SetOperation { left, .. } => leftmost_select_mut(left),
        _ => None,
    }
}

/// `schema` with its fields named as `columns` says (field metadata kept).
/// Where that cannot be matched up with the fields (several `*` with named
/// columns between them) the fields keep DataFusion's names.
pub fn rename_fields(schema: &Schema, columns: &[OutputColumn]) -> Schema {
    let names = positional_names(columns, schema.fields().len());
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .zip(names)
        .map(|(field, name)| match name {
            Some(name) if name != field.name() => field.as_ref().clone().with_name(name),
            _ => field.as_ref().clone(),
        })
        .collect();
    Schema::new_with_metadata(fields, schema.metadata().clone())
}

/// The name of each of `width` fields, `None` where DataFusion's stays.
fn positional_names(columns: &[OutputColumn], width: usize) -> Vec<Option<&str>> {
    let expanded = columns
        .iter()
        .filter(|c| **c == OutputColumn::Expanded)
        .count();
    let named = columns.len() - expanded;
    let mut names = vec![None; width];
    if width < named || (expanded == 0 && width != named) {
        return names;
    }
    if expanded <= 1 {
        let star_width = width - named;
        return columns
            .iter()
            .flat_map(|c| match c.name() {
                Some(n) => vec![Some(n)],
                None => vec![None; star_width],
            })
            .collect();
    }
    // Where each `*` ends is unknown: only the columns before the first one
    // and after the last one are placed.
    for (slot, column) in names.iter_mut().zip(columns.iter()) {
        match column.name() {
            Some(n) => *slot = Some(n),
            None => break,
        }
    }
    for (slot, column) in names.iter_mut().rev().zip(columns.iter().rev()) {
        match column.name() {
            Some(n) => *slot = Some(n),
            None => break,
        }
    }
    names
}

/// Aliases the unaliased expressions of every derived table and CTE in
/// `query` (at any depth) with PostgreSQL's names, where the names of that
/// SELECT list stay unique and it has no `*`; a list with column aliases
/// (`AS s(a, b)`) is left alone.
pub fn name_derived_columns(query: &mut Query) {
    if let Some(with) = &mut query.with {
        for cte in &mut with.cte_tables {
            if cte.alias.columns.is_empty() {
                alias_unique(&mut cte.query);
            }
            name_derived_columns(&mut cte.query);
        }
    }
    name_in_set_expr(&mut query.body);
}

fn name_in_set_expr(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            for from in &mut select.from {
                name_in_from(from);
            }
        }
        SetExpr::Query(query) => name_derived_columns(query),
        SetExpr::SetOperation { left, right, .. } => {
            name_in_set_expr(left);
            name_in_set_expr(right);
        }
        _ => {}
    }
}

fn name_in_from(from: &mut TableWithJoins) {
    name_in_factor(&mut from.relation);
    for join in &mut from.joins {
        name_in_factor(&mut join.relation);
    }
}

fn name_in_factor(factor: &mut TableFactor) {
    match factor {
        TableFactor::Derived {
            subquery, alias, ..
        } => {
            if alias.as_ref().is_none_or(|a| a.columns.is_empty()) {
                alias_unique(subquery);
            }
            name_derived_columns(subquery);
        }
        TableFactor::NestedJoin {
            table_with_joins, ..
        } => name_in_from(table_with_joins),
        _ => {}
    }
}

fn alias_unique(query: &mut Query) {
    let Some(select) = leftmost_select_mut(&mut query.body) else {
        return;
    };
    let columns: Vec<OutputColumn> = select.projection.iter().map(item_column).collect();
    if columns.contains(&OutputColumn::Expanded) {
        return;
    }
    let in_having = having_names(select);
    let fits = |name: &str| occurrences(&columns, name) == 1 && !in_having.contains(name);
    for item in &mut select.projection {
        alias_item(item, &fits);
    }
}

fn occurrences(columns: &[OutputColumn], name: &str) -> usize {
    columns.iter().filter(|c| c.name() == Some(name)).count()
}

/// The names HAVING refers to. DataFusion resolves a name there to a SELECT
/// alias before an input column, PostgreSQL never to an alias: so an alias
/// `a` on `a::text` must not capture the `a` of `HAVING a > 0`.
fn having_names(select: &Select) -> std::collections::HashSet<String> {
    let mut names = std::collections::HashSet::new();
    if let Some(having) = &select.having {
        let _ = visit_expressions(having, |expr: &Expr| {
            match expr {
                Expr::Identifier(ident) => {
                    names.insert(identifiers::fold(ident));
                }
                Expr::CompoundIdentifier(parts) => {
                    names.extend(parts.last().map(identifiers::fold));
                }
                _ => {}
            }
            ControlFlow::<()>::Continue(())
        });
    }
    names
}

/// Prepares a query for DataFusion: [`name_derived_columns`], and in each
/// SELECT of its top level, aliases that keep DataFusion's projection
/// names unique where PostgreSQL's repeat (`SELECT NULL, NULL`, `SELECT
/// a::int, a::text`, an expression beside a `*`). An expression whose name
/// is unique gets that name (so that `ORDER BY count` finds `count(*)`);
/// the others, and a repeated column reference, an alias `?column?<n>` of
/// their own. The client sees the names of [`rename_fields`] either way.
pub fn name_for_planning(query: &mut Query) {
    name_derived_columns(query);
    let mut position = 0;
    for_each_select(&mut query.body, &mut |select| {
        alias_for_planner(select, &mut position)
    });
}

fn for_each_select(body: &mut SetExpr, f: &mut dyn FnMut(&mut Select)) {
    match body {
        SetExpr::Select(select) => f(select),
        SetExpr::Query(query) => for_each_select(&mut query.body, f),
        SetExpr::SetOperation { left, right, .. } => {
            for_each_select(left, f);
            for_each_select(right, f);
        }
        _ => {}
    }
}

fn alias_for_planner(select: &mut Select, position: &mut usize) {
    let columns: Vec<OutputColumn> = select.projection.iter().map(item_column).collect();
    let star = columns.contains(&OutputColumn::Expanded);
    let in_having = having_names(select);
    for (item, column) in select.projection.iter_mut().zip(&columns) {
        *position += 1;
        let (SelectItem::UnnamedExpr(expr), Some(name)) = (&mut *item, column.name()) else {
            continue;
        };
        let unique = !star && occurrences(&columns, name) == 1;
        let column_ref = matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_));
        let alias = match (column_ref, unique && !in_having.contains(name)) {
            (true, _) if unique => continue,
            (false, true) => Ident::with_quote('"', name),
            _ => Ident::with_quote('"', format!("{UNNAMED}{position}")),
        };
        let expr = std::mem::replace(expr, Expr::Identifier(Ident::new("")));
        *item = SelectItem::ExprWithAlias { expr, alias };
    }
}

/// Gives an unaliased expression that is not a plain column reference its
/// PostgreSQL name, if `keep(name)`.
fn alias_item(item: &mut SelectItem, keep: &dyn Fn(&str) -> bool) {
    let SelectItem::UnnamedExpr(expr) = item else {
        return;
    };
    if matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
        return;
    }
    let name = figure_colname(expr);
    if keep(&name) {
        let expr = std::mem::replace(expr, Expr::Identifier(Ident::new("")));
        *item = SelectItem::ExprWithAlias {
            expr,
            alias: Ident::with_quote('"', name),
        };
    }
}

/// Names a streaming query's output columns as PostgreSQL would (they
/// become the sink's columns), and its derived tables' and CTEs' columns as
/// [`name_derived_columns`] does. Two output columns of one name are
/// refused with 42701.
pub fn name_output_columns(query: &mut Query) -> Result<(), SqlError> {
    name_derived_columns(query);
    let Some(select) = leftmost_select_mut(&mut query.body) else {
        return Ok(());
    };
    let mut seen = std::collections::HashSet::new();
    for column in select.projection.iter().map(item_column) {
        if let OutputColumn::Named(name) = column
            && !seen.insert(name.clone())
        {
            return Err(SqlError {
                sqlstate: "42701",
                message: format!(
                    "column \"{name}\" specified more than once in the streaming query's output; \
                     give the columns distinct names with AS"
                ),
                position: None,
            });
        }
    }
    for item in &mut select.projection {
        alias_item(item, &|_| true);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
