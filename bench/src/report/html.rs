//! `report.html`: one self-contained page (inline CSS and SVG, no script, nothing fetched) with
//! the headline table, errors, find-max steps and the plots.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::format::{count, escape, latency_us, ratio};
use super::table::{column_titles, headline_ratio, headline_rows, plain_comparison};
use super::{BenchResult, SideResult, plots};
use crate::load::find_max::FindMaxOutcome;
use crate::plan::{LoadPlan, Scenario};

const STYLE: &str = "body{font-family:sans-serif;max-width:900px;margin:2em auto;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}\
th:first-child,td:first-child{text-align:left}code{background:#f4f4f4;padding:1px 4px}.note{color:#555}";

pub fn page(result: &BenchResult) -> String {
    let mut html = String::new();
    let scenario = result.config.scenario.name();
    let _ = write!(
        html,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>kassa-bench {scenario}</title><style>{STYLE}</style></head><body>"
    );
    let _ = write!(html, "<h1>Kassa benchmark: <code>{scenario}</code></h1>");
    let _ = write!(
        html,
        "<p><code>{}</code><br>{} cores, {}/{}; started at Unix time {}; {} {}</p>",
        escape(&result.command),
        result.machine.cores,
        result.machine.os,
        result.machine.arch,
        result.started_unix_secs,
        result.tool,
        result.version
    );
    if let (Some(sentence), Some(comparison)) = (plain_comparison(result), result.comparison()) {
        let _ = write!(
            html,
            "<p><strong>{}, measured beside them in the same run: {}.</strong></p>",
            escape(comparison.headline),
            escape(&sentence)
        );
    }
    if let Some(ratio_value) = result.ratio.as_ref().and_then(headline_ratio) {
        let _ = write!(
            html,
            "<p><strong>The engine reached {:.0} % of the plain-route ceiling measured in the same run.</strong></p>",
            ratio_value * 100.0
        );
    }
    headline_table(&mut html, result);
    if let Some(renewals) = &result.renewals {
        html.push_str("<h2>Renewals</h2><ul>");
        for line in renewals.lines(&result.engine) {
            let _ = write!(html, "<li>{}</li>", escape(&line));
        }
        html.push_str(
            "</ul><p class=\"note\">The table compares ordinary charges (a fixed open-loop rate \
             to customers not on the clock) sent while the clock's renewals ran with the same \
             charges in the baseline window before the advance, in the same run. Latency runs from \
             each charge's intended send time.</p>",
        );
    }
    if let Some(webhooks) = &result.webhooks {
        html.push_str("<h2>Webhooks</h2><ul>");
        for line in webhooks.lines() {
            let _ = write!(html, "<li>{}</li>", escape(&line));
        }
        html.push_str(
            "</ul><p class=\"note\">The ceiling still gets the <code>charge</code> request shape \
             (a ~60-byte body, no signature) while each delivery is a 1.6–2 KB signed event, so \
             engine ÷ ceiling says less here than for the charge scenarios; the target is in \
             events/s.</p>",
        );
    }
    if let Some(entitlements) = &result.entitlements {
        html.push_str("<h2>Entitlements</h2><ul>");
        for line in entitlements.lines() {
            let _ = write!(html, "<li>{}</li>", escape(&line));
        }
        html.push_str(
            "</ul><p class=\"note\">The engine side reads <code>GET \
             /v1/customers/{id}/entitlements</code>, customers in turn; the ceiling gets the \
             <code>charge</code> request shape, as in every scenario.</p>",
        );
    }
    errors_table(&mut html, result);
    for (label, side) in sides(result) {
        if let Some(outcome) = side.and_then(|side| side.find_max.as_ref()) {
            steps_table(&mut html, label, outcome);
        }
    }
    html.push_str(&plots::latency_by_percentile(result));
    html.push_str(&plots::throughput_over_time(result));
    if let Some(svg) = plots::engine_footprint_over_time(result) {
        html.push_str(&svg);
    }
    if let LoadPlan::FindMax { latency_ms_p99_bound, .. } = result.config.load
        && let Some(svg) = plots::find_max_steps(result, (latency_ms_p99_bound * 1_000.0) as u64)
    {
        html.push_str(&svg);
    }
    details(&mut html, result);
    html.push_str("</body></html>");
    html
}

/// The measured sides by name, in table order; the ceiling is `None` when it was skipped.
fn sides(result: &BenchResult) -> Vec<(&'static str, Option<&SideResult>)> {
    let mut sides: Vec<_> =
        result.engine_sides().into_iter().map(|(label, side)| (label, Some(side))).collect();
    if result.config.scenario.measures_ceiling() {
        sides.push(("ceiling", result.ceiling.as_ref()));
    }
    sides
}

