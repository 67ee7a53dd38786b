//! [`CanonicalLiterals`]: a string literal compared with a `uuid` or `jsonb`
//! column is made canonical before the comparison, so `u = 'A0EEBC99-…'`
//! finds the row stored as `a0eebc99-…`, as it does in PostgreSQL (which
//! reads the literal as a uuid). The columns hold canonical text, and the
//! comparison stays a plain string comparison.
//!
//! A literal that is not a valid value is left as written: it matches
//! nothing (PostgreSQL would refuse it; `'…'::uuid` does, see
//! [`crate::types::rewrite_pg_casts`]). `json` has no equality in
//! PostgreSQL, so its literals are left alone.

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::expr::InList;
use datafusion::logical_expr::{BinaryExpr, Expr, LogicalPlan, Operator};
use datafusion::optimizer::AnalyzerRule;

use super::TextType;

/// The analyzer rule; see the module doc.
#[derive(Debug, Default)]
pub struct CanonicalLiterals;

impl AnalyzerRule for CanonicalLiterals {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|plan| {
            let inputs = plan.inputs();
            if inputs.is_empty() {
                return Ok(Transformed::no(plan));
            }
            let mut schema = DFSchema::empty();
            for input in inputs {
                schema.merge(input.schema());
            }
            plan.map_expressions(|e| e.transform_up(|e| canonical_comparison(e, &schema)))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "eddy_canonical_text_literals"
    }
}

fn canonical_comparison(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let typed = |e: &Expr| match e {
        Expr::Column(c) => schema
            .qualified_field_from_column(c)
            .ok()
            .and_then(|(_, f)| TextType::of_field(f))
            .filter(|t| *t != TextType::Json),
        _ => None,
    };
    Ok(match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right })
            if matches!(op, Operator::Eq | Operator::NotEq) =>
        {
            let (left, right, changed) = match (typed(&left), typed(&right)) {
                (Some(t), _) => {
                    let (right, changed) = canonical_literal(*right, t);
                    (left, Box::new(right), changed)
                }
                (None, Some(t)) => {
                    let (left, changed) = canonical_literal(*left, t);
                    (Box::new(left), right, changed)
                }
                (None, None) => (left, right, false),
            };
            let expr = Expr::BinaryExpr(BinaryExpr { left, op, right });
            if changed {
                Transformed::yes(expr)
            } else {
                Transformed::no(expr)
            }
        }
        Expr::InList(InList {
            expr,
            list,
            negated,
        }) => match typed(&expr) {
            Some(t) => {
                let mut changed = false;
                let list = list
                    .into_iter()
                    .map(|item| {
                        let (item, c) = canonical_literal(item, t);
                        changed |= c;
                        item
                    })
                    .collect();
                let expr = Expr::InList(InList {
                    expr,
                    list,
                    negated,
                });
                if changed {
                    Transformed::yes(expr)
                } else {
                    Transformed::no(expr)
                }
            }
            None => Transformed::no(Expr::InList(InList {
                expr,
                list,
                negated,
            })),
        },
        other => Transformed::no(other),
    })
}

/// `expr`, canonical if it is a valid string literal of type `t`, and
/// whether it changed.
fn canonical_literal(expr: Expr, t: TextType) -> (Expr, bool) {
    if let Expr::Literal(ScalarValue::Utf8(Some(text)), metadata) = &expr
        && let Ok(canonical) = t.canonical(text)
        && canonical != *text
    {
        let value = ScalarValue::Utf8(Some(canonical.into_owned()));
        return (Expr::Literal(value, metadata.clone()), true);
    }
    (expr, false)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, AsArray, Int32Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::prelude::SessionContext;
    use eddy_catalog::SqlType;

    use super::*;

    #[tokio::test]
    async fn literals_compared_with_uuid_and_jsonb_columns_are_canonical() {
        let field = |name, t| crate::types::arrow_field(name, t, true);
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, true),
            field("u", SqlType::Uuid),
            field("jb", SqlType::Jsonb),
            field("t", SqlType::Text),
        ]));
        let text = |v: &[&str]| Arc::new(StringArray::from(v.to_vec())) as ArrayRef;
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int32Array::from(vec![1, 2])),
                text(&[
                    "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                    "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12",
                ]),
                text(&[r#"{"a": 1, "b": 2}"#, "[]"]),
                text(&["A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "x"]),
            ],
        )
        .unwrap();
        let ctx = SessionContext::new();
        ctx.add_analyzer_rule(Arc::new(CanonicalLiterals));
        ctx.register_batch("t", batch).unwrap();
        let ids = |sql: &'static str| {
            let ctx = &ctx;
            async move {
                let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
                batches
                    .iter()
                    .flat_map(|b| {
                        let ids = b
                            .column(0)
                            .as_primitive::<datafusion::arrow::datatypes::Int32Type>();
                        ids.values().to_vec()
                    })
                    .collect::<Vec<i32>>()
            }
        };
        let upper = "SELECT id FROM t WHERE u = '{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}'";
        assert_eq!(ids(upper).await, [1]);
        let reversed = "SELECT id FROM t WHERE 'A0EEBC999C0B4EF8BB6D6BB9BD380A12' <> u";
        assert_eq!(ids(reversed).await, [1]);
        let listed = "SELECT id FROM t WHERE u IN ('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A12', 'x')";
        assert_eq!(ids(listed).await, [2]);
        assert_eq!(
            ids(r#"SELECT id FROM t WHERE jb = '{"b":2,"a":1}'"#).await,
            [1]
        );
        assert!(
            ids("SELECT id FROM t WHERE u = 'not a uuid'")
                .await
                .is_empty()
        );
        // Text columns compare as text.
        assert!(
            ids("SELECT id FROM t WHERE t = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'")
                .await
                .is_empty()
        );
    }
}
