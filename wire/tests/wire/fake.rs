//! A small backend with canned answers, enough to drive every path of the
//! front end: one table (`people`), a statement that waits until it is
//! cancelled, one that panics, one that streams rows on demand, notices,
//! reported settings and transaction blocks with PostgreSQL's rules.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::{ArrayRef, Int32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use eddy_pgtypes::oids;
use eddy_wire::{
    Backend, BackendFactory, DbError, Notice, Outcome, Param, Prepared, ScramVerifier, Startup,
    TransactionState, Value,
};
use futures::StreamExt;
use tokio::sync::mpsc;

/// What the tests configure and observe, shared by every connection.
#[derive(Default)]
pub struct Shared {
    /// Users and their passwords; passwords are required when non-empty.
    pub passwords: Vec<(String, String)>,
    /// Statements abandoned (cancelled, timed out, panicked).
    pub abandoned: AtomicUsize,
    /// Implicit transactions finished.
    pub implicit_finished: AtomicUsize,
    /// Statements executed, by their text.
    pub executed: Mutex<Vec<String>>,
    /// Feeds the rows of `LIVE`: each message is one batch, the channel's
    /// end ends the rows.
    pub live: Mutex<Option<mpsc::UnboundedReceiver<i32>>>,
}

pub struct FakeFactory(pub Arc<Shared>);

#[async_trait]
impl BackendFactory for FakeFactory {
    type Backend = FakeBackend;

    fn password_required(&self) -> bool {
        !self.0.passwords.is_empty()
    }

    async fn scram_verifier(&self, user: &str) -> Result<Option<ScramVerifier>, DbError> {
        Ok(self
            .0
            .passwords
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, password)| ScramVerifier::derive(password, b"a salt of 16 b..", 4096)))
    }

    fn connect(&self, startup: &Startup) -> Result<FakeBackend, DbError> {
        if startup.database() == Some("nowhere") {
            return Err(DbError::fatal(
                "3D000",
                "database \"nowhere\" does not exist",
            ));
        }
        Ok(FakeBackend {
            shared: self.0.clone(),
            user: startup.user().unwrap_or_default().to_owned(),
            tx: TransactionState::Idle,
            notices: Vec::new(),
            changes: Vec::new(),
            timeout: None,
        })
    }
}

pub struct FakeBackend {
    shared: Arc<Shared>,
    user: String,
    tx: TransactionState,
    notices: Vec<Notice>,
    changes: Vec<(String, String)>,
    timeout: Option<Duration>,
}

/// The statements the fake knows, parsed from their text.
#[derive(Clone, Debug)]
pub enum Statement {
    /// `SELECT * FROM people`, optionally `WHERE id = $1`.
    People {
        sql: String,
        by_id: bool,
    },
    /// `ECHO $1`: one row, the parameter as text.
    Echo {
        sql: String,
    },
    /// `INSERT $1`: a command with a parameter and no columns.
    Insert {
        sql: String,
    },
    Begin,
    Commit,
    Rollback,
    /// `NOTICE text`.
    Notice {
        text: String,
    },
    /// `SET name = value`, reported as a ParameterStatus.
    Set {
        name: String,
        value: String,
    },
    /// Runs until cancelled.
    Sleep,
    Panic,
    /// Rows fed by [`Shared::live`].
    Live,
    /// `SELECT * FROM <name>` of an unknown table.
    Missing {
        name: String,
        position: usize,
    },
}

fn people_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int32, false),
        Field::new("name", DataType::Utf8, true),
    ]))
}

fn people(ids: &[i32]) -> RecordBatch {
    let names = ids.iter().map(|id| match id {
        1 => "ada",
        2 => "bob",
        _ => "cy",
    });
    RecordBatch::try_new(
        people_schema(),
        vec![
            Arc::new(Int32Array::from(ids.to_vec())) as ArrayRef,
            Arc::new(StringArray::from_iter_values(names)),
        ],
    )
    .unwrap()
}

