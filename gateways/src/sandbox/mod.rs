//! The built-in sandbox gateway: a deterministic, durable card "processor" for development, tests
//! and benchmarks. Tokens follow Stripe's test names (see [`cards`]); every attempt lands in its
//! own [`ledger`] before it is answered, so anyone can reconcile the engine against it.

pub mod cards;
mod fees;
mod in_flight;
pub mod ledger;
pub mod payouts;

use std::sync::Arc;
use std::time::Duration;

use cards::Behaviour;
use in_flight::InFlight;
use ledger::{AttemptRecord, AttemptResult, Ledger, NewAttempt};

use crate::time::now_unix_secs;
use crate::trees::Trees;
use crate::{
    Attempt, AttemptKind, CardDetails, ChargeOutcome, ChargeRequest, CustomerRef, DeclineCode,
    Gateway, GatewayError, PaymentMethodDetails, RefundOutcome, RefundRequest,
};

pub use fees::FeeSchedule;
pub use ledger::{EntryKind, LedgerEntry};

/// The name charges made on the sandbox carry.
pub const NAME: &str = "sandbox";

/// How long the processor sits on the answer for `pm_sandbox_timeout`: longer than any sane
/// gateway timeout, so the caller always gives up first.
const TIMEOUT_TOKEN_ANSWER_DELAY: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Default)]
pub struct SandboxConfig {
    /// Added before every charge and refund, to model a real processor's round trip.
    pub latency: Duration,
    /// What it keeps of each charge, reported with the payment as a processor reports it.
    pub fees: FeeSchedule,
}

#[derive(Clone)]
pub struct SandboxGateway {
    config: SandboxConfig,
    ledger: Ledger,
    in_flight: InFlight,
}

impl SandboxGateway {
    /// A sandbox keeping its ledger in `trees` (those named by [`ledger::TREES`]).
    pub fn open(trees: Arc<dyn Trees>, config: SandboxConfig) -> SandboxGateway {
        SandboxGateway { config, ledger: Ledger::open(trees), in_flight: InFlight::default() }
    }

    /// Money that moved at this processor for merchant `account` (the account part of the
    /// charges' [`CustomerRef`]), newest first.
    pub fn ledger(
        &self,
        account: &str,
        limit: usize,
        starting_after: Option<&str>,
    ) -> Result<(Vec<LedgerEntry>, bool), GatewayError> {
        self.ledger.list(account, limit, starting_after)
    }

    async fn round_trip(&self) {
        if !self.config.latency.is_zero() {
            tokio::time::sleep(self.config.latency).await;
        }
    }
}

fn test_card(token: &str) -> Result<&'static cards::TestCard, GatewayError> {
    cards::find(token).ok_or_else(|| {
        // The token is not echoed: a client that sent card data by mistake must not see it
        // come back in an error (or in a log that records errors).
        GatewayError::InvalidPaymentMethod(format!(
            "not a sandbox test token ({} characters); use one such as pm_card_visa",
            token.len()
        ))
    })
}

fn recorded_outcome(record: &AttemptRecord) -> Result<ChargeOutcome, GatewayError> {
    match &record.result {
        AttemptResult::Charged { reference, fee_minor } => Ok(ChargeOutcome::Succeeded {
            reference: reference.clone(),
            fee_minor: *fee_minor,
            conversion: None,
        }),
        AttemptResult::Declined { decline_code, message } => Ok(ChargeOutcome::Declined {
            decline: DeclineCode::parse(decline_code).unwrap_or(DeclineCode::GenericDecline),
            message: message.clone(),
        }),
        AttemptResult::Refunded { .. } | AttemptResult::RefundFailed { .. } => {
            Err(GatewayError::Storage("a charge key holds a refund record".to_owned()))
        }
    }
}

fn refund_outcome(record: &AttemptRecord) -> Result<RefundOutcome, GatewayError> {
    match &record.result {
        AttemptResult::Refunded { reference } => {
            Ok(RefundOutcome::Succeeded { reference: reference.clone(), conversion: None })
        }
        AttemptResult::RefundFailed { message } => {
            Ok(RefundOutcome::Failed { message: message.clone() })
        }
        AttemptResult::Charged { .. } | AttemptResult::Declined { .. } => {
            Err(GatewayError::Storage("a refund key holds a charge record".to_owned()))
        }
    }
}

