//! One client session: its settings, its transaction state and the
//! execution of each statement.
//!
//! Transactions follow PostgreSQL's state machine (idle → in block → failed):
//! after an error inside `BEGIN … COMMIT`, every statement but `ROLLBACK`
//! / `COMMIT` fails with 25P02, and `COMMIT` answers `ROLLBACK`. Statements
//! work in the session's [`Workspace`]: inside a block their changes
//! (catalog and table rows) are seen by the session's later statements and
//! by nobody else until `COMMIT` applies them; `ROLLBACK` forgets them.
//! Outside a block each statement commits on success and leaves nothing
//! on failure; between [`begin_script`](Session::begin_script) and
//! [`end_script`](Session::end_script) (a multi-statement simple query)
//! the statements outside a block commit together, as PostgreSQL's
//! implicit transaction does.
//!
//! `block`: BEGIN/COMMIT/ROLLBACK and savepoints; `insert`: INSERT into
//! Eddy tables (casts, defaults, SERIAL, keys); `set`: SET/SHOW/RESET.

mod block;
mod insert;
mod set;

use std::sync::{Arc, RwLock};

use datafusion::arrow::datatypes::{FieldRef, SchemaRef};
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{Reset, Statement};
use eddy_catalog::{ObjectKind, TableDef};
use eddy_pgcompat::pg_catalog::StatementSnapshot;
use eddy_pgcompat::settings::Settings;
use eddy_sql::{EddyStatement, ParsedStatement};

use crate::database::Database;
use crate::ddl::{self, CreateMode, Created};
use crate::error::{UserError, UserResult};
use crate::names;
use crate::outcome::{Outcome, TxState};
use crate::transaction::{Changes, PendingSchema, Workspace};
use set::setting_name;

pub struct Session {
    pub settings: Arc<RwLock<Settings>>,
    ctx: SessionContext,
    pub tx: TxState,
    /// Notices to send before the next response.
    /// (severity, SQLSTATE, message).
    pub notices: Vec<(&'static str, &'static str, String)>,
    /// Reported settings (ParameterStatus) changed by the last statement.
    pub reported: Vec<(String, String)>,
    /// The uncommitted changes of the current transaction.
    ws: Workspace,
    /// Savepoints of the current block, oldest first.
    savepoints: Vec<(String, Changes)>,
    /// Inside a multi-statement simple query: statements outside a block
    /// commit together at its end.
    script: bool,
    /// The catalog snapshot of the running statement (see
    /// [`StatementSnapshot`]), shared with the catalog tables of `ctx`.
    catalog_snapshot: Arc<StatementSnapshot>,
}

impl Session {
    pub fn new(db: Arc<Database>, settings: Settings, database_name: &str) -> Session {
        let settings = Arc::new(RwLock::new(settings));
        let ws = Workspace::new(db.clone());
        let catalog_snapshot = Arc::new(StatementSnapshot::default());
        let ctx = crate::query::session_context(
            db,
            settings.clone(),
            database_name,
            ws.clone(),
            catalog_snapshot.clone(),
        );
        // Queries see the transaction's own uncommitted tables and rows.
        if let Some(catalog) = ctx.catalog(database_name)
            && let Some(committed) = catalog.schema("public")
        {
            let pending = PendingSchema {
                committed,
                workspace: ws.clone(),
            };
            let _ = catalog.register_schema("public", Arc::new(pending));
        }
        Session {
            settings,
            ctx,
            tx: TxState::Idle,
            notices: Vec::new(),
            reported: Vec::new(),
            ws,
            savepoints: Vec::new(),
            script: false,
            catalog_snapshot,
        }
    }

    /// The session's view of the database, uncommitted changes included
    /// (for the catalog tables: `pg_class` inside a block should list the
    /// block's tables).
    pub fn workspace(&self) -> &Workspace {
        &self.ws
    }

    /// Starts a multi-statement simple query: until
    /// [`end_script`](Self::end_script), statements outside a transaction
    /// block form one implicit transaction.
    pub fn begin_script(&mut self) {
        self.script = true;
    }

