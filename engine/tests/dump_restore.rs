//! `kassa dump` and `kassa restore` move an installation from sled to PostgreSQL and back: the
//! counts and digest the restore reads back are the dump's, an engine on the restored store
//! answers as the first did (archived records included), and a restore refuses a tampered file or a store that is not empty
//! without writing anything.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;

/// Runs `kassa <args>` with only the given settings (none of the test's environment).
fn kassa(args: &[&str], env: &[(&str, &str)], work_dir: &Path) -> Output {
    let mut command = kassa_command();
    command.args(args).envs(env.iter().copied()).current_dir(work_dir);
    command.output().expect("run kassa")
}

/// The entry count and digest a dump or restore printed (among its log lines).
fn summary(output: &Output) -> (String, String) {
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}{}", String::from_utf8_lossy(&output.stderr));
    let first = text
        .lines()
        .find(|line| line.starts_with("dumped ") || line.starts_with("restored "))
        .unwrap_or_else(|| panic!("no summary in {text}"));
    let words: Vec<&str> = first.split_whitespace().collect();
    (words[1].to_owned(), words.last().unwrap().to_string())
}

#[tokio::test]
async fn an_installation_moves_from_sled_to_postgres_and_back() {
    let work = tempfile::tempdir().unwrap();
    let mut first = Engine::start(Config::default()).await;
    let api = first.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let charge = api.charge_ok(&customer, 5_000, "zar").await;
    let charge_id = charge["id"].as_str().unwrap().to_owned();
    api.refund(&charge_id, Some(1_200)).await.ok();
    let charge_before = api.get_ok(&format!("/v1/charges/{charge_id}")).await;
    // A charge refunded in full, archived by a start that archives what is closed.
    let closed = api.charge_ok(&customer, 900, "zar").await;
    let closed_path = format!("/v1/charges/{}", str_field(&closed, "id"));
    api.refund(str_field(&closed, "id"), None).await.ok();
    let ledger_before = api.ledger().await;
    first.stop_graceful().await;
    first.reconfigure(Config::default().with_storage("archive_after_days = 0"));
    first.launch().await;
    let api = first.api_a();
    let archived = wait_for("the archival pass", std::time::Duration::from_secs(20), || async {
        let read = api.get_ok(&closed_path).await;
        (read["archived"] == true).then_some(read)
    })
    .await;
    first.stop_graceful().await;
    let data_key = std::fs::read_to_string(first.data_dir().join("dev-data-key")).unwrap();
    let data_key = data_key.trim();
    let sled_dir = first.data_dir().to_str().unwrap().to_owned();

    let dump = work.path().join("sled.dump");
    let dump = dump.to_str().unwrap();
    let dumped = summary(&kassa(&["dump", dump], &[("KASSA_DATA_DIR", &sled_dir)], work.path()));
    assert_ne!(dumped.0, "0", "the dump holds the installation");

    let database = kassa_testkit::postgres::fresh_database();
    let postgres_env = [
        ("KASSA_STORAGE_BACKEND", "postgres"),
        ("KASSA_DATABASE_URL", database.as_str()),
        ("KASSA_DATA_KEY", data_key),
        ("KASSA_DATA_DIR", "node"),
    ];
    // A tampered file is refused before anything is written: the good one restores after.
    let mut tampered = std::fs::read(dump).unwrap();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x01;
    let tampered_path = work.path().join("tampered.dump");
    std::fs::write(&tampered_path, tampered).unwrap();
    let refused = kassa(&["restore", tampered_path.to_str().unwrap()], &postgres_env, work.path());
    assert!(!refused.status.success(), "a tampered dump is restored");
    let restored = summary(&kassa(&["restore", dump], &postgres_env, work.path()));
    assert_eq!(restored, dumped, "the restore reads back the dump's count and digest");
    let again = kassa(&["restore", dump], &postgres_env, work.path());
    assert!(!again.status.success(), "a restore into a store that is not empty");

    let mut second = Engine::start(Config::default().on_postgres(&database, data_key)).await;
    let api = second.api_a();
    assert_eq!(api.get_ok(&format!("/v1/charges/{charge_id}")).await, charge_before);
    assert_eq!(api.get_ok(&closed_path).await, archived, "the archived charge moved with it");
    assert_eq!(api.ledger().await, ledger_before, "the sandbox's ledger moved with it");
    let later = api.charge_ok(&customer, 700, "zar").await;
    second.stop_graceful().await;

    // And back to a sled directory of its own.
    let back = work.path().join("postgres.dump");
    let back = back.to_str().unwrap();
    let dumped_back = summary(&kassa(&["dump", back], &postgres_env, work.path()));
    let config = Config::default().with_storage(&format!("data_key = \"{data_key}\""));
    let work_dir = work.path().to_owned();
    let restored_back = std::sync::Mutex::new(None);
    let third = Engine::start_on(config, |data_dir| {
        let env = [("KASSA_DATA_DIR", data_dir.to_str().unwrap()), ("KASSA_DATA_KEY", data_key)];
        *restored_back.lock().unwrap() = Some(summary(&kassa(&["restore", back], &env, &work_dir)));
    })
    .await;
    assert_eq!(restored_back.into_inner().unwrap(), Some(dumped_back));
    let api = third.api_a();
    let later_id = later["id"].as_str().unwrap();
    assert_eq!(api.get_ok(&format!("/v1/charges/{later_id}")).await["status"], "succeeded");
    assert_eq!(api.get_ok(&format!("/v1/charges/{charge_id}")).await, charge_before);
    assert_eq!(api.get_ok(&closed_path).await, archived);
    assert_eq!(api.ledger().await.len(), ledger_before.len() + 1);
}
