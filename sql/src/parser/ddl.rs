//! Eddy's own statements, parsed with sqlparser's token-level API:
//! `CREATE [OR REPLACE] SOURCE | SINK | STREAMING QUERY`, `SHOW SOURCES |
//! SINKS | STREAMING QUERIES | TABLES` and `DROP SOURCE | SINK | STREAMING
//! QUERY | TABLE`. They are recognised by their leading words (which are not
//! sqlparser keywords), so anything else — including `CREATE TABLE` and
//! `DROP VIEW` — reaches sqlparser untouched.
//!
//! Names follow PostgreSQL: unquoted identifiers fold to lower case, quoted
//! ones are kept as written, and `public.` may prefix an object name.

use std::collections::BTreeMap;

use datafusion::sql::sqlparser::ast::{
    self as ast, BinaryOperator, ColumnOption, DateTimeField, Expr, ObjectNamePart, Value,
};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Word};
use eddy_catalog::{ColumnDef, ObjectKind, SqlType, WatermarkDef};

use super::{Failure, SourceText, last_consumed_end};
use crate::statement::QueryAlteration;
use crate::types::{parse_interval_micros, sql_type_from_ast};
use crate::{EddyStatement, SqlError, identifiers};

/// Parses one statement starting at the parser's position, leaving the
/// parser after its last token.
pub(super) fn parse_statement(p: &mut Parser, src: &SourceText) -> Result<EddyStatement, Failure> {
    let w = |n: usize| word_at(p, n);
    match w(0).as_deref() {
        Some("CREATE") => {
            let n = if w(1).as_deref() == Some("OR") && w(2).as_deref() == Some("REPLACE") {
                3
            } else {
                1
            };
            match (w(n).as_deref(), w(n + 1).as_deref()) {
                (Some("SOURCE"), _) => return create_source(p),
                (Some("SINK"), _) => return create_sink(p),
                (Some("STREAMING"), Some("QUERY")) => return create_streaming_query(p, src),
                _ => {}
            }
        }
        Some("SHOW") if w(1).as_deref() == Some("CREATE") => {
            let shown = match (w(2).as_deref(), w(3).as_deref()) {
                (Some("SOURCE"), _) => Some((ObjectKind::Source, 3)),
                (Some("SINK"), _) => Some((ObjectKind::Sink, 3)),
                (Some("TABLE"), _) => Some((ObjectKind::Table, 3)),
                (Some("STREAMING"), Some("QUERY")) => Some((ObjectKind::StreamingQuery, 4)),
                _ => None,
            };
            if let Some((kind, words)) = shown {
                advance(p, words);
                let name = object_name(p)?;
                return Ok(EddyStatement::ShowCreate { kind, name });
            }
        }
        Some("DESCRIBE" | "DESC") => {
            advance(p, 1);
            let name = object_name(p)?;
            return Ok(EddyStatement::Describe { name });
        }
        Some("SHOW")
            if w(1).as_deref() == Some("STREAMING") && w(2).as_deref() == Some("QUERY") =>
        {
            advance(p, 3);
            let name = object_name(p)?;
            return Ok(EddyStatement::ShowStreamingQuery { name });
        }
        Some("SHOW") => {
            let statement_ends =
                |n| matches!(p.peek_nth_token_ref(n).token, Token::SemiColon | Token::EOF);
            let shown = match (w(1).as_deref(), w(2).as_deref()) {
                (Some("SOURCES"), _) => Some((ObjectKind::Source, 2)),
                (Some("SINKS"), _) => Some((ObjectKind::Sink, 2)),
                (Some("STREAMING"), Some("QUERIES")) => Some((ObjectKind::StreamingQuery, 3)),
                // `SHOW TABLES FROM …` and friends stay sqlparser's.
                (Some("TABLES"), _) if statement_ends(2) => Some((ObjectKind::Table, 2)),
                _ => None,
            };
            if let Some((kind, words)) = shown {
                advance(p, words);
                return Ok(EddyStatement::ShowObjects(kind));
            }
        }
        Some("ALTER")
            if w(1).as_deref() == Some("STREAMING") && w(2).as_deref() == Some("QUERY") =>
        {
            advance(p, 3);
            let name = object_name(p)?;
            let token = p.next_token();
            let alteration = match &token.token {
                Token::Word(w) if w.value.eq_ignore_ascii_case("PAUSE") => QueryAlteration::Pause,
                Token::Word(w) if w.value.eq_ignore_ascii_case("RESUME") => QueryAlteration::Resume,
                Token::Word(w) if w.keyword == Keyword::SET => {
                    QueryAlteration::Set(with_options(p)?)
                }
                _ => return Ok(p.expected("PAUSE, RESUME or SET (…)", token)?),
            };
            return Ok(EddyStatement::AlterStreamingQuery { name, alteration });
        }
        Some("DROP") => {
            let dropped = match (w(1).as_deref(), w(2).as_deref()) {
                (Some("SOURCE"), _) => Some((ObjectKind::Source, 2)),
                (Some("SINK"), _) => Some((ObjectKind::Sink, 2)),
                (Some("TABLE"), _) => Some((ObjectKind::Table, 2)),
                (Some("STREAMING"), Some("QUERY")) => Some((ObjectKind::StreamingQuery, 3)),
                _ => None,
            };
            if let Some((kind, words)) = dropped {
                advance(p, words);
                return drop_objects(p, kind);
            }
        }
        _ => {}
    }
    Ok(EddyStatement::Standard(Box::new(p.parse_statement()?)))
}

