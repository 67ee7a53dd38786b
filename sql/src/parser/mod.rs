//! Splitting a query string into statements and parsing each one.
//!
//! The whole string is tokenized once with sqlparser's PostgreSQL dialect and
//! one [`Parser`] walks the tokens statement by statement. Eddy's own
//! statements (see `ddl`) are recognised by peeking at their leading words;
//! everything else is left to `Parser::parse_statement`. Each statement keeps
//! its exact text and byte offset, computed from token spans, so error
//! cursors and `SHOW CREATE` refer to what the user wrote.
//!
//! ## Errors and "what runs"
//!
//! PostgreSQL parses a whole simple-query string before running any of it:
//! `CREATE TABLE t (a int); SELEC 2;` creates nothing (checked against
//! PostgreSQL 15). [`parse_statements`] gives exactly that: any error, in any
//! statement, and the caller gets no statements. [`parse_statements_partial`]
//! instead returns the statements that parsed before the first error, for
//! callers that want to run them anyway.
//!
//! A statement nested deeper than the server's stack allows is refused with
//! 54001 before, while and after parsing; [`depth`] has the limits.
//!
//! Positions in errors are 1-based *character* positions in the whole query
//! string, as in PostgreSQL's `ErrorResponse`. sqlparser reports line and
//! column (in characters); `SourceText` converts.

mod ddl;
pub mod depth;
#[cfg(test)]
mod tests;

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{
    Location, Token, TokenWithSpan, Tokenizer, TokenizerError, Whitespace,
};

use crate::{ParsedStatement, SqlError};

/// Parses every statement of `sql`, PostgreSQL-style: an error anywhere
/// fails the whole string, so nothing of it should run. Empty statements
/// (`;;`, comments only) are skipped; a string without statements gives an
/// empty `Vec`.
pub fn parse_statements(sql: &str) -> Result<Vec<ParsedStatement>, SqlError> {
    match parse_statements_partial(sql) {
        (statements, None) => Ok(statements),
        (_, Some(error)) => Err(error),
    }
}

/// Parses statements until the first error; returns those parsed before it
/// (each terminated by `;`) and the error, if any. Parsing stops at the
/// error, so nothing after it is reported.
pub fn parse_statements_partial(sql: &str) -> (Vec<ParsedStatement>, Option<SqlError>) {
    let dialect = PostgreSqlDialect {};
    let source = SourceText::new(sql);
    let mut tokens = Vec::new();
    // On a tokenizer error the buffer holds the tokens before it: the
    // statements they complete still count for the partial result.
    // The failing token starts where the last good one ends.
    let tokenizer_error = Tokenizer::new(&dialect, sql)
        .tokenize_with_location_into_buf(&mut tokens)
        .err()
        .map(|e| {
            let token_start = tokens
                .last()
                .map_or(Location { line: 1, column: 1 }, |t| t.span.end);
            (e, token_start)
        });
    // A statement too deep for the stack is refused before a tree is built
    // (see `depth`); PostgreSQL, too, runs nothing of such a string.
    if let Err(e) = depth::check_token_nesting(&tokens) {
        return (Vec::new(), Some(e));
    }
    let mut parser = Parser::new(&dialect)
        .with_recursion_limit(depth::PARSER_RECURSION_LIMIT)
        .with_tokens_with_locations(tokens);

    let mut statements = Vec::new();
    let failure = loop {
        while parser.consume_token(&Token::SemiColon) {}
        if parser.peek_token_ref().token == Token::EOF {
            break None;
        }
        let start = parser.peek_token_ref().span.start;
        let mut stmt = match ddl::parse_statement(&mut parser, &source) {
            Ok(stmt) => stmt,
            Err(failure) => break Some(failure),
        };
        if let Err(e) = stmt.check_depth() {
            break Some(Failure::Plain(e));
        }
        let end = last_consumed_end(&parser);
        let next = parser.peek_token();
        match next.token {
            Token::SemiColon => {}
            // A statement cut short by a tokenizer error is not complete.
            Token::EOF if tokenizer_error.is_some() => break None,
            Token::EOF => {}
            _ => break Some(Failure::Parser(end_of_statement_expected(&next))),
        }
        let (from, to) = (source.byte_offset(start), source.byte_offset(end));
        statements.push(ParsedStatement {
            stmt,
            text: sql[from..to].to_string(),
            offset: from,
        });
    };

    let error = match (failure, tokenizer_error) {
        // A parser error at the end of the tokens is a consequence of the
        // tokenizer stopping there; one before it came first.
        (Some(failure), Some((tok, start))) if failure.is_at_end_of_input() => {
            Some(source.tokenizer_error(&tok, start))
        }
        (Some(failure), _) => Some(source.error(failure)),
        (None, Some((tok, start))) => Some(source.tokenizer_error(&tok, start)),
        (None, None) => None,
    };
    (statements, error)
}

