//! The demo pipeline of `eddy serve --demo`: a generated click stream,
//! counted per page in 10-second windows into an Eddy table that any
//! PostgreSQL client can read.

use crate::database::Database;
use crate::session::Session;
use crate::settings::Settings;

pub const DEMO_SQL: &str = "
CREATE TABLE IF NOT EXISTS demo_clicks_per_page (
    window_start TIMESTAMP, window_end TIMESTAMP, page VARCHAR,
    clicks BIGINT, users BIGINT, max_amount DOUBLE PRECISION
);
CREATE SOURCE IF NOT EXISTS demo_clicks (
    user_id BIGINT, page VARCHAR, amount DOUBLE, ts TIMESTAMP,
    WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH (
    connector = 'datagen', 'rows.per.second' = '200', seed = '7',
    'fields.user_id.min' = '1', 'fields.user_id.max' = '50',
    'fields.page.length' = '1',
    'fields.amount.min' = '0', 'fields.amount.max' = '100',
    'fields.ts.kind' = 'event_time', 'fields.ts.max_out_of_order' = '1 second'
);
CREATE SINK IF NOT EXISTS demo_table WITH (connector = 'table', table = 'demo_clicks_per_page');
CREATE STREAMING QUERY IF NOT EXISTS demo_clicks_per_page_query
WITH (trigger = '1 second', output_mode = 'append') AS
INSERT INTO demo_table
SELECT window_start, window_end, page, count(*) AS clicks,
       count(DISTINCT user_id) AS users, max(amount) AS max_amount
FROM TUMBLE(demo_clicks, ts, INTERVAL '10' SECOND)
GROUP BY window_start, window_end, page;
";

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