    /// Ends a multi-statement simple query: commits its implicit
    /// transaction (an error already discarded it).
    pub async fn end_script(&mut self) -> UserResult<()> {
        self.script = false;
        if self.tx == TxState::Idle {
            let warnings = self.ws.commit().await?;
            self.relay_commit_warnings(warnings);
        }
        Ok(())
    }

    /// What a commit warns of (a new query's sink not reachable yet, so
    /// the query retries): the client hears it at once, not only from
    /// SHOW STREAMING QUERIES.
    fn relay_commit_warnings(&mut self, warnings: Vec<String>) {
        for warning in warnings {
            self.notice("WARNING", "01000", warning);
        }
    }

    fn notice(&mut self, severity: &'static str, code: &'static str, message: impl Into<String>) {
        self.notices.push((severity, code, message.into()));
    }

    /// Records an error that happened outside [`run`](Self::run) (a syntax
    /// error, a bad parameter): inside a transaction block it fails the
    /// block, as any error does.
    pub fn note_error(&mut self) {
        if self.tx == TxState::InBlock {
            self.tx = TxState::Failed;
        }
    }

    /// A statement that did not finish (cancelled, timed out, panicked):
    /// as after an error, a block becomes failed, and outside one what the
    /// statement (or its script) changed is discarded.
    pub fn abandon_statement(&mut self) {
        self.note_error();
        if self.tx == TxState::Idle {
            self.ws.discard();
        }
    }

    /// Runs one statement with the transaction rules applied.
    pub async fn run(
        &mut self,
        stmt: &ParsedStatement,
        params: &[ScalarValue],
    ) -> UserResult<Outcome> {
        let _catalog_snapshot = self.catalog_snapshot.begin();
        let ends_tx = matches!(
            &stmt.stmt,
            EddyStatement::Standard(s) if matches!(**s, Statement::Commit { .. } | Statement::Rollback { .. })
        );
        if self.tx == TxState::Failed && !ends_tx {
            return Err(UserError::new(
                "25P02",
                "current transaction is aborted, commands ignored until end of transaction block",
            ));
        }
        let result = self.execute(stmt, params).await;
        let samples = crate::query::take_sample_notices(&self.ctx);
        if result.is_err() {
            self.note_error();
        } else {
            for notice in samples {
                self.notice("NOTICE", "00000", notice);
            }
        }
        if self.tx == TxState::Idle {
            // Outside a block a statement (or a script) is a transaction.
            match &result {
                Ok(_) if !self.script => {
                    let warnings = self.ws.commit().await?;
                    self.relay_commit_warnings(warnings);
                }
                Ok(_) => {}
                Err(_) => self.ws.discard(),
            }
        }
        result
    }

