//! The embedded price table: which skus are tiered, how, and at what unit prices in each currency
//! they are sold in. A sku missing here is priced at its catalogue `unit_amount` (see `lib.rs`).
//!
//! A rule has no exchange rate, so every currency has its own prices, set as local price points
//! rather than converted: a tiered sku is refused in a currency it has no prices in. The tier
//! edges are shared by all currencies, so a quantity reaches the same tier wherever the customer
//! pays; only the prices differ.

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
pub struct PriceTable {
    pub sku: &'static str,
    pub mode: TierMode,
    /// The last unit of each tier, inclusive, ascending; `None` for the open-ended top tier
    /// (checked by a test below). The same in every currency.
    pub tier_ends: &'static [Option<u32>],
    /// The sku's unit prices, one list per currency it is sold in.
    pub prices: &'static [TierPrices],
}

#[derive(Debug)]
pub struct TierPrices {
    /// Lower-case ISO-4217, as the rule's input names it.
    pub currency: &'static str,
    /// One per tier, in the order of `tier_ends`, in the currency's minor unit.
    pub unit_amounts_minor: &'static [Amount],
}

/// Every table prices the six currencies Kassa's users charge in, for South Africa, Kenya, Nigeria,
/// the US, the euro area and the UK (checked by a test below).
///
/// The prices are local price points near parity with the usd ones at late-2025 rates (about
/// 17.5 zar, 125–130 kes, 1500 ngn, 0.9 eur and 0.75 gbp to the dollar), rounded, and keep the
/// usd steps between tiers (seats 10 : 8 : 6, storage 5 : 4 : 3), so every currency gives the same
/// volume discount. All six have two minor-unit digits.
pub const PRICE_TABLES: &[PriceTable] = &[
    PriceTable {
        sku: "seat",
        mode: TierMode::Graduated,
        // Seats 1–10, 11–50, 51 and up.
        tier_ends: &[Some(10), Some(50), None],
        prices: &[
            // $10.00, $8.00, $6.00: the original table, which the README's walk-through prices.
            TierPrices { currency: "usd", unit_amounts_minor: &[1000, 800, 600] },
            // R175, R140, R105.
            TierPrices { currency: "zar", unit_amounts_minor: &[17_500, 14_000, 10_500] },
            // KSh 1,250, KSh 1,000, KSh 750.
            TierPrices { currency: "kes", unit_amounts_minor: &[125_000, 100_000, 75_000] },
            // ₦15,000, ₦12,000, ₦9,000.
            TierPrices { currency: "ngn", unit_amounts_minor: &[1_500_000, 1_200_000, 900_000] },
            // €9.00, €7.20, €5.40.
            TierPrices { currency: "eur", unit_amounts_minor: &[900, 720, 540] },
            // £7.50, £6.00, £4.50.
            TierPrices { currency: "gbp", unit_amounts_minor: &[750, 600, 450] },
        ],
    },
    PriceTable {
        sku: "storage-gb",
        mode: TierMode::Volume,
        // 1–100 GB, 101–1000 GB, 1001 GB and up.
        tier_ends: &[Some(100), Some(1000), None],
        prices: &[
            // $0.50, $0.40, $0.30 a GB.
            TierPrices { currency: "usd", unit_amounts_minor: &[50, 40, 30] },
            // R8.75, R7.00, R5.25 a GB.
            TierPrices { currency: "zar", unit_amounts_minor: &[875, 700, 525] },
            // KSh 65, KSh 52, KSh 39 a GB: whole shillings.
            TierPrices { currency: "kes", unit_amounts_minor: &[6500, 5200, 3900] },
            // ₦750, ₦600, ₦450 a GB.
            TierPrices { currency: "ngn", unit_amounts_minor: &[75_000, 60_000, 45_000] },
            // €0.45, €0.36, €0.27 a GB.
            TierPrices { currency: "eur", unit_amounts_minor: &[45, 36, 27] },
            // 40p, 32p, 24p a GB: whole pence.
            TierPrices { currency: "gbp", unit_amounts_minor: &[40, 32, 24] },
        ],
    },
];

pub fn find(sku: &str) -> Option<&'static PriceTable> {
    PRICE_TABLES.iter().find(|table| table.sku == sku)
}

