//! The inbox: a gateway's event is persisted (deduplicated by the gateway's event id) and made
//! durable before it is acknowledged; it is applied after, off the request. Applying it and
//! recording its outcome are separate writes, which is safe because every effect is idempotent
//! (see [`super::apply`]): a crash between persist and apply, or between apply and the outcome,
//! leaves the event without an outcome, and the next start applies it — once more at most,
//! changing nothing more. Where nodes share the store, a start leaves what is unapplied to the
//! node holding the inbox's claim, which takes up what stayed unapplied past every node's time
//! to apply it ([`Inbox::take_left`]): a node that stopped left it.

use std::collections::HashSet;
use std::sync::Mutex;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};

use kassa_gateways::webhooks::{IncomingEvent, UnreadableEvent, WebhookSource};

use super::apply::{Applier, NotApplied};
use crate::domain::time::now_unix_secs;
use crate::domain::{AccountId, Applied, EventId, GatewayEvent, NewGatewayEvent};
use crate::store::{InboxStore, InsertedEvent, StoreError};

/// How long an event whose apply failed on Kassa's side (storage, an actor) waits to be tried
/// again.
const APPLY_RETRY_AFTER: Duration = Duration::from_secs(5);
/// How soon an event about something not there yet is tried again.
const APPLY_NOT_YET_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Events acknowledged and waiting to be applied, at most (~2 KB each).
const APPLY_QUEUE_LEN_MAX: usize = 10_000;

/// Events another node left taken up at a time.
const LEFT_TAKEN_MAX: usize = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{0}")]
    Unreadable(#[from] UnreadableEvent),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
}

/// What became of a delivery; either way it is durable when this is answered.
#[derive(Debug)]
pub enum Ingested {
    Stored(GatewayEvent),
    /// An event with the same gateway id was stored before: nothing was written.
    Duplicate(GatewayEvent),
}

pub struct InboxSettings {
    pub apply_concurrency: usize,
    pub apply_delay: Duration,
    /// Where events about nothing Kassa knows are listed.
    pub default_account: AccountId,
}

pub struct Inbox {
    store: Arc<dyn InboxStore>,
    applier: Arc<Applier>,
    queue: mpsc::Sender<ToApply>,
    in_hand: Arc<InHand>,
    default_account: AccountId,
}

/// The events this node has queued and not yet applied, so that one is never queued twice.
#[derive(Default)]
struct InHand(Mutex<HashSet<EventId>>);

impl InHand {
    fn ids(&self) -> std::sync::MutexGuard<'_, HashSet<EventId>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether `id` was not in hand already.
    fn take(&self, id: &EventId) -> bool {
        self.ids().insert(id.clone())
    }

    fn done(&self, id: &EventId) {
        self.ids().remove(id);
    }
}

/// An event waiting to be applied, with what its adapter read in it when it came in (one found
/// unapplied at start is read again when applied).
struct ToApply {
    event: GatewayEvent,
    read: Option<IncomingEvent>,
}

impl Inbox {
    /// Starts the task that applies events; call [`Inbox::resume`] once to apply what a crash
    /// left in the inbox.
    pub fn start(store: Arc<dyn InboxStore>, applier: Applier, settings: InboxSettings) -> Inbox {
        let applier = Arc::new(applier);
        let in_hand = Arc::new(InHand::default());
        let (queue, events) = mpsc::channel(APPLY_QUEUE_LEN_MAX);
        tokio::spawn(apply_forever(
            Applying {
                store: Arc::clone(&store),
                applier: Arc::clone(&applier),
                in_hand: Arc::clone(&in_hand),
                retry: queue.clone(),
            },
            events,
            settings.apply_concurrency,
            settings.apply_delay,
        ));
        Inbox { store, applier, queue, in_hand, default_account: settings.default_account }
    }

    /// Queues every persisted event not yet applied (in the background: there may be more
    /// than the queue holds); answers how many. For a store no other node shares.
    pub fn resume(&self) -> Result<usize, StoreError> {
        let unapplied = self.store.unapplied_gateway_events()?;
        Ok(self.queue_found(unapplied))
    }

    /// Where nodes share the store, queues the events received before `received_before` and
    /// still not applied (up to a thousand a call); answers how many were not in hand already.
    pub fn take_left(&self, received_before: i64) -> Result<usize, StoreError> {
        let left = self.store.gateway_events_left(received_before, LEFT_TAKEN_MAX)?;
        Ok(self.queue_found(left))
    }

