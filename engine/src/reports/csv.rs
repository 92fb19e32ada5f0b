//! Reports as CSV: a header row of the JSON's field names, then one row per period, month or
//! line, amounts in minor units as integers. No field holds a comma or a quote (ids, codes and
//! numbers only), so none needs quoting.

use super::revenue::RevenueRow;
use super::statement::Statement;
use super::subscriptions::MonthFigures;
use crate::domain::money::currency_code;

fn table(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut text = header.join(",");
    text.push('\n');
    for row in rows {
        text.push_str(&row.join(","));
        text.push('\n');
    }
    text
}

pub fn revenue(rows: &[RevenueRow]) -> String {
    let header = [
        "period_start",
        "currency",
        "gross",
        "discounts",
        "tax",
        "refunds",
        "disputes",
        "fees",
        "net",
    ];
    table(
        &header,
        rows.iter().map(|row| {
            let revenue = &row.revenue;
            vec![
                row.period_start.to_string(),
                currency_code(row.currency),
                revenue.gross.to_string(),
                revenue.discounts.to_string(),
                revenue.tax.to_string(),
                revenue.refunds.to_string(),
                revenue.disputes.to_string(),
                revenue.fees.to_string(),
                revenue.net().to_string(),
            ]
        }),
    )
}

pub fn subscription_months(months: &[MonthFigures]) -> String {
    let header = ["month_start", "currency", "new_mrr", "churned_mrr", "mrr"];
    table(
        &header,
        months.iter().map(|month| {
            vec![
                month.month_start.to_string(),
                currency_code(month.currency),
                month.new_mrr.to_string(),
                month.churned_mrr.to_string(),
                month.mrr.to_string(),
            ]
        }),
    )
}

pub fn statement(statement: &Statement) -> String {
    let header = [
        "balance_transaction",
        "type",
        "source",
        "currency",
        "amount",
        "balance",
        "available_on",
        "created",
    ];
    table(
        &header,
        statement.lines.iter().map(|line| {
            vec![
                line.posting.id.as_str().to_owned(),
                line.posting.kind.as_str().to_owned(),
                line.posting.source.clone(),
                currency_code(line.posting.currency),
                line.amount.to_string(),
                line.balance.to_string(),
                line.posting.available_on.to_string(),
                line.posting.created.to_string(),
            ]
        }),
    )
}