fn create_source(p: &mut Parser) -> Result<EddyStatement, Failure> {
    let (or_replace, if_not_exists) = create_prefix(p, &["SOURCE"])?;
    let name = object_name(p)?;
    // Without a column list the connector supplies the schema (e.g. nexmark).
    let (columns, watermark) = if p.consume_token(&Token::LParen) {
        source_columns(p)?
    } else {
        (Vec::new(), None)
    };
    p.expect_keyword_is(Keyword::WITH)?;
    let options = with_options(p)?;
    Ok(EddyStatement::CreateSource {
        name,
        if_not_exists,
        or_replace,
        columns,
        watermark,
        options,
    })
}

fn create_sink(p: &mut Parser) -> Result<EddyStatement, Failure> {
    let (or_replace, if_not_exists) = create_prefix(p, &["SINK"])?;
    let name = object_name(p)?;
    p.expect_keyword_is(Keyword::WITH)?;
    let options = with_options(p)?;
    Ok(EddyStatement::CreateSink {
        name,
        if_not_exists,
        or_replace,
        options,
    })
}

fn create_streaming_query(p: &mut Parser, src: &SourceText) -> Result<EddyStatement, Failure> {
    let (or_replace, if_not_exists) = create_prefix(p, &["STREAMING", "QUERY"])?;
    let name = object_name(p)?;
    let options = if p.parse_keyword(Keyword::WITH) {
        with_options(p)?
    } else {
        BTreeMap::new()
    };
    p.expect_keywords(&[Keyword::AS, Keyword::INSERT, Keyword::INTO])?;
    let sink = object_name(p)?;
    if starts_column_list(p) {
        let message = "a column list after INSERT INTO is not supported in a streaming query; \
                       name the SELECT's columns as the sink expects them";
        return Err(at(SqlError::unsupported(message), p.peek_token_ref()));
    }
    let query_start = p.peek_token_ref().span.start;
    let query = p.parse_query()?;
    let query_text = src.slice(query_start, last_consumed_end(p)).to_string();
    Ok(EddyStatement::CreateStreamingQuery {
        name,
        if_not_exists,
        or_replace,
        options,
        sink,
        query,
        query_text,
    })
}

/// `(a, b) SELECT …` rather than `(SELECT …)`.
fn starts_column_list(p: &Parser) -> bool {
    if p.peek_token_ref().token != Token::LParen {
        return false;
    }
    match &p.peek_nth_token_ref(1).token {
        Token::Word(w) => !matches!(
            w.keyword,
            Keyword::SELECT | Keyword::WITH | Keyword::VALUES | Keyword::TABLE
        ),
        _ => false,
    }
}

