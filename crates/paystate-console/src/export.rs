//! `GET /dashboard/payments.csv`: the payments list as CSV, with the same filters and search as
//! the page (the link on the page carries them), streamed page by page with no row cap.
//!
//! Amounts are decimal text in the currency's major unit, from integer minor units by the ISO
//! 4217 exponent (never through floats); times are UTC ISO 8601. A cell that a spreadsheet
//! would read as a formula (it starts with `=`, `+`, `-`, `@`, a tab or a carriage return) is
//! prefixed with a single quote.

use crate::Console;
use crate::error::PageResult;
use crate::format::decimal;
use crate::payments::{self, ListQuery};
use crate::session::Signed;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use paystate_domain::{Payment, Timestamp};
use paystate_store::PageRequest;

/// Rows read from the store per chunk of the answer.
const CHUNK: u32 = 500;

const HEADER: [&str; 15] = [
    "id",
    "external_id",
    "order_id",
    "status",
    "needs_review",
    "currency",
    "amount",
    "amount_refunded",
    "amount_charged_back",
    "transaction_ref",
    "invoice_id",
    "created_via",
    "created_at",
    "updated_at",
    "paid_at",
];

/// One CSV cell: formula-looking text defused, quoted when it holds a separator, quote or
/// line break (quotes doubled).
pub fn cell(text: &str) -> String {
    let defused = match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    };
    if defused.contains([',', '"', '\n', '\r']) { format!("\"{}\"", defused.replace('"', "\"\"")) } else { defused }
}

fn iso(at: &Timestamp) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn line(cells: &[String]) -> String {
    let mut text = cells.iter().map(|c| cell(c)).collect::<Vec<_>>().join(",");
    text.push_str("\r\n");
    text
}

fn row(p: &Payment) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    line(&[
        p.id.to_string(),
        opt(&p.external_id),
        p.order_id.to_string(),
        p.status.as_str().to_owned(),
        p.needs_review.to_string(),
        p.currency.code().to_owned(),
        decimal(p.amount, &p.currency),
        decimal(p.amount_refunded, &p.currency),
        decimal(p.amount_charged_back, &p.currency),
        opt(&p.transaction_ref),
        opt(&p.invoice_id),
        p.created_via.as_str().to_owned(),
        iso(&p.created_at),
        iso(&p.updated_at),
        p.paid_at.as_ref().map(iso).unwrap_or_default(),
    ])
}

fn header_line() -> String {
    line(&HEADER.map(str::to_owned))
}

pub async fn csv(State(state): State<Console>, signed: Signed, Query(query): Query<ListQuery>) -> PageResult<Response> {
    let filter = payments::search_of(&query)?;
    let name = format!("payments-{}.csv", paystate_ledger::now().format("%Y%m%dT%H%M%SZ"));
    let headers = [
        (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
        (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
    ];
    if !query.q().is_empty() {
        // The search box finds a payment or an order's payments: one small answer.
        let found = payments::search(&state, &signed, &query, &filter).await?;
        let body: String = std::iter::once(header_line()).chain(found.payments.iter().map(row)).collect();
        return Ok((headers, body).into_response());
    }
    let tenant = signed.session.user.tenant_id.clone();
    // The state: the next page's cursor and whether it is the first; `None` once done.
    let pages = futures::stream::unfold(Some((None::<String>, true)), move |next| {
        let (state, tenant, filter) = (state.clone(), tenant.clone(), filter.clone());
        async move {
            let (after, first) = next?;
            let page = state.ledger.search_payments(&tenant, filter, PageRequest { after, limit: CHUNK }).await;
            match page {
                Ok(page) => {
                    let mut text = if first { header_line() } else { String::new() };
                    text.extend(page.data.iter().map(row));
                    Some((Ok(text), page.next_cursor.map(|cursor| (Some(cursor), false))))
                }
                Err(error) => {
                    tracing::error!(error = %error, "the payments export failed part way");
                    Some((Err(std::io::Error::other(error.to_string())), None))
                }
            }
        }
    });
    Ok((headers, Body::from_stream(pages)).into_response())
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(cell("psp-1"), "psp-1");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("+31 6"), "'+31 6");
        assert_eq!(cell("-5"), "'-5");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(cell(""), "");
    }
}
