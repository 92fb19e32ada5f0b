//! A charge's (or a subscription's) `transfer` and `application_fee_amount`: which payee earns
//! what share of it (of each of its payments), and what the platform keeps of that share. Checked in two steps: the request's form when it is
//! parsed, the amounts once the charge is priced.

use serde::Deserialize;

use crate::api::App;
use crate::api::error::ApiError;
use crate::domain::money::currency_code;
use crate::domain::transfer::WHOLE_BPS;
use crate::domain::{AccountId, ChargeTransfer, Money, PayeeId, TransferTerms};
use crate::limits::AMOUNT_MINOR_MAX;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferInput {
    payee: String,
    amount: Option<i64>,
    percent_bps: Option<i64>,
}

/// A split as asked for, its form checked.
pub struct Split {
    payee: String,
    share: Share,
    application_fee_minor: i64,
}

enum Share {
    Amount(i64),
    BasisPoints(i64),
    Whole,
}

/// The request's split, if it asks for one.
pub fn parse(
    transfer: Option<TransferInput>,
    application_fee_amount: Option<i64>,
) -> Result<Option<Split>, ApiError> {
    let Some(transfer) = transfer else {
        return match application_fee_amount {
            Some(_) => Err(ApiError::validation(
                "application_fee_amount",
                "`application_fee_amount` is what the platform keeps of a `transfer`'s share: \
                 give the `transfer`",
            )),
            None => Ok(None),
        };
    };
    let share = match (transfer.amount, transfer.percent_bps) {
        (Some(_), Some(_)) => {
            return Err(ApiError::validation(
                "transfer",
                "give the share as `transfer.amount` or `transfer.percent_bps`, not both",
            ));
        }
        (Some(amount), None) if (1..=AMOUNT_MINOR_MAX).contains(&amount) => Share::Amount(amount),
        (Some(_), None) => {
            return Err(ApiError::validation(
                "transfer.amount",
                format!("`transfer.amount` is 1 to {AMOUNT_MINOR_MAX}, in the minor unit"),
            ));
        }
        (None, Some(bps)) if (1..=WHOLE_BPS).contains(&bps) => Share::BasisPoints(bps),
        (None, Some(_)) => {
            return Err(ApiError::validation(
                "transfer.percent_bps",
                "`transfer.percent_bps` is 1 to 10000 (100 %)",
            ));
        }
        (None, None) => Share::Whole,
    };
    let application_fee_minor = application_fee_amount.unwrap_or(0);
    if !(0..=AMOUNT_MINOR_MAX).contains(&application_fee_minor) {
        return Err(ApiError::validation(
            "application_fee_amount",
            format!("`application_fee_amount` is 0 to {AMOUNT_MINOR_MAX}, in the minor unit"),
        ));
    }
    Ok(Some(Split { payee: transfer.payee, share, application_fee_minor }))
}

impl Split {
    /// The transfer of a charge of `amount`: the payee found and able to take the currency,
    /// the share within the charge (a share in basis points rounded down: the platform keeps
    /// the fraction) and the fee within the share.
    pub fn resolve(
        self,
        app: &App,
        account: &AccountId,
        amount: Money,
    ) -> Result<ChargeTransfer, ApiError> {
        let terms = self.terms(app, account, amount)?;
        terms.for_payment(amount.amount_minor).ok_or_else(|| {
            ApiError::validation("transfer", "a charge of nothing has no share to transfer")
        })
    }

    /// The terms of a split of payments like `amount` (a subscription's first period): checked
    /// as a charge of `amount` is, and kept to split each later payment the same way.
    pub fn terms(
        self,
        app: &App,
        account: &AccountId,
        amount: Money,
    ) -> Result<TransferTerms, ApiError> {
        let not_found = || ApiError::not_found("payee", &self.payee).with_param("transfer.payee");
        let id = PayeeId::parse(&self.payee).ok_or_else(not_found)?;
        let payee = app.queries.payee_unopened(account, &id)?.ok_or_else(not_found)?;
        if !payee.destination.takes(amount.currency) {
            return Err(ApiError::validation(
                "transfer.payee",
                format!(
                    "payee {} is paid by {}, which cannot take {}",
                    payee.id,
                    payee.destination.kind(),
                    currency_code(amount.currency)
                ),
            ));
        }
        let charged = amount.amount_minor;
        let (amount_minor, percent_bps, share) = match self.share {
            Share::Amount(share) if share > charged => {
                return Err(ApiError::validation(
                    "transfer.amount",
                    format!("`transfer.amount` {share} is above the charge's amount, {charged}"),
                ));
            }
            Share::Amount(share) => (Some(share), None, share),
            Share::BasisPoints(bps) => {
                let share = i128::from(charged) * i128::from(bps) / i128::from(WHOLE_BPS);
                (None, Some(bps), i64::try_from(share).unwrap_or(charged))
            }
            Share::Whole => (None, None, charged),
        };
        if self.application_fee_minor > share {
            return Err(ApiError::validation(
                "application_fee_amount",
                format!(
                    "`application_fee_amount` {} is above the payee's share, {share}",
                    self.application_fee_minor
                ),
            ));
        }
        Ok(TransferTerms {
            payee: payee.id,
            amount_minor,
            percent_bps,
            application_fee_minor: self.application_fee_minor,
            delay_days: payee.payout_schedule.delay_days,
            payee_clock: payee.test_clock,
        })
    }
}
