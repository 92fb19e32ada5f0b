//! The built-in sandbox gateway: a deterministic, durable card "processor" for development, tests
//! and benchmarks. Tokens follow Stripe's test names (see [`cards`]); every attempt lands in its
//! own [`ledger`] before it is answered, so anyone can reconcile the engine against it.

pub mod cards;
pub mod ledger;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cards::Behaviour;
use ledger::{AttemptRecord, AttemptResult, Ledger, NewAttempt};

use crate::{
    Attempt, AttemptKind, CardDetails, ChargeOutcome, ChargeRequest, DeclineCode, Gateway,
    GatewayError, PaymentMethodDetails, RefundOutcome, RefundRequest,
};

pub use ledger::{Durability, EntryKind, LedgerEntry};

/// How long the processor sits on the answer for `pm_sandbox_timeout`: longer than any sane
/// gateway timeout, so the caller always gives up first.
const TIMEOUT_TOKEN_ANSWER_DELAY: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Default)]
pub struct SandboxConfig {
    /// Added before every charge and refund, to model a real processor's round trip.
    pub latency: Duration,
}

#[derive(Clone)]
pub struct SandboxGateway {
    config: SandboxConfig,
    ledger: Ledger,
}

impl SandboxGateway {
    pub fn open(
        db: &sled::Db,
        durability: Arc<dyn Durability>,
        config: SandboxConfig,
    ) -> Result<SandboxGateway, GatewayError> {
        Ok(SandboxGateway {
            config,
            ledger: Ledger::open(db, durability)?,
        })
    }

    /// Money that moved at this processor, newest first.
    pub fn ledger(
        &self,
        limit: usize,
        starting_after: Option<&str>,
    ) -> Result<(Vec<LedgerEntry>, bool), GatewayError> {
        self.ledger.list(limit, starting_after)
    }

    async fn round_trip(&self) {
        if !self.config.latency.is_zero() {
            tokio::time::sleep(self.config.latency).await;
        }
    }
}

fn test_card(token: &str) -> Result<&'static cards::TestCard, GatewayError> {
    cards::find(token).ok_or_else(|| {
        GatewayError::InvalidPaymentMethod(format!("`{token}` is not a sandbox test token"))
    })
}

fn now_unix_secs() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX)
}

fn charge_outcome(record: &AttemptRecord) -> Result<ChargeOutcome, GatewayError> {
    match &record.result {
        AttemptResult::Charged { reference } => Ok(ChargeOutcome::Succeeded {
            reference: reference.clone(),
        }),
        AttemptResult::Declined {
            decline_code,
            message,
        } => Ok(ChargeOutcome::Declined {
            decline: DeclineCode::parse(decline_code).unwrap_or(DeclineCode::GenericDecline),
            message: message.clone(),
        }),
        AttemptResult::Refunded { .. } | AttemptResult::RefundFailed { .. } => Err(
            GatewayError::Storage("a charge key holds a refund record".to_owned()),
        ),
    }
}

fn refund_outcome(record: &AttemptRecord) -> Result<RefundOutcome, GatewayError> {
    match &record.result {
        AttemptResult::Refunded { reference } => Ok(RefundOutcome::Succeeded {
            reference: reference.clone(),
        }),
        AttemptResult::RefundFailed { message } => Ok(RefundOutcome::Failed {
            message: message.clone(),
        }),
        AttemptResult::Charged { .. } | AttemptResult::Declined { .. } => Err(
            GatewayError::Storage("a refund key holds a charge record".to_owned()),
        ),
    }
}

#[async_trait::async_trait]
impl Gateway for SandboxGateway {
    fn name(&self) -> &'static str {
        "sandbox"
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
        self.round_trip().await;
        let result = match card.behaviour {
            Behaviour::Succeed | Behaviour::SucceedAfterTimeout => AttemptResult::Charged {
                reference: self.ledger.new_reference("sbx_ch_"),
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
        let stored = self.ledger.record(NewAttempt::Charge { record }).await?;
        if card.behaviour == Behaviour::SucceedAfterTimeout {
            tokio::time::sleep(TIMEOUT_TOKEN_ANSWER_DELAY).await;
        }
        charge_outcome(&stored)
    }

    async fn refund(&self, request: &RefundRequest) -> Result<RefundOutcome, GatewayError> {
        self.round_trip().await;
        let record = AttemptRecord {
            idempotency_key: request.idempotency_key.clone(),
            amount_minor: request.amount_minor,
            currency: request.currency,
            created: now_unix_secs(),
            result: AttemptResult::Refunded {
                reference: self.ledger.new_reference("sbx_re_"),
            },
        };
        let charge_reference = request.charge_reference.clone();
        let stored = self
            .ledger
            .record(NewAttempt::Refund {
                record,
                charge_reference,
            })
            .await?;
        refund_outcome(&stored)
    }

    async fn retrieve(
        &self,
        kind: AttemptKind,
        idempotency_key: &str,
    ) -> Result<Option<Attempt>, GatewayError> {
        let Some(record) = self.ledger.find(kind, idempotency_key)? else {
            return Ok(None);
        };
        let attempt = match kind {
            AttemptKind::Charge => Attempt::Charge(charge_outcome(&record)?),
            AttemptKind::Refund => Attempt::Refund(refund_outcome(&record)?),
        };
        Ok(Some(attempt))
    }
}