/// `CREATE [OR REPLACE] <kind words> [IF NOT EXISTS]`.
fn create_prefix(p: &mut Parser, kind: &[&str]) -> Result<(bool, bool), Failure> {
    p.expect_keyword_is(Keyword::CREATE)?;
    let or_replace = p.parse_keywords(&[Keyword::OR, Keyword::REPLACE]);
    advance(p, kind.len());
    let if_token = p.peek_token();
    let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    if or_replace && if_not_exists {
        let message = "OR REPLACE and IF NOT EXISTS cannot be used together";
        return Err(at(SqlError::syntax(message, None), &if_token));
    }
    Ok((or_replace, if_not_exists))
}

/// The column list after `(`, up to and including `)`.
fn source_columns(p: &mut Parser) -> Result<(Vec<ColumnDef>, Option<WatermarkDef>), Failure> {
    let mut columns: Vec<ColumnDef> = Vec::new();
    let mut watermark: Option<WatermarkClause> = None;
    loop {
        if word_at(p, 0).as_deref() == Some("WATERMARK") && word_at(p, 1).as_deref() == Some("FOR")
        {
            let clause_token = p.peek_token();
            let clause = watermark_clause(p)?;
            if watermark.replace(clause).is_some() {
                let message = "a source can have only one WATERMARK clause";
                return Err(at(SqlError::syntax(message, None), &clause_token));
            }
        } else {
            let name_token = p.peek_token();
            let column = column_def(p)?;
            if columns.iter().any(|c| c.name == column.name) {
                let e = SqlError {
                    sqlstate: "42701",
                    message: format!("column \"{}\" specified more than once", column.name),
                    position: None,
                };
                return Err(at(e, &name_token));
            }
            columns.push(column);
        }
        if !p.consume_token(&Token::Comma) {
            p.expect_token(&Token::RParen)?;
            break;
        }
    }
    let watermark = watermark.map(|w| w.resolve(&columns)).transpose()?;
    Ok((columns, watermark))
}

fn column_def(p: &mut Parser) -> Result<ColumnDef, Failure> {
    let name_location = p.peek_token_ref().span.start;
    let type_token = p.peek_nth_token(1);
    let mut def = p.parse_column_def()?;
    super::depth::check_tree_depth(&mut def)?;
    let data_type = sql_type_from_ast(&def.data_type).map_err(|e| at(e, &type_token))?;
    let mut column = ColumnDef {
        name: identifiers::fold(&def.name),
        data_type,
        nullable: true,
        default: None,
    };
    for option in def.options {
        match option.option {
            ColumnOption::Null => column.nullable = true,
            ColumnOption::NotNull => column.nullable = false,
            ColumnOption::Default(expr) => column.default = Some(expr.to_string()),
            other => {
                let message = format!(
                    "column option {other} is not supported on a source column \"{}\"",
                    column.name
                );
                return Err(Failure::At(SqlError::unsupported(message), name_location));
            }
        }
    }
    Ok(column)
}

/// A parsed `WATERMARK FOR col AS expr`, checked once all columns are known.
struct WatermarkClause {
    column: String,
    column_location: Location,
    expr: Expr,
    expr_location: Location,
}

fn watermark_clause(p: &mut Parser) -> Result<WatermarkClause, Failure> {
    advance(p, 2);
    let column_location = p.peek_token_ref().span.start;
    let column = identifiers::fold(&p.parse_identifier()?);
    p.expect_keyword_is(Keyword::AS)?;
    let expr_location = p.peek_token_ref().span.start;
    let mut expr = p.parse_expr()?;
    super::depth::check_tree_depth(&mut expr)?;
    Ok(WatermarkClause {
        column,
        column_location,
        expr,
        expr_location,
    })
}

