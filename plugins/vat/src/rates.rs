//! The embedded rate table: each country's standard VAT (or GST) rate.
//!
//! Standard rates only, applied to every line whatever its sku: a reduced or zero rate for some
//! goods needs a sku-to-category table this rule does not have. Rates as known in 2025; a rate
//! change is a new release of this plugin. Of the EU member states only these six are listed
//! (the rest are not guessed at): see `lib.rs` for what a country with no entry is charged.

#[derive(Debug)]
pub struct Rate {
    /// ISO 3166-1 alpha-2, upper case.
    pub country: &'static str,
    /// What the tax is called there: `VAT`, or `GST` where that is its name.
    pub name: &'static str,
    /// 1500 is 15 %.
    pub rate_bps: u32,
}

pub const RATES: &[Rate] = &[
    Rate { country: "ZA", name: "VAT", rate_bps: 1500 },
    Rate { country: "KE", name: "VAT", rate_bps: 1600 },
    Rate { country: "NG", name: "VAT", rate_bps: 750 },
    Rate { country: "GB", name: "VAT", rate_bps: 2000 },
    Rate { country: "DE", name: "VAT", rate_bps: 1900 },
    Rate { country: "FR", name: "VAT", rate_bps: 2000 },
    Rate { country: "NL", name: "VAT", rate_bps: 2100 },
    Rate { country: "IE", name: "VAT", rate_bps: 2300 },
    Rate { country: "ES", name: "VAT", rate_bps: 2100 },
    Rate { country: "IT", name: "VAT", rate_bps: 2200 },
];

pub fn find(country: &str) -> Option<&'static Rate> {
    RATES.iter().find(|rate| rate.country == country)
}

#[cfg(test)]
mod tests {
    //! The table is well formed and holds the rates the rule promises.
    use super::*;

    #[test]
    fn the_table_is_well_formed() {
        for (index, rate) in RATES.iter().enumerate() {
            assert!(
                RATES[..index].iter().all(|other| other.country != rate.country),
                "{}",
                rate.country
            );
            assert!(crate::is_country_code(rate.country), "{}", rate.country);
            assert!(rate.rate_bps > 0 && rate.rate_bps < 10_000, "{}", rate.country);
            assert!(["VAT", "GST"].contains(&rate.name), "{}", rate.country);
        }
    }

    #[test]
    fn each_country_has_its_standard_rate() {
        let rates: Vec<(&str, u32)> =
            RATES.iter().map(|rate| (rate.country, rate.rate_bps)).collect();
        assert_eq!(
            rates,
            vec![
                ("ZA", 1500),
                ("KE", 1600),
                ("NG", 750),
                ("GB", 2000),
                ("DE", 1900),
                ("FR", 2000),
                ("NL", 2100),
                ("IE", 2300),
                ("ES", 2100),
                ("IT", 2200),
            ]
        );
        assert!(find("US").is_none());
        assert!(find("de").is_none());
    }
}