#[async_trait::async_trait]
impl Gateway for SandboxGateway {
    fn name(&self) -> &'static str {
        NAME
    }

    fn moves_real_money(&self) -> bool {
        false
    }

    fn reports_by_reference(&self) -> bool {
        false
    }

    async fn describe_payment_method(
        &self,
        token: &str,
    ) -> Result<PaymentMethodDetails, GatewayError> {
        let card = test_card(token)?;
        Ok(PaymentMethodDetails {
            card: Some(CardDetails {
                brand: card.brand.to_owned(),
                last4: card.last4.to_owned(),
                exp_month: cards::EXP_MONTH,
                exp_year: cards::EXP_YEAR,
            }),
        })
    }

    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, GatewayError> {
        let card = test_card(&request.payment_method_token)?;
        // Under way until the ledger holds it (the guard lives to the end of the call).
        let _call = self.in_flight.start(AttemptKind::Charge, &request.idempotency_key);
        self.round_trip().await;
        let result = match card.behaviour {
            Behaviour::Succeed | Behaviour::SucceedAfterTimeout => AttemptResult::Charged {
                reference: self.ledger.new_reference("sbx_ch_"),
                fee_minor: self.config.fees.fee_for(request.amount_minor, request.currency),
            },
            Behaviour::Decline(decline) => AttemptResult::Declined {
                decline_code: decline.as_str().to_owned(),
                message: cards::decline_message(decline).to_owned(),
            },
        };
        let record = AttemptRecord {
            idempotency_key: request.idempotency_key.clone(),
            amount_minor: request.amount_minor,
            currency: request.currency,
            created: now_unix_secs(),
            result,
        };
        // The sandbox serves every account of the engine, as a processor serves merchants:
        // each sees only its own money move.
        let account = request.customer.as_ref().map_or("", CustomerRef::account).to_owned();
        let stored = self.ledger.record(NewAttempt::Charge { record, account }).await?;
        if card.behaviour == Behaviour::SucceedAfterTimeout {
            tokio::time::sleep(TIMEOUT_TOKEN_ANSWER_DELAY).await;
        }
        recorded_outcome(&stored)
    }

    async fn refund(&self, request: &RefundRequest) -> Result<RefundOutcome, GatewayError> {
        let _call = self.in_flight.start(AttemptKind::Refund, &request.idempotency_key);
        self.round_trip().await;
        let record = AttemptRecord {
            idempotency_key: request.idempotency_key.clone(),
            amount_minor: request.amount_minor,
            currency: request.currency,
            created: now_unix_secs(),
            result: AttemptResult::Refunded { reference: self.ledger.new_reference("sbx_re_") },
        };
        let charge_reference = request.charge_reference.clone();
        let account = request.account.clone();
        let refund = NewAttempt::Refund { record, charge_reference, account };
        let stored = self.ledger.record(refund).await?;
        refund_outcome(&stored)
    }

    async fn retrieve(
        &self,
        kind: AttemptKind,
        idempotency_key: &str,
    ) -> Result<Option<Attempt>, GatewayError> {
        // In flight is asked FIRST: a call that ends between the two questions recorded its
        // outcome before it stopped being in flight, so the ledger then has it; asked the other
        // way round, such a call would be in neither, and "never made" would be a lie.
        let under_way = self.in_flight.contains(kind, idempotency_key);
        let Some(record) = self.ledger.find(kind, idempotency_key)? else {
            return match under_way {
                true => Err(GatewayError::Ambiguous(format!(
                    "the sandbox is still working on {idempotency_key}"
                ))),
                false => Ok(None),
            };
        };
        let attempt = match kind {
            AttemptKind::Charge => Attempt::Charge(recorded_outcome(&record)?),
            AttemptKind::Refund => Attempt::Refund(refund_outcome(&record)?),
        };
        Ok(Some(attempt))
    }
}

