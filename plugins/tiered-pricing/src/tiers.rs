//! The embedded price table: which skus are tiered, in which currency, how, and at what unit
//! prices. A sku missing here is priced at its catalogue `unit_amount` (see `lib.rs`).

use kassa_rules_sdk::Amount;

/// How a quantity meets a sku's tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierMode {
    /// Each unit is priced by the tier it falls in: seats 1–10 at one price, 11–50 at the next.
    Graduated,
    /// Every unit is priced at the tier the whole quantity reaches: 150 GB are all at the
    /// 101–1000 price.
    Volume,
}

#[derive(Debug)]
pub struct Tier {
    /// The last unit of this tier, inclusive; `None` for the open-ended top tier.
    pub up_to: Option<u32>,
    pub unit_amount_minor: Amount,
}

#[derive(Debug)]
pub struct PriceTable {
    pub sku: &'static str,
    /// The tiers' prices are in this currency only: there is no exchange rate in a rule.
    pub currency: &'static str,
    pub mode: TierMode,
    /// Ascending by `up_to`, the last one open-ended (checked by a test below).
    pub tiers: &'static [Tier],
}

pub const PRICE_TABLES: &[PriceTable] = &[
    PriceTable {
        sku: "seat",
        currency: "usd",
        mode: TierMode::Graduated,
        tiers: &[
            Tier { up_to: Some(10), unit_amount_minor: 1000 },
            Tier { up_to: Some(50), unit_amount_minor: 800 },
            Tier { up_to: None, unit_amount_minor: 600 },
        ],
    },
    PriceTable {
        sku: "storage-gb",
        currency: "usd",
        mode: TierMode::Volume,
        tiers: &[
            Tier { up_to: Some(100), unit_amount_minor: 50 },
            Tier { up_to: Some(1000), unit_amount_minor: 40 },
            Tier { up_to: None, unit_amount_minor: 30 },
        ],
    },
];

pub fn find(sku: &str) -> Option<&'static PriceTable> {
    PRICE_TABLES.iter().find(|table| table.sku == sku)
}

impl PriceTable {
    /// What `quantity` units cost; `None` when the amount would not fit an `Amount`.
    pub fn amount_minor(&self, quantity: u32) -> Option<Amount> {
        match self.mode {
            TierMode::Graduated => self.graduated_amount_minor(quantity),
            TierMode::Volume => self.volume_amount_minor(quantity),
        }
    }

    fn graduated_amount_minor(&self, quantity: u32) -> Option<Amount> {
        let mut amount_minor: Amount = 0;
        // Units already priced by the tiers below the current one.
        let mut priced_units: u32 = 0;
        for tier in self.tiers {
            if priced_units == quantity {
                break;
            }
            let tier_last_unit = tier.up_to.unwrap_or(u32::MAX).min(quantity);
            let tier_units = tier_last_unit - priced_units;
            let tier_amount_minor = Amount::from(tier_units).checked_mul(tier.unit_amount_minor)?;
            amount_minor = amount_minor.checked_add(tier_amount_minor)?;
            priced_units = tier_last_unit;
        }
        assert_eq!(priced_units, quantity, "the tiers of `{}` end below {quantity}", self.sku);
        Some(amount_minor)
    }

    fn volume_amount_minor(&self, quantity: u32) -> Option<Amount> {
        let tier = self
            .tiers
            .iter()
            .find(|tier| tier.up_to.is_none_or(|up_to| quantity <= up_to))
            .expect("the top tier is open-ended");
        Amount::from(quantity).checked_mul(tier.unit_amount_minor)
    }
}

#[cfg(test)]
mod tests {
    //! The table is well formed, and each mode prices the units on both sides of every tier
    //! boundary as the table says.
    use super::*;

    fn amount(sku: &str, quantity: u32) -> Amount {
        find(sku).unwrap().amount_minor(quantity).unwrap()
    }

    #[test]
    fn every_table_is_ascending_open_ended_and_non_negative() {
        for (index, table) in PRICE_TABLES.iter().enumerate() {
            assert!(
                PRICE_TABLES[..index].iter().all(|other| other.sku != table.sku),
                "`{}` listed twice",
                table.sku
            );
            let (top, lower) = table.tiers.split_last().expect("at least one tier");
            assert_eq!(top.up_to, None, "`{}`: the top tier must be open-ended", table.sku);
            let bounds: Vec<u32> = lower.iter().map(|tier| tier.up_to.unwrap()).collect();
            assert!(bounds.windows(2).all(|pair| pair[0] < pair[1]), "`{}`", table.sku);
            assert!(bounds.first().is_none_or(|first| *first > 0), "`{}`", table.sku);
            assert!(table.tiers.iter().all(|tier| tier.unit_amount_minor >= 0));
        }
    }

    #[test]
    fn graduated_seats_price_each_unit_in_its_own_tier() {
        assert_eq!(amount("seat", 1), 1000);
        assert_eq!(amount("seat", 10), 10 * 1000);
        assert_eq!(amount("seat", 11), 10 * 1000 + 800);
        assert_eq!(amount("seat", 50), 10 * 1000 + 40 * 800);
        assert_eq!(amount("seat", 51), 10 * 1000 + 40 * 800 + 600);
        assert_eq!(amount("seat", 100), 10 * 1000 + 40 * 800 + 50 * 600);
    }

    #[test]
    fn volume_storage_prices_all_units_at_the_tier_reached() {
        assert_eq!(amount("storage-gb", 1), 50);
        assert_eq!(amount("storage-gb", 100), 100 * 50);
        assert_eq!(amount("storage-gb", 101), 101 * 40);
        assert_eq!(amount("storage-gb", 1000), 1000 * 40);
        assert_eq!(amount("storage-gb", 1001), 1001 * 30);
    }

    #[test]
    fn the_largest_quantity_fits() {
        let max = Amount::from(u32::MAX);
        assert_eq!(amount("seat", u32::MAX), 10 * 1000 + 40 * 800 + (max - 50) * 600);
        assert_eq!(amount("storage-gb", u32::MAX), max * 30);
    }

    #[test]
    fn unknown_skus_have_no_table() {
        assert!(find("widget").is_none());
        assert!(find("Seat").is_none());
    }
}
