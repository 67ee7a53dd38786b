//! Errors as a client sees them: a SQLSTATE, a message, and where known the
//! position in the query string. Every error of the lower layers is mapped
//! here, by whose fault it is.

use datafusion::error::DataFusionError;
use eddy_catalog::{CatalogError, ObjectKind};
use eddy_engine::EngineError;
use eddy_engine::table::TableError;
use eddy_pgcompat::PgError;
use eddy_sql::SqlError;

#[derive(Debug, Clone)]
pub struct UserError {
    pub sqlstate: &'static str,
    pub message: String,
    pub position: Option<usize>,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// `WARNING`/`NOTICE` instead of `ERROR`.
    pub severity: &'static str,
}

/// Lets a `UserError` travel through DataFusion as an external error and
/// come out with its SQLSTATE (see `From<DataFusionError>`).
impl std::error::Error for UserError {}

impl UserError {
    pub fn new(sqlstate: &'static str, message: impl Into<String>) -> Self {
        UserError {
            sqlstate,
            message: message.into(),
            position: None,
            detail: None,
            hint: None,
            severity: "ERROR",
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn unsupported(message: impl Into<String>) -> Self {
        UserError::new("0A000", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        UserError::new("XX000", message)
    }
}

/// The error as the client is answered with it.
impl From<UserError> for eddy_wire::DbError {
    fn from(e: UserError) -> Self {
        eddy_wire::DbError {
            severity: e.severity,
            code: e.sqlstate,
            message: e.message,
            position: e.position,
            detail: e.detail,
            hint: e.hint,
        }
    }
}

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<SqlError> for UserError {
    fn from(e: SqlError) -> Self {
        // 54001 comes from the depth limits, which the hint states.
        let hint = (e.sqlstate == "54001").then(eddy_sql::stack_depth_hint);
        UserError {
            position: e.position,
            hint,
            ..UserError::new(e.sqlstate, e.message)
        }
    }
}

/// The PostgreSQL emulation's refusals (settings, catalog functions) keep
/// their SQLSTATE and hint.
impl From<PgError> for UserError {
    fn from(e: PgError) -> Self {
        UserError {
            hint: e.hint().map(str::to_string),
            ..UserError::new(e.sqlstate(), e.message())
        }
    }
}

impl From<CatalogError> for UserError {
    fn from(e: CatalogError) -> Self {
        let code = match &e {
            CatalogError::AlreadyExists { kind, .. } => match kind {
                ObjectKind::Sink => "42710",
                _ => "42P07",
            },
            CatalogError::NotFound { kind, .. }
            | CatalogError::MissingDependency { dep_kind: kind, .. } => match kind {
                ObjectKind::Sink | ObjectKind::StreamingQuery => "42704",
                _ => "42P01",
            },
            CatalogError::WrongKind { .. } => "42809",
            CatalogError::HasDependents { .. } | CatalogError::ReferencedByForeignKey { .. } => {
                "2BP01"
            }
            CatalogError::Conflict { .. } => "40001",
            CatalogError::Storage(_) | CatalogError::Corrupt { .. } => "58030",
        };
        let hint = matches!(
            e,
            CatalogError::HasDependents { .. } | CatalogError::ReferencedByForeignKey { .. }
        )
        .then(|| "Use DROP ... CASCADE to drop the dependent objects too.".to_string());
        let detail = match &e {
            CatalogError::ReferencedByForeignKey {
                table,
                constraint,
                referencing,
            } => Some(format!(
                "constraint {constraint} on table {referencing} depends on table {table}"
            )),
            _ => None,
        };
        UserError {
            hint,
            detail,
            ..UserError::new(code, e.to_string())
        }
    }
}

/// A table's refusal as PostgreSQL words it: 23505 with the constraint in
/// the message and `Key (k)=(v) already exists.` as the detail, 23502,
/// 40001.
impl From<TableError> for UserError {
    fn from(e: TableError) -> Self {
        let detail = e.detail().map(str::to_string);
        UserError {
            detail,
            ..UserError::new(e.code(), e.to_string())
        }
    }
}

impl From<EngineError> for UserError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::DataFusion(e) => e.into(),
            EngineError::Arrow(e) => DataFusionError::ArrowError(Box::new(e), None).into(),
            other => engine_error(&other),
        }
    }
}

