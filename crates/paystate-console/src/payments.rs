//! The payments list: filters as GET parameters (deep links), cursor pages, and one search box
//! that finds a payment by any id it has and says what it understood.

use crate::Console;
use crate::error::{PageError, PageResult};
use crate::format;
use crate::layout::{self, Section};
use crate::session::{Signed, encode_component};
use axum::extract::{Query, State};
use maud::{Markup, html};
use paystate_domain::{Currency, OrderId, Payment, PaymentId, PaymentStatus, Source};
use paystate_ledger::payment_id_bound;
use paystate_store::{PageRequest, PaymentFilter, PaymentSearch, StoreError};
use serde::Deserialize;

const PAGE_SIZE: u32 = 50;

#[derive(Deserialize, Default, Clone)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    needs_review: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    source: String,
    /// A day (`YYYY-MM-DD`, UTC): created on it or later.
    #[serde(default)]
    from: String,
    /// A day (`YYYY-MM-DD`, UTC): created on it or earlier.
    #[serde(default)]
    to: String,
    #[serde(default)]
    after: String,
}

/// The filters of a query, checked: a bad value is a 422 that says which, never a silent "all".
pub(crate) fn search_of(query: &ListQuery) -> PageResult<PaymentSearch> {
    let day = |text: &str, field: &str| -> PageResult<Option<chrono::NaiveDate>> {
        match text.trim() {
            "" => Ok(None),
            text => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| PageError::invalid(format!("The {field} date must be YYYY-MM-DD."))),
        }
    };
    let start_of = |d: chrono::NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    let status = match query.status.as_str() {
        "" => None,
        text => {
            Some(PaymentStatus::parse(text).ok_or_else(|| PageError::invalid(format!("{text:?} is not a status.")))?)
        }
    };
    let needs_review = match query.needs_review.as_str() {
        "" => None,
        "yes" => Some(true),
        "no" => Some(false),
        _ => return Err(PageError::invalid("Needs review is yes, no or empty.")),
    };
    let currency = match query.currency.trim() {
        "" => None,
        text => Some(
            Currency::parse(&text.to_uppercase())
                .map_err(|_| PageError::invalid(format!("{text:?} is not an ISO 4217 currency.")))?
                .code()
                .to_owned(),
        ),
    };
    let created_via = match query.source.as_str() {
        "" => None,
        text => Some(Source::parse(text).ok_or_else(|| PageError::invalid(format!("{text:?} is not a source.")))?),
    };
    let id_after = day(&query.from, "from")?.and_then(start_of).map(payment_id_bound);
    let id_before = day(&query.to, "to")?.and_then(|d| d.succ_opt()).and_then(start_of).map(payment_id_bound);
    Ok(PaymentSearch { status, needs_review, currency, created_via, id_after, id_before })
}

/// Whether a payment found by its id passes the list's other filters.
fn passes(p: &Payment, search: &PaymentSearch) -> bool {
    search.status.is_none_or(|s| p.status == s)
        && search.needs_review.is_none_or(|r| p.needs_review == r)
        && search.currency.as_deref().is_none_or(|c| p.currency.code() == c)
        && search.created_via.is_none_or(|s| p.created_via == s)
        && search.id_after.as_deref().is_none_or(|after| p.id.as_str() > after)
        && search.id_before.as_deref().is_none_or(|before| p.id.as_str() < before)
}

impl ListQuery {
    /// The search box's text.
    pub fn q(&self) -> &str {
        self.q.trim()
    }

    /// The query string of these filters, for deep links and the next page.
    fn link(&self, after: Option<&str>) -> String {
        let mut parts = Vec::new();
        let fields = [
            ("q", &self.q),
            ("status", &self.status),
            ("needs_review", &self.needs_review),
            ("currency", &self.currency),
            ("source", &self.source),
            ("from", &self.from),
            ("to", &self.to),
        ];
        for (name, value) in fields {
            if !value.is_empty() {
                parts.push(format!("{name}={}", encode_component(value)));
            }
        }
        if let Some(after) = after {
            parts.push(format!("after={}", encode_component(after)));
        }
        format!("/dashboard/payments?{}", parts.join("&"))
    }

    /// The CSV export of the same filters.
    fn csv_link(&self) -> String {
        self.link(None).replacen("/dashboard/payments?", "/dashboard/payments.csv?", 1)
    }
}

/// What the search box found, and how to say it.
pub(crate) struct Found {
    pub payments: Vec<Payment>,
    understood: String,
    next: Option<String>,
}