#[cfg(test)]
mod tests {
    //! The sandbox against a real sled directory: one charge per idempotency key however many
    //! concurrent calls carry it, and the processor's own refusal to refund more than it captured.

    use super::*;
    use crate::Currency;
    use crate::trees::SledTrees;

    const ACCOUNT: &str = "acct_school";

    fn sandbox(directory: &tempfile::TempDir) -> SandboxGateway {
        sandbox_on(directory, SandboxConfig::default()).0
    }

    /// A sandbox configured as `config` in `directory`, and the database its trees are in.
    fn sandbox_on(
        directory: &tempfile::TempDir,
        config: SandboxConfig,
    ) -> (SandboxGateway, sled::Db) {
        let db = sled::open(directory.path()).unwrap();
        (SandboxGateway::open(Arc::new(SledTrees(db.clone())), config), db)
    }

    fn charge_request(key: &str, token: &str) -> ChargeRequest {
        ChargeRequest {
            idempotency_key: key.into(),
            amount_minor: 1000,
            currency: Currency::USD,
            payment_method_token: token.into(),
            description: None,
            customer: Some(CustomerRef { id: format!("{ACCOUNT}/cus_1"), email: None, name: None }),
            off_session: false,
        }
    }

    fn refund_of(reference: &str, key: &str, account: &str, amount_minor: i64) -> RefundRequest {
        RefundRequest {
            idempotency_key: key.into(),
            account: account.into(),
            charge_reference: reference.into(),
            amount_minor,
            currency: Currency::USD,
        }
    }

    async fn charged(sandbox: &SandboxGateway, key: &str) -> String {
        match sandbox.charge(&charge_request(key, "pm_card_visa")).await.unwrap() {
            ChargeOutcome::Succeeded { reference, .. } => reference,
            other => panic!("pm_card_visa succeeds, not {other:?}"),
        }
    }

    #[tokio::test]
    async fn concurrent_charges_with_one_key_charge_once() {
        let directory = tempfile::tempdir().unwrap();
        let sandbox = sandbox(&directory);
        let calls = (0..32).map(|_| {
            let sandbox = sandbox.clone();
            tokio::spawn(
                async move { sandbox.charge(&charge_request("ch_1", "pm_card_visa")).await },
            )
        });
        let outcomes: Vec<_> = futures_outcomes(calls).await;
        assert!(
            outcomes.windows(2).all(|pair| pair[0] == pair[1]),
            "every caller sees one outcome"
        );
        let (entries, has_more) = sandbox.ledger(ACCOUNT, 100, None).unwrap();
        assert_eq!(entries.len(), 1);
        assert!(!has_more);
        assert_eq!(entries[0].idempotency_key, "ch_1");
    }

    async fn futures_outcomes(
        calls: impl Iterator<Item = tokio::task::JoinHandle<Result<ChargeOutcome, GatewayError>>>,
    ) -> Vec<ChargeOutcome> {
        let mut outcomes = Vec::new();
        for call in calls {
            outcomes.push(call.await.unwrap().unwrap());
        }
        outcomes
    }

    #[tokio::test]
    async fn a_priced_sandbox_keeps_its_fee_and_says_so_when_asked_again() {
        let directory = tempfile::tempdir().unwrap();
        let fees = FeeSchedule {
            percent_bps: 290,
            fixed_minor: std::collections::BTreeMap::from([(Currency::USD, 30)]),
        };
        let (sandbox, _) =
            sandbox_on(&directory, SandboxConfig { fees, ..SandboxConfig::default() });
        let outcome = sandbox.charge(&charge_request("ch_fee", "pm_card_visa")).await.unwrap();
        let ChargeOutcome::Succeeded { fee_minor, .. } = &outcome else {
            panic!("pm_card_visa succeeds: {outcome:?}");
        };
        assert_eq!(*fee_minor, 59, "2.9% of 1 000 (29) and 30");
        let retrieved = sandbox.retrieve(AttemptKind::Charge, "ch_fee").await.unwrap();
        assert_eq!(retrieved, Some(Attempt::Charge(outcome)), "the same fee when asked again");
        let (entries, _) = sandbox.ledger(ACCOUNT, 10, None).unwrap();
        assert_eq!(entries[0].fee_minor, 59, "in the processor's ledger");
    }

