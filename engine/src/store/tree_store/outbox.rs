//! The outbox's part of the sled store. An outgoing event is kept `account/evt_…` and queued
//! `evt_…` → account until it is settled (delivered or given up) at every endpoint that took it;
//! a start finds in the queue everything still to send. A delivery (`account/we_…/evt_…`) is
//! written when an attempt comes back, so what each endpoint answered can be inspected and a
//! start resumes a delivery's retries where they were. Events get their ids and the account's
//! sequence numbers holding the write order, so both follow the log's order and the newest event
//! of an account holds its highest sequence number.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, RwLock};

use super::billing::{newest_first, page};
use super::ops::Op;
use super::tree_ids::TreeId;
use super::{TreeStore, decode, encode};
use crate::domain::{
    AccountId, Delivery, EndpointStatus, EventId, NewOutgoingEvent, OutgoingEvent, WebhookEndpoint,
    WebhookEndpointId,
};
use crate::store::sealing;
use crate::store::{
    DurableTicket, IdempotencyRecord, OutboxStore, OutgoingFilter, Page, StoreError, keys,
};

/// Each account's latest sequence number, read from its newest event the first time.
#[derive(Default)]
pub(super) struct Sequences(Mutex<HashMap<AccountId, u64>>);

/// The accounts with an enabled endpoint. An event is queued only for them: an endpoint gets
/// the events committed after it was made (or enabled), so with none the queue would only be
/// written and emptied again.
#[derive(Default)]
pub(super) struct Listening(RwLock<HashSet<AccountId>>);

impl Listening {
    fn has(&self, account: &AccountId) -> bool {
        self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner()).contains(account)
    }

    fn set(&self, account: &AccountId, listening: bool) {
        let mut accounts = self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        match listening {
            true => accounts.insert(account.clone()),
            false => accounts.remove(account),
        };
    }
}

