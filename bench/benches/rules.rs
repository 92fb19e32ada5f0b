//! One pricing + tax evaluation of a 3-line cart through the rules host — a fresh isolated
//! instance for each of the two calls, inputs lowered and outputs lifted and checked — next to
//! the same bundled rules compiled natively and called directly, in the same run.
//!
//! The wasm evaluation is timed in both lanes: in full (`rules.fuel_per_call`, WASI satisfied
//! with nothing), and inline (the charge path's first try, on an async worker, imports trapping).
//!
//! A second group times a rule that loops until its fuel runs out: the time cap in seconds, and
//! how long such a rule holds an async worker before its call is handed to the blocking pool.
//!
//! Run: `cargo bench -p kassa-bench --bench rules`

use criterion::{Criterion, criterion_group, criterion_main};
use kassa::config::RulesConfig;
use kassa::domain::{CouponId, CouponOff, Currency, PluginKind};
use kassa::rules::bundled::{PLUGINS_WASM_DIR, embedded};
use kassa::rules::types::{
    CustomerContext, LineItem, PricingCoupon, PricingRequest, TaxRequest, TaxableLine,
};
use kassa::rules::{Lane, RuleHost};
use kassa_rules_sdk as sdk;
use sdk::{PricingRule, TaxRule};

/// 2026-06-01T00:00:00Z.
const NOW: i64 = 1_780_272_000;

/// 10 % off, as the engine hands a resolved coupon to the rule.
const COUPON_OFF_BPS: u32 = 1_000;

fn cart() -> PricingRequest {
    PricingRequest {
        lines: vec![
            LineItem { sku: "seat".into(), quantity: 12, unit_amount_minor: 0 },
            LineItem { sku: "storage-gb".into(), quantity: 150, unit_amount_minor: 0 },
            LineItem { sku: "course".into(), quantity: 1, unit_amount_minor: 4_999 },
        ],
        currency: Currency::USD,
        customer: CustomerContext { country: Some("ZA".into()), ..CustomerContext::default() },
        coupons: vec![PricingCoupon {
            id: CouponId::parse("WELCOME10").expect("a coupon id"),
            off: CouponOff::PercentBps(COUPON_OFF_BPS),
        }],
        now: NOW,
    }
}

fn native_cart() -> sdk::PricingInput {
    sdk::PricingInput {
        lines: cart()
            .lines
            .into_iter()
            .map(|line| sdk::LineItem {
                sku: line.sku,
                quantity: line.quantity,
                unit_amount: line.unit_amount_minor,
            })
            .collect(),
        currency: "usd".into(),
        customer: sdk::CustomerContext { country: Some("ZA".into()), ..Default::default() },
        coupons: vec![sdk::Coupon {
            id: "WELCOME10".into(),
            off: sdk::CouponOff::PercentOffBps(COUPON_OFF_BPS),
        }],
        now: NOW,
    }
}

fn rules(criterion: &mut Criterion) {
    let host = RuleHost::new(&RulesConfig::default(), None).expect("the host starts");
    let pricing = host.load(PluginKind::Pricing, embedded(PluginKind::Pricing)).expect("pricing");
    let tax = host.load(PluginKind::Tax, embedded(PluginKind::Tax)).expect("tax");
    let request = cart();

    let mut group = criterion.benchmark_group("pricing_and_tax_3_lines");
    for (name, lane) in [("wasm_fresh_instances", Lane::Full), ("wasm_inline_lane", Lane::Inline)] {
        group.bench_function(name, |bench| {
            bench.iter(|| {
                let priced = pricing.price_in(&request, lane).expect("priced");
                let taxable = TaxRequest {
                    lines: priced
                        .lines
                        .iter()
                        .map(|line| TaxableLine {
                            sku: line.sku.clone(),
                            amount_minor: line.amount_minor,
                        })
                        .collect(),
                    currency: request.currency,
                    customer: request.customer.clone(),
                    seller_country: "ZA".into(),
                };
                let taxed = tax.tax_in(&taxable, lane).expect("taxed");
                (priced.total_minor, taxed.total_minor())
            })
        });
    }
    group.bench_function("native", |bench| {
        bench.iter(|| {
            let priced = tiered_pricing::TieredPricing::price(native_cart()).expect("priced");
            let taxed = vat::Vat::calculate(sdk::TaxInput {
                lines: priced
                    .lines
                    .iter()
                    .map(|line| sdk::TaxableLine { sku: line.sku.clone(), amount: line.amount })
                    .collect(),
                currency: "usd".into(),
                customer: sdk::CustomerContext { country: Some("ZA".into()), ..Default::default() },
                seller_country: "ZA".into(),
            })
            .expect("taxed");
            (priced.total, taxed.lines.len())
        })
    });
    group.finish();
}

/// How long the time cap is in wall-clock terms: a rule that loops until its fuel
/// (`rules.fuel_per_call`, default 50 million instructions) runs out.
fn fuel_exhaustion(criterion: &mut Criterion) {
    let host = RuleHost::new(&RulesConfig::default(), None).expect("the host starts");
    let path = std::path::Path::new(PLUGINS_WASM_DIR).join("hostile_pricing.wasm");
    let bytes = std::fs::read(&path).expect("the hostile fixture is built");
    let hostile = host.load(PluginKind::Pricing, &bytes).expect("it loads");
    let mut request = cart();
    request.lines[0].sku = "loop".into();
    let mut group = criterion.benchmark_group("fuel_exhaustion");
    group.sample_size(10);
    group.bench_function("endless_loop_default_fuel", |bench| {
        bench.iter(|| hostile.price(&request).expect_err("the loop is stopped"))
    });
    group.bench_function("endless_loop_inline_lane", |bench| {
        bench
            .iter(|| hostile.price_in(&request, Lane::Inline).expect_err("the loop is handed back"))
    });
    group.finish();
}

criterion_group!(benches, rules, fuel_exhaustion);
criterion_main!(benches);
