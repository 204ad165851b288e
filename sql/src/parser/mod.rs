//! The parser: ksqlDB statements on top of `sqlparser`.
//!
//! `sqlparser`'s tokenizer, expression parser and select-item parser do the heavy lifting;
//! this module parses the statement shapes that are specific to ksqlDB (`CREATE STREAM … WITH`,
//! `WINDOW TUMBLING (…)`, `WITHIN`, `EMIT CHANGES`, `PARTITION BY`, `PRINT`, `DEFINE`, …) by
//! walking the token stream itself.
//!
//! ```text
//!  script ──split_statements──► statement texts ──${var} substitution──► tokens
//!         ──Parser (this module)──► ast::Statement (sqlparser Exprs inside)
//! ```
//!
//! Identifiers are normalized here: unquoted names are upper-cased, back-quoted (or
//! double-quoted) names keep their case. Every error carries the line and column of the token
//! where parsing failed and says what was expected.

pub mod ast;
mod depth;
mod dialect;
pub mod script;
mod statement;
mod types;

use sqlparser::ast::{Expr, Ident, SelectItem, visit_expressions_mut};
use sqlparser::parser::{Parser as SqlParser, ParserError};
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

pub use ast::*;
pub use dialect::KsqlDialect;
pub use script::{StatementText, is_complete, split_statements, substitute_variables};

use crate::error::{Error, Result};
use crate::limits::NestingLimits;

/// Parses a script of one or more statements (no variable substitution).
pub fn parse(script: &str) -> Result<Vec<Parsed>> {
    split_statements(script).iter().map(parse_statement_text).collect()
}

/// Parses one statement, reporting positions relative to where it starts in its script.
pub fn parse_statement_text(st: &StatementText) -> Result<Parsed> {
    parse_statement_at(&st.text, st.line, st.column)
}

/// Parses one statement (without the trailing `;`, which is accepted if present) that starts
/// at `line`:`column` of the submitted text.
pub fn parse_statement_at(text: &str, line: u64, column: u64) -> Result<Parsed> {
    let dialect = KsqlDialect;
    let limits = NestingLimits::current();
    // Locations are moved to positions in the whole script (padding the text instead made
    // parsing a script quadratic in its length).
    let mut tokens =
        Tokenizer::new(&dialect, text).with_unescape(true).tokenize_with_location().map_err(|mut e| {
            in_script(&mut e.location, line, column);
            convert_error(e.into())
        })?;
    for t in &mut tokens {
        in_script(&mut t.span.start, line, column);
        in_script(&mut t.span.end, line, column);
    }
    depth::check_token_nesting(&tokens, limits.types)?;
    let parser = SqlParser::new(&dialect).with_tokens_with_locations(tokens);
    // Where "end of input" is: just after the last non-blank character.
    let trimmed = text.trim_end();
    let newlines = trimmed.matches('\n').count() as u64;
    let last_line = trimmed.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u64;
    let eof_col = if newlines == 0 { column.max(1) + last_line } else { last_line + 1 };
    let eof_line = line.max(1) + newlines;
    let mut p = Parser {
        inner: parser,
        pending_gt: 0,
        eof: (eof_line, eof_col),
        max_expression_depth: limits.expressions,
    };
    let mut statement = p.statement()?;
    let _ = p.inner.consume_token(&Token::SemiColon);
    let next = p.peek();
    if next.token != Token::EOF {
        return Err(p.error_at(&next, "end of statement"));
    }
    let text = text.trim().trim_end_matches(';').trim_end().to_string();
    if let Statement::Explain(inner) = &mut statement {
        // The explained statement's own text: everything after the EXPLAIN keyword.
        inner.text = text.get(7..).unwrap_or_default().trim().to_string();
    }
    Ok(Parsed { statement, text })
}

/// Moves a location in a statement's text to where it is in the script when the statement
/// starts at `line`:`column` (line 0 marks an empty span and stays).
fn in_script(location: &mut sqlparser::tokenizer::Location, line: u64, column: u64) {
    if location.line == 0 {
        return;
    }
    if location.line == 1 {
        location.column += column.saturating_sub(1);
    }
    location.line += line.saturating_sub(1);
}