fn headline_table(html: &mut String, result: &BenchResult) {
    html.push_str("<table><tr><th>figure</th>");
    for title in column_titles(result) {
        let _ = write!(html, "<th>{title}</th>");
    }
    html.push_str("</tr>");
    for row in headline_rows(result) {
        let _ = write!(html, "<tr><td>{}</td>", row.figure);
        for cell in &row.cells {
            let _ = write!(html, "<td>{cell}</td>");
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
    if !result.config.scenario.measures_ceiling() {
        return;
    }
    html.push_str(
        "<p class=\"note\">Throughput and maximum-rate ratios are the share of the plain route's \
         capacity the engine keeps (1 = the ceiling). Latency ratios are how many times slower the \
         engine answers. Latencies are from each request's intended send time in open-loop runs.</p>",
    );
    let note = match result.comparison().map(|_| result.config.scenario) {
        Some(Scenario::ChargePriced) => {
            "<p class=\"note\">Priced ÷ plain compares the engine with itself: charges priced from \
             a 3-line cart and a coupon by the account's pricing and tax rules, over charges with a \
             plain <code>amount</code> to the same customers, with the same client and load, \
             measured right before them. Below 1, a throughput ratio is the share the rules leave; \
             above 1, a latency ratio is how many times slower a priced charge answers.</p>"
        }
        Some(Scenario::ChargeCoupon) => {
            "<p class=\"note\">Coupon ÷ none compares the engine with itself: the same priced \
             charges (a 3-line cart, the pricing and tax rules) with a coupon the engine resolves, \
             reserves a redemption of and counts, and the pricing rule applies, over the same \
             charges without one, to the same customers, with the same client and load, \
             interleaved. Below 1, a throughput ratio is the share the coupon leaves.</p>"
        }
        Some(Scenario::ChargeSplit) => {
            "<p class=\"note\">Split ÷ plain compares the engine with itself: charges with 70 % \
             transferred to a payee and an application fee (the payee checked, the share resolved, \
             the transfer and fee posted to the books with the charge), over the same charges with \
             a plain <code>amount</code> only, to the same customers, with the same client and \
             load. Below 1, a throughput ratio is the share the split leaves.</p>"
        }
        _ => return,
    };
    html.push_str(note);
}

fn errors_table(html: &mut String, result: &BenchResult) {
    let sides = sides(result);
    let codes: BTreeSet<&String> = sides
        .iter()
        .filter_map(|(_, side)| *side)
        .flat_map(|side| side.stats.errors_by_code.keys())
        .collect();
    if codes.is_empty() {
        html.push_str("<p>No errors.</p>");
        return;
    }
    html.push_str("<h2>Errors by code</h2><table><tr><th>code</th>");
    for (label, _) in &sides {
        let _ = write!(html, "<th>{label}</th>");
    }
    html.push_str("</tr>");
    for code in codes {
        let _ = write!(html, "<tr><td>{}</td>", escape(code));
        for (_, side) in &sides {
            let cell = side.map_or_else(
                || "—".to_owned(),
                |side| side.stats.errors_by_code.get(code).copied().unwrap_or(0).to_string(),
            );
            let _ = write!(html, "<td>{cell}</td>");
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
}

fn steps_table(html: &mut String, label: &str, outcome: &FindMaxOutcome) {
    let _ = write!(
        html,
        "<h2>Find-max steps: {label}</h2><table><tr><th>arrival rate (req/s)</th><th>throughput (ok/s)</th>\
         <th>p50</th><th>p99</th><th>max</th><th>error rate</th><th>passed</th></tr>"
    );
    for step in &outcome.steps {
        let latency = &step.stats.latency;
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2} %</td><td>{}</td></tr>",
            count(step.rate_per_sec_target),
            count(step.throughput_per_sec),
            latency_us(latency.latency_us_p50),
            latency_us(step.latency_us_p99),
            latency_us(latency.latency_us_max),
            step.error_rate * 100.0,
            if step.passed { "yes" } else { "no" }
        );
    }
    html.push_str("</table>");
}

fn details(html: &mut String, result: &BenchResult) {
    html.push_str("<h2>Details</h2><ul>");
    if let Some(setup) = &result.setup {
        let _ = write!(
            html,
            "<li>setup (not measured): {} customers, {} charges in {:.1} s</li>",
            setup.customers, setup.charges, setup.secs
        );
    }
    for (label, side) in result.engine_sides() {
        let kinds: Vec<String> = side
            .stats
            .requests_by_kind
            .iter()
            .map(|(kind, n)| format!("{kind}: {}", count(*n as f64)))
            .collect();
        let _ = write!(html, "<li>{label} requests by kind: {}</li>", escape(&kinds.join(", ")));
    }
    if let Some(comparison) = result.comparison() {
        let (engine, baseline) = (comparison.engine, comparison.baseline);
        let order = match result.config.load {
            LoadPlan::FindMax { .. } => format!("ceiling (if measured), {baseline}, {engine}"),
            LoadPlan::Fixed { .. } => format!(
                "ceiling (if measured), then {} round(s) of {baseline}, {engine}, {engine}, \
                 {baseline}, each slice an equal share of the duration (the first after the \
                 warm-up, the others after at most 1 s)",
                result.config.rounds
            ),
        };
        let _ = write!(html, "<li>order: {}</li>", escape(&order));
    }
    if let Some(problems) = result.engine.engine_log_problems {
        let _ = write!(
            html,
            "<li>warning/error lines in the engine's log: {problems} (engine.log)</li>"
        );
    }
    let _ = write!(
        html,
        "<li>headline ratio: {}</li>",
        ratio(result.ratio.as_ref().and_then(headline_ratio))
    );
    let config = serde_json::to_string_pretty(&result.config).expect("the plan serializes");
    let _ = write!(html, "<li>configuration:<pre>{}</pre></li></ul>", escape(&config));
}