    async fn execute(
        &mut self,
        parsed: &ParsedStatement,
        params: &[ScalarValue],
    ) -> UserResult<Outcome> {
        let sql = parsed.text.as_str();
        match &parsed.stmt {
            EddyStatement::CreateSource {
                name,
                if_not_exists,
                or_replace,
                columns,
                watermark,
                options,
            } => {
                let created = ddl::create_source(
                    &self.ws,
                    name.clone(),
                    columns.clone(),
                    watermark.clone(),
                    options.clone(),
                    CreateMode {
                        if_not_exists: *if_not_exists,
                        or_replace: *or_replace,
                    },
                    sql,
                )?;
                Ok(self.created(created, "CREATE SOURCE"))
            }
            EddyStatement::CreateSink {
                name,
                if_not_exists,
                or_replace,
                options,
            } => {
                let created = ddl::create_sink(
                    &self.ws,
                    name.clone(),
                    options.clone(),
                    CreateMode {
                        if_not_exists: *if_not_exists,
                        or_replace: *or_replace,
                    },
                    sql,
                )
                .await?;
                Ok(self.created(created, "CREATE SINK"))
            }
            EddyStatement::CreateStreamingQuery {
                name,
                if_not_exists,
                or_replace,
                options,
                sink,
                query_text,
                ..
            } => {
                let created = ddl::create_streaming_query(
                    &self.ws,
                    name.clone(),
                    options.clone(),
                    sink.clone(),
                    query_text.clone(),
                    CreateMode {
                        if_not_exists: *if_not_exists,
                        or_replace: *or_replace,
                    },
                    sql,
                )
                .await?;
                Ok(self.created(created, "CREATE STREAMING QUERY"))
            }
            EddyStatement::ShowObjects(kind) => {
                let batch = ddl::show_objects(&self.ws, *kind)?;
                Ok(Outcome::Rows(batch.schema(), vec![batch]))
            }
            EddyStatement::AlterStreamingQuery { name, alteration } => {
                if let Some(notice) = ddl::alter_streaming_query(&self.ws, name, alteration)? {
                    self.notice("NOTICE", "00000", notice);
                }
                Ok(Outcome::Command("ALTER STREAMING QUERY".into(), None))
            }
            EddyStatement::ShowStreamingQuery { name } => {
                let batch = crate::progress::show_streaming_query(&self.ws, name)?;
                Ok(Outcome::Rows(batch.schema(), vec![batch]))
            }
            EddyStatement::ShowCreate { kind, name } => {
                let batch = ddl::show_create(&self.ws, *kind, name)?;
                Ok(Outcome::Rows(batch.schema(), vec![batch]))
            }
            EddyStatement::Describe { name } => {
                let batch = ddl::describe(&self.ws, name).await?;
                Ok(Outcome::Rows(batch.schema(), vec![batch]))
            }
            EddyStatement::Drop {
                kind,
                names,
                if_exists,
                cascade,
            } => {
                for notice in ddl::drop_objects(&self.ws, *kind, names, *if_exists, *cascade)? {
                    self.notice("NOTICE", "00000", notice);
                }
                let tag = match kind {
                    ObjectKind::Source => "DROP SOURCE",
                    ObjectKind::Sink => "DROP SINK",
                    ObjectKind::StreamingQuery => "DROP STREAMING QUERY",
                    ObjectKind::Table => "DROP TABLE",
                };
                Ok(Outcome::Command(tag.into(), None))
            }
            EddyStatement::Standard(stmt) => self.execute_standard(stmt, sql, params).await,
        }
    }

    fn created(&mut self, created: Created, tag: &str) -> Outcome {
        match created {
            Created::Yes => {}
            Created::AlreadyExists(notice) => self.notice("NOTICE", "00000", notice),
            Created::WithWarning(warning) => self.notice("WARNING", "01000", warning),
        }
        Outcome::Command(tag.into(), None)
    }

