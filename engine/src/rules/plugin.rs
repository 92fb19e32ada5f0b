//! A loaded rule and its typed calls. Every call gets a fresh instance from an `InstancePre`
//! (pooled, so ~µs), runs under fuel, a wall-clock deadline and the memory cap, and has its
//! output checked before the engine sees it. A call's failure is that call's alone: the instance
//! is dropped with its store.
//!
//! A call is made in one of two lanes:
//! - in full: `rules.fuel_per_call`, and the WASI imports satisfied by a context that grants
//!   nothing ([`super::isolation`]); its answer, or its failure, is final;
//! - inline, on one of the API's async workers: at most [`RULE_INLINE_FUEL`] instructions, and
//!   every import a trap, since WASI's synchronous host calls must not run on an async worker.
//!   A rule's answer, its refusal or a refused output is as final as in full (a rule is
//!   deterministic), but a call stopped for any other reason — out of the budget, a trap, a WASI
//!   call such as a panic's message — answers [`CallError::NotInline`], and is made again in
//!   full, where it runs to its own end and its failure is described.

use std::time::Instant;

use wasmtime::component::Component;
use wasmtime::{Store, Trap};

use super::bindings::{RuleError, pricing, proration, tax};
use super::deadline::WaitRefused;
use super::isolation::{CallLimits, Isolated, MemoryCapExceeded};
use super::types::{Priced, PricingRequest, Prorated, ProrationRequest, TaxRequest, Taxed};
use super::{check, convert};
use crate::domain::PluginKind;
use crate::limits::RULE_INLINE_FUEL;
use crate::metrics::RuleLabels;

/// A rule call that gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The rule declined the input (its own `rule-error`): the request is at fault.
    #[error("the {kind} rule refused the request: {message}")]
    Refused { kind: PluginKind, message: String },
    /// The rule trapped, ran out of fuel or memory, or answered nonsense: the rule is at fault.
    #[error("the {kind} rule failed: {cause}")]
    Failed { kind: PluginKind, cause: String },
    /// A call in [`Lane::Inline`] stopped before it answered; not a verdict
    /// on the rule: the same call made in full gives it. Never returned by a call made in full.
    #[error("the {kind} rule could not finish inline")]
    NotInline { kind: PluginKind },
}

pub(super) enum RulePre {
    Pricing(pricing::PricingRulePre<Isolated>),
    Proration(proration::ProrationRulePre<Isolated>),
    Tax(tax::TaxRulePre<Isolated>),
}

impl RulePre {
    fn engine(&self) -> &wasmtime::Engine {
        match self {
            RulePre::Pricing(pre) => pre.engine(),
            RulePre::Proration(pre) => pre.engine(),
            RulePre::Tax(pre) => pre.engine(),
        }
    }

    fn component(&self) -> &Component {
        match self {
            RulePre::Pricing(pre) => pre.instance_pre().component(),
            RulePre::Proration(pre) => pre.instance_pre().component(),
            RulePre::Tax(pre) => pre.instance_pre().component(),
        }
    }
}

/// The component, prepared against each lane's imports.
pub(super) struct LanePres {
    /// Against the WASI context that grants nothing.
    pub full: RulePre,
    /// Against imports that all trap.
    pub inline: RulePre,
}

/// Where a call is made (see the module's comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Full,
    Inline,
}

pub struct Plugin {
    kind: PluginKind,
    sha256: String,
    pres: LanePres,
    limits: CallLimits,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin").field("kind", &self.kind).field("sha256", &self.sha256).finish()
    }
}

impl Plugin {
    pub(super) fn new(
        kind: PluginKind,
        sha256: String,
        pres: LanePres,
        limits: CallLimits,
    ) -> Plugin {
        Plugin { kind, sha256, pres, limits }
    }

    pub fn kind(&self) -> PluginKind {
        self.kind
    }

    /// SHA-256 of the component's bytes, lower-case hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The compiled component, for the on-disk cache.
    pub(super) fn component(&self) -> &Component {
        self.pres.full.component()
    }

    pub fn price(&self, request: &PricingRequest) -> Result<Priced, CallError> {
        self.price_in(request, Lane::Full)
    }

    pub fn price_in(&self, request: &PricingRequest, lane: Lane) -> Result<Priced, CallError> {
        self.timed(|| self.call_price(request, lane))
    }

    pub fn tax(&self, request: &TaxRequest) -> Result<Taxed, CallError> {
        self.tax_in(request, Lane::Full)
    }

    pub fn tax_in(&self, request: &TaxRequest, lane: Lane) -> Result<Taxed, CallError> {
        self.timed(|| self.call_tax(request, lane))
    }

    pub fn prorate(&self, request: &ProrationRequest) -> Result<Prorated, CallError> {
        self.prorate_in(request, Lane::Full)
    }

    pub fn prorate_in(
        &self,
        request: &ProrationRequest,
        lane: Lane,
    ) -> Result<Prorated, CallError> {
        self.timed(|| self.call_prorate(request, lane))
    }

    fn timed<T>(&self, call: impl FnOnce() -> Result<T, CallError>) -> Result<T, CallError> {
        let started = Instant::now();
        let result = call();
        let outcome = match &result {
            Ok(_) => "ok",
            Err(CallError::Refused { .. }) => "refused",
            Err(CallError::Failed { .. }) => "failed",
            Err(CallError::NotInline { .. }) => "not_inline",
        };
        crate::metrics::global()
            .rule_calls
            .get_or_create(&RuleLabels { kind: self.kind.as_str(), outcome })
            .observe(started.elapsed().as_secs_f64());
        result
    }

