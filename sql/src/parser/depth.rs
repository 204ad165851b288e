//! Nesting limits of statements ([`crate::limits`]): how deeply types and expressions may nest.
//!
//! * `CAST(`: sqlparser backtracks over nested `CAST(` that do not close, in exponential time;
//!   [`check_token_nesting`] refuses more than [`MAX_CAST_NESTING`] of them.
//! * Types: `sqlparser` parses `CAST(x AS ARRAY<ARRAY<…>>)` by recursion without a depth
//!   limit, and so does [`super::Parser::type_spec`]; [`check_token_nesting`] counts the
//!   `ARRAY<`, `MAP<` and `STRUCT<` levels in the tokens before either parser sees them.
//! * Expressions: `sqlparser` limits recursion, but parses a chain of infix operators
//!   (`a + a + … + a`) in a loop, into a tree as deep as the chain is long; the planner,
//!   DataFusion and even `Drop` then recurse over it. [`check_expression_depth`] measures a
//!   parsed tree (stopping at the limit) and takes a tree that is too deep apart without
//!   recursion.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Value, Visit, VisitMut, Visitor, VisitorMut};
use sqlparser::tokenizer::{Token, TokenWithSpan};

use crate::error::{Error, Result};

/// How many `CAST(` may nest. sqlparser backtracks over nested `CAST(` that do not close, in
/// time exponential in their nesting (about 2.2 times more per level); 10 levels stay within
/// milliseconds.
pub(crate) const MAX_CAST_NESTING: usize = 10;

/// Fails if `tokens` nest `ARRAY<`, `MAP<` or `STRUCT<` more than `limit` levels deep, or
/// `CAST(` more than [`MAX_CAST_NESTING`].
pub(crate) fn check_token_nesting(tokens: &[TokenWithSpan], limit: usize) -> Result<()> {
    let mut depth = 0usize;
    let mut after_type_word = false;
    // Open parentheses, whether each follows CAST, and how many of those are open.
    let (mut parens, mut casts, mut after_cast) = (Vec::new(), 0usize, false);
    for t in tokens {
        match &t.token {
            Token::Whitespace(_) => continue,
            Token::LParen => {
                parens.push(after_cast);
                if after_cast {
                    casts += 1;
                    if casts > MAX_CAST_NESTING {
                        return Err(Error::Parse {
                            line: t.span.start.line.max(1),
                            column: t.span.start.column.max(1),
                            message: format!("CAST is nested more than {MAX_CAST_NESTING} levels deep"),
                        });
                    }
                }
            }
            Token::RParen if parens.pop() == Some(true) => casts -= 1,
            Token::Lt if after_type_word => {
                depth += 1;
                if depth > limit {
                    return Err(Error::Parse {
                        line: t.span.start.line.max(1),
                        column: t.span.start.column.max(1),
                        message: format!(
                            "the type is nested more than {limit} levels deep (type.max.nesting.depth)"
                        ),
                    });
                }
            }
            Token::Gt => depth = depth.saturating_sub(1),
            Token::ShiftRight => depth = depth.saturating_sub(2),
            _ => {}
        }
        after_type_word = matches!(&t.token, Token::Word(w) if w.quote_style.is_none()
            && ["ARRAY", "MAP", "STRUCT"].iter().any(|k| w.value.eq_ignore_ascii_case(k)));
        after_cast = matches!(&t.token, Token::Word(w) if w.quote_style.is_none()
            && (w.value.eq_ignore_ascii_case("CAST") || w.value.eq_ignore_ascii_case("TRY_CAST")));
    }
    Ok(())
}

