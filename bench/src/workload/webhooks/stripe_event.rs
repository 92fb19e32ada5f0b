//! The events the `webhooks` scenario delivers: Stripe `payment_intent.*` events as Stripe sends
//! them (envelope with `id`, `api_version`, `created`, `livemode`, `pending_webhooks`, `request`,
//! `type`; `data.object` a full PaymentIntent, ~1.6 KB in all, ~2 KB with a `last_payment_error`).
//! Every field is derived from the event's `EventSpec`, so a re-delivery rebuilds the very same
//! bytes without keeping them. Ids carry the run's tag so that runs against one engine never
//! share an event id.

use std::time::{SystemTime, UNIX_EPOCH};

/// The API version Stripe stamps on events for an account pinned to it.
pub const API_VERSION: &str = "2024-06-20";

/// What a PaymentIntent event says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntentEvent {
    Processing,
    PaymentFailed,
    Succeeded,
}

impl IntentEvent {
    pub fn event_type(self) -> &'static str {
        match self {
            IntentEvent::Processing => "payment_intent.processing",
            IntentEvent::PaymentFailed => "payment_intent.payment_failed",
            IntentEvent::Succeeded => "payment_intent.succeeded",
        }
    }

    /// The PaymentIntent's `status` in an event of this type.
    fn intent_status(self) -> &'static str {
        match self {
            IntentEvent::Processing => "processing",
            IntentEvent::PaymentFailed => "requires_payment_method",
            IntentEvent::Succeeded => "succeeded",
        }
    }
}

/// One event, as the generator keeps it: enough to rebuild its body exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventSpec {
    /// Numbers the event id (`evt_…`) within the run.
    pub serial: u64,
    /// Numbers the PaymentIntent (`pi_…`) within the run; two events of a pair share it.
    pub intent: u64,
    pub kind: IntentEvent,
    /// Stripe's `created` of the event (Unix seconds).
    pub created_unix_secs: i64,
    pub amount_minor: u64,
}

/// The run's tag in every id (8 hex digits): the low 32 bits of the start time in nanoseconds.
pub fn run_tag() -> u32 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_nanos() as u32)
}

pub fn now_unix_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs() as i64)
}

/// `evt_` and 24 characters, like Stripe's.
pub fn event_id(run_tag: u32, serial: u64) -> String {
    format!("evt_3Kb{run_tag:08x}{serial:013}")
}

/// `pi_` and 24 characters, like Stripe's.
pub fn intent_id(run_tag: u32, intent: u64) -> String {
    format!("pi_3Kb{run_tag:08x}{intent:013}")
}

