//! Picks the gateways for a charge: routing rules from config (currency, payment-method type,
//! customer country, amount range → an ordered list of gateways; no rule matching → the
//! configured default), a circuit breaker per gateway, and failover that moves to the next
//! gateway ONLY when the previous one provably charged nothing ([`GatewayError::NotAttempted`]:
//! connection refused, DNS failure, rate limited; [`GatewayError::InvalidRequest`]: refused as
//! invalid before processing). A timeout or a 5xx once the request was sent is
//! [`GatewayError::Ambiguous`]: failing over then could charge twice, so the charge stays
//! `processing` at that gateway and recovery settles it with `retrieve`. Only unavailability
//! (`NotAttempted`, `Ambiguous`) counts toward opening a breaker: a gateway that answers "this
//! request is invalid" is working.
//!
//! What the engine does with it:
//! - Build once at start: `Router::new(gateways, &config.routing.default)?`, then
//!   `.with_rules(config.routing.rules)?` (a [`RoutingRule`] deserialises from TOML as
//!   `[[routing.rules]] currencies = ["kes"] method_types = ["mpesa"] countries = ["KE"]
//!   amount_minor_min = 100 amount_minor_max = 15000000 gateways = ["mpesa"]`) and
//!   `.with_breaker(BreakerConfig { failures_to_open, cool_down })`. Clones share breakers.
//! - Charge: build a [`RouteQuery`] and call [`Router::charge_with_failover`]. Its
//!   `before_attempt(gateway, attempt)` hook runs before each gateway is called: the engine must
//!   durably record on the `processing` charge which gateway (and which attempt) it is about to
//!   use, so that recovery after a crash asks THAT gateway's `retrieve`. The answer names the
//!   gateway and attempt that served the charge.
//! - Everything else it sends to a gateway (refunds, retrieve, payment-method lookups) goes to
//!   the gateway recorded with the object ([`Router::by_name`]); [`Router::record`] feeds those
//!   answers to the breaker too. [`Router::breaker_status`] is there for metrics.
//! - Before recording a charge, [`Router::check_charge`] lets the first gateway of the route
//!   refuse what it can never do (M-Pesa: not whole shillings) as a 400.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use crate::{ChargeOutcome, ChargeRequest, Currency, Gateway, GatewayError};

#[derive(Clone)]
pub struct Router {
    gateways: BTreeMap<&'static str, Arc<dyn Gateway>>,
    default: &'static str,
    rules: Arc<Vec<Rule>>,
    breakers: Arc<BTreeMap<&'static str, Breaker>>,
}

#[derive(Debug, thiserror::Error)]
#[error("gateway `{0}` is not enabled")]
pub struct UnknownGateway(pub String);

#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    #[error("routing rule {rule}: gateway `{gateway}` is not enabled")]
    UnknownGateway { rule: usize, gateway: String },
    #[error("routing rule {rule}: `{currency}` is not an ISO-4217 currency code")]
    UnknownCurrency { rule: usize, currency: String },
    #[error("routing rule {rule}: names no gateway")]
    NoGateway { rule: usize },
    #[error("routing rule {rule}: amount_minor_min is above amount_minor_max")]
    EmptyAmountRange { rule: usize },
}

/// The kind of payment method a charge uses, as routing sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentMethodType {
    Card,
    Mpesa,
}

/// One routing rule as written in config. Empty lists and absent bounds match anything; the
/// first rule that matches a charge decides its gateways, in order.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingRule {
    /// Lowercase ISO-4217 codes, as in the API (`kes`, `usd`).
    #[serde(default)]
    pub currencies: Vec<String>,
    #[serde(default)]
    pub method_types: Vec<PaymentMethodType>,
    /// ISO-3166 alpha-2 codes of the customer's address country (`KE`, `ZA`).
    #[serde(default)]
    pub countries: Vec<String>,
    /// Inclusive bounds, in the charge currency's minor units.
    #[serde(default)]
    pub amount_minor_min: Option<i64>,
    #[serde(default)]
    pub amount_minor_max: Option<i64>,
    /// Tried in this order; the next one only when the previous provably charged nothing.
    pub gateways: Vec<String>,
}

/// What routing looks at in a charge.
#[derive(Debug, Clone, Copy)]
pub struct RouteQuery<'a> {
    pub currency: Currency,
    pub method_type: PaymentMethodType,
    pub country: Option<&'a str>,
    pub amount_minor: i64,
}

