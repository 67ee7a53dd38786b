//! # eddy-wire
//!
//! The PostgreSQL wire front end: startup, authentication, TLS, the simple
//! and extended query protocols, row encoding, parameter decoding, cancel.
//! It knows nothing of Eddy's catalog or SQL: whatever answers the
//! statements implements [`BackendFactory`] (once per server) and
//! [`Backend`] (once per connection), and [`serve`] does the rest. The
//! protocol itself is the `pgwire` crate's; this one sets its handlers up
//! and fixes what PostgreSQL clients need and pgwire does not do (rows
//! flushed as they come, cancel that reaches the statement, NoData for a
//! statement without columns, the transaction status of the backend).
//!
//! ```text
//!  client ──TCP/TLS──▶ serve ──▶ pgwire ──▶ Connection handlers
//!                                             │ startup: limit, SCRAM ──▶ BackendFactory
//!                                             │   (password_required, scram_verifier, connect)
//!                                             │ Query / Parse·Bind·Execute
//!                                             ▼
//!                       guard (cancel, statement_timeout, panics)
//!                                             │
//!                                             ▼
//!                          Backend (one per connection, locked per message)
//!                            parse_query · prepare · execute · transaction_state
//!                                             │ Outcome: rows as Arrow batches, a tag
//!                                             ▼
//!                       encode (Arrow → DataRow, text or binary) ──▶ client
//! ```
//!
//! ## Layout
//!
//! - [`backend`]: the two traits and what crosses them ([`Outcome`],
//!   [`Prepared`], [`Param`], [`TransactionState`], [`Notice`],
//!   [`Startup`]); [`error`]: [`DbError`], what a client is answered.
//! - [`server`]: the listener loop, the connection limit, shutdown;
//!   [`tls`]: the certificate and key.
//! - `handlers`: what every protocol handler of a connection shares (the
//!   factory, cancel keys, the limit), notices, the status byte.
//! - `startup`: negotiation, authentication, ParameterStatus,
//!   BackendKeyData; `auth`: pgwire's SCRAM over the factory's
//!   verifiers, login failures (28P01), connection slots (53300);
//!   [`scram`]: deriving a verifier from a password.
//! - `simple`: the simple protocol with live rows; `extended`: Parse,
//!   Bind, Describe, Execute, Sync; `copy`: COPY TO's rows, COPY FROM's
//!   data passed to the backend.
//! - `guard`: cancel (57014), `statement_timeout`, panics (XX000).
//! - `encode`: Arrow batches → DataRows; `params`: Bind values →
//!   [`Param`]s, both through `eddy_pgtypes`.
//!
//! Modules import downwards only: `backend`, `error` and `scram` below
//! everything; `guard`, `encode`, `params` and `auth` above them; the
//! protocol handlers (`startup`, `simple`, `extended`) above those;
//! `server` on top.
//!
//! ## Why parameters are not DataFusion scalars
//!
//! Bound parameters reach the backend as [`eddy_pgtypes::decode::Value`]s
//! tagged with their type OID, not as DataFusion `ScalarValue`s: the front
//! end then links Arrow and `eddy_pgtypes` only, and what is the SQL
//! layer's — the canonical form of uuid and JSON text, the grammar of an
//! interval written as text, the Arrow type a parameter is bound as —
//! stays with the backend.

pub mod backend;
pub mod error;
pub mod scram;
pub mod server;
pub mod tls;

mod auth;
mod copy;
mod encode;
mod extended;
mod guard;
mod handlers;
mod params;
mod simple;
mod startup;

pub use backend::{
    Backend, BackendFactory, BatchStream, Notice, Outcome, Param, Prepared, Startup,
    TransactionState,
};
pub use eddy_pgtypes::decode::Value;
pub use error::DbError;
pub use guard::panic_message;
pub use scram::ScramVerifier;
pub use server::{ServerConfig, serve};
pub use tls::{TlsConfig, TlsError};
