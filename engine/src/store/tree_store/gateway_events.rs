//! Gateway events in the sled store: a small record per event in sled (deduplicated by the
//! gateway's event id, listed per account, its outcome written into it once applied) pointing
//! at its payload in the payload log ([`crate::store::payloads`]). On a store of its own, what a
//! start must apply again is found from a persisted watermark ([`super::unapplied`]), not from an
//! entry per event. Where nodes share the store one node's watermark says nothing of another's
//! events: each event not yet applied has a pending entry instead, written with the event and
//! removed with its outcome, in the same transactions.

use std::time::Instant;

use super::ops::Op;
use super::{TreeId, TreeStore};
use crate::domain::{AccountId, Applied, EventId, GatewayEvent, NewGatewayEvent};
use crate::store::codec::{decode, encode};
use crate::store::payloads::PayloadRef;
use crate::store::{DurableTicket, InsertedEvent, Page, StoreError, keys};

/// The gateway events' payload file, in the store's directory.
pub(super) const PAYLOAD_LOG_FILE: &str = "gateway-payloads.log";

/// The key of the persisted watermark in the inbox tree (account ids hold no NUL).
pub(super) const WATERMARK_KEY: &[u8] = b"\0watermark";

/// Where nodes share the store: the inbox tree's entries of events not yet applied, each
/// `PENDING_PREFIX` and the event's id (time-ordered) to the key of its record.
const PENDING_PREFIX: &[u8] = b"\0pending/";

fn pending_key(id: &EventId) -> Vec<u8> {
    [PENDING_PREFIX, id.as_str().as_bytes()].concat()
}

/// The first pending key of an event id made at `unix_secs` or later.
fn pending_key_from(unix_secs: i64) -> Vec<u8> {
    let millis = u64::try_from(unix_secs).unwrap_or_default().saturating_mul(1_000);
    let first_id = ulid::Ulid::from_parts(millis, 0);
    [PENDING_PREFIX, EventId::PREFIX.as_bytes(), first_id.to_string().as_bytes()].concat()
}

/// A gateway event as sled keeps it: everything but the payload, which is in the payload log.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredGatewayEvent {
    id: EventId,
    account: AccountId,
    gateway: String,
    gateway_event_id: String,
    kind: String,
    gateway_created: i64,
    received: i64,
    payload: PayloadRef,
    /// Written once the event is applied. Records from before outcomes moved in here have it
    /// in the outcomes tree instead.
    #[serde(default)]
    applied: Option<Applied>,
}

impl StoredGatewayEvent {
    fn of(event: &GatewayEvent, payload: PayloadRef) -> StoredGatewayEvent {
        StoredGatewayEvent {
            id: event.id.clone(),
            account: event.account.clone(),
            gateway: event.gateway.clone(),
            gateway_event_id: event.gateway_event_id.clone(),
            kind: event.kind.clone(),
            gateway_created: event.gateway_created,
            received: event.received,
            payload,
            applied: None,
        }
    }

    fn into_event(self, payload: String) -> GatewayEvent {
        GatewayEvent {
            id: self.id,
            account: self.account,
            gateway: self.gateway,
            gateway_event_id: self.gateway_event_id,
            kind: self.kind,
            gateway_created: self.gateway_created,
            received: self.received,
            payload,
            applied: self.applied,
        }
    }
}

impl TreeStore {
    /// A stored event record's payload as kept (sealed), and the record with its payload's
    /// place left out: what a dump holds of it, the same whichever base it came from.
    pub(super) fn detach_payload(
        &self,
        record: &[u8],
    ) -> Result<(Vec<u8>, Option<Vec<u8>>), StoreError> {
        let mut stored: StoredGatewayEvent = decode(record)?;
        let payload = self.read_payload(stored.payload)?;
        stored.payload = PayloadRef { offset: 0, len: 0 };
        Ok((encode(&stored), payload))
    }

