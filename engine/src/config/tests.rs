//! The config: the shipped file, environment overrides, and one clear error per bad key.

use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

/// [`Config::load`] of a file with this text.
fn load_text(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let mut config = Config::parse(text)?;
    config.apply_env(env)?;
    config.validate()?;
    Ok(config)
}

#[test]
fn the_shipped_config_file_is_the_defaults_but_for_recommended_rate_limits() {
    let shipped = include_str!("../../../config/kassa.toml");
    let mut config = Config::parse(shipped).unwrap();
    let recommended =
        RateLimitsConfig { per_key_rps: 100, per_account_rps: 200, webhooks_rps: 200 };
    assert_eq!(config.limits.rate, recommended);
    assert_eq!(Config::default().limits.rate, RateLimitsConfig::default(), "off when built in");
    assert_eq!(RateLimitsConfig::default().per_key_rps, 0);
    config.limits.rate = RateLimitsConfig::default();
    let defaults = Config::default();
    assert_eq!(format!("{config:?}"), format!("{defaults:?}"));
}

#[test]
fn a_bad_value_names_its_key() {
    let error = Config::parse("[actors]\nresident_max = \"many\"\n").unwrap_err();
    assert_eq!(error.key, "actors.resident_max");
    let error = Config::parse("[server]\nlisten = \"nowhere\"\n").unwrap_err();
    assert_eq!(error.key, "server.listen");
    let error = Config::parse("[server]\nlisten_on = \"127.0.0.1:1\"\n").unwrap_err();
    assert_eq!(error.key, "server.listen_on");
}

#[test]
fn validation_names_its_key() {
    let mut config = Config::default();
    config.actors.resident_max = 0;
    assert_eq!(config.validate().unwrap_err().key, "actors.resident_max");
    let mut config = Config::default();
    config.routing.default = "paypal".into();
    assert_eq!(config.validate().unwrap_err().key, "routing.default");
    let mut config = Config::default();
    config
        .accounts
        .list
        .push(AccountConfig { id: "acct_a".into(), api_keys: vec!["short".into()] });
    assert_eq!(config.validate().unwrap_err().key, "accounts[0].api_keys");
    let mut config = Config::default();
    config.rules.seller_country = "za".into();
    assert_eq!(config.validate().unwrap_err().key, "rules.seller_country");
    let mut config = Config::default();
    config.rules.memory_max_mib = 0;
    assert_eq!(config.validate().unwrap_err().key, "rules.memory_max_mib");
    let mut config = Config::default();
    config.rules.account_concurrent_calls_max = config.rules.concurrent_calls_max + 1;
    assert_eq!(config.validate().unwrap_err().key, "rules.account_concurrent_calls_max");
    let mut config = Config::default();
    config.rules.call_timeout_ms = 0;
    assert_eq!(config.validate().unwrap_err().key, "rules.call_timeout_ms");
}

/// A sandbox latency at or past the engine's gateway timeout makes every sandbox charge an
/// unknown outcome; refused at start-up, naming the key.
#[test]
fn a_sandbox_slower_than_the_gateway_timeout_is_refused() {
    let mut config = Config::default();
    config.gateways.sandbox.latency_ms = config.gateways.timeout_ms - 1;
    assert!(config.validate().is_ok());
    config.gateways.sandbox.latency_ms = config.gateways.timeout_ms;
    let error = config.validate().unwrap_err();
    assert_eq!(error.key, "gateways.sandbox.latency_ms");
    assert!(error.problem.contains("gateways.timeout_ms"), "{}", error.problem);
}

#[test]
fn environment_overrides_the_file() {
    let env = |name: &str| match name {
        "KASSA_LISTEN" => Some("127.0.0.1:9999".to_owned()),
        "KASSA_API_KEY" => Some("sk_test_0123456789abcdef".to_owned()),
        _ => None,
    };
    let config = Config::load(None, &env).unwrap();
    assert_eq!(config.server.listen.port(), 9999);
    assert_eq!(config.accounts.list[0].id, AccountId::DEFAULT);
    assert_eq!(config.accounts.list[0].api_keys, vec!["sk_test_0123456789abcdef".to_owned()]);
    assert!(Config::load(None, &no_env).unwrap().accounts.list.is_empty());
    let bad = |name: &str| (name == "KASSA_LISTEN").then(|| "here".to_owned());
    assert_eq!(Config::load(None, &bad).unwrap_err().key, "KASSA_LISTEN");
}

