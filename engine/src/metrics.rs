//! Engine metrics, exposed at `GET /metrics` in Prometheus text format (prometheus-client).
//!
//! One process-wide set: the parts of the engine that record (API, actors, store) reach it
//! through [`global`], so no layer has to thread a handle through the others.

use std::sync::LazyLock;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route's template (`/v1/charges/{id}`), never the raw path: bounded cardinality.
    pub route: &'static str,
    pub method: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChargeLabels {
    pub status: &'static str,
    pub gateway: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GatewayLabels {
    pub gateway: String,
    /// `charge`, `refund`, `retrieve` or `describe`.
    pub operation: &'static str,
    /// What the call ended as: `succeeded`, `declined`, `requires_action`, `pending`, `failed`,
    /// `described`, `not_found` (answers); `refused` (provably not carried out), `unknown`
    /// (timeout, 5xx), `invalid`, `storage_error`; `abandoned` (the engine stopped waiting).
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReviewLabels {
    pub gateway: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BreakerLabels {
    pub gateway: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    /// `pricing`, `proration` or `tax`.
    pub kind: &'static str,
    /// `ok`, `refused` (the rule's own error) or `failed` (trap, fuel, memory, bad output).
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RenewalLabels {
    /// `charge_automatically` or `send_invoice`.
    pub collection: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PaymentAttemptLabels {
    /// `first`, or `retry` for every later attempt (dunning, a new payment method, by hand).
    pub attempt: &'static str,
    /// `paid` or `failed`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SubscriptionLabels {
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectionCloseLabels {
    /// `header_timeout` or `idle_timeout`.
    pub reason: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Latency buckets from 50 µs to ~1.6 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// Commits per flush: 1 to 1024, doubling.
fn batch_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 11))
}

pub struct Metrics {
    registry: Registry,
    pub requests: HistogramFamily<RouteLabels>,
    pub charges: Family<ChargeLabels, Counter>,
    pub gateway_calls: HistogramFamily<GatewayLabels>,
    pub rule_calls: HistogramFamily<RuleLabels>,
    pub flush_duration: Histogram,
    pub flush_batch: Histogram,
    pub actors_resident: Gauge,
    pub actor_messages_in_flight: Gauge<i64, AtomicI64>,
    /// 0 closed, 1 half-open (one probe allowed), 2 open; set when `/metrics` is read.
    pub gateway_breakers: Family<BreakerLabels, Gauge>,
    pub renewals: Family<RenewalLabels, Counter>,
    pub invoice_payment_attempts: Family<PaymentAttemptLabels, Counter>,
    /// Counted from the store at start, then moved by every change of status.
    pub subscriptions: Family<SubscriptionLabels, Gauge>,
    /// Connections the API and metrics listeners hold.
    pub http_connections_open: Gauge,
    /// Connections closed by Kassa at a time limit.
    pub http_connections_closed: Family<ConnectionCloseLabels, Counter>,
    /// Charges held for an operator because the gateway reported another amount.
    pub charges_held_for_review: Family<ReviewLabels, Counter>,
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = HistogramFamily::<RouteLabels>::new_with_constructor(latency_histogram);
        registry.register(
            "kassa_http_request_duration_seconds",
            "HTTP requests by route template, method and status, from arrival to answer",
            requests.clone(),
        );
        let charges = Family::<ChargeLabels, Counter>::default();
        registry.register(
            "kassa_charges",
            "Charges settled, by final status and gateway",
            charges.clone(),
        );
        let gateway_calls =
            HistogramFamily::<GatewayLabels>::new_with_constructor(latency_histogram);
        registry.register(
            "kassa_gateway_call_duration_seconds",
            "Gateway calls by gateway, operation and outcome",
            gateway_calls.clone(),
        );
        let rule_calls = HistogramFamily::<RuleLabels>::new_with_constructor(latency_histogram);
        registry.register(
            "kassa_rule_call_duration_seconds",
            "Isolated rule calls (fresh instance, call, output checks) by kind and outcome",
            rule_calls.clone(),
        );
        let flush_duration = latency_histogram();
        registry.register(
            "kassa_store_flush_duration_seconds",
            "Group-commit flushes: sled flush, blob fsyncs and fdatasync",
            flush_duration.clone(),
        );
        let flush_batch = batch_histogram();
        registry.register(
            "kassa_store_flush_batch_commits",
            "Commits made durable by one flush",
            flush_batch.clone(),
        );
        let actors_resident = Gauge::default();
        registry.register(
            "kassa_actors_resident",
            "Customer actors in memory",
            actors_resident.clone(),
        );
        let actor_messages_in_flight = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "kassa_actor_mailbox_depth",
            "Messages sent to customer actors and not yet answered (queued or being handled)",
            actor_messages_in_flight.clone(),
        );
        let gateway_breakers = Family::<BreakerLabels, Gauge>::default();
        registry.register(
            "kassa_gateway_breaker_state",
            "Each gateway's circuit breaker: 0 closed, 1 half-open, 2 open",
            gateway_breakers.clone(),
        );
        let renewals = Family::<RenewalLabels, Counter>::default();
        registry.register(
            "kassa_subscription_renewals",
            "Subscription periods renewed (a new period invoiced), by collection method",
            renewals.clone(),
        );
        let invoice_payment_attempts = Family::<PaymentAttemptLabels, Counter>::default();
        registry.register(
            "kassa_invoice_payment_attempts",
            "Invoice payment attempts settled, first or retry (dunning), by outcome",
            invoice_payment_attempts.clone(),
        );
        let subscriptions = Family::<SubscriptionLabels, Gauge>::default();
        registry.register("kassa_subscriptions", "Subscriptions by status", subscriptions.clone());
        let http_connections_open = Gauge::default();
        registry.register(
            "kassa_http_connections_open",
            "HTTP connections open (each holds one of server.max_connections)",
            http_connections_open.clone(),
        );
        let http_connections_closed = Family::<ConnectionCloseLabels, Counter>::default();
        registry.register(
            "kassa_http_connections_closed",
            "HTTP connections closed at a time limit: a request head too slow, or idle too long",
            http_connections_closed.clone(),
        );
        let charges_held_for_review = Family::<ReviewLabels, Counter>::default();
        registry.register(
            "kassa_charges_held_for_review",
            "Charges held for review because the gateway reported another amount, by gateway",
            charges_held_for_review.clone(),
        );
        Metrics {
            http_connections_open,
            http_connections_closed,
            registry,
            charges_held_for_review,
            renewals,
            invoice_payment_attempts,
            subscriptions,
            gateway_breakers,
            requests,
            charges,
            gateway_calls,
            rule_calls,
            flush_duration,
            flush_batch,
            actors_resident,
            actor_messages_in_flight,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    pub fn observe_request(
        &self,
        route: &'static str,
        method: &'static str,
        status: u16,
        elapsed: Duration,
    ) {
        let labels = RouteLabels { route, method, status };
        self.requests.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }

    pub fn observe_gateway_call(
        &self,
        gateway: &str,
        operation: &'static str,
        outcome: &'static str,
        elapsed: Duration,
    ) {
        let labels = GatewayLabels { gateway: gateway.to_owned(), operation, outcome };
        self.gateway_calls.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }

    pub fn count_charge(&self, status: &'static str, gateway: &str) {
        self.charges.get_or_create(&ChargeLabels { status, gateway: gateway.to_owned() }).inc();
    }

    pub fn count_held_for_review(&self, gateway: &str) {
        self.charges_held_for_review
            .get_or_create(&ReviewLabels { gateway: gateway.to_owned() })
            .inc();
    }
}

impl Metrics {
    pub fn count_renewal(&self, collection: &'static str) {
        self.renewals.get_or_create(&RenewalLabels { collection }).inc();
    }

    pub fn count_invoice_payment(&self, retry: bool, paid: bool) {
        let attempt = if retry { "retry" } else { "first" };
        let outcome = if paid { "paid" } else { "failed" };
        self.invoice_payment_attempts
            .get_or_create(&PaymentAttemptLabels { attempt, outcome })
            .inc();
    }

    /// A subscription moved from `before` (`None`: it is new) to `after`.
    pub fn move_subscription(&self, before: Option<&'static str>, after: &'static str) {
        if before == Some(after) {
            return;
        }
        if let Some(before) = before {
            self.subscriptions.get_or_create(&SubscriptionLabels { status: before }).dec();
        }
        self.subscriptions.get_or_create(&SubscriptionLabels { status: after }).inc();
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

pub fn global() -> &'static Metrics {
    &METRICS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_exposed() {
        let metrics = Metrics::new();
        metrics.observe_request("/v1/charges", "POST", 200, Duration::from_millis(2));
        metrics.count_charge("succeeded", "sandbox");
        metrics.observe_gateway_call("sandbox", "charge", "succeeded", Duration::from_millis(1));
        metrics.gateway_breakers.get_or_create(&BreakerLabels { gateway: "stripe" }).set(2);
        metrics.flush_duration.observe(0.0002);
        metrics.flush_batch.observe(17.0);
        metrics.actors_resident.set(3);
        metrics.count_renewal("charge_automatically");
        metrics.count_invoice_payment(true, false);
        metrics.move_subscription(None, "active");
        metrics.move_subscription(Some("active"), "past_due");
        metrics.http_connections_open.set(4);
        let closed = ConnectionCloseLabels { reason: "idle_timeout" };
        metrics.http_connections_closed.get_or_create(&closed).inc();
        let text = metrics.encode();
        for name in [
            "kassa_http_request_duration_seconds_bucket{",
            "route=\"/v1/charges\"",
            "kassa_charges_total{",
            "kassa_gateway_call_duration_seconds_count{",
            "kassa_store_flush_duration_seconds_sum",
            "kassa_store_flush_batch_commits_bucket",
            "kassa_actors_resident 3",
            "kassa_actor_mailbox_depth 0",
            "kassa_gateway_breaker_state{gateway=\"stripe\"} 2",
            "kassa_subscription_renewals_total{collection=\"charge_automatically\"} 1",
            "kassa_invoice_payment_attempts_total{attempt=\"retry\",outcome=\"failed\"} 1",
            "kassa_subscriptions{status=\"active\"} 0",
            "kassa_subscriptions{status=\"past_due\"} 1",
            "kassa_http_connections_open 4",
            "kassa_http_connections_closed_total{reason=\"idle_timeout\"} 1",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
    }
}
