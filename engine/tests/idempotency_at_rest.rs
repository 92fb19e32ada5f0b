//! Idempotency-Keys at rest: a key is never refused for its digits, and is kept only as a keyed
//! hash made with the data key, without ever charging twice across a restart.
//!
//! Proves that a key holding a Luhn-valid 16-digit run is accepted and replays, for a charge and
//! a refund; that afterwards the key as sent is in no file of the data directory, in no answer
//! and in no log line; that the data key was generated into `<data dir>/dev-data-key` (mode 0600)
//! and is reused by the next start, whose replays still work; and that a start with another data
//! key is refused with a message naming both keys' fingerprints and changes nothing, after
//! which the right key starts and replays as before.
//! How: a real engine on a temporary data directory. "In no file" is a byte search of every file
//! under the data directory after a graceful stop (everything flushed); sled 0.34 compresses
//! nothing unless built with its `compression` feature, which Kassa does not enable, so stored
//! text is there as written, and the same search finding a charge's description proves it. The
//! customer's charge list and the sandbox ledger are the ground truth for "charged once".

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use common::*;

fn data_key_file(engine: &Engine) -> (String, u32) {
    let path = engine.data_dir().join("dev-data-key");
    let text = std::fs::read_to_string(&path).expect("the data key was generated");
    let mode = std::fs::metadata(&path).expect("the data key's metadata").permissions().mode();
    (text, mode & 0o777)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_holding_a_card_number_replays_and_is_kept_only_as_a_keyed_hash() {
    let mut engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let charge_key = unique_key("4242424242424242-retry");
    let refund_key = unique_key("4000056655665556-refund");
    let canary = unique_key("description-canary");
    let body = json!({
        "customer": customer, "amount": 2_500, "currency": "usd", "description": canary,
    });

    let first = api.post_with_key("/v1/charges", &body, &charge_key).await;
    let charge = first.ok().clone();
    assert_eq!(charge["status"], "succeeded");
    assert!(!first.is_replay());
    let again = api.post_with_key("/v1/charges", &body, &charge_key).await;
    assert!(again.is_replay(), "the key's digits did not stop its replay: {}", again.text);
    assert_eq!(again.body, first.body);
    let charge_id = str_field(&charge, "id");

    let refund_body = json!({ "charge": charge_id, "amount": 500 });
    let refund = api.post_with_key("/v1/refunds", &refund_body, &refund_key).await;
    assert_eq!(refund.ok()["status"], "succeeded");
    let refund_again = api.post_with_key("/v1/refunds", &refund_body, &refund_key).await;
    assert!(refund_again.is_replay(), "{}", refund_again.text);
    assert_eq!(refund_again.body, refund.body);

    let shown = api.get(&format!("/v1/charges/{charge_id}")).await;
    let answers = [&first.text, &again.text, &refund.text, &refund_again.text, &shown.text];
    let (generated, mode) = data_key_file(&engine);
    assert_eq!(mode, 0o600, "dev-data-key is readable by its owner only");

    assert!(engine.stop_graceful().await.success());
    let data_dir = engine.data_dir().to_path_buf();
    assert!(
        !files_holding(&data_dir, &canary).is_empty(),
        "the search must see stored text: the charge's description is in the data files"
    );
    for raw in [&charge_key, &refund_key] {
        assert_eq!(files_holding(&data_dir, raw), Vec::<PathBuf>::new(), "{raw} is stored");
        let digits = &raw[..16];
        assert_eq!(files_holding(&data_dir, digits), Vec::<PathBuf>::new(), "{digits} stored");
        for answer in answers {
            assert!(!answer.contains(digits), "an answer shows {digits}: {answer}");
        }
        assert!(!engine.log_text().contains(digits), "the log shows {digits}");
    }

    // The next start reads the same data key, so the hashes still find their records.
    engine.launch().await;
    let api = engine.api_a();
    assert_eq!(data_key_file(&engine), (generated, 0o600), "the data key is reused");
    let after_restart = api.post_with_key("/v1/charges", &body, &charge_key).await;
    assert!(after_restart.is_replay(), "no replay after a restart: {}", after_restart.text);
    assert_eq!(after_restart.body, first.body);
    let refund_after = api.post_with_key("/v1/refunds", &refund_body, &refund_key).await;
    assert!(refund_after.is_replay(), "{}", refund_after.text);
    assert_eq!(ids(&api.customer_charges(&customer).await), [charge_id]);
    let ledger = api.ledger().await;
    assert_eq!(ledger_of_kind(&ledger, "charge").len(), 1, "{ledger:?}");
    assert_eq!(ledger_of_kind(&ledger, "refund").len(), 1, "{ledger:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_data_key_is_refused_at_start_and_changes_nothing() {
    let mut engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let body = charge_body(&customer, 1_500, "usd");
    let key = unique_key("before-the-wrong-key");
    let first = api.post_with_key("/v1/charges", &body, &key).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert!(engine.stop_graceful().await.success());
    let data_dir = engine.data_dir().to_path_buf();
    let before = file_contents(&data_dir);

    let other = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI="; // base64 of 32 × 'B'
    let config = data_dir.parent().expect("the engine's directory").join("empty.toml");
    std::fs::write(&config, "").expect("an empty config");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kassa"))
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .env("KASSA_DATA_DIR", &data_dir)
        .env("KASSA_DATA_KEY", other)
        .env("KASSA_LISTEN", "127.0.0.1:0")
        .env("KASSA_METRICS_LISTEN", "off")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kassa runs");
    // A start that is not refused serves until stopped: give it a bound, then fail.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while child.try_wait().expect("poll kassa").is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().expect("stop kassa");
            panic!("kassa started with another data key");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let refused = child.wait_with_output().expect("kassa's output");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&refused.stdout),
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(!refused.status.success(), "started with another data key: {said}");
    assert!(said.contains("is not the one") && said.contains("fingerprint"), "{said}");
    assert!(!said.contains(other), "the key was printed: {said}");
    assert!(before == file_contents(&data_dir), "the refused start changed the data directory");

    // The right key (the generated one, still in its file) starts and replays.
    engine.launch().await;
    let again = engine.api_a().post_with_key("/v1/charges", &body, &key).await;
    assert!(again.is_replay(), "{}", again.text);
    assert_eq!(again.body, first.body);
}
