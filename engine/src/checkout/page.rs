//! The checkout page's HTML. Everything on it is served by the engine itself, inline: a
//! policy ([`policy`]) forbids anything from elsewhere, and the one script (following an
//! M-Pesa payment to its outcome) is allowed by its hash, with a refresh as the fallback where
//! scripts do not run. Every field has a label; every amount is printed from integer minor
//! units with its currency's exponent.

use std::sync::LazyLock;

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::billing::receipt::format::{money, rate};
use crate::billing::receipt::html::escape;
use crate::checkout::countries;
use crate::domain::{BankTransfer, CheckoutItems, CheckoutMethod, CheckoutSession, Currency};

/// The sandbox test cards a buyer may choose from: no card number is ever typed on the page.
pub const SANDBOX_CARDS: [(&str, &str); 4] = [
    ("pm_card_visa", "Visa ending 4242 (succeeds)"),
    ("pm_card_mastercard", "Mastercard ending 4444 (succeeds)"),
    ("pm_card_chargeDeclined", "Visa ending 0002 (declined)"),
    ("pm_card_chargeDeclinedInsufficientFunds", "Visa ending 9995 (insufficient funds)"),
];

/// Seconds between reloads of a page waiting on a payment, where no script runs.
const REFRESH_SECS: u32 = 5;

/// Follows the payment named on the page: reloads when the session's status or the payment's
/// changes. Fixed text, so its hash can be in the policy.
const FOLLOW_SCRIPT: &str = "(function(){var e=document.getElementById('follow');if(!e)return;\
var u=e.getAttribute('data-status-url'),p=e.getAttribute('data-payment');\
function poll(){fetch(u,{cache:'no-store'}).then(function(r){return r.json();}).then(function(b){\
if(b.status!=='open'||b.payment!==p){location.reload();}else{setTimeout(poll,2000);}})\
.catch(function(){setTimeout(poll,5000);});}setTimeout(poll,2000);})();";

static FOLLOW_SCRIPT_HASH: LazyLock<String> = LazyLock::new(|| {
    let digest = Sha256::digest(FOLLOW_SCRIPT.as_bytes());
    format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest))
});

/// The page's policy: nothing from elsewhere, the following script by its hash, status reads
/// from the engine, and forms posted to the engine (whose answer may send the buyer on to
/// `success_url`, whose origin is allowed for that).
pub fn policy(success_url: Option<&str>) -> String {
    let success_origin = success_url.and_then(origin).map(|origin| format!(" {origin}"));
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; script-src {script}; \
         connect-src 'self'; img-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
         form-action 'self'{}",
        success_origin.unwrap_or_default(),
        script = *FOLLOW_SCRIPT_HASH
    )
}

/// `https://shop.example:8443` of `https://shop.example:8443/done?x=1`.
fn origin(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&url[..url.len() - rest.len() + end])
}

/// What the page says about the session's latest payment.
pub enum Payment<'a> {
    /// None yet, or the last one failed (its message shown) and another may be tried.
    Choose { failure: Option<&'a str> },
    /// An M-Pesa prompt is on the buyer's phone.
    Mpesa,
    /// Waiting for a bank transfer to these details.
    BankTransfer { transfer: &'a BankTransfer, amount_minor: i64 },
}

/// Who is paid, as the page heads itself.
pub struct Seller<'a> {
    pub name: &'a str,
}

/// What is being paid, as the page lists it: every amount in `currency`'s minor units.
pub struct Bill {
    pub currency: Currency,
    /// Each line's label and amount.
    pub lines: Vec<(String, i64)>,
    pub subtotal_minor: i64,
    /// The discount's label and what it takes off.
    pub discount: Option<(String, i64)>,
    /// Each tax's label and amount; `None`: tax is not known here (a subscription's is added
    /// by its invoice).
    pub tax: Option<Vec<(String, i64)>>,
    /// What `total_minor` is called (`Total due today`, `Amount due`).
    pub total_label: &'static str,
    pub total_minor: i64,
    /// A sentence under the table (a trial's terms, a due date).
    pub note: Option<String>,
}