    #[tokio::test]
    async fn declines_are_remembered_but_move_no_money() {
        let directory = tempfile::tempdir().unwrap();
        let sandbox = sandbox(&directory);
        let outcome = sandbox
            .charge(&charge_request("ch_2", "pm_card_chargeDeclinedStolenCard"))
            .await
            .unwrap();
        assert!(matches!(
            outcome,
            ChargeOutcome::Declined { decline: DeclineCode::StolenCard, .. }
        ));
        let retrieved = sandbox.retrieve(AttemptKind::Charge, "ch_2").await.unwrap();
        assert_eq!(retrieved, Some(Attempt::Charge(outcome)));
        assert!(sandbox.ledger(ACCOUNT, 100, None).unwrap().0.is_empty());
        assert_eq!(sandbox.retrieve(AttemptKind::Charge, "ch_never").await.unwrap(), None);
    }

    #[tokio::test]
    async fn the_processor_never_refunds_more_than_it_captured() {
        let directory = tempfile::tempdir().unwrap();
        let sandbox = sandbox(&directory);
        let reference = charged(&sandbox, "ch_3").await;
        let refund = |key: &str, amount_minor| refund_of(&reference, key, ACCOUNT, amount_minor);
        assert!(matches!(
            sandbox.refund(&refund("re_1", 600)).await.unwrap(),
            RefundOutcome::Succeeded { .. }
        ));
        assert!(matches!(
            sandbox.refund(&refund("re_2", 600)).await.unwrap(),
            RefundOutcome::Failed { .. }
        ));
        assert!(matches!(
            sandbox.refund(&refund("re_3", 400)).await.unwrap(),
            RefundOutcome::Succeeded { .. }
        ));
        let (entries, _) = sandbox.ledger(ACCOUNT, 100, None).unwrap();
        let refunded: i64 = entries
            .iter()
            .filter(|entry| entry.kind == EntryKind::Refund)
            .map(|entry| entry.amount_minor)
            .sum();
        assert_eq!(refunded, 1000);
    }

    #[tokio::test]
    async fn a_refund_finds_its_charge_among_its_own_accounts_only() {
        let directory = tempfile::tempdir().unwrap();
        let (sandbox, db) = sandbox_on(&directory, SandboxConfig::default());
        let reference = charged(&sandbox, "ch_6").await;
        assert!(db.open_tree("sandbox_references").unwrap().is_empty(), "found by its entry");

        let refused = sandbox.refund(&refund_of(&reference, "re_other", "acct_other", 100)).await;
        assert!(
            matches!(&refused, Ok(RefundOutcome::Failed { message }) if message == "no such charge"),
            "another merchant refunds nothing of this one's: {refused:?}"
        );
        let own = sandbox.refund(&refund_of(&reference, "re_own", ACCOUNT, 100)).await.unwrap();
        assert!(matches!(own, RefundOutcome::Succeeded { .. }), "{own:?}");
    }

    /// Charges recorded before refunds looked through their account's entries are found by
    /// their reference's index entry, as they were then.
    #[tokio::test]
    async fn a_charge_recorded_before_is_found_by_its_reference() {
        let directory = tempfile::tempdir().unwrap();
        let (sandbox, db) = sandbox_on(&directory, SandboxConfig::default());
        let reference = charged(&sandbox, "ch_7").await;
        let entries = db.open_tree("sandbox_account_entries").unwrap();
        entries.clear().unwrap();
        let references = db.open_tree("sandbox_references").unwrap();
        references.insert(reference.as_bytes(), &b"ch_7"[..]).unwrap();

        let refunded = sandbox.refund(&refund_of(&reference, "re_7", ACCOUNT, 100)).await.unwrap();
        assert!(matches!(refunded, RefundOutcome::Succeeded { .. }), "{refunded:?}");
        references.clear().unwrap();
        let missed = sandbox.refund(&refund_of(&reference, "re_8", ACCOUNT, 100)).await.unwrap();
        assert!(matches!(missed, RefundOutcome::Failed { .. }), "found by neither: {missed:?}");
    }

