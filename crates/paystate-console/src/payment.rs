//! One payment's truth: its fields and amounts, why it is in its state, the timeline of every
//! event across all channels (source, outcome, actor, request id, the inbound body formatted),
//! the webhook deliveries it caused, and the actions the person's role allows.

use crate::Console;
use crate::error::PageResult;
use crate::format::{self, money, time};
use crate::layout::Notice;
use crate::layout::{self, Section};
use crate::overview::outcome;
use crate::session::Signed;
use axum::extract::{Path, Query, State};
use futures::FutureExt;
use maud::{Markup, html};
use paystate_domain::{EventType, Payment, PaymentStatus, StoredEvent};
use paystate_store::{DeliveryFilter, DeliveryRecord, PageRequest};
use std::collections::HashMap;

/// The event that set the current status: the last status change, creation, or resolution
/// that forced a status (one that kept the status settled a conflict but set nothing).
fn setter(events: &[StoredEvent]) -> Option<usize> {
    events.iter().rposition(|e| {
        matches!(e.kind, EventType::PaymentStatusChanged | EventType::PaymentCreated)
            || (e.kind == EventType::PaymentResolved && e.detail["previous_status"] != e.data["status"])
    })
}

fn why(payment: &Payment, events: &[StoredEvent], setter: Option<usize>) -> Markup {
    let later = setter.map_or(&events[..0], |i| &events[i + 1..]);
    let stale = later.iter().filter(|e| e.kind == EventType::PaymentStaleUpdate).count();
    let conflicts = later.iter().filter(|e| e.kind == EventType::PaymentConflict).count();
    html! {
        p.why {
            "It is " strong { (payment.status.as_str()) }
            @if let Some(i) = setter {
                @let e = &events[i];
                " because " strong { (e.source.as_str()) } " "
                @match e.kind { EventType::PaymentCreated => "created it", EventType::PaymentResolved => "resolved it so", _ => "reported it" }
                " at " (time(&e.created_at)) " (" a href=(format!("#event-{}", e.seq)) { "event " (e.seq) } ")."
            } @else { "." }
            @if stale > 0 { " " (stale) " later report" @if stale > 1 { "s were" } @else { " was" } " stale (older news) and changed nothing." }
            @if conflicts > 0 { " " (conflicts) " later report" @if conflicts > 1 { "s" } " contradicted it" }
            @if conflicts > 0 && payment.needs_review { ": it needs review." } @else if conflicts > 0 { " and " @if conflicts > 1 { "were" } @else { "was" } " settled." }
        }
    }
}

pub async fn page(
    State(state): State<Console>,
    signed: Signed,
    Path(id): Path<String>,
    Query(notice): Query<Notice>,
) -> PageResult<Markup> {
    render(&state, &signed, &id, &notice.done, None).await
}

