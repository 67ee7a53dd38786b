//! The server's shared state: the catalog, the tables' data, the connector
//! registry and the running streaming queries. Sessions call into it; it
//! owns the jobs, so dropping a query or shutting down stops them here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::sql::sqlparser::ast::{Query, Statement};
use eddy_catalog::{Catalog, CatalogObject, ObjectKind, SourceDef, StreamingQueryDef};
use eddy_engine::checkpoint::CheckpointDir;
use eddy_engine::job::{
    JobHandle, QueryOptions, QueryProgress, QueryStatus, SharedProgress, StreamingJob,
};
use eddy_engine::join::TableLookup;
use eddy_engine::plan::{InputInfo, PlanContext, build_streaming_plan};
use eddy_engine::table::TableConstraints;
use eddy_engine::table_store::TableStore;
use eddy_engine::watermark::WatermarkSpec;
use eddy_engine::{ConnectorRegistry, EngineError, Lookup, SinkContext, SourceContext};
use eddy_sql::streaming::plan_streaming_query;
use eddy_sql::types::arrow_schema;

use crate::error::{UserError, UserResult};

/// A streaming query the server knows: its progress, and the job while it runs.
struct QueryRuntime {
    progress: SharedProgress,
    job: Option<JobHandle>,
}

pub struct Database {
    pub catalog: Catalog,
    pub tables: Arc<TableStore>,
    pub connectors: ConnectorRegistry,
    pub data_dir: PathBuf,
    queries: Mutex<HashMap<String, QueryRuntime>>,
}

impl Database {
    /// Opens the data directory: the catalog and every table's data.
    pub fn open(data_dir: &Path, connectors: ConnectorRegistry) -> anyhow::Result<Arc<Database>> {
        std::fs::create_dir_all(data_dir)?;
        let catalog = Catalog::open(&data_dir.join("catalog"))?;
        let tables = Arc::new(TableStore::open(&data_dir.join("tables"))?);
        for obj in catalog.list(ObjectKind::Table)? {
            if let CatalogObject::Table(t) = obj {
                let constraints = TableConstraints::from_table_def(&t)?;
                tables.create_or_load_with(&t.name, arrow_schema(&t.columns), constraints)?;
            }
        }
        Ok(Arc::new(Database {
            catalog,
            tables,
            connectors,
            data_dir: data_dir.to_path_buf(),
            queries: Mutex::new(HashMap::new()),
        }))
    }

    fn queries(&self) -> std::sync::MutexGuard<'_, HashMap<String, QueryRuntime>> {
        self.queries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts every streaming query of the catalog (at server start). A
    /// query that cannot start is shown as failed, with the reason.
    pub async fn start_all_queries(&self) {
        let Ok(defs) = self.catalog.list(ObjectKind::StreamingQuery) else {
            return;
        };
        for obj in defs {
            if let CatalogObject::StreamingQuery(def) = obj {
                // A query that cannot start is shown as failed.
                let _ = self.start_query(&def).await;
            }
        }
    }

    /// Starts a stored streaming query (at server start, or when the
    /// transaction that created it commits). A query that cannot start is
    /// shown as failed, with the reason, which is also returned.
    pub async fn start_query(&self, def: &StreamingQueryDef) -> Result<(), String> {
        let prepared = match self.prepare_job(def).await {
            // The sink's target is created or checked before the statement
            // that started the query returns (a sink that is down is
            // retried by the running query).
            Ok(mut job) => match job.open_sink().await {
                Err(e) if !e.is_retryable() => Err(UserError::from(e)),
                _ => Ok(job),
            },
            Err(e) => Err(e),
        };
        match prepared {
            Ok(job) => {
                self.run_job(job);
                Ok(())
            }
            Err(e) => {
                tracing::error!(query = %def.name, error = %e, "cannot start streaming query");
                let progress = QueryProgress {
                    status: QueryStatus::Failed,
                    error: Some(e.message.clone()),
                    ..QueryProgress::default()
                };
                self.queries().insert(
                    def.name.clone(),
                    QueryRuntime {
                        progress: Arc::new(Mutex::new(progress)),
                        job: None,
                    },
                );
                Err(e.message)
            }
        }
    }

    /// The schema of a relation as the planner sees it.
    pub fn relation_schema(&self, name: &str) -> Option<SchemaRef> {
        match self.catalog.lookup(ObjectKind::Table, name).ok()?? {
            CatalogObject::Source(s) => Some(arrow_schema(&s.columns)),
            CatalogObject::Table(t) => Some(arrow_schema(&t.columns)),
            _ => None,
        }
    }

    fn source_def(&self, name: &str) -> Option<SourceDef> {
        match self.catalog.lookup(ObjectKind::Source, name).ok()?? {
            CatalogObject::Source(s) => Some(s),
            _ => None,
        }
    }