const STRIPE_KEY: &str = "sk_test_very_secret_0123456789";
const CALLBACK_TOKEN: &str = "callback-token-very-secret-0123";

fn gateway_env(name: &str) -> Option<String> {
    let value = match name {
        "KASSA_STRIPE_SECRET_KEY" => STRIPE_KEY,
        "KASSA_STRIPE_API_BASE" => "http://127.0.0.1:12111",
        "KASSA_MPESA_CONSUMER_KEY" => "consumer-key-secret",
        "KASSA_MPESA_CONSUMER_SECRET" => "consumer-secret-secret",
        "KASSA_MPESA_SHORTCODE" => "174379",
        "KASSA_MPESA_PASSKEY" => "passkey-secret",
        "KASSA_MPESA_CALLBACK_BASE" => "https://kassa.example.com",
        "KASSA_MPESA_CALLBACK_TOKEN" => CALLBACK_TOKEN,
        "KASSA_DEFAULT_GATEWAY" => "stripe",
        _ => return None,
    };
    Some(value.to_owned())
}

#[test]
fn gateways_are_switched_on_by_their_credentials_from_the_environment() {
    assert_eq!(Config::load(None, &no_env).unwrap().enabled_gateways(), vec!["sandbox"]);
    let config = Config::load(None, &gateway_env).unwrap();
    assert_eq!(config.enabled_gateways(), vec!["sandbox", "stripe", "mpesa"]);
    assert_eq!(config.routing.default, "stripe");
    assert_eq!(config.gateways.stripe.secret_key.expose(), STRIPE_KEY);
    assert_eq!(config.gateways.stripe.api_base, "http://127.0.0.1:12111");
    assert_eq!(config.gateways.mpesa.shortcode, "174379");
    // Debug output (logs, panics) never shows a secret.
    let shown = format!("{config:?}");
    for secret in [STRIPE_KEY, CALLBACK_TOKEN, "consumer-key-secret", "passkey-secret"] {
        assert!(!shown.contains(secret), "{secret} is printed");
    }
}

#[test]
fn incomplete_gateway_settings_name_the_key_at_fault() {
    let without = |missing: &'static str| {
        move |name: &str| if name == missing { None } else { gateway_env(name) }
    };
    for (missing, key) in [
        ("KASSA_MPESA_PASSKEY", "gateways.mpesa.passkey"),
        ("KASSA_MPESA_SHORTCODE", "gateways.mpesa.shortcode"),
        ("KASSA_MPESA_CALLBACK_BASE", "gateways.mpesa.callback_base"),
    ] {
        assert_eq!(Config::load(None, &without(missing)).unwrap_err().key, key);
    }
    // No callback token: the engine generates one at start.
    assert!(Config::load(None, &without("KASSA_MPESA_CALLBACK_TOKEN")).is_ok());
    let short_token = |name: &str| match name {
        "KASSA_MPESA_CALLBACK_TOKEN" => Some("short".to_owned()),
        other => gateway_env(other),
    };
    let error = Config::load(None, &short_token).unwrap_err();
    assert_eq!(error.key, "gateways.mpesa.callback_token");
    let stripe_off = without("KASSA_STRIPE_SECRET_KEY");
    assert_eq!(Config::load(None, &stripe_off).unwrap_err().key, "routing.default");
    let bad_key = |name: &str| match name {
        "KASSA_STRIPE_SECRET_KEY" => Some("pk_test_publishable".to_owned()),
        other => gateway_env(other),
    };
    let error = Config::load(None, &bad_key).unwrap_err();
    assert_eq!(error.key, "gateways.stripe.secret_key");
    assert!(!error.to_string().contains("pk_test_publishable"), "{error}");
}

