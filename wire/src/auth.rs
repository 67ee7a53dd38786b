//! Who may connect: SCRAM-SHA-256 against the verifiers the backend keeps
//! (see [`BackendFactory::scram_verifier`]), and the connection limit.
//!
//! A failed login — wrong password or unknown user alike, so that the
//! answer does not tell which users exist — ends the connection with FATAL
//! 28P01. A connection beyond `max_connections` gets FATAL 53300 before
//! authentication.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use pgwire::api::auth::sasl::scram::{ScramAuth, ScramSecret};
use pgwire::api::auth::{AuthSource, LoginInfo, Password};
use pgwire::error::{PgWireError, PgWireResult};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::backend::BackendFactory;
use crate::error::DbError;
use crate::scram::ScramVerifier;

/// pgwire's SCRAM mechanism over the factory's verifiers.
pub(crate) fn scram<F: BackendFactory>(factory: Arc<F>) -> ScramAuth {
    ScramAuth::new(Arc::new(VerifierSource { factory }))
}

struct VerifierSource<F> {
    factory: Arc<F>,
}

impl<F> Debug for VerifierSource<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerifierSource")
    }
}

#[async_trait]
impl<F: BackendFactory> AuthSource for VerifierSource<F> {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        Err(PgWireError::InvalidPassword(
            login.user().unwrap_or_default().to_owned(),
        ))
    }

    async fn get_scram_secret(&self, login: &LoginInfo) -> PgWireResult<(ScramSecret, Option<()>)> {
        let user = login.user().unwrap_or_default();
        let verifier = self.factory.scram_verifier(user).await.map_err(|e| {
            tracing::error!(error = %e, "cannot look up the user's verifier");
            PgWireError::InvalidPassword(user.to_owned())
        })?;
        let verifier = verifier.unwrap_or_else(ScramVerifier::random);
        Ok((verifier.into_secret(), None))
    }
}

/// Any failure of the password exchange, as PostgreSQL reports it.
pub(crate) fn login_failed(user: &str, error: PgWireError) -> PgWireError {
    match error {
        PgWireError::IoError(e) => PgWireError::IoError(e),
        other => {
            tracing::info!(%user, reason = %other, "password authentication failed");
            DbError::fatal(
                "28P01",
                format!("password authentication failed for user \"{user}\""),
            )
            .into_pgwire()
        }
    }
}

/// One permit per open session (`max_connections`).
pub(crate) struct ConnectionLimit(Arc<Semaphore>);

impl ConnectionLimit {
    pub(crate) fn new(max_connections: usize) -> ConnectionLimit {
        ConnectionLimit(Arc::new(Semaphore::new(max_connections)))
    }

    /// A slot for one more session, or FATAL 53300.
    pub(crate) fn admit(&self) -> PgWireResult<ConnectionSlot> {
        self.0
            .clone()
            .try_acquire_owned()
            .map(ConnectionSlot)
            .map_err(|_| DbError::fatal("53300", "sorry, too many clients already").into_pgwire())
    }
}

/// Held in the connection's session extensions: the slot frees itself
/// when the connection ends.
pub(crate) struct ConnectionSlot(#[allow(dead_code)] OwnedSemaphorePermit);
