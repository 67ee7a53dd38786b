//! Ad-hoc queries: DataFusion over Eddy's tables.
//!
//! Each session gets a DataFusion `SessionContext` whose default schema
//! (`public`) resolves names against the live catalog on every query, so a
//! table created by another session is visible at once, and whose functions
//! include the ones PostgreSQL clients call (`version()`,
//! `current_setting()`, …). The catalog also holds `pg_catalog` and
//! `information_schema` (see [`crate::pg_catalog`]); DataFusion's own
//! information schema is off, so that names resolve as in PostgreSQL.
//!
//! A source in `FROM` is looked at, not streamed: its scan reads a bounded
//! sample through the connector's own reader
//! ([`eddy_engine::sample::SourceSample`]), and the session sends a notice
//! saying so (see [`take_sample_notices`]). No query is created.
//!
//! A query's result columns carry PostgreSQL's names, not DataFusion's
//! (`count`, not `count(*)`; see [`eddy_sql::column_names`]):
//! [`rewrite_for_planning`] aliases derived tables' columns before planning,
//! and [`result_schema`] names the top level's in the description both
//! protocols send, from the statement as the client wrote it.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, SchemaProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::sqlparser::ast::Statement;
use eddy_catalog::{CatalogObject, ObjectKind, SourceDef};
use eddy_engine::sample::{SampleLog, SourceSample};
use eddy_engine::table::StoredTableProvider;
use eddy_pgcompat::advisory::{self, SessionLocks};
use eddy_pgcompat::pg_catalog::{
    self, CatalogContext, InformationSchema, PgCatalogSchema, StatementSnapshot,
};
use eddy_pgcompat::settings::Settings;
use eddy_sql::column_names;
use eddy_sql::types::arrow_schema;

use crate::catalog_view::SessionCatalog;
use crate::database::Database;
use crate::error::UserResult;

/// What the planner gets of a statement: PostgreSQL's names given to the
/// columns of derived tables and CTEs (so that `SELECT count FROM (SELECT
/// count(*) …) s` finds its column) and aliases that keep the top level's
/// names unique for DataFusion (see
/// [`column_names::name_for_planning`]), then the casts DataFusion cannot
/// plan as written rewritten (`::uuid`, `::jsonb`, `'\x…'::bytea`).
pub fn rewrite_for_planning(stmt: &mut Statement) -> UserResult<()> {
    match stmt {
        Statement::Query(query) => column_names::name_for_planning(query),
        Statement::Insert(insert) => {
            if let Some(source) = &mut insert.source {
                column_names::name_for_planning(source);
            }
        }
        _ => {}
    }
    eddy_sql::types::rewrite_pg_casts(stmt)?;
    Ok(())
}

/// The columns a query's result is described with: `planned` (DataFusion's
/// output schema) with PostgreSQL's names, figured from `written`, the
/// statement as the client sent it. PostgreSQL allows two columns of one
/// name (`SELECT 1, 2`), which a DataFusion projection does not: hence
/// names in the description rather than aliases in the plan.
pub fn result_schema(written: &Statement, planned: &Schema) -> SchemaRef {
    let columns = match written {
        Statement::Query(query) => column_names::output_columns(query),
        _ => None,
    };
    match columns {
        Some(columns) => Arc::new(column_names::rename_fields(planned, &columns)),
        None => Arc::new(planned.clone()),
    }
}

/// The default schema: Eddy's tables, looked up in the catalog each time.
/// Names it does not hold fall through to `pg_catalog`, as PostgreSQL's
/// search path (`pg_catalog, "$user", public`) makes `pg_class` resolve.
pub struct EddySchema {
    db: Arc<Database>,
    pg_catalog: Arc<PgCatalogSchema>,
    /// Where looks at sources report what they read; the session's.
    samples: Arc<SampleLog>,
}

impl std::fmt::Debug for EddySchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EddySchema")
    }
}

