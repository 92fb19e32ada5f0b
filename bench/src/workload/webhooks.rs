//! `webhooks`: Stripe delivering events to `POST /v1/webhooks/stripe`, signed with the endpoint's
//! secret at the time of sending, as Stripe does. Out of 100 deliveries, by default:
//!
//! - 10 re-send an event already acknowledged (same id, same bytes, signed anew): Stripe retries
//!   whatever it is not sure arrived. Each must be answered `"duplicate": true`.
//! - 10 are the older half of an out-of-order pair: a `payment_intent.processing` or
//!   `payment_intent.payment_failed`, with an earlier `created`, sent after the
//!   `payment_intent.succeeded` of the same PaymentIntent was acknowledged.
//! - the rest are new `payment_intent.succeeded` events, some of which open such a pair.
//!
//! Every first delivery must be answered `"duplicate": false`. A re-send or an older half is only
//! planned once the event before it was acknowledged, so what the engine must answer does not
//! depend on which connection gets there first. Until there is something to re-send, a new event
//! goes instead.
//!
//! The events are about PaymentIntents Kassa has never seen: making real ones takes a Stripe
//! account (or the engine's tests' fake Stripe) behind the engine, which this load generator does
//! not run. That is fine for what this measures, the ingestion path (signature, parse, the charge
//! lookup, a durable deduplicated write, the answer); the engine applies each such event as
//! "ignored: no Kassa charge for pi_…", which is cheaper than settling a real charge.

mod signature;
mod stripe_event;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use hyper::header::{HeaderName, HeaderValue};
use parking_lot::Mutex;
use rand::Rng;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};

use signature::Signer;
pub use stripe_event::EventSpec;
use stripe_event::{IntentEvent, event_body, now_unix_secs, run_tag};

use super::charge::AMOUNT_MINOR_RANGE;
use super::{
    KIND_EVENT, KIND_EVENT_DUPLICATE, KIND_EVENT_PAIR_NEWER, KIND_EVENT_PAIR_OLDER, Kind, Planned,
    expect_success,
};
use crate::client::Answer;
use crate::limits::KNOWN_EVENTS_MAX;
use crate::target::RequestSpec;

/// The engine's Stripe webhook route.
pub const WEBHOOK_PATH: &str = "/v1/webhooks/stripe";
const STRIPE_SIGNATURE: HeaderName = HeaderName::from_static("stripe-signature");
/// The older half of a pair was created up to this many seconds before the newer one.
const OLDER_BY_SECS_MAX: u64 = 30;

/// The shares of deliveries that are not a new event, out of 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EventMix {
    pub duplicate_share: f64,
    pub out_of_order_share: f64,
}

impl EventMix {
    /// Of the new events, the share that opens an out-of-order pair: each pair's older half is
    /// one delivery of `out_of_order_share`, and its newer half one new event.
    pub fn pair_share_of_new(&self) -> f64 {
        // The CLI keeps duplicate + 2 × out-of-order ≤ 1, so this is at most 1 but for rounding.
        let new_share = 1.0 - self.duplicate_share - self.out_of_order_share;
        match self.out_of_order_share {
            0.0 => 0.0,
            share => (share / new_share).min(1.0),
        }
    }
}

pub struct WebhookWorkload {
    signer: Signer,
    mix: EventMix,
    pair_share_of_new: f64,
    run_tag: u32,
    next_serial: AtomicU64,
    next_intent: AtomicU64,
    /// First deliveries answered `duplicate: false`, which may be re-sent. Bounded: the oldest
    /// are forgotten past `KNOWN_EVENTS_MAX`.
    acknowledged: Mutex<VecDeque<EventSpec>>,
    /// Older halves whose newer half was acknowledged, to send next (oldest first).
    older_halves: Mutex<VecDeque<EventSpec>>,
}

