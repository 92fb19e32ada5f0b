//! `charge-priced`: a charge priced by the account's rules instead of a plain `amount`. Each
//! request carries a 3-line cart and a coupon, so the engine runs the bundled pricing rule
//! (graduated `seat` tiers, volume `storage-gb` tiers, a catalogue line, `WELCOME10`) and then the
//! VAT rule for the customer's country, each in a fresh isolated instance, before the charge
//! travels the same path as a plain one. The run measures the same customers with plain-amount
//! charges too, so the cost of the rules is the ratio between the two. `charge-coupon` measures
//! the same carts with the coupon and without it, so the cost of a coupon is the ratio.

use rand::Rng;
use rand::rngs::SmallRng;

use super::charge::AMOUNT_MINOR_RANGE;
use super::{KIND_PRICED_CHARGE, KeySource, Planned};
use crate::target::RequestSpec;

/// The country the setup gives every customer: the bundled VAT rule taxes it (15 %), and a
/// customer without an address cannot be taxed at all. Plain-amount charges ignore it.
pub const CUSTOMER_COUNTRY: &str = "ZA";
/// The coupon the setup makes (10 % off, no limit), which each priced charge redeems.
pub const COUPON: &str = "WELCOME10";

/// The body that makes [`COUPON`].
pub fn coupon_body() -> String {
    format!(r#"{{"id":"{COUPON}","percent_off_bps":1000,"duration":"forever"}}"#)
}
/// Seats and storage are priced by the rule's tiers (their `unit_amount` is not used); 12 seats
/// cross the first graduated tier edge and 150 GB the first volume one, so both tier kinds work.
const SEATS: u32 = 12;
const STORAGE_GB: u32 = 150;

pub struct PricedChargeWorkload {
    path: &'static str,
    customers: Vec<String>,
    with_coupon: bool,
    keys: KeySource,
}

impl PricedChargeWorkload {
    /// Carts with [`COUPON`].
    pub fn new(path: &'static str, customers: Vec<String>) -> Self {
        assert!(!customers.is_empty(), "a priced charge workload needs customers");
        Self { path, customers, with_coupon: true, keys: KeySource::new("priced") }
    }

    /// The same carts without a coupon.
    pub fn without_coupon(path: &'static str, customers: Vec<String>) -> Self {
        let keys = KeySource::new("priced-no-coupon");
        Self { with_coupon: false, keys, ..Self::new(path, customers) }
    }

    /// A random customer's cart, the catalogue line at a random price so no two bodies repeat.
    pub fn plan(&self, rng: &mut SmallRng) -> Planned {
        let customer = &self.customers[rng.random_range(0..self.customers.len())];
        let course_unit_minor = rng.random_range(AMOUNT_MINOR_RANGE);
        let body = match self.with_coupon {
            true => priced_body(customer, course_unit_minor),
            false => uncouponed_body(customer, course_unit_minor),
        };
        Planned::call(KIND_PRICED_CHARGE, RequestSpec::post(self.path, body, self.keys.next_key()))
    }
}

/// A charge body with `line_items` and a coupon instead of `amount`.
pub fn priced_body(customer: &str, course_unit_minor: u64) -> String {
    format!(
        concat!(
            r#"{{"customer":"{customer}","currency":"usd","line_items":["#,
            r#"{{"sku":"seat","quantity":{seats},"unit_amount":0}},"#,
            r#"{{"sku":"storage-gb","quantity":{storage_gb},"unit_amount":0}},"#,
            r#"{{"sku":"course","quantity":1,"unit_amount":{course}}}"#,
            r#"],"coupon":"{coupon}"}}"#,
        ),
        customer = customer,
        seats = SEATS,
        storage_gb = STORAGE_GB,
        course = course_unit_minor,
        coupon = COUPON,
    )
}

/// [`priced_body`] without the coupon.
pub fn uncouponed_body(customer: &str, course_unit_minor: u64) -> String {
    let with_coupon = priced_body(customer, course_unit_minor);
    with_coupon.replace(&format!(r#","coupon":"{COUPON}""#), "")
}

/// The body of a customer that `charge-priced` can tax.
pub fn taxable_customer_body() -> String {
    format!(r#"{{"address":{{"country":"{CUSTOMER_COUNTRY}"}}}}"#)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn a_planned_charge_is_a_three_line_cart_with_a_coupon_and_no_amount() {
        let workload = PricedChargeWorkload::new("/v1/charges", vec!["cus_1".into()]);
        let mut rng = SmallRng::seed_from_u64(3);
        let planned = workload.plan(&mut rng);
        assert_eq!(planned.kind, KIND_PRICED_CHARGE);
        assert_eq!(planned.spec.path, "/v1/charges");
        let body: serde_json::Value =
            serde_json::from_slice(planned.spec.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["customer"], "cus_1");
        assert_eq!(body["currency"], "usd");
        assert_eq!(body["coupon"], "WELCOME10");
        assert!(body.get("amount").is_none(), "the engine refuses both amount and line_items");
        let lines = body["line_items"].as_array().unwrap();
        let skus: Vec<_> = lines.iter().map(|line| line["sku"].as_str().unwrap()).collect();
        assert_eq!(skus, ["seat", "storage-gb", "course"]);
        assert_eq!(lines[0]["quantity"], 12);
        assert_eq!(lines[1]["quantity"], 150);
        let course = lines[2]["unit_amount"].as_u64().unwrap();
        assert!(AMOUNT_MINOR_RANGE.contains(&course), "{course}");
    }

    #[test]
    fn the_uncouponed_side_plans_the_same_carts_without_the_coupon_under_its_own_keys() {
        let customers = vec!["cus_1".to_owned()];
        let with = PricedChargeWorkload::new("/v1/charges", customers.clone());
        let without = PricedChargeWorkload::without_coupon("/v1/charges", customers);
        let body = |workload: &PricedChargeWorkload| {
            let planned = workload.plan(&mut SmallRng::seed_from_u64(7));
            let key = planned.spec.idempotency_key.clone().unwrap();
            let body: serde_json::Value =
                serde_json::from_slice(planned.spec.body.as_deref().unwrap()).unwrap();
            (body, key)
        };
        let ((mut couponed, key_with), (uncouponed, key_without)) = (body(&with), body(&without));
        assert!(uncouponed.get("coupon").is_none(), "{uncouponed}");
        couponed.as_object_mut().unwrap().remove("coupon");
        assert_eq!(couponed, uncouponed);
        assert_ne!(key_with, key_without);
    }

    #[test]
    fn every_planned_charge_has_its_own_key_and_customers_are_spread() {
        let customers: Vec<String> = (0..4).map(|index| format!("cus_{index}")).collect();
        let workload = PricedChargeWorkload::new("/v1/charges", customers);
        let mut rng = SmallRng::seed_from_u64(5);
        let planned: Vec<_> = (0..200).map(|_| workload.plan(&mut rng)).collect();
        let keys: std::collections::BTreeSet<_> =
            planned.iter().map(|p| p.spec.idempotency_key.clone().unwrap()).collect();
        assert_eq!(keys.len(), 200);
        let customers: std::collections::BTreeSet<_> = planned
            .iter()
            .map(|p| {
                let body: serde_json::Value =
                    serde_json::from_slice(p.spec.body.as_deref().unwrap()).unwrap();
                body["customer"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(customers.len(), 4);
    }

    #[test]
    fn customers_get_an_address_the_vat_rule_taxes() {
        let body: serde_json::Value = serde_json::from_str(&taxable_customer_body()).unwrap();
        assert_eq!(body["address"]["country"], "ZA");
    }
}