    /// A record [`TreeStore::detach_payload`] made, its payload kept again in this store.
    pub(super) fn attach_payload(
        &self,
        record: &[u8],
        payload: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let mut stored: StoredGatewayEvent = decode(record)?;
        stored.payload = self.append_payload(payload)?;
        Ok(encode(&stored))
    }

    /// Where nodes share the store, the pending entry of the event record `record` stored under
    /// `key`, when it is not applied yet: a restore makes them again.
    pub(super) fn pending_entry(
        &self,
        key: &[u8],
        record: &[u8],
    ) -> Result<Option<Op>, StoreError> {
        let stored: StoredGatewayEvent = decode(record)?;
        Ok((self.is_shared() && stored.applied.is_none())
            .then(|| Op::put(TreeId::EventInbox, pending_key(&stored.id), key.to_vec())))
    }

    /// The gateway event stored under `key`, with its outcome once applied.
    pub(super) fn gateway_event_at(&self, key: &[u8]) -> Result<Option<GatewayEvent>, StoreError> {
        match self.tree(TreeId::GatewayEvents).get(key)? {
            Some(bytes) => self.decode_gateway_event(&bytes),
            None => Ok(None),
        }
    }

    /// The event a record describes, its payload read back; `None` when the payload is lost
    /// (a record a power cut kept without its never-acknowledged payload).
    fn decode_gateway_event(&self, bytes: &[u8]) -> Result<Option<GatewayEvent>, StoreError> {
        self.with_payload(decode(bytes)?)
    }

    /// `stored` with its payload read from the payload log.
    fn with_payload(&self, stored: StoredGatewayEvent) -> Result<Option<GatewayEvent>, StoreError> {
        let Some(payload) = self.read_payload(stored.payload)? else {
            tracing::warn!(event = %stored.id, "a gateway event's payload is missing: treated as never stored");
            return Ok(None);
        };
        let payload = match &self.sealer {
            Some(sealer) => sealer.open_payload(stored.id.as_str(), payload)?,
            None => payload,
        };
        let payload = String::from_utf8(payload)
            .map_err(|_| StoreError::Corrupt(format!("payload of {} is not UTF-8", stored.id)))?;
        Ok(Some(stored.into_event(payload)))
    }

    /// Gives `event` its Kassa id and stores it, unless the gateway delivered it before.
    pub(super) fn insert_event(&self, event: NewGatewayEvent) -> Result<InsertedEvent, StoreError> {
        let event = event.with_id(self.unapplied.issue());
        match self.insert_issued_event(&event) {
            Ok(None) => Ok(InsertedEvent::Stored(event)),
            Ok(Some(earlier)) => {
                self.unapplied.withdraw(&event.id);
                Ok(InsertedEvent::Duplicate(earlier))
            }
            Err(error) => {
                self.unapplied.withdraw(&event.id);
                Err(error)
            }
        }
    }

    /// Deduplicated by the gateway's event id, under the store's write lock: a delivery whose id
    /// names a stored event gets that event back; otherwise its id entry and its record are one
    /// log record, so of concurrent deliveries of one event exactly one is stored, and a crash
    /// leaves both or neither. An id entry whose record reads as absent (its payload was lost
    /// with a delivery never acknowledged) is taken over.
    fn insert_issued_event(
        &self,
        event: &GatewayEvent,
    ) -> Result<Option<GatewayEvent>, StoreError> {
        let id_key = keys::gateway_object(&event.gateway, &event.gateway_event_id);
        let key = keys::by_id(&event.account, event.id.as_str());
        let earlier = || match self.tree(TreeId::GatewayEventIds).get(&id_key)? {
            Some(stored_key) => self.gateway_event_at(&stored_key),
            None => Ok(None),
        };
        if let Some(stored) = earlier()? {
            return Ok(Some(stored));
        }
        // Appended before the lock, so that concurrent deliveries append side by side: the copy
        // of one that loses the race below is never pointed at, and costs only its bytes.
        let payload = match &self.sealer {
            Some(sealer) => sealer.seal_payload(event.id.as_str(), event.payload.as_bytes()),
            None => event.payload.as_bytes().to_vec(),
        };
        let payload = self.append_payload(&payload)?;
        let stored = StoredGatewayEvent::of(event, payload);
        let mut ops = vec![
            Op::put(TreeId::GatewayEventIds, id_key.clone(), key.clone()),
            Op::put(TreeId::GatewayEvents, key.clone(), encode(&stored)),
        ];
        if self.is_shared() {
            ops.push(Op::put(TreeId::EventInbox, pending_key(&event.id), key));
        }
        let order = self.write_order()?;
        if let Some(stored) = earlier()? {
            return Ok(Some(stored));
        }
        self.append_and_apply(&order, &ops)?;
        Ok(None)
    }

