//! From bytes to a rule ready to call: the checks an upload must pass, each refusal naming its
//! reason, then compilation (or the compiled form from the on-disk cache) and a trial
//! instantiation within the isolation limits, so a component that cannot run is refused at upload,
//! not at the first charge. Nothing is written here: the caller keeps what it accepts.

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};

use super::bindings::{self, PRICING_EXPORT, PRORATION_EXPORT, TAX_EXPORT};
use super::cache::ArtifactCache;
use super::isolation::Isolated;
use super::plugin::{LanePres, Plugin, RulePre};
use super::runtime::Runtime;
use crate::domain::PluginKind;

/// Why bytes are not a usable rule; the message is the API's `plugin_invalid` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PluginInvalid(pub String);

const WASM_MAGIC: &[u8; 4] = b"\0asm";
const CORE_MODULE_VERSION: [u8; 4] = [1, 0, 0, 0];
const COMPONENT_VERSION: [u8; 4] = [0x0d, 0, 1, 0];

/// Interfaces a rule may import, by name before the `@version`. The WASI ones are what Rust's
/// std pulls in on wasm32-wasip2; the isolation satisfies them with nothing. Everything else —
/// the filesystem, sockets, HTTP — is refused.
const ALLOWED_IMPORTS: &[&str] = &[
    "kassa:rules/types",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
];

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn expected_export(kind: PluginKind) -> &'static str {
    match kind {
        PluginKind::Pricing => PRICING_EXPORT,
        PluginKind::Proration => PRORATION_EXPORT,
        PluginKind::Tax => TAX_EXPORT,
    }
}

/// Checks, compiles and trial-instantiates `bytes` as a `kind` rule.
pub fn load(
    runtime: &Runtime,
    cache: &ArtifactCache,
    kind: PluginKind,
    bytes: &[u8],
) -> Result<Plugin, PluginInvalid> {
    check_binary_kind(bytes)?;
    let sha256 = sha256_hex(bytes);
    let component = match cache.load(&runtime.engine, &sha256) {
        Some(component) => component,
        None => Component::new(&runtime.engine, bytes).map_err(|error| {
            PluginInvalid(format!("not a valid component: {}", root_cause(&error)))
        })?,
    };
    check_imports(runtime, &component)?;
    check_exports(runtime, &component, kind)?;
    let mismatch = |error: wasmtime::Error| {
        PluginInvalid(format!("it does not fit kassa:rules@0.2.0: {}", root_cause(&error)))
    };
    let inline_linker = runtime.inline_linker(&component).map_err(mismatch)?;
    let pres = LanePres {
        full: instantiate_pre(&runtime.linker, &component, kind).map_err(mismatch)?,
        inline: instantiate_pre(&inline_linker, &component, kind).map_err(mismatch)?,
    };
    let plugin = Plugin::new(kind, sha256, pres, runtime.limits);
    plugin.try_instantiate().map_err(|cause| {
        PluginInvalid(format!("it cannot be instantiated within the isolation limits: {cause}"))
    })?;
    Ok(plugin)
}

fn check_binary_kind(bytes: &[u8]) -> Result<(), PluginInvalid> {
    if bytes.len() < 8 || &bytes[..4] != WASM_MAGIC {
        return Err(PluginInvalid(
            "not a WebAssembly binary: it does not start with `\\0asm`".to_owned(),
        ));
    }
    match <[u8; 4]>::try_from(&bytes[4..8]).expect("8 bytes or more") {
        COMPONENT_VERSION => Ok(()),
        CORE_MODULE_VERSION => Err(PluginInvalid(
            "a core WebAssembly module, not a component: build it for wasm32-wasip2 (or wrap it \
             with `wasm-tools component new`) against wit/rules.wit"
                .to_owned(),
        )),
        other => Err(PluginInvalid(format!(
            "an unsupported WebAssembly version/layer {other:02x?}; a component is expected"
        ))),
    }
}

fn check_imports(runtime: &Runtime, component: &Component) -> Result<(), PluginInvalid> {
    let refused: Vec<String> = component
        .component_type()
        .imports(&runtime.engine)
        .map(|(name, _)| name.to_owned())
        .filter(|name| {
            let unversioned = name.split('@').next().unwrap_or(name);
            !ALLOWED_IMPORTS.contains(&unversioned)
        })
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    Err(PluginInvalid(format!(
        "it imports {}, which rules are not given: a rule gets no filesystem, network, or other \
         capability beyond its input",
        refused.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ")
    )))
}

fn check_exports(
    runtime: &Runtime,
    component: &Component,
    kind: PluginKind,
) -> Result<(), PluginInvalid> {
    let expected = expected_export(kind);
    let exports: Vec<String> = component
        .component_type()
        .exports(&runtime.engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    if exports.iter().any(|name| name == expected) {
        return Ok(());
    }
    let other_kind = PluginKind::ALL
        .into_iter()
        .find(|other| exports.iter().any(|name| name == expected_export(*other)));
    let hint = match other_kind {
        Some(other) => format!("; it is a {other} rule: upload it to /v1/plugins/{other}"),
        None => String::new(),
    };
    Err(PluginInvalid(format!(
        "it does not export `{expected}` (it exports {}){hint}",
        if exports.is_empty() { "nothing".to_owned() } else { exports.join(", ") }
    )))
}

fn instantiate_pre(
    linker: &Linker<Isolated>,
    component: &Component,
    kind: PluginKind,
) -> wasmtime::Result<RulePre> {
    let pre = linker.instantiate_pre(component)?;
    Ok(match kind {
        PluginKind::Pricing => RulePre::Pricing(bindings::pricing::PricingRulePre::new(pre)?),
        PluginKind::Proration => {
            RulePre::Proration(bindings::proration::ProrationRulePre::new(pre)?)
        }
        PluginKind::Tax => RulePre::Tax(bindings::tax::TaxRulePre::new(pre)?),
    })
}

/// wasmtime's errors wrap their cause in context lines; the cause is what a plugin author needs.
pub fn root_cause(error: &wasmtime::Error) -> String {
    let mut message = error.to_string();
    let cause = error.root_cause().to_string();
    if cause != message {
        message = format!("{message}: {cause}");
    }
    message
}
