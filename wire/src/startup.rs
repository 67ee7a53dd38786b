//! Startup: protocol negotiation, the connection limit, authentication
//! (trust, or SCRAM-SHA-256 when the factory requires passwords), then the
//! session: the factory connects a backend, and the client gets
//! AuthenticationOk, the backend's ParameterStatus set, BackendKeyData (the
//! cancel key) and ReadyForQuery.

use std::fmt::Debug;

use async_trait::async_trait;
use futures::sink::{Sink, SinkExt};
use pgwire::api::auth::mechanism::AuthMechanismFactory;
use pgwire::api::auth::{
    AuthDriver, AuthOutcome, DefaultServerParameterProvider, StartupHandler, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::{ClientInfo, PgWireConnectionState, PidSecretKeyGenerator};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::response::{ReadyForQuery, TransactionStatus};
use pgwire::messages::startup::{Authentication, BackendKeyData, ParameterStatus};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::sync::Mutex;

use crate::auth::login_failed;
use crate::backend::{Backend, BackendFactory, Startup};
use crate::guard::CancelKey;
use crate::handlers::Connection;

#[async_trait]
impl<F: BackendFactory> StartupHandler for Connection<F> {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let driver = AuthDriver::<_, ()>::new(DefaultServerParameterProvider::default());
        let user = client.metadata().get("user").cloned().unwrap_or_default();
        let outcome = match message {
            PgWireFrontendMessage::Startup(startup) => {
                protocol_negotiation(client, &startup).await?;
                save_startup_parameters_to_metadata(client, &startup);
                let slot = self.limit.admit()?;
                client.session_extensions().insert(slot);
                if !self.factory.password_required() {
                    return self.finish_startup(client, None).await;
                }
                let user = client.metadata().get("user").cloned().unwrap_or_default();
                driver
                    .begin_authentication(client, self.scram.create())
                    .await
                    .map_err(|e| login_failed(&user, e))?
            }
            PgWireFrontendMessage::PasswordMessageFamily(password) => driver
                .advance_authentication(client, password)
                .await
                .map_err(|e| login_failed(&user, e))?,
            _ => return Ok(()),
        };
        match outcome {
            AuthOutcome::InProgress => Ok(()),
            AuthOutcome::Authenticated { final_message, .. } => {
                self.finish_startup(client, final_message).await
            }
        }
    }
}

impl<F: BackendFactory> Connection<F> {
    /// Connects the backend, then AuthenticationOk, the ParameterStatus
    /// set, BackendKeyData and ReadyForQuery; registers the cancel key.
    async fn finish_startup<C>(
        &self,
        client: &mut C,
        final_message: Option<Authentication>,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Some(message) = final_message {
            client
                .feed(PgWireBackendMessage::Authentication(message))
                .await?;
        }
        // After authentication, as PostgreSQL checks the database.
        let startup = Startup {
            parameters: client.metadata().clone(),
        };
        let backend = self
            .factory
            .connect(&startup)
            .map_err(|e| e.into_pgwire())?;
        let parameters = backend.startup_parameters();
        client.session_extensions().insert(Mutex::new(backend));
        let (pid, secret) = self.keys.generate(client);
        client.set_pid_and_secret_key(pid, secret.clone());
        let (handle, guard) = self.cancels.register(pid, secret.clone());
        client
            .session_extensions()
            .insert(CancelKey::new(handle, guard));
        client
            .feed(PgWireBackendMessage::Authentication(Authentication::Ok))
            .await?;
        for (name, value) in parameters {
            client
                .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                    name, value,
                )))
                .await?;
        }
        client
            .feed(PgWireBackendMessage::BackendKeyData(BackendKeyData::new(
                pid, secret,
            )))
            .await?;
        client
            .send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
                TransactionStatus::Idle,
            )))
            .await?;
        client.set_state(PgWireConnectionState::ReadyForQuery);
        Ok(())
    }
}