#[test]
fn routing_rules_are_read_and_checked_against_the_enabled_gateways() {
    let text = r#"
[routing]
default = "sandbox"
[[routing.rules]]
currencies = ["kes"]
method_types = ["mpesa"]
countries = ["KE"]
amount_minor_max = 15000000
gateways = ["mpesa"]
[[routing.rules]]
method_types = ["card"]
gateways = ["stripe", "sandbox"]
"#;
    let mut config = Config::parse(text).unwrap();
    assert_eq!(config.routing.rules.len(), 2);
    assert_eq!(config.routing.rules[1].gateways, vec!["stripe", "sandbox"]);
    assert_eq!(config.validate().unwrap_err().key, "routing.rules[0].gateways");
    config.apply_env(&gateway_env).unwrap();
    config.validate().unwrap();
    config.routing.rules[0].currencies = vec!["KES".into()];
    assert_eq!(config.validate().unwrap_err().key, "routing.rules[0].currencies");
    let error = Config::parse("[[routing.rules]]\ngateways = [\"sandbox\"]\nweight = 1\n");
    assert_eq!(error.unwrap_err().key, "routing.rules[0].weight");
}

#[test]
fn gateway_minimums_sandbox_fees_and_renewal_pace_are_checked() {
    let parsed = Config::parse("[gateways.sandbox]\nmin_amount = { usd = 50, kes = 100 }\n");
    let minimums = parsed.unwrap().gateways.sandbox.min_amount;
    assert_eq!(minimums, MinAmounts::from([("kes".into(), 100), ("usd".into(), 50)]));
    let replaced = Config::parse("[gateways.stripe]\nmin_amount = { zar = 500 }\n").unwrap();
    assert_eq!(
        replaced.gateways.stripe.min_amount,
        MinAmounts::from([("zar".into(), 500)]),
        "a table replaces the defaults whole"
    );

    let refused = [
        ("[gateways.sandbox]\nmin_amount = { USD = 50 }\n", "gateways.sandbox.min_amount"),
        ("[gateways.stripe]\nmin_amount = { usd = -1 }\n", "gateways.stripe.min_amount"),
        ("[gateways.mpesa]\nmin_amount = { xyz = 1 }\n", "gateways.mpesa.min_amount"),
        ("[gateways.stripe]\nrenewals_per_sec = 10001\n", "gateways.stripe.renewals_per_sec"),
        ("[gateways.sandbox]\nfee_bps = 10001\n", "gateways.sandbox.fee_bps"),
        ("[gateways.sandbox]\nfee_fixed = { usd = -30 }\n", "gateways.sandbox.fee_fixed"),
        ("[gateways.sandbox]\nfee_fixed = { dollars = 30 }\n", "gateways.sandbox.fee_fixed"),
    ];
    for (text, key) in refused {
        let config = Config::parse(text).unwrap();
        assert_eq!(config.validate().unwrap_err().key, key, "{text}");
    }
    let priced = Config::parse("[gateways.sandbox]\nfee_bps = 290\nfee_fixed = { usd = 30 }\n");
    assert!(priced.unwrap().validate().is_ok(), "Stripe's card pricing");
    let unpaced = Config::parse("[gateways.stripe]\nrenewals_per_sec = 0\n").unwrap();
    assert!(unpaced.validate().is_ok(), "0: not paced");
}

#[test]
fn the_dunning_schedule_is_read_and_checked() {
    let text = "[billing.dunning]\nretry_days = [2, 4]\nfinal_action = \"cancel\"\n";
    let config = Config::parse(text).unwrap();
    assert_eq!(config.billing.dunning.retry_days, [2, 4]);
    assert_eq!(config.billing.dunning.final_action, FinalAction::Cancel);
    assert!(config.validate().is_ok());
    let none = Config::parse("[billing.dunning]\nretry_days = []\n").unwrap();
    assert!(none.validate().is_ok(), "no retries: the final action follows the first failure");

    for days in ["[3, 1]", "[1, 1]", "[0, 2]", "[1, 61]", "[1,2,3,4,5,6,7,8,9,10,11,12,13]"] {
        let config = Config::parse(&format!("[billing.dunning]\nretry_days = {days}\n")).unwrap();
        assert_eq!(config.validate().unwrap_err().key, "billing.dunning.retry_days", "{days}");
    }
    let error = Config::parse("[billing.dunning]\nfinal_action = \"forgive\"\n").unwrap_err();
    assert_eq!(error.key, "billing.dunning.final_action");
}

