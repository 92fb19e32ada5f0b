//! The books: every movement of money is a posting, legs that each move an exact integer amount
//! from one ledger account (debited) to another (credited) in one currency, so the debits of the
//! books equal their credits by construction. Postings are written in the change set that moves
//! the money and never changed: a correction is a posting of its own.

use serde::{Deserialize, Serialize};

use super::ids::{AccountId, CustomerId, PayeeId, TransactionId};
use super::money::Currency;

/// Where money is, as the books name it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LedgerAccount {
    /// What a gateway holds for the platform: taken from customers, less what it paid back or
    /// withdrew for disputes.
    Clearing {
        gateway: String,
    },
    /// The platform's own balance.
    Platform,
    /// What the platform owes a payee: its shares of charges, less fees and reversals, not
    /// yet paid out.
    Payee {
        payee: PayeeId,
    },
    /// Payouts on their way: taken from payees' balances, not yet known to have arrived.
    PayoutsInTransit,
    /// What customers hold as credit (credited) or owe on their balance (debited): money that
    /// arrived before anything was due for it, and credit the platform gave.
    CustomerBalances,
    /// The accrual side of the books (see [`crate::ledger::accrual`]): what finalized invoices
    /// are owed (debited), what of that was settled (debited: paid, or credit applied), and
    /// what was written off; against it, the tax they billed and their revenue, deferred until
    /// its service period is earned, then recognized.
    Receivable,
    Collected,
    BadDebt,
    TaxPayable,
    DeferredRevenue,
    RecognizedRevenue,
}

impl LedgerAccount {
    /// The account's name in keys and in `kassa verify-ledger`'s report.
    pub fn name(&self) -> String {
        match self {
            LedgerAccount::Clearing { gateway } => format!("clearing/{gateway}"),
            LedgerAccount::Platform => "platform".to_owned(),
            LedgerAccount::Payee { payee } => payee.as_str().to_owned(),
            LedgerAccount::PayoutsInTransit => "payouts_in_transit".to_owned(),
            LedgerAccount::CustomerBalances => "customer_balances".to_owned(),
            LedgerAccount::Receivable => "receivable".to_owned(),
            LedgerAccount::Collected => "collected".to_owned(),
            LedgerAccount::BadDebt => "bad_debt".to_owned(),
            LedgerAccount::TaxPayable => "tax_payable".to_owned(),
            LedgerAccount::DeferredRevenue => "deferred_revenue".to_owned(),
            LedgerAccount::RecognizedRevenue => "recognized_revenue".to_owned(),
        }
    }
}

/// One movement of a posting: `amount_minor` (positive) from `debit` to `credit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leg {
    pub debit: LedgerAccount,
    pub credit: LedgerAccount,
    pub amount_minor: i64,
}

/// What a posting records, named as balance transactions name their type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PostingKind {
    /// A charge succeeded: the gateway holds its amount for the platform.
    Charge,
    /// A refund succeeded: the gateway paid its amount back.
    Refund,
    /// A dispute opened: the gateway withdrew its amount.
    Dispute,
    /// A correction: a dispute won (its amount reinstated), a charge's payment recalled.
    Adjustment,
    /// A payee's share of a charge that succeeded, from the platform to the payee.
    Transfer,
    /// What the platform keeps of a payee's share, back from the payee.
    ApplicationFee,
    /// A payee's share given back in proportion to a refund (or a recall) of its charge.
    TransferReversal,
    /// A payout: from the payee's balance into transit, and from transit out of the gateway
    /// once it arrived.
    Payout,
    /// A payout that failed: from transit back to the payee's balance.
    PayoutFailure,
    /// Money that arrived on the account's bank statement under a customer's reference (or
    /// beyond a charge's amount): paying invoices, or credited to the customer's balance.
    BankTransfer,
    /// An invoice's accruals moved: finalized (owed, taxed, deferred), revenue recognized,
    /// paid, written off, voided. Not a balance transaction: no money moved.
    Invoice,
    /// A sale's accruals moved: a charge that paid no invoice succeeded (collected, with the
    /// tax it charged payable and its revenue recognized at once), or a refund or a recall took
    /// its part of them back. Not a balance transaction: no money moved.
    Sale,
}

