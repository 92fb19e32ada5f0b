//! The dispatcher: one task that hands queued events to the endpoints that want them and
//! delivers them, each POST on a task of its own so a slow endpoint holds up nothing else.
//!
//! - A queued event becomes one delivery per endpoint that wants it, sent only once the change
//!   set that wrote it is durable. It leaves the queue when every one of them is settled, in
//!   the same write as their outcome, so a start finds every event not yet settled and looks up
//!   what each endpoint already answered: nothing answered 2xx is sent again.
//! - Per endpoint ([`Lane`]), the deliveries about one object wait in line: only the first is
//!   sent, and the next once it is delivered or given up. Different objects go out at once, up
//!   to `webhooks.endpoint_concurrency` per endpoint and `webhooks.delivery_concurrency` in all.
//! - A failed delivery is tried again on the retry schedule ([`super::retry`]) until its window
//!   closes; then it is kept as failed, releases those behind it, and the account gets a
//!   `webhook_endpoint.delivery_failed` event. An endpoint failing for the whole window is
//!   disabled, with a `webhook_endpoint.disabled` event.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::Uri;
use tokio::sync::{mpsc, oneshot};

use super::destination::DestinationPolicy;
use super::held_bodies::HeldBodies;
use super::sender::{self, DeliveryClient, Outgoing};
use super::{Command, OutboxSignal, retry};
use crate::cluster::{Claims, Work};
use crate::config::WebhookRetryConfig;
use crate::domain::outgoing_event::{DELIVERY_FAILED, ENDPOINT_DISABLED};
use crate::domain::{
    AccountId, Attempt, Delivery, DeliveryStatus, EndpointStatus, EventId, NewOutgoingEvent,
    OutgoingEvent, WebhookEndpoint, WebhookEndpointId,
};
use crate::store::{DurableTicket, OutboxStore, StoreError};

/// Queued events taken at a time.
const FAN_OUT_BATCH: usize = 2_048;
/// The dispatcher looks at the queue at least this often, whether or not it was woken.
const IDLE_WAKE: Duration = Duration::from_secs(1);

/// How often a node that does not deliver looks whether it holds the claim to.
const CLAIM_WAIT: Duration = Duration::from_millis(500);

pub struct Settings {
    pub policy: DestinationPolicy,
    pub retry: WebhookRetryConfig,
    pub delivery_concurrency: usize,
    pub endpoint_concurrency: usize,
}

/// One endpoint's pending deliveries, in line per object.
struct Lane {
    endpoint: WebhookEndpoint,
    /// The endpoint's URL as the destination policy takes it. An address written in the URL
    /// never reaches the resolver, so it is checked here: when the lane is made (under the
    /// running engine's policy, whatever it was when the endpoint was) and when the endpoint
    /// changes.
    url: Result<Uri, String>,
    /// Tells this lane from one the endpoint had before it was disabled and enabled again:
    /// attempts that come back to an earlier lane are recorded on their own.
    generation: u64,
    objects: HashMap<String, VecDeque<Delivery>>,
    /// Objects whose first delivery is due and waits for a free slot.
    ready: VecDeque<String>,
    in_flight: usize,
}

/// Deliveries made from a batch of queued events, with the endpoints they go to.
struct FannedOut {
    endpoints: Vec<WebhookEndpoint>,
    deliveries: Vec<Delivery>,
}

/// Waits until what each batch was read from is durable, batch after batch, and hands them
/// back in that order: deliveries about one object join their line in the order of their events.
async fn wait_in_order(
    mut fanning: mpsc::UnboundedReceiver<(DurableTicket, FannedOut)>,
    fanned: mpsc::UnboundedSender<FannedOut>,
) {
    while let Some((durable, batch)) = fanning.recv().await {
        match durable.wait().await {
            Ok(()) => {
                if fanned.send(batch).is_err() {
                    return;
                }
            }
            // The store cannot make anything durable any more: nothing may be sent.
            Err(error) => {
                tracing::error!(%error, "a fan-out of outgoing events did not become durable");
                return;
            }
        }
    }
}