/// Where the page's forms go and what they offer.
pub struct Offer<'a> {
    /// The page's own path (`/checkout/{id}`): forms post to `{path}/pay`, the script reads
    /// `{path}/status`.
    pub path: &'a str,
    pub methods: &'a [CheckoutMethod],
    /// Cards are paid on the processor's own page (Stripe Checkout), not chosen here from the
    /// sandbox's test cards.
    pub hosted_card: bool,
    pub promotion_code: bool,
    /// The buyer's country as the bill is taxed for, to be confirmed or changed: asked when
    /// the buyer has none on record.
    pub country: Option<&'a str>,
    pub cancel: Option<&'a str>,
}

impl Bill {
    /// A checkout session's bill.
    pub fn of_session(session: &CheckoutSession, plan_name: Option<&str>) -> Bill {
        let mut lines = Vec::new();
        match &session.items {
            CheckoutItems::Amount => {
                lines.push(("Payment".to_owned(), session.amount_subtotal_minor))
            }
            CheckoutItems::Priced { breakdown, .. } => {
                for line in &breakdown.lines {
                    lines.push((format!("{} × {}", line.sku, line.quantity), line.amount_minor));
                }
            }
            CheckoutItems::Plan { quantity, .. } => lines.push((
                format!("{} × {quantity}", plan_name.unwrap_or("Subscription")),
                session.amount_subtotal_minor,
            )),
        }
        let discount_minor = session.discount_minor();
        let discount = (discount_minor > 0).then(|| {
            let coupon = session.coupon.as_ref().map_or("", |applied| applied.coupon.as_str());
            (format!("Discount ({coupon})"), discount_minor)
        });
        let tax = match (&session.items, session.breakdown()) {
            (CheckoutItems::Plan { .. }, _) => None,
            (_, Some(breakdown)) => Some(
                breakdown
                    .tax
                    .iter()
                    .map(|tax| {
                        let label =
                            format!("{} {} ({})", tax.name, rate(tax.rate_bps), tax.jurisdiction);
                        (label, tax.amount_minor)
                    })
                    .collect(),
            ),
            (_, None) => Some(Vec::new()),
        };
        let note = match &session.items {
            CheckoutItems::Plan { trial_days, .. } if *trial_days > 0 => Some(format!(
                "Your {trial_days}-day free trial starts today; the first payment of {} is taken \
                 when it ends.",
                money(session.amount_subtotal_minor - discount_minor, session.currency)
            )),
            _ => None,
        };
        let total_label = match tax {
            Some(_) => "Total due today",
            None => "Total due today, before tax",
        };
        Bill {
            currency: session.currency,
            lines,
            subtotal_minor: session.amount_subtotal_minor,
            discount,
            tax,
            total_label,
            total_minor: session.amount_total_minor,
            note,
        }
    }
}

/// The page of something still to pay: what it is, then the payment under way or the ways to
/// pay it.
pub fn open(
    bill: &Bill,
    offer: &Offer<'_>,
    seller: &Seller<'_>,
    payment: &Payment<'_>,
    error: Option<&str>,
) -> String {
    let mut body = String::new();
    body.push_str(&format!("<h1>Pay {}</h1>\n", escape(seller.name)));
    if let Some(error) = error {
        body.push_str(&format!("<p class=\"error\" role=\"alert\">{}</p>\n", escape(error)));
    }
    body.push_str(&summary(bill));
    match payment {
        Payment::Choose { failure } => {
            if let Some(failure) = failure {
                body.push_str(&format!(
                    "<p class=\"error\" role=\"alert\">The payment did not go through: {} \
                     Try again, or choose another way to pay.</p>\n",
                    escape(failure)
                ));
            }
            body.push_str(&choices(bill, offer));
        }
        Payment::Mpesa => body.push_str(&following(bill, offer)),
        Payment::BankTransfer { transfer, amount_minor } => {
            body.push_str(&bank_transfer(bill.currency, transfer, *amount_minor))
        }
    }
    if let Some(cancel) = offer.cancel {
        body.push_str(&format!(
            "<p class=\"cancel\"><a href=\"{}\">Cancel and return</a></p>\n",
            escape(cancel)
        ));
    }
    document("Checkout", &body, matches!(payment, Payment::Mpesa))
}