    #[tokio::test]
    async fn any_cursor_is_safe() {
        let directory = tempfile::tempdir().unwrap();
        let sandbox = sandbox(&directory);
        sandbox.charge(&charge_request("ch_5", "pm_card_visa")).await.unwrap();
        for cursor in ["", "é", &format!("é{}", "a".repeat(25)), "sbx_ch_"] {
            assert!(sandbox.ledger(ACCOUNT, 10, Some(cursor)).is_ok(), "cursor {cursor:?}");
        }
    }

    /// A call still sleeping out its latency is "still in progress", never "not found": the
    /// engine takes "not found" as final and frees the client's key, so the retry would charge
    /// a second time when the first call lands.
    #[tokio::test]
    async fn an_attempt_still_under_way_is_not_reported_as_never_made() {
        let directory = tempfile::tempdir().unwrap();
        let config =
            SandboxConfig { latency: Duration::from_millis(400), ..SandboxConfig::default() };
        let (sandbox, _) = sandbox_on(&directory, config);
        let charging = tokio::spawn({
            let sandbox = sandbox.clone();
            async move { sandbox.charge(&charge_request("ch_slow", "pm_card_visa")).await }
        });
        let refund = RefundRequest {
            idempotency_key: "re_slow".into(),
            account: ACCOUNT.into(),
            charge_reference: "sbx_ch_x".into(),
            amount_minor: 100,
            currency: Currency::USD,
        };
        let refunding = tokio::spawn({
            let sandbox = sandbox.clone();
            async move { sandbox.refund(&refund).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        for (kind, key) in [(AttemptKind::Charge, "ch_slow"), (AttemptKind::Refund, "re_slow")] {
            let asked = sandbox.retrieve(kind, key).await;
            assert!(matches!(asked, Err(GatewayError::Ambiguous(_))), "{key}: {asked:?}");
        }
        let charged = charging.await.unwrap().unwrap();
        refunding.await.unwrap().unwrap();
        let found = sandbox.retrieve(AttemptKind::Charge, "ch_slow").await.unwrap();
        assert_eq!(found, Some(Attempt::Charge(charged)));
        assert!(sandbox.retrieve(AttemptKind::Refund, "re_slow").await.unwrap().is_some());
        assert_eq!(sandbox.retrieve(AttemptKind::Charge, "ch_never").await.unwrap(), None);
    }

    #[tokio::test]
    async fn each_account_lists_only_its_own_money() {
        let directory = tempfile::tempdir().unwrap();
        let sandbox = sandbox(&directory);
        sandbox.charge(&charge_request("ch_school", "pm_card_visa")).await.unwrap();
        let mut other = charge_request("ch_other", "pm_card_visa");
        other.customer = Some(CustomerRef { id: "acct_s/cus_2".into(), email: None, name: None });
        sandbox.charge(&other).await.unwrap();
        let keys = |account| {
            let (entries, _) = sandbox.ledger(account, 10, None).unwrap();
            entries.into_iter().map(|entry| entry.idempotency_key).collect::<Vec<_>>()
        };
        // `acct_s` is a prefix of `acct_school`: their entries must still not mix.
        assert_eq!(keys(ACCOUNT), ["ch_school"]);
        assert_eq!(keys("acct_s"), ["ch_other"]);
        assert!(keys("acct_none").is_empty());
    }

    #[tokio::test]
    async fn unknown_tokens_are_refused_before_anything_is_recorded() {
        let directory = tempfile::tempdir().unwrap();
        let sandbox = sandbox(&directory);
        let error = sandbox.charge(&charge_request("ch_4", "pm_made_up")).await.unwrap_err();
        assert!(matches!(error, GatewayError::InvalidPaymentMethod(_)));
        assert_eq!(sandbox.retrieve(AttemptKind::Charge, "ch_4").await.unwrap(), None);
    }
}