impl TreeStore {
    /// Gives each event its id and the account's next sequence number, and adds the ops that
    /// keep and queue it. The caller holds the write order and appends `ops` before letting go.
    pub(super) fn outgoing_ops(
        &self,
        events: Vec<NewOutgoingEvent>,
        ops: &mut Vec<Op>,
    ) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut sequences =
            self.sequences.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Where nodes share the store, another node may have numbered the account's events
        // since: the latest number is read under the write order, which they share.
        let shared = self.is_shared();
        for event in events {
            let sequence = match sequences.get(&event.account) {
                Some(latest) if !shared => latest + 1,
                _ => self.latest_sequence(&event.account)? + 1,
            };
            sequences.insert(event.account.clone(), sequence);
            let event = event.numbered(EventId::generate(), sequence);
            let key = keys::by_id(&event.account, event.id.as_str());
            if shared {
                ops.push(Op::put(
                    TreeId::AccountSequences,
                    event.account.as_str().as_bytes().to_vec(),
                    sequence.to_be_bytes().to_vec(),
                ));
            }
            // Where nodes share the store, an endpoint may have been made on another node:
            // every event is queued, and one no endpoint takes is settled at once.
            if shared || self.listening.has(&event.account) {
                ops.push(Op::put(
                    TreeId::OutboxQueue,
                    event.id.as_str().as_bytes().to_vec(),
                    event.account.as_str().as_bytes().to_vec(),
                ));
            }
            if event.version > 0 {
                ops.push(Op::put(
                    TreeId::ObjectVersions,
                    keys::by_id(&event.account, &event.object_id),
                    event.version.to_be_bytes().to_vec(),
                ));
            }
            ops.push(Op::put(TreeId::OutgoingEvents, key, encode(&event)));
        }
        Ok(())
    }

    /// Whether `account` has an enabled endpoint, as far as this node knows.
    pub(super) fn is_listening(&self, account: &AccountId) -> bool {
        self.listening.has(account)
    }

    /// Notes which accounts have an enabled endpoint: at open, and after each endpoint change.
    pub(super) fn note_listening(&self, account: Option<&AccountId>) -> Result<(), StoreError> {
        let tree = self.tree(TreeId::WebhookEndpoints);
        let prefix = account.map(keys::account_prefix).unwrap_or_default();
        if let Some(account) = account {
            self.listening.set(account, false);
        }
        for item in tree.scan_prefix(prefix) {
            let endpoint: WebhookEndpoint = decode(&item?.1)?;
            if endpoint.status == EndpointStatus::Enabled {
                self.listening.set(&endpoint.account, true);
            }
        }
        Ok(())
    }

    fn latest_sequence(&self, account: &AccountId) -> Result<u64, StoreError> {
        let numbered = match self.is_shared() {
            true => self.tree(TreeId::AccountSequences).get(account.as_str().as_bytes())?,
            false => None,
        };
        if let Some(bytes) = numbered {
            let bytes: [u8; 8] = bytes.as_ref().try_into().map_err(|_| {
                StoreError::Corrupt(format!("the latest event sequence of {account}"))
            })?;
            return Ok(u64::from_be_bytes(bytes));
        }
        let newest =
            newest_first(self.tree(TreeId::OutgoingEvents), keys::account_prefix(account), None)
                .next()
                .transpose()?;
        match newest {
            Some((_, value)) => Ok(decode::<OutgoingEvent>(&value)?.sequence),
            None => Ok(0),
        }
    }

    pub(super) fn stored_object_version(
        &self,
        account: &AccountId,
        object_id: &str,
    ) -> Result<u64, StoreError> {
        let Some(bytes) = self.tree(TreeId::ObjectVersions).get(keys::by_id(account, object_id))?
        else {
            return Ok(0);
        };
        let bytes: [u8; 8] = bytes
            .as_ref()
            .try_into()
            .map_err(|_| StoreError::Corrupt(format!("the version of {object_id}")))?;
        Ok(u64::from_be_bytes(bytes))
    }

    /// An event as the engine sends it: its data opened with its customer's key, or left out
    /// once the customer was erased.
    fn opened_outgoing(&self, mut event: OutgoingEvent) -> Result<OutgoingEvent, StoreError> {
        let (Some(sealed), Some(customer)) = (event.sealed.take(), event.customer.clone()) else {
            return Ok(event);
        };
        if let Some(Some(key)) = self.customer_key(&event.account, &customer)? {
            event.data = Some(sealing::open(&key, &customer, &sealed)?);
        }
        Ok(event)
    }

    fn stored_outgoing(
        &self,
        account: &AccountId,
        id: &str,
    ) -> Result<Option<OutgoingEvent>, StoreError> {
        match self.sealed_outgoing(account, id)? {
            Some(event) => self.opened_outgoing(event).map(Some),
            None => Ok(None),
        }
    }

    /// An event as stored, live or archived, its data still sealed.
    fn sealed_outgoing(
        &self,
        account: &AccountId,
        id: &str,
    ) -> Result<Option<OutgoingEvent>, StoreError> {
        let key = keys::by_id(account, id);
        if let Some(event) = self.get(TreeId::OutgoingEvents, &key)? {
            return Ok(Some(event));
        }
        let archived = self.archived::<OutgoingEvent>(&key)?;
        Ok(archived.map(|event| OutgoingEvent { archived: true, ..event }))
    }

    /// An endpoint as stored: its secrets sealed under the data key, the endpoint's id bound
    /// to them, and hex-encoded.
    fn sealed_endpoint(&self, endpoint: &WebhookEndpoint) -> WebhookEndpoint {
        let mut stored = endpoint.clone();
        let seal = |secret: &str| {
            let bytes = match &self.sealer {
                Some(sealer) => sealer.seal_payload(endpoint.id.as_str(), secret.as_bytes()),
                None => secret.as_bytes().to_vec(),
            };
            hex::encode(bytes)
        };
        stored.secret = seal(&endpoint.secret);
        if let Some(previous) = &mut stored.previous_secret {
            previous.secret = seal(&previous.secret);
        }
        stored
    }

    fn opened_endpoint(
        &self,
        mut endpoint: WebhookEndpoint,
    ) -> Result<WebhookEndpoint, StoreError> {
        let id = endpoint.id.clone();
        let open = |stored: &str| -> Result<String, StoreError> {
            let corrupt = || StoreError::Corrupt(format!("the secret of {id}"));
            let bytes = hex::decode(stored).map_err(|_| corrupt())?;
            let bytes = match &self.sealer {
                Some(sealer) => sealer.open_payload(id.as_str(), bytes)?,
                None => bytes,
            };
            String::from_utf8(bytes).map_err(|_| corrupt())
        };
        endpoint.secret = open(&endpoint.secret)?;
        if let Some(previous) = &mut endpoint.previous_secret {
            previous.secret = open(&previous.secret)?;
        }
        Ok(endpoint)
    }
}

/// `account/we_…/evt_…`.
fn delivery_key(account: &AccountId, endpoint: &WebhookEndpointId, event: &EventId) -> Vec<u8> {
    keys::by_id(account, &format!("{endpoint}/{event}"))
}

/// `account/we_…/`: the prefix of an endpoint's deliveries.
fn endpoint_prefix(account: &AccountId, endpoint: &WebhookEndpointId) -> Vec<u8> {
    keys::by_id(account, &format!("{endpoint}/"))
}

impl OutboxStore for TreeStore {
    fn emit(&self, event: NewOutgoingEvent) -> Result<DurableTicket, StoreError> {
        debug_assert!(event.customer.is_none(), "a customer's events come with its change sets");
        let order = self.write_order()?;
        let mut ops = Vec::new();
        self.outgoing_ops(vec![event], &mut ops)?;
        self.append_and_apply(&order, &ops)?;
        drop(order);
        Ok(self.written())
    }

    fn outgoing_event(
        &self,
        account: &AccountId,
        id: &EventId,
    ) -> Result<Option<OutgoingEvent>, StoreError> {
        self.stored_outgoing(account, id.as_str())
    }

