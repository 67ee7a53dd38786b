//! Eddy behind the wire front end: [`EddyBackends`] is the
//! [`BackendFactory`] (passwords from [`crate::users`], a [`Session`] per
//! connection), [`EddyBackend`] the per-connection [`Backend`] that runs
//! statements on its session. Everything protocol-shaped — messages,
//! formats, cancel, panics — is `eddy_wire`'s; what is here is the SQL
//! side: parsing, preparing (see [`crate::prepare`]), parameters as
//! DataFusion scalars (see [`crate::parameters`]), and the session's
//! transaction state, notices and settings as the client sees them; and
//! what `/metrics` counts of sessions: connections, statements as they
//! finish, errors as they are answered.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use eddy_pgcompat::settings::Settings;
use eddy_sql::{ParsedStatement, parse_statements};
use eddy_wire::{
    Backend, BackendFactory, DbError, Notice, Param, Prepared, ScramVerifier, Startup,
    TransactionState,
};

use crate::auth::AuthMode;
use crate::database::Database;
use crate::metrics::sessions::{ConnectionMetrics, SessionMetrics};
use crate::metrics::statement_kind::StatementKind;
use crate::outcome::{Outcome, TxState};
use crate::session::Session;
use crate::users::UserStore;

/// Sessions for the clients of one server.
pub struct EddyBackends {
    pub db: Arc<Database>,
    pub auth: AuthMode,
    /// Whether the listener accepts connections from other machines.
    pub beyond_loopback: bool,
    pub metrics: SessionMetrics,
}

#[async_trait]
impl BackendFactory for EddyBackends {
    type Backend = EddyBackend;

    fn password_required(&self) -> bool {
        crate::auth::password_required(self.auth, self.beyond_loopback, &self.db.data_dir)
    }

    async fn scram_verifier(&self, user: &str) -> Result<Option<ScramVerifier>, DbError> {
        UserStore::at(&self.db.data_dir)
            .scram_verifier(user)
            .map_err(|e| DbError::new("58030", format!("cannot read the users file: {e}")))
    }

    fn connect(&self, startup: &Startup) -> Result<EddyBackend, DbError> {
        let database = startup.database().unwrap_or(crate::databases::DEFAULT);
        crate::databases::check_connect(database)
            .map_err(|(code, message)| DbError::fatal(code, message))?;
        let reported = Settings::with_startup(startup.parameters.clone());
        let parameters = startup_parameters(startup, &reported);
        let settings = Settings::with_startup(startup.settings());
        Ok(EddyBackend {
            session: Session::new(self.db.clone(), settings, database),
            parameters,
            metrics: self.metrics.connection(),
        })
    }
}

