//! Gateway events in the sled store: a small record per event in sled (deduplicated by the
//! gateway's event id, listed per account, in the inbox until applied) pointing at its payload
//! in the payload log ([`crate::store::payloads`]).

use super::{SledStore, TreeId};
use crate::domain::{AccountId, Applied, EventId, GatewayEvent};
use crate::store::codec::{decode, encode};
use crate::store::payloads::PayloadRef;
use crate::store::{DurableTicket, Page, StoreError, keys};

/// The gateway events' payload file, in the store's directory.
pub(super) const PAYLOAD_LOG_FILE: &str = "gateway-payloads.log";

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
            applied: None,
        }
    }
}

impl SledStore {
    /// The gateway event stored under `key`, with its outcome once applied.
    pub(super) fn gateway_event_at(&self, key: &[u8]) -> Result<Option<GatewayEvent>, StoreError> {
        match self.tree(TreeId::GatewayEvents).get(key)? {
            Some(bytes) => self.decode_gateway_event(key, &bytes),
            None => Ok(None),
        }
    }

    /// The event a record describes, its payload read back; `None` when the payload is lost
    /// (a record a power cut kept without its never-acknowledged payload).
    fn decode_gateway_event(
        &self,
        key: &[u8],
        bytes: &[u8],
    ) -> Result<Option<GatewayEvent>, StoreError> {
        let stored: StoredGatewayEvent = decode(bytes)?;
        let Some(payload) = self.payloads.read(stored.payload)? else {
            tracing::warn!(event = %stored.id, "a gateway event's payload is missing: treated as never stored");
            return Ok(None);
        };
        let payload = String::from_utf8(payload)
            .map_err(|_| StoreError::Corrupt(format!("payload of {} is not UTF-8", stored.id)))?;
        self.with_outcome(key, stored.into_event(payload)).map(Some)
    }

    fn with_outcome(
        &self,
        key: &[u8],
        mut event: GatewayEvent,
    ) -> Result<GatewayEvent, StoreError> {
        event.applied = self.get(TreeId::EventOutcomes, key)?;
        Ok(event)
    }

    /// Deduplicated by a compare-and-swap on the gateway's event id, so of concurrent deliveries
    /// of one event exactly one is stored. The inbox entry is written before the record: a crash
    /// between them leaves an entry without a record, which [`Self::unapplied_events`]
    /// drops (that delivery was never acknowledged, so the gateway sends it again).
    pub(super) fn insert_event(
        &self,
        event: &GatewayEvent,
    ) -> Result<Option<GatewayEvent>, StoreError> {
        let ids = self.tree(TreeId::GatewayEventIds);
        let id_key = keys::gateway_object(&event.gateway, &event.gateway_event_id);
        let key = keys::by_id(&event.account, event.id.as_str());
        let claimed = ids.compare_and_swap(&id_key, None as Option<&[u8]>, Some(key.as_slice()))?;
        if let Err(taken) = claimed {
            let stored_key = taken.current.unwrap_or_default();
            if let Some(stored) = self.gateway_event_at(&stored_key)? {
                return Ok(Some(stored));
            }
            // The first delivery's id entry outlived a crash that its record did not: this
            // delivery takes its place.
            ids.insert(&id_key, key.as_slice())?;
        }
        let payload = self.payloads.append(event.payload.as_bytes())?;
        self.tree(TreeId::EventInbox).insert(&key, &[])?;
        let stored = StoredGatewayEvent::of(event, payload);
        self.tree(TreeId::GatewayEvents).insert(&key, encode(&stored))?;
        Ok(None)
    }

    pub(super) fn event(
        &self,
        account: &AccountId,
        id: &EventId,
    ) -> Result<Option<GatewayEvent>, StoreError> {
        self.gateway_event_at(&keys::by_id(account, id.as_str()))
    }

    pub(super) fn unapplied_events(&self) -> Result<Vec<GatewayEvent>, StoreError> {
        let inbox = self.tree(TreeId::EventInbox);
        let mut events = Vec::new();
        for entry in inbox.iter().keys() {
            let key = entry?;
            match self.gateway_event_at(&key)? {
                Some(event) if event.applied.is_none() => events.push(event),
                // Applied, or never stored: nothing left to do for it.
                _ => {
                    inbox.remove(&key)?;
                }
            }
        }
        // Keys are `account/evt_…`: order across accounts by Kassa's time-ordered id.
        events.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(events)
    }

    pub(super) fn complete_event(
        &self,
        account: &AccountId,
        id: &EventId,
        applied: &Applied,
    ) -> Result<DurableTicket, StoreError> {
        let key = keys::by_id(account, id.as_str());
        self.tree(TreeId::EventOutcomes).insert(&key, encode(applied))?;
        // After the outcome: a crash between the two leaves an inbox entry for an applied
        // event, which the next start drops.
        self.tree(TreeId::EventInbox).remove(&key)?;
        Ok(self.group_commit.written())
    }

    pub(super) fn list_events(
        &self,
        account: &AccountId,
        kind: Option<&str>,
        limit: usize,
        starting_after: Option<&EventId>,
    ) -> Result<Page<GatewayEvent>, StoreError> {
        let mut prefix = account.as_str().as_bytes().to_vec();
        prefix.push(b'/');
        let upper = match starting_after {
            Some(id) => keys::by_id(account, id.as_str()),
            None => {
                let mut end = prefix.clone();
                end.push(0xff);
                end
            }
        };
        let mut items = Vec::with_capacity(limit);
        for item in self.tree(TreeId::GatewayEvents).range(prefix..upper).rev() {
            let (key, bytes) = item?;
            let Some(event) = self.decode_gateway_event(&key, &bytes)? else { continue };
            if kind.is_some_and(|kind| kind != event.kind) {
                continue;
            }
            if items.len() == limit {
                return Ok(Page { items, has_more: true });
            }
            items.push(event);
        }
        Ok(Page { items, has_more: false })
    }
}
