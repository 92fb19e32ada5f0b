//! The events Kassa sends out to the platform's own services: one per change a platform can act
//! on, written in the same change set as the change (the outbox), so none is lost and none
//! announces what did not happen.

use serde::{Deserialize, Serialize};

use super::{AccountId, CustomerId, EventId, Sealed};

/// An outgoing event as stored. Its id and the account's sequence number are given at commit,
/// in the order the log takes change sets, so both sort as the account's events happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingEvent {
    pub id: EventId,
    pub account: AccountId,
    /// The customer the object belongs to; its key seals `data`. `None`: the account's own.
    pub customer: Option<CustomerId>,
    /// As Stripe names it where Stripe has one (`charge.succeeded`).
    pub kind: String,
    /// The id of the object the event is about.
    pub object_id: String,
    pub created: i64,
    /// Counts the account's events from 1, in commit order.
    pub sequence: u64,
    /// Counts the events about the object from 1; `data.object.version` shows it.
    pub version: u64,
    /// `{object, previous_attributes?}` as JSON, the object as the API showed it then; `None`
    /// while it is sealed or once its customer was erased.
    #[serde(with = "serde_bytes")]
    pub data: Option<Vec<u8>>,
    pub sealed: Option<Sealed>,
    /// Read back from the archive (see `store::archive`); never stored.
    #[serde(skip)]
    pub archived: bool,
}

/// An outgoing event as a change set carries it, before the store numbers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutgoingEvent {
    pub account: AccountId,
    pub customer: Option<CustomerId>,
    pub kind: String,
    pub object_id: String,
    pub created: i64,
    pub version: u64,
    pub data: Option<Vec<u8>>,
    pub sealed: Option<Sealed>,
}

impl NewOutgoingEvent {
    pub fn new(
        account: &AccountId,
        customer: Option<&CustomerId>,
        kind: &str,
        object_id: &str,
        version: u64,
        data: &serde_json::Value,
    ) -> NewOutgoingEvent {
        NewOutgoingEvent {
            account: account.clone(),
            customer: customer.cloned(),
            kind: kind.to_owned(),
            object_id: object_id.to_owned(),
            created: super::time::now_unix_secs(),
            version,
            data: Some(serde_json::to_vec(data).expect("a JSON value always encodes")),
            sealed: None,
        }
    }

    /// The event with the id and the account's sequence number the store gave it at commit.
    pub fn numbered(self, id: EventId, sequence: u64) -> OutgoingEvent {
        let NewOutgoingEvent { account, customer, kind, object_id, created, version, data, sealed } =
            self;
        OutgoingEvent {
            id,
            account,
            customer,
            kind,
            object_id,
            created,
            sequence,
            version,
            data,
            sealed,
            archived: false,
        }
    }
}

impl OutgoingEvent {
    /// The event as the API lists it (and endpoints receive it, written by
    /// [`OutgoingEvent::to_body`]). An erased customer's event keeps its type, object id and
    /// times, and shows the object as erased.
    pub fn to_json(&self) -> serde_json::Value {
        let data = match &self.data {
            Some(bytes) => serde_json::from_slice(bytes).unwrap_or(serde_json::Value::Null),
            None => serde_json::json!({ "object": { "id": self.object_id, "erased": true } }),
        };
        let mut json = serde_json::to_value(self.envelope()).expect("JSON encodes");
        json["data"] = data;
        json
    }

    /// The event's JSON as an endpoint receives it: what [`OutgoingEvent::to_json`] shows, its
    /// stored data put in as it is (checked to be JSON) rather than parsed and written again.
    pub fn to_body(&self) -> Vec<u8> {
        let data = match &self.data {
            Some(bytes) if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() => bytes,
            _ => return serde_json::to_vec(&self.to_json()).expect("JSON encodes"),
        };
        let mut body = serde_json::to_vec(&self.envelope()).expect("JSON encodes");
        // `{…}` becomes `{…,"data":<data>}`.
        body.pop();
        body.extend_from_slice(b",\"data\":");
        body.extend_from_slice(data);
        body.push(b'}');
        body
    }