pub(crate) async fn search(
    state: &Console,
    signed: &Signed,
    query: &ListQuery,
    filter: &PaymentSearch,
) -> PageResult<Found> {
    let tenant = &signed.session.user.tenant_id;
    let q = query.q.trim();
    match state.ledger.payment(tenant, q).await {
        Ok(payment) => {
            let understood = if PaymentId::parse(q).is_some() {
                format!("the payment with paystate id {q}")
            } else {
                format!("the payment with external id “{q}”")
            };
            let payments = if passes(&payment, filter) { vec![payment] } else { Vec::new() };
            return Ok(Found { payments, understood, next: None });
        }
        Err(StoreError::NotFound) => {}
        Err(other) => return Err(other.into()),
    }
    // The PSP's id: several payments may share one (a retried capture), so up to a page of them.
    let mut by_reference = state.ledger.payments_by_transaction_ref(tenant, q, PAGE_SIZE).await?;
    if !by_reference.is_empty() {
        by_reference.retain(|p| passes(p, filter));
        let understood = format!("the payments with transaction reference “{q}”");
        return Ok(Found { payments: by_reference, understood, next: None });
    }
    match state.ledger.order(tenant, q).await {
        Ok(order) => {
            let of_order = PaymentFilter { order_id: Some(order.id.clone()), ..Default::default() };
            let mut page = state.ledger.payments(tenant, of_order, PageRequest { after: None, limit: 500 }).await?;
            page.data.retain(|p| passes(p, filter));
            let how = if OrderId::parse(q).is_some() { "id" } else { "reference" };
            let understood = format!("the payments of order {} (found by its {how})", order.reference);
            Ok(Found { payments: page.data, understood, next: None })
        }
        Err(StoreError::NotFound) => Ok(Found {
            payments: Vec::new(),
            understood: format!("nothing: no payment or order of yours has the id or reference “{q}”"),
            next: None,
        }),
        Err(other) => Err(other.into()),
    }
}

pub async fn page(State(state): State<Console>, signed: Signed, Query(query): Query<ListQuery>) -> PageResult<Markup> {
    let tenant = signed.session.user.tenant_id.clone();
    let filter = search_of(&query)?;
    let (status, needs_review, created_via) = (filter.status, filter.needs_review, filter.created_via);
    let found = if query.q.trim().is_empty() {
        let after = PaymentId::parse(&query.after).map(|id| id.to_string());
        let page = state.ledger.search_payments(&tenant, filter, PageRequest { after, limit: PAGE_SIZE }).await?;
        Found { payments: page.data, understood: String::new(), next: page.next_cursor }
    } else {
        search(&state, &signed, &query, &filter).await?
    };
    let body = html! {
        div.page-head { div { h1 { "Payments" } p.sub { "Oldest first. Every filter is part of the address: share it." } } }
        form.card.filters method="get" action="/dashboard/payments" role="search" {
            div.field.q {
                label for="q" { "Search " span.hint { "paystate id (pay_…), external id, transaction reference, order id or reference" } }
                input #q type="search" name="q" value=(query.q) placeholder="e.g. psp-7f3a or A-1001";
            }
            div.field {
                label for="status" { "Status" }
                select #status name="status" {
                    option value="" { "any" }
                    @for s in PaymentStatus::ALL {
                        option value=(s.as_str()) selected[status == Some(s)] { (s.as_str()) }
                    }
                }
            }
            div.field {
                label for="needs_review" { "Needs review" }
                select #needs_review name="needs_review" {
                    option value="" { "either" }
                    option value="yes" selected[needs_review == Some(true)] { "yes" }
                    option value="no" selected[needs_review == Some(false)] { "no" }
                }
            }
            div.field {
                label for="currency" { "Currency" }
                input #currency type="text" name="currency" value=(query.currency) maxlength="3" placeholder="EUR" autocomplete="off";
            }
            div.field {
                label for="source" { "Created through" }
                select #source name="source" {
                    option value="" { "any source" }
                    @for s in Source::ALL { option value=(s.as_str()) selected[created_via == Some(s)] { (s.as_str()) } }
                }
            }
            div.field { label for="from" { "Created from " span.hint { "(UTC)" } } input #from type="date" name="from" value=(query.from); }
            div.field { label for="to" { "Created to" } input #to type="date" name="to" value=(query.to); }
            div.buttons {
                button type="submit" { "Apply" }
                a.button.secondary href="/dashboard/payments" { "Clear" }
                a.button.secondary href=(query.csv_link()) download { "Export CSV" }
            }
        }
        @if !found.understood.is_empty() {
            p.notice.info role="status" { "Searched for " (query.q.trim()) ": found " (found.understood) "." }
        }
        section.card {
            (table(&found.payments))
            div.pager {
                span { (found.payments.len()) " shown" }
                @if let Some(next) = &found.next {
                    a.button.secondary href=(query.link(Some(next))) rel="next" { "Next page →" }
                }
            }
        }
    };
    Ok(layout::page("Payments", &signed.session, Section::Payments, body))
}

pub fn table(payments: &[Payment]) -> Markup {
    html! {
        div.table-wrap { table {
            thead { tr {
                th { "Payment" } th { "External id" } th.num { "Amount" } th { "Status" } th.hide-narrow { "Created" }
            } }
            tbody {
                @for p in payments {
                    tr {
                        td { a.mono href=(format!("/dashboard/payments/{}", p.id)) { (p.id) } }
                        td { (p.external_id.as_deref().unwrap_or("—")) }
                        td.num { (format::money(p.amount, &p.currency)) }
                        td { (format::status(p.status)) @if p.needs_review { " " span.badge.review { "needs review" } } }
                        td.hide-narrow { (format::time(&p.created_at)) }
                    }
                }
                @if payments.is_empty() {
                    tr { td.empty colspan="5" { "No payment matches." } }
                }
            }
        } }
    }
}