/// The SQLSTATE of an engine error by its kind: also for one raised inside
/// a DataFusion plan (a look at a source), found there by reference.
fn engine_error(e: &EngineError) -> UserError {
    match e {
        EngineError::Config(m) => UserError::new("22023", m.clone()),
        EngineError::Plan(m) => UserError::new("0A000", m.clone()),
        EngineError::External { .. } => UserError::new("58000", e.to_string()),
        EngineError::Data(m) => UserError::new("22000", m.clone()),
        EngineError::DataFusion(inner) => UserError::from_datafusion(inner),
        EngineError::Arrow(_) => UserError::new("XX000", e.to_string()),
        EngineError::Io(_) => UserError::new("58030", e.to_string()),
        EngineError::Internal(m) => UserError::internal(m.clone()),
    }
}

impl From<datafusion::arrow::error::ArrowError> for UserError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        DataFusionError::ArrowError(Box::new(e), None).into()
    }
}

impl From<DataFusionError> for UserError {
    fn from(e: DataFusionError) -> Self {
        UserError::from_datafusion(&e)
    }
}

impl UserError {
    fn from_datafusion(e: &DataFusionError) -> UserError {
        if let DataFusionError::External(inner) = e.find_root() {
            if let Some(user) = inner.downcast_ref::<UserError>() {
                return user.clone();
            }
            if let Some(pg) = inner.downcast_ref::<PgError>() {
                return pg.clone().into();
            }
            if let Some(engine) = inner.downcast_ref::<EngineError>() {
                return engine_error(engine);
            }
        }
        let root = e.find_root();
        let text = root.to_string();
        let message = strip_datafusion_prefix(&text);
        if matches!(sqlstate_of(root), "22012") {
            return UserError::new("22012", "division by zero");
        }
        if let DataFusionError::Plan(_) = root
            && let Some(name) = missing_table(&message)
        {
            return UserError::new("42P01", format!("relation \"{name}\" does not exist"));
        }
        UserError::new(sqlstate_of(root), message)
    }
}

/// The SQLSTATE of a DataFusion error, from its kind (and Arrow's and
/// sqlparser's kinds inside it). Planning errors have no finer kind in
/// DataFusion, so for those alone the message tells a missing function or
/// column from other invalid references.
fn sqlstate_of(e: &DataFusionError) -> &'static str {
    use datafusion::arrow::error::ArrowError;
    use datafusion::common::SchemaError;
    use datafusion::sql::sqlparser::parser::ParserError;
    match e {
        DataFusionError::SchemaError(schema, _) => match schema.as_ref() {
            SchemaError::FieldNotFound { .. } => "42703",
            SchemaError::AmbiguousReference { .. } => "42702",
            SchemaError::DuplicateQualifiedField { .. }
            | SchemaError::DuplicateUnqualifiedField { .. } => "42701",
        },
        DataFusionError::ArrowError(arrow, _) => match arrow.as_ref() {
            ArrowError::DivideByZero => "22012",
            ArrowError::CastError(_) | ArrowError::ParseError(_) => "22P02",
            ArrowError::ArithmeticOverflow(_)
            | ArrowError::DictionaryKeyOverflowError
            | ArrowError::RunEndIndexOverflowError
            | ArrowError::OffsetOverflowError(_) => "22003",
            ArrowError::ComputeError(m) if m.contains("overflow") => "22003",
            ArrowError::InvalidArgumentError(_) => "22023",
            ArrowError::MemoryError(_) => "53200",
            ArrowError::IoError(..) => "58030",
            ArrowError::NotYetImplemented(_) => "0A000",
            _ => "XX000",
        },
        DataFusionError::SQL(parser, _) => match parser.as_ref() {
            ParserError::RecursionLimitExceeded => "54001",
            ParserError::TokenizerError(_) | ParserError::ParserError(_) => "42601",
        },
        DataFusionError::Plan(m) => {
            if m.contains("Invalid function") || m.contains("No function matches") {
                "42883"
            } else if m.contains("No field named") {
                "42703"
            } else if m.contains("Cannot cast") {
                "42846"
            } else {
                "42P10"
            }
        }
        DataFusionError::Execution(m) if m.contains("ivide by zero") => "22012",
        DataFusionError::Execution(m) if m.contains("verflow") => "22003",
        DataFusionError::NotImplemented(_) => "0A000",
        DataFusionError::Configuration(_) => "22023",
        DataFusionError::ResourcesExhausted(_) => "53200",
        DataFusionError::IoError(_) => "58030",
        DataFusionError::Shared(inner) => sqlstate_of(inner),
        _ => "XX000",
    }
}