    async fn execute_standard(
        &mut self,
        stmt: &Statement,
        sql: &str,
        params: &[ScalarValue],
    ) -> UserResult<Outcome> {
        if let Some(change) = crate::users::role_change(stmt) {
            let (change, tag) = change?;
            self.ws.change_users(change)?;
            return Ok(Outcome::Command(tag.into(), None));
        }
        if let Some(result) = crate::databases::execute_database_statement(stmt) {
            let (outcome, notices) = result?;
            for notice in notices {
                self.notice("NOTICE", "00000", notice);
            }
            return Ok(outcome);
        }
        let written = stmt;
        let mut rewritten = stmt.clone();
        crate::query::rewrite_for_planning(&mut rewritten)?;
        let stmt = &rewritten;
        match stmt {
            Statement::Query(_) | Statement::Explain { .. } => {
                let plan = self.plan(stmt.clone(), params).await?;
                let df = self.ctx.execute_logical_plan(plan).await?;
                let schema = crate::query::result_schema(written, df.schema().as_arrow());
                let batches = df.collect().await?;
                Ok(Outcome::Rows(schema, batches))
            }
            Statement::Insert(insert) => self.insert(insert, params).await,
            Statement::CreateTable(create) => {
                let created = ddl::create_table(&self.ws, create, sql)?;
                Ok(self.created(created, "CREATE TABLE"))
            }
            // Prepared statements live in the protocol layer, which drops
            // them on Close; psycopg 3 sends these after ROLLBACK or DDL.
            Statement::Deallocate { .. } => Ok(Outcome::Command("DEALLOCATE".into(), None)),
            Statement::Discard { object_type } => Ok(Outcome::Command(
                format!("DISCARD {}", object_type.to_string().to_uppercase()),
                None,
            )),
            Statement::Truncate(t) => {
                for target in &t.table_names {
                    let name = names::object_name(&target.name)?;
                    let table = self.table_def(&name)?;
                    let (schema, _) = self.ws.table_rows(&table.name)?;
                    self.ws.replace_rows(&table.name, schema, Vec::new())?;
                }
                Ok(Outcome::Command("TRUNCATE TABLE".into(), None))
            }
            Statement::Update(update) => {
                crate::dml::update(&self.ctx, &self.ws, update, params).await
            }
            Statement::Delete(delete) => {
                crate::dml::delete(&self.ctx, &self.ws, delete, params).await
            }
            Statement::AlterTable(alter) => {
                crate::dml::alter_table(&self.ctx, &self.ws, alter).await
            }
            Statement::Grant(grant) => {
                self.check_grant(grant.objects.as_ref(), &grant.grantees)?;
                self.notice(
                    "NOTICE",
                    "00000",
                    "Eddy does not enforce privileges: every user already holds them all, so GRANT changes nothing",
                );
                Ok(Outcome::Command("GRANT".into(), None))
            }
            Statement::Revoke(_) => Err(UserError::unsupported(
                "REVOKE is not supported: Eddy does not enforce privileges, every user holds them all",
            )),
            Statement::Comment {
                object_type,
                object_name,
                comment,
                ..
            } => {
                crate::dml::comment_on(&self.ws, object_type, object_name, comment.as_deref())?;
                Ok(Outcome::Command("COMMENT".into(), None))
            }
            Statement::CreateIndex(create) => {
                let notice = crate::dml::create_index(&self.ws, create)?;
                if let Some(notice) = notice {
                    self.notice("NOTICE", "00000", notice);
                }
                Ok(Outcome::Command("CREATE INDEX".into(), None))
            }
            Statement::Drop {
                object_type: datafusion::sql::sqlparser::ast::ObjectType::Index,
                names,
                if_exists,
                ..
            } => {
                for notice in crate::dml::drop_indexes(&self.ws, names, *if_exists)? {
                    self.notice("NOTICE", "00000", notice);
                }
                Ok(Outcome::Command("DROP INDEX".into(), None))
            }
            Statement::StartTransaction { .. } => Ok(self.begin()),
            Statement::Commit { .. } => self.commit().await,
            Statement::Rollback {
                savepoint: Some(name),
                ..
            } => self.rollback_to(name),
            Statement::Rollback { .. } => Ok(self.rollback()),
            Statement::Savepoint { name } => self.savepoint(name),
            Statement::ReleaseSavepoint { name } => self.release_savepoint(name),
            Statement::Set(set) => self.set(set),
            Statement::ShowVariable { variable } => self.show(variable),
            Statement::Reset(reset) => {
                {
                    let mut settings = self.settings.write().unwrap_or_else(|e| e.into_inner());
                    match &reset.reset {
                        Reset::ALL => settings.reset_all(),
                        Reset::ConfigurationParameter(name) => settings.reset(&setting_name(name)),
                    }
                }
                self.report_changes();
                Ok(Outcome::Command("RESET".into(), None))
            }
            Statement::Drop { object_type, .. } => Err(UserError::unsupported(format!(
                "DROP {object_type} is not supported"
            ))),
            other => Err(UserError::unsupported(format!(
                "statement not supported by Eddy: {}",
                first_words(&other.to_string())
            ))),
        }
    }

    /// Ends `pg_advisory_xact_lock`s: at COMMIT and ROLLBACK, and after a
    /// statement outside a block (its implicit transaction).
    fn release_transaction_locks(&self) {
        if let Some(locks) = crate::query::session_locks(&self.ctx) {
            locks.release_transaction_locks();
        }
    }