impl PriceTable {
    /// The sku's tiers priced in `currency`, if it is sold in it.
    pub fn in_currency(&self, currency: &str) -> Option<Tiers> {
        let prices = self.prices.iter().find(|prices| prices.currency == currency)?;
        // Pairing ends with prices would silently drop tiers if the lists differed in length.
        assert_eq!(
            prices.unit_amounts_minor.len(),
            self.tier_ends.len(),
            "`{}` in {currency}: one price per tier",
            self.sku
        );
        Some(Tiers {
            sku: self.sku,
            mode: self.mode,
            ends: self.tier_ends,
            unit_amounts_minor: prices.unit_amounts_minor,
        })
    }

    /// The currencies the sku is priced in, in table order, for a refusal to name them.
    pub fn currencies(&self) -> Vec<&'static str> {
        self.prices.iter().map(|prices| prices.currency).collect()
    }
}

/// One sku's tiers in one currency.
#[derive(Debug, Clone, Copy)]
pub struct Tiers {
    sku: &'static str,
    mode: TierMode,
    ends: &'static [Option<u32>],
    unit_amounts_minor: &'static [Amount],
}

impl Tiers {
    /// What `quantity` units cost; `None` when the amount would not fit an `Amount`.
    pub fn amount_minor(&self, quantity: u32) -> Option<Amount> {
        match self.mode {
            TierMode::Graduated => self.graduated_amount_minor(quantity),
            TierMode::Volume => self.volume_amount_minor(quantity),
        }
    }

    /// Each tier's last unit (`None` for the top one) with its unit price.
    fn tiers(&self) -> impl Iterator<Item = (Option<u32>, Amount)> {
        self.ends.iter().copied().zip(self.unit_amounts_minor.iter().copied())
    }

    fn graduated_amount_minor(&self, quantity: u32) -> Option<Amount> {
        let mut amount_minor: Amount = 0;
        // Units already priced by the tiers below the current one.
        let mut priced_units: u32 = 0;
        for (up_to, unit_amount_minor) in self.tiers() {
            if priced_units == quantity {
                break;
            }
            let tier_last_unit = up_to.unwrap_or(u32::MAX).min(quantity);
            let tier_units = tier_last_unit - priced_units;
            let tier_amount_minor = Amount::from(tier_units).checked_mul(unit_amount_minor)?;
            amount_minor = amount_minor.checked_add(tier_amount_minor)?;
            priced_units = tier_last_unit;
        }
        assert_eq!(priced_units, quantity, "the tiers of `{}` end below {quantity}", self.sku);
        Some(amount_minor)
    }

    fn volume_amount_minor(&self, quantity: u32) -> Option<Amount> {
        let (_, unit_amount_minor) = self
            .tiers()
            .find(|(up_to, _)| up_to.is_none_or(|up_to| quantity <= up_to))
            .expect("the top tier is open-ended");
        Amount::from(quantity).checked_mul(unit_amount_minor)
    }
}

#[cfg(test)]
mod tests {
    //! The table is well formed and prices every currency Kassa's users charge in, and each mode
    //! prices the units on both sides of every tier boundary as the table says, in every currency.
    use super::*;

    /// The currencies every bundled table must price.
    const CURRENCIES: [&str; 6] = ["usd", "zar", "kes", "ngn", "eur", "gbp"];

    fn amount_in(currency: &str, sku: &str, quantity: u32) -> Amount {
        find(sku).unwrap().in_currency(currency).unwrap().amount_minor(quantity).unwrap()
    }

    fn amount(sku: &str, quantity: u32) -> Amount {
        amount_in("usd", sku, quantity)
    }

    /// The unit prices of `sku`'s tiers in `currency`, lowest tier first.
    fn prices(sku: &str, currency: &str) -> [Amount; 3] {
        let table = find(sku).unwrap();
        let prices = table.prices.iter().find(|prices| prices.currency == currency).unwrap();
        prices.unit_amounts_minor.try_into().expect("three tiers")
    }

