//! Rule calls made inside a customer's actor turn: an invoice priced, taxed or prorated in the
//! turn that decides it, so its numbers cannot drift from the state they were computed for.
//!
//! An actor's thread serves every customer of its shard, so a call made there may only run
//! inline ([`Lane::Inline`]: well under a millisecond, every import a trap). A call that does
//! not finish inline is not made there: the turn stops with [`TurnCallError::NeedsThreads`]
//! before it keeps anything; the actor makes that one call on the rule threads, within its
//! account's rule-call slots ([`Rules::call_on_threads`]), keeps the answer in its
//! [`RuleAnswers`], and runs the turn again, which finds the answer there. Rules are
//! deterministic, so the kept answer is the one the call would have given in the turn, and
//! stays right for any later turn that makes the same call.

use std::collections::VecDeque;

use super::plugin::{CallError, Lane};
use super::quote::Rules;
use super::types::{Priced, PricingRequest, Prorated, ProrationRequest, TaxRequest, Taxed};
use super::{ActiveRule, Catalog};
use crate::domain::AccountId;
use crate::limits::RULE_ANSWERS_KEPT_MAX;

/// A call that the turn could not make inline, to be made on the rule threads.
#[derive(Debug, Clone)]
pub struct PendingCall {
    pub rule: ActiveRule,
    pub call: RuleCall,
}

#[derive(Debug, Clone)]
pub enum RuleCall {
    Price(PricingRequest),
    Tax(TaxRequest),
    Prorate(ProrationRequest),
}

/// A call made in full, with its request, ready to be kept.
pub struct MadeCall {
    sha256: String,
    answer: Answer,
}

enum Answer {
    Priced(PricingRequest, Result<Priced, CallError>),
    Taxed(TaxRequest, Result<Taxed, CallError>),
    Prorated(ProrationRequest, Result<Prorated, CallError>),
}

impl PendingCall {
    /// Makes the call in full: on a rule thread, never on an actor's or the API's.
    pub(super) fn make(self) -> MadeCall {
        let plugin = &self.rule.plugin;
        let answer = match self.call {
            RuleCall::Price(request) => {
                let answer = plugin.price_in(&request, Lane::Full);
                Answer::Priced(request, answer)
            }
            RuleCall::Tax(request) => {
                let answer = plugin.tax_in(&request, Lane::Full);
                Answer::Taxed(request, answer)
            }
            RuleCall::Prorate(request) => {
                let answer = plugin.prorate_in(&request, Lane::Full);
                Answer::Prorated(request, answer)
            }
        };
        MadeCall { sha256: plugin.sha256().to_owned(), answer }
    }
}

/// Why a rule call in a turn gave no answer.
#[derive(Debug, Clone)]
pub enum TurnCallError {
    /// The rule refused or failed: final.
    Call(CallError),
    /// The call did not finish inline: make it on the rule threads, then run the turn again.
    NeedsThreads(Box<PendingCall>),
}

impl From<CallError> for TurnCallError {
    fn from(error: CallError) -> TurnCallError {
        TurnCallError::Call(error)
    }
}

/// Answers of calls made on the rule threads for an actor's turns, each under the component
/// (by its hash) and the exact request it answers. Only answers are kept: a refusal or failure
/// ends the turn it was made for, as it would have inline. The oldest go first past
/// [`RULE_ANSWERS_KEPT_MAX`] per kind: a turn needs only the ones of its own rounds.
#[derive(Default)]
pub struct RuleAnswers {
    priced: Kept<PricingRequest, Priced>,
    taxed: Kept<TaxRequest, Taxed>,
    prorated: Kept<ProrationRequest, Prorated>,
}

impl RuleAnswers {
    /// Keeps the call's answer for the turn run again; a call that gave none answers why.
    pub fn keep(&mut self, made: MadeCall) -> Result<(), CallError> {
        match made.answer {
            Answer::Priced(request, answer) => self.priced.keep(made.sha256, request, answer?),
            Answer::Taxed(request, answer) => self.taxed.keep(made.sha256, request, answer?),
            Answer::Prorated(request, answer) => self.prorated.keep(made.sha256, request, answer?),
        }
        Ok(())
    }
}

struct Kept<Q, A> {
    entries: VecDeque<(String, Q, A)>,
}

impl<Q, A> Default for Kept<Q, A> {
    fn default() -> Self {
        Kept { entries: VecDeque::new() }
    }
}

impl<Q: PartialEq, A: Clone> Kept<Q, A> {
    fn keep(&mut self, sha256: String, request: Q, answer: A) {
        if self.entries.len() == RULE_ANSWERS_KEPT_MAX {
            self.entries.pop_front();
        }
        self.entries.push_back((sha256, request, answer));
    }

    fn find(&self, rule: &ActiveRule, request: &Q) -> Option<A> {
        self.entries
            .iter()
            .find(|(sha256, kept, _)| sha256 == rule.plugin.sha256() && kept == request)
            .map(|(_, _, answer)| answer.clone())
    }
}

/// The rules as a turn calls them: an answer kept from the rule threads, else inline.
pub struct TurnRules<'a> {
    rules: &'a Rules,
    answers: &'a RuleAnswers,
}

impl<'a> TurnRules<'a> {
    pub fn new(rules: &'a Rules, answers: &'a RuleAnswers) -> TurnRules<'a> {
        TurnRules { rules, answers }
    }

    pub fn catalog(&self) -> &Catalog {
        self.rules.catalog()
    }

    pub fn seller_country(&self, account: &AccountId) -> String {
        self.rules.seller_country(account)
    }

    pub fn price(
        &self,
        rule: &ActiveRule,
        request: PricingRequest,
    ) -> Result<Priced, TurnCallError> {
        if let Some(answer) = self.answers.priced.find(rule, &request) {
            return Ok(answer);
        }
        match rule.plugin.price_in(&request, Lane::Inline) {
            Err(CallError::NotInline { .. }) => Err(needs_threads(rule, RuleCall::Price(request))),
            answer => Ok(answer?),
        }
    }

    pub fn tax(&self, rule: &ActiveRule, request: TaxRequest) -> Result<Taxed, TurnCallError> {
        if let Some(answer) = self.answers.taxed.find(rule, &request) {
            return Ok(answer);
        }
        match rule.plugin.tax_in(&request, Lane::Inline) {
            Err(CallError::NotInline { .. }) => Err(needs_threads(rule, RuleCall::Tax(request))),
            answer => Ok(answer?),
        }
    }

    pub fn prorate(
        &self,
        rule: &ActiveRule,
        request: ProrationRequest,
    ) -> Result<Prorated, TurnCallError> {
        if let Some(answer) = self.answers.prorated.find(rule, &request) {
            return Ok(answer);
        }
        match rule.plugin.prorate_in(&request, Lane::Inline) {
            Err(CallError::NotInline { .. }) => {
                Err(needs_threads(rule, RuleCall::Prorate(request)))
            }
            answer => Ok(answer?),
        }
    }
}

fn needs_threads(rule: &ActiveRule, call: RuleCall) -> TurnCallError {
    TurnCallError::NeedsThreads(Box::new(PendingCall { rule: rule.clone(), call }))
}
