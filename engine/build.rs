//! Builds the rule plugins (`plugins/`, a cargo workspace of its own) for wasm32-wasip2 before
//! the engine compiles, so the engine embeds the bundled components and its tests load real ones,
//! fixtures included, with no manual step. (wasmtime's own test-programs crate does the same.)
//!
//! The components land in `$CARGO_TARGET_DIR/plugins` when a target dir is set (CI points it at a
//! cache), else in `plugins/target`; `KASSA_PLUGINS_WASM_DIR` tells the engine and its tests where.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the plugin build reads: a change to any of these rebuilds the components.
const PLUGIN_SOURCES: &[&str] = &[
    "plugins/Cargo.toml",
    "plugins/Cargo.lock",
    "plugins/.cargo",
    "plugins/sdk",
    "plugins/tiered-pricing",
    "plugins/daily-proration",
    "plugins/vat",
    "plugins/hostile",
    "plugins/examples",
    "wit",
];

/// Set by the cargo (or clippy) running this script; the nested build must choose its own.
const INHERITED_BUILD_SETTINGS: &[&str] = &[
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_PRIMARY_PACKAGE",
];

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir.parent().expect("the engine sits in the workspace root");
    for source in PLUGIN_SOURCES {
        println!("cargo:rerun-if-changed={}", root.join(source).display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    let target_dir = plugins_target_dir(root);
    build_plugins(root, &target_dir);
    let wasm_dir = target_dir.join("wasm32-wasip2").join("release");
    println!("cargo:rustc-env=KASSA_PLUGINS_WASM_DIR={}", wasm_dir.display());
}

fn plugins_target_dir(root: &Path) -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir).join("plugins"),
        _ => root.join("plugins").join("target"),
    }
}

fn build_plugins(root: &Path, target_dir: &Path) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(root.join("plugins"))
        .args(["build", "--release", "--locked", "--target", "wasm32-wasip2", "--target-dir"])
        .arg(target_dir);
    for setting in INHERITED_BUILD_SETTINGS {
        command.env_remove(setting);
    }
    let status = command.status().expect("cargo runs");
    assert!(
        status.success(),
        "building the rule plugins for wasm32-wasip2 failed (see above); if the target is \
         missing, `make setup` (or `rustup target add wasm32-wasip2`) adds it"
    );
}
