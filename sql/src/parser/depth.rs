//! How deeply a statement may nest, and the checks that hold it to that.
//!
//! Everything that walks a syntax tree recurses once per level: sqlparser's
//! parser (for parentheses, subqueries, prefix operators), its `Display`,
//! `Clone`, `Drop` and visitors, Eddy's rewrites, DataFusion's planner and
//! the evaluation of physical expressions. sqlparser builds a chain of infix
//! operators (`1 + 1 + … + 1`, `a = 1 OR a = 2 OR …`) and of set operations
//! (`… UNION …`) in a loop, left-deep, so such a chain's depth is bounded only
//! by the length of the text. The server runs statements on threads with
//! [`STATEMENT_STACK_SIZE`] bytes of stack, and this module keeps every
//! statement within what that stack holds, refusing the rest with 54001
//! (`statement_too_complex`, PostgreSQL's code for `stack depth limit
//! exceeded`):
//!
//! 1. before parsing, `check_token_nesting` bounds the depth from the tokens
//!    alone, so that no tree too deep to even drop is ever built (sqlparser
//!    drops a half-built tree when a later token is a syntax error);
//! 2. the parser's own recursion stops at [`PARSER_RECURSION_LIMIT`];
//! 3. after parsing, `check_tree_depth` rebuilds long `AND` / `OR` chains
//!    as balanced trees (both operators are associative, so the meaning is
//!    the same and 10,000 items nest 14 deep), then measures the tree,
//!    stopping as soon as it passes [`MAX_EXPRESSION_DEPTH`] or
//!    [`MAX_SUBQUERY_NESTING`].
//!
//! The limits also bound planning time: DataFusion's planner takes time
//! quadratic in an expression's depth (type coercion recomputes each
//! subtree's type) and exponential in how deeply subqueries nest inside
//! expressions (its plan checks visit each nested subquery twice per level).
//!
//! All checks are deterministic: the same statement is refused on every run
//! and on every machine, whatever the stack happens to hold.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Query, SetExpr, Value, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan};

use crate::SqlError;

/// How deeply expressions, queries and set operations may nest after
/// `AND`/`OR` chains are balanced: about PostgreSQL's limit for a chain of
/// `+` (which takes 2,000 terms and refuses 5,000 with its default stack).
pub const MAX_EXPRESSION_DEPTH: usize = 4_000;

/// How deeply subqueries may nest inside expressions (scalar subqueries,
/// `EXISTS`, `IN (SELECT …)`); subqueries in `FROM` count only towards
/// [`MAX_EXPRESSION_DEPTH`].
pub const MAX_SUBQUERY_NESTING: usize = 16;

/// The parser's recursion budget: about one per level of parentheses or
/// of subquery in `FROM`, two per level of subquery in an expression.
pub const PARSER_RECURSION_LIMIT: usize = 1_000;

/// An `AND`/`OR` chain of at least this many items is balanced; shorter
/// ones are left as written.
const BALANCE_FROM: usize = 64;

/// The bound [`check_token_nesting`] allows. A chain's depth is at most the
/// number of tokens it holds at one parenthesis level (`a = 1 OR` is four
/// tokens for one level), so this admits an `OR` chain of 10,000 items of
/// up to ten tokens each, which balancing then makes shallow.
const MAX_TOKEN_NESTING: usize = 100_000;

/// The stack, in bytes, of a thread that parses, plans or runs statements:
/// sized, with a margin, for the deepest statement the limits above let
/// through (and for dropping a tree `check_token_nesting` lets through)
/// in unoptimized builds, whose frames are largest.
pub const STATEMENT_STACK_SIZE: usize = 64 * 1024 * 1024;

/// 54001, worded as PostgreSQL's for a statement past its stack.
pub fn stack_depth_exceeded() -> SqlError {
    SqlError {
        sqlstate: "54001",
        message: "stack depth limit exceeded".to_string(),
        position: None,
    }
}

