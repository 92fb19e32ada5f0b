//! Every string a client sends in a JSON body — values and object keys, at any depth — is free
//! text to Kassa, and the contract's rules for free text hold for all of them at once, before a
//! handler sees the request: no card number (a 13–19 digit run that passes Luhn, however
//! written), no control characters, no bidirectional-text overrides (which make a receipt or a
//! dashboard show text other than what is stored). A route added later is covered without a
//! line of its own.

use serde_json::Value;

use super::error::ApiError;
use crate::domain::card_number::holds_card_number;

/// Refuses the first string in `body` that breaks a rule, naming where it is (`metadata.note`,
/// `tax_ids[1].value`). The string fields named in `credentials` (by their path: `token`,
/// `settings.bank_transfer.account_number`) are not free text: a route that takes a payment
/// credential (a gateway token, an M-Pesa phone number) checks it itself, and answers a card
/// number there with `payment_method_invalid`, as the contract says; a bank account number is
/// digits that may pass Luhn, and its route checks its form.
pub fn check(body: &Value, credentials: &[&str]) -> Result<(), ApiError> {
    walk(body, &Path::Root, credentials)
}

/// Where a string sits in the body, rendered only when it is refused.
enum Path<'a> {
    Root,
    Field(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    fn render(&self) -> String {
        match self {
            Path::Root => "body".to_owned(),
            Path::Field(Path::Root, key) => (*key).to_owned(),
            Path::Field(parent, key) => format!("{}.{key}", parent.render()),
            Path::Index(parent, index) => format!("{}[{index}]", parent.render()),
        }
    }
}

fn walk(value: &Value, path: &Path<'_>, credentials: &[&str]) -> Result<(), ApiError> {
    match value {
        Value::String(_)
            if !credentials.is_empty() && credentials.contains(&path.render().as_str()) =>
        {
            Ok(())
        }
        Value::String(text) => check_text(text, path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(index, item)| walk(item, &Path::Index(path, index), credentials)),
        Value::Object(fields) => fields.iter().try_for_each(|(key, item)| {
            let field = Path::Field(path, key);
            check_key(key, path)?;
            walk(item, &field, credentials)
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

/// An object key under `parent` is held to the same rules; one refused is never named in the
/// answer (it would echo the card number), only where it sits.
fn check_key(key: &str, parent: &Path<'_>) -> Result<(), ApiError> {
    check_text(key, &Path::Field(parent, key)).map_err(|mut error| {
        let param = Path::Field(parent, "<key>").render();
        error.message = format!("a key of `{}` {}", parent.render(), refusal_reason(key));
        error.param = Some(param);
        error
    })
}

fn refusal_reason(text: &str) -> &'static str {
    if text.chars().any(char::is_control) {
        "must not contain control characters"
    } else if text.chars().any(is_bidi_control) {
        "must not contain bidirectional text controls"
    } else {
        "looks like it holds a card number; Kassa never accepts card data"
    }
}

fn check_text(text: &str, path: &Path<'_>) -> Result<(), ApiError> {
    let refused = |message: &str| {
        let param = path.render();
        Err(ApiError::validation(param.clone(), format!("`{param}` {message}")))
    };
    if text.chars().any(char::is_control) {
        return refused("must not contain control characters");
    }
    if text.chars().any(is_bidi_control) {
        return refused("must not contain bidirectional text controls");
    }
    if holds_card_number(text) {
        return refused("looks like it holds a card number; Kassa never accepts card data");
    }
    Ok(())
}

/// The marks and overrides that reorder how text is shown (Unicode's Bidi_Control).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn refused_param(body: Value) -> Option<String> {
        check(&body, &["token"]).err().map(|error| error.param.unwrap_or_default())
    }

    #[test]
    fn a_card_number_anywhere_is_refused_naming_where() {
        let card = "4242 4242 4242 4242";
        assert_eq!(refused_param(json!({"phone": "4242424242424242"})), Some("phone".into()));
        assert_eq!(
            refused_param(
                json!({"tax_ids": [{"type": "eu_vat", "value": "DE1"}, {"type": "x", "value": card}]})
            ),
            Some("tax_ids[1].value".into())
        );
        let refused = check(&json!({"metadata": {card: "key"}}), &[]).unwrap_err();
        assert_eq!(refused.param.as_deref(), Some("metadata.<key>"), "the key is never echoed");
        assert!(!refused.message.contains(card), "{}", refused.message);
        assert_eq!(refused_param(json!({"a": {"b": [[card]]}})), Some("a.b[0][0]".into()));
    }

    #[test]
    fn control_and_bidi_characters_are_refused() {
        assert_eq!(
            refused_param(json!({"metadata": {"note": "a\u{0007}b"}})),
            Some("metadata.note".into())
        );
        assert_eq!(refused_param(json!({"name": "evil\u{202E}gpj.exe"})), Some("name".into()));
        assert_eq!(refused_param(json!({"name": "\u{2067}x"})), Some("name".into()));
    }

    #[test]
    fn a_credential_is_exempt_only_at_the_top_level() {
        let card = "4242424242424242";
        assert_eq!(refused_param(json!({"token": card})), None);
        assert_eq!(
            refused_param(json!({"metadata": {"token": card}})),
            Some("metadata.token".into())
        );
        assert_eq!(check(&json!({"token": card}), &[]).unwrap_err().param, Some("token".into()));
    }

    #[test]
    fn ordinary_bodies_and_tokens_pass() {
        let body = json!({
            "name": "Thandiwe Nkosi", "phone": "+254 712 345 678", "amount": 4242424242424242u64,
            "metadata": {"course": "Grade 12 Maths", "order": "2026-11-22 10:30:45"},
            "tax_ids": [{"type": "br_cnpj", "value": "11222333000182"}],
            "token": "4242424242424242",
        });
        assert_eq!(refused_param(body), None);
    }
}