/// The hand-off to a processor's hosted page: on at once, with a link for browsers that do not
/// follow the refresh.
pub fn hand_off(url: &str) -> String {
    let url = escape(url);
    let body = format!(
        "<h1>Pay by card</h1>\n<p>Taking you to our payment processor's secure page. If nothing \
         happens, <a id=\"continue\" href=\"{url}\">continue to pay by card</a>.</p>\n"
    );
    let refresh = format!("<meta http-equiv=\"refresh\" content=\"0;url={url}\">\n");
    document_with("Pay by card", &body, &refresh)
}

/// A page that only says something: an expired session, a paid one, an unknown link.
pub fn notice(title: &str, message: &str, link: Option<(&str, &str)>) -> String {
    let mut body = format!("<h1>{}</h1>\n<p>{}</p>\n", escape(title), escape(message));
    if let Some((href, text)) = link {
        body.push_str(&format!("<p><a href=\"{}\">{}</a></p>\n", escape(href), escape(text)));
    }
    document(title, &body, false)
}

fn summary(bill: &Bill) -> String {
    let currency = bill.currency;
    let rows: String = bill
        .lines
        .iter()
        .map(|(label, amount)| row_class("line", label, *amount, currency))
        .collect();
    let mut totals = row_class("subtotal", "Subtotal", bill.subtotal_minor, currency);
    if let Some((label, amount)) = &bill.discount {
        totals.push_str(&row_class("discount", label, -amount, currency));
    }
    match &bill.tax {
        Some(taxes) if taxes.is_empty() => totals.push_str(&row_class("tax", "Tax", 0, currency)),
        Some(taxes) => {
            for (label, amount) in taxes {
                totals.push_str(&row_class("tax", label, *amount, currency));
            }
        }
        None => totals.push_str(
            "<tr class=\"tax\"><th scope=\"row\">Tax</th>\
             <td class=\"amount\">as your invoice shows it</td></tr>\n",
        ),
    }
    totals.push_str(&row_class("total", bill.total_label, bill.total_minor, currency));
    let mut out = format!(
        "<table class=\"lines\"><caption>What you pay for</caption>\n<tbody>\n{rows}</tbody>\n\
         <tfoot>\n{totals}</tfoot>\n</table>\n"
    );
    if let Some(note) = &bill.note {
        out.push_str(&format!("<p class=\"note\">{}</p>\n", escape(note)));
    }
    out
}

fn row_class(class: &str, label: &str, amount_minor: i64, currency: Currency) -> String {
    format!(
        "<tr class=\"{class}\"><th scope=\"row\">{}</th><td class=\"amount\">{}</td></tr>\n",
        escape(label),
        escape(&money(amount_minor, currency))
    )
}