#[test]
fn the_grace_period_is_bounded() {
    let config = Config::parse("[billing]\ngrace_days = 61\n").unwrap();
    assert_eq!(config.validate().unwrap_err().key, "billing.grace_days");
    assert!(Config::parse("[billing]\ngrace_days = 0\n").unwrap().validate().is_ok());
}

#[test]
fn the_local_hours_and_time_zone_are_checked() {
    let config = Config::parse(
        "[billing]\ntimezone = \"Africa/Nairobi\"\n[billing.dunning]\nlocal_hours = [7, 21]\n",
    )
    .unwrap();
    assert!(config.validate().is_ok());
    assert_eq!(config.billing.dunning.local_hours, [7, 21]);
    let zone = Config::parse("[billing]\ntimezone = \"Nairobi\"\n").unwrap();
    assert_eq!(zone.validate().unwrap_err().key, "billing.timezone");
    for hours in ["[20, 8]", "[8, 25]", "[8, 8]"] {
        let text = format!("[billing.dunning]\nlocal_hours = {hours}\n");
        let config = Config::parse(&text).unwrap();
        assert_eq!(config.validate().unwrap_err().key, "billing.dunning.local_hours", "{hours}");
    }
}

#[test]
fn connection_limits_come_from_the_file_or_the_environment_and_are_bounded() {
    let defaults = Config::load(None, &no_env).unwrap().server;
    let defaults = (
        defaults.max_connections,
        defaults.header_timeout_ms,
        defaults.idle_timeout_ms,
        defaults.body_timeout_ms,
    );
    assert_eq!(defaults, (10_000, 10_000, 60_000, 30_000), "the contract's defaults");
    let env = |name: &str| match name {
        "KASSA_MAX_CONNECTIONS" => Some("500".to_owned()),
        "KASSA_HEADER_TIMEOUT_MS" => Some("2000".to_owned()),
        "KASSA_IDLE_TIMEOUT_MS" => Some("3000".to_owned()),
        "KASSA_BODY_TIMEOUT_MS" => Some("4000".to_owned()),
        _ => None,
    };
    let server = Config::load(None, &env).unwrap().server;
    let limits = (
        server.max_connections,
        server.header_timeout_ms,
        server.idle_timeout_ms,
        server.body_timeout_ms,
    );
    assert_eq!(limits, (500, 2_000, 3_000, 4_000));
    let bad = |name: &str| (name == "KASSA_IDLE_TIMEOUT_MS").then(|| "a minute".to_owned());
    assert_eq!(Config::load(None, &bad).unwrap_err().key, "KASSA_IDLE_TIMEOUT_MS");
    for (text, key) in [
        ("[server]\nmax_connections = 0\n", "server.max_connections"),
        ("[server]\nheader_timeout_ms = 0\n", "server.header_timeout_ms"),
        ("[server]\nidle_timeout_ms = 3600001\n", "server.idle_timeout_ms"),
        ("[server]\nbody_timeout_ms = 0\n", "server.body_timeout_ms"),
    ] {
        let config = Config::parse(text).unwrap();
        assert_eq!(config.validate().unwrap_err().key, key, "{text}");
    }
}

#[test]
fn rate_limits_come_from_the_environment_and_are_bounded() {
    let env = |name: &str| match name {
        "KASSA_RATE_LIMIT_PER_KEY_RPS" => Some("10".to_owned()),
        "KASSA_RATE_LIMIT_PER_ACCOUNT_RPS" => Some("20".to_owned()),
        "KASSA_RATE_LIMIT_WEBHOOKS_RPS" => Some("30".to_owned()),
        _ => None,
    };
    let rate = Config::load(None, &env).unwrap().limits.rate;
    assert_eq!(rate, RateLimitsConfig { per_key_rps: 10, per_account_rps: 20, webhooks_rps: 30 });
    let bad = |name: &str| (name == "KASSA_RATE_LIMIT_WEBHOOKS_RPS").then(|| "-1".to_owned());
    assert_eq!(Config::load(None, &bad).unwrap_err().key, "KASSA_RATE_LIMIT_WEBHOOKS_RPS");
    let config = Config::parse("[limits.rate]\nper_account_rps = 1000001\n").unwrap();
    assert_eq!(config.validate().unwrap_err().key, "limits.rate.per_account_rps");
}