    fn outgoing_events(
        &self,
        account: &AccountId,
        filter: &OutgoingFilter,
        limit: usize,
        starting_after: Option<&EventId>,
    ) -> Result<Page<OutgoingEvent>, StoreError> {
        let starting_after = starting_after.map(|id| keys::by_id(account, id.as_str()));
        let tree = self.tree(TreeId::OutgoingEvents);
        let found = newest_first(tree, keys::account_prefix(account), starting_after).map(|item| {
            let event: OutgoingEvent = decode(&item?.1)?;
            match filter.keeps(&event) {
                true => self.opened_outgoing(event).map(Some),
                false => Ok(None),
            }
        });
        page(found, limit)
    }

    fn queued_events(
        &self,
        after: Option<&EventId>,
        limit: usize,
    ) -> Result<Vec<OutgoingEvent>, StoreError> {
        let queue = self.tree(TreeId::OutboxQueue);
        let entries = match after {
            Some(after) => queue.range((
                std::ops::Bound::Excluded(after.as_str().as_bytes().to_vec()),
                std::ops::Bound::Unbounded,
            )),
            None => queue.iter(),
        };
        let mut events = Vec::new();
        for item in entries.take(limit) {
            let (id, account) = item?;
            let corrupt = || StoreError::Corrupt(format!("outbox queue entry {id:?}"));
            let account = std::str::from_utf8(&account).ok().and_then(AccountId::parse);
            let id = std::str::from_utf8(&id).map_err(|_| corrupt())?;
            let event = self.sealed_outgoing(&account.ok_or_else(corrupt)?, id)?;
            events.push(event.ok_or_else(corrupt)?);
        }
        Ok(events)
    }

    fn opened_event(&self, event: OutgoingEvent) -> Result<OutgoingEvent, StoreError> {
        self.opened_outgoing(event)
    }

    fn record_deliveries(
        &self,
        deliveries: &[Delivery],
        settled: &[EventId],
    ) -> Result<DurableTicket, StoreError> {
        let mut ops = Vec::with_capacity(deliveries.len() + settled.len());
        for delivery in deliveries {
            let key = delivery_key(&delivery.account, &delivery.endpoint, &delivery.event);
            ops.push(Op::put(TreeId::Deliveries, key, encode(delivery)));
        }
        for event in settled {
            ops.push(Op::remove(TreeId::OutboxQueue, event.as_str().as_bytes().to_vec()));
        }
        self.commit_ops(ops)
    }

    fn delivery(
        &self,
        account: &AccountId,
        endpoint: &WebhookEndpointId,
        event: &EventId,
    ) -> Result<Option<Delivery>, StoreError> {
        self.get(TreeId::Deliveries, &delivery_key(account, endpoint, event))
    }

    fn deliveries(
        &self,
        account: &AccountId,
        endpoint: &WebhookEndpointId,
        limit: usize,
        starting_after: Option<&EventId>,
    ) -> Result<Page<Delivery>, StoreError> {
        let starting_after = starting_after.map(|event| delivery_key(account, endpoint, event));
        let tree = self.tree(TreeId::Deliveries);
        let found = newest_first(tree, endpoint_prefix(account, endpoint), starting_after)
            .map(|item| decode(&item?.1).map(Some));
        page(found, limit)
    }

    fn put_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
        answered: Option<(&str, &IdempotencyRecord)>,
    ) -> Result<DurableTicket, StoreError> {
        let mut ops = vec![Op::put(
            TreeId::WebhookEndpoints,
            keys::by_id(&endpoint.account, endpoint.id.as_str()),
            encode(&self.sealed_endpoint(endpoint)),
        )];
        if let Some((key, record)) = answered {
            ops.push(Op::put(
                TreeId::Idempotency,
                keys::idempotency(&endpoint.account, key),
                encode(record),
            ));
        }
        let durable = self.commit_ops(ops)?;
        self.note_listening(Some(&endpoint.account))?;
        Ok(durable)
    }

    fn remove_endpoint(
        &self,
        account: &AccountId,
        id: &WebhookEndpointId,
    ) -> Result<DurableTicket, StoreError> {
        let mut ops = vec![Op::remove(TreeId::WebhookEndpoints, keys::by_id(account, id.as_str()))];
        for item in self.tree(TreeId::Deliveries).scan_prefix(endpoint_prefix(account, id)) {
            ops.push(Op::remove(TreeId::Deliveries, item?.0.to_vec()));
        }
        let durable = self.commit_ops(ops)?;
        self.note_listening(Some(account))?;
        Ok(durable)
    }

    fn endpoint(
        &self,
        account: &AccountId,
        id: &WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        match self.get(TreeId::WebhookEndpoints, &keys::by_id(account, id.as_str()))? {
            Some(endpoint) => self.opened_endpoint(endpoint).map(Some),
            None => Ok(None),
        }
    }

    fn endpoints(&self, account: &AccountId) -> Result<Vec<WebhookEndpoint>, StoreError> {
        self.tree(TreeId::WebhookEndpoints)
            .scan_prefix(keys::account_prefix(account))
            .map(|item| self.opened_endpoint(decode(&item?.1)?))
            .collect()
    }
}