/// What a client hears of the server at startup, as PostgreSQL reports it.
fn startup_parameters(startup: &Startup, settings: &Settings) -> Vec<(String, String)> {
    let setting = |name: &str| settings.get(name).unwrap_or_default();
    [
        (
            "application_name",
            startup
                .get("application_name")
                .unwrap_or_default()
                .to_owned(),
        ),
        ("client_encoding", setting("client_encoding")),
        ("DateStyle", setting("datestyle")),
        ("default_transaction_read_only", "off".into()),
        ("in_hot_standby", "off".into()),
        ("integer_datetimes", "on".into()),
        ("IntervalStyle", "postgres".into()),
        ("is_superuser", "on".into()),
        ("server_encoding", "UTF8".into()),
        ("server_version", eddy_pgcompat::PG_SERVER_VERSION.into()),
        (
            "session_authorization",
            startup.user().unwrap_or("eddy").to_owned(),
        ),
        ("standard_conforming_strings", "on".into()),
        ("TimeZone", setting("timezone")),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}

/// One client's session, as the front end drives it.
pub struct EddyBackend {
    session: Session,
    /// The ParameterStatus set of startup.
    parameters: Vec<(String, String)>,
    /// Counts the connection as open until it is dropped.
    metrics: ConnectionMetrics,
}

#[async_trait]
impl Backend for EddyBackend {
    type Statement = ParsedStatement;

    fn startup_parameters(&self) -> Vec<(String, String)> {
        self.parameters.clone()
    }

    fn loggable_sql(&self, sql: &str) -> String {
        crate::redact::redact_sql(sql)
    }

    fn statement_sql<'a>(&self, statement: &'a ParsedStatement) -> &'a str {
        &statement.text
    }

    fn parse_query(&mut self, sql: &str) -> Result<Vec<ParsedStatement>, DbError> {
        let sql = crate::users::rewrite_user_statements(sql);
        parse_statements(&sql)
            .map_err(|e| DbError::from(crate::error::UserError::from(e)))
            .inspect_err(|e| self.metrics.error(e.code))
    }

    async fn prepare(
        &mut self,
        sql: &str,
        declared: &[Option<u32>],
    ) -> Result<Prepared<Self>, DbError> {
        crate::prepare::prepare(&mut self.session, sql, declared)
            .await
            .map_err(DbError::from)
            .inspect_err(|e| self.metrics.error(e.code))
    }

    async fn execute(
        &mut self,
        statement: &ParsedStatement,
        params: &[Param],
    ) -> Result<eddy_wire::Outcome, DbError> {
        let scalars = match crate::parameters::scalars(params) {
            Ok(scalars) => scalars,
            Err(e) => {
                self.session.note_error();
                self.metrics.error(e.code);
                return Err(e);
            }
        };
        let started = Instant::now();
        let outcome = self.session.run(statement, &scalars).await;
        let kind = StatementKind::of(&statement.stmt);
        self.metrics.statement(kind, started.elapsed());
        match outcome {
            Ok(outcome) => Ok(answer(outcome)),
            Err(e) => {
                let e = DbError::from(e);
                self.metrics.error(e.code);
                Err(e)
            }
        }
    }

    fn note_error(&mut self) {
        self.session.note_error();
    }

    fn abandon_statement(&mut self) {
        self.session.abandon_statement();
    }

    fn start_implicit_transaction(&mut self) {
        self.session.begin_script();
    }

    async fn finish_implicit_transaction(&mut self) -> Result<(), DbError> {
        self.session
            .end_script()
            .await
            .map_err(DbError::from)
            .inspect_err(|e| self.metrics.error(e.code))
    }

    fn statement_timeout(&self) -> Option<Duration> {
        self.session
            .settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get("statement_timeout")
            .ok()
            .and_then(|t| parse_duration(&t))
    }

    fn transaction_state(&self) -> TransactionState {
        match self.session.tx {
            TxState::Idle => TransactionState::Idle,
            TxState::InBlock => TransactionState::InBlock,
            TxState::Failed => TransactionState::Failed,
        }
    }

    fn take_notices(&mut self) -> Vec<Notice> {
        self.session
            .notices
            .drain(..)
            .map(|(severity, code, message)| Notice {
                severity,
                code,
                message,
            })
            .collect()
    }

    fn take_parameter_changes(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.session.reported)
    }
}

/// A statement's outcome as the front end sends it.
fn answer(outcome: Outcome) -> eddy_wire::Outcome {
    match outcome {
        Outcome::Rows(schema, batches) => eddy_wire::Outcome::rows(schema, batches),
        Outcome::TaggedRows(tag, schema, batches) => {
            eddy_wire::Outcome::rows(schema, batches).tagged(tag)
        }
        Outcome::Command(tag, rows) => eddy_wire::Outcome::Command { tag, rows },
        Outcome::Begin => eddy_wire::Outcome::Begin,
        Outcome::End(tag) => eddy_wire::Outcome::End(tag.into()),
        Outcome::Empty => eddy_wire::Outcome::Empty,
    }
}

/// A PostgreSQL duration setting: a number of milliseconds, or a number
/// with a unit (`us`, `ms`, `s`, `min`, `h`, `d`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    eddy_engine::options::parse_duration_bare_in(text, Duration::from_millis(1))
}