#[test]
fn metrics_listen_is_off_or_an_address() {
    let default = Config::load(None, &no_env).unwrap().metrics.listen;
    assert_eq!(default, MetricsListen::At("127.0.0.1:0".parse().unwrap()), "loopback, any port");
    let off = Config::parse("[metrics]\nlisten = \"off\"\n").unwrap();
    assert_eq!(off.metrics.listen, MetricsListen::Off);
    let env = |name: &str| (name == "KASSA_METRICS_LISTEN").then(|| "0.0.0.0:9100".to_owned());
    let listen = Config::load(None, &env).unwrap().metrics.listen;
    assert_eq!(listen, MetricsListen::At("0.0.0.0:9100".parse().unwrap()));
    assert_eq!(Config::parse("[metrics]\nlisten = \"on\"\n").unwrap_err().key, "metrics.listen");
    let bad = |name: &str| (name == "KASSA_METRICS_LISTEN").then(|| "9100".to_owned());
    assert_eq!(Config::load(None, &bad).unwrap_err().key, "KASSA_METRICS_LISTEN");
}

#[test]
fn configured_api_keys_never_show_in_debug_output() {
    let secret = "sk_test_never_print_me_0123456789";
    let file = format!("[[accounts]]\nid = \"acct_a\"\napi_keys = [\"{secret}\"]\n");
    let from_file = Config::parse(&file).unwrap();
    let from_env = |name: &str| (name == "KASSA_API_KEY").then(|| secret.to_owned());
    let from_env = Config::load(None, &from_env).unwrap();
    for config in [from_file, from_env] {
        let shown = format!("{config:?} {:?}", config.accounts);
        assert!(!shown.contains(secret), "a key is printed: {shown}");
        assert!(shown.contains("[1 redacted]"), "{shown}");
    }
}

#[test]
fn a_data_key_is_32_bytes_of_base64_from_the_file_or_the_environment() {
    const GOOD: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    assert!(Config::load(None, &no_env).unwrap().data_key().is_none(), "unset by default");
    let config = Config::parse(&format!("[storage]\ndata_key = \"{GOOD}\"\n")).unwrap();
    assert!(matches!(config.data_key(), Some(Ok(_))));
    assert!(!format!("{config:?}").contains(GOOD), "Debug never shows the data key");
    for bad in ["not base64!", "c2hvcnQ=", &format!("{GOOD}AAAA")] {
        let env = |name: &str| (name == "KASSA_DATA_KEY").then(|| bad.to_owned());
        let error = Config::load(None, &env).unwrap_err();
        assert_eq!(error.key, "storage.data_key", "{bad}");
        assert!(!error.to_string().contains(bad), "the error never quotes the value: {error}");
    }
    let env = |name: &str| (name == "KASSA_DATA_KEY").then(|| GOOD.to_owned());
    assert!(matches!(Config::load(None, &env).unwrap().data_key(), Some(Ok(_))));
}

const ADMIN_KEY: &str = "admin_0123456789abcdefghijklmnopqrstuv";

