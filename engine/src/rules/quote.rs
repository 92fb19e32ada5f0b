//! Pricing and tax for a charge made from line items: the account's pricing rule prices the
//! cart, the discounts are spread over the lines, the account's tax rule taxes what is left, and
//! the result is a [`Breakdown`] naming both rules.
//!
//! An evaluation holds a rule-call slot of its account ([`super::slots`]) while it runs. It is
//! made first in the inline lane ([`super::plugin`]), on the async worker that took the request:
//! the bundled rules, and any rule of their size that keeps to its input, answer there, without
//! the two thread hand-offs the rule threads cost. An evaluation that does not finish inline is
//! made again, in full, on the rule threads ([`super::pool`]); rules are deterministic, so it
//! gives the answer the inline one would have. A slow or endless rule holds a worker for well
//! under a millisecond, and a rule thread for at most `rules.call_timeout_ms` per rule.

use std::sync::Arc;

use super::RulesError;
use super::catalog::{ActiveRule, Catalog};
use super::plugin::{CallError, Lane};
use super::pool::RulePool;
use super::slots::CallSlots;
use super::turn::{MadeCall, PendingCall};
use super::types::{
    CustomerContext, LineItem, Priced, PricingCoupon, PricingRequest, TaxRequest, TaxableLine,
};
use crate::account_directory::AccountDirectory;
use crate::config::RulesConfig;
use crate::domain::{AccountId, Breakdown, Currency, Customer, PluginKind, RuleEvaluation};

/// A cart to price: what the client sent instead of an amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cart {
    pub lines: Vec<LineItem>,
    pub currency: Currency,
    pub coupons: Vec<PricingCoupon>,
}