/// One form per way to pay.
fn choices(bill: &Bill, offer: &Offer<'_>) -> String {
    let action = format!("{}/pay", offer.path);
    let total = escape(&money(bill.total_minor, bill.currency));
    let verb = if bill.total_minor == 0 { "Start".to_owned() } else { format!("Pay {total}") };
    if offer.methods.is_empty() {
        return "<p class=\"error\" role=\"alert\">This cannot be paid here: ask the seller how to \
                pay it.</p>\n"
            .to_owned();
    }
    let mut out = offer.country.map(|chosen| country_choice(&action, chosen)).unwrap_or_default();
    out.push_str("<h2>How would you like to pay?</h2>\n");
    for method in offer.methods {
        out.push_str(&match method {
            CheckoutMethod::Card if offer.hosted_card => format!(
                "<form method=\"post\" action=\"{action}\" class=\"method card\">\
                 <input type=\"hidden\" name=\"method\" value=\"card\">\
                 <fieldset><legend>Card</legend>\
                 <p>You enter your card on our payment processor's secure page.</p>\
                 <button type=\"submit\" id=\"pay-card\">{verb} by card</button>\
                 </fieldset></form>\n"
            ),
            CheckoutMethod::Card => {
                let options: String = SANDBOX_CARDS
                    .iter()
                    .map(|(token, label)| format!("<option value=\"{token}\">{label}</option>"))
                    .collect();
                format!(
                    "<form method=\"post\" action=\"{action}\" class=\"method card\">\
                     <input type=\"hidden\" name=\"method\" value=\"card\">\
                     <fieldset><legend>Card</legend>\
                     <label for=\"card\">Test card (sandbox)</label>\
                     <select id=\"card\" name=\"card\">{options}</select>\
                     <button type=\"submit\" id=\"pay-card\">{verb} by card</button>\
                     </fieldset></form>\n"
                )
            }
            CheckoutMethod::Mpesa => format!(
                "<form method=\"post\" action=\"{action}\" class=\"method mpesa\">\
                 <input type=\"hidden\" name=\"method\" value=\"mpesa\">\
                 <fieldset><legend>M-Pesa</legend>\
                 <label for=\"phone\">M-Pesa phone number</label>\
                 <input id=\"phone\" name=\"phone\" type=\"tel\" autocomplete=\"tel\" \
                 placeholder=\"0712 345 678\" required>\
                 <button type=\"submit\" id=\"pay-mpesa\">{verb} with M-Pesa</button>\
                 </fieldset></form>\n"
            ),
            CheckoutMethod::BankTransfer => format!(
                "<form method=\"post\" action=\"{action}\" class=\"method bank-transfer\">\
                 <input type=\"hidden\" name=\"method\" value=\"bank_transfer\">\
                 <fieldset><legend>Bank transfer (EFT)</legend>\
                 <p>You get a reference and our bank details to pay to from your banking app.</p>\
                 <button type=\"submit\" id=\"pay-bank-transfer\">{verb} by bank transfer</button>\
                 </fieldset></form>\n"
            ),
        });
    }
    if offer.promotion_code {
        out.push_str(&format!(
            "<form method=\"post\" action=\"{action}\" class=\"promotion-code\">\
             <input type=\"hidden\" name=\"method\" value=\"promotion_code\">\
             <label for=\"code\">Promotion code</label>\
             <input id=\"code\" name=\"code\" autocomplete=\"off\" required>\
             <button type=\"submit\" id=\"apply-code\">Apply</button></form>\n"
        ));
    }
    out
}

/// The buyer's country, which their tax depends on: the one the bill is worked out for is
/// chosen; another prices the bill again.
fn country_choice(action: &str, chosen: &str) -> String {
    let options: String = countries::COUNTRIES
        .iter()
        .map(|(code, name)| {
            let selected = if *code == chosen { " selected" } else { "" };
            format!("<option value=\"{code}\"{selected}>{}</option>", escape(name))
        })
        .collect();
    let shown = countries::name(chosen).unwrap_or(chosen);
    format!(
        "<form method=\"post\" action=\"{action}\" class=\"country\">\
         <input type=\"hidden\" name=\"method\" value=\"country\">\
         <p>Tax is worked out for <strong id=\"taxed-country\">{}</strong>. \
         If you live elsewhere, choose your country first.</p>\
         <label for=\"country\">Country</label>\
         <select id=\"country\" name=\"country\" autocomplete=\"country\">{options}</select>\
         <button type=\"submit\" id=\"apply-country\">Update</button></form>\n",
        escape(shown)
    )
}

