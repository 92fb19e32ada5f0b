//! wasmtime's bindings of `wit/rules.wit`, one module per world. Private to the rules host:
//! [`super::convert`] turns these types into the engine's at the boundary.

pub mod pricing {
    wasmtime::component::bindgen!({ world: "pricing-rule", path: "../wit" });
}

pub mod proration {
    wasmtime::component::bindgen!({
        world: "proration-rule",
        path: "../wit",
        with: { "kassa:rules/types": super::pricing::kassa::rules::types },
    });
}

pub mod tax {
    wasmtime::component::bindgen!({
        world: "tax-rule",
        path: "../wit",
        with: { "kassa:rules/types": super::pricing::kassa::rules::types },
    });
}

pub use pricing::kassa::rules::types::{CustomerContext, RuleError, TaxId};

/// The interface each world exports, as named in a component's exports.
pub const PRICING_EXPORT: &str = "kassa:rules/pricing@0.2.0";
pub const PRORATION_EXPORT: &str = "kassa:rules/proration@0.2.0";
pub const TAX_EXPORT: &str = "kassa:rules/tax@0.2.0";
