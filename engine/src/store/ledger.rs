//! The books as the store keeps them: postings, written in the change sets that move the money
//! (see [`super::Write::Posting`]), listed newest first and by the object that made them, and
//! each ledger account's running totals, moved on with every posting.

use super::{Durable, Page, StoreError};
use crate::domain::{
    AccountId, Currency, LedgerAccount, LedgerBalance, PayeeId, Posting, PostingKind, Revenue,
    TransactionId,
};

/// Which postings a list keeps.
#[derive(Debug, Clone, Default)]
pub struct PostingFilter {
    pub kind: Option<PostingKind>,
    /// Only those the object with this id (`ch_…`, `re_…`, `dp_…`, `tr_…`) made.
    pub source: Option<String>,
    /// Only those that moved this payee's balance.
    pub payee: Option<PayeeId>,
    pub created_gte: Option<i64>,
    pub created_lte: Option<i64>,
    /// Only those that moved money (balance transactions), not invoices' accruals.
    pub money_only: bool,
    /// Only those that moved this ledger account's balance or took a fee from it: a payee's
    /// payout or credit a refund gave moves money, but not the platform's.
    pub moved: Option<LedgerAccount>,
}

impl PostingFilter {
    pub fn keeps(&self, posting: &Posting) -> bool {
        self.kind.is_none_or(|kind| kind == posting.kind)
            && (!self.money_only || posting.kind.moves_money())
            && self.source.as_ref().is_none_or(|source| *source == posting.source)
            && self.payee.as_ref().is_none_or(|payee| posting.payee.as_ref() == Some(payee))
            && self.created_gte.is_none_or(|from| posting.created >= from)
            && self.created_lte.is_none_or(|to| posting.created <= to)
            && self
                .moved
                .as_ref()
                .is_none_or(|held| posting.net_for(held) != 0 || posting.fee_for(held) != 0)
    }
}

/// A ledger account's totals in one currency.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LedgerTotals {
    pub account: LedgerAccount,
    pub currency: Currency,
    pub balance: LedgerBalance,
}

/// The platform's revenue of one day in one currency, as the books keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevenueDay {
    pub currency: Currency,
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    pub revenue: Revenue,
}

/// A part of what the books carry, each from the first start of a release that carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BooksPart {
    /// Money moved (charges, refunds, disputes, transfers, payouts, customer balances): money
    /// moved before is not in them.
    Money,
    /// Invoices' accruals: an invoice not written since is not in them.
    Accruals,
    /// Sales' accruals (charges that paid no invoice): a charge that succeeded before is not in
    /// them.
    Sales,
}

impl BooksPart {
    pub const ALL: [BooksPart; 3] = [BooksPart::Money, BooksPart::Accruals, BooksPart::Sales];
}

pub trait LedgerStore: Durable {
    /// When the books began to carry `part`, if they do.
    fn books_began(&self, part: BooksPart) -> Result<Option<i64>, StoreError>;
    /// Marks every part of the books begun at `at`, unless it began before.
    fn begin_books(&self, at: i64) -> Result<(), StoreError>;
    /// One ledger account's totals in one currency (nothing moved: zero).
    fn ledger_balance(
        &self,
        account: &AccountId,
        ledger_account: &LedgerAccount,
        currency: Currency,
    ) -> Result<LedgerBalance, StoreError>;
    /// The account's ledger accounts' totals, per currency.
    fn ledger_totals(&self, account: &AccountId) -> Result<Vec<LedgerTotals>, StoreError>;
    /// The account's postings, newest first, as `filter` narrows them.
    fn postings(
        &self,
        account: &AccountId,
        filter: &PostingFilter,
        limit: usize,
        starting_after: Option<&TransactionId>,
    ) -> Result<Page<Posting>, StoreError>;
    /// The account's revenue days in `[from_day, to_day)`, in one currency or all, by currency
    /// and then day.
    fn revenue_days(
        &self,
        account: &AccountId,
        currency: Option<Currency>,
        from_day: i64,
        to_day: i64,
    ) -> Result<Vec<RevenueDay>, StoreError>;
    /// Every posting of the account, oldest first, handed to `visit` one at a time.
    fn each_posting(
        &self,
        account: &AccountId,
        visit: &mut dyn FnMut(Posting) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}