/// The table named by DataFusion's "table 'catalog.schema.name' not found".
fn missing_table(message: &str) -> Option<&str> {
    let rest = message.split_once("table '")?.1;
    let (qualified, tail) = rest.split_once('\'')?;
    tail.trim_start()
        .starts_with("not found")
        .then(|| qualified.rsplit('.').next().unwrap_or(qualified))
}

fn strip_datafusion_prefix(message: &str) -> String {
    let mut m = message;
    for prefix in [
        "Error during planning: ",
        "Schema error: ",
        "Execution error: ",
        "Arrow error: ",
        "This feature is not implemented: ",
        "Optimizer rule",
        "SQL error: ",
    ] {
        if let Some(rest) = m.strip_prefix(prefix) {
            m = rest;
        }
    }
    m.trim().to_string()
}

pub type UserResult<T> = Result<T, UserError>;

#[cfg(test)]
mod tests {
    use datafusion::arrow::error::ArrowError;
    use datafusion::common::{Column, SchemaError};
    use datafusion::error::DataFusionError;
    use datafusion::sql::sqlparser::parser::ParserError;

    use super::UserError;

    fn code(e: DataFusionError) -> (&'static str, String) {
        let user = UserError::from(e);
        (user.sqlstate, user.message)
    }

    /// SQLSTATEs come from the error's kind, wherever it is wrapped.
    #[test]
    fn datafusion_errors_map_by_kind() {
        let arrow = |e| DataFusionError::ArrowError(Box::new(e), None);
        assert_eq!(
            code(arrow(ArrowError::DivideByZero)),
            ("22012", "division by zero".into())
        );
        let wrapped = DataFusionError::Context(
            "while running".into(),
            Box::new(arrow(ArrowError::CastError(
                "Cannot cast 'x' to Int64".into(),
            ))),
        );
        assert_eq!(code(wrapped).0, "22P02");
        assert_eq!(
            code(arrow(ArrowError::ArithmeticOverflow("1 + max".into()))).0,
            "22003"
        );
        let missing = SchemaError::FieldNotFound {
            field: Box::new(Column::from_name("nope")),
            valid_fields: Vec::new(),
        };
        assert_eq!(
            code(DataFusionError::SchemaError(
                Box::new(missing),
                Box::new(None)
            ))
            .0,
            "42703"
        );
        assert_eq!(
            code(DataFusionError::SQL(
                Box::new(ParserError::RecursionLimitExceeded),
                None
            ))
            .0,
            "54001"
        );
        assert_eq!(
            code(DataFusionError::Plan(
                "table 'eddy.public.clicks' not found".into()
            )),
            ("42P01", "relation \"clicks\" does not exist".into())
        );
        assert_eq!(
            code(DataFusionError::NotImplemented("LATERAL".into())).0,
            "0A000"
        );
        assert_eq!(code(DataFusionError::Internal("bug".into())).0, "XX000");
    }

    /// A refusal of the PostgreSQL emulation raised inside DataFusion (a
    /// catalog function's body) reaches the client as it was raised.
    #[test]
    fn pg_errors_come_out_of_datafusion_with_their_sqlstate() {
        let raised = eddy_pgcompat::PgError::new("22023", "unterminated format() type specifier")
            .with_hint("look at the format");
        let wrapped = DataFusionError::Context(
            "while running".into(),
            Box::new(DataFusionError::from(raised)),
        );
        let user = UserError::from(wrapped);
        assert_eq!(
            (user.sqlstate, user.message.as_str(), user.hint.as_deref()),
            (
                "22023",
                "unterminated format() type specifier",
                Some("look at the format")
            )
        );
    }
}