/// Parses one statement starting at line 1, column 1.
pub fn parse_statement(text: &str) -> Result<Parsed> {
    parse_statement_at(text, 1, 1)
}

/// Turns a `sqlparser` error ("… at Line: 3, Column: 7") into [`Error::Parse`].
pub(crate) fn convert_error(e: ParserError) -> Error {
    let msg = match e {
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => m,
        ParserError::RecursionLimitExceeded => "the statement is nested too deeply".to_string(),
    };
    if let Some(pos) = msg.rfind(" at Line: ") {
        let (head, loc) = msg.split_at(pos);
        let nums: Vec<u64> = loc
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .filter_map(|s| s.parse().ok())
            .collect();
        if let [line, column, ..] = nums[..] {
            return Error::Parse { line, column, message: lowercase_expected(head) };
        }
    }
    Error::Parse { line: 1, column: 1, message: lowercase_expected(&msg) }
}

fn lowercase_expected(m: &str) -> String {
    m.replacen("Expected: ", "expected ", 1)
}

/// The token-level parser: `sqlparser` plus ksqlDB's statement shapes.
pub(crate) struct Parser<'a> {
    pub(crate) inner: SqlParser<'a>,
    /// A `>>` token was split: this many `>` are still to be consumed.
    pub(crate) pending_gt: usize,
    /// Line and column reported for "end of input".
    pub(crate) eof: (u64, u64),
    /// [`NestingLimits::expressions`].
    pub(crate) max_expression_depth: usize,
}