/// The event's JSON, as Stripe would post it.
pub fn event_body(run_tag: u32, spec: &EventSpec) -> String {
    let intent = intent_id(run_tag, spec.intent);
    // The intent was created a little before its first event.
    let intent_created = spec.created_unix_secs - 2 - (spec.intent % 5) as i64;
    let received = match spec.kind {
        IntentEvent::Succeeded => spec.amount_minor,
        IntentEvent::Processing | IntentEvent::PaymentFailed => 0,
    };
    let last_payment_error = match spec.kind {
        IntentEvent::PaymentFailed => declined(run_tag, spec.intent),
        IntentEvent::Processing | IntentEvent::Succeeded => "null".to_owned(),
    };
    let latest_charge = match spec.kind {
        IntentEvent::Processing => "null".to_owned(),
        IntentEvent::PaymentFailed | IntentEvent::Succeeded => {
            format!(r#""ch_3Kb{run_tag:08x}{:013}""#, spec.intent)
        }
    };
    format!(
        concat!(
            r#"{{"id":"{event}","object":"event","api_version":"{api_version}","created":{created},"#,
            r#""data":{{"object":{{"id":"{intent}","object":"payment_intent","amount":{amount},"#,
            r#""amount_capturable":0,"amount_details":{{"tip":{{}}}},"amount_received":{received},"#,
            r#""application":null,"application_fee_amount":null,"#,
            r#""automatic_payment_methods":{{"allow_redirects":"never","enabled":true}},"#,
            r#""canceled_at":null,"cancellation_reason":null,"capture_method":"automatic_async","#,
            r#""client_secret":"{intent}_secret_Bench{run_tag:08x}Xy7Qz","#,
            r#""confirmation_method":"automatic","created":{intent_created},"currency":"usd","#,
            r#""customer":"cus_QbBench{customer:08}","description":"Order {order}","#,
            r#""invoice":null,"last_payment_error":{last_payment_error},"#,
            r#""latest_charge":{latest_charge},"livemode":false,"#,
            r#""metadata":{{"order_id":"{order}","platform":"kassa-bench","channel":"web"}},"#,
            r#""next_action":null,"on_behalf_of":null,"payment_method":"pm_1QbBench{customer:08}","#,
            r#""payment_method_configuration_details":{{"id":"pmc_1QbBenchDefault0","parent":null}},"#,
            r#""payment_method_options":{{"card":{{"installments":null,"mandate_options":null,"#,
            r#""network":null,"request_three_d_secure":"automatic"}}}},"#,
            r#""payment_method_types":["card"],"processing":null,"#,
            r#""receipt_email":"buyer{customer:08}@example.com","review":null,"#,
            r#""setup_future_usage":null,"shipping":null,"source":null,"#,
            r#""statement_descriptor":null,"statement_descriptor_suffix":null,"#,
            r#""status":"{status}","transfer_data":null,"transfer_group":null}}}},"#,
            r#""livemode":false,"pending_webhooks":1,"#,
            r#""request":{{"id":"req_Bench{run_tag:08x}{serial:010}","idempotency_key":"{order}-confirm"}},"#,
            r#""type":"{event_type}"}}"#,
        ),
        event = event_id(run_tag, spec.serial),
        api_version = API_VERSION,
        created = spec.created_unix_secs,
        intent = intent,
        amount = spec.amount_minor,
        received = received,
        run_tag = run_tag,
        intent_created = intent_created,
        customer = spec.intent % 100_000,
        order = spec.intent,
        last_payment_error = last_payment_error,
        latest_charge = latest_charge,
        status = spec.kind.intent_status(),
        serial = spec.serial,
        event_type = spec.kind.event_type(),
    )
}

/// A card decline's `last_payment_error`, as Stripe nests it in a failed PaymentIntent.
fn declined(run_tag: u32, intent: u64) -> String {
    format!(
        concat!(
            r#"{{"charge":"ch_3Kb{run_tag:08x}{intent:013}","code":"card_declined","#,
            r#""decline_code":"insufficient_funds","#,
            r#""doc_url":"https://stripe.com/docs/error-codes/card-declined","#,
            r#""message":"Your card has insufficient funds.","#,
            r#""payment_method":{{"id":"pm_1QbBench{customer:08}","object":"payment_method","#,
            r#""card":{{"brand":"visa","country":"US","exp_month":12,"exp_year":2030,"#,
            r#""funding":"credit","last4":"9995"}},"type":"card"}},"type":"card_error"}}"#,
        ),
        run_tag = run_tag,
        intent = intent,
        customer = intent % 100_000,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: IntentEvent) -> EventSpec {
        EventSpec {
            serial: 42,
            intent: 7,
            kind,
            created_unix_secs: 1_800_000_000,
            amount_minor: 4200,
        }
    }

    #[test]
    fn bodies_are_stripe_events_of_a_real_size() {
        for kind in [IntentEvent::Succeeded, IntentEvent::Processing, IntentEvent::PaymentFailed] {
            let body = event_body(0xabcd_0123, &spec(kind));
            assert!((1_500..=2_300).contains(&body.len()), "{kind:?}: {} bytes", body.len());
            let event: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(event["id"], "evt_3Kbabcd01230000000000042");
            assert_eq!(event["object"], "event");
            assert_eq!(event["type"], kind.event_type());
            assert_eq!(event["created"], 1_800_000_000);
            assert_eq!(event["livemode"], false);
            let intent = &event["data"]["object"];
            assert_eq!(intent["object"], "payment_intent");
            assert_eq!(intent["id"], "pi_3Kbabcd01230000000000007");
            assert_eq!(intent["amount"], 4200);
            assert_eq!(intent["status"], kind.intent_status());
            assert!(intent["metadata"].get("kassa_idempotency_key").is_none());
        }
        let failed: serde_json::Value =
            serde_json::from_str(&event_body(1, &spec(IntentEvent::PaymentFailed))).unwrap();
        let error = &failed["data"]["object"]["last_payment_error"];
        assert_eq!(error["decline_code"], "insufficient_funds");
    }

    #[test]
    fn the_engine_reads_the_bodies_as_payment_intent_events() {
        let body = event_body(9, &spec(IntentEvent::Succeeded));
        use kassa_gateways::webhooks::WebhookSource;
        let webhooks = kassa_gateways::stripe::StripeWebhooks::new("whsec_bench".into());
        let event = webhooks.read(body.as_bytes()).unwrap();
        assert_eq!(event.id, event_id(9, 42));
        assert_eq!(event.kind, "payment_intent.succeeded");
        assert_eq!(event.created, Some(1_800_000_000));
        let named = event.charge.unwrap();
        assert_eq!(named.reference.as_deref(), Some(intent_id(9, 7).as_str()));
        assert!(event.effect.is_some(), "a succeeded PaymentIntent settles its charge");
    }

    #[test]
    fn a_body_is_rebuilt_byte_for_byte() {
        let spec = spec(IntentEvent::Processing);
        assert_eq!(event_body(3, &spec), event_body(3, &spec));
        assert_eq!(event_id(3, 1).len(), "evt_".len() + 24);
        assert_eq!(intent_id(3, 1).len(), "pi_".len() + 24);
    }
}