    /// Queues those of `found` not in hand already, in the background.
    fn queue_found(&self, found: Vec<GatewayEvent>) -> usize {
        let taken: Vec<GatewayEvent> =
            found.into_iter().filter(|event| self.in_hand.take(&event.id)).collect();
        let count = taken.len();
        let queue = self.queue.clone();
        tokio::spawn(async move {
            for event in taken {
                let _ = queue.send(ToApply { event, read: None }).await;
            }
        });
        count
    }

    /// Takes a verified delivery: read by its adapter, stored once, durable when answered, then
    /// applied.
    pub async fn ingest(
        &self,
        source: &dyn WebhookSource,
        body: &[u8],
    ) -> Result<Ingested, IngestError> {
        let read = source.read(body)?;
        let payload = std::str::from_utf8(body)
            .map_err(|_| UnreadableEvent("the body is not UTF-8".to_owned()))?
            .to_owned();
        let target = match &read.charge {
            Some(named) => self.applier.locate(source, named)?,
            None => None,
        };
        let received = now_unix_secs();
        let event = NewGatewayEvent {
            // Listed for the account whose charge it is about (found again when applied).
            account: target
                .map_or_else(|| self.default_account.clone(), |target| target.key.account),
            gateway: source.gateway().to_owned(),
            gateway_event_id: read.id.clone(),
            kind: read.kind.clone(),
            gateway_created: read.created.unwrap_or(received),
            received,
            payload,
        };
        let inserted = self.store.insert_gateway_event(event)?;
        // A duplicate waits too: the first delivery may not be durable yet, and this answer
        // tells the gateway to stop sending it.
        self.store.sync().wait().await?;
        Ok(match inserted {
            InsertedEvent::Duplicate(earlier) => Ingested::Duplicate(earlier),
            InsertedEvent::Stored(event) => {
                self.in_hand.take(&event.id);
                // Waits while the queue is full: when applying falls behind, taking more in
                // slows down instead of the backlog growing without bound.
                let _ = self.queue.send(ToApply { event: event.clone(), read: Some(read) }).await;
                Ingested::Stored(event)
            }
        })
    }
}

/// What the task applying events works with.
#[derive(Clone)]
struct Applying {
    store: Arc<dyn InboxStore>,
    applier: Arc<Applier>,
    in_hand: Arc<InHand>,
    /// Where an event not applied goes back to, after a wait.
    retry: mpsc::Sender<ToApply>,
}

async fn apply_forever(
    applying: Applying,
    mut events: mpsc::Receiver<ToApply>,
    concurrency: usize,
    delay: Duration,
) {
    let slots = Arc::new(Semaphore::new(concurrency.max(1)));
    while let Some(item) = events.recv().await {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else { return };
        let Applying { store, applier, in_hand, retry } = applying.clone();
        tokio::spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let applied = apply_one(store.as_ref(), &applier, &item).await;
            drop(slot);
            let event = &item.event;
            let wait = match applied {
                Ok(()) => {
                    in_hand.done(&event.id);
                    return;
                }
                Err(NotApplied::NotYet(reason)) => {
                    tracing::info!(event = %event.id, %reason, "gateway event not applicable yet; trying again shortly");
                    APPLY_NOT_YET_RETRY_AFTER
                }
                Err(NotApplied::Failed(error)) => {
                    tracing::warn!(event = %event.id, gateway_event = %event.gateway_event_id, %error, "applying a gateway event failed; trying again later");
                    APPLY_RETRY_AFTER
                }
            };
            tokio::time::sleep(wait).await;
            let _ = retry.send(item).await;
        });
    }
}

async fn apply_one(
    store: &dyn InboxStore,
    applier: &Applier,
    item: &ToApply,
) -> Result<(), NotApplied> {
    let event = &item.event;
    let outcome = applier.apply(event, item.read.as_ref()).await?;
    tracing::info!(event = %event.id, gateway_event = %event.gateway_event_id, kind = %event.kind, outcome = %outcome.text, "gateway event applied");
    // Filed at ingest under the default account when it named nothing Kassa knew yet: it
    // belongs with the charge it turned out to be about, and only there.
    let owner = outcome.owner.unwrap_or_else(|| event.account.clone());
    let applied = Applied { at: now_unix_secs(), outcome: outcome.text };
    // Not waited for: if it is lost, the event is applied again, changing nothing more.
    store
        .complete_gateway_event(&event.account, &event.id, &applied, &owner)
        .map_err(|error| NotApplied::Failed(error.into()))?;
    Ok(())
}