#[derive(Debug, thiserror::Error)]
pub enum QuoteError {
    #[error(transparent)]
    Rule(#[from] CallError),
    #[error(transparent)]
    Internal(#[from] RulesError),
}

pub struct Rules {
    catalog: Arc<Catalog>,
    slots: CallSlots,
    threads: RulePool,
    /// `rules.seller_country`: where an account that names no country sells from.
    seller_country: String,
    accounts: AccountDirectory,
}

impl Rules {
    pub fn new(
        catalog: Arc<Catalog>,
        config: &RulesConfig,
        accounts: AccountDirectory,
    ) -> Result<Rules, RulesError> {
        let threads = RulePool::start(config.threads as usize)
            .map_err(|error| RulesError(format!("the rule threads did not start: {error}")))?;
        Ok(Rules {
            catalog,
            slots: CallSlots::new(config.concurrent_calls_max, config.account_concurrent_calls_max),
            threads,
            seller_country: config.seller_country.clone(),
            accounts,
        })
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// The country the account sells from, as its tax rule is told: its own setting, else
    /// `rules.seller_country`.
    pub fn seller_country(&self, account: &AccountId) -> String {
        let settings = self.accounts.settings(account);
        settings.country.clone().unwrap_or_else(|| self.seller_country.clone())
    }

    /// Prices and taxes `cart` for `customer` at `now` (Unix seconds).
    pub async fn quote(
        &self,
        account: &AccountId,
        customer: &Customer,
        cart: Cart,
        now: i64,
    ) -> Result<Breakdown, QuoteError> {
        let evaluation = Evaluation {
            pricing: self.catalog.rule(account, PluginKind::Pricing),
            tax: self.catalog.rule(account, PluginKind::Tax),
            request: PricingRequest {
                lines: cart.lines,
                currency: cart.currency,
                customer: customer_context(customer),
                coupons: cart.coupons,
                now,
            },
            seller_country: self.seller_country(account),
        };
        let _slot = self.slots.acquire(account).await?;
        match evaluation.run(Lane::Inline) {
            Err(CallError::NotInline { .. }) => {}
            answered => return Ok(answered?),
        }
        let evaluated = self.threads.run(account, move || evaluation.run(Lane::Full)).await?;
        Ok(evaluated?)
    }

    /// Makes a call an actor's turn could not make inline ([`super::turn`]), on the rule
    /// threads, within `account`'s rule-call slots like a charge's.
    pub async fn call_on_threads(
        &self,
        account: &AccountId,
        pending: PendingCall,
    ) -> Result<MadeCall, RulesError> {
        let _slot = self.slots.acquire(account).await?;
        self.threads.run(account, move || pending.make()).await
    }
}

/// One pricing + tax evaluation, ready to run.
struct Evaluation {
    pricing: ActiveRule,
    tax: ActiveRule,
    request: PricingRequest,
    seller_country: String,
}

impl Evaluation {
    fn run(&self, lane: Lane) -> Result<Breakdown, CallError> {
        let priced = self.pricing.plugin.price_in(&self.request, lane)?;
        let tax_request = TaxRequest {
            lines: taxable_lines(&priced),
            currency: self.request.currency,
            customer: self.request.customer.clone(),
            seller_country: self.seller_country.clone(),
        };
        let taxed = self.tax.plugin.tax_in(&tax_request, lane)?;
        let evaluation = RuleEvaluation {
            pricing: self.pricing.reference.clone(),
            tax: self.tax.reference.clone(),
            evaluated_at: self.request.now,
        };
        Ok(breakdown(priced, taxed, evaluation))
    }
}

pub(crate) fn customer_context(customer: &Customer) -> CustomerContext {
    CustomerContext {
        country: customer.address.as_ref().map(|address| address.country.clone()),
        region: customer.address.as_ref().and_then(|address| address.region.clone()),
        tax_ids: customer.tax_ids.clone(),
        metadata: customer
            .metadata
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect(),
    }
}

fn breakdown(priced: Priced, taxed: super::types::Taxed, evaluation: RuleEvaluation) -> Breakdown {
    // Both checked to be at most AMOUNT_MINOR_MAX: the sum fits an i64; the caller checks it
    // against the largest chargeable amount.
    let total_minor = priced.total_minor + taxed.total_minor();
    Breakdown {
        lines: priced.lines,
        subtotal_minor: priced.subtotal_minor,
        discounts: priced.discounts,
        tax: taxed.lines,
        reverse_charge: taxed.reverse_charge,
        total_minor,
        evaluation,
    }
}

/// The priced lines with the discounts spread over them in proportion to their amounts
/// (largest remainder first), so tax is computed on what the customer actually pays per line.
fn taxable_lines(priced: &Priced) -> Vec<TaxableLine> {
    let amounts: Vec<i64> = priced.lines.iter().map(|line| line.amount_minor).collect();
    let shares = spread_discount(priced.subtotal_minor - priced.total_minor, &amounts);
    priced
        .lines
        .iter()
        .zip(shares)
        .map(|(line, share)| TaxableLine {
            sku: line.sku.clone(),
            amount_minor: line.amount_minor - share,
        })
        .collect()
}

/// Each line's share of `discount`, in proportion to its amount, the odd units to the largest
/// remainders: the shares add up to `discount` exactly.
pub(crate) fn spread_discount(discount: i64, amounts: &[i64]) -> Vec<i64> {
    let discount = i128::from(discount);
    let subtotal: i128 = amounts.iter().map(|amount| i128::from(*amount)).sum();
    let mut shares: Vec<(i128, i128)> = amounts
        .iter()
        .map(|amount| {
            if subtotal == 0 {
                return (0, 0);
            }
            let exact = discount * i128::from(*amount);
            (exact / subtotal, exact % subtotal)
        })
        .collect();
    let mut left = discount - shares.iter().map(|(share, _)| share).sum::<i128>();
    let mut by_remainder: Vec<usize> = (0..shares.len()).collect();
    by_remainder.sort_by(|a, b| shares[*b].1.cmp(&shares[*a].1).then(a.cmp(b)));
    for index in by_remainder {
        if left == 0 || shares[index].1 == 0 {
            break;
        }
        shares[index].0 += 1;
        left -= 1;
    }
    assert_eq!(left, 0, "a discount of {discount} was not fully spread over the lines");
    // Each share is at most the discount, which fits an i64.
    shares.into_iter().map(|(share, _)| share as i64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PricedLine;

    fn priced(amounts: &[i64], discount: i64) -> Priced {
        let subtotal = amounts.iter().sum();
        Priced {
            lines: amounts
                .iter()
                .enumerate()
                .map(|(index, amount)| PricedLine {
                    sku: format!("sku{index}"),
                    quantity: 1,
                    amount_minor: *amount,
                })
                .collect(),
            subtotal_minor: subtotal,
            discounts: Vec::new(),
            total_minor: subtotal - discount,
        }
    }

    fn taxable(amounts: &[i64], discount: i64) -> Vec<i64> {
        taxable_lines(&priced(amounts, discount)).iter().map(|line| line.amount_minor).collect()
    }

    #[test]
    fn discounts_spread_in_proportion_and_add_up_exactly() {
        assert_eq!(taxable(&[1000, 3000], 0), vec![1000, 3000]);
        assert_eq!(taxable(&[1000, 3000], 400), vec![900, 2700]);
        // 100 over three equal lines: 34 + 33 + 33, the odd unit to the first.
        assert_eq!(taxable(&[100, 100, 100], 100), vec![66, 67, 67]);
        assert_eq!(taxable(&[1, 2, 3], 6), vec![0, 0, 0], "a 100 % discount leaves nothing");
        assert_eq!(taxable(&[0, 500], 100), vec![0, 400], "a free line takes no share");
        for (amounts, discount) in [(&[7, 13, 29][..], 17), (&[1, 1, 1, 1, 1, 1, 1][..], 5)] {
            let after: i64 = taxable(amounts, discount).iter().sum();
            assert_eq!(after, amounts.iter().sum::<i64>() - discount);
        }
    }
}