fn subqueries_too_deep() -> SqlError {
    SqlError {
        sqlstate: "54001",
        message: format!(
            "statement too complex: subqueries nested more than {MAX_SUBQUERY_NESTING} deep inside expressions"
        ),
        position: None,
    }
}

/// The HINT a client sees with a 54001 from this module: the limits.
pub fn stack_depth_hint() -> String {
    format!(
        "Eddy accepts expressions nested up to {MAX_EXPRESSION_DEPTH} levels deep (e.g. that many \
         terms of a + b + …; long AND and OR chains are balanced and may have tens of thousands \
         of items), subqueries nested {MAX_SUBQUERY_NESTING} deep inside expressions, and about \
         {} levels of parentheses or half as many of subqueries in FROM; write long OR chains \
         of equalities as IN lists.",
        PARSER_RECURSION_LIMIT * 9 / 10
    )
}

/// Refuses a token stream whose statements could nest deeper than
/// [`MAX_TOKEN_NESTING`], counting, for each comma-separated part of each
/// parenthesized group, its tokens plus the depth of its deepest group. This
/// is an upper bound of the tree's depth: every level of a chain consumes at
/// least one token at the chain's own level.
pub(crate) fn check_token_nesting(tokens: &[TokenWithSpan]) -> Result<(), SqlError> {
    let mut open = vec![Group::default()];
    for token in tokens {
        match token.token {
            Token::Whitespace(_) => {}
            Token::RParen | Token::RBracket if open.len() > 1 => Group::close(&mut open),
            _ => {
                let group = open.last_mut().expect("the outermost group stays open");
                match token.token {
                    Token::Comma | Token::SemiColon => group.end_part(),
                    Token::LParen | Token::LBracket => {
                        group.tokens += 1;
                        open.push(Group::default());
                    }
                    _ => group.tokens += 1,
                }
            }
        }
    }
    // Unclosed groups are the parser's to report; they count as closed.
    while open.len() > 1 {
        Group::close(&mut open);
    }
    let mut statement = open.pop().expect("the outermost group stays open");
    statement.end_part();
    if statement.deepest_part > MAX_TOKEN_NESTING {
        return Err(stack_depth_exceeded());
    }
    Ok(())
}

/// One open parenthesis (or the statement itself) in [`check_token_nesting`].
#[derive(Default)]
struct Group {
    /// Tokens of the current part at this level.
    tokens: usize,
    /// The deepest group closed in the current part.
    deepest_inner: usize,
    /// The deepest part of this group so far.
    deepest_part: usize,
}

impl Group {
    fn end_part(&mut self) {
        self.deepest_part = self.deepest_part.max(self.tokens + self.deepest_inner);
        self.tokens = 0;
        self.deepest_inner = 0;
    }

    /// Closes the innermost group; it counts as one level more in its part
    /// of the group around it.
    fn close(open: &mut Vec<Group>) {
        let mut closed = open.pop().expect("an inner group is open");
        closed.end_part();
        let outer = open.last_mut().expect("the outermost group stays open");
        outer.deepest_inner = outer.deepest_inner.max(closed.deepest_part + 1);
    }
}

/// Balances the long `AND`/`OR` chains of a parsed tree, then refuses it
/// if it nests deeper than [`MAX_EXPRESSION_DEPTH`] (counting expressions,
/// queries and the set operations of each query's body) or than
/// [`MAX_SUBQUERY_NESTING`]. The walk stops at the limit, so it never goes
/// deeper than what it allows.
pub(crate) fn check_tree_depth<T: VisitMut>(tree: &mut T) -> Result<(), SqlError> {
    let mut meter = DepthMeter::default();
    match tree.visit(&mut meter) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(e) => Err(e),
    }
}

#[derive(Default)]
struct DepthMeter {
    depth: usize,
    /// What each open query added: itself and its set operations.
    queries: Vec<usize>,
    /// Open subqueries inside expressions.
    subqueries: usize,
}