/// An attempt that came back.
struct Finished {
    account: AccountId,
    endpoint: WebhookEndpointId,
    generation: u64,
    kind: String,
    object_id: String,
    event: EventId,
    attempt: Attempt,
}

pub struct Dispatcher {
    store: Arc<dyn OutboxStore>,
    client: DeliveryClient,
    settings: Settings,
    /// Whether this node delivers now (see [`crate::cluster`]).
    claims: Arc<Claims>,
    lanes: HashMap<WebhookEndpointId, Lane>,
    /// `(due in Unix ms, endpoint, object)` for each object whose first delivery waits.
    due: BinaryHeap<Reverse<(i64, WebhookEndpointId, String)>>,
    in_flight: usize,
    lanes_made: u64,
    /// Deliveries changed by attempts that came back, written together.
    unrecorded: Vec<Delivery>,
    /// The last queued event taken; later ones are new.
    cursor: Option<EventId>,
    /// Until the queue has been read to its end once after a start: deliveries may have been
    /// attempted before the stop, so each is looked up first.
    resuming: bool,
    /// Whether events may have been queued since the queue was last read to its end: a
    /// commit's wake, the dispatcher's own events, a full batch, or the idle wake say so.
    /// Attempts coming back do not, so the queue is not read for each of them.
    queue_grew: bool,
    /// Per event taken: its deliveries not yet settled (delivered, given up, or dropped with a
    /// disabled endpoint). At zero the event leaves the queue.
    outstanding: HashMap<EventId, usize>,
    /// Events settled since the last write, taken off the queue with it.
    settled: Vec<EventId>,
    /// Bodies of events just fanned out, for the attempts made within seconds of it.
    bodies: HeldBodies,
    finished_tx: mpsc::UnboundedSender<Finished>,
    finished_rx: mpsc::UnboundedReceiver<Finished>,
    /// Batches taken and not yet known durable, for [`wait_in_order`].
    fanning_tx: mpsc::UnboundedSender<(DurableTicket, FannedOut)>,
    /// Taken by [`Dispatcher::run`] for the waiter.
    fanning_rx: Option<mpsc::UnboundedReceiver<(DurableTicket, FannedOut)>>,
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn OutboxStore>,
        client: DeliveryClient,
        settings: Settings,
        claims: Arc<Claims>,
    ) -> Dispatcher {
        let (finished_tx, finished_rx) = mpsc::unbounded_channel();
        let (fanning_tx, fanning_rx) = mpsc::unbounded_channel();
        Dispatcher {
            store,
            client,
            settings,
            claims,
            lanes: HashMap::new(),
            due: BinaryHeap::new(),
            in_flight: 0,
            lanes_made: 0,
            unrecorded: Vec::new(),
            cursor: None,
            resuming: true,
            queue_grew: true,
            outstanding: HashMap::new(),
            settled: Vec::new(),
            bodies: HeldBodies::default(),
            finished_tx,
            finished_rx,
            fanning_tx,
            fanning_rx: Some(fanning_rx),
        }
    }

    /// Runs until the engine stops: takes what a stop left queued, then events as commits
    /// queue them.
    pub async fn run(mut self, signal: Arc<OutboxSignal>, mut commands: mpsc::Receiver<Command>) {
        let (fanned_tx, mut fanned_rx) = mpsc::unbounded_channel();
        if let Some(fanning) = self.fanning_rx.take() {
            tokio::spawn(wait_in_order(fanning, fanned_tx));
        }
        loop {
            if !self.claims.holds(Work::Deliveries) {
                // Another node delivers (nodes sharing the store); this one reads the queue from
                // its start again once it holds the claim.
                self.cursor = None;
                self.resuming = true;
                self.queue_grew = true;
                tokio::select! {
                    Some(command) = commands.recv() => self.command(command).await,
                    _ = tokio::time::sleep(CLAIM_WAIT) => {}
                }
                continue;
            }
            if self.queue_grew {
                self.queue_grew = match self.fan_out_queued() {
                    Ok(more) => more,
                    Err(error) => {
                        tracing::error!(%error, "cannot hand outgoing events to their endpoints");
                        false
                    }
                };
            }
            self.record_finished();
            self.start_due();
            let wait = match self.queue_grew {
                true => Duration::ZERO,
                false => self.next_due_in().min(IDLE_WAKE),
            };
            tokio::select! {
                _ = signal.woken() => self.queue_grew = true,
                Some(batch) = fanned_rx.recv() => {
                    self.take_fanned_out(batch);
                    while let Ok(batch) = fanned_rx.try_recv() {
                        self.take_fanned_out(batch);
                    }
                }
                Some(finished) = self.finished_rx.recv() => {
                    self.finish(finished);
                    while let Ok(finished) = self.finished_rx.try_recv() {
                        self.finish(finished);
                    }
                    self.record_finished();
                }
                Some(command) = commands.recv() => self.command(command).await,
                // A due delivery or the idle wake; the queue is read too, a bound on how long
                // an event no wake announced waits.
                _ = tokio::time::sleep(wait) => self.queue_grew = true,
            }
        }
    }

    /// Takes the next batch of queued events and makes their deliveries, one per endpoint that
    /// wants the event (and existed when it was made). They are sent once what was read is
    /// durable: the wait runs in [`wait_in_order`], so sending goes on meanwhile. An event no
    /// endpoint takes is settled at once. Answers whether the batch was full (more may wait).
    fn fan_out_queued(&mut self) -> Result<bool, StoreError> {
        let events = self.store.queued_events(self.cursor.as_ref(), FAN_OUT_BATCH)?;
        let Some(last) = events.last() else {
            self.resuming = false;
            return Ok(false);
        };
        self.cursor = Some(last.id.clone());
        let mut endpoints: HashMap<AccountId, Vec<WebhookEndpoint>> = HashMap::new();
        let mut deliveries = Vec::new();
        let now_ms = now_ms();
        for event in &events {
            if !endpoints.contains_key(&event.account) {
                endpoints.insert(event.account.clone(), self.store.endpoints(&event.account)?);
            }
            let mut taken = 0;
            for endpoint in &endpoints[&event.account] {
                if !endpoint.wants(&event.kind) || endpoint.created > event.created {
                    continue;
                }
                let delivery = match self.resuming {
                    true => self.store.delivery(&event.account, &endpoint.id, &event.id)?,
                    false => None,
                };
                match delivery {
                    Some(done) if done.status != DeliveryStatus::Pending => continue,
                    Some(pending) => deliveries.push(pending),
                    None => deliveries.push(new_delivery(endpoint, event, now_ms)),
                }
                taken += 1;
            }
            match taken {
                0 => self.settled.push(event.id.clone()),
                _ => {
                    self.outstanding.insert(event.id.clone(), taken);
                    self.hold_body(event);
                }
            }
        }
        let durable = self.store.sync();
        let endpoints = endpoints.into_values().flatten().collect();
        // Only fails once the waiter is gone, with the engine.
        let _ = self.fanning_tx.send((durable, FannedOut { endpoints, deliveries }));
        Ok(events.len() == FAN_OUT_BATCH)
    }

    /// Opens an event taken by an endpoint and holds what is sent, while there is room. One
    /// that cannot be opened now is read again by its attempt, which records why it failed:
    /// the batch's other events go out meanwhile.
    fn hold_body(&mut self, event: &OutgoingEvent) {
        let data = event.data.as_ref().map(Vec::len);
        let len = data.or(event.sealed.as_ref().map(|sealed| sealed.ciphertext.len()));
        if !self.bodies.has_room_for(len.unwrap_or(0)) {
            return;
        }
        if let Ok(opened) = self.store.opened_event(event.clone()) {
            self.bodies.hold(event.id.clone(), Bytes::from(opened.to_body()));
        }
    }

    /// One of the event's deliveries is settled; the event leaves the queue with its last.
    fn settle(&mut self, event: &EventId) {
        let Some(left) = self.outstanding.get_mut(event) else { return };
        *left -= 1;
        if *left == 0 {
            self.outstanding.remove(event);
            self.bodies.release(event);
            self.settled.push(event.clone());
        }
    }

    /// Stops sending to an endpoint (disabled, removed): what waited in its lines is dropped.
    /// Attempts under way come back to no lane and are recorded apart.
    fn drop_lane(&mut self, id: &WebhookEndpointId) {
        let Some(lane) = self.lanes.remove(id) else { return };
        for line in lane.objects.into_values() {
            for delivery in line {
                self.settle(&delivery.event);
            }
        }
    }

    /// A batch whose fan-out is durable: its deliveries join their lines.
    fn take_fanned_out(&mut self, batch: FannedOut) {
        for delivery in batch.deliveries {
            if let Some(endpoint) = batch.endpoints.iter().find(|e| e.id == delivery.endpoint) {
                self.enqueue(endpoint, delivery);
            }
        }
    }

    /// Puts a delivery in line behind the others about its object.
    fn enqueue(&mut self, endpoint: &WebhookEndpoint, delivery: Delivery) {
        if !self.lanes.contains_key(&endpoint.id) {
            self.lanes_made += 1;
        }
        let generation = self.lanes_made;
        let policy = self.settings.policy;
        let lane = self.lanes.entry(endpoint.id.clone()).or_insert_with(|| Lane {
            endpoint: endpoint.clone(),
            url: sender::destination(policy, &endpoint.url),
            generation,
            objects: HashMap::new(),
            ready: VecDeque::new(),
            in_flight: 0,
        });
        let line = lane.objects.entry(delivery.object_id.clone()).or_default();
        let first = line.is_empty();
        let (due, object) = (delivery.next_attempt_ms, delivery.object_id.clone());
        line.push_back(delivery);
        if first {
            self.due.push(Reverse((due, endpoint.id.clone(), object)));
        }
    }

    fn next_due_in(&self) -> Duration {
        // Due deliveries that a free slot could start now; those held by their endpoint's own
        // limit wait for an attempt to come back, which wakes the loop anyway.
        let waiting = self.lanes.values().any(|lane| {
            !lane.ready.is_empty() && lane.in_flight < self.settings.endpoint_concurrency
        });
        match self.due.peek() {
            _ if waiting && self.in_flight < self.settings.delivery_concurrency => Duration::ZERO,
            Some(Reverse((due, _, _))) => {
                Duration::from_millis(u64::try_from(due - now_ms()).unwrap_or(0))
            }
            None => IDLE_WAKE,
        }
    }

    /// Starts every delivery that is due, as far as the limits allow.
    fn start_due(&mut self) {
        let now = now_ms();
        while let Some(Reverse((due, _, _))) = self.due.peek()
            && *due <= now
        {
            let Reverse((_, endpoint, object)) = self.due.pop().expect("peeked");
            if let Some(lane) = self.lanes.get_mut(&endpoint) {
                lane.ready.push_back(object);
            }
        }
        let ids: Vec<WebhookEndpointId> = self.lanes.keys().cloned().collect();
        for id in ids {
            while self.in_flight < self.settings.delivery_concurrency {
                let lane = self.lanes.get_mut(&id).expect("listed");
                if lane.in_flight >= self.settings.endpoint_concurrency {
                    break;
                }
                let Some(object) = lane.ready.pop_front() else { break };
                let Some(delivery) = lane.objects.get(&object).and_then(|line| line.front()) else {
                    continue;
                };
                let delivery = delivery.clone();
                lane.in_flight += 1;
                self.in_flight += 1;
                self.spawn_attempt(id.clone(), &delivery);
            }
        }
    }

    fn spawn_attempt(&self, endpoint: WebhookEndpointId, delivery: &Delivery) {
        let (object_id, event, kind) =
            (delivery.object_id.clone(), delivery.event.clone(), delivery.kind.clone());
        let lane = &self.lanes[&endpoint];
        let (account, generation) = (lane.endpoint.account.clone(), lane.generation);
        let url = lane.url.clone();
        let now = crate::domain::time::now_unix_secs();
        let secrets: Vec<String> =
            lane.endpoint.signing_secrets(now).into_iter().map(str::to_owned).collect();
        let held = self.bodies.fresh(&event);
        let (store, client) = (Arc::clone(&self.store), self.client.clone());
        let finished = self.finished_tx.clone();
        tokio::spawn(async move {
            let body = match held {
                Some(body) => Ok(body),
                None => match store.outgoing_event(&account, &event) {
                    Ok(Some(event)) => Ok(Bytes::from(event.to_body())),
                    Ok(None) => Err(format!("event {event} is not stored")),
                    Err(error) => Err(error.to_string()),
                },
            };
            let attempt = match body {
                Ok(body) => {
                    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
                    let outgoing =
                        Outgoing { url: &url, secrets: &secrets, body, redelivery: false };
                    sender::send(&client, outgoing).await
                }
                Err(error) => unsent(error),
            };
            let _ = finished.send(Finished {
                account,
                endpoint,
                generation,
                kind,
                object_id,
                event,
                attempt,
            });
        });
    }

    /// Records what an attempt did and lets the next in line go.
    fn finish(&mut self, finished: Finished) {
        self.in_flight -= 1;
        let lane = self
            .lanes
            .get_mut(&finished.endpoint)
            .filter(|lane| lane.generation == finished.generation);
        let Some(lane) = lane else {
            self.record_apart(&finished);
            return;
        };
        lane.in_flight -= 1;
        let Finished { endpoint, object_id, attempt, .. } = finished;
        let Some(line) = lane.objects.get_mut(&object_id) else { return };
        let Some(delivery) = line.front_mut() else { return };
        let succeeded = attempt.succeeded();
        let first_at = delivery.attempts.first().map_or(attempt.at, |first| first.at);
        let failures = delivery.attempt_count + 1;
        delivery.record(attempt);
        let now = now_ms();
        let mut done = true;
        if succeeded {
            delivery.status = DeliveryStatus::Delivered;
        } else {
            let next = now + delay(&self.settings.retry, failures);
            if retry::may_retry_at(&self.settings.retry, first_at, next / 1000) {
                delivery.next_attempt_ms = next;
                done = false;
            } else {
                delivery.status = DeliveryStatus::Failed;
            }
        }
        let delivery = delivery.clone();
        self.unrecorded.push(delivery.clone());
        if done {
            self.settle(&delivery.event);
        }
        let Some(lane) = self.lanes.get_mut(&endpoint) else { return };
        let Some(line) = lane.objects.get_mut(&object_id) else { return };
        let next_due = match done {
            true => {
                line.pop_front();
                line.front().map(|next| next.next_attempt_ms.max(now))
            }
            false => Some(delivery.next_attempt_ms),
        };
        match next_due {
            Some(due) => self.due.push(Reverse((due, endpoint.clone(), object_id))),
            None => {
                lane.objects.remove(&object_id);
            }
        }
        if delivery.status == DeliveryStatus::Failed {
            self.announce_failure(&delivery);
        }
        self.track_health(&endpoint, succeeded);
    }

    /// Writes the deliveries attempts came back for since the last write, in one record.
    fn record_finished(&mut self) {
        if self.unrecorded.is_empty() && self.settled.is_empty() {
            return;
        }
        let deliveries = std::mem::take(&mut self.unrecorded);
        let settled = std::mem::take(&mut self.settled);
        if let Err(error) = self.store.record_deliveries(&deliveries, &settled) {
            tracing::error!(%error, count = deliveries.len(), "cannot record deliveries");
        }
    }

    /// Records an attempt whose endpoint was disabled or removed while it was under way, so
    /// what the endpoint answered can still be inspected.
    fn record_apart(&self, finished: &Finished) {
        let stored = self.store.delivery(&finished.account, &finished.endpoint, &finished.event);
        let mut delivery = match stored {
            Ok(Some(delivery)) if delivery.status != DeliveryStatus::Pending => return,
            Ok(Some(delivery)) => delivery,
            Ok(None) => Delivery {
                account: finished.account.clone(),
                endpoint: finished.endpoint.clone(),
                event: finished.event.clone(),
                kind: finished.kind.clone(),
                object_id: finished.object_id.clone(),
                status: DeliveryStatus::Pending,
                created: finished.attempt.at,
                next_attempt_ms: finished.attempt.at * 1_000,
                attempts: Vec::new(),
                attempt_count: 0,
            },
            Err(_) => return,
        };
        delivery.status = match finished.attempt.succeeded() {
            true => DeliveryStatus::Delivered,
            // Its endpoint no longer takes it: given up.
            false => DeliveryStatus::Failed,
        };
        delivery.record(finished.attempt.clone());
        if let Err(error) = self.store.record_deliveries(std::slice::from_ref(&delivery), &[]) {
            tracing::error!(%error, endpoint = %delivery.endpoint, event = %delivery.event, "cannot record a delivery");
        }
    }

    /// `webhook_endpoint.delivery_failed` for a delivery given up, unless it carried one of
    /// those itself (a failing endpoint would otherwise feed itself events for ever).
    fn announce_failure(&mut self, delivery: &Delivery) {
        if delivery.kind == DELIVERY_FAILED || delivery.kind == ENDPOINT_DISABLED {
            return;
        }
        let Some(lane) = self.lanes.get(&delivery.endpoint) else { return };
        let data = serde_json::json!({
            "object": crate::api::webhook_views::endpoint(&lane.endpoint, None),
            "event": delivery.event.as_str(),
            "event_type": delivery.kind,
            "event_object": delivery.object_id,
        });
        let event = NewOutgoingEvent::new(
            &delivery.account,
            None,
            DELIVERY_FAILED,
            delivery.endpoint.as_str(),
            0,
            &data,
        );
        match self.store.emit(event) {
            Ok(_) => self.queue_grew = true,
            Err(error) => tracing::error!(%error, "cannot record a delivery_failed event"),
        }
    }

    /// Notes when an endpoint began failing, and disables one that failed for the whole retry
    /// window with no success between.
    fn track_health(&mut self, endpoint: &WebhookEndpointId, succeeded: bool) {
        let Some(lane) = self.lanes.get_mut(endpoint) else { return };
        let now = crate::domain::time::now_unix_secs();
        let record = &mut lane.endpoint;
        let changed = match (succeeded, record.failing_since) {
            (true, Some(_)) => {
                record.failing_since = None;
                true
            }
            (false, None) => {
                record.failing_since = Some(now);
                true
            }
            (false, Some(since)) if !retry::may_retry_at(&self.settings.retry, since, now) => {
                record.status = EndpointStatus::Disabled;
                true
            }
            _ => false,
        };
        if !changed {
            return;
        }
        // The stored record, with only the health fields changed: the API may have changed
        // the rest meanwhile.
        let stored = self.store.endpoint(&record.account, &record.id);
        let Ok(Some(mut stored)) = stored else { return };
        stored.failing_since = record.failing_since;
        let disabled = record.status == EndpointStatus::Disabled;
        if disabled {
            stored.status = EndpointStatus::Disabled;
        }
        if let Err(error) = self.store.put_endpoint(&stored, None) {
            tracing::error!(%error, endpoint = %stored.id, "cannot record an endpoint's health");
        }
        if disabled {
            tracing::warn!(endpoint = %stored.id, "disabled an endpoint failing for the whole retry window");
            let data =
                serde_json::json!({ "object": crate::api::webhook_views::endpoint(&stored, None) });
            let event = NewOutgoingEvent::new(
                &stored.account,
                None,
                ENDPOINT_DISABLED,
                stored.id.as_str(),
                0,
                &data,
            );
            match self.store.emit(event) {
                Ok(_) => self.queue_grew = true,
                Err(error) => {
                    tracing::error!(%error, "cannot record a webhook_endpoint.disabled event");
                }
            }
            self.drop_lane(endpoint);
        }
    }

    async fn command(&mut self, command: Command) {
        match command {
            Command::EndpointChanged { account, id } => self.reload_endpoint(&account, &id),
            Command::Redeliver { account, event, endpoint, reply } => {
                self.redeliver(&account, &event, &endpoint, reply);
            }
        }
    }

    /// Takes an endpoint's change. A removed or disabled one's lane goes with what waited in it:
    /// a disabled endpoint gets nothing, and enabled again it gets what is made from then on.
    fn reload_endpoint(&mut self, account: &AccountId, id: &WebhookEndpointId) {
        let endpoint = match self.store.endpoint(account, id) {
            Ok(endpoint) => endpoint,
            Err(error) => {
                tracing::error!(%error, endpoint = %id, "cannot reload an endpoint");
                return;
            }
        };
        match endpoint {
            Some(endpoint) if endpoint.status == EndpointStatus::Enabled => {
                if let Some(lane) = self.lanes.get_mut(id) {
                    lane.url = sender::destination(self.settings.policy, &endpoint.url);
                    lane.endpoint = endpoint;
                }
            }
            _ => self.drop_lane(id),
        }
    }

    /// Sends one event to one endpoint now, outside its line, marked as a redelivery; the
    /// attempt is recorded with the event's delivery to that endpoint.
    fn redeliver(
        &self,
        account: &AccountId,
        event: &EventId,
        endpoint: &WebhookEndpointId,
        reply: oneshot::Sender<Result<Option<Delivery>, StoreError>>,
    ) {
        let found =
            (self.store.outgoing_event(account, event), self.store.endpoint(account, endpoint));
        let (event, endpoint) = match found {
            (Ok(Some(event)), Ok(Some(endpoint))) => (event, endpoint),
            (Err(error), _) | (_, Err(error)) => {
                let _ = reply.send(Err(error));
                return;
            }
            _ => {
                let _ = reply.send(Ok(None));
                return;
            }
        };
        let (store, client, policy) =
            (Arc::clone(&self.store), self.client.clone(), self.settings.policy);
        tokio::spawn(async move {
            let now = crate::domain::time::now_unix_secs();
            let secrets = endpoint.signing_secrets(now);
            let body = Bytes::from(event.to_body());
            let url = sender::destination(policy, &endpoint.url);
            let outgoing = Outgoing { url: &url, secrets: &secrets, body, redelivery: true };
            let attempt = sender::send(&client, outgoing).await;
            let recorded = async {
                let mut delivery = match store.delivery(&event.account, &endpoint.id, &event.id)? {
                    Some(delivery) => delivery,
                    None => {
                        let mut made = new_delivery(&endpoint, &event, now_ms());
                        made.status = DeliveryStatus::Failed;
                        made
                    }
                };
                // A redelivery that succeeds settles a delivery given up; one still pending
                // stays in its line, which sends it as usual.
                if attempt.succeeded() && delivery.status == DeliveryStatus::Failed {
                    delivery.status = DeliveryStatus::Delivered;
                }
                delivery.record(attempt);
                store.record_deliveries(std::slice::from_ref(&delivery), &[])?.wait().await?;
                Ok(Some(delivery))
            };
            let _ = reply.send(recorded.await);
        });
    }
}

fn new_delivery(endpoint: &WebhookEndpoint, event: &OutgoingEvent, now_ms: i64) -> Delivery {
    Delivery {
        account: event.account.clone(),
        endpoint: endpoint.id.clone(),
        event: event.id.clone(),
        kind: event.kind.clone(),
        object_id: event.object_id.clone(),
        status: DeliveryStatus::Pending,
        created: now_ms / 1000,
        next_attempt_ms: now_ms,
        attempts: Vec::new(),
        attempt_count: 0,
    }
}

fn unsent(error: String) -> Attempt {
    Attempt {
        at: crate::domain::time::now_unix_secs(),
        status_code: None,
        latency_ms: 0,
        error: Some(error),
        redelivery: false,
    }
}

fn delay(config: &WebhookRetryConfig, failures: u32) -> i64 {
    i64::try_from(retry::delay_ms(config, failures)).unwrap_or(i64::MAX)
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |since| i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
}
