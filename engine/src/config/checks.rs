//! Checks of routing rules, rule limits and accounts, and the helpers every check uses.

use crate::billing::local_hours::{LocalHours, LocalHoursError};
use kassa_gateways::router::RoutingRule;

use super::{Config, ConfigError, config_error};
use crate::domain::AccountId;
use crate::limits::{
    ARCHIVE_AFTER_DAYS_MAX, BANK_TRANSFER_EXPIRY_DAYS_MAX, DUNNING_RETRIES_MAX,
    DUNNING_RETRY_DAYS_MAX, RECONCILE_AFTER_SECS_MAX, RULE_CALL_TIMEOUT_MS_MAX,
    RULE_CONCURRENT_CALLS_MAX, RULE_FUEL_PER_CALL_MAX, RULE_MEMORY_MIB_MAX, RULE_THREADS_MAX,
    RULE_UPLOAD_BYTES_MAX, RULE_VERSIONS_KEPT_MAX, STATEMENT_BODY_BYTES_MAX,
};

impl Config {
    pub(super) fn validate_routing(&self) -> Result<(), ConfigError> {
        let enabled = self.enabled_gateways();
        let routing = &self.routing;
        if !enabled.contains(&routing.default.as_str()) {
            return Err(config_error(
                "routing.default",
                format!(
                    "gateway `{}` is not enabled (enabled: {})",
                    routing.default,
                    enabled.join(", ")
                ),
            ));
        }
        within(
            "routing.breaker.failures_to_open",
            u64::from(routing.breaker.failures_to_open),
            u64::from(u32::MAX),
        )?;
        within(
            "routing.breaker.cool_down_ms",
            routing.breaker.cool_down_ms,
            RECONCILE_AFTER_SECS_MAX * 1000,
        )?;
        for (index, rule) in routing.rules.iter().enumerate() {
            validate_routing_rule(index, rule, &enabled)?;
        }
        Ok(())
    }

    pub(super) fn validate_bank_transfer(&self) -> Result<(), ConfigError> {
        let transfer = &self.billing.bank_transfer;
        if !(1..=BANK_TRANSFER_EXPIRY_DAYS_MAX).contains(&transfer.expiry_days) {
            return Err(config_error(
                "billing.bank_transfer.expiry_days",
                format!("must be 1 to {BANK_TRANSFER_EXPIRY_DAYS_MAX}"),
            ));
        }
        crate::bank_statements::Columns::parse(&transfer.csv)
            .map_err(|error| config_error("billing.bank_transfer.csv", error))?;
        if !(1..=STATEMENT_BODY_BYTES_MAX).contains(&self.limits.statement_body_max) {
            return Err(config_error(
                "limits.statement_body_max",
                format!("must be 1 to {STATEMENT_BODY_BYTES_MAX} bytes"),
            ));
        }
        Ok(())
    }

    pub(super) fn validate_archival(&self) -> Result<(), ConfigError> {
        if self.storage.archive_after_days.is_some_and(|days| days > ARCHIVE_AFTER_DAYS_MAX) {
            return Err(config_error(
                "storage.archive_after_days",
                format!("must be 0 to {ARCHIVE_AFTER_DAYS_MAX} days"),
            ));
        }
        Ok(())
    }

    pub(super) fn validate_dunning(&self) -> Result<(), ConfigError> {
        if self.billing.grace_days > DUNNING_RETRY_DAYS_MAX {
            return Err(config_error(
                "billing.grace_days",
                format!("must be at most {DUNNING_RETRY_DAYS_MAX}"),
            ));
        }
        let [from, to] = self.billing.dunning.local_hours;
        LocalHours::new(&self.billing.timezone, from, to).map_err(|error| match error {
            LocalHoursError::Zone(_) => config_error("billing.timezone", error.to_string()),
            LocalHoursError::Hours(..) => {
                config_error("billing.dunning.local_hours", error.to_string())
            }
        })?;
        let days = &self.billing.dunning.retry_days;
        let key = "billing.dunning.retry_days";
        if days.len() > DUNNING_RETRIES_MAX {
            return Err(config_error(key, format!("at most {DUNNING_RETRIES_MAX} retries")));
        }
        let increasing = days.windows(2).all(|pair| pair[0] < pair[1]);
        let in_range = days.iter().all(|day| (1..=DUNNING_RETRY_DAYS_MAX).contains(day));
        if !increasing || !in_range {
            return Err(config_error(
                key,
                format!(
                    "must be increasing days from 1 to {DUNNING_RETRY_DAYS_MAX} after the first \
                     failure, such as [1, 3, 5, 7]"
                ),
            ));
        }
        Ok(())
    }