impl PostingKind {
    pub const ALL: [PostingKind; 12] = [
        PostingKind::Charge,
        PostingKind::Refund,
        PostingKind::Dispute,
        PostingKind::Adjustment,
        PostingKind::Transfer,
        PostingKind::ApplicationFee,
        PostingKind::TransferReversal,
        PostingKind::Payout,
        PostingKind::PayoutFailure,
        PostingKind::BankTransfer,
        PostingKind::Invoice,
        PostingKind::Sale,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PostingKind::Charge => "charge",
            PostingKind::Refund => "refund",
            PostingKind::Dispute => "dispute",
            PostingKind::Adjustment => "adjustment",
            PostingKind::Transfer => "transfer",
            PostingKind::ApplicationFee => "application_fee",
            PostingKind::TransferReversal => "transfer_reversal",
            PostingKind::Payout => "payout",
            PostingKind::PayoutFailure => "payout_failure",
            PostingKind::BankTransfer => "bank_transfer",
            PostingKind::Invoice => "invoice",
            PostingKind::Sale => "sale",
        }
    }

    /// Whether it moves money (a balance transaction), rather than an invoice's or a sale's
    /// accruals.
    pub fn moves_money(self) -> bool {
        !matches!(self, PostingKind::Invoice | PostingKind::Sale)
    }

    pub fn parse(text: &str) -> Option<PostingKind> {
        PostingKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// One entry of the books (a balance transaction in the API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posting {
    pub id: TransactionId,
    pub account: AccountId,
    pub kind: PostingKind,
    /// The object that moved the money: `ch_…`, `re_…`, `dp_…`.
    pub source: String,
    pub customer: Option<CustomerId>,
    pub currency: Currency,
    pub legs: Vec<Leg>,
    pub created: i64,
    /// When the money is its holder's to pay out.
    pub available_on: i64,
    /// The payee whose balance it moves, if any.
    #[serde(default)]
    pub payee: Option<PayeeId>,
    /// A charge's tax, of the amount it brought in (for the revenue report).
    #[serde(default)]
    pub tax_minor: i64,
    /// What discounts took off a charge (for the revenue report).
    #[serde(default)]
    pub discount_minor: i64,
    /// Moved for a customer on a test clock: left out of reports.
    #[serde(default)]
    pub on_test_clock: bool,
    /// What the gateway kept of a charge as its fee (a leg of its own, out of the platform's
    /// balance and the gateway's clearing account).
    #[serde(default)]
    pub fee_minor: i64,
}

impl Posting {
    /// A new posting of `kind` for `source`, moving `legs` in `currency` at `at` and available
    /// then, about no customer or payee, with no tax, discount or fee: those that have them
    /// say so by struct update.
    pub fn new(
        account: &AccountId,
        kind: PostingKind,
        source: &str,
        currency: Currency,
        legs: Vec<Leg>,
        at: i64,
    ) -> Posting {
        Posting {
            id: TransactionId::generate(),
            account: account.clone(),
            kind,
            source: source.to_owned(),
            customer: None,
            currency,
            legs,
            created: at,
            available_on: at,
            payee: None,
            tax_minor: 0,
            discount_minor: 0,
            on_test_clock: false,
            fee_minor: 0,
        }
    }

    /// What the posting moved into `account` (its credits less its debits there).
    pub fn net_for(&self, account: &LedgerAccount) -> i64 {
        self.legs
            .iter()
            .map(|leg| {
                let credited = if leg.credit == *account { leg.amount_minor } else { 0 };
                let debited = if leg.debit == *account { leg.amount_minor } else { 0 };
                credited - debited
            })
            .sum()
    }

    /// The gateway's fee out of what came into `account`: the platform pays the gateway.
    pub fn fee_for(&self, account: &LedgerAccount) -> i64 {
        match account {
            LedgerAccount::Platform => self.fee_minor,
            _ => 0,
        }
    }

    /// The ledger accounts the posting touches, each once.
    pub fn accounts(&self) -> Vec<&LedgerAccount> {
        let mut accounts: Vec<&LedgerAccount> =
            self.legs.iter().flat_map(|leg| [&leg.debit, &leg.credit]).collect();
        accounts.sort();
        accounts.dedup();
        accounts
    }
}

/// A ledger account's running totals in one currency, as the books keep them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerBalance {
    pub debits_minor: i64,
    pub credits_minor: i64,
}

impl LedgerBalance {
    /// The totals once `posting`'s legs on `account` are added; `None` past `i64`.
    pub fn after(self, posting: &Posting, account: &LedgerAccount) -> Option<LedgerBalance> {
        let mut balance = self;
        for leg in &posting.legs {
            if leg.debit == *account {
                balance.debits_minor = balance.debits_minor.checked_add(leg.amount_minor)?;
            }
            if leg.credit == *account {
                balance.credits_minor = balance.credits_minor.checked_add(leg.amount_minor)?;
            }
        }
        Some(balance)
    }

    /// Credits less debits: what an account on the credit side (the platform) holds.
    pub fn credit_balance(self) -> i64 {
        self.credits_minor - self.debits_minor
    }
}
