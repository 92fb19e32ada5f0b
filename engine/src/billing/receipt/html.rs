//! The HTML a receipt is made of: escaping for the text the platform and its customers wrote,
//! and the page around a receipt, with a policy that lets it neither run nor load anything.
//!
//! Names, descriptions, addresses and codes reach a receipt from API input: every one of them
//! goes through [`escape`], so a customer called `<script>…` is printed, never run. The policy
//! is both sent as a header and written into the page, so a receipt saved to disk and opened
//! again is as inert as the served one.

/// Nothing but the page's own inline style: no scripts, images, fonts, frames or forms.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

/// Text made safe for an element's content and for a quoted attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// A whole document: `title` is text (escaped here), `body` is markup built by the caller from
/// escaped text.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{policy}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <main class=\"receipt\">\n{body}</main>\n</body>\n</html>\n",
        policy = escape(CONTENT_SECURITY_POLICY),
        title = escape(title),
    )
}

/// Plain and printable: system fonts, no colours that a printer would waste ink on.
const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#111;margin:0;\
background:#f4f4f4}\
.receipt{max-width:46rem;margin:2rem auto;padding:2rem;background:#fff;border:1px solid #ddd}\
h1{font-size:1.5rem;margin:0 0 1rem}h2{font-size:1rem;margin:1.5rem 0 .5rem}\
p{margin:.2rem 0}.seller .name,.customer .name{font-weight:600}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:1rem 0}\
dt{color:#555}dd{margin:0}.brand{text-transform:capitalize}\
table{width:100%;border-collapse:collapse;margin:1rem 0}\
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e5e5e5;vertical-align:top}\
.amount{text-align:right;white-space:nowrap}tfoot th{font-weight:normal}\
tfoot tr.total th,tfoot tr.total td{font-weight:600;border-top:2px solid #111}\
tfoot tr.paid th,tfoot tr.paid td{font-weight:600}\
.note{margin-top:1rem;font-size:.9rem}footer{margin-top:1.5rem;color:#555;font-size:.85rem}\
@page{margin:15mm}\
@media print{body{background:none}.receipt{margin:0;padding:0;border:none;max-width:none}}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_quotes_are_escaped() {
        assert_eq!(escape("<script>alert(1)</script>"), "&lt;script&gt;alert(1)&lt;/script&gt;");
        assert_eq!(escape(r#"a "b" & 'c'"#), "a &quot;b&quot; &amp; &#39;c&#39;");
        assert_eq!(escape("&lt;"), "&amp;lt;", "escaped text is escaped again, not trusted");
        assert_eq!(escape("Ünïcode — R 1,00"), "Ünïcode — R 1,00");
    }

    #[test]
    fn a_page_carries_its_policy_and_no_script() {
        let html = page("<b>Receipt</b>", "<p>body</p>");
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<title>&lt;b&gt;Receipt&lt;/b&gt;</title>"), "{html}");
        assert!(html.contains(&format!(
            "http-equiv=\"Content-Security-Policy\" content=\"{}\"",
            escape(CONTENT_SECURITY_POLICY)
        )));
        assert!(!html.to_ascii_lowercase().contains("<script"), "{html}");
        assert!(html.contains("<p>body</p>"));
    }
}