    pub(super) fn validate_rules(&self) -> Result<(), ConfigError> {
        let rules = &self.rules;
        within("rules.fuel_per_call", rules.fuel_per_call, RULE_FUEL_PER_CALL_MAX)?;
        within("rules.memory_max_mib", rules.memory_max_mib, RULE_MEMORY_MIB_MAX)?;
        within("rules.upload_max_bytes", rules.upload_max_bytes, RULE_UPLOAD_BYTES_MAX)?;
        within(
            "rules.concurrent_calls_max",
            u64::from(rules.concurrent_calls_max),
            RULE_CONCURRENT_CALLS_MAX,
        )?;
        within(
            "rules.account_concurrent_calls_max",
            u64::from(rules.account_concurrent_calls_max),
            u64::from(rules.concurrent_calls_max),
        )?;
        within("rules.call_timeout_ms", rules.call_timeout_ms, RULE_CALL_TIMEOUT_MS_MAX)?;
        within(
            "rules.versions_kept",
            u64::from(rules.versions_kept),
            u64::from(RULE_VERSIONS_KEPT_MAX),
        )?;
        if rules.threads > RULE_THREADS_MAX {
            return Err(config_error(
                "rules.threads",
                format!("at most {RULE_THREADS_MAX} (0: half the cores)"),
            ));
        }
        let country = &rules.seller_country;
        if !(country.len() == 2 && country.bytes().all(|byte| byte.is_ascii_uppercase())) {
            return Err(config_error(
                "rules.seller_country",
                format!("`{country}` is not an upper-case ISO 3166-1 alpha-2 code such as ZA"),
            ));
        }
        Ok(())
    }

    pub(super) fn validate_accounts(&self) -> Result<(), ConfigError> {
        let mut seen_ids = std::collections::HashSet::new();
        let mut seen_keys = std::collections::HashSet::new();
        for (index, account) in self.accounts.list.iter().enumerate() {
            let key = format!("accounts[{index}].id");
            if AccountId::parse(&account.id).is_none() {
                return Err(config_error(
                    &key,
                    "must be `acct_` and 1 to 64 letters, digits or `_`",
                ));
            }
            if !seen_ids.insert(&account.id) {
                return Err(config_error(&key, format!("`{}` is listed twice", account.id)));
            }
            for api_key in &account.api_keys {
                let key = format!("accounts[{index}].api_keys");
                if !is_valid_api_key(api_key) {
                    return Err(config_error(
                        &key,
                        "a key is `sk_` and at least 16 letters, digits or `_`",
                    ));
                }
                if !seen_keys.insert(api_key) {
                    return Err(config_error(&key, "a key is given to more than one account"));
                }
            }
        }
        let admin_key = self.accounts.admin_key.expose();
        if self.accounts.admin_key.is_set() {
            if !is_valid_admin_key(admin_key) {
                return Err(config_error(
                    "accounts.admin_key",
                    "is 32 to 200 letters, digits, `_` or `-`: a long random secret",
                ));
            }
            if self
                .accounts
                .list
                .iter()
                .any(|account| account.api_keys.iter().any(|key| key == admin_key))
            {
                return Err(config_error(
                    "accounts.admin_key",
                    "is also an account's API key: the admin key must be a secret of its own",
                ));
            }
        }
        Ok(())
    }
}

/// The admin key manages every account: it must be too long to guess, whatever its form.
fn is_valid_admin_key(key: &str) -> bool {
    (32..=200).contains(&key.len())
        && key.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
}

pub(super) fn within(key: &str, value: u64, max: u64) -> Result<(), ConfigError> {
    match value {
        0 => Err(config_error(key, "must be at least 1")),
        value if value > max => Err(config_error(key, format!("must be at most {max}"))),
        _ => Ok(()),
    }
}

pub(super) fn http_url(key: &str, url: &str) -> Result<(), ConfigError> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.contains(char::is_whitespace) => Ok(()),
        _ => Err(config_error(key, format!("`{url}` is not an http(s) URL"))),
    }
}

/// The router checks the same again when it is built; checking here names the key and stops
/// start-up before anything is opened.
fn validate_routing_rule(
    index: usize,
    rule: &RoutingRule,
    enabled: &[&'static str],
) -> Result<(), ConfigError> {
    let key = |field: &str| format!("routing.rules[{index}].{field}");
    if rule.gateways.is_empty() {
        return Err(config_error(&key("gateways"), "must name at least one gateway"));
    }
    if let Some(name) = rule.gateways.iter().find(|name| !enabled.contains(&name.as_str())) {
        return Err(config_error(
            &key("gateways"),
            format!("gateway `{name}` is not enabled (enabled: {})", enabled.join(", ")),
        ));
    }
    if let Some(code) = rule.currencies.iter().find(|code| {
        code.len() != 3
            || !code.bytes().all(|byte| byte.is_ascii_lowercase())
            || iso_currency::Currency::from_code(&code.to_ascii_uppercase()).is_none()
    }) {
        return Err(config_error(
            &key("currencies"),
            format!("`{code}` is not a lowercase ISO-4217 code such as `kes`"),
        ));
    }
    if let Some(country) = rule.countries.iter().find(|country| {
        !(country.len() == 2 && country.bytes().all(|byte| byte.is_ascii_uppercase()))
    }) {
        return Err(config_error(
            &key("countries"),
            format!("`{country}` is not an upper-case ISO 3166-1 alpha-2 code such as KE"),
        ));
    }
    if let (Some(min), Some(max)) = (rule.amount_minor_min, rule.amount_minor_max)
        && min > max
    {
        return Err(config_error(&key("amount_minor_min"), "is above amount_minor_max"));
    }
    Ok(())
}

pub fn is_valid_api_key(key: &str) -> bool {
    key.strip_prefix("sk_").is_some_and(|rest| {
        rest.len() >= 16
            && rest.len() <= 200
            && rest.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
    })
}
