//! The sandbox as a payout processor: it pays any destination in any currency, records each
//! payout in its ledger under its idempotency key before it answers, and behaves as real
//! destinations do for a few test destinations, as Stripe's test bank accounts do:
//!
//! | destination                       | outcome                                              |
//! |-----------------------------------|------------------------------------------------------|
//! | bank account `000111111116`       | failed, `no_account`                                 |
//! | bank account `000111111113`       | failed, `account_closed`                             |
//! | bank account `000555555559`       | paid, but the answer is lost (a timeout)             |
//! | M-Pesa phone `254700000001`       | failed, `invalid_account_number`                     |
//! | connected account `acct_closed`   | failed, `account_closed`                             |
//!
//! Payouts to an M-Pesa phone are held to B2C's limit per transaction, KES 250 000.

use super::SandboxGateway;
use super::ledger::{PayoutRecord, PayoutResult};
use crate::payouts::{PayoutAdapter, PayoutDestination, PayoutOutcome, PayoutRequest};
use crate::time::now_unix_secs;
use crate::{Currency, GatewayError};

/// M-Pesa B2C's largest payment, in cents of a shilling.
pub const MPESA_TRANSACTION_MAX_MINOR: i64 = 25_000_000;

/// What the sandbox does with a payout to `destination`.
enum Behaviour {
    Pay,
    Fail {
        code: &'static str,
        message: &'static str,
    },
    /// Pays, then answers as a timed-out call would: the status query finds it paid.
    PayAndLoseTheAnswer,
}

fn behaviour(destination: &PayoutDestination) -> Behaviour {
    let fail = |code, message| Behaviour::Fail { code, message };
    match destination {
        PayoutDestination::BankAccount { account_number, .. } => match account_number.as_str() {
            "000111111116" => fail("no_account", "the bank has no account with this number"),
            "000111111113" => fail("account_closed", "the bank account is closed"),
            "000555555559" => Behaviour::PayAndLoseTheAnswer,
            _ => Behaviour::Pay,
        },
        PayoutDestination::Mpesa { phone } if phone == "254700000001" => {
            fail("invalid_account_number", "the phone number is not registered for M-Pesa")
        }
        PayoutDestination::Stripe { account } if account == "acct_closed" => {
            fail("account_closed", "the connected account is closed")
        }
        PayoutDestination::Mpesa { .. } | PayoutDestination::Stripe { .. } => Behaviour::Pay,
    }
}

fn outcome(record: &PayoutRecord) -> PayoutOutcome {
    match &record.result {
        PayoutResult::Paid { reference } => PayoutOutcome::Paid { reference: reference.clone() },
        PayoutResult::Failed { code, message } => {
            PayoutOutcome::Failed { code: code.clone(), message: message.clone() }
        }
    }
}

#[async_trait::async_trait]
impl PayoutAdapter for SandboxGateway {
    fn method(&self) -> &'static str {
        super::NAME
    }

    fn pays_to(&self, _destination: &PayoutDestination) -> bool {
        true
    }

    fn transaction_max(&self, destination: &PayoutDestination, currency: Currency) -> Option<i64> {
        match destination {
            PayoutDestination::Mpesa { .. } if currency == Currency::KES => {
                Some(MPESA_TRANSACTION_MAX_MINOR)
            }
            _ => None,
        }
    }

    fn check_payout(&self, request: &PayoutRequest) -> Result<(), GatewayError> {
        match request.destination {
            PayoutDestination::Mpesa { .. } if request.currency != Currency::KES => Err(
                GatewayError::InvalidRequest("M-Pesa pays out Kenyan shillings only".to_owned()),
            ),
            _ => Ok(()),
        }
    }

    async fn pay(&self, request: &PayoutRequest) -> Result<PayoutOutcome, GatewayError> {
        self.check_payout(request)?;
        self.round_trip().await;
        let behaviour = behaviour(&request.destination);
        let result = match behaviour {
            Behaviour::Pay | Behaviour::PayAndLoseTheAnswer => {
                PayoutResult::Paid { reference: self.ledger.new_reference("sbx_po_") }
            }
            Behaviour::Fail { code, message } => {
                PayoutResult::Failed { code: code.to_owned(), message: message.to_owned() }
            }
        };
        let record = PayoutRecord {
            idempotency_key: request.idempotency_key.clone(),
            account: request.account.clone(),
            amount_minor: request.amount_minor,
            currency: request.currency,
            created: now_unix_secs(),
            result,
        };
        let stored = self.ledger.record_payout(record).await?;
        match behaviour {
            Behaviour::PayAndLoseTheAnswer => Err(GatewayError::Ambiguous(format!(
                "the answer to payout {} was lost",
                request.idempotency_key
            ))),
            _ => Ok(outcome(&stored)),
        }
    }

    async fn payout_status(
        &self,
        request: &PayoutRequest,
    ) -> Result<Option<PayoutOutcome>, GatewayError> {
        Ok(self.ledger.find_payout(&request.idempotency_key)?.as_ref().map(outcome))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::sandbox::{EntryKind, SandboxConfig};
    use crate::trees::SledTrees;

    fn request(key: &str, destination: PayoutDestination) -> PayoutRequest {
        PayoutRequest {
            idempotency_key: key.to_owned(),
            account: "acct_school".to_owned(),
            amount_minor: 5_000,
            currency: Currency::KES,
            destination,
            description: "tutor payout".to_owned(),
        }
    }

    fn bank(number: &str) -> PayoutDestination {
        PayoutDestination::BankAccount {
            account_holder: "Wanjiru".to_owned(),
            bank_code: "01".to_owned(),
            account_number: number.to_owned(),
        }
    }

    #[tokio::test]
    async fn a_payout_is_paid_once_per_key_and_listed() {
        let directory = tempfile::tempdir().unwrap();
        let db = sled::open(directory.path()).unwrap();
        let sandbox = SandboxGateway::open(Arc::new(SledTrees(db)), SandboxConfig::default());
        let first = sandbox.pay(&request("po_1", bank("000123456789"))).await.unwrap();
        let again = sandbox.pay(&request("po_1", bank("000123456789"))).await.unwrap();
        assert_eq!(first, again, "a second call with the key answers the first payment");
        let (entries, _) = sandbox.ledger("acct_school", 10, None).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].kind, EntryKind::Payout);
        assert_eq!(entries[0].amount_minor, 5_000);
    }

    #[tokio::test]
    async fn a_lost_answer_is_found_by_the_status_query_and_a_refusal_is_not_listed() {
        let directory = tempfile::tempdir().unwrap();
        let db = sled::open(directory.path()).unwrap();
        let sandbox = SandboxGateway::open(Arc::new(SledTrees(db)), SandboxConfig::default());
        let lost = request("po_2", bank("000555555559"));
        assert!(matches!(sandbox.pay(&lost).await, Err(GatewayError::Ambiguous(_))));
        let found = sandbox.payout_status(&lost).await.unwrap();
        assert!(matches!(found, Some(PayoutOutcome::Paid { .. })));
        let never = request("po_3", bank("000123456789"));
        assert_eq!(sandbox.payout_status(&never).await.unwrap(), None);
        let closed = sandbox.pay(&request("po_4", bank("000111111113"))).await.unwrap();
        assert!(matches!(closed, PayoutOutcome::Failed { code, .. } if code == "account_closed"));
        let (entries, _) = sandbox.ledger("acct_school", 10, None).unwrap();
        assert_eq!(entries.len(), 1, "only the payout that paid moved money");
    }
}
