//! The payments list: filters as GET parameters (deep links), cursor pages, and one search box
//! that finds a payment by any id it has and says what it understood.

use crate::Console;
use crate::error::PageResult;
use crate::format;
use crate::layout::{self, Section};
use crate::session::{Signed, encode_component};
use axum::extract::{Query, State};
use maud::{Markup, html};
use paystate_domain::{OrderId, Payment, PaymentId, PaymentStatus};
use paystate_store::{PageRequest, PaymentFilter, StoreError};
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
    after: String,
}

impl ListQuery {
    /// The query string of these filters, for deep links and the next page.
    fn link(&self, after: Option<&str>) -> String {
        let mut parts = Vec::new();
        for (name, value) in [("q", &self.q), ("status", &self.status), ("needs_review", &self.needs_review)] {
            if !value.is_empty() {
                parts.push(format!("{name}={}", encode_component(value)));
            }
        }
        if let Some(after) = after {
            parts.push(format!("after={}", encode_component(after)));
        }
        format!("/dashboard/payments?{}", parts.join("&"))
    }
}

/// What the search box found, and how to say it.
struct Found {
    payments: Vec<Payment>,
    understood: String,
    next: Option<String>,
}

async fn search(state: &Console, signed: &Signed, query: &ListQuery, filter: PaymentFilter) -> PageResult<Found> {
    let tenant = &signed.session.user.tenant_id;
    let q = query.q.trim();
    match state.ledger.payment(tenant, q).await {
        Ok(payment) => {
            let understood = if PaymentId::parse(q).is_some() {
                format!("the payment with paystate id {q}")
            } else {
                format!("the payment with external id “{q}”")
            };
            return Ok(Found { payments: vec![payment], understood, next: None });
        }
        Err(StoreError::NotFound) => {}
        Err(other) => return Err(other.into()),
    }
    match state.ledger.order(tenant, q).await {
        Ok(order) => {
            let filter = PaymentFilter { order_id: Some(order.id.clone()), ..filter };
            let page = state.ledger.payments(tenant, filter, PageRequest { after: None, limit: 500 }).await?;
            let how = if OrderId::parse(q).is_some() { "id" } else { "reference" };
            let understood = format!("the payments of order {} (found by its {how})", order.reference);
            Ok(Found { payments: page.data, understood, next: None })
        }
        Err(StoreError::NotFound) => Ok(Found {
            payments: Vec::new(),
            understood: format!("nothing: no payment or order of yours has the id “{q}”"),
            next: None,
        }),
        Err(other) => Err(other.into()),
    }
}

pub async fn page(State(state): State<Console>, signed: Signed, Query(query): Query<ListQuery>) -> PageResult<Markup> {
    let tenant = signed.session.user.tenant_id.clone();
    let status = PaymentStatus::parse(&query.status);
    let needs_review = match query.needs_review.as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    };
    let filter = PaymentFilter { status, needs_review, ..Default::default() };
    let found = if query.q.trim().is_empty() {
        let after = PaymentId::parse(&query.after).map(|id| id.to_string());
        let page = state.ledger.payments(&tenant, filter, PageRequest { after, limit: PAGE_SIZE }).await?;
        Found { payments: page.data, understood: String::new(), next: page.next_cursor }
    } else {
        search(&state, &signed, &query, filter).await?
    };
    let body = html! {
        div.page-head { div { h1 { "Payments" } p.sub { "Oldest first. Every filter is part of the address: share it." } } }
        form.card.filters method="get" action="/dashboard/payments" role="search" {
            div.field.q {
                label for="q" { "Search " span.hint { "paystate id (pay_…), external id, order id or reference" } }
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
            button type="submit" { "Apply" }
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