/// The payment page; `refused`: the correction form shown again with what was wrong.
pub async fn render(
    state: &Console,
    signed: &Signed,
    id: &str,
    done: &str,
    refused: Option<crate::correct::Refused>,
) -> PageResult<Markup> {
    let tenant = signed.session.user.tenant_id.clone();
    let payment = state.ledger.payment(&tenant, id).await?;
    let events = state.ledger.payment_events(&tenant, payment.id.as_str(), 0, 1000).await?;
    let ids: Vec<_> = events.iter().map(|e| e.id.clone()).collect();
    let lookup = tenant.clone();
    let deliveries: Vec<DeliveryRecord> = state
        .ledger
        .query(move |r| {
            async move {
                let mut all = Vec::new();
                for event in ids {
                    let filter = DeliveryFilter { event_id: Some(event), ..Default::default() };
                    all.extend(r.deliveries(&lookup, &filter, &PageRequest { after: None, limit: 100 }).await?);
                }
                Ok(all)
            }
            .boxed()
        })
        .await?;
    let set_by = setter(&events);
    // People are shown by their address rather than their id.
    let names: HashMap<String, String> =
        state.ledger.users(&tenant).await?.into_iter().map(|u| (u.id.to_string(), u.email)).collect();
    let methods = if signed.session.user.role.can_act() && payment.deleted_at.is_none() {
        state.ledger.methods(&tenant).await?
    } else {
        Vec::new()
    };
    let remaining = payment.amount - payment.amount_refunded - payment.amount_charged_back;
    let can_act = signed.session.user.role.can_act();
    let csrf = &signed.session.csrf_token;
    let base = format!("/dashboard/payments/{}", payment.id);
    let body = html! {
        div.page-head {
            div {
                p.sub { a href="/dashboard/payments" { "Payments" } " / " span.mono { (payment.id) } }
                h1 { (money(payment.amount, &payment.currency)) " " (format::status(payment.status))
                    @if payment.needs_review { " " span.badge.review { "needs review" } } }
                p.sub { "External id " strong { (payment.external_id.as_deref().unwrap_or("none")) } " · order " a.mono href=(format!("/dashboard/orders/{}", payment.order_id)) { (payment.order_id) } }
            }
        }
        @match done {
            "resolved" => p.notice.ok role="status" { "The conflict is resolved and recorded in the timeline." },
            "refund" => p.notice.ok role="status" { "The refund is recorded." },
            "chargeback" => p.notice.ok role="status" { "The chargeback is recorded." },
            "corrected" => p.notice.ok role="status" { "The correction is recorded: the timeline shows it with every field before and after." },
            _ => {}
        }
        (why(&payment, &events, set_by))
        div.stats {
            div.stat { div.label { "Amount" } div.value { (money(payment.amount, &payment.currency)) } }
            div.stat { div.label { "Paid" } div.value { (money(if payment.paid_at.is_some() || matches!(payment.status, PaymentStatus::Paid | PaymentStatus::Reversed) { payment.amount } else { 0 }, &payment.currency)) } }
            div.stat { div.label { "Refunded" } div.value { (money(payment.amount_refunded, &payment.currency)) } }
            div.stat { div.label { "Charged back" } div.value { (money(payment.amount_charged_back, &payment.currency)) } }
            div.stat { div.label { "Remaining" } div.value { (money(remaining, &payment.currency)) } }
        }
        @if can_act {
            section.card aria-labelledby="act" {
                h2 #act { "Actions" }
                div.actions {
                    @if payment.needs_review {
                        (resolve_form(&base, csrf, payment.status))
                    }
                    (adjust_form(&base, csrf, "refunds", "Record a refund", &payment))
                    (adjust_form(&base, csrf, "chargebacks", "Record a chargeback", &payment))
                }
            }
        }
        @if can_act && payment.deleted_at.is_none() {
            (crate::correct::form(&base, csrf, &payment, &methods, refused.as_ref()))
        }
        section.card aria-labelledby="timeline" {
            h2 #timeline { "Timeline " span.hint { "(every channel, oldest first)" } }
            (timeline(&events, set_by, &names))
        }
        div.grid {
            section.card aria-labelledby="fields" {
                h2 #fields { "Fields" }
                (fields(&payment, &names))
            }
            section.card aria-labelledby="deliveries" {
                h2 #deliveries { "Webhook deliveries it caused" }
                (deliveries_table(&deliveries))
            }
        }
    };
    Ok(layout::page(&format!("Payment {}", payment.id), &signed.session, Section::Payments, body))
}

pub fn resolve_form(base: &str, csrf: &str, current: PaymentStatus) -> Markup {
    html! {
        form method="post" action=(format!("{base}/resolve")) {
            h3 { "Resolve the conflict" }
            input type="hidden" name="csrf" value=(csrf);
            (crate::once::field())
            div.field {
                label for="resolve-reason" { "Reason " span.hint { "(required, kept in the audit trail)" } }
                textarea #resolve-reason name="reason" required maxlength="2000" {}
            }
            div.field {
                label for="resolve-status" { "Status" }
                select #resolve-status name="status" {
                    option value="" { "keep " (current.as_str()) }
                    @for s in PaymentStatus::ALL { option value=(s.as_str()) { "set " (s.as_str()) } }
                }
            }
            button type="submit" { "Resolve" }
        }
    }
}

fn adjust_form(base: &str, csrf: &str, path: &str, title: &str, payment: &Payment) -> Markup {
    let id = format!("{path}-amount");
    html! {
        form method="post" action=(format!("{base}/{path}")) {
            h3 { (title) }
            input type="hidden" name="csrf" value=(csrf);
            // One token per rendered form: submitted twice, it records once.
            (crate::once::field())
            div.field {
                label for=(id) { "Amount in " (payment.currency.code()) " " span.hint { "(empty: what remains)" } }
                input id=(id) type="text" name="amount" inputmode="decimal" autocomplete="off"
                    placeholder=(format!("e.g. {}", money(payment.amount.min(500), &payment.currency).split(' ').next().unwrap_or("5")));
            }
            div.field {
                label for=(format!("{path}-reason")) { "Reason" }
                input id=(format!("{path}-reason")) type="text" name="reason" maxlength="2000";
            }
            button.secondary type="submit" { (title) }
        }
    }
}