/// A rule checked and resolved against the enabled gateways.
struct Rule {
    currencies: Vec<Currency>,
    method_types: Vec<PaymentMethodType>,
    countries: Vec<String>,
    amount_minor_min: Option<i64>,
    amount_minor_max: Option<i64>,
    gateways: Vec<&'static str>,
}

impl Rule {
    fn matches(&self, query: &RouteQuery<'_>) -> bool {
        let country_matches = self.countries.is_empty()
            || query.country.is_some_and(|country| {
                self.countries.iter().any(|wanted| wanted.eq_ignore_ascii_case(country))
            });
        (self.currencies.is_empty() || self.currencies.contains(&query.currency))
            && (self.method_types.is_empty() || self.method_types.contains(&query.method_type))
            && country_matches
            && self.amount_minor_min.is_none_or(|min| query.amount_minor >= min)
            && self.amount_minor_max.is_none_or(|max| query.amount_minor <= max)
    }
}

/// When a gateway's breaker opens and how long it stays open before one probe is let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive unavailability errors (refused, timed out, 5xx) that open the breaker.
    pub failures_to_open: u32,
    /// How long an open breaker refuses calls before it lets one probe through (half-open).
    pub cool_down: Duration,
}

impl Default for BreakerConfig {
    fn default() -> BreakerConfig {
        BreakerConfig { failures_to_open: 5, cool_down: Duration::from_secs(30) }
    }
}

/// A breaker's state, as metrics and tests see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerStatus {
    Closed,
    Open,
    HalfOpen,
}