/// Where the last token the parser consumed ends (trailing whitespace and
/// comments excluded).
fn last_consumed_end(parser: &Parser) -> Location {
    // `get_current_index` is the last consumed token; peeking may have moved
    // the index past whitespace, and past the end on EOF.
    let mut index = parser.get_current_index();
    loop {
        let token = parser.token_at(index);
        match token.token {
            Token::Whitespace(_) | Token::EOF if index > 0 => index -= 1,
            _ => return token.span.end,
        }
    }
}

fn end_of_statement_expected(found: &TokenWithSpan) -> ParserError {
    ParserError::ParserError(format!(
        "Expected: end of statement, found: {}{}",
        found, found.span.start
    ))
}

/// Why a statement did not parse. Positions stay as sqlparser locations
/// until [`SourceText::error`] turns them into character positions.
#[derive(Debug)]
pub(crate) enum Failure {
    /// sqlparser's own error; its message ends in "at Line: L, Column: C".
    Parser(ParserError),
    /// An Eddy error about the token starting at this location.
    At(SqlError, Location),
    /// An error about the statement as a whole.
    Plain(SqlError),
}

impl From<ParserError> for Failure {
    fn from(e: ParserError) -> Self {
        Failure::Parser(e)
    }
}

impl From<SqlError> for Failure {
    fn from(e: SqlError) -> Self {
        Failure::Plain(e)
    }
}

impl Failure {
    fn is_at_end_of_input(&self) -> bool {
        matches!(self, Failure::Parser(ParserError::ParserError(m)) if m.ends_with("found: EOF"))
    }
}

/// The query string with a line index, to turn sqlparser's line/column
/// locations into byte offsets and character positions.
pub(crate) struct SourceText<'a> {
    sql: &'a str,
    /// Byte offset at which each line starts; lines end at `\n` only, as in
    /// sqlparser's tokenizer.
    line_starts: Vec<usize>,
}

impl<'a> SourceText<'a> {
    fn new(sql: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(sql.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceText { sql, line_starts }
    }

    /// Byte offset of a location (columns count characters, 1-based).
    pub(crate) fn byte_offset(&self, loc: Location) -> usize {
        if loc.line == 0 {
            return self.sql.len();
        }
        let Some(&line_start) = self.line_starts.get(loc.line as usize - 1) else {
            return self.sql.len();
        };
        self.sql[line_start..]
            .char_indices()
            .nth(loc.column.saturating_sub(1) as usize)
            .map_or(self.sql.len(), |(i, _)| line_start + i)
    }

    /// The text between two locations.
    pub(crate) fn slice(&self, start: Location, end: Location) -> &'a str {
        &self.sql[self.byte_offset(start)..self.byte_offset(end)]
    }

    /// 1-based character position of a byte offset.
    fn char_position(&self, byte: usize) -> usize {
        self.sql[..byte].chars().count() + 1
    }

    fn error(&self, failure: Failure) -> SqlError {
        match failure {
            Failure::Parser(e) => self.parser_error(&e),
            Failure::At(mut e, loc) => {
                e.position = Some(self.char_position(self.byte_offset(loc)));
                e
            }
            Failure::Plain(e) => e,
        }
    }