    /// Plans a streaming query and builds its source and sink, without
    /// starting it: everything that can be wrong with a definition is
    /// reported here, at CREATE time.
    pub async fn prepare_job(&self, def: &StreamingQueryDef) -> UserResult<StreamingJob> {
        let query = parse_query(&def.query)?;
        let options = QueryOptions::from_map(&def.options)?;
        let planned = plan_streaming_query(&query, &|name| self.relation_schema(name)).await?;
        let plan = build_streaming_plan(&planned, options.output_mode, self)?;
        let bad_records = Arc::new(AtomicU64::new(0));
        let mut sources = Vec::with_capacity(plan.inputs.len());
        let mut watermarks = Vec::with_capacity(plan.inputs.len());
        let mut source_defs = Vec::with_capacity(plan.inputs.len());
        for input in &plan.inputs {
            let source_def = self.source_def(&input.relation).ok_or_else(|| {
                UserError::unsupported("a streaming query must read from a source")
            })?;
            let schema = arrow_schema(&source_def.columns);
            watermarks.push(WatermarkSpec::of_source(&source_def, &schema)?);
            let source_ctx = SourceContext {
                query: def.name.clone(),
                tables: self.tables.clone(),
                bad_records: bad_records.clone(),
            };
            let source = self.connectors.source(&source_def.connector)?.create(
                &source_def,
                schema,
                source_ctx,
            )?;
            sources.push((input.relation.clone(), source));
            source_defs.push(source_def);
        }
        let sink_def = match self.catalog.get(ObjectKind::Sink, &def.sink)? {
            CatalogObject::Sink(s) => s,
            _ => unreachable!("get checks the kind"),
        };
        let ctx = SinkContext {
            query: format!("{}#{}", def.name, def.incarnation),
            tables: self.tables.clone(),
        };
        let mut sink = self
            .connectors
            .sink(&sink_def.connector)?
            .create(&sink_def, ctx)?;
        sink.set_output_mode(options.output_mode)?;
        let checkpoint =
            CheckpointDir::open(&self.checkpoint_dir(&def.name)).map_err(UserError::from)?;
        let late_rows_table = options.late_rows_table(&def.name);
        let mut job = StreamingJob::new(def.name.clone(), sources, sink, plan, options, watermarks);
        if let Some(name) = late_rows_table {
            let [source_def] = source_defs.as_slice() else {
                return Err(UserError::unsupported(
                    "late_rows = 'table' keeps the late rows of one source; this query reads several",
                ));
            };
            let schema = eddy_engine::late::late_rows_schema(&arrow_schema(&source_def.columns));
            crate::ddl::create_side_table(self, &name, &schema)?;
            let table = self.tables.get(&name)?;
            let writer = format!("{}#{}:late_rows", def.name, def.incarnation);
            job = job.with_late_rows_table(table, writer);
        }
        Ok(job
            .with_checkpoint(checkpoint)
            .with_bad_record_counter(bad_records))
    }

    /// Where a query's offset log, commit log and state live.
    fn checkpoint_dir(&self, query: &str) -> PathBuf {
        let hex: String = query.bytes().map(|b| format!("{b:02x}")).collect();
        self.data_dir.join("queries").join(hex)
    }

    /// Forgets a query's progress (it was dropped or replaced).
    pub fn remove_checkpoints(&self, query: &str) -> UserResult<()> {
        CheckpointDir::remove(&self.checkpoint_dir(query)).map_err(UserError::from)
    }

    /// Starts a prepared job.
    pub fn run_job(&self, job: StreamingJob) {
        let name = job.name().to_string();
        let handle = job.spawn();
        self.queries().insert(
            name,
            QueryRuntime {
                progress: handle.progress.clone(),
                job: Some(handle),
            },
        );
    }

    /// Stops a query's job (its running epoch completes first).
    pub async fn stop_query(&self, name: &str) {
        let runtime = self.queries().remove(name);
        if let Some(QueryRuntime { job: Some(job), .. }) = runtime {
            job.stop().await;
        }
    }

    /// Stops every job; used on shutdown.
    pub async fn stop_all(&self) {
        let names: Vec<String> = self.queries().keys().cloned().collect();
        for name in names {
            self.stop_query(&name).await;
        }
    }

    pub fn progress(&self, name: &str) -> Option<QueryProgress> {
        self.queries()
            .get(name)
            .map(|q| q.progress.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// Parses the stored SELECT text of a streaming query, held to the same
/// nesting limits as every statement (see `eddy_sql::parser::depth`).
pub fn parse_query(text: &str) -> UserResult<Box<Query>> {
    let mut statements = eddy_sql::parse_statements(text)?;
    let single = match statements.pop() {
        Some(only) if statements.is_empty() => Some(only.stmt),
        _ => None,
    };
    match single {
        Some(eddy_sql::EddyStatement::Standard(stmt)) => match *stmt {
            Statement::Query(q) => Ok(q),
            _ => Err(not_a_select()),
        },
        _ => Err(not_a_select()),
    }
}

fn not_a_select() -> UserError {
    UserError::new("42601", "a streaming query's body must be a single SELECT")
}

/// What the streaming planner asks of the catalog: relations and lookups.
impl PlanContext for Database {
    fn relation(&self, name: &str) -> Option<InputInfo> {
        match self.catalog.lookup(ObjectKind::Table, name).ok()?? {
            CatalogObject::Source(s) => Some(InputInfo {
                schema: arrow_schema(&s.columns),
                watermark_column: s.watermark.as_ref().map(|w| w.column.clone()),
                lookup_only: self
                    .connectors
                    .source(&s.connector)
                    .is_ok_and(|c| c.is_lookup_only()),
            }),
            CatalogObject::Table(t) => Some(InputInfo {
                schema: arrow_schema(&t.columns),
                watermark_column: None,
                lookup_only: true,
            }),
            _ => None,
        }
    }

    fn lookup(
        &self,
        relation: &str,
        key_columns: &[String],
    ) -> eddy_engine::Result<Box<dyn Lookup>> {
        match self.catalog.lookup(ObjectKind::Table, relation) {
            Ok(Some(CatalogObject::Table(_))) => {
                let table = self.tables.get(relation)?;
                let schema = table.schema();
                let keys = key_columns
                    .iter()
                    .map(|c| schema.index_of(c))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Box::new(TableLookup::new(table, keys)?))
            }
            Ok(Some(CatalogObject::Source(def))) => self
                .connectors
                .source(&def.connector)?
                .create_lookup(&def, arrow_schema(&def.columns), key_columns),
            _ => Err(EngineError::Plan(format!(
                "relation \"{relation}\" does not exist"
            ))),
        }
    }
}
