//! # eddy-pgcompat
//!
//! PostgreSQL emulation above the wire: what makes Eddy answer the
//! statements clients send while introspecting or migrating the way
//! PostgreSQL 16 would. It owns the system catalogs (`pg_catalog`,
//! `information_schema`) and the functions clients call (`format_type`,
//! `pg_get_indexdef`, `::regclass`, `set_config`, …), the rewrites of
//! PostgreSQL-only syntax DataFusion does not plan, advisory locks, and the
//! session settings behind SET/SHOW/RESET and ParameterStatus.
//!
//! It knows nothing of sessions, transactions or the engine: the server
//! hands each session a [`pg_catalog::CatalogSource`] (its view of the
//! catalog, uncommitted objects included), and everything here is built
//! from that, once per statement. Errors are [`PgError`]s carrying a
//! SQLSTATE, which the server turns into its own.
//!
//! ```text
//!  eddy-server, one session                  eddy-pgcompat
//!  SET / SHOW / RESET, startup parameters ──▶ settings
//!  each statement, before planning ─────────▶ dialect::rewrite
//!  its DataFusion context registers
//!    PgCatalogSchema, InformationSchema,
//!    pg_catalog::functions ─────────────────▶ pg_catalog ──▶ settings, udf, dialect
//!    advisory::register_functions ──────────▶ advisory ────▶ udf
//!  SessionCatalog (impl CatalogSource) ◀──── pg_catalog reads it once per
//!                                            statement (StatementSnapshot)
//!  UserError ◀── From<PgError> ◀──────────── PgError, also out of DataFusion
//!
//!  below it all: eddy_catalog (definitions), eddy_sql (types,
//!  identifiers), eddy_pgtypes (OIDs, the Arrow mapping), DataFusion
//! ```
//!
//! ## Layout
//!
//! - [`error`]: [`PgError`], a SQLSTATE and a message; it travels through
//!   DataFusion as an external error.
//! - [`settings`]: the parameters clients SET and SHOW, their defaults,
//!   which are read-only, which are reported with ParameterStatus, and
//!   the server version Eddy reports.
//! - [`udf`]: scalar functions evaluated row by row, and `block_on` for
//!   a function body that must wait.
//! - [`dialect`]: AST rewrites of PostgreSQL-only syntax (`::regclass`,
//!   `OPERATOR(pg_catalog.~)`, `ARRAY(SELECT …)`, …) into calls of the
//!   functions `pg_catalog` registers; purely syntactic.
//! - [`advisory`]: `pg_advisory_lock` and friends, one lock table per
//!   process.
//! - [`pg_catalog`]: the system catalogs and the introspection functions,
//!   from one catalog snapshot per statement.
//!
//! Modules import downwards only: `error`, `udf` and `dialect` import
//! nothing of the crate; `settings` uses `error`; `advisory` uses `udf`;
//! `pg_catalog` uses all but `advisory`.

pub mod advisory;
pub mod dialect;
pub mod error;
pub mod pg_catalog;
pub mod settings;
pub mod udf;

pub use error::{PgError, PgResult};
pub use settings::{PG_SERVER_VERSION, PG_SERVER_VERSION_NUM};
