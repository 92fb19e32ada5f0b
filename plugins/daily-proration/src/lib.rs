//! Kassa's bundled proration rule: on a plan change within a period, a credit for the unused
//! rest of the old plan and a charge for the new plan over that same rest, to the second.
//!
//! - `proration`: the arithmetic and its refusals.
//!
//! The input's `currency` is not read: old and new prices are in that one currency, and
//! prorating is the same for every minor unit.

mod proration;

use kassa_rules_sdk::{ProrationInput, ProrationOutput, ProrationRule, RuleError};

pub struct DailyProration;

impl ProrationRule for DailyProration {
    fn prorate(input: ProrationInput) -> Result<ProrationOutput, RuleError> {
        proration::prorate(&input)
    }
}

kassa_rules_sdk::export_proration_rule!(DailyProration);