/// Returns `node` if no expression in it is nested more than `limit` levels deep; otherwise
/// takes it apart without recursion and fails with an error at `at` naming the limit.
pub(crate) fn check_expression_depth<T: Visit + VisitMut>(
    node: T,
    limit: usize,
    at: &TokenWithSpan,
) -> Result<T> {
    let mut depth = Depth { current: 0, limit };
    if Visit::visit(&node, &mut depth).is_continue() {
        return Ok(node);
    }
    drop_without_recursion(node);
    Err(Error::Parse {
        line: at.span.start.line.max(1),
        column: at.span.start.column.max(1),
        message: format!(
            "the expression is nested more than {limit} levels deep (expression.max.nesting.depth)"
        ),
    })
}

/// Counts expression levels on the way down; breaks beyond the limit, so the walk itself
/// never goes deeper than the limit.
struct Depth {
    current: usize,
    limit: usize,
}

impl Visitor for Depth {
    type Break = ();

    fn pre_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> {
        self.current += 1;
        if self.current > self.limit { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    }

    fn post_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> {
        self.current -= 1;
        ControlFlow::Continue(())
    }
}

/// Drops a syntax tree of any depth: every expression is detached from its parent (replaced by
/// `NULL`) before the parent is dropped, so each drop is shallow.
fn drop_without_recursion<T: VisitMut>(mut node: T) {
    let mut detach = Detach { detached: Vec::new(), keep_root: false };
    let _ = VisitMut::visit(&mut node, &mut detach);
    drop(node);
    while let Some(mut e) = detach.detached.pop() {
        detach.keep_root = true;
        let _ = VisitMut::visit(&mut e, &mut detach);
    }
}

/// Moves the expressions it meets (all but the root, if `keep_root`) out of the tree.
struct Detach {
    detached: Vec<Expr>,
    keep_root: bool,
}

impl VisitorMut for Detach {
    type Break = ();

    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if std::mem::take(&mut self.keep_root) {
            return ControlFlow::Continue(());
        }
        self.detached.push(std::mem::replace(e, Expr::value(Value::Null)));
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use sqlparser::tokenizer::Tokenizer;

    use super::*;
    use crate::parser::KsqlDialect;

    fn tokens(sql: &str) -> Vec<TokenWithSpan> {
        Tokenizer::new(&KsqlDialect, sql).tokenize_with_location().unwrap()
    }

    #[test]
    fn type_nesting_counts_angle_brackets_of_type_words_only() {
        let t = tokens("CREATE STREAM s (a ARRAY<MAP<STRING, STRUCT<x ARRAY<INT>>>>, b INT) WITH (x = 1)");
        assert!(check_token_nesting(&t, 4).is_ok());
        let err = check_token_nesting(&t, 3).unwrap_err().to_string();
        assert!(err.contains("nested more than 3 levels deep (type.max.nesting.depth)"), "{err}");
        // Comparisons are not types; siblings do not add up.
        assert!(check_token_nesting(&tokens("SELECT a < b, c < d, e < f FROM s WHERE x < 1"), 1).is_ok());
        assert!(check_token_nesting(&tokens("CAST(a AS ARRAY<INT>), CAST(b AS ARRAY<INT>)"), 1).is_ok());
    }

    #[test]
    fn a_chain_deeper_than_the_limit_is_an_error_and_drops_without_overflow() {
        let at = TokenWithSpan::wrap(Token::EOF);
        let chain = |n: usize| {
            let mut e = Expr::value(Value::Null);
            for _ in 0..n {
                e = Expr::BinaryOp {
                    left: Box::new(e),
                    op: sqlparser::ast::BinaryOperator::Plus,
                    right: Box::new(Expr::value(Value::Null)),
                };
            }
            e
        };
        // 10 operators: 11 levels (the innermost NULL is one).
        assert!(check_expression_depth(chain(10), 11, &at).is_ok());
        assert!(check_expression_depth(chain(10), 10, &at).is_err());
        // A million levels: dropped normally this overflows a 2 MiB stack.
        let err = check_expression_depth(chain(1_000_000), 256, &at).unwrap_err().to_string();
        assert!(err.contains("more than 256 levels deep"), "{err}");
    }
}