    async fn plan(&self, stmt: Statement, params: &[ScalarValue]) -> UserResult<LogicalPlan> {
        let mut stmt = stmt;
        eddy_pgcompat::dialect::rewrite(&mut stmt);
        if self.tx == TxState::Idle {
            self.release_transaction_locks();
        }
        let subqueries = crate::subquery::extract(&mut stmt);
        // Registered for planning only: the plan holds its functions.
        let _registered = crate::subquery::plan(&self.ctx, subqueries).await?;
        let plan = self
            .ctx
            .state()
            .statement_to_plan(DFStatement::Statement(Box::new(stmt)))
            .await?;
        if params.is_empty() {
            Ok(plan)
        } else {
            Ok(plan.with_param_values(ParamValues::List(
                params.iter().map(|p| p.clone().into()).collect(),
            ))?)
        }
    }

    /// Plans a statement with parameters left open (for Describe).
    pub async fn plan_unbound(&self, stmt: &Statement) -> UserResult<LogicalPlan> {
        self.plan(stmt.clone(), &[]).await
    }

    pub(crate) fn table_def(&self, name: &str) -> UserResult<TableDef> {
        crate::dml::table_def(&self.ws, name)
    }

    /// The types of an UPDATE's or DELETE's parameters (`$1` → type, as
    /// far as the statement implies them), for Describe; `None` for other
    /// statements.
    pub async fn dml_parameter_types(
        &self,
        stmt: &Statement,
    ) -> UserResult<Option<std::collections::HashMap<String, Option<FieldRef>>>> {
        crate::dml::parameter_types(&self.ctx, &self.ws, stmt).await
    }

    /// The columns of an INSERT's, UPDATE's or DELETE's `RETURNING`, for
    /// Describe; `None` without RETURNING.
    pub async fn returning_schema(&self, stmt: &Statement) -> UserResult<Option<SchemaRef>> {
        crate::dml::returning_schema(&self.ctx, &self.ws, stmt).await
    }

    /// What PostgreSQL checks of a GRANT: the tables and roles it names
    /// exist (42P01, 42704).
    fn check_grant(
        &self,
        objects: Option<&datafusion::sql::sqlparser::ast::GrantObjects>,
        grantees: &[datafusion::sql::sqlparser::ast::Grantee],
    ) -> UserResult<()> {
        use datafusion::sql::sqlparser::ast::{GrantObjects, GranteeName, GranteesType};
        if let Some(GrantObjects::Tables(tables)) = objects {
            for table in tables {
                let name = crate::names::object_name(table)?;
                if self.ws.lookup(ObjectKind::Table, &name)?.is_none() {
                    return Err(UserError::new(
                        "42P01",
                        format!("relation \"{name}\" does not exist"),
                    ));
                }
            }
        }
        let roles = self.ws.users()?.list();
        for grantee in grantees {
            if matches!(grantee.grantee_type, GranteesType::Public) {
                continue;
            }
            let Some(GranteeName::ObjectName(name)) = &grantee.name else {
                continue;
            };
            let role = crate::names::object_name(name)?;
            let current = self
                .settings
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get("session_authorization")
                .unwrap_or_default();
            let known = role == current || roles.iter().any(|(r, _, _)| *r == role);
            if !known && role != "public" {
                return Err(UserError::new(
                    "42704",
                    format!("role \"{role}\" does not exist"),
                ));
            }
        }
        Ok(())
    }
}

fn first_words(sql: &str) -> String {
    sql.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// Whether a statement is a `SHOW` or `DESCRIBE` (rows, no side effects).
pub fn returns_rows(stmt: &EddyStatement) -> bool {
    matches!(
        stmt,
        EddyStatement::ShowObjects(_)
            | EddyStatement::ShowStreamingQuery { .. }
            | EddyStatement::ShowCreate { .. }
            | EddyStatement::Describe { .. }
    ) || matches!(stmt, EddyStatement::Standard(s) if matches!(**s, Statement::ShowVariable { .. }))
}