impl WebhookWorkload {
    pub fn new(secret: &[u8], mix: EventMix) -> Self {
        Self {
            signer: Signer::new(secret),
            mix,
            pair_share_of_new: mix.pair_share_of_new(),
            run_tag: run_tag(),
            next_serial: AtomicU64::new(0),
            next_intent: AtomicU64::new(0),
            acknowledged: Mutex::new(VecDeque::new()),
            older_halves: Mutex::new(VecDeque::new()),
        }
    }

    pub fn plan(&self, rng: &mut SmallRng) -> Planned {
        let roll: f64 = rng.random();
        let duplicate_end = self.mix.duplicate_share;
        let older_end = duplicate_end + self.mix.out_of_order_share;
        let chosen = match roll {
            _ if roll < duplicate_end => {
                self.any_acknowledged(rng).map(|event| (KIND_EVENT_DUPLICATE, event))
            }
            _ if roll < older_end => {
                self.older_halves.lock().pop_front().map(|event| (KIND_EVENT_PAIR_OLDER, event))
            }
            _ => None,
        };
        let (kind, event) = chosen.unwrap_or_else(|| self.new_event(rng));
        self.delivery(kind, event)
    }

    /// `Ok` for a 200 whose `duplicate` is what this delivery expects: `true` for a re-send,
    /// `false` for a first delivery (which may then be re-sent, or have its older half follow).
    pub fn judge(&self, planned: &Planned, answer: &Answer) -> Result<(), String> {
        expect_success(answer)?;
        let event = planned.event.expect("every webhook delivery carries its event");
        let ack = serde_json::from_slice::<Ack>(&answer.body)
            .map_err(|_| "webhook_answer_unreadable".to_owned())?;
        if !ack.received || !ack.id.starts_with("evt_") {
            return Err("webhook_not_received".to_owned());
        }
        match (planned.kind == KIND_EVENT_DUPLICATE, ack.duplicate) {
            (true, true) => Ok(()),
            (true, false) => Err("resend_answered_new".to_owned()),
            (false, true) => Err("first_delivery_answered_duplicate".to_owned()),
            (false, false) => {
                self.acknowledge(planned.kind, event);
                Ok(())
            }
        }
    }

    fn any_acknowledged(&self, rng: &mut SmallRng) -> Option<EventSpec> {
        let acknowledged = self.acknowledged.lock();
        match acknowledged.is_empty() {
            true => None,
            false => Some(acknowledged[rng.random_range(0..acknowledged.len())]),
        }
    }

    /// A new `payment_intent.succeeded`, created now; some open an out-of-order pair.
    fn new_event(&self, rng: &mut SmallRng) -> (Kind, EventSpec) {
        let event = EventSpec {
            serial: self.next_serial.fetch_add(1, Ordering::Relaxed),
            intent: self.next_intent.fetch_add(1, Ordering::Relaxed),
            kind: IntentEvent::Succeeded,
            created_unix_secs: now_unix_secs(),
            amount_minor: rng.random_range(AMOUNT_MINOR_RANGE),
        };
        let opens_pair = rng.random_bool(self.pair_share_of_new);
        (if opens_pair { KIND_EVENT_PAIR_NEWER } else { KIND_EVENT }, event)
    }

    /// The event's body, signed now.
    fn delivery(&self, kind: Kind, event: EventSpec) -> Planned {
        let body = event_body(self.run_tag, &event);
        let signature = self.signer.header(body.as_bytes(), now_unix_secs());
        let signature = HeaderValue::try_from(signature).expect("a signature is printable ASCII");
        let spec = RequestSpec::post_with_header(WEBHOOK_PATH, body, (STRIPE_SIGNATURE, signature));
        Planned { kind, spec, event: Some(event) }
    }

    fn acknowledge(&self, kind: Kind, event: EventSpec) {
        push_bounded(&mut self.acknowledged.lock(), event);
        if kind == KIND_EVENT_PAIR_NEWER {
            let older = older_half(&event, self.next_serial.fetch_add(1, Ordering::Relaxed));
            push_bounded(&mut self.older_halves.lock(), older);
        }
    }
}

