//! The bundled rules, embedded in the engine binary: `engine/build.rs` builds `plugins/` for
//! wasm32-wasip2 first. An operator's `rules.plugins_dir` may replace any of them.

use std::path::Path;

use crate::domain::PluginKind;

const TIERED_PRICING: &[u8] =
    include_bytes!(concat!(env!("KASSA_PLUGINS_WASM_DIR"), "/tiered_pricing.wasm"));
const DAILY_PRORATION: &[u8] =
    include_bytes!(concat!(env!("KASSA_PLUGINS_WASM_DIR"), "/daily_proration.wasm"));
const VAT: &[u8] = include_bytes!(concat!(env!("KASSA_PLUGINS_WASM_DIR"), "/vat.wasm"));

/// Where the build put every component of `plugins/`, test fixtures included.
pub const PLUGINS_WASM_DIR: &str = env!("KASSA_PLUGINS_WASM_DIR");

pub fn embedded(kind: PluginKind) -> &'static [u8] {
    match kind {
        PluginKind::Pricing => TIERED_PRICING,
        PluginKind::Proration => DAILY_PRORATION,
        PluginKind::Tax => VAT,
    }
}

/// The default rule of `kind`: `<plugins_dir>/<kind>.wasm` when the operator gave a folder that
/// has one, else the embedded component.
pub fn default_bytes(kind: PluginKind, plugins_dir: &Path) -> std::io::Result<Vec<u8>> {
    if !plugins_dir.as_os_str().is_empty() {
        let path = plugins_dir.join(format!("{kind}.wasm"));
        if path.exists() {
            return std::fs::read(path);
        }
    }
    Ok(embedded(kind).to_vec())
}