impl DepthMeter {
    fn enter(&mut self, levels: usize) -> ControlFlow<SqlError> {
        self.depth += levels;
        if self.depth > MAX_EXPRESSION_DEPTH {
            ControlFlow::Break(stack_depth_exceeded())
        } else {
            ControlFlow::Continue(())
        }
    }
}

fn is_subquery(expr: &Expr) -> bool {
    matches!(
        expr,
        Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. }
    )
}

impl VisitorMut for DepthMeter {
    type Break = SqlError;

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<SqlError> {
        balance_chain(expr);
        if is_subquery(expr) {
            self.subqueries += 1;
            if self.subqueries > MAX_SUBQUERY_NESTING {
                return ControlFlow::Break(subqueries_too_deep());
            }
        }
        self.enter(1)
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<SqlError> {
        if is_subquery(expr) {
            self.subqueries -= 1;
        }
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<SqlError> {
        let levels = 1 + set_operation_depth(&query.body);
        self.queries.push(levels);
        self.enter(levels)
    }

    fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<SqlError> {
        self.depth -= self.queries.pop().unwrap_or(0);
        ControlFlow::Continue(())
    }
}

/// Rebuilds a chain of at least [`BALANCE_FROM`] `AND`s (or `OR`s) rooted
/// at `expr` as a balanced tree of the same items in the same order,
/// without recursion; anything else is left alone.
fn balance_chain(expr: &mut Expr) {
    let op = match expr {
        Expr::BinaryOp {
            op: op @ (BinaryOperator::And | BinaryOperator::Or),
            ..
        } => op.clone(),
        _ => return,
    };
    let mut items = 1;
    let mut spine = &*expr;
    while let Expr::BinaryOp { left, op: o, .. } = spine
        && *o == op
    {
        items += 1;
        spine = left;
    }
    if items < BALANCE_FROM {
        return;
    }
    let mut leaves = Vec::with_capacity(items);
    let mut pending = vec![std::mem::replace(expr, Expr::Value(Value::Null.into()))];
    while let Some(next) = pending.pop() {
        match next {
            Expr::BinaryOp { left, op: o, right } if o == op => {
                pending.push(*right);
                pending.push(*left);
            }
            leaf => leaves.push(leaf),
        }
    }
    while leaves.len() > 1 {
        let mut paired = Vec::with_capacity(leaves.len().div_ceil(2));
        let mut level = leaves.into_iter();
        while let Some(left) = level.next() {
            paired.push(match level.next() {
                Some(right) => Expr::BinaryOp {
                    left: Box::new(left),
                    op: op.clone(),
                    right: Box::new(right),
                },
                None => left,
            });
        }
        leaves = paired;
    }
    *expr = leaves.pop().expect("a chain has items");
}

/// How deeply the set operations of a query body nest (0 for a plain
/// SELECT), found without recursion; bodies in parentheses are queries of
/// their own.
fn set_operation_depth(body: &SetExpr) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(body, 0)];
    while let Some((set, depth)) = pending.pop() {
        if let SetExpr::SetOperation { left, right, .. } = set {
            deepest = deepest.max(depth + 1);
            pending.push((left, depth + 1));
            pending.push((right, depth + 1));
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::tokenizer::Tokenizer;

    use super::*;

    fn nesting_ok(sql: &str) -> bool {
        let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
            .tokenize_with_location()
            .unwrap();
        check_token_nesting(&tokens).is_ok()
    }

    #[test]
    fn token_nesting_counts_chains_not_lists() {
        let chain = |n: usize| format!("SELECT {}", vec!["1"; n].join(" + "));
        assert!(nesting_ok(&chain(10_000)));
        assert!(!nesting_ok(&chain(60_000)), "120,000 tokens in one chain");
        let list = |n: usize| format!("SELECT f({})", vec!["1 + 1"; n].join(", "));
        assert!(nesting_ok(&list(100_000)), "a long list is wide, not deep");
        let values = (0..100_000)
            .map(|i| format!("({i}, 'x')"))
            .collect::<Vec<_>>();
        assert!(nesting_ok(&format!(
            "INSERT INTO t VALUES {}",
            values.join(", ")
        )));
        let or_chain = (0..10_000)
            .map(|i| format!("t.a = {i}"))
            .collect::<Vec<_>>()
            .join(" OR ");
        assert!(nesting_ok(&format!("SELECT 1 FROM t WHERE {or_chain}")));
    }

    #[test]
    fn token_nesting_adds_up_parentheses() {
        let nested = |n: usize| format!("SELECT {}1{}", "(1 + ".repeat(n), ")".repeat(n));
        assert!(nesting_ok(&nested(1_000)));
        assert!(!nesting_ok(&nested(40_000)), "three tokens per level");
        assert!(!nesting_ok(&"(".repeat(MAX_TOKEN_NESTING + 1)), "unclosed");
    }

    fn parsed(sql: &str) -> Result<crate::ParsedStatement, SqlError> {
        crate::parse_statements(sql).map(|mut s| s.remove(0))
    }

    /// How deep `expr` nests, counted without recursion.
    fn depth(expr: &Expr) -> usize {
        let mut deepest = 0;
        let mut pending = vec![(expr, 1)];
        while let Some((e, d)) = pending.pop() {
            deepest = deepest.max(d);
            if let Expr::BinaryOp { left, right, .. } = e {
                pending.push((left, d + 1));
                pending.push((right, d + 1));
            }
        }
        deepest
    }

    fn where_clause(stmt: &crate::ParsedStatement) -> &Expr {
        use datafusion::sql::sqlparser::ast::Statement;
        let crate::EddyStatement::Standard(stmt) = &stmt.stmt else {
            panic!("not a standard statement")
        };
        let Statement::Query(query) = &**stmt else {
            panic!("not a query")
        };
        query.body.as_select().unwrap().selection.as_ref().unwrap()
    }

    #[test]
    fn long_or_chains_are_balanced_in_order() {
        let items: Vec<String> = (0..10_000).map(|i| format!("a = {i}")).collect();
        let chain = items.join(" OR ");
        let stmt = parsed(&format!("SELECT 1 FROM t WHERE {chain}")).unwrap();
        let selection = where_clause(&stmt);
        assert!(depth(selection) <= 16, "depth {}", depth(selection));
        assert_eq!(selection.to_string(), chain, "same items, same order");
        let short = parsed("SELECT 1 FROM t WHERE a = 1 OR a = 2 OR a = 3").unwrap();
        assert_eq!(
            depth(where_clause(&short)),
            4,
            "a short chain stays left-deep"
        );
    }

    #[test]
    fn deep_statements_are_refused_with_54001() {
        let chain = |n: usize| format!("SELECT {}", vec!["1"; n].join(" + "));
        assert!(parsed(&chain(3_000)).is_ok());
        for n in [10_000, 200_000] {
            let e = parsed(&chain(n)).unwrap_err();
            assert_eq!(
                (e.sqlstate, e.message.as_str()),
                ("54001", "stack depth limit exceeded")
            );
        }
        let scalar = |n: usize| format!("SELECT {}1{}", "(SELECT ".repeat(n), ")".repeat(n));
        assert!(parsed(&scalar(MAX_SUBQUERY_NESTING)).is_ok());
        let e = parsed(&scalar(MAX_SUBQUERY_NESTING + 1)).unwrap_err();
        assert_eq!(e.sqlstate, "54001");
        assert!(e.message.contains("subqueries nested"), "{}", e.message);
        let from = |n: usize| {
            let open = "(SELECT * FROM ".repeat(n);
            format!("SELECT * FROM {open}(VALUES (1)) v(a){}", ") s".repeat(n))
        };
        assert!(parsed(&from(400)).is_ok());
        assert_eq!(parsed(&from(2_000)).unwrap_err().sqlstate, "54001");
        let union = (0..5_000)
            .map(|_| "SELECT 1")
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        assert_eq!(parsed(&union).unwrap_err().sqlstate, "54001");
    }
}