#[derive(Debug, Clone, Copy)]
enum BreakerState {
    Closed {
        consecutive_failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One probe is out. A probe whose answer never comes back (its caller was cancelled) is
    /// replaced after a cool-down, so the breaker cannot stay stuck half-open.
    HalfOpen {
        probe_started: Instant,
    },
}

struct Breaker {
    config: BreakerConfig,
    state: Mutex<BreakerState>,
}

impl Breaker {
    fn new(config: BreakerConfig) -> Breaker {
        Breaker { config, state: Mutex::new(BreakerState::Closed { consecutive_failures: 0 }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BreakerState> {
        // The state is a plain value: a panic elsewhere cannot leave it half-written.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// May a call go to this gateway now? An open breaker past its cool-down lets exactly one
    /// call through as the probe.
    fn allow(&self, now: Instant) -> bool {
        let mut state = self.lock();
        match *state {
            BreakerState::Closed { .. } => true,
            BreakerState::Open { until } | BreakerState::HalfOpen { probe_started: until }
                if now < until =>
            {
                false
            }
            BreakerState::Open { .. } | BreakerState::HalfOpen { .. } => {
                *state = BreakerState::HalfOpen { probe_started: now + self.config.cool_down };
                true
            }
        }
    }

    fn on_answer(&self) {
        *self.lock() = BreakerState::Closed { consecutive_failures: 0 };
    }

    fn on_unavailable(&self, now: Instant) {
        let mut state = self.lock();
        let open = BreakerState::Open { until: now + self.config.cool_down };
        *state = match *state {
            BreakerState::Closed { consecutive_failures } => {
                let failures = consecutive_failures.saturating_add(1);
                match failures >= self.config.failures_to_open.max(1) {
                    true => open,
                    false => BreakerState::Closed { consecutive_failures: failures },
                }
            }
            // The probe failed (or a call admitted before the breaker opened did): open again.
            BreakerState::HalfOpen { .. } | BreakerState::Open { .. } => open,
        };
    }

    fn status(&self, now: Instant) -> BreakerStatus {
        match *self.lock() {
            BreakerState::Closed { .. } => BreakerStatus::Closed,
            BreakerState::Open { until } if now < until => BreakerStatus::Open,
            BreakerState::Open { .. } | BreakerState::HalfOpen { .. } => BreakerStatus::HalfOpen,
        }
    }
}

/// Whether an answer says the gateway is unavailable (for its breaker). Declines and refusals
/// of a bad request (`InvalidRequest`, even when the gateway answered it) are answers from a
/// working gateway: counting them would let a run of bad requests take a healthy gateway out.
fn is_unavailability(error: &GatewayError) -> bool {
    match error {
        GatewayError::NotAttempted(_) | GatewayError::Ambiguous(_) => true,
        GatewayError::InvalidPaymentMethod(_)
        | GatewayError::InvalidRequest(_)
        | GatewayError::Storage(_) => false,
    }
}

/// How a routed charge ended.
#[derive(Debug)]
pub struct RoutedCharge {
    /// The gateway whose answer `result` is (the last one tried).
    pub gateway: &'static str,
    /// That gateway's position in the route, from 1.
    pub attempt: u32,
    pub result: Result<ChargeOutcome, GatewayError>,
    /// Gateways passed over before it, and why (breaker open, refused before processing).
    pub skipped: Vec<(&'static str, String)>,
}

impl Router {
    /// `default` must name one of `gateways`. No rules (every charge goes to the default) and
    /// the default breaker until [`Router::with_rules`] / [`Router::with_breaker`].
    pub fn new(gateways: Vec<Arc<dyn Gateway>>, default: &str) -> Result<Router, UnknownGateway> {
        let gateways: BTreeMap<_, _> =
            gateways.into_iter().map(|gateway| (gateway.name(), gateway)).collect();
        let default = gateways
            .keys()
            .copied()
            .find(|name| *name == default)
            .ok_or_else(|| UnknownGateway(default.to_owned()))?;
        let breakers = breakers_for(&gateways, BreakerConfig::default());
        Ok(Router { gateways, default, rules: Arc::new(Vec::new()), breakers })
    }

    /// Replaces the routing rules, checked against the enabled gateways.
    pub fn with_rules(mut self, rules: Vec<RoutingRule>) -> Result<Router, RoutingError> {
        let resolved = rules
            .into_iter()
            .enumerate()
            .map(|(index, rule)| self.resolve(index, rule))
            .collect::<Result<Vec<_>, _>>()?;
        self.rules = Arc::new(resolved);
        Ok(self)
    }

    /// Replaces every gateway's breaker (closed) with one of this configuration.
    pub fn with_breaker(mut self, config: BreakerConfig) -> Router {
        self.breakers = breakers_for(&self.gateways, config);
        self
    }

    fn resolve(&self, index: usize, rule: RoutingRule) -> Result<Rule, RoutingError> {
        let currencies = rule
            .currencies
            .iter()
            .map(|code| {
                Currency::from_code(&code.to_ascii_uppercase()).ok_or_else(|| {
                    RoutingError::UnknownCurrency { rule: index, currency: code.clone() }
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let gateways = rule
            .gateways
            .iter()
            .map(|name| {
                self.gateways.keys().copied().find(|known| known == name).ok_or_else(|| {
                    RoutingError::UnknownGateway { rule: index, gateway: name.clone() }
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if gateways.is_empty() {
            return Err(RoutingError::NoGateway { rule: index });
        }
        if let (Some(min), Some(max)) = (rule.amount_minor_min, rule.amount_minor_max)
            && min > max
        {
            return Err(RoutingError::EmptyAmountRange { rule: index });
        }
        Ok(Rule {
            currencies,
            method_types: rule.method_types,
            countries: rule.countries,
            amount_minor_min: rule.amount_minor_min,
            amount_minor_max: rule.amount_minor_max,
            gateways,
        })
    }

    /// The gateway new payment methods and charges go to when no rule says otherwise.
    pub fn default_gateway(&self) -> &Arc<dyn Gateway> {
        &self.gateways[self.default]
    }

    /// The gateway that checks a new payment method of this type: the default when it takes
    /// the type, else the first that does, a live one before a test processor.
    pub fn gateway_for_new(&self, method: PaymentMethodType) -> Option<&Arc<dyn Gateway>> {
        let default = self.default_gateway();
        if default.takes(method) {
            return Some(default);
        }
        let taking = || self.gateways.values().filter(move |gateway| gateway.takes(method));
        taking().find(|gateway| gateway.moves_real_money()).or_else(|| taking().next())
    }

    /// The gateway that issued a token or made a charge, by the name stored with it.
    pub fn by_name(&self, name: &str) -> Result<&Arc<dyn Gateway>, UnknownGateway> {
        self.gateways.get(name).ok_or_else(|| UnknownGateway(name.to_owned()))
    }

    /// The gateways a charge may go to, in order: the first matching rule's, else the default.
    pub fn route(&self, query: &RouteQuery<'_>) -> Vec<&'static str> {
        match self.rules.iter().find(|rule| rule.matches(query)) {
            Some(rule) => rule.gateways.clone(),
            None => vec![self.default],
        }
    }

    /// Lets the route's first gateway refuse, before anything is recorded, a charge it can never
    /// carry out (see [`Gateway::check_charge`]).
    pub fn check_charge(
        &self,
        query: &RouteQuery<'_>,
        request: &ChargeRequest,
    ) -> Result<(), GatewayError> {
        let first = self.route(query)[0];
        self.gateways[first].check_charge(request)
    }

    /// May a call go to `gateway` now (its breaker closed, or half-open and this is the probe)?
    /// A caller that is allowed must report the answer with [`Router::record`].
    pub fn breaker_allows(&self, gateway: &str) -> bool {
        self.breakers.get(gateway).is_none_or(|breaker| breaker.allow(Instant::now()))
    }

    /// Feeds a gateway's answer to its breaker.
    pub fn record<T>(&self, gateway: &str, answer: &Result<T, GatewayError>) {
        let Some(breaker) = self.breakers.get(gateway) else {
            return;
        };
        match answer {
            Err(error) if is_unavailability(error) => breaker.on_unavailable(Instant::now()),
            Ok(_) | Err(_) => breaker.on_answer(),
        }
    }

    pub fn breaker_status(&self, gateway: &str) -> Option<BreakerStatus> {
        self.breakers.get(gateway).map(|breaker| breaker.status(Instant::now()))
    }

    /// Charges through the route: each gateway in turn, skipping those whose breaker is open,
    /// moving on only after [`GatewayError::NotAttempted`] or [`GatewayError::InvalidRequest`]
    /// (nothing moved at that gateway). `before_attempt(gateway, attempt)`
    /// runs before each call (the engine records the gateway on the charge there, durably); its
    /// error stops the charge before that gateway is called.
    pub async fn charge_with_failover<F, Fut>(
        &self,
        query: &RouteQuery<'_>,
        request: &ChargeRequest,
        mut before_attempt: F,
    ) -> RoutedCharge
    where
        F: FnMut(&'static str, u32) -> Fut,
        Fut: Future<Output = Result<(), GatewayError>>,
    {
        let route = self.route(query);
        let mut skipped = Vec::new();
        let mut check_refusal = None;
        let mut called_any = false;
        for (index, name) in route.iter().copied().enumerate() {
            let attempt = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let gateway = &self.gateways[name];
            if let Err(error) = gateway.check_charge(request) {
                skipped.push((name, error.to_string()));
                check_refusal.get_or_insert((name, attempt, error));
                continue;
            }
            if !self.breaker_allows(name) {
                skipped.push((name, "circuit breaker open".to_owned()));
                continue;
            }
            if let Err(error) = before_attempt(name, attempt).await {
                return RoutedCharge { gateway: name, attempt, result: Err(error), skipped };
            }
            called_any = true;
            let result = gateway.charge(request).await;
            self.record(name, &result);
            match result {
                Err(
                    GatewayError::NotAttempted(message) | GatewayError::InvalidRequest(message),
                ) => {
                    tracing::warn!(gateway = name, attempt, reason = %message, "failing over");
                    skipped.push((name, message));
                }
                result => return RoutedCharge { gateway: name, attempt, result, skipped },
            }
        }
        // No gateway was called and one refused the request itself: that refusal (a 400) says
        // more than "unavailable".
        if let Some((gateway, attempt, error)) = check_refusal
            && !called_any
        {
            return RoutedCharge { gateway, attempt, result: Err(error), skipped };
        }
        let reasons: Vec<String> =
            skipped.iter().map(|(name, reason)| format!("{name}: {reason}")).collect();
        RoutedCharge {
            gateway: route[route.len() - 1],
            attempt: u32::try_from(route.len()).unwrap_or(u32::MAX),
            result: Err(GatewayError::NotAttempted(format!(
                "no gateway in the route took the charge ({})",
                reasons.join("; ")
            ))),
            skipped,
        }
    }
}

fn breakers_for(
    gateways: &BTreeMap<&'static str, Arc<dyn Gateway>>,
    config: BreakerConfig,
) -> Arc<BTreeMap<&'static str, Breaker>> {
    Arc::new(gateways.keys().map(|name| (*name, Breaker::new(config))).collect())
}