impl WatermarkClause {
    fn resolve(self, columns: &[ColumnDef]) -> Result<WatermarkDef, Failure> {
        let Some(column) = columns.iter().find(|c| c.name == self.column) else {
            let e = SqlError {
                sqlstate: "42703",
                message: format!(
                    "watermark column \"{}\" is not a column of the source",
                    self.column
                ),
                position: None,
            };
            return Err(Failure::At(e, self.column_location));
        };
        if !matches!(column.data_type, SqlType::Timestamp | SqlType::TimestampTz) {
            let e = SqlError {
                sqlstate: "42804",
                message: format!(
                    "watermark column \"{}\" must be of type timestamp or timestamptz, not {}",
                    self.column, column.data_type
                ),
                position: None,
            };
            return Err(Failure::At(e, self.column_location));
        }
        let delay_micros = watermark_delay(&self.expr, &self.column)
            .map_err(|e| Failure::At(e, self.expr_location))?;
        Ok(WatermarkDef {
            column: self.column,
            delay_micros,
        })
    }
}

/// The delay in `col` or `col - <interval>`.
fn watermark_delay(expr: &Expr, column: &str) -> Result<i64, SqlError> {
    let unsupported = || {
        SqlError::unsupported(format!(
            "unsupported WATERMARK expression {expr}; expected {column} or \
             {column} - INTERVAL '5' SECOND"
        ))
    };
    let is_column = |e: &Expr| matches!(strip_nested(e), Expr::Identifier(id) if identifiers::fold(id) == column);
    match strip_nested(expr) {
        e if is_column(e) => Ok(0),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Minus,
            right,
        } if is_column(left) => {
            let micros = match strip_nested(right) {
                Expr::Interval(interval) => interval_micros(interval)?,
                Expr::Cast {
                    expr: value,
                    data_type: ast::DataType::Interval { .. },
                    ..
                } => parse_interval_micros(string_literal(value).ok_or_else(unsupported)?)?,
                _ => return Err(unsupported()),
            };
            if micros < 0 {
                return Err(SqlError::invalid_value(format!(
                    "watermark delay must not be negative: {expr}"
                )));
            }
            Ok(micros)
        }
        _ => Err(unsupported()),
    }
}

fn strip_nested(mut e: &Expr) -> &Expr {
    while let Expr::Nested(inner) = e {
        e = inner;
    }
    e
}

fn string_literal(e: &Expr) -> Option<&str> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::Number(s, _) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

/// `INTERVAL '5' SECOND`, `INTERVAL '5 seconds'`, `INTERVAL '500' MILLISECOND`.
fn interval_micros(interval: &ast::Interval) -> Result<i64, SqlError> {
    if interval.last_field.is_some() {
        return Err(SqlError::unsupported(format!(
            "{interval} is not supported here; write a single unit, as in INTERVAL '90' SECOND"
        )));
    }
    let value = string_literal(&interval.value)
        .ok_or_else(|| SqlError::unsupported(format!("{interval} must be a constant")))?;
    let Some(field) = &interval.leading_field else {
        return parse_interval_micros(value);
    };
    let unit = match field {
        DateTimeField::Microsecond | DateTimeField::Microseconds => "microseconds",
        DateTimeField::Millisecond | DateTimeField::Milliseconds => "milliseconds",
        DateTimeField::Second | DateTimeField::Seconds => "seconds",
        DateTimeField::Minute | DateTimeField::Minutes => "minutes",
        DateTimeField::Hour | DateTimeField::Hours => "hours",
        DateTimeField::Day | DateTimeField::Days => "days",
        DateTimeField::Week(_) | DateTimeField::Weeks => "weeks",
        DateTimeField::Month
        | DateTimeField::Months
        | DateTimeField::Year
        | DateTimeField::Years => "months",
        other => {
            return Err(SqlError::unsupported(format!(
                "interval unit {other} is not supported"
            )));
        }
    };
    // `INTERVAL '1 minute' SECOND` means what its text says, as in PostgreSQL.
    if value.trim().parse::<f64>().is_ok() {
        parse_interval_micros(&format!("{value} {unit}"))
    } else {
        parse_interval_micros(value)
    }
}

/// `( key = value, … )`: keys are identifiers (folded unless quoted), dotted
/// identifier paths or string literals; values are literals or identifiers,
/// kept as written.
fn with_options(p: &mut Parser) -> Result<BTreeMap<String, String>, Failure> {
    p.expect_token(&Token::LParen)?;
    let mut options = BTreeMap::new();
    if p.consume_token(&Token::RParen) {
        return Ok(options);
    }
    loop {
        let key_token = p.peek_token();
        let key = option_key(p)?;
        p.expect_token(&Token::Eq)?;
        let value = option_value(p)?;
        if options.contains_key(&key) {
            let message = format!("option \"{key}\" specified more than once");
            return Err(at(SqlError::syntax(message, None), &key_token));
        }
        options.insert(key, value);
        if !p.consume_token(&Token::Comma) {
            p.expect_token(&Token::RParen)?;
            return Ok(options);
        }
    }
}

