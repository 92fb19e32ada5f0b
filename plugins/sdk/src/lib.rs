//! The Kassa rules SDK: write a pricing, proration or tax rule as a plain Rust trait impl, and one
//! macro turns it into the WebAssembly component Kassa loads. wit-bindgen stays in here.
//!
//! ```ignore
//! use kassa_rules_sdk::{PricingRule, PricingInput, PricingOutput, RuleError};
//!
//! struct FlatPrice;
//!
//! impl PricingRule for FlatPrice {
//!     fn price(input: PricingInput) -> Result<PricingOutput, RuleError> { /* … */ }
//! }
//!
//! kassa_rules_sdk::export_pricing_rule!(FlatPrice);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`: the `.wasm` in
//! `target/wasm32-wasip2/release/` is the component to load or upload.

mod convert;
pub mod money;
mod types;

pub use types::*;

/// Bindings of the `pricing-rule` world; used by [`export_pricing_rule!`].
#[doc(hidden)]
pub mod pricing {
    wit_bindgen::generate!({
        world: "pricing-rule",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "export_pricing",
        default_bindings_module: "kassa_rules_sdk::pricing",
    });
}

/// Bindings of the `proration-rule` world; used by [`export_proration_rule!`].
#[doc(hidden)]
pub mod proration {
    wit_bindgen::generate!({
        world: "proration-rule",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "export_proration",
        default_bindings_module: "kassa_rules_sdk::proration",
    });
}

/// Bindings of the `tax-rule` world; used by [`export_tax_rule!`].
#[doc(hidden)]
pub mod tax {
    wit_bindgen::generate!({
        world: "tax-rule",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "export_tax",
        default_bindings_module: "kassa_rules_sdk::tax",
    });
}

#[doc(hidden)]
pub use convert::{calculate, price, prorate};

/// Makes `$rule` (a type implementing [`PricingRule`]) this component's pricing export.
#[macro_export]
macro_rules! export_pricing_rule {
    ($rule:ident) => {
        // Only a wasm32 build is a component; a native build (for the rule's own tests) must not
        // emit the component's export symbols, whose names native linkers refuse.
        #[cfg(target_arch = "wasm32")]
        impl $crate::pricing::exports::kassa::rules::pricing::Guest for $rule {
            fn price(
                input: $crate::pricing::exports::kassa::rules::pricing::PricingInput,
            ) -> ::core::result::Result<
                $crate::pricing::exports::kassa::rules::pricing::PricingOutput,
                $crate::pricing::kassa::rules::types::RuleError,
            > {
                $crate::price::<$rule>(input)
            }
        }
        #[cfg(target_arch = "wasm32")]
        $crate::pricing::export_pricing!($rule with_types_in $crate::pricing);
    };
}

/// Makes `$rule` (a type implementing [`ProrationRule`]) this component's proration export.
#[macro_export]
macro_rules! export_proration_rule {
    ($rule:ident) => {
        // Only a wasm32 build is a component; a native build (for the rule's own tests) must not
        // emit the component's export symbols, whose names native linkers refuse.
        #[cfg(target_arch = "wasm32")]
        impl $crate::proration::exports::kassa::rules::proration::Guest for $rule {
            fn prorate(
                input: $crate::proration::exports::kassa::rules::proration::ProrationInput,
            ) -> ::core::result::Result<
                $crate::proration::exports::kassa::rules::proration::ProrationOutput,
                $crate::proration::kassa::rules::types::RuleError,
            > {
                $crate::prorate::<$rule>(input)
            }
        }
        #[cfg(target_arch = "wasm32")]
        $crate::proration::export_proration!($rule with_types_in $crate::proration);
    };
}

/// Makes `$rule` (a type implementing [`TaxRule`]) this component's tax export.
#[macro_export]
macro_rules! export_tax_rule {
    ($rule:ident) => {
        // Only a wasm32 build is a component; a native build (for the rule's own tests) must not
        // emit the component's export symbols, whose names native linkers refuse.
        #[cfg(target_arch = "wasm32")]
        impl $crate::tax::exports::kassa::rules::tax::Guest for $rule {
            fn calculate(
                input: $crate::tax::exports::kassa::rules::tax::TaxInput,
            ) -> ::core::result::Result<
                $crate::tax::exports::kassa::rules::tax::TaxOutput,
                $crate::tax::kassa::rules::types::RuleError,
            > {
                $crate::calculate::<$rule>(input)
            }
        }
        #[cfg(target_arch = "wasm32")]
        $crate::tax::export_tax!($rule with_types_in $crate::tax);
    };
}