/// What `POST /v1/webhooks/stripe` answers once the event is durable.
#[derive(Deserialize)]
struct Ack {
    received: bool,
    id: String,
    duplicate: bool,
}

/// The event Stripe sent before `newer` about the same PaymentIntent: it went to `processing`,
/// or a first attempt was declined, some seconds earlier.
fn older_half(newer: &EventSpec, serial: u64) -> EventSpec {
    assert_eq!(newer.kind, IntentEvent::Succeeded, "a pair opens with its newest event");
    let kind = match newer.intent % 2 {
        0 => IntentEvent::Processing,
        _ => IntentEvent::PaymentFailed,
    };
    let older_by_secs = 1 + newer.intent % OLDER_BY_SECS_MAX;
    EventSpec {
        serial,
        kind,
        created_unix_secs: newer.created_unix_secs - older_by_secs as i64,
        ..*newer
    }
}

fn push_bounded(events: &mut VecDeque<EventSpec>, event: EventSpec) {
    if events.len() == KNOWN_EVENTS_MAX {
        events.pop_front();
    }
    events.push_back(event);
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use bytes::Bytes;
    use hyper::StatusCode;
    use rand::SeedableRng;

    use super::*;

    const SECRET: &[u8] = b"whsec_bench_test";
    const MIX: EventMix = EventMix { duplicate_share: 0.1, out_of_order_share: 0.1 };

    /// A 200 from the engine, saying whether it had the event already.
    fn engine_answer(duplicate: bool) -> Answer {
        let body = format!(r#"{{"received":true,"id":"evt_01K","duplicate":{duplicate}}}"#);
        Answer { status: StatusCode::OK, replayed: false, body: Bytes::from(body) }
    }

    fn body_json(planned: &Planned) -> serde_json::Value {
        serde_json::from_slice(planned.spec.body.as_deref().unwrap()).unwrap()
    }

    /// Plans `count` deliveries, each answered as a correct engine would before the next.
    fn run(workload: &WebhookWorkload, count: usize) -> Vec<Planned> {
        let mut rng = SmallRng::seed_from_u64(11);
        (0..count)
            .map(|_| {
                let planned = workload.plan(&mut rng);
                let duplicate = planned.kind == KIND_EVENT_DUPLICATE;
                assert_eq!(workload.judge(&planned, &engine_answer(duplicate)), Ok(()));
                planned
            })
            .collect()
    }

    #[test]
    fn the_mix_follows_its_shares() {
        let workload = WebhookWorkload::new(SECRET, MIX);
        let planned = run(&workload, 20_000);
        let mut counts = BTreeMap::new();
        for delivery in &planned {
            *counts.entry(delivery.kind).or_insert(0u32) += 1;
        }
        let share = |kind| counts[kind] as f64 / planned.len() as f64;
        assert!((share(KIND_EVENT_DUPLICATE) - 0.1).abs() < 0.01, "{counts:?}");
        assert!((share(KIND_EVENT_PAIR_OLDER) - 0.1).abs() < 0.01, "{counts:?}");
        let new = share(KIND_EVENT) + share(KIND_EVENT_PAIR_NEWER);
        assert!((new - 0.8).abs() < 0.015, "{counts:?}");
    }

    #[test]
    fn an_older_half_follows_its_newer_half_with_an_earlier_created() {
        let workload = WebhookWorkload::new(SECRET, MIX);
        let planned = run(&workload, 5_000);
        // PaymentIntent → (created, position) of its `succeeded`.
        let mut succeeded: HashMap<String, (i64, usize)> = HashMap::new();
        let mut pairs = 0;
        for (position, delivery) in planned.iter().enumerate() {
            let body = body_json(delivery);
            let intent = body["data"]["object"]["id"].as_str().unwrap().to_owned();
            let created = body["created"].as_i64().unwrap();
            let kind = body["type"].as_str().unwrap();
            match delivery.kind {
                KIND_EVENT_PAIR_NEWER => {
                    assert_eq!(kind, "payment_intent.succeeded");
                    succeeded.insert(intent, (created, position));
                }
                KIND_EVENT_PAIR_OLDER => {
                    let (newer_created, newer_position) = succeeded[&intent];
                    assert!(newer_position < position, "sent after its newer half");
                    assert!(created < newer_created, "{created} vs {newer_created}");
                    assert!(
                        kind == "payment_intent.processing"
                            || kind == "payment_intent.payment_failed",
                        "{kind}"
                    );
                    pairs += 1;
                }
                _ => {}
            }
        }
        assert!(pairs > 400, "{pairs} pairs completed");
    }

    #[test]
    fn a_resend_is_the_same_event_signed_anew_and_only_after_its_acknowledgement() {
        let workload = WebhookWorkload::new(SECRET, MIX);
        let mut rng = SmallRng::seed_from_u64(3);
        // Nothing acknowledged yet: only new events.
        let unanswered: Vec<_> = (0..200).map(|_| workload.plan(&mut rng)).collect();
        assert!(
            unanswered
                .iter()
                .all(|planned| planned.kind == KIND_EVENT || planned.kind == KIND_EVENT_PAIR_NEWER)
        );
        let planned = run(&workload, 2_000);
        let firsts: HashMap<u64, &Planned> = planned
            .iter()
            .filter(|planned| planned.kind != KIND_EVENT_DUPLICATE)
            .map(|planned| (planned.event.unwrap().serial, planned))
            .collect();
        for resend in planned.iter().filter(|planned| planned.kind == KIND_EVENT_DUPLICATE) {
            let first = firsts[&resend.event.unwrap().serial];
            assert_eq!(resend.spec.body, first.spec.body, "the same bytes");
        }
        for delivery in &planned {
            let (name, signature) = delivery.spec.extra_header.clone().unwrap();
            assert_eq!(name, "stripe-signature");
            let verified = kassa_gateways::stripe::signature::verify(
                SECRET,
                signature.to_str().ok(),
                delivery.spec.body.as_deref().unwrap(),
                now_unix_secs(),
            );
            assert_eq!(verified, Ok(()));
            assert!(delivery.spec.idempotency_key.is_none());
            assert_eq!(delivery.spec.path, WEBHOOK_PATH);
        }
    }

    #[test]
    fn a_wrong_duplicate_flag_or_a_refusal_is_an_error_class() {
        let workload = WebhookWorkload::new(SECRET, MIX);
        let mut rng = SmallRng::seed_from_u64(5);
        let first = workload.plan(&mut rng);
        assert_eq!(
            workload.judge(&first, &engine_answer(true)),
            Err("first_delivery_answered_duplicate".to_owned())
        );
        let resend = Planned { kind: KIND_EVENT_DUPLICATE, ..first.clone() };
        assert_eq!(
            workload.judge(&resend, &engine_answer(false)),
            Err("resend_answered_new".to_owned())
        );
        let refused = Answer {
            status: StatusCode::BAD_REQUEST,
            replayed: false,
            body: Bytes::from_static(br#"{"error":{"code":"signature_invalid","message":"x"}}"#),
        };
        assert_eq!(workload.judge(&first, &refused), Err("http_400_signature_invalid".to_owned()));
        let odd =
            Answer { status: StatusCode::OK, replayed: false, body: Bytes::from_static(b"{}") };
        assert_eq!(workload.judge(&first, &odd), Err("webhook_answer_unreadable".to_owned()));
    }

    #[test]
    fn without_shares_every_delivery_is_a_new_event() {
        let mix = EventMix { duplicate_share: 0.0, out_of_order_share: 0.0 };
        let workload = WebhookWorkload::new(SECRET, mix);
        assert!(run(&workload, 500).iter().all(|planned| planned.kind == KIND_EVENT));
    }
}
