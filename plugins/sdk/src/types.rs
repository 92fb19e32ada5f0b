//! The rules' inputs and outputs as plain Rust, mirroring `wit/rules.wit` one to one, so a rule
//! never sees generated bindings. Money is an integer amount in the currency's minor unit.

/// An amount in the currency's minor unit (`1000` usd is $10.00).
pub type Amount = i64;
/// Unix seconds.
pub type Timestamp = i64;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaxId {
    /// `eu-vat`, `gb-vat`, `za-vat`, `ke-pin`, …
    pub kind: String,
    /// As issued, with its country prefix where it has one (`DE123456789`).
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CustomerContext {
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<String>,
    pub region: Option<String>,
    pub tax_ids: Vec<TaxId>,
    pub metadata: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleError {
    /// The input is not one this rule can handle (an unknown sku, a currency it has no table for).
    InvalidInput(String),
    /// The rule does not handle this case at all.
    Unsupported(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineItem {
    pub sku: String,
    pub quantity: u32,
    /// The catalogue price of one unit; a tiered rule may replace it.
    pub unit_amount: Amount,
}

/// What a coupon takes off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CouponOff {
    /// A share of the subtotal in basis points, 1 to 10000: 2500 is 25 %.
    PercentOffBps(u32),
    /// A fixed amount in the input's currency (the engine passes no coupon in another).
    AmountOff(Amount),
}

/// A coupon the engine has resolved and checked (it exists, is valid now, is in this currency
/// and applies to these lines): the rule decides how it applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coupon {
    /// The coupon's id: what its discount line names.
    pub id: String,
    pub off: CouponOff,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricingInput {
    pub lines: Vec<LineItem>,
    /// Lower-case ISO-4217 code.
    pub currency: String,
    pub customer: CustomerContext,
    /// In the order they apply.
    pub coupons: Vec<Coupon>,
    pub now: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedLine {
    pub sku: String,
    pub quantity: u32,
    pub amount: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscountLine {
    /// The id of the coupon it comes from.
    pub code: String,
    /// A positive amount taken off the subtotal.
    pub amount: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricingOutput {
    /// The input's currency: Kassa refuses an output in any other.
    pub currency: String,
    pub lines: Vec<PricedLine>,
    /// The sum of the lines.
    pub subtotal: Amount,
    pub discounts: Vec<DiscountLine>,
    /// Subtotal minus discounts, never below zero.
    pub total: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProrationInput {
    pub currency: String,
    pub old_unit_amount: Amount,
    pub old_quantity: u32,
    pub new_unit_amount: Amount,
    pub new_quantity: u32,
    pub period_start: Timestamp,
    pub period_end: Timestamp,
    /// When the plan changes; within `[period_start, period_end]`.
    pub changed_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProrationOutput {
    /// The input's currency: Kassa refuses an output in any other.
    pub currency: String,
    /// Given back for the unused time of the old plan (zero or more).
    pub credit: Amount,
    /// What the new plan costs for the rest of the period (zero or more).
    pub charge: Amount,
    /// `charge - credit`: negative when the customer is owed money.
    pub net: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxableLine {
    pub sku: String,
    pub amount: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxInput {
    pub lines: Vec<TaxableLine>,
    pub currency: String,
    pub customer: CustomerContext,
    /// ISO 3166-1 alpha-2 of the platform selling.
    pub seller_country: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxLine {
    /// `VAT`, `GST`, …
    pub name: String,
    /// The country (and region) whose tax this is: `DE`, `US-CA`.
    pub jurisdiction: String,
    /// The rate in basis points: 1900 is 19 %.
    pub rate_bps: u32,
    pub amount: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxOutput {
    /// The input's currency: Kassa refuses an output in any other.
    pub currency: String,
    pub lines: Vec<TaxLine>,
    /// The buyer accounts for the tax (EU B2B across borders): no tax is charged.
    pub reverse_charge: bool,
}

/// A pricing rule: line items, coupons and the customer → subtotal, discounts, total.
pub trait PricingRule {
    fn price(input: PricingInput) -> Result<PricingOutput, RuleError>;
}

/// A proration rule: a plan change within a period → credit, charge, net.
pub trait ProrationRule {
    fn prorate(input: ProrationInput) -> Result<ProrationOutput, RuleError>;
}

/// A tax rule: taxable lines, the customer and the seller → tax lines.
pub trait TaxRule {
    fn calculate(input: TaxInput) -> Result<TaxOutput, RuleError>;
}