fn text_schema(name: &str) -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(name, DataType::Utf8, true)]))
}

fn parse_one(sql: &str) -> Result<Statement, DbError> {
    let upper = sql.to_ascii_uppercase();
    let words: Vec<&str> = sql.split_whitespace().collect();
    Ok(match upper.as_str() {
        "SELECT * FROM PEOPLE" => Statement::People {
            sql: sql.into(),
            by_id: false,
        },
        "SELECT * FROM PEOPLE WHERE ID = $1" => Statement::People {
            sql: sql.into(),
            by_id: true,
        },
        "ECHO $1" => Statement::Echo { sql: sql.into() },
        "INSERT $1" => Statement::Insert { sql: sql.into() },
        "BEGIN" => Statement::Begin,
        "COMMIT" => Statement::Commit,
        "ROLLBACK" => Statement::Rollback,
        "SLEEP" => Statement::Sleep,
        "PANIC" => Statement::Panic,
        "LIVE" => Statement::Live,
        _ if upper.starts_with("NOTICE ") => Statement::Notice {
            text: sql[7..].into(),
        },
        _ if words.len() == 4 && upper.starts_with("SET ") && words[2] == "=" => Statement::Set {
            name: words[1].into(),
            value: words[3].into(),
        },
        _ if words.len() == 4 && upper.starts_with("SELECT * FROM ") => Statement::Missing {
            name: words[3].into(),
            position: sql.find(words[3]).unwrap() + 1,
        },
        _ => {
            return Err(DbError {
                position: Some(1),
                ..DbError::new("42601", format!("syntax error at or near \"{}\"", words[0]))
            });
        }
    })
}

fn sql_of(stmt: &Statement) -> &str {
    match stmt {
        Statement::People { sql, .. } | Statement::Echo { sql } | Statement::Insert { sql } => sql,
        Statement::Begin => "BEGIN",
        Statement::Commit => "COMMIT",
        Statement::Rollback => "ROLLBACK",
        Statement::Notice { text } => text,
        Statement::Set { name, .. } => name,
        Statement::Sleep => "SLEEP",
        Statement::Panic => "PANIC",
        Statement::Live => "LIVE",
        Statement::Missing { name, .. } => name,
    }
}

impl FakeBackend {
    fn run(&mut self, stmt: &Statement, params: &[Param]) -> Result<Outcome, DbError> {
        Ok(match stmt {
            Statement::People { by_id: false, .. } => {
                Outcome::rows(people_schema(), vec![people(&[1, 2]), people(&[3])])
            }
            Statement::People { by_id: true, .. } => {
                let ids: Vec<i32> = match params.first().map(|p| &p.value) {
                    Some(Value::Int4(id)) if (1..=3).contains(id) => vec![*id],
                    Some(Value::Int4(_)) => vec![],
                    other => return Err(DbError::new("08P01", format!("bad id {other:?}"))),
                };
                Outcome::rows(people_schema(), vec![people(&ids)])
            }
            Statement::Echo { .. } => {
                let text = format!("{:?}", params.first().map(|p| (&p.value, p.oid)));
                let column = Arc::new(StringArray::from(vec![text])) as ArrayRef;
                let schema = text_schema("echo");
                Outcome::rows(
                    schema.clone(),
                    vec![RecordBatch::try_new(schema, vec![column]).unwrap()],
                )
            }
            Statement::Insert { .. } => Outcome::Command {
                tag: "INSERT 0".into(),
                rows: Some(1),
            },
            Statement::Begin => {
                self.tx = TransactionState::InBlock;
                Outcome::Begin
            }
            Statement::Commit | Statement::Rollback => {
                let failed = self.tx == TransactionState::Failed;
                self.tx = TransactionState::Idle;
                let committed = matches!(stmt, Statement::Commit) && !failed;
                Outcome::End(if committed { "COMMIT" } else { "ROLLBACK" }.into())
            }
            Statement::Notice { text } => {
                self.notices.push(Notice {
                    severity: "NOTICE",
                    code: "00000",
                    message: text.clone(),
                });
                Outcome::command("DO")
            }
            Statement::Set { name, value } => {
                if name == "statement_timeout" {
                    self.timeout = Some(Duration::from_millis(value.parse().unwrap()));
                } else {
                    self.changes.push((name.clone(), value.clone()));
                }
                Outcome::command("SET")
            }
            Statement::Sleep | Statement::Panic => unreachable!("run by execute"),
            Statement::Live => {
                let Some(rx) = self.shared.live.lock().unwrap().take() else {
                    return Err(DbError::new("55000", "no live rows configured"));
                };
                let rows = tokio_stream(rx).map(|id| Ok(people(&[id])));
                Outcome::live_rows(people_schema(), rows)
            }
            Statement::Missing { name, position } => {
                return Err(DbError {
                    position: Some(*position),
                    hint: Some("The only table is people.".into()),
                    ..DbError::new("42P01", format!("relation \"{name}\" does not exist"))
                });
            }
        })
    }
}