#[test]
fn the_admin_key_comes_from_an_accounts_table_or_the_environment() {
    let file = format!(
        "[accounts]\nadmin_key = \"{ADMIN_KEY}\"\n\n[[accounts.list]]\nid = \"acct_school\"\n\
         api_keys = [\"sk_test_school_0123456789\"]\n"
    );
    let config = load_text(&file, &no_env).unwrap();
    assert_eq!(config.accounts.admin_key.expose(), ADMIN_KEY);
    assert_eq!(config.accounts.list[0].id, "acct_school");
    assert!(!format!("{config:?}").contains(ADMIN_KEY), "the admin key is printed");

    // The plain array still works, and the environment sets the key beside it.
    let env = |name: &str| (name == "KASSA_ADMIN_KEY").then(|| ADMIN_KEY.to_owned());
    let config = load_text("[[accounts]]\nid = \"acct_a\"\n", &env).unwrap();
    assert_eq!(config.accounts.admin_key.expose(), ADMIN_KEY);
    assert_eq!(config.accounts.list.len(), 1);
    assert!(!Config::load(None, &no_env).unwrap().accounts.admin_key.is_set());
}

#[test]
fn a_short_admin_key_or_one_shared_with_an_account_is_refused() {
    let short = |name: &str| (name == "KASSA_ADMIN_KEY").then(|| "admin".to_owned());
    let error = Config::load(None, &short).unwrap_err();
    assert_eq!(error.key, "accounts.admin_key");
    let shared = format!("[[accounts]]\nid = \"acct_a\"\napi_keys = [\"sk_{ADMIN_KEY}\"]\n");
    let env = |name: &str| (name == "KASSA_ADMIN_KEY").then(|| format!("sk_{ADMIN_KEY}"));
    let error = load_text(&shared, &env).unwrap_err();
    assert!(error.problem.contains("also an account's API key"), "{error}");
    let unknown = "[accounts]\nadmin_keys = \"x\"\n";
    assert_eq!(Config::parse(unknown).unwrap_err().key, "accounts.admin_keys");
}

#[test]
fn archival_is_off_unless_an_age_is_given() {
    assert_eq!(Config::load(None, &no_env).unwrap().storage.archive_after_days, None);
    let env = |name: &str| (name == "KASSA_ARCHIVE_AFTER_DAYS").then(|| "90".to_owned());
    assert_eq!(Config::load(None, &env).unwrap().storage.archive_after_days, Some(90));
    let bad = |name: &str| (name == "KASSA_ARCHIVE_AFTER_DAYS").then(|| "-1".to_owned());
    assert_eq!(Config::load(None, &bad).unwrap_err().key, "KASSA_ARCHIVE_AFTER_DAYS");
    let file = load_text("[storage]\narchive_after_days = 0\n", &no_env).unwrap();
    assert_eq!(file.storage.archive_after_days, Some(0));
    let too_long = load_text("[storage]\narchive_after_days = 100000\n", &no_env);
    assert_eq!(too_long.unwrap_err().key, "storage.archive_after_days");
}

#[test]
fn sealing_is_on_unless_turned_off() {
    assert!(Config::load(None, &no_env).unwrap().storage.seal_personal_data);
    let off = |name: &str| (name == "KASSA_SEAL_PERSONAL_DATA").then(|| "false".to_owned());
    assert!(!Config::load(None, &off).unwrap().storage.seal_personal_data);
    let bad = |name: &str| (name == "KASSA_SEAL_PERSONAL_DATA").then(|| "no".to_owned());
    assert_eq!(Config::load(None, &bad).unwrap_err().key, "KASSA_SEAL_PERSONAL_DATA");
    let file = load_text("[storage]\nseal_personal_data = false\n", &no_env).unwrap();
    assert!(!file.storage.seal_personal_data);
}

#[test]
fn previous_data_keys_come_with_a_new_key_and_are_keys() {
    let old = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=";
    let new = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=";
    let env = |name: &str| match name {
        "KASSA_DATA_KEY" => Some(new.to_owned()),
        "KASSA_PREVIOUS_DATA_KEYS" => Some(format!("{old}, ")),
        _ => None,
    };
    assert_eq!(Config::load(None, &env).unwrap().previous_data_keys().len(), 1);
    let alone = |name: &str| (name == "KASSA_PREVIOUS_DATA_KEYS").then(|| old.to_owned());
    assert_eq!(Config::load(None, &alone).unwrap_err().key, "storage.previous_data_keys");
    let bad = "[storage]\ndata_key = \"QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=\"\nprevious_data_keys = [\"short\"]\n";
    let error = load_text(bad, &no_env).unwrap_err();
    assert_eq!(error.key, "storage.previous_data_keys[0]");
    assert!(
        !format!("{:?}", load_text(&bad.replace("short", old), &no_env).unwrap()).contains(old)
    );
}

