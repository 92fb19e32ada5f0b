//! Start-up refuses a bad configuration with one line naming the key at fault, before it opens
//! the data directory or listens.
//!
//! How: run the real `kassa` binary with a bad config file or environment value and check its
//! exit status, that it printed exactly one line, and that the line names the key.

use std::process::{Command, Output};

fn run_kassa(config: &str, env: &[(&str, &str)]) -> (Output, tempfile::TempDir) {
    let directory = tempfile::tempdir().expect("a temp dir");
    let config_path = directory.path().join("kassa.toml");
    std::fs::write(&config_path, config).expect("the config file is written");
    let mut command = Command::new(env!("CARGO_BIN_EXE_kassa"));
    command
        .arg("serve")
        .arg("--config")
        .arg(&config_path)
        .env("KASSA_DATA_DIR", directory.path().join("data"))
        .env("KASSA_LISTEN", "127.0.0.1:0")
        .env_remove("KASSA_API_KEY");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("kassa runs");
    (output, directory)
}

fn assert_refused(config: &str, env: &[(&str, &str)], key: &str) -> String {
    let (output, directory) = run_kassa(config, env);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "a bad config must stop start-up: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line, not {}: {stderr}", lines.len());
    assert!(lines[0].contains(&format!("`{key}`")), "the line names `{key}`: {stderr}");
    assert!(!directory.path().join("data").exists(), "nothing was created before the check");
    stderr.into_owned()
}

#[test]
fn a_value_of_the_wrong_type_names_its_key() {
    assert_refused("[actors]\nresident_max = \"lots\"\n", &[], "actors.resident_max");
}

#[test]
fn an_unknown_key_is_named() {
    assert_refused("[gateways.sandbox]\nlatency = 5\n", &[], "gateways.sandbox.latency");
}

#[test]
fn an_out_of_range_value_names_its_key() {
    assert_refused("[gateways]\ntimeout_ms = 0\n", &[], "gateways.timeout_ms");
}

#[test]
fn an_unknown_default_gateway_is_named() {
    assert_refused("", &[("KASSA_DEFAULT_GATEWAY", "paypal")], "routing.default");
}

#[test]
fn a_bad_environment_value_names_its_variable() {
    assert_refused("", &[("KASSA_LISTEN", "not-an-address")], "KASSA_LISTEN");
    assert_refused("", &[("KASSA_MAX_CONNECTIONS", "many")], "KASSA_MAX_CONNECTIONS");
}

#[test]
fn a_connection_limit_of_zero_names_its_key() {
    assert_refused(
        "[server]
header_timeout_ms = 0
",
        &[],
        "server.header_timeout_ms",
    );
    assert_refused("", &[("KASSA_BODY_TIMEOUT_MS", "0")], "server.body_timeout_ms");
}

#[test]
fn a_malformed_file_is_refused() {
    let (output, _directory) = run_kassa("[server\nlisten = 1", &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn incomplete_gateway_credentials_name_the_missing_key_and_never_print_a_secret() {
    let secrets = [
        ("KASSA_STRIPE_SECRET_KEY", "sk_test_never_printed_0123456789"),
        ("KASSA_MPESA_CONSUMER_KEY", "consumer-key-never-printed"),
        ("KASSA_MPESA_PASSKEY", "passkey-never-printed"),
    ];
    let stderr = assert_refused("", &secrets, "gateways.mpesa.consumer_secret");
    for (_, secret) in secrets {
        assert!(!stderr.contains(secret), "a secret was printed: {stderr}");
    }
}

#[test]
fn a_routing_rule_naming_a_disabled_gateway_is_refused() {
    let config = "[[routing.rules]]\ncurrencies = [\"kes\"]\ngateways = [\"mpesa\"]\n";
    assert_refused(config, &[], "routing.rules[0].gateways");
}

#[test]
fn a_bad_data_key_names_storage_data_key_and_is_never_printed() {
    // Not base64; base64 of 16 bytes, not 32; base64 of 33 bytes.
    for bad in ["not-a-data-key!", "MDEyMzQ1Njc4OWFiY2RlZg==", &"QUFB".repeat(11)] {
        let stderr = assert_refused("", &[("KASSA_DATA_KEY", bad)], "storage.data_key");
        assert!(!stderr.contains(bad), "the value was printed: {stderr}");
    }
    let in_file = "[storage]\ndata_key = \"c2hvcnQ=\"\n";
    assert_refused(in_file, &[], "storage.data_key");
}
