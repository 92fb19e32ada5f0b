//! Rules that wait or burn their whole budget, as one tenant would run them against another:
//! a rule that sleeps is stopped at once and holds nothing; a rule past `rules.call_timeout_ms`
//! fails its own charge with `plugin_error` and changes nothing; and a flood of either from
//! account B neither takes every rule slot nor the cores from account A's priced charges. Real
//! server, real components (`plugins/hostile`). The ignored tests at the end measure A's p99
//! alone and under B's flood in one run each, without and with the recommended rate limits (see
//! their comments for the command).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;

/// Keeps `in_flight` charges of `sku` going for `customer` until `stop` is set; counts answers.
fn flood(api: Api, customer: String, sku: &'static str, in_flight: usize, stop: Arc<AtomicBool>) {
    for _ in 0..in_flight {
        let (api, customer, stop) = (api.clone(), customer.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let resp = api.post("/v1/charges", &priced_cart(&customer, sku)).await;
                assert_error(&resp, 500, "plugin_error");
            }
        });
    }
}

#[tokio::test]
async fn a_sleeping_rule_is_stopped_at_once_and_holds_nothing() {
    let engine = Engine::start(Config::default()).await;
    let (a, b) = (engine.api_a(), engine.api_b());
    b.upload_rule("pricing", plugin_wasm("hostile_pricing")).await.ok();
    let (buyer_a, buyer_b) = (a.za_buyer().await, b.za_buyer().await);

    // More sleepers than there are rule slots in all: before, each held one for its hour.
    let mut sleepers = Vec::new();
    for _ in 0..80 {
        let (b, body) = (b.clone(), priced_cart(&buyer_b, "sleep"));
        sleepers.push(tokio::spawn(async move { b.post("/v1/charges", &body).await }));
    }
    for _ in 0..10 {
        let started = Instant::now();
        let charge = a.post("/v1/charges", &priced_cart(&buyer_a, "book")).await;
        assert_eq!(charge.ok()["status"], "succeeded");
        assert!(started.elapsed() < Duration::from_secs(5), "A waited {:?}", started.elapsed());
    }
    for sleeper in sleepers {
        let resp = sleeper.await.unwrap();
        assert_error(&resp, 500, "plugin_error");
        let message = resp.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("may not wait"), "{message}");
    }
    assert!(b.customer_charges(&buyer_b).await.is_empty(), "no sleeping charge was made");
}

#[tokio::test]
async fn a_rule_past_its_deadline_fails_its_charge_and_changes_nothing() {
    // Fuel enough for many seconds: the wall clock, not the instruction budget, stops it.
    let config =
        Config::default().with_rules_toml("fuel_per_call = 10000000000\ncall_timeout_ms = 200");
    let engine = Engine::start(config).await;
    let a = engine.api_a();
    a.upload_rule("pricing", plugin_wasm("hostile_pricing")).await.ok();
    let customer = a.za_buyer().await;
    let started = Instant::now();
    let resp = a.post("/v1/charges", &priced_cart(&customer, "loop")).await;
    let elapsed = started.elapsed();
    assert_error(&resp, 500, "plugin_error");
    let message = resp.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("past its time limit of 200 ms (rules.call_timeout_ms)"), "{message}");
    assert!(elapsed < Duration::from_secs(3), "stopped after {elapsed:?}");
    assert!(a.customer_charges(&customer).await.is_empty(), "nothing was charged");
    // The same rule still prices an honest cart.
    let fine = a.post("/v1/charges", &priced_cart(&customer, "book")).await;
    assert_eq!(fine.ok()["status"], "succeeded");
}