    /// Rewrites sqlparser's "Expected: X, found: Y at Line: L, Column: C"
    /// into PostgreSQL's `syntax error at or near "Y"`, keeping the
    /// expectation as a hint.
    fn parser_error(&self, e: &ParserError) -> SqlError {
        let text = match e {
            ParserError::ParserError(m) | ParserError::TokenizerError(m) => m.as_str(),
            ParserError::RecursionLimitExceeded => return depth::stack_depth_exceeded(),
        };
        let (head, location) = split_location(text);
        let expected = head
            .strip_prefix("Expected: ")
            .map(|rest| rest.split_once(", found: ").map_or(rest, |(exp, _)| exp));
        let hint = match expected {
            // Punctuation reads better quoted: (expected ")").
            Some(expected) if !expected.contains(|c: char| c.is_alphanumeric()) => {
                format!(" (expected \"{expected}\")")
            }
            Some(expected) => format!(" (expected {expected})"),
            None => format!(" ({head})"),
        };
        match location {
            Some(loc) => {
                let byte = self.byte_offset(loc);
                let near = self.token_text_at(byte);
                SqlError::syntax(
                    format!("syntax error at or near \"{near}\"{hint}"),
                    Some(self.char_position(byte)),
                )
            }
            // sqlparser's EOF token has no location.
            None if head.ends_with("found: EOF") => SqlError::syntax(
                format!("syntax error at end of input{hint}"),
                Some(self.char_position(self.sql.len())),
            ),
            None => SqlError::syntax(format!("syntax error: {head}"), None),
        }
    }

    /// PostgreSQL's wording for what the tokenizer rejects, quoting the text
    /// from the start of the failing token on.
    fn tokenizer_error(&self, e: &TokenizerError, token_start: Location) -> SqlError {
        let byte = self.byte_offset(token_start);
        let position = Some(self.char_position(byte));
        let rest = &self.sql[byte..];
        let message = &e.message;
        let unterminated = if message.starts_with("Unterminated dollar-quoted") {
            Some("dollar-quoted string")
        } else if message.starts_with("Unterminated") {
            Some("quoted string")
        } else if message.starts_with("Expected close delimiter") {
            Some("quoted identifier")
        } else if message.contains("multi-line comment") {
            Some("/* comment")
        } else {
            None
        };
        let message = match unterminated {
            Some(what) => format!("unterminated {what} at or near \"{rest}\""),
            None => format!(
                "syntax error at or near \"{}\" ({})",
                self.token_text_at(byte),
                message.to_lowercase()
            ),
        };
        SqlError::syntax(message, position)
    }

    /// The source text of the token starting at `byte`, as PostgreSQL quotes
    /// it in "at or near".
    fn token_text_at(&self, byte: usize) -> &'a str {
        let rest = &self.sql[byte..];
        let dialect = PostgreSqlDialect {};
        let mut tokens = Vec::new();
        let _ = Tokenizer::new(&dialect, rest).tokenize_with_location_into_buf(&mut tokens);
        match tokens.first() {
            Some(t) if !matches!(t.token, Token::Whitespace(Whitespace::Space)) => {
                SourceText::new(rest).slice(t.span.start, t.span.end)
            }
            _ => rest.split_whitespace().next().unwrap_or(""),
        }
    }
}

/// Splits "message at Line: L, Column: C" into the message and location.
fn split_location(text: &str) -> (&str, Option<Location>) {
    let Some((head, tail)) = text.rsplit_once(" at Line: ") else {
        return (text, None);
    };
    let parsed = tail.split_once(", Column: ").and_then(|(line, column)| {
        Some(Location {
            line: line.trim().parse().ok()?,
            column: column.trim().parse().ok()?,
        })
    });
    match parsed {
        Some(loc) => (head, Some(loc)),
        None => (text, None),
    }
}