/// Waiting on a payment the buyer completes elsewhere (the M-Pesa prompt on their phone).
fn following(bill: &Bill, offer: &Offer<'_>) -> String {
    format!(
        "<section id=\"follow\" data-status-url=\"{path}/status\" \
         data-payment=\"processing\" aria-live=\"polite\">\
         <h2>Check your phone</h2><p>Approve the M-Pesa prompt for {amount} on your phone \
         and enter your PIN. This page moves on by itself once M-Pesa confirms; if it does not, \
         <a href=\"{path}\">refresh it</a>.</p></section>\n\
         <script>{FOLLOW_SCRIPT}</script>\n",
        path = offer.path,
        amount = escape(&money(bill.total_minor, bill.currency)),
    )
}

fn bank_transfer(currency: Currency, transfer: &BankTransfer, amount_minor: i64) -> String {
    let bank = &transfer.bank;
    let mut details = vec![
        ("Amount", money(amount_minor, currency)),
        ("Reference", transfer.reference.clone()),
        ("Bank", bank.bank_name.clone()),
        ("Account holder", bank.account_holder.clone()),
        ("Account number", bank.account_number.clone()),
        ("Branch code", bank.branch_code.clone()),
    ];
    if let Some(swift) = &bank.swift {
        details.push(("SWIFT", swift.clone()));
    }
    if transfer.amount_received_minor > 0 {
        details.push(("Received so far", money(transfer.amount_received_minor, currency)));
    }
    let rows: String = details
        .iter()
        .map(|(term, value)| format!("<dt>{term}</dt><dd>{}</dd>", escape(value)))
        .collect();
    format!(
        "<section class=\"bank-transfer-details\"><h2>Pay by bank transfer</h2>\
         <p>Pay exactly this amount with this reference from your banking app. Your payment is \
         confirmed when it reaches our account (usually 1–2 business days); come back to this \
         page to see it.</p><dl>{rows}</dl></section>\n"
    )
}

fn document(title: &str, body: &str, refresh: bool) -> String {
    let refresh = if refresh {
        format!("<meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">\n")
    } else {
        String::new()
    };
    document_with(title, body, &refresh)
}

/// A whole page, with `head` (meta elements) in its head.
fn document_with(title: &str, body: &str, head: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n{head}\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <main class=\"checkout\">\n{body}</main>\n</body>\n</html>\n",
        title = escape(title),
    )
}

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#111;margin:0;\
background:#f4f4f4}\
.checkout{max-width:34rem;margin:2rem auto;padding:1.5rem;background:#fff;border:1px solid #ddd}\
h1{font-size:1.4rem;margin:0 0 1rem}h2{font-size:1.05rem;margin:1.5rem 0 .5rem}\
table{width:100%;border-collapse:collapse}caption{text-align:left;color:#555;padding:.3rem 0}\
th,td{text-align:left;padding:.35rem .4rem;border-bottom:1px solid #e5e5e5;font-weight:normal}\
.amount{text-align:right;white-space:nowrap}tr.total th,tr.total td{font-weight:600;\
border-top:2px solid #111}\
form{margin:1rem 0}fieldset{border:1px solid #ddd;padding:.8rem}legend{font-weight:600}\
label{display:block;margin:.3rem 0}input,select{font:inherit;padding:.4rem;width:100%;\
box-sizing:border-box}button{font:inherit;margin-top:.6rem;padding:.5rem 1rem;background:#111;\
color:#fff;border:0;cursor:pointer}\
.error{background:#fdecea;border:1px solid #f5c2bd;padding:.6rem}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dt{color:#555}dd{margin:0}\
.cancel{margin-top:1.5rem;font-size:.9rem}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_the_success_pages_origin_for_forms_and_nothing_from_elsewhere() {
        let policy = policy(Some("https://school.example:8443/paid?session={CHECKOUT_SESSION_ID}"));
        assert!(policy.starts_with("default-src 'none';"));
        assert!(policy.ends_with("form-action 'self' https://school.example:8443"));
        assert!(policy.contains("script-src 'sha256-"));
        assert!(self::policy(None).ends_with("form-action 'self'"));
        assert_eq!(origin("http://127.0.0.1:9/"), Some("http://127.0.0.1:9"));
        assert_eq!(origin("https://a.example"), Some("https://a.example"));
    }
}