#[tokio::test]
async fn one_accounts_slow_rules_leave_the_others_their_slots() {
    // B's rules each run to a 300 ms deadline; before, with no deadline and no share per
    // account, 80 of them held all 64 slots for minutes and A's charges waited for one.
    let config =
        Config::default().with_rules_toml("fuel_per_call = 10000000000\ncall_timeout_ms = 300");
    let engine = Engine::start(config).await;
    let (a, b) = (engine.api_a(), engine.api_b());
    b.upload_rule("pricing", plugin_wasm("hostile_pricing")).await.ok();
    let (buyer_a, buyer_b) = (a.za_buyer().await, b.za_buyer().await);
    let stop = Arc::new(AtomicBool::new(false));
    flood(b.clone(), buyer_b.clone(), "loop", 80, Arc::clone(&stop));
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..20 {
        let started = Instant::now();
        let charge = a.post("/v1/charges", &priced_cart(&buyer_a, "book")).await;
        assert_eq!(charge.ok()["status"], "succeeded");
        assert!(started.elapsed() < Duration::from_secs(2), "A waited {:?}", started.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    assert!(b.customer_charges(&buyer_b).await.is_empty());
}

/// p50 and p99 of `count` charges of A, one after another and at least `pace` apart (so that a
/// rate-limited key stays within its budget): priced from a cart (the bundled rules) or plain
/// (an amount, no rules).
async fn latencies(
    api: &Api,
    customer: &str,
    priced: bool,
    (count, pace): (usize, Duration),
) -> (Duration, Duration) {
    let body = match priced {
        true => priced_cart(customer, "book"),
        false => charge_body(customer, 1000, "usd"),
    };
    let mut latencies = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let charge = api.post("/v1/charges", &body).await;
        latencies.push(started.elapsed());
        assert_eq!(charge.ok()["status"], "succeeded");
        tokio::time::sleep(pace.saturating_sub(started.elapsed())).await;
    }
    latencies.sort();
    (latencies[count / 2], latencies[count * 99 / 100])
}

/// B's flood on a thread and runtime of its own, so that the measuring client's latencies are
/// the server's, not time spent waiting behind the flood's tasks in the test's runtime.
struct Flood {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Flood {
    fn start(engine: &Engine, customer: &str, sku: &'static str, in_flight: usize) -> Flood {
        let stop = Arc::new(AtomicBool::new(false));
        let api = engine.api_own_connections(KEY_B);
        let (customer, flag) = (customer.to_owned(), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            runtime.expect("a runtime for the flood").block_on(async move {
                let mut senders = Vec::new();
                for _ in 0..in_flight {
                    let (api, customer, stop) = (api.clone(), customer.clone(), Arc::clone(&flag));
                    senders.push(tokio::spawn(async move {
                        while !stop.load(Ordering::Relaxed) {
                            api.post("/v1/charges", &priced_cart(&customer, sku)).await;
                        }
                    }));
                }
                for sender in senders {
                    sender.await.expect("a flood task");
                }
            });
        });
        Flood { stop, thread: Some(thread) }
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the flood's thread");
        }
    }
}