impl Parser<'_> {
    pub(crate) fn peek(&self) -> TokenWithSpan {
        self.inner.peek_token()
    }

    /// An error at `tok` saying what was expected.
    pub(crate) fn error_at(&self, tok: &TokenWithSpan, expected: &str) -> Error {
        let (found, line, column) = match &tok.token {
            Token::EOF => ("end of input".to_string(), self.eof.0, self.eof.1),
            t => (format!("'{t}'"), tok.span.start.line.max(1), tok.span.start.column.max(1)),
        };
        Error::Parse { line, column, message: format!("expected {expected}, found {found}") }
    }

    /// An error at the next token.
    pub(crate) fn expected<T>(&self, expected: &str) -> Result<T> {
        Err(self.error_at(&self.peek(), expected))
    }

    /// A free-form error at the next token.
    pub(crate) fn error_here(&self, message: impl Into<String>) -> Error {
        let tok = self.peek();
        Error::Parse {
            line: tok.span.start.line.max(1),
            column: tok.span.start.column.max(1),
            message: message.into(),
        }
    }

    /// Whether the next token is the unquoted word `w` (case-insensitive).
    pub(crate) fn peek_word(&self, w: &str) -> bool {
        self.peek_nth_word(0, w)
    }

    pub(crate) fn peek_nth_word(&self, n: usize, w: &str) -> bool {
        matches!(&self.inner.peek_nth_token_ref(n).token,
            Token::Word(word) if word.quote_style.is_none() && word.value.eq_ignore_ascii_case(w))
    }

    /// Consumes the word `w` if it is next.
    pub(crate) fn eat_word(&mut self, w: &str) -> bool {
        if self.peek_word(w) {
            self.inner.next_token();
            true
        } else {
            false
        }
    }

    /// Consumes the words `ws` if they are all next.
    pub(crate) fn eat_words(&mut self, ws: &[&str]) -> bool {
        if ws.iter().enumerate().all(|(i, w)| self.peek_nth_word(i, w)) {
            for _ in ws {
                self.inner.next_token();
            }
            true
        } else {
            false
        }
    }

    /// Requires the word `w`.
    pub(crate) fn expect_word(&mut self, w: &str) -> Result<()> {
        if self.eat_word(w) { Ok(()) } else { self.expected(w) }
    }

    pub(crate) fn eat(&mut self, t: &Token) -> bool {
        self.inner.consume_token(t)
    }

    pub(crate) fn expect(&mut self, t: &Token) -> Result<()> {
        if self.eat(t) { Ok(()) } else { self.expected(&format!("'{t}'")) }
    }

    /// Consumes one `>` (splitting `>>` where nested types close).
    pub(crate) fn expect_gt(&mut self) -> Result<()> {
        if self.pending_gt > 0 {
            self.pending_gt -= 1;
            return Ok(());
        }
        if self.eat(&Token::Gt) {
            return Ok(());
        }
        if self.eat(&Token::ShiftRight) {
            self.pending_gt = 1;
            return Ok(());
        }
        self.expected("'>'")
    }

    /// An identifier, normalized: unquoted → upper case.
    pub(crate) fn ident(&mut self, what: &str) -> Result<String> {
        let tok = self.peek();
        match tok.token {
            Token::Word(w) => {
                self.inner.next_token();
                Ok(match w.quote_style {
                    Some(_) => w.value,
                    None => w.value.to_uppercase(),
                })
            }
            _ => Err(self.error_at(&tok, what)),
        }
    }

    /// An identifier or a quoted string, case preserved (topics, variables, query ids).
    pub(crate) fn name_or_string(&mut self, what: &str) -> Result<String> {
        let tok = self.peek();
        match tok.token {
            Token::Word(w) => {
                self.inner.next_token();
                Ok(w.value)
            }
            Token::SingleQuotedString(s) => {
                self.inner.next_token();
                Ok(s)
            }
            _ => Err(self.error_at(&tok, what)),
        }
    }

    /// A single-quoted string.
    pub(crate) fn string(&mut self, what: &str) -> Result<String> {
        let tok = self.peek();
        match tok.token {
            Token::SingleQuotedString(s) => {
                self.inner.next_token();
                Ok(s)
            }
            _ => Err(self.error_at(&tok, what)),
        }
    }

    /// A non-negative integer.
    pub(crate) fn uint(&mut self, what: &str) -> Result<u64> {
        let tok = self.peek();
        if let Token::Number(n, _) = &tok.token
            && let Ok(v) = n.parse::<u64>()
        {
            self.inner.next_token();
            return Ok(v);
        }
        Err(self.error_at(&tok, what))
    }

    /// An expression, with identifiers normalized.
    pub(crate) fn expr(&mut self) -> Result<Expr> {
        let at = self.peek();
        let e = self.inner.parse_expr().map_err(convert_error)?;
        let mut e = depth::check_expression_depth(e, self.max_expression_depth, &at)?;
        normalize_expr(&mut e);
        Ok(e)
    }

    /// A select item, with identifiers and alias normalized.
    pub(crate) fn select_item(&mut self) -> Result<SelectItem> {
        let at = self.peek();
        let item = self.inner.parse_select_item().map_err(convert_error)?;
        let mut item = depth::check_expression_depth(item, self.max_expression_depth, &at)?;
        match &mut item {
            SelectItem::UnnamedExpr(e) => normalize_expr(e),
            SelectItem::ExprWithAlias { expr, alias } => {
                normalize_expr(expr);
                normalize_ident(alias);
            }
            SelectItem::QualifiedWildcard(
                sqlparser::ast::SelectItemQualifiedWildcardKind::ObjectName(name),
                _,
            ) => {
                for part in name.0.iter_mut() {
                    if let sqlparser::ast::ObjectNamePart::Identifier(i) = part {
                        normalize_ident(i);
                    }
                }
            }
            _ => {}
        }
        Ok(item)
    }

    /// Parses a comma-separated list with `f`.
    pub(crate) fn comma_separated<T>(&mut self, mut f: impl FnMut(&mut Self) -> Result<T>) -> Result<Vec<T>> {
        let mut out = vec![f(self)?];
        while self.eat(&Token::Comma) {
            out.push(f(self)?);
        }
        Ok(out)
    }
}

/// Upper-cases an unquoted identifier and marks it quoted, so DataFusion (which lower-cases
/// unquoted names) takes it verbatim.
pub(crate) fn normalize_ident(i: &mut Ident) {
    if i.quote_style.is_none() {
        i.value = i.value.to_uppercase();
    }
    i.quote_style = Some('"');
}

/// Normalizes every column reference in an expression (function names are left alone).
pub(crate) fn normalize_expr(e: &mut Expr) {
    let _ = visit_expressions_mut(e, |e| {
        match e {
            Expr::Identifier(i) => normalize_ident(i),
            Expr::CompoundIdentifier(parts) => parts.iter_mut().for_each(normalize_ident),
            _ => {}
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}

#[cfg(test)]
mod tests;