#[test]
fn outgoing_webhook_settings_come_from_the_file_or_the_environment_and_are_checked() {
    let defaults = Config::default().webhooks;
    assert!(!defaults.allow_http && !defaults.allow_private_networks);
    assert_eq!(
        defaults.retry,
        WebhookRetryConfig { initial_ms: 1_000, max_ms: 3_600_000, give_up_after_s: 259_200 }
    );
    let text = "[webhooks]\nallow_http = true\n\n[webhooks.retry]\ninitial_ms = 50\n";
    let env = |name: &str| match name {
        "KASSA_WEBHOOKS_ALLOW_PRIVATE_NETWORKS" => Some("true".to_owned()),
        "KASSA_WEBHOOKS_RETRY_MAX_MS" => Some("200".to_owned()),
        "KASSA_WEBHOOKS_RETRY_GIVE_UP_AFTER_S" => Some("60".to_owned()),
        _ => None,
    };
    let config = load_text(text, &env).unwrap();
    assert!(config.webhooks.allow_http && config.webhooks.allow_private_networks);
    assert_eq!(
        config.webhooks.retry,
        WebhookRetryConfig { initial_ms: 50, max_ms: 200, give_up_after_s: 60 }
    );

    let bad = |name: &str| (name == "KASSA_WEBHOOKS_ALLOW_HTTP").then(|| "yes".to_owned());
    assert_eq!(load_text("", &bad).unwrap_err().key, "KASSA_WEBHOOKS_ALLOW_HTTP");
    let error = load_text("[webhooks.retry]\ninitial_ms = 5000\nmax_ms = 1000\n", &no_env);
    assert_eq!(error.unwrap_err().key, "webhooks.retry.max_ms");
    let error = load_text("[webhooks.retry]\ngive_up_after_s = 0\n", &no_env);
    assert_eq!(error.unwrap_err().key, "webhooks.retry.give_up_after_s");
}

#[test]
fn the_postgres_backend_needs_its_url_and_a_shared_data_key() {
    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const URL: &str = "postgres://kassa:hunter2pw@127.0.0.1:5432/kassa";
    let defaults = Config::load(None, &no_env).unwrap();
    assert_eq!(defaults.storage.backend, StorageBackend::Sled);
    assert_eq!(defaults.cluster.lease_ms, 10_000);

    let env = |name: &str| match name {
        "KASSA_STORAGE_BACKEND" => Some("postgres".to_owned()),
        "KASSA_DATABASE_URL" => Some(URL.to_owned()),
        "KASSA_DATA_KEY" => Some(KEY.to_owned()),
        "KASSA_CLUSTER_LEASE_MS" => Some("2500".to_owned()),
        _ => None,
    };
    let config = Config::load(None, &env).unwrap();
    assert_eq!(config.storage.backend, StorageBackend::Postgres);
    assert_eq!(config.storage.postgres.url.expose(), URL);
    assert_eq!(config.cluster.lease_ms, 2_500);
    assert!(!format!("{config:?}").contains("hunter2pw"), "Debug never shows the password");

    let no_url = "[storage]\nbackend = \"postgres\"\ndata_key = \"".to_owned() + KEY + "\"\n";
    assert_eq!(load_text(&no_url, &no_env).unwrap_err().key, "storage.postgres.url");
    let no_key =
        format!("[storage]\nbackend = \"postgres\"\n[storage.postgres]\nurl = \"{URL}\"\n");
    assert_eq!(load_text(&no_key, &no_env).unwrap_err().key, "storage.data_key");
    let unknown = |name: &str| (name == "KASSA_STORAGE_BACKEND").then(|| "mysql".to_owned());
    assert_eq!(Config::load(None, &unknown).unwrap_err().key, "KASSA_STORAGE_BACKEND");
    let zero = load_text("[cluster]\nlease_ms = 0\n", &no_env).unwrap_err();
    assert_eq!(zero.key, "cluster.lease_ms");
}
