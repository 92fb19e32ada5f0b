//! Events out: the platform's webhook endpoints get the outgoing events the actors write with
//! their change sets (see `actor::announce`), signed ([`signature`]), retried on a schedule
//! ([`retry`]), in order per object, and only to destinations the [`destination`] policy
//! allows. [`dispatcher`] does the work; [`Outbox`] is how the rest of the engine reaches it.

pub mod destination;
pub mod dispatcher;
mod held_bodies;
pub mod retry;
pub mod sender;
pub mod signature;

use std::sync::Arc;

use tokio::sync::{Notify, mpsc, oneshot};

use crate::cluster::Claims;
use crate::config::WebhooksConfig;
use crate::domain::{AccountId, Delivery, EventId, WebhookEndpointId};
use crate::store::{OutboxStore, StoreError};
use destination::DestinationPolicy;
use dispatcher::{Dispatcher, Settings};

/// Commands waiting for the dispatcher at most: the API's few endpoint changes and redeliveries.
const COMMANDS_QUEUED_MAX: usize = 1_024;

/// Wakes the dispatcher: a commit queued events.
#[derive(Default)]
pub struct OutboxSignal(Notify);

impl OutboxSignal {
    pub fn wake(&self) {
        self.0.notify_one();
    }

    pub async fn woken(&self) {
        self.0.notified().await;
    }
}

/// What the API asks of the dispatcher.
pub enum Command {
    /// An endpoint was made, changed or removed.
    EndpointChanged { account: AccountId, id: WebhookEndpointId },
    /// `POST /v1/events/{id}/redeliver`; answers `None` when the event or endpoint is not the
    /// account's.
    Redeliver {
        account: AccountId,
        event: EventId,
        endpoint: WebhookEndpointId,
        reply: oneshot::Sender<Result<Option<Delivery>, StoreError>>,
    },
}

/// The running dispatcher, as the API reaches it.
#[derive(Clone)]
pub struct Outbox {
    pub policy: DestinationPolicy,
    commands: mpsc::Sender<Command>,
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("the outgoing webhook client cannot be built: {0}")]
    Client(#[from] rustls::Error),
}

impl Outbox {
    /// Starts the dispatcher on the runtime this is called in.
    pub fn start(
        store: Arc<dyn OutboxStore>,
        signal: Arc<OutboxSignal>,
        config: &WebhooksConfig,
        claims: Arc<Claims>,
    ) -> Result<Outbox, OutboxError> {
        let policy = DestinationPolicy {
            allow_http: config.allow_http,
            allow_private_networks: config.allow_private_networks,
        };
        let client = sender::client(policy)?;
        let settings = Settings {
            policy,
            retry: config.retry.clone(),
            delivery_concurrency: config.delivery_concurrency,
            endpoint_concurrency: config.endpoint_concurrency,
        };
        let (commands, received) = mpsc::channel(COMMANDS_QUEUED_MAX);
        tokio::spawn(Dispatcher::new(store, client, settings, claims).run(signal, received));
        Ok(Outbox { policy, commands })
    }

    pub async fn endpoint_changed(&self, account: &AccountId, id: &WebhookEndpointId) {
        let command = Command::EndpointChanged { account: account.clone(), id: id.clone() };
        // Only fails once the dispatcher has stopped, with the engine.
        let _ = self.commands.send(command).await;
    }

    pub async fn redeliver(
        &self,
        account: &AccountId,
        event: &EventId,
        endpoint: &WebhookEndpointId,
    ) -> Result<Option<Delivery>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let command = Command::Redeliver {
            account: account.clone(),
            event: event.clone(),
            endpoint: endpoint.clone(),
            reply,
        };
        let stopped = || StoreError::Storage("the outgoing webhook dispatcher has stopped".into());
        self.commands.send(command).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}