    pub(super) fn event(
        &self,
        account: &AccountId,
        id: &EventId,
    ) -> Result<Option<GatewayEvent>, StoreError> {
        self.gateway_event_at(&keys::by_id(account, id.as_str()))
    }

    /// Every stored event not yet applied, oldest first: on a store of its own those of each
    /// account from the persisted watermark on (all of them when there is none yet), each
    /// waiting again until applied (call once, at start, before events are taken in); where
    /// nodes share the store, those with a pending entry.
    pub(super) fn unapplied_events(&self) -> Result<Vec<GatewayEvent>, StoreError> {
        if self.is_shared() {
            return self.pending_events(&keys::prefix_end(PENDING_PREFIX), usize::MAX);
        }
        let inbox = self.tree(TreeId::EventInbox);
        let watermark = match inbox.get(WATERMARK_KEY)? {
            Some(bytes) => Some(String::from_utf8(bytes.to_vec()).map_err(|_| {
                StoreError::Corrupt("the gateway events' watermark is not UTF-8".into())
            })?),
            None => None,
        };
        let records = self.tree(TreeId::GatewayEvents);
        let mut events = Vec::new();
        let mut next_account: Vec<u8> = Vec::new();
        while let Some(first) = records.range(next_account.as_slice()..).keys().next() {
            let first = first?;
            let prefix = keys::account_prefix_of(&first);
            let from = [prefix, watermark.as_deref().unwrap_or_default().as_bytes()].concat();
            next_account = keys::prefix_end(prefix);
            for record in records.range(from..next_account.clone()) {
                let (key, bytes) = record?;
                match self.decode_gateway_event(&bytes)? {
                    Some(event) if event.applied.is_none() => events.push(event),
                    Some(_applied) => {}
                    // Its payload was lost with a delivery never acknowledged: gone, before the
                    // payload log's end, where it pointed, is written again.
                    None => {
                        let op = Op::remove(TreeId::GatewayEvents, key.to_vec());
                        self.append_and_apply(&self.write_order()?, &[op])?;
                    }
                }
            }
        }
        // Keys are `account/evt_…`: order across accounts by Kassa's time-ordered id.
        events.sort_by(|a, b| a.id.cmp(&b.id));
        for event in &events {
            self.unapplied.resume(event.id.clone());
        }
        Ok(events)
    }

    /// Writes what applying the event did into its record, moved to `owner`'s events when it
    /// was filed under another account; persists the watermark when due.
    pub(super) fn complete_event(
        &self,
        account: &AccountId,
        id: &EventId,
        applied: &Applied,
        owner: &AccountId,
    ) -> Result<DurableTicket, StoreError> {
        let key = keys::by_id(account, id.as_str());
        let Some(bytes) = self.tree(TreeId::GatewayEvents).get(&key)? else {
            return Err(StoreError::Corrupt(format!("gateway event {id} applied but not stored")));
        };
        let mut stored: StoredGatewayEvent = decode(&bytes)?;
        stored.applied = Some(applied.clone());
        let mut ops = match owner == account {
            true => vec![Op::put(TreeId::GatewayEvents, key, encode(&stored))],
            false => moved(&key, stored, owner),
        };
        let shared = self.is_shared();
        if shared {
            ops.push(Op::remove(TreeId::EventInbox, pending_key(id)));
        }
        self.append_and_apply(&self.write_order()?, &ops)?;
        let (sequence, ticket) = self.written_as();
        if shared {
            // The pending entry went with the outcome: no watermark to move.
            self.unapplied.withdraw(id);
            return Ok(ticket);
        }
        self.unapplied.applied(id, sequence);
        if let Some(watermark) = self.unapplied.watermark_due(self.durable(), Instant::now()) {
            let value = watermark.as_str().as_bytes().to_vec();
            let op = Op::put(TreeId::EventInbox, WATERMARK_KEY.to_vec(), value);
            self.append_and_apply(&self.write_order()?, &[op])?;
        }
        Ok(ticket)
    }

