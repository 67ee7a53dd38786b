//! The server's shared state: the catalog, the tables' data, the connector
//! registry and the running streaming queries. Sessions call into it; it
//! owns the jobs, so dropping a query or shutting down stops them here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::sql::sqlparser::ast::{Query, Statement};
use eddy_catalog::{Catalog, CatalogObject, ObjectKind, Objects, SourceDef, StreamingQueryDef};
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
    pub catalog: Arc<Catalog>,
    pub tables: Arc<TableStore>,
    pub connectors: ConnectorRegistry,
    pub data_dir: PathBuf,
    queries: Mutex<HashMap<String, QueryRuntime>>,
}

impl Database {
    /// Opens the data directory: the catalog and every table's data.
    pub fn open(data_dir: &Path, connectors: ConnectorRegistry) -> anyhow::Result<Arc<Database>> {
        std::fs::create_dir_all(data_dir)?;
        let catalog = Arc::new(Catalog::open(&data_dir.join("catalog"))?);
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
                let prepared = async {
                    // A catalog written before late-row tables were created
                    // with their query lacks them.
                    if let Some((name, schema)) = self.late_rows_table(&def, &*self.catalog)? {
                        crate::side_tables::create_missing(
                            &self.catalog,
                            &self.tables,
                            &name,
                            &schema,
                        )?;
                    }
                    let mut job = self
                        .prepare_job(&def, &*self.catalog, Purpose::Start)
                        .await?;
                    match job.open_sink().await {
                        Err(e) if !e.is_retryable() => Err(UserError::from(e)),
                        _ => Ok(job),
                    }
                };
                match prepared.await {
                    Ok(job) => self.run_job(job),
                    Err(e) => self.mark_failed(&def.name, &e),
                }
            }
        }
    }

    /// Records that a query could not start, with the reason (shown by
    /// SHOW STREAMING QUERIES).
    pub fn mark_failed(&self, name: &str, e: &UserError) {
        tracing::error!(query = %name, error = %e, "cannot start streaming query");
        let progress = QueryProgress {
            status: QueryStatus::Failed,
            error: Some(e.message.clone()),
            ..QueryProgress::default()
        };
        self.queries().insert(
            name.to_string(),
            QueryRuntime {
                progress: Arc::new(Mutex::new(progress)),
                job: None,
            },
        );
    }

    /// The schema of a relation as the planner sees it.
    pub fn relation_schema(&self, name: &str) -> Option<SchemaRef> {
        relation_schema(&*self.catalog, name)
    }

    /// The table a query with `late_rows = 'table'` keeps its late rows in,
    /// with that table's schema; `None` for other queries.
    pub fn late_rows_table(
        &self,
        def: &StreamingQueryDef,
        objects: &dyn Objects,
    ) -> UserResult<Option<(String, SchemaRef)>> {
        let options = QueryOptions::from_map(&def.options)?;
        let Some(name) = options.late_rows_table(&def.name) else {
            return Ok(None);
        };
        let sources: Vec<SourceDef> = def
            .inputs
            .iter()
            .filter_map(|input| match objects.lookup(ObjectKind::Source, input) {
                Ok(Some(CatalogObject::Source(s))) => Some(s),
                _ => None,
            })
            .collect();
        let [source_def] = sources.as_slice() else {
            return Err(UserError::unsupported(
                "late_rows = 'table' keeps the late rows of one source; this query reads several",
            ));
        };
        let schema = eddy_engine::late::late_rows_schema(&arrow_schema(&source_def.columns));
        Ok(Some((name, schema)))
    }

    /// Plans a streaming query and builds its sources and sink, reading
    /// definitions from `objects` (the committed catalog, or a
    /// transaction's view of it): everything that can be wrong with a
    /// definition is reported here. Nothing outside Eddy changes: the sink
    /// is not opened and, for [`Purpose::Check`], its target only checked
    /// ([`StreamingJob::check_sink`]). The checkpoint is attached when the
    /// job is run ([`run_job`](Self::run_job)).
    pub async fn prepare_job(
        &self,
        def: &StreamingQueryDef,
        objects: &dyn Objects,
        purpose: Purpose,
    ) -> UserResult<StreamingJob> {
        let query = parse_query(&def.query)?;
        let options = QueryOptions::from_map(&def.options)?;
        let planned = plan_streaming_query(&query, &|name| relation_schema(objects, name)).await?;
        let cx = Planning { db: self, objects };
        let plan = build_streaming_plan(&planned, options.output_mode, &cx)?;
        let bad_records = Arc::new(AtomicU64::new(0));
        let mut sources = Vec::with_capacity(plan.inputs.len());
        let mut watermarks = Vec::with_capacity(plan.inputs.len());
        for input in &plan.inputs {
            let source_def = match objects.lookup(ObjectKind::Source, &input.relation)? {
                Some(CatalogObject::Source(s)) => s,
                _ => {
                    return Err(UserError::unsupported(
                        "a streaming query must read from a source",
                    ));
                }
            };
            let schema = arrow_schema(&source_def.columns);
            watermarks.push(WatermarkSpec::of_source(&source_def, &schema)?);
            let source_ctx = SourceContext {
                query: def.name.clone(),
                tables: self.tables.clone(),
                bad_records: bad_records.clone(),
                sample: false,
            };
            let source = self.connectors.source(&source_def.connector)?.create(
                &source_def,
                schema,
                source_ctx,
            )?;
            sources.push((input.relation.clone(), source));
        }
        let sink_def = match objects.get(ObjectKind::Sink, &def.sink)? {
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
        let late_rows_table = self.late_rows_table(def, objects)?;
        let mut job = StreamingJob::new(def.name.clone(), sources, sink, plan, options, watermarks);
        if let (Some((name, _)), Purpose::Start) = (late_rows_table, purpose) {
            let table = self.tables.get(&name)?;
            let writer = format!("{}#{}:late_rows", def.name, def.incarnation);
            job = job.with_late_rows_table(table, writer);
        }
        Ok(job
            .with_bad_record_counter(bad_records)
            .with_paused(def.paused))
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

    /// Runs a prepared job, resuming from its checkpoint. A checkpoint
    /// that cannot be opened fails the query (shown by SHOW STREAMING
    /// QUERIES).
    pub fn run_job(&self, job: StreamingJob) {
        let name = job.name().to_string();
        let job = match CheckpointDir::open(&self.checkpoint_dir(&name)) {
            Ok(checkpoint) => job.with_checkpoint(checkpoint),
            Err(e) => return self.mark_failed(&name, &UserError::from(e)),
        };
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

/// What a job is prepared for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// To report at CREATE what is wrong with a definition; the job is
    /// dropped. Objects of the creating transaction may have no storage.
    Check,
    /// To run it: every object it reads or writes exists.
    Start,
}

/// The schema of a relation as the planner sees it.
fn relation_schema(objects: &dyn Objects, name: &str) -> Option<SchemaRef> {
    match objects.lookup(ObjectKind::Table, name).ok()?? {
        CatalogObject::Source(s) => Some(arrow_schema(&s.columns)),
        CatalogObject::Table(t) => Some(arrow_schema(&t.columns)),
        _ => None,
    }
}

/// What the streaming planner asks of the catalog, relations and lookups,
/// answered from one view of it.
struct Planning<'a> {
    db: &'a Database,
    objects: &'a dyn Objects,
}

impl PlanContext for Planning<'_> {
    fn relation(&self, name: &str) -> Option<InputInfo> {
        match self.objects.lookup(ObjectKind::Table, name).ok()?? {
            CatalogObject::Source(s) => Some(InputInfo {
                schema: arrow_schema(&s.columns),
                watermark_column: s.watermark.as_ref().map(|w| w.column.clone()),
                lookup_only: self
                    .db
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
        match self.objects.lookup(ObjectKind::Table, relation) {
            Ok(Some(CatalogObject::Table(_))) => {
                let table = self.db.tables.get(relation)?;
                let schema = table.schema();
                let keys = key_columns
                    .iter()
                    .map(|c| schema.index_of(c))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Box::new(TableLookup::new(table, keys)?))
            }
            Ok(Some(CatalogObject::Source(def))) => self
                .db
                .connectors
                .source(&def.connector)?
                .create_lookup(&def, arrow_schema(&def.columns), key_columns),
            _ => Err(EngineError::Plan(format!(
                "relation \"{relation}\" does not exist"
            ))),
        }
    }
}