fn fields(p: &Payment, names: &HashMap<String, String>) -> Markup {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
    // People by their address, keys and channels by their id.
    let who = |id: &String| names.get(id).unwrap_or(id).clone();
    html! {
        dl.fields {
            dt { "paystate id" } dd.mono { (p.id) }
            dt { "External id" } dd { (opt(&p.external_id)) }
            dt { "Order" } dd { a.mono href=(format!("/dashboard/orders/{}", p.order_id)) { (p.order_id) } }
            dt { "Type" } dd { (p.kind.as_str()) }
            dt { "Transaction ref" } dd { (opt(&p.transaction_ref)) }
            dt { "Invoice" } dd { (opt(&p.invoice_id)) }
            dt { "Method" } dd { (p.method_id.as_ref().map_or("—".to_owned(), |m| m.to_string())) }
            dt { "Note" } dd { (opt(&p.note)) }
            dt { "Paid at" } dd { @if let Some(at) = &p.paid_at { (time(at)) } @else { "—" } }
            dt { "Created" } dd { (time(&p.created_at)) " by " (who(&p.created_by)) " via " (p.created_via.as_str()) }
            dt { "Updated" } dd { (time(&p.updated_at)) " by " (who(&p.updated_by)) " via " (p.updated_via.as_str()) }
            dt { "Version" } dd { (p.version) }
        }
    }
}

fn timeline(events: &[StoredEvent], set_by: Option<usize>, names: &HashMap<String, String>) -> Markup {
    html! {
        div.table-wrap { table.stack {
            thead { tr { th { "#" } th { "When" } th { "Event" } th { "Source" } th { "Outcome" } th { "Actor · request" } } }
            tbody {
                @for (i, e) in events.iter().enumerate() {
                    tr #(format!("event-{}", e.seq)) class=[(set_by == Some(i)).then_some("highlight")] {
                        td.num data-label="Event" { (e.seq) }
                        td.when data-label="When" { (time(&e.created_at)) }
                        td data-label="What" {
                            strong { (e.kind.as_str()) }
                            (crate::changes::list(e))
                            @if let Some(summary) = summary(e) { div.hint { (summary) } }
                            @if let Some(body) = &e.request_body {
                                details.body { summary { "Request body" } pre { (format::pretty_body(body)) } }
                            }
                        }
                        td data-label="Source" { span.badge { (e.source.as_str()) } }
                        td data-label="Outcome" { span class=(format!("badge outcome-{}", outcome(e.kind))) { (outcome(e.kind)) } }
                        td data-label="Actor" {
                            @if let Some(email) = names.get(&e.actor) { span title=(e.actor) { (email) } } @else { span.mono { (e.actor) } }
                            br; span.hint.mono title="request id" { (e.request_id) }
                        }
                    }
                }
            }
        } }
    }
}

/// What the event's detail adds, in words: reported and current status, amounts, reasons.
pub(crate) fn summary(e: &StoredEvent) -> Option<String> {
    let d = &e.detail;
    let mut parts = Vec::new();
    if let Some(reported) = d["reported_status"].as_str() {
        parts.push(format!("reported {reported} while {}", d["current_status"].as_str().unwrap_or("?")));
    }
    if let Some(previous) = d["previous_status"].as_str() {
        parts.push(format!("{previous} → {}", e.data["status"].as_str().unwrap_or("?")));
    }
    if let (Some(amount), Some(currency)) = (d["amount"].as_i64(), e.data["currency"].as_str())
        && let Ok(currency) = paystate_domain::Currency::parse(currency)
    {
        parts.push(money(amount, &currency));
    }
    if let Some(reason) = d["reason"].as_str() {
        parts.push(format!("reason: {reason}"));
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

fn deliveries_table(deliveries: &[DeliveryRecord]) -> Markup {
    html! {
        @if deliveries.is_empty() {
            p.empty { "No webhook endpoint subscribed to its events." }
        } @else {
            div.table-wrap { table {
                thead { tr { th { "Event" } th { "Endpoint" } th { "State" } th.num { "Attempts" } } }
                tbody { @for d in deliveries {
                    tr {
                        td { (d.event_type) }
                        td.mono { (d.endpoint_id) }
                        td { span class=(format!("badge {}", match d.state.as_str() { "succeeded" => "outcome-applied", "failed" => "outcome-conflict", _ => "outcome-created" })) { (d.state.as_str()) } }
                        td.num { (d.attempts) }
                    }
                } }
            } }
        }
    }
}
