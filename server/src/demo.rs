//! The demo pipeline of `eddy serve --demo`: `examples/clicks_per_page.sql`
//! — a generated click stream, counted per page in 10-second windows into
//! the Eddy table `clicks_per_page` that any PostgreSQL client can read.

use eddy_pgcompat::settings::Settings;

use crate::database::Database;
use crate::session::Session;

/// The demo's SQL: the example script, so the two cannot drift apart.
pub const DEMO_SQL: &str = include_str!("../../examples/clicks_per_page.sql");

/// The table the demo writes, for the hint printed at start.
pub const DEMO_TABLE: &str = "clicks_per_page";

/// Creates the demo objects that do not exist yet.
pub async fn install(db: &std::sync::Arc<Database>) -> anyhow::Result<()> {
    let mut session = Session::new(db.clone(), Settings::default(), "eddy");
    for stmt in eddy_sql::parse_statements(DEMO_SQL)? {
        session
            .run(&stmt, &[])
            .await
            .map_err(|e| anyhow::anyhow!("demo statement failed: {e}: {}", stmt.text))?;
    }
    Ok(())
}