/// A's p50 and p99 (priced, plain) in one phase of a measurement.
type Phase = (&'static str, (Duration, Duration), (Duration, Duration));

/// The two-tenant measurement, in one run of an engine on `config`: A's charges one
/// after another, `pace` apart (priced by the bundled rules, and plain), alone, then while B
/// keeps 48 priced charges in flight whose rule burns its whole instruction budget (`loop`),
/// whose rule sleeps (`sleep`), and, for comparison, whose rule is an honest one (`book`): what
/// any flood of 48 requests costs A on these cores. Prints the phases; returns them.
async fn measure_two_tenants(
    title: &str,
    config: Config,
    (count, pace): (usize, Duration),
) -> Vec<Phase> {
    let engine = Engine::start(config).await;
    let (a, b) = (engine.api_a(), engine.api_b());
    b.upload_rule("pricing", plugin_wasm("hostile_pricing")).await.ok();
    let (buyer_a, buyer_b) = (a.za_buyer().await, b.za_buyer().await);
    latencies(&a, &buyer_a, true, (count / 5, pace)).await; // warm-up
    let phase = |label: &'static str| {
        let (a, buyer_a) = (a.clone(), buyer_a.clone());
        async move {
            let priced = latencies(&a, &buyer_a, true, (count, pace)).await;
            let plain = latencies(&a, &buyer_a, false, (count, pace)).await;
            (label, priced, plain)
        }
    };
    let mut phases = vec![phase("alone").await];
    for sku in ["loop", "sleep", "book"] {
        let flood = Flood::start(&engine, &buyer_b, sku, 48);
        tokio::time::sleep(Duration::from_millis(500)).await;
        phases.push(phase(sku).await);
        drop(flood);
    }
    phases.push(phase("alone again").await);
    let (alone_priced, alone_plain) = (phases[0].1.1, phases[0].2.1);
    println!("{title}: A's charges, {count} of each kind one after another (p50 / p99):");
    for (label, (priced_p50, priced_p99), (plain_p50, plain_p99)) in &phases {
        println!(
            "  {:<24} priced {priced_p50:>10.2?} / {priced_p99:>10.2?} ({:.2}×)   plain {plain_p50:>10.2?} / {plain_p99:>10.2?} ({:.2}×)",
            match *label {
                "alone" | "alone again" => label.to_string(),
                sku => format!("B's `{sku}` ×48 in flight"),
            },
            priced_p99.as_secs_f64() / alone_priced.as_secs_f64(),
            plain_p99.as_secs_f64() / alone_plain.as_secs_f64(),
        );
    }
    phases
}

/// Run with: `cargo test -p kassa-engine --test hostile_rules -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
#[ignore = "a measurement: prints A's p99 alone and under B's flood"]
async fn measure_a_p99_alone_and_under_b_flood() {
    let phases = measure_two_tenants(
        "No rate limits (the built-in defaults)",
        Config::default(),
        (1_000, Duration::ZERO),
    )
    .await;
    // A burning rule costs A less than 3× its p99; a sleeping one, stopped at once, costs what
    // any flood of requests does (an honest one here): rate limits, not rules, bound that.
    let alone_priced = phases[0].1.1;
    let (looping, sleeping, honest) = (&phases[1], &phases[2], &phases[3]);
    assert!(looping.1.1 < alone_priced * 3, "under `loop`: {:?} vs {alone_priced:?}", looping.1.1);
    assert!(sleeping.1.1 < honest.1.1 * 2, "under `sleep`: {:?} vs {:?}", sleeping.1.1, honest.1.1);
}

/// The same two tenants under the rate limits `config/kassa.toml` recommends (100 requests a
/// second per key, 200 per account): B's flood is refused from its headers past its budget, each
/// refusal answered after its Retry-After, and A, paced within its own budget, keeps within 3×
/// its p99 alone whatever B's rules do.
/// Run with: `cargo test -p kassa-engine --test hostile_rules -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
#[ignore = "a measurement: prints A's p99 alone and under B's flood, with rate limits"]
async fn measure_a_p99_under_b_flood_with_the_recommended_rate_limits() {
    let limits = "[limits.rate]\nper_key_rps = 100\nper_account_rps = 200\n";
    let phases = measure_two_tenants(
        "The recommended rate limits",
        Config::default().with_toml(limits),
        (500, Duration::from_millis(12)),
    )
    .await;
    let (alone_priced, alone_plain) = (phases[0].1.1, phases[0].2.1);
    // B's hostile rules (`loop`, `sleep`); its honest flood is printed for comparison: 100
    // real charges a second, arriving in bursts, cost A what any tenant's traffic does.
    for (label, (_, priced_p99), (_, plain_p99)) in &phases[1..3] {
        assert!(
            *priced_p99 < alone_priced * 3,
            "priced under `{label}`: {priced_p99:?} vs {alone_priced:?}"
        );
        assert!(
            *plain_p99 < alone_plain * 3,
            "plain under `{label}`: {plain_p99:?} vs {alone_plain:?}"
        );
    }
}
