//! The review queue: payments flagged by a contradicting report, oldest first, each with the
//! report that set its status and the ones that contradict it side by side, and the resolve form.

use crate::Console;
use crate::error::PageResult;
use crate::format::{self, money, time};
use crate::layout::{self, Section};
use crate::payment::resolve_form;
use crate::session::Signed;
use axum::extract::State;
use maud::{Markup, html};
use paystate_domain::{EventType, Payment, StoredEvent};
use paystate_store::{PageRequest, PaymentFilter};

const QUEUE_SIZE: u32 = 50;

fn report(e: &StoredEvent, contradicting: bool) -> Markup {
    let reported = e.detail["reported_status"].as_str().or(e.data["status"].as_str()).unwrap_or("?");
    html! {
        div.report.conflict[contradicting] {
            h3 {
                span { (e.source.as_str()) " said " strong { (reported) } }
                span class=(if contradicting { "badge outcome-conflict" } else { "badge outcome-applied" }) {
                    @if contradicting { "conflict" } @else { "applied" }
                }
            }
            p.hint { (time(&e.created_at)) " · event " (e.seq) " · " span.mono { (e.actor) } }
            @if let Some(body) = &e.request_body {
                details.body { summary { "Request body" } pre { (format::pretty_body(body)) } }
            }
        }
    }
}

fn item(signed: &Signed, payment: &Payment, events: &[StoredEvent]) -> Markup {
    let applied =
        events.iter().rev().find(|e| matches!(e.kind, EventType::PaymentStatusChanged | EventType::PaymentCreated));
    let conflicts: Vec<&StoredEvent> = events.iter().filter(|e| e.kind == EventType::PaymentConflict).collect();
    let base = format!("/dashboard/payments/{}", payment.id);
    let age = paystate_ledger::now() - payment.updated_at;
    html! {
        article.card {
            div.page-head {
                div {
                    h2 { a href=(base) { (payment.external_id.as_deref().unwrap_or(payment.id.as_str())) } " " (format::status(payment.status)) }
                    p.sub { (money(payment.amount, &payment.currency)) " at stake · flagged " (age.num_hours()) " h ago · " span.mono { (payment.id) } }
                }
            }
            div.side-by-side {
                @if let Some(e) = applied { (report(e, false)) }
                @for e in &conflicts { (report(e, true)) }
            }
            @if signed.session.user.role.can_act() {
                (resolve_form(&base, &signed.session.csrf_token, payment.status))
            }
        }
    }
}

pub async fn page(State(state): State<Console>, signed: Signed) -> PageResult<Markup> {
    let tenant = signed.session.user.tenant_id.clone();
    let filter = PaymentFilter { needs_review: Some(true), ..Default::default() };
    let queue = state.ledger.payments(&tenant, filter, PageRequest { after: None, limit: QUEUE_SIZE }).await?;
    let mut items = Vec::new();
    for payment in &queue.data {
        let events = state.ledger.payment_events(&tenant, payment.id.as_str(), 0, 1000).await?;
        items.push(item(&signed, payment, &events));
    }
    let body = html! {
        div.page-head { div {
            h1 { "Review queue" }
            p.sub { "Payments a report contradicted, oldest first. Each resolution needs a reason and is recorded with your name." }
        } }
        @if items.is_empty() {
            section.card { p.empty { "Nothing to review. Every payment agrees with what its channels reported." } }
        }
        @for item in items { (item) }
        @if queue.has_more { p.sub { "Showing the oldest " (QUEUE_SIZE) "; resolve these to see more." } }
    };
    Ok(layout::page("Review queue", &signed.session, Section::Review, body))
}