    /// A fresh store for a call in `lane`, and the prepared component to instantiate in it.
    fn prepare(&self, lane: Lane) -> (&RulePre, Store<Isolated>) {
        let (pre, limits) = match lane {
            Lane::Full => (&self.pres.full, self.limits),
            Lane::Inline => (
                &self.pres.inline,
                CallLimits { fuel: self.limits.fuel.min(RULE_INLINE_FUEL), ..self.limits },
            ),
        };
        (pre, Isolated::store(pre.engine(), limits))
    }

    fn call_price(&self, request: &PricingRequest, lane: Lane) -> Result<Priced, CallError> {
        let (RulePre::Pricing(pre), mut store) = self.prepare(lane) else {
            return Err(self.wrong_kind(PluginKind::Pricing));
        };
        let input = convert::pricing_input(request);
        let answer = pre
            .instantiate(&mut store)
            .and_then(|rule| rule.kassa_rules_pricing().call_price(&mut store, &input));
        let output = self.settle(answer, &store, lane)?;
        check::priced(request, output).map_err(|cause| self.failed(cause))
    }

    fn call_tax(&self, request: &TaxRequest, lane: Lane) -> Result<Taxed, CallError> {
        let (RulePre::Tax(pre), mut store) = self.prepare(lane) else {
            return Err(self.wrong_kind(PluginKind::Tax));
        };
        let input = convert::tax_input(request);
        let answer = pre
            .instantiate(&mut store)
            .and_then(|rule| rule.kassa_rules_tax().call_calculate(&mut store, &input));
        let output = self.settle(answer, &store, lane)?;
        check::taxed(request, output).map_err(|cause| self.failed(cause))
    }

    fn call_prorate(&self, request: &ProrationRequest, lane: Lane) -> Result<Prorated, CallError> {
        let (RulePre::Proration(pre), mut store) = self.prepare(lane) else {
            return Err(self.wrong_kind(PluginKind::Proration));
        };
        let input = convert::proration_input(request);
        let answer = pre
            .instantiate(&mut store)
            .and_then(|rule| rule.kassa_rules_proration().call_prorate(&mut store, &input));
        let output = self.settle(answer, &store, lane)?;
        check::prorated(request, output).map_err(|cause| self.failed(cause))
    }

    /// Instantiates once without calling: proves at upload that the component fits the pool and
    /// the memory cap, and that its start-up code finishes within the fuel.
    pub(super) fn try_instantiate(&self) -> Result<(), String> {
        let (pre, mut store) = self.prepare(Lane::Full);
        let instantiated = match pre {
            RulePre::Pricing(pre) => pre.instantiate(&mut store).map(drop),
            RulePre::Proration(pre) => pre.instantiate(&mut store).map(drop),
            RulePre::Tax(pre) => pre.instantiate(&mut store).map(drop),
        };
        instantiated.map_err(|error| describe_failure(&error, &store, self.limits))
    }

    /// The call's answer, or why there is none.
    fn settle<T>(
        &self,
        answer: wasmtime::Result<Result<T, RuleError>>,
        store: &Store<Isolated>,
        lane: Lane,
    ) -> Result<T, CallError> {
        match answer {
            Ok(Ok(output)) => Ok(output),
            Ok(Err(RuleError::InvalidInput(message) | RuleError::Unsupported(message))) => {
                Err(CallError::Refused { kind: self.kind, message: bounded(&message) })
            }
            Err(_) if lane == Lane::Inline => Err(CallError::NotInline { kind: self.kind }),
            Err(error) => Err(self.failed(describe_failure(&error, store, self.limits))),
        }
    }

    fn failed(&self, cause: String) -> CallError {
        CallError::Failed { kind: self.kind, cause }
    }

    fn wrong_kind(&self, asked: PluginKind) -> CallError {
        // The catalog only hands out plugins by kind: this is a bug, but not worth a panic in a
        // request path.
        self.failed(format!("a {} rule was called as a {asked} rule", self.kind))
    }
}

/// What stopped a call, in words a rule's author can act on.
fn describe_failure(
    error: &wasmtime::Error,
    store: &Store<Isolated>,
    limits: CallLimits,
) -> String {
    if let Some(cap) = error.downcast_ref::<MemoryCapExceeded>() {
        return cap.to_string();
    }
    if let Some(wait) = error.downcast_ref::<WaitRefused>() {
        return wait.to_string();
    }
    let cause = match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => format!(
            "it ran out of its instruction budget ({} instructions, rules.fuel_per_call): an \
             endless or too long loop",
            limits.fuel
        ),
        Some(Trap::Interrupt) => format!(
            "it ran past its time limit of {} ms (rules.call_timeout_ms)",
            limits.timeout.as_millis()
        ),
        Some(Trap::StackOverflow) => "it overflowed its call stack: unbounded recursion".to_owned(),
        Some(Trap::UnreachableCodeReached) => {
            "it trapped at `unreachable`: a panic or abort in the rule".to_owned()
        }
        Some(Trap::MemoryOutOfBounds) => {
            "it accessed memory out of bounds (a Rust rule does this when its stack overflows)"
                .to_owned()
        }
        Some(trap) => format!("it trapped: {trap}"),
        None => format!("it could not be run: {}", super::component::root_cause(error)),
    };
    match store.data().stderr_excerpt() {
        Some(excerpt) => format!("{cause}; it wrote to stderr: {excerpt}"),
        None => cause,
    }
}

/// A rule's own message, cut to a length fit for an error response.
fn bounded(message: &str) -> String {
    message.chars().take(500).collect()
}
