//! Idempotency-Keys at rest: a key is never refused for its digits, and is kept only as a keyed
//! hash made with the data key, without ever charging twice across an upgrade or a restart.
//!
//! Proves that a key holding a Luhn-valid 16-digit run is accepted and replays, for a charge and
//! a refund; that afterwards the key as sent is in no file of the data directory, in no answer
//! and in no log line; that the data key was generated into `<data dir>/dev-data-key` (mode 0600)
//! and is reused by the next start, whose replays still work; and that a record written by a
//! version before the hash (keyed by the key as sent) still replays its request after the upgrade,
//! completed or in flight, instead of carrying it out again.
//! How: a real engine on a temporary data directory. "In no file" is a byte search of every file
//! under the data directory after a graceful stop (everything flushed); sled 0.34 compresses
//! nothing unless built with its `compression` feature, which Kassa does not enable, so stored
//! text is there as written, and the same search finding a charge's description proves it. The
//! legacy records are written through the store API (`SledStore`) while the engine is stopped,
//! exactly as the earlier version's actor wrote them: the charge holding the key and its record
//! under that key, in one change set. The customer's charge list and the sandbox ledger are the
//! ground truth for "charged once".

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::*;
use kassa::api::idempotency::fingerprint;
use kassa::api::request::ApiRequest;
use kassa::domain::{AccountId, ChargeId};
use kassa::store::{
    ChangeSet, CustomerStore, IdempotencyRecord, IdempotencyState, InFlightObject, Outcome,
    SledStore, Write,
};

/// Every file under `dir` whose bytes contain `needle`.
fn files_holding(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(directory) = pending.pop() {
        for entry in std::fs::read_dir(&directory).expect("read a data directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).expect("read a data file");
            if bytes.windows(needle.len()).any(|window| window == needle.as_bytes()) {
                found.push(path);
            }
        }
    }
    found
}

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

/// The fingerprint the API computes for `POST path` with `body`.
fn request_fingerprint(path: &str, body: &Value) -> [u8; 32] {
    fingerprint(&ApiRequest {
        method: warp::http::Method::POST,
        path: path.to_owned(),
        query: String::new(),
        headers: Default::default(),
        body: to_bytes(body).into(),
        request_id: "legacy".to_owned(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_written_before_keys_were_hashed_still_replays() {
    let mut engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let body = charge_body(&customer, 1_000, "usd");
    let first = api.post("/v1/charges", &body).await;
    let charge_id = first.id();
    assert!(engine.stop_graceful().await.success());

    // What the earlier version left: the charge holding the key as sent and the key's record
    // under it, completed; and, for a second request whose charge was still at the gateway
    // when it stopped, a record in flight.
    let completed_key = unique_key("legacy-completed");
    let in_flight_key = unique_key("legacy-in-flight");
    let in_flight_body = charge_body(&customer, 3_000, "usd");
    {
        let store = SledStore::open(engine.data_dir()).expect("open the stopped engine's store");
        let account = AccountId::parse(ACCOUNT_A).unwrap();
        let id = ChargeId::parse(&charge_id).unwrap();
        let mut charge = store.charge(&account, &id).unwrap().expect("the charge is stored");
        charge.idempotency_key = Some(completed_key.clone());
        let record = |path, body, state| IdempotencyRecord {
            fingerprint: request_fingerprint(path, body),
            created: now_secs() as i64,
            state,
        };
        let completed = IdempotencyState::Completed(Box::new(Outcome::Charge(charge.clone())));
        let in_flight = IdempotencyState::InFlight(InFlightObject::Charge(id.clone()));
        let changes = ChangeSet::new(&account, &charge.customer)
            .with(Write::Charge(charge))
            .with(Write::Idempotency {
                key: completed_key.clone(),
                record: record("/v1/charges", &body, completed),
            })
            .with(Write::Idempotency {
                key: in_flight_key.clone(),
                record: record("/v1/charges", &in_flight_body, in_flight),
            });
        store.commit(changes).unwrap().wait().await.unwrap();
    }

    engine.launch().await;
    let api = engine.api_a();
    let retry = api.post_with_key("/v1/charges", &body, &completed_key).await;
    assert!(retry.is_replay(), "a retry after the upgrade was carried out again: {}", retry.text);
    assert_eq!(retry.body, first.body, "the replay is the first answer");
    let retry = api.post_with_key("/v1/charges", &in_flight_body, &in_flight_key).await;
    assert!(retry.is_replay(), "an in-flight request was carried out again: {}", retry.text);
    assert_eq!(retry.body["id"], charge_id.as_str(), "the replay shows the object as it stands");
    let another_request = charge_body(&customer, 7, "usd");
    let reused = api.post_with_key("/v1/charges", &another_request, &completed_key).await;
    assert_error(&reused, 422, "idempotency_key_reused");

    assert_eq!(ids(&api.customer_charges(&customer).await), [charge_id.as_str()]);
    let ledger = api.ledger().await;
    assert_eq!(ledger_of_kind(&ledger, "charge").len(), 1, "charged once: {ledger:?}");
}