fn option_key(p: &mut Parser) -> Result<String, Failure> {
    let token = p.next_token();
    match token.token {
        Token::SingleQuotedString(s) => Ok(s),
        Token::Word(w) => {
            let mut key = fold_word(&w);
            while p.consume_token(&Token::Period) {
                let part = p.next_token();
                match part.token {
                    Token::Word(w) => {
                        key.push('.');
                        key.push_str(&fold_word(&w));
                    }
                    _ => return Ok(p.expected("option name part after \".\"", part)?),
                }
            }
            Ok(key)
        }
        _ => Ok(p.expected("option name", token)?),
    }
}

fn option_value(p: &mut Parser) -> Result<String, Failure> {
    let token = p.next_token();
    match token.token {
        Token::SingleQuotedString(s)
        | Token::EscapedStringLiteral(s)
        | Token::NationalStringLiteral(s) => Ok(s),
        Token::DollarQuotedString(s) => Ok(s.value),
        Token::Number(n, _) => Ok(n),
        Token::Minus | Token::Plus => {
            let number = p.next_token();
            match number.token {
                Token::Number(n, _) if token.token == Token::Minus => Ok(format!("-{n}")),
                Token::Number(n, _) => Ok(n),
                _ => Ok(p.expected("a number", number)?),
            }
        }
        Token::Word(w) => Ok(fold_word(&w)),
        _ => Ok(p.expected("option value (a string, number or identifier)", token)?),
    }
}

/// `DROP <kind>` already consumed: `[IF EXISTS] a[, b…] [CASCADE | RESTRICT]`.
fn drop_objects(p: &mut Parser, kind: ObjectKind) -> Result<EddyStatement, Failure> {
    let if_exists = p.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
    let mut names = vec![object_name(p)?];
    while p.consume_token(&Token::Comma) {
        names.push(object_name(p)?);
    }
    let cascade =
        p.parse_one_of_keywords(&[Keyword::CASCADE, Keyword::RESTRICT]) == Some(Keyword::CASCADE);
    Ok(EddyStatement::Drop {
        kind,
        names,
        if_exists,
        cascade,
    })
}

/// An object name, optionally qualified with `public.`.
fn object_name(p: &mut Parser) -> Result<String, Failure> {
    let location = p.peek_token_ref().span.start;
    let name = p.parse_object_name(false)?;
    let mut parts: Vec<String> = name
        .0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => identifiers::fold(ident),
            ObjectNamePart::Function(f) => identifiers::fold(&f.name),
        })
        .collect();
    match parts.len() {
        1 => Ok(parts.remove(0)),
        2 if parts[0] == "public" => Ok(parts.remove(1)),
        2 => {
            let e = SqlError {
                sqlstate: "3F000",
                message: format!(
                    "schema \"{}\" does not exist; Eddy objects live in schema \"public\"",
                    parts[0]
                ),
                position: None,
            };
            Err(Failure::At(e, location))
        }
        _ => {
            let message = format!("improper qualified name (too many dotted names): {name}");
            Err(Failure::At(SqlError::syntax(message, None), location))
        }
    }
}

/// The word at the `n`th non-whitespace token ahead, upper-cased, if it is
/// an unquoted word.
fn word_at(p: &Parser, n: usize) -> Option<String> {
    match &p.peek_nth_token_ref(n).token {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
        _ => None,
    }
}

fn advance(p: &mut Parser, tokens: usize) {
    for _ in 0..tokens {
        p.advance_token();
    }
}

fn fold_word(word: &Word) -> String {
    identifiers::fold_text(&word.value, word.quote_style.is_some())
}

fn at(error: SqlError, token: &TokenWithSpan) -> Failure {
    Failure::At(error, token.span.start)
}
