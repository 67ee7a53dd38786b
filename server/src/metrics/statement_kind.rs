//! The `kind` label of `eddy_statements_total` and
//! `eddy_statement_duration_seconds`: a small fixed set, so that a
//! dashboard can list every series and a new statement never makes a new
//! one.

use datafusion::sql::sqlparser::ast::Statement;
use eddy_sql::EddyStatement;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    /// Queries: `SELECT`, `VALUES`, `WITH … SELECT`.
    Select,
    Insert,
    Update,
    /// `DELETE` and `TRUNCATE`.
    Delete,
    /// `CREATE`, `ALTER`, `DROP` of any object (sources, sinks, streaming
    /// queries, tables, users), `ALTER STREAMING QUERY … PAUSE | RESUME |
    /// SET`, `GRANT`, `REVOKE`, `COMMENT`.
    Ddl,
    /// `SHOW …`, `SHOW CREATE`, `DESCRIBE`, `EXPLAIN`.
    Show,
    /// `SET`, `RESET`, `DISCARD`.
    Set,
    /// `BEGIN`, `COMMIT`, `ROLLBACK`, savepoints.
    Transaction,
    Copy,
    /// Everything else (`DEALLOCATE`, `PREPARE`, `LISTEN`, …).
    Other,
}

impl StatementKind {
    /// Every kind, in the order above.
    pub const ALL: [StatementKind; 10] = [
        StatementKind::Select,
        StatementKind::Insert,
        StatementKind::Update,
        StatementKind::Delete,
        StatementKind::Ddl,
        StatementKind::Show,
        StatementKind::Set,
        StatementKind::Transaction,
        StatementKind::Copy,
        StatementKind::Other,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            StatementKind::Select => "select",
            StatementKind::Insert => "insert",
            StatementKind::Update => "update",
            StatementKind::Delete => "delete",
            StatementKind::Ddl => "ddl",
            StatementKind::Show => "show",
            StatementKind::Set => "set",
            StatementKind::Transaction => "transaction",
            StatementKind::Copy => "copy",
            StatementKind::Other => "other",
        }
    }

    /// The kind of a parsed statement. Eddy's own statements are matched
    /// exhaustively, so that a new one is given its kind where it is added.
    pub fn of(statement: &EddyStatement) -> StatementKind {
        match statement {
            EddyStatement::CreateSource { .. }
            | EddyStatement::CreateSink { .. }
            | EddyStatement::CreateStreamingQuery { .. }
            | EddyStatement::AlterStreamingQuery { .. }
            | EddyStatement::Drop { .. } => StatementKind::Ddl,
            EddyStatement::ShowObjects(_)
            | EddyStatement::ShowStreamingQuery { .. }
            | EddyStatement::ShowCreate { .. }
            | EddyStatement::Describe { .. } => StatementKind::Show,
            EddyStatement::Standard(statement) => StatementKind::of_standard(statement),
        }
    }

    fn of_standard(statement: &Statement) -> StatementKind {
        use Statement as S;
        match statement {
            S::Query(_) => StatementKind::Select,
            S::Insert(_) => StatementKind::Insert,
            S::Update { .. } => StatementKind::Update,
            S::Delete(_) | S::Truncate { .. } => StatementKind::Delete,
            S::CreateTable(_)
            | S::CreateView { .. }
            | S::CreateIndex(_)
            | S::CreateRole { .. }
            | S::CreateUser { .. }
            | S::CreateSchema { .. }
            | S::CreateDatabase { .. }
            | S::CreateFunction { .. }
            | S::CreateSequence { .. }
            | S::CreateType { .. }
            | S::CreateDomain { .. }
            | S::CreateExtension { .. }
            | S::CreateTrigger { .. }
            | S::CreateProcedure { .. }
            | S::AlterTable { .. }
            | S::AlterSchema { .. }
            | S::AlterIndex { .. }
            | S::AlterView { .. }
            | S::AlterRole { .. }
            | S::AlterUser { .. }
            | S::AlterType { .. }
            | S::AlterFunction { .. }
            | S::Drop { .. }
            | S::DropFunction { .. }
            | S::DropDomain { .. }
            | S::DropProcedure { .. }
            | S::DropExtension { .. }
            | S::DropTrigger { .. }
            | S::RenameTable { .. }
            | S::Comment { .. }
            | S::Grant { .. }
            | S::Revoke { .. } => StatementKind::Ddl,
            S::ShowVariable { .. }
            | S::ShowVariables { .. }
            | S::ShowStatus { .. }
            | S::ShowCreate { .. }
            | S::ShowColumns { .. }
            | S::ShowTables { .. }
            | S::ShowViews { .. }
            | S::ShowFunctions { .. }
            | S::ShowDatabases { .. }
            | S::ShowSchemas { .. }
            | S::ShowObjects { .. }
            | S::ShowCollation { .. }
            | S::Explain { .. }
            | S::ExplainTable { .. } => StatementKind::Show,
            S::Set(_) | S::Reset(_) | S::Discard { .. } => StatementKind::Set,
            S::StartTransaction { .. }
            | S::Commit { .. }
            | S::Rollback { .. }
            | S::Savepoint { .. }
            | S::ReleaseSavepoint { .. } => StatementKind::Transaction,
            S::Copy { .. } => StatementKind::Copy,
            _ => StatementKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<&'static str> {
        eddy_sql::parse_statements(sql)
            .expect("parses")
            .iter()
            .map(|s| StatementKind::of(&s.stmt).as_str())
            .collect()
    }

    #[test]
    fn statements_get_their_kind() {
        assert_eq!(
            kinds(
                "SELECT 1; VALUES (1); WITH a AS (SELECT 1) SELECT * FROM a;
                 INSERT INTO t VALUES (1); UPDATE t SET a = 1; DELETE FROM t; TRUNCATE t"
            ),
            [
                "select", "select", "select", "insert", "update", "delete", "delete"
            ]
        );
        assert_eq!(
            kinds(
                "CREATE TABLE t (a INT); ALTER TABLE t ADD COLUMN b INT; DROP TABLE t;
                 CREATE SOURCE s (a INT) WITH (connector = 'datagen');
                 CREATE SINK k WITH (connector = 'blackhole');
                 CREATE STREAMING QUERY q AS INSERT INTO k SELECT a FROM s;
                 ALTER STREAMING QUERY q PAUSE; DROP STREAMING QUERY q"
            ),
            ["ddl"; 8]
        );
        assert_eq!(
            kinds(
                "SHOW STREAMING QUERIES; SHOW STREAMING QUERY q; SHOW CREATE TABLE t;
                 DESCRIBE t; SHOW timezone; EXPLAIN SELECT 1"
            ),
            ["show"; 6]
        );
        assert_eq!(
            kinds("SET timezone = 'UTC'; RESET timezone; DISCARD ALL"),
            ["set"; 3]
        );
        assert_eq!(
            kinds("BEGIN; SAVEPOINT a; RELEASE SAVEPOINT a; ROLLBACK; COMMIT"),
            ["transaction"; 5]
        );
        // COPY … FROM STDIN takes the rest of the string as its data.
        assert_eq!(kinds("COPY t TO STDOUT"), ["copy"]);
        assert_eq!(kinds("DEALLOCATE ALL; LISTEN c"), ["other"; 2]);
    }

    #[test]
    fn label_values_are_distinct_snake_case() {
        let mut names: Vec<&str> = StatementKind::ALL.iter().map(|k| k.as_str()).collect();
        assert!(
            names
                .iter()
                .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        );
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), StatementKind::ALL.len());
    }
}