fn tokio_stream<T: Send + 'static>(
    mut rx: mpsc::UnboundedReceiver<T>,
) -> impl futures::Stream<Item = T> + Send {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[async_trait]
impl Backend for FakeBackend {
    type Statement = Statement;

    fn startup_parameters(&self) -> Vec<(String, String)> {
        vec![
            ("server_version".into(), "16.6".into()),
            ("session_authorization".into(), self.user.clone()),
        ]
    }

    fn statement_sql<'a>(&self, statement: &'a Statement) -> &'a str {
        sql_of(statement)
    }

    fn parse_query(&mut self, sql: &str) -> Result<Vec<Statement>, DbError> {
        sql.split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(parse_one)
            .collect()
    }

    async fn prepare(
        &mut self,
        sql: &str,
        declared: &[Option<u32>],
    ) -> Result<Prepared<Self>, DbError> {
        let statement = parse_one(sql.trim())?;
        let given = declared.first().copied().flatten();
        let (param_types, columns) = match &statement {
            Statement::People { by_id, .. } => {
                let params = if *by_id { vec![oids::INT4] } else { vec![] };
                (params, Some(people_schema()))
            }
            Statement::Echo { .. } => {
                (vec![given.unwrap_or(oids::TEXT)], Some(text_schema("echo")))
            }
            Statement::Insert { .. } => (vec![given.unwrap_or(oids::INT8)], None),
            Statement::Panic => panic!("the fake panics while preparing"),
            _ => (vec![], None),
        };
        Ok(Prepared {
            statement: Some(statement),
            param_types,
            columns,
        })
    }

    async fn execute(
        &mut self,
        statement: &Statement,
        params: &[Param],
    ) -> Result<Outcome, DbError> {
        self.shared
            .executed
            .lock()
            .unwrap()
            .push(sql_of(statement).to_owned());
        let ends_block = matches!(statement, Statement::Commit | Statement::Rollback);
        if self.tx == TransactionState::Failed && !ends_block {
            return Err(DbError::new(
                "25P02",
                "current transaction is aborted, commands ignored until end of transaction block",
            ));
        }
        let result = match statement {
            Statement::Sleep => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(Outcome::command("SLEEP"))
            }
            Statement::Panic => panic!("the fake panics"),
            other => self.run(other, params),
        };
        if result.is_err() {
            self.note_error();
        }
        result
    }

    fn note_error(&mut self) {
        if self.tx == TransactionState::InBlock {
            self.tx = TransactionState::Failed;
        }
    }

    fn abandon_statement(&mut self) {
        self.shared.abandoned.fetch_add(1, Ordering::SeqCst);
        self.note_error();
    }

    fn start_implicit_transaction(&mut self) {}

    async fn finish_implicit_transaction(&mut self) -> Result<(), DbError> {
        self.shared.implicit_finished.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn statement_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    fn transaction_state(&self) -> TransactionState {
        self.tx
    }

    fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    fn take_parameter_changes(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.changes)
    }
}