    /// Where nodes share the store: the events not yet applied that were received before
    /// `received_before`, oldest first, at most `limit`; nothing on a store of its own.
    pub(super) fn events_left(
        &self,
        received_before: i64,
        limit: usize,
    ) -> Result<Vec<GatewayEvent>, StoreError> {
        if !self.is_shared() {
            return Ok(Vec::new());
        }
        let events = self.pending_events(&pending_key_from(received_before), limit)?;
        // Ids come from each node's clock; the time received is what the cut-off is about.
        Ok(events.into_iter().filter(|event| event.received < received_before).collect())
    }

    /// The events of the pending entries before `upper`, oldest first, at most `limit`; an
    /// entry whose event is applied or gone (a dump's, restored) is removed.
    fn pending_events(&self, upper: &[u8], limit: usize) -> Result<Vec<GatewayEvent>, StoreError> {
        let mut events = Vec::new();
        let mut settled = Vec::new();
        for entry in self.tree(TreeId::EventInbox).range(PENDING_PREFIX..upper) {
            let (pending, record_key) = entry?;
            match self.gateway_event_at(&record_key)? {
                Some(event) if event.applied.is_none() => events.push(event),
                _ => settled.push(Op::remove(TreeId::EventInbox, pending.to_vec())),
            }
            if events.len() == limit {
                break;
            }
        }
        if !settled.is_empty() {
            self.append_and_apply(&self.write_order()?, &settled)?;
        }
        Ok(events)
    }

    pub(super) fn list_events(
        &self,
        account: &AccountId,
        kind: Option<&str>,
        limit: usize,
        starting_after: Option<&EventId>,
    ) -> Result<Page<GatewayEvent>, StoreError> {
        let prefix = keys::account_prefix(account);
        let upper = match starting_after {
            Some(id) => keys::by_id(account, id.as_str()),
            None => keys::prefix_end(&prefix),
        };
        let mut items = Vec::with_capacity(limit);
        for item in self.tree(TreeId::GatewayEvents).range(prefix..upper).rev() {
            let (_, bytes) = item?;
            // Filtered on the small record: only the events listed have their payload read.
            let stored: StoredGatewayEvent = decode(&bytes)?;
            if kind.is_some_and(|kind| kind != stored.kind) {
                continue;
            }
            let Some(event) = self.with_payload(stored)? else { continue };
            if items.len() == limit {
                return Ok(Page { items, has_more: true });
            }
            items.push(event);
        }
        Ok(Page { items, has_more: false })
    }
}

/// The writes that file an event (applied, in `stored`) under `owner`: its copy there, its
/// deduplication entry pointing at the copy, and the old record gone, as one log record.
fn moved(key: &[u8], mut stored: StoredGatewayEvent, owner: &AccountId) -> Vec<Op> {
    let owner_key = keys::by_id(owner, stored.id.as_str());
    let id_key = keys::gateway_object(&stored.gateway, &stored.gateway_event_id);
    tracing::info!(event = %stored.id, from = %stored.account, to = %owner, "gateway event filed under its charge's account");
    stored.account = owner.clone();
    vec![
        Op::put(TreeId::GatewayEvents, owner_key.clone(), encode(&stored)),
        Op::put(TreeId::GatewayEventIds, id_key, owner_key),
        Op::remove(TreeId::GatewayEvents, key.to_vec()),
    ]
}