#[async_trait]
impl SchemaProvider for EddySchema {
    fn table_names(&self) -> Vec<String> {
        self.db
            .catalog
            .list(ObjectKind::Table)
            .unwrap_or_default()
            .iter()
            .map(|o| o.name().to_string())
            .collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        match self.db.catalog.lookup(ObjectKind::Table, name) {
            Ok(Some(CatalogObject::Table(_))) => {
                let table = self
                    .db
                    .tables
                    .get(name)
                    .map_err(|e| DataFusionError::External(Box::new(e)))?;
                // Filters fixing the primary key are answered by the index.
                Ok(Some(Arc::new(StoredTableProvider::new(table))))
            }
            Ok(Some(CatalogObject::Source(def))) => Ok(Some(self.sample(def)?)),
            Ok(Some(CatalogObject::StreamingQuery(_))) => Err(DataFusionError::Plan(format!(
                "\"{name}\" is a streaming query; query the table its sink writes into"
            ))),
            Ok(_) if pg_catalog::is_catalog_table(name) => self.pg_catalog.table(name).await,
            Ok(_) => Ok(None),
            Err(e) => Err(DataFusionError::External(Box::new(e))),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        matches!(
            self.db.catalog.lookup(ObjectKind::Table, name),
            Ok(Some(CatalogObject::Table(_)))
        ) || pg_catalog::is_catalog_table(name)
    }
}

impl EddySchema {
    /// A look at source `def`: a table whose scan reads a sample.
    fn sample(&self, def: SourceDef) -> DfResult<Arc<dyn TableProvider>> {
        let connector = self
            .db
            .connectors
            .source(&def.connector)
            .map_err(DataFusionError::from)?
            .clone();
        let schema = arrow_schema(&def.columns);
        Ok(Arc::new(SourceSample::new(
            connector,
            def,
            schema,
            self.db.tables.clone(),
            self.samples.clone(),
        )))
    }
}

/// The notices for the looks at sources the session's last statement made
/// ("this result is over a sample"), oldest first.
pub fn take_sample_notices(ctx: &SessionContext) -> Vec<String> {
    ctx.state()
        .config()
        .get_extension::<SampleLog>()
        .map(|log| log.take().iter().map(|r| r.notice()).collect())
        .unwrap_or_default()
}

/// Builds the DataFusion context of one session.
pub fn session_context(
    db: Arc<Database>,
    settings: Arc<RwLock<Settings>>,
    database_name: &str,
    workspace: crate::transaction::Workspace,
    statement: Arc<StatementSnapshot>,
) -> SessionContext {
    let samples = Arc::new(SampleLog::default());
    let mut config = SessionConfig::new()
        .with_default_catalog_and_schema(database_name, "public")
        .with_create_default_catalog_and_schema(false)
        .with_information_schema(false)
        .with_extension(SessionLocks::new())
        .with_extension(samples.clone());
    config.options_mut().sql_parser.map_string_types_to_utf8view = false;
    config.options_mut().sql_parser.dialect = datafusion::config::Dialect::PostgreSQL;
    config.options_mut().execution.time_zone = Some("+00:00".into());
    let ctx = SessionContext::new_with_config(config);
    // `u = 'A0EEBC99-…'` compares canonical forms, as PostgreSQL does.
    ctx.add_analyzer_rule(Arc::new(eddy_sql::text_types::literals::CanonicalLiterals));
    let catalog_ctx = CatalogContext {
        source: Arc::new(SessionCatalog::new(db.clone(), workspace)),
        settings: settings.clone(),
        database_name: database_name.to_string(),
        statement,
    };
    let pg_catalog = Arc::new(PgCatalogSchema {
        ctx: catalog_ctx.clone(),
    });
    let catalog = Arc::new(MemoryCatalogProvider::new());
    let schemas: [(&str, Arc<dyn SchemaProvider>); 4] = [
        (
            crate::progress::SCHEMA,
            Arc::new(crate::progress::EddyCatalogSchema { db: db.clone() }),
        ),
        (
            "public",
            Arc::new(EddySchema {
                db,
                pg_catalog: pg_catalog.clone(),
                samples,
            }),
        ),
        ("pg_catalog", pg_catalog),
        (
            "information_schema",
            Arc::new(InformationSchema {
                ctx: catalog_ctx.clone(),
            }),
        ),
    ];
    for (name, schema) in schemas {
        catalog
            .register_schema(name, schema)
            .expect("a new catalog accepts a schema");
    }
    ctx.register_catalog(database_name, catalog);
    register_pg_functions(&ctx, settings, database_name);
    pg_catalog::functions::register_all(&ctx, &catalog_ctx);
    if let Some(locks) = session_locks(&ctx) {
        advisory::register_functions(&ctx, &locks);
    }
    ctx
}

/// The advisory locks of the session `ctx` belongs to.
pub fn session_locks(ctx: &SessionContext) -> Option<Arc<SessionLocks>> {
    ctx.state().config().get_extension::<SessionLocks>()
}

/// Functions the embedding binary adds to every session (see
/// [`add_functions`]).
static EXTRA_FUNCTIONS: std::sync::OnceLock<Vec<datafusion::logical_expr::ScalarUDF>> =
    std::sync::OnceLock::new();

/// Adds functions to every session of this process, before the server
/// starts. The end-to-end test server adds one that panics, so that tests
/// reach the path a real bug would take (XX000, the session carrying on).
pub fn add_functions(udfs: Vec<datafusion::logical_expr::ScalarUDF>) {
    let _ = EXTRA_FUNCTIONS.set(udfs);
}

fn constant_udf(ctx: &SessionContext, name: &str, value: ScalarValue) {
    let data_type = value.data_type();
    ctx.register_udf(create_udf(
        name,
        vec![],
        data_type,
        Volatility::Stable,
        Arc::new(move |_| Ok(ColumnarValue::Scalar(value.clone()))),
    ));
}

fn register_pg_functions(
    ctx: &SessionContext,
    settings: Arc<RwLock<Settings>>,
    database_name: &str,
) {
    for udf in EXTRA_FUNCTIONS.get().into_iter().flatten() {
        ctx.register_udf(udf.clone());
    }
    constant_udf(
        ctx,
        "version",
        ScalarValue::Utf8(Some(crate::version_string())),
    );
    constant_udf(
        ctx,
        "current_schema",
        ScalarValue::Utf8(Some("public".into())),
    );
    constant_udf(
        ctx,
        "current_database",
        ScalarValue::Utf8(Some(database_name.into())),
    );
    constant_udf(
        ctx,
        "pg_backend_pid",
        ScalarValue::Int32(Some(std::process::id() as i32)),
    );
    ctx.register_udf(create_udf(
        "current_setting",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            let settings = settings.read().unwrap_or_else(|e| e.into_inner());
            let lookup = |name: Option<&str>| -> DfResult<Option<String>> {
                match name {
                    None => Ok(None),
                    Some(n) => settings
                        .get(n)
                        .map(Some)
                        .map_err(|e| DataFusionError::Execution(e.message().to_string())),
                }
            };
            match &args[0] {
                ColumnarValue::Scalar(ScalarValue::Utf8(name)) => Ok(ColumnarValue::Scalar(
                    ScalarValue::Utf8(lookup(name.as_deref())?),
                )),
                ColumnarValue::Array(array) => {
                    let names = datafusion::common::cast::as_string_array(array)?;
                    let values: StringArray = names
                        .iter()
                        .map(lookup)
                        .collect::<DfResult<Vec<_>>>()?
                        .into_iter()
                        .collect();
                    Ok(ColumnarValue::Array(Arc::new(values) as ArrayRef))
                }
                other => Err(DataFusionError::Execution(format!(
                    "current_setting expects a text argument, got {other:?}"
                ))),
            }
        }),
    ));
}