    #[test]
    fn every_table_is_ascending_and_open_ended() {
        for (index, table) in PRICE_TABLES.iter().enumerate() {
            assert!(
                PRICE_TABLES[..index].iter().all(|other| other.sku != table.sku),
                "`{}` listed twice",
                table.sku
            );
            let (top, lower) = table.tier_ends.split_last().expect("at least one tier");
            assert_eq!(*top, None, "`{}`: the top tier must be open-ended", table.sku);
            let bounds: Vec<u32> = lower.iter().map(|up_to| up_to.unwrap()).collect();
            assert!(bounds.windows(2).all(|pair| pair[0] < pair[1]), "`{}`", table.sku);
            assert!(bounds.first().is_none_or(|first| *first > 0), "`{}`", table.sku);
        }
    }

    #[test]
    fn every_currency_has_one_non_negative_price_per_tier_none_above_the_tier_below() {
        for table in PRICE_TABLES {
            for (index, prices) in table.prices.iter().enumerate() {
                let (sku, currency) = (table.sku, prices.currency);
                assert!(
                    table.prices[..index].iter().all(|other| other.currency != currency),
                    "`{sku}`: {currency} listed twice"
                );
                // The input's currencies are lower-case ISO-4217 codes, matched exactly.
                assert!(
                    currency.len() == 3 && currency.bytes().all(|byte| byte.is_ascii_lowercase()),
                    "`{sku}`: `{currency}` is not a lower-case currency code"
                );
                let unit_amounts = prices.unit_amounts_minor;
                assert_eq!(unit_amounts.len(), table.tier_ends.len(), "`{sku}` in {currency}");
                assert!(unit_amounts.iter().all(|amount| *amount >= 0), "`{sku}` in {currency}");
                // A higher tier is a volume discount: this also catches a mistyped digit.
                assert!(
                    unit_amounts.windows(2).all(|pair| pair[0] >= pair[1]),
                    "`{sku}` in {currency}: a higher tier costs more per unit"
                );
            }
        }
    }

    #[test]
    fn every_table_prices_the_currencies_kassa_users_charge_in() {
        for table in PRICE_TABLES {
            for currency in CURRENCIES {
                assert!(table.in_currency(currency).is_some(), "`{}` in {currency}", table.sku);
            }
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
    fn graduated_seats_cross_the_same_edges_in_every_currency() {
        for currency in CURRENCIES {
            let [first, second, top] = prices("seat", currency);
            let seats = |quantity| amount_in(currency, "seat", quantity);
            assert_eq!(seats(1), first, "{currency}");
            assert_eq!(seats(10), 10 * first, "{currency}");
            assert_eq!(seats(11), 10 * first + second, "{currency}");
            assert_eq!(seats(50), 10 * first + 40 * second, "{currency}");
            assert_eq!(seats(51), 10 * first + 40 * second + top, "{currency}");
        }
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
    fn volume_storage_reaches_the_same_tiers_in_every_currency() {
        for currency in CURRENCIES {
            let [first, second, top] = prices("storage-gb", currency);
            let storage = |quantity| amount_in(currency, "storage-gb", quantity);
            assert_eq!(storage(100), 100 * first, "{currency}");
            assert_eq!(storage(101), 101 * second, "{currency}");
            assert_eq!(storage(1000), 1000 * second, "{currency}");
            assert_eq!(storage(1001), 1001 * top, "{currency}");
        }
    }

    #[test]
    fn the_largest_quantity_fits_in_every_currency() {
        let max = Amount::from(u32::MAX);
        assert_eq!(amount("seat", u32::MAX), 10 * 1000 + 40 * 800 + (max - 50) * 600);
        assert_eq!(amount("storage-gb", u32::MAX), max * 30);
        // ngn has the largest minor amounts.
        assert_eq!(
            amount_in("ngn", "seat", u32::MAX),
            10 * 1_500_000 + 40 * 1_200_000 + (max - 50) * 900_000
        );
        for table in PRICE_TABLES {
            for currency in table.currencies() {
                let tiers = table.in_currency(currency).unwrap();
                assert!(tiers.amount_minor(u32::MAX).is_some(), "`{}` in {currency}", table.sku);
            }
        }
    }

    #[test]
    fn unknown_skus_have_no_table() {
        assert!(find("widget").is_none());
        assert!(find("Seat").is_none());
    }

    #[test]
    fn other_currencies_have_no_tiers() {
        let seat = find("seat").unwrap();
        assert!(seat.in_currency("jpy").is_none());
        // Codes match exactly, as the input's are lower case.
        assert!(seat.in_currency("USD").is_none());
        assert_eq!(seat.currencies(), CURRENCIES);
    }
}
