//! Who may connect: password authentication (SCRAM-SHA-256 against the
//! verifiers of [`crate::users`]), the connection limit, and cancel keys.
//!
//! Passwords are required when the server is told so (`--auth password`),
//! or, by default (`--auth auto`), as soon as a user has a password or the
//! server listens on an address other than loopback. Otherwise connections
//! are trusted, as a local development server's should be. A failed login
//! — wrong password or unknown user alike, so that the answer does not tell
//! which users exist — ends the connection with FATAL 28P01.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use pgwire::api::auth::sasl::scram::{ScramAuth, ScramSecret};
use pgwire::api::auth::{AuthSource, LoginInfo, Password};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::database::Database;
use crate::users::UserStore;

/// `--auth`: when clients must give a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Passwords when a user has one or when listening beyond loopback.
    Auto,
    /// Always passwords (SCRAM-SHA-256).
    Password,
    /// Never: every connection is accepted under the name it gives.
    Trust,
}

/// The server's connection policy, shared by every connection.
pub struct Security {
    pub auth: AuthMode,
    /// Whether the listener accepts connections from other machines.
    pub beyond_loopback: bool,
    /// One permit per open session (`--max-connections`).
    pub connections: Arc<Semaphore>,
    scram: ScramAuth,
}

impl Security {
    pub fn new(
        db: Arc<Database>,
        auth: AuthMode,
        beyond_loopback: bool,
        max_connections: usize,
    ) -> Security {
        Security {
            auth,
            beyond_loopback,
            connections: Arc::new(Semaphore::new(max_connections)),
            scram: ScramAuth::new(Arc::new(VerifierSource { db })),
        }
    }

    /// Whether a new connection must authenticate with a password.
    pub fn password_required(&self, db: &Database) -> bool {
        match self.auth {
            AuthMode::Trust => false,
            AuthMode::Password => true,
            AuthMode::Auto => {
                // An unreadable users file must not open the door.
                self.beyond_loopback || UserStore::at(&db.data_dir).has_passwords().unwrap_or(true)
            }
        }
    }

    pub fn scram(&self) -> &ScramAuth {
        &self.scram
    }

    /// A slot for one more session, or FATAL 53300.
    pub fn admit(&self) -> PgWireResult<ConnectionSlot> {
        self.connections
            .clone()
            .try_acquire_owned()
            .map(ConnectionSlot)
            .map_err(|_| fatal("53300", "sorry, too many clients already".into()))
    }
}

/// Held in the connection's session extensions: the slot frees itself
/// when the connection ends.
pub struct ConnectionSlot(#[allow(dead_code)] OwnedSemaphorePermit);

/// The SCRAM secrets of [`UserStore`]. An unknown user gets a made-up
/// verifier, so that the exchange runs to its end and fails like a wrong
/// password does.
struct VerifierSource {
    db: Arc<Database>,
}

impl Debug for VerifierSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerifierSource")
    }
}

#[async_trait]
impl AuthSource for VerifierSource {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        Err(PgWireError::InvalidPassword(
            login.user().unwrap_or_default().to_owned(),
        ))
    }

    async fn get_scram_secret(&self, login: &LoginInfo) -> PgWireResult<(ScramSecret, Option<()>)> {
        let user = login.user().unwrap_or_default();
        let secret = UserStore::at(&self.db.data_dir)
            .scram_secret(user)
            .map_err(|e| {
                tracing::error!(error = %e, "cannot read the users file");
                PgWireError::InvalidPassword(user.to_owned())
            })?;
        Ok((secret.unwrap_or_else(mock_secret), None))
    }
}

fn mock_secret() -> ScramSecret {
    ScramSecret::Verifier {
        salt: rand::random::<[u8; 16]>().to_vec(),
        iterations: 4096,
        stored_key: rand::random::<[u8; 32]>().to_vec(),
        server_key: rand::random::<[u8; 32]>().to_vec(),
    }
}

/// Any failure of the password exchange, as PostgreSQL reports it.
pub fn login_failed(user: &str, error: PgWireError) -> PgWireError {
    match error {
        PgWireError::IoError(e) => PgWireError::IoError(e),
        other => {
            tracing::info!(%user, reason = %other, "password authentication failed");
            fatal(
                "28P01",
                format!("password authentication failed for user \"{user}\""),
            )
        }
    }
}

pub fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".into(),
        code.into(),
        message,
    )))
}
