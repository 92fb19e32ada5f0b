//! EU B2B reverse charge: a business buying from another EU member state accounts for the VAT
//! itself, so the seller charges none.
//!
//! It applies when the seller and the customer are both in the EU, in different member states,
//! and the customer holds a tax id of kind `eu-vat` carrying its own state's VAT prefix. Whether
//! that number is real (VIES) is for the platform to check before it stores the id: this rule
//! has no I/O. Sellers outside the EU are not covered here (see `lib.rs`).

use kassa_rules_sdk::TaxId;

/// The 27 member states since 2020-02-01 (the United Kingdom left then, and its VAT area at
/// the end of 2020). The list is separate from the rate table: a state needs no rate here for
/// its businesses to be reverse-charged.
pub const EU_MEMBER_STATES: &[&str] = &[
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

pub fn is_eu_member(country: &str) -> bool {
    EU_MEMBER_STATES.contains(&country)
}

/// The prefix of a member state's VAT numbers: its ISO code, except Greece's `EL`.
fn vat_prefix(country: &str) -> &str {
    if country == "GR" { "EL" } else { country }
}

pub fn applies(seller_country: &str, customer_country: &str, customer_tax_ids: &[TaxId]) -> bool {
    is_eu_member(seller_country)
        && is_eu_member(customer_country)
        && seller_country != customer_country
        && customer_tax_ids.iter().any(|id| is_eu_vat_id_of(id, customer_country))
}

/// An `eu-vat` id issued by `country`: its prefix and at least one character after it.
fn is_eu_vat_id_of(id: &TaxId, country: &str) -> bool {
    id.kind == "eu-vat"
        && id.value.strip_prefix(vat_prefix(country)).is_some_and(|number| !number.is_empty())
}

#[cfg(test)]
mod tests {
    //! Each condition of the reverse charge on its own: both in the EU, different states, and a
    //! matching `eu-vat` id, with Greece's `EL` prefix.
    use super::*;

    fn eu_vat(value: &str) -> TaxId {
        TaxId { kind: "eu-vat".to_owned(), value: value.to_owned() }
    }

    #[test]
    fn the_member_list_is_the_27_states() {
        assert_eq!(EU_MEMBER_STATES.len(), 27);
        assert!(EU_MEMBER_STATES.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(!is_eu_member("GB"));
        assert!(!is_eu_member("EL"));
    }

    #[test]
    fn a_cross_border_eu_business_is_reverse_charged() {
        assert!(applies("DE", "FR", &[eu_vat("FR12345678901")]));
        // A member state with no rate in the table is still in the EU.
        assert!(applies("DE", "PL", &[eu_vat("PL1234567890")]));
    }

    #[test]
    fn greek_vat_numbers_carry_el() {
        assert!(applies("DE", "GR", &[eu_vat("EL123456789")]));
        assert!(!applies("DE", "GR", &[eu_vat("GR123456789")]));
    }

    #[test]
    fn the_same_state_is_not_reverse_charged() {
        assert!(!applies("DE", "DE", &[eu_vat("DE123456789")]));
    }

    #[test]
    fn outside_the_eu_is_not_reverse_charged() {
        assert!(!applies("GB", "FR", &[eu_vat("FR12345678901")]));
        assert!(!applies("DE", "GB", &[eu_vat("GB123456789")]));
        assert!(!applies(
            "DE",
            "GB",
            &[TaxId { kind: "gb-vat".to_owned(), value: "GB123456789".to_owned() }]
        ));
    }

    #[test]
    fn the_id_must_be_an_eu_vat_number_of_the_customers_state() {
        assert!(!applies("DE", "FR", &[]));
        assert!(!applies("DE", "FR", &[eu_vat("DE123456789")]));
        assert!(!applies("DE", "FR", &[eu_vat("FR")]));
        assert!(!applies(
            "DE",
            "FR",
            &[TaxId { kind: "za-vat".to_owned(), value: "FR12345678901".to_owned() }]
        ));
        // One matching id among others is enough.
        assert!(applies("DE", "FR", &[eu_vat("DE123456789"), eu_vat("FR12345678901")]));
    }
}