    fn envelope(&self) -> Envelope<'_> {
        Envelope {
            id: self.id.as_str(),
            object: "event",
            kind: &self.kind,
            created: self.created,
            account: self.account.as_str(),
            sequence: self.sequence,
            archived: self.archived,
        }
    }
}

/// The fields of an event as the API shows it and endpoints receive it, all but its data.
#[derive(Serialize)]
struct Envelope<'a> {
    id: &'a str,
    object: &'static str,
    #[serde(rename = "type")]
    kind: &'a str,
    created: i64,
    account: &'a str,
    sequence: u64,
    archived: bool,
}

/// The event a platform learns a delivery was given up from, and its endpoint disabled from.
pub const DELIVERY_FAILED: &str = "webhook_endpoint.delivery_failed";
pub const ENDPOINT_DISABLED: &str = "webhook_endpoint.disabled";

/// Every type an endpoint may subscribe to; `*` stands for all of them.
pub const EVENT_TYPES: &[&str] = &[
    "charge.succeeded",
    "charge.failed",
    "charge.refunded",
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "refund.created",
    "refund.updated",
    "refund.failed",
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "customer.subscription.trial_will_end",
    "invoice.created",
    "invoice.finalized",
    "invoice.paid",
    "invoice.payment_failed",
    "invoice.payment_action_required",
    "invoice.voided",
    "invoice.marked_uncollectible",
    "invoice.overdue",
    "credit_note.created",
    "payment_method.attached",
    "payment_method.detached",
    "payment_plan.created",
    "payment_plan.updated",
    "payment_plan.canceled",
    "checkout.session.completed",
    "checkout.session.expired",
    "sponsorship.created",
    "sponsorship.updated",
    "payout.created",
    "payout.updated",
    "payout.paid",
    "payout.failed",
    DELIVERY_FAILED,
    ENDPOINT_DISABLED,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn event(data: Option<&[u8]>) -> OutgoingEvent {
        let account = AccountId::parse("acct_a").unwrap();
        let new = NewOutgoingEvent::new(
            &account,
            None,
            "charge.succeeded",
            "ch_1",
            3,
            &serde_json::json!({}),
        );
        let event = new.numbered(EventId::generate(), 42);
        OutgoingEvent { data: data.map(<[u8]>::to_vec), ..event }
    }

    fn parsed(body: &[u8]) -> serde_json::Value {
        serde_json::from_slice(body).expect("the body is JSON")
    }

    #[test]
    fn the_body_sent_is_the_event_the_api_shows() {
        let data = br#"{"object":{"id":"ch_1","amount":11500,"description":"Grade 10 \"maths\""}}"#;
        let event = event(Some(data));
        assert_eq!(parsed(&event.to_body()), event.to_json());
    }

    #[test]
    fn an_erased_or_unreadable_event_is_sent_as_the_api_shows_it() {
        for data in [None, Some(&b"{\"object\": "[..])] {
            let event = event(data);
            assert_eq!(parsed(&event.to_body()), event.to_json(), "{data:?}");
        }
    }

    #[test]
    fn an_event_stored_with_its_data_as_integers_reads_back() {
        let event = event(Some(br#"{"object":{"id":"ch_1","description":"\u00e9t\u00e9"}}"#));
        // The fields in order, as a struct is written, `data` as a plain byte vector: how events
        // were stored before the field was marked `serde_bytes`.
        let before = crate::store::codec::encode(&(
            &event.id,
            &event.account,
            &event.customer,
            &event.kind,
            &event.object_id,
            event.created,
            event.sequence,
            event.version,
            &event.data,
            &event.sealed,
        ));
        let read: OutgoingEvent = crate::store::codec::decode(&before).expect("it reads");
        assert_eq!(read, event);
        assert_ne!(crate::store::codec::encode(&event), before, "now written as one bin");
    }
}
