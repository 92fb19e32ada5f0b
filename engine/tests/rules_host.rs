//! The rules host on its own, with real components built from `plugins/` (by engine/build.rs):
//! the bundled rules on their boundaries, every hostile behaviour stopped and named, every
//! refused upload refused with its reason, and calls that are deterministic and independent.
//! No server here (the catalog tests use a real sled directory): `tests/plugins.rs` and
//! `tests/priced_charges.rs` cover the same over HTTP.

use std::path::Path;
use std::sync::Arc;

use kassa::config::RulesConfig;
use kassa::domain::{AccountId, CouponId, CouponOff, Currency, Money, PluginKind, TaxId};
use kassa::rules::bundled::{PLUGINS_WASM_DIR, embedded};
use kassa::rules::types::{
    CustomerContext, LineItem, PricingCoupon, PricingRequest, ProrationRequest, TaxRequest,
    TaxableLine,
};
use kassa::rules::{CallError, Catalog, Lane, Plugin, RuleHost, sha256_hex};
use kassa::store::{Store, StoreError, TreeStore};

/// 2026-06-01T00:00:00Z.
const NOW: i64 = 1_780_272_000;

fn host() -> RuleHost {
    RuleHost::new(&RulesConfig::default(), None).expect("the host starts")
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(PLUGINS_WASM_DIR).join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn bundled(host: &RuleHost, kind: PluginKind) -> Plugin {
    host.load(kind, embedded(kind)).expect("a bundled rule loads")
}

fn line(sku: &str, quantity: u32, unit_amount_minor: i64) -> LineItem {
    LineItem { sku: sku.into(), quantity, unit_amount_minor }
}

/// A coupon as the engine hands it to a rule: 10 % off.
fn welcome10() -> PricingCoupon {
    PricingCoupon { id: CouponId::parse("WELCOME10").unwrap(), off: CouponOff::PercentBps(1_000) }
}

/// $5.00 off.
fn fiveoff() -> PricingCoupon {
    let off = Money { amount_minor: 500, currency: Currency::USD };
    PricingCoupon { id: CouponId::parse("FIVEOFF").unwrap(), off: CouponOff::Amount(off) }
}

fn cart(lines: Vec<LineItem>, coupons: &[PricingCoupon], now: i64) -> PricingRequest {
    PricingRequest {
        lines,
        currency: Currency::USD,
        customer: CustomerContext::default(),
        coupons: coupons.to_vec(),
        now,
    }
}

fn customer(country: &str, vat_id: Option<&str>) -> CustomerContext {
    CustomerContext {
        country: Some(country.into()),
        region: None,
        tax_ids: vat_id
            .map(|value| vec![TaxId { kind: "eu_vat".into(), value: value.into() }])
            .unwrap_or_default(),
        metadata: Vec::new(),
    }
}

fn tax_request(amounts: &[i64], currency: Currency, customer: CustomerContext) -> TaxRequest {
    TaxRequest {
        lines: amounts
            .iter()
            .enumerate()
            .map(|(index, amount)| TaxableLine {
                sku: format!("item{index}"),
                amount_minor: *amount,
            })
            .collect(),
        currency,
        customer,
        seller_country: "DE".into(),
    }
}

fn failure(result: Result<impl std::fmt::Debug, CallError>) -> String {
    match result {
        Err(CallError::Failed { cause, .. }) => cause,
        other => panic!("expected the rule to fail, got {other:?}"),
    }
}

#[test]
fn graduated_tiers_change_price_exactly_at_their_edges() {
    let host = host();
    let pricing = bundled(&host, PluginKind::Pricing);
    let price = |quantity| pricing.price(&cart(vec![line("seat", quantity, 0)], &[], NOW)).unwrap();
    assert_eq!(price(10).total_minor, 10 * 1000, "the 10th seat is still in the first tier");
    assert_eq!(price(11).total_minor, 10 * 1000 + 800, "the 11th seat is in the second");
    assert_eq!(price(50).total_minor, 10 * 1000 + 40 * 800);
    assert_eq!(price(51).total_minor, 10 * 1000 + 40 * 800 + 600);
}

#[test]
fn volume_tiers_price_every_unit_at_the_tier_reached() {
    let host = host();
    let pricing = bundled(&host, PluginKind::Pricing);
    let price =
        |quantity| pricing.price(&cart(vec![line("storage-gb", quantity, 0)], &[], NOW)).unwrap();
    assert_eq!(price(100).total_minor, 100 * 50);
    assert_eq!(price(101).total_minor, 101 * 40, "crossing the edge reprices every unit");
    assert_eq!(price(1000).total_minor, 1000 * 40);
    assert_eq!(price(1001).total_minor, 1001 * 30);
}

#[test]
fn the_bundled_rule_takes_structured_coupons_off_the_subtotal() {
    let host = host();
    let pricing = bundled(&host, PluginKind::Pricing);
    let lines = || vec![line("course", 1, 10_000)];
    let percent = pricing.price(&cart(lines(), &[welcome10()], NOW)).unwrap();
    assert_eq!(percent.discounts.len(), 1);
    assert_eq!(percent.discounts[0].code, "WELCOME10");
    assert_eq!(percent.discounts[0].amount_minor, 1_000);
    assert_eq!(percent.total_minor, 9_000);
    let fixed = pricing.price(&cart(lines(), &[fiveoff()], NOW)).unwrap();
    assert_eq!(fixed.total_minor, 9_500);
    let both = pricing.price(&cart(lines(), &[welcome10(), fiveoff()], NOW)).unwrap();
    assert_eq!(both.total_minor, 10_000 - 1_000 - 500);
}

#[test]
fn proration_is_exact_at_the_first_and_last_second_of_a_period() {
    let host = host();
    let proration = bundled(&host, PluginKind::Proration);
    let request = |changed_at| ProrationRequest {
        currency: Currency::USD,
        old_unit_amount_minor: 3_000,
        old_quantity: 1,
        new_unit_amount_minor: 6_000,
        new_quantity: 1,
        period_start: 1_000_000,
        period_end: 1_000_000 + 30 * 86_400,
        changed_at,
    };
    let at_start = proration.prorate(&request(1_000_000)).unwrap();
    assert_eq!(
        (at_start.credit_minor, at_start.charge_minor, at_start.net_minor),
        (3_000, 6_000, 3_000)
    );
    let at_end = proration.prorate(&request(1_000_000 + 30 * 86_400)).unwrap();
    assert_eq!((at_end.credit_minor, at_end.charge_minor, at_end.net_minor), (0, 0, 0));
    let one_second_in = proration.prorate(&request(1_000_001)).unwrap();
    // 2 591 999 / 2 592 000 of 3 000 = 2 999.9988…, half-up to 3 000.
    assert_eq!(one_second_in.credit_minor, 3_000);
    let halfway = proration.prorate(&request(1_000_000 + 15 * 86_400)).unwrap();
    assert_eq!((halfway.credit_minor, halfway.charge_minor), (1_500, 3_000));
}

#[test]
fn vat_rounds_half_up_per_line() {
    let host = host();
    let tax = bundled(&host, PluginKind::Tax);
    // 19 % of 250 = 47.5 → 48; of 150 = 28.5 → 29: 77, where rounding the sum would give 76.
    let taxed = tax.tax(&tax_request(&[250, 150], Currency::EUR, customer("DE", None))).unwrap();
    assert_eq!(taxed.lines.len(), 1);
    assert_eq!(taxed.lines[0].rate_bps, 1900);
    assert_eq!(taxed.lines[0].jurisdiction, "DE");
    assert_eq!(taxed.lines[0].amount_minor, 77);
    let kenya = tax.tax(&tax_request(&[10_000], Currency::KES, customer("KE", None))).unwrap();
    assert_eq!(kenya.lines[0].amount_minor, 1_600);
    let nigeria = tax.tax(&tax_request(&[333], Currency::NGN, customer("NG", None))).unwrap();
    assert_eq!(nigeria.lines[0].amount_minor, 25, "7.5 % of 333 = 24.975 → 25");
}

#[test]
fn eu_reverse_charge_applies_only_to_a_business_in_another_member_state() {
    let host = host();
    let tax = bundled(&host, PluginKind::Tax);
    let french_business = customer("FR", Some("FR12345678901"));
    let reverse = tax.tax(&tax_request(&[10_000], Currency::EUR, french_business)).unwrap();
    assert!(reverse.reverse_charge);
    assert_eq!(reverse.total_minor(), 0);
    let french_consumer = tax.tax(&tax_request(&[10_000], Currency::EUR, customer("FR", None)));
    let french_consumer = french_consumer.unwrap();
    assert!(!french_consumer.reverse_charge);
    assert_eq!(french_consumer.total_minor(), 2_000);
    let german_business =
        tax.tax(&tax_request(&[10_000], Currency::EUR, customer("DE", Some("DE123456789"))));
    let german_business = german_business.unwrap();
    assert!(!german_business.reverse_charge, "same country as the seller: VAT is charged");
    assert_eq!(german_business.total_minor(), 1_900);
}

#[test]
fn calls_are_deterministic_and_independent() {
    let host = host();
    let pricing = bundled(&host, PluginKind::Pricing);
    let request = cart(vec![line("seat", 12, 0), line("course", 2, 4_999)], &[welcome10()], NOW);
    let first = pricing.price(&request).unwrap();
    for _ in 0..50 {
        assert_eq!(pricing.price(&request).unwrap(), first, "a fresh instance every call");
    }
}

#[test]
fn hostile_pricing_rules_are_stopped_and_the_cause_named() {
    let host = host();
    let hostile = host.load(PluginKind::Pricing, &fixture("hostile_pricing")).unwrap();
    let call = |sku: &str| hostile.price(&cart(vec![line(sku, 1, 1_000)], &[], NOW));
    let cases = [
        ("loop", "instruction budget"),
        ("grow", "past the cap"),
        ("trap", "the hostile rule gave up on purpose"),
        ("huge", "at most"),
        ("wrong-currency", "answered in `eur` for a request in `usd`"),
        ("bad-totals", "is not subtotal"),
        ("negative", "outside 0"),
        ("oversized-discount", "exceed its subtotal"),
    ];
    for (sku, named) in cases {
        let cause = failure(call(sku));
        assert!(cause.contains(named), "{sku}: `{cause}` should name `{named}`");
    }
    let recursion = failure(call("recurse"));
    assert!(
        recursion.contains("call stack") || recursion.contains("out of bounds"),
        "recursion: {recursion}"
    );
    // The same component still answers a well-formed request after all that.
    let honest = call("course").unwrap();
    assert_eq!(honest.total_minor, 1_000);
}

#[test]
fn a_rule_that_waits_is_stopped_at_once() {
    let host = host();
    let hostile = host.load(PluginKind::Pricing, &fixture("hostile_pricing")).unwrap();
    let started = std::time::Instant::now();
    let cause = failure(hostile.price(&cart(vec![line("sleep", 1, 1_000)], &[], NOW)));
    assert!(
        cause.contains("asked to wait 3600000 ms") && cause.contains("may not wait"),
        "{cause}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(1), "{:?}", started.elapsed());
}

#[test]
fn a_rule_past_its_deadline_is_stopped_by_the_wall_clock() {
    // Fuel for seconds of work: only the deadline can stop the loop this soon.
    let config = RulesConfig {
        fuel_per_call: 10_000_000_000,
        call_timeout_ms: 100,
        ..RulesConfig::default()
    };
    let host = RuleHost::new(&config, None).expect("the host starts");
    let hostile = host.load(PluginKind::Pricing, &fixture("hostile_pricing")).unwrap();
    let started = std::time::Instant::now();
    let cause = failure(hostile.price(&cart(vec![line("loop", 1, 1_000)], &[], NOW)));
    let elapsed = started.elapsed();
    assert!(cause.contains("past its time limit of 100 ms"), "{cause}");
    assert!(elapsed >= std::time::Duration::from_millis(100), "stopped early: {elapsed:?}");
    assert!(elapsed < std::time::Duration::from_secs(1), "stopped late: {elapsed:?}");
    // A call within its time is unaffected, on the same component.
    assert_eq!(
        hostile.price(&cart(vec![line("slow", 1, 1_000)], &[], NOW)).unwrap().total_minor,
        1_000
    );
}

#[test]
fn an_inline_call_hands_back_what_it_cannot_finish_and_answers_the_rest() {
    let host = host();
    let hostile = host.load(PluginKind::Pricing, &fixture("hostile_pricing")).unwrap();
    let inline =
        |sku: &str| hostile.price_in(&cart(vec![line(sku, 2, 1_000)], &[], NOW), Lane::Inline);
    // Too long for the inline budget, an endless loop, a panic (its message is a WASI write)
    // and a memory hog stop inline without a verdict; in full they answer or fail as they do.
    for sku in ["slow", "loop", "trap", "grow"] {
        match inline(sku) {
            Err(CallError::NotInline { kind: PluginKind::Pricing }) => {}
            other => panic!("{sku}: the inline lane should hand the call back, got {other:?}"),
        }
    }
    let slow = cart(vec![line("slow", 2, 1_000)], &[], NOW);
    assert_eq!(hostile.price(&slow).unwrap().total_minor, 2_000, "the full budget is enough");
    // An output the host refuses is refused inline as in full: the check needs no second run.
    assert!(failure(inline("bad-totals")).contains("is not subtotal"));
    assert_eq!(inline("course").unwrap().total_minor, 2_000);
    // A rule that fits answers inline exactly as it does in full.
    let pricing = bundled(&host, PluginKind::Pricing);
    let fits = cart(vec![line("seat", 12, 0), line("storage-gb", 150, 0)], &[welcome10()], NOW);
    assert_eq!(pricing.price_in(&fits, Lane::Inline).unwrap(), pricing.price(&fits).unwrap());
    let tax = bundled(&host, PluginKind::Tax);
    let taxable = tax_request(&[10_000, 333], Currency::EUR, customer("FR", None));
    assert_eq!(tax.tax_in(&taxable, Lane::Inline).unwrap(), tax.tax(&taxable).unwrap());
    // So is the rule's own refusal.
    let hostile_tax = host.load(PluginKind::Tax, &fixture("hostile_tax")).unwrap();
    let mut refuse = tax_request(&[10_000], Currency::EUR, customer("FR", None));
    refuse.lines[0].sku = "refuse".into();
    assert!(matches!(hostile_tax.tax_in(&refuse, Lane::Inline), Err(CallError::Refused { .. })));
}

#[test]
fn hostile_tax_rules_are_stopped_and_the_cause_named() {
    let host = host();
    let hostile = host.load(PluginKind::Tax, &fixture("hostile_tax")).unwrap();
    let call = |sku: &str| {
        let mut request = tax_request(&[10_000], Currency::USD, customer("US", None));
        request.lines[0].sku = sku.into();
        hostile.tax(&request)
    };
    for (sku, named) in [
        ("negative-tax", "is negative"),
        ("wrong-currency", "answered in `eur`"),
        ("excessive-tax", "more than its rate"),
        ("reverse-charge-with-tax", "reverse charge yet charges"),
    ] {
        let cause = failure(call(sku));
        assert!(cause.contains(named), "{sku}: `{cause}` should name `{named}`");
    }
    match call("refuse") {
        Err(CallError::Refused { message, .. }) => assert!(message.contains("refuses")),
        other => panic!("a rule's own refusal is a refusal, got {other:?}"),
    }
    assert_eq!(call("book").unwrap().total_minor(), 1_000);
}

#[test]
fn uploads_that_are_not_usable_rules_are_refused_with_their_reason() {
    let host = host();
    let refusal = |kind, bytes: &[u8]| match host.load(kind, bytes) {
        Err(invalid) => invalid.to_string(),
        Ok(plugin) => panic!("{plugin:?} should have been refused"),
    };
    let filesystem = refusal(PluginKind::Pricing, &fixture("hostile_filesystem"));
    assert!(filesystem.contains("wasi:filesystem"), "{filesystem}");
    let sockets = refusal(PluginKind::Pricing, &fixture("hostile_sockets"));
    assert!(sockets.contains("wasi:sockets"), "{sockets}");
    // The smallest valid core module: magic and version 1, no sections.
    let core = refusal(PluginKind::Pricing, b"\0asm\x01\0\0\0");
    assert!(core.contains("core WebAssembly module, not a component"), "{core}");
    let vat = embedded(PluginKind::Tax);
    let truncated = refusal(PluginKind::Tax, &vat[..vat.len() / 2]);
    assert!(truncated.contains("not a valid component"), "{truncated}");
    let other_world = refusal(PluginKind::Pricing, vat);
    assert!(other_world.contains("does not export `kassa:rules/pricing@0.2.0`"), "{other_world}");
    assert!(other_world.contains("/v1/plugins/tax"), "the message says where it belongs");
    let text = refusal(PluginKind::Pricing, b"hello, world");
    assert!(text.contains("not a WebAssembly binary"), "{text}");
}

fn catalog(config: &RulesConfig, data_dir: &Path) -> Catalog {
    let store: Arc<dyn Store> = Arc::new(open_store(&data_dir.join("db")));
    Catalog::open(config, data_dir, store).expect("the catalog opens")
}

/// Opens the store in `path`. A store dropped just before in this process may hold sled's file
/// lock a moment longer (sled's own I/O threads let go of it after the last handle), which a
/// restarted process never meets: wait for it rather than fail.
fn open_store(path: &Path) -> TreeStore {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match TreeStore::open(path) {
            Ok(store) => return store,
            Err(StoreError::Storage(message))
                if message.contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(error) => panic!("the store opens: {error}"),
        }
    }
}

fn compiled_artifacts(data_dir: &Path) -> Vec<(std::path::PathBuf, std::time::SystemTime)> {
    let mut found: Vec<_> = std::fs::read_dir(data_dir.join("plugins").join("compiled"))
        .expect("the compiled cache exists")
        .map(|entry| {
            let entry = entry.unwrap();
            (entry.path(), entry.metadata().unwrap().modified().unwrap())
        })
        .collect();
    found.sort();
    found
}

#[test]
fn a_restart_loads_compiled_rules_instead_of_compiling_them_again() {
    let dir = tempfile::tempdir().unwrap();
    drop(catalog(&RulesConfig::default(), dir.path()));
    let first = compiled_artifacts(dir.path());
    assert_eq!(first.len(), 3, "one artifact per bundled rule: {first:?}");
    let reopened = catalog(&RulesConfig::default(), dir.path());
    assert_eq!(compiled_artifacts(dir.path()), first, "no artifact was written again");
    let account = AccountId::default_account();
    let pricing = reopened.rule(&account, PluginKind::Pricing);
    assert_eq!(pricing.reference.version, 0);
    assert!(pricing.plugin.price(&cart(vec![line("seat", 1, 0)], &[], NOW)).is_ok());
}

#[tokio::test]
async fn a_version_no_account_runs_leaves_memory() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Arc::new(catalog(&RulesConfig::default(), dir.path()));
    let account = AccountId::parse("acct_a").unwrap();
    catalog.upload(&account, PluginKind::Pricing, fixture("hostile_pricing")).await.unwrap();
    let first = Arc::downgrade(&catalog.rule(&account, PluginKind::Pricing).plugin);
    catalog.upload(&account, PluginKind::Pricing, fixture("student_pricing")).await.unwrap();
    assert!(first.upgrade().is_none(), "version 1 is no longer held once version 2 runs");
    // A rollback loads it again, from its compiled artifact.
    catalog.roll_back(&account, PluginKind::Pricing, Box::new(|_| None)).await.unwrap();
    let rule = catalog.rule(&account, PluginKind::Pricing);
    assert_eq!(rule.reference.version, 1);
    assert_eq!(
        rule.plugin.price(&cart(vec![line("book", 1, 700)], &[], NOW)).unwrap().total_minor,
        700
    );
}

#[test]
fn a_plugins_folder_replaces_the_bundled_rules_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("rules");
    std::fs::create_dir(&folder).unwrap();
    let student = fixture("student_pricing");
    std::fs::write(folder.join("pricing.wasm"), &student).unwrap();
    let config = RulesConfig { plugins_dir: folder, ..RulesConfig::default() };
    let catalog = catalog(&config, &dir.path().join("data"));
    let account = AccountId::default_account();
    let pricing = catalog.rule(&account, PluginKind::Pricing);
    assert_eq!(pricing.reference.sha256, sha256_hex(&student));
    let tax = catalog.rule(&account, PluginKind::Tax);
    assert_eq!(tax.reference.sha256, sha256_hex(embedded(PluginKind::Tax)), "tax stays bundled");
}
