//! Rotating the data key.
//!
//! Proves that an engine restarted with a new data key and the old one as a previous key
//! serves at once and re-wraps every customer's key in the background (its log says when it has
//! finished). Afterwards personal data reads back as before, the `email=` filter finds the
//! customer, and an Idempotency-Key sent before the rotation still replays its charge. The old key
//! must stay configured while such keys are kept: a start without it is refused, naming it.
//! A start with the old key alone is refused too. Each refused start changes nothing.
//! How: the real engine over HTTP, keys given in its config file; the refused starts run the
//! binary directly and are bounded, so a start that is wrongly not refused fails the test.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

/// base64 of 32 × 'A' and of 32 × 'B'.
const OLD_KEY: &str = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=";
const NEW_KEY: &str = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=";
const EMAIL: &str = "thandi.nkosi@example.co.za";

fn with_keys(current: &str, previous: &[&str]) -> Config {
    let previous: Vec<String> = previous.iter().map(|key| format!("\"{key}\"")).collect();
    Config::default()
        .with_storage(&format!("data_key = \"{current}\""))
        .with_storage(&format!("previous_data_keys = [{}]", previous.join(", ")))
}

/// Starts the binary on `data_dir` with these keys; it must exit (refused) within 30 s. Returns
/// what it printed.
fn refused_start(data_dir: &Path, current: &str, previous: &str) -> String {
    let config = data_dir.parent().expect("the engine's directory").join("refused.toml");
    std::fs::write(&config, "").expect("an empty config");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kassa"))
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .env("KASSA_DATA_DIR", data_dir)
        .env("KASSA_DATA_KEY", current)
        .env("KASSA_PREVIOUS_DATA_KEYS", previous)
        .env("KASSA_LISTEN", "127.0.0.1:0")
        .env("KASSA_METRICS_LISTEN", "off")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kassa runs");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("poll kassa").is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().expect("stop kassa");
            panic!("kassa started though it should have been refused");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("kassa's output");
    assert!(!output.status.success());
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_data_key_takes_over_in_the_background_and_nothing_is_forgotten() {
    let mut engine = Engine::start(with_keys(OLD_KEY, &[])).await;
    let api = engine.api_a();
    let created = api.create_customer_with(&json!({"email": EMAIL, "name": "Thandi Nkosi"})).await;
    let customer = str_field(&created, "id").to_owned();
    api.add_payment_method(&customer, "pm_card_visa").await;
    let body = charge_body(&customer, 4_200, "zar");
    let key = unique_key("before-rotation");
    let charged = api.post_with_key("/v1/charges", &body, &key).await;
    assert_eq!(charged.status, 200, "{}", charged.text);
    let path = format!("/v1/customers/{customer}");
    let shown = api.get_ok(&path).await;
    assert!(engine.stop_graceful().await.success());

    engine.reconfigure(with_keys(NEW_KEY, &[OLD_KEY]));
    engine.launch().await;
    wait_for("the rotation to finish", Duration::from_secs(30), || {
        let finished = engine.log_text().contains("data key rotation finished");
        async move { finished.then_some(()) }
    })
    .await;
    let finished = engine.log_text();
    let line = finished.lines().find(|line| line.contains("data key rotation finished")).unwrap();
    assert!(line.contains("keys_rewrapped=1"), "the customer's key was re-wrapped: {line}");
    let api = engine.api_a();
    assert_eq!(api.get_ok(&path).await, shown, "personal data reads back as before");
    let found = api.get_ok(&format!("/v1/customers?email={EMAIL}")).await;
    assert_eq!(found["data"][0]["id"], customer.as_str(), "{found}");
    let replay = api.post_with_key("/v1/charges", &body, &key).await;
    assert!(replay.is_replay(), "{}", replay.text);
    assert_eq!(replay.body, charged.body);
    assert_eq!(api.customer_charges(&customer).await.len(), 1, "charged once");
    assert!(engine.stop_graceful().await.success());
    let kept = std::fs::read_to_string(engine.data_dir().join("data-key-fingerprint")).unwrap();
    assert!(kept.lines().nth(1).is_some_and(|line| line.starts_with("retired ")), "{kept}");

    // The old key is still needed for the Idempotency-Keys hashed with it, and no longer
    // enough on its own.
    let before = file_contents(engine.data_dir());
    let without_old = refused_start(engine.data_dir(), NEW_KEY, "");
    assert!(without_old.contains("was rotated out"), "{without_old}");
    let old_alone = refused_start(engine.data_dir(), OLD_KEY, "");
    assert!(old_alone.contains("is not the one"), "{old_alone}");
    assert!(!without_old.contains(OLD_KEY) && !old_alone.contains(NEW_KEY), "a key was printed");
    assert!(before == file_contents(engine.data_dir()), "a refused start changed the directory");

    // With both, it starts again, finds nothing left to re-wrap, and serves as before.
    engine.launch().await;
    let api = engine.api_a();
    assert_eq!(api.get_ok(&path).await, shown);
    assert!(api.post_with_key("/v1/charges", &body, &key).await.is_replay());
}
