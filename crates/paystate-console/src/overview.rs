//! The overview: payments per status, the review queue's size, the last 24 hours of reports per
//! source and outcome as a server-rendered SVG chart, and the webhooks' health.

use crate::Console;
use crate::error::PageResult;
use crate::layout::{self, Section};
use crate::session::Signed;
use axum::extract::State;
use futures::FutureExt;
use maud::{Markup, html};
use paystate_domain::{EventType, PaymentStatus, Source, TenantId};
use paystate_store::{DeliveryFilter, DeliveryState, EventCount, PageRequest, StatusCount};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How many pending deliveries the overview counts before it says "at least".
const PENDING_CAP: u32 = 1000;

/// How long the overview's figures are reused: counting a large tenant's payments and a day of
/// its events costs tens of milliseconds, and a figure a few seconds old serves an overview.
const FIGURES_TTL: std::time::Duration = std::time::Duration::from_secs(15);

/// The overview's figures per tenant, with when they were counted.
#[derive(Default)]
pub struct FiguresCache(Mutex<HashMap<TenantId, (Instant, Arc<Figures>)>>);

pub struct Figures {
    counted_at: paystate_domain::Timestamp,
    payments: Vec<StatusCount>,
    events: Vec<EventCount>,
    endpoints: usize,
    failing: usize,
    disabled: usize,
    pending: usize,
}

async fn figures(state: &Console, tenant: &TenantId) -> PageResult<Arc<Figures>> {
    let fresh = state.figures.0.lock().ok().and_then(|cache| {
        cache.get(tenant).filter(|(at, _)| at.elapsed() < FIGURES_TTL).map(|(_, figures)| figures.clone())
    });
    if let Some(figures) = fresh {
        return Ok(figures);
    }
    let figures = Arc::new(count(state, tenant).await?);
    if let Ok(mut cache) = state.figures.0.lock() {
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(tenant.clone(), (Instant::now(), figures.clone()));
    }
    Ok(figures)
}

async fn count(state: &Console, tenant: &TenantId) -> PageResult<Figures> {
    let tenant = tenant.clone();
    let since = paystate_ledger::now() - chrono::Duration::hours(24);
    let figures = state
        .ledger
        .query(move |r| {
            async move {
                let payments = r.payment_counts(&tenant).await?;
                let events = r.event_counts(&tenant, since).await?;
                let endpoints = r.endpoints(&tenant, &PageRequest { after: None, limit: 500 }).await?;
                let filter = DeliveryFilter { state: Some(DeliveryState::Pending), ..Default::default() };
                let pending = r.deliveries(&tenant, &filter, &PageRequest { after: None, limit: PENDING_CAP }).await?;
                Ok(Figures {
                    counted_at: paystate_ledger::now(),
                    payments,
                    events,
                    endpoints: endpoints.len(),
                    failing: endpoints
                        .iter()
                        .filter(|e| e.endpoint.enabled && e.endpoint.failing_since.is_some())
                        .count(),
                    disabled: endpoints.iter().filter(|e| !e.endpoint.enabled).count(),
                    pending: pending.len(),
                })
            }
            .boxed()
        })
        .await?;
    Ok(figures)
}

/// The outcome a recorded event stands for, as the chart and the timeline name it.
pub fn outcome(kind: EventType) -> &'static str {
    match kind {
        EventType::PaymentStaleUpdate => "stale",
        EventType::PaymentConflict => "conflict",
        EventType::PaymentResolved => "resolved",
        EventType::PaymentCreated | EventType::OrderCreated => "created",
        _ => "applied",
    }
}

pub async fn page(State(state): State<Console>, signed: Signed) -> PageResult<Markup> {
    let tenant = signed.session.user.tenant_id.clone();
    let figures = figures(&state, &tenant).await?;
    let total: i64 = figures.payments.iter().map(|c| c.count).sum();
    let review: i64 = figures.payments.iter().filter(|c| c.needs_review).map(|c| c.count).sum();
    let per_status = |status: PaymentStatus| -> i64 {
        figures.payments.iter().filter(|c| c.status == status).map(|c| c.count).sum()
    };
    let body = html! {
        div.page-head {
            div { h1 { "Overview" } p.sub { "Tenant " code { (tenant) } } }
            form method="get" action="/dashboard/payments" role="search" {
                label.hint for="q" { "Find a payment by any of its ids" }
                input #q type="search" name="q" placeholder="pay_…, external id, order reference";
            }
        }
        div.stats {
            div.stat { div.label { "Payments" } div.value { (total) } }
            a.stat.alert[review > 0] href="/dashboard/review" {
                div.label { "Need review" } div.value { (review) }
            }
            div.stat { div.label { "Paid" } div.value { (per_status(PaymentStatus::Paid)) } }
            div.stat.alert[figures.failing > 0] { div.label { "Failing endpoints" } div.value { (figures.failing) } }
        }
        div.grid {
            section.card aria-labelledby="statuses" {
                h2 #statuses { "Payments per status" }
                div.table-wrap { table {
                    thead { tr { th { "Status" } th.num { "Payments" } th.num { "Need review" } } }
                    tbody {
                        @for status in PaymentStatus::ALL {
                            @let count = per_status(status);
                            @let flagged: i64 = figures.payments.iter().filter(|c| c.status == status && c.needs_review).map(|c| c.count).sum();
                            tr {
                                td { a href=(format!("/dashboard/payments?status={}", status.as_str())) { (crate::format::status(status)) } }
                                td.num { (count) }
                                td.num { @if flagged > 0 { a href="/dashboard/review" { (flagged) } } @else { "0" } }
                            }
                        }
                    }
                } }
            }
            section.card aria-labelledby="webhooks" {
                h2 #webhooks { "Webhook health" }
                dl.fields {
                    dt { "Endpoints" } dd { (figures.endpoints) }
                    dt { "Failing now" } dd { @if figures.failing > 0 { span.badge.review { (figures.failing) " failing" } } @else { "none" } }
                    dt { "Disabled" } dd { (figures.disabled) }
                    dt { "Deliveries waiting" } dd {
                        @if figures.pending as u32 >= PENDING_CAP { "at least " } (figures.pending)
                    }
                }
            }
        }
        section.card aria-labelledby="reports" {
            h2 #reports { "Reports in the last 24 hours, per source and outcome" }
            (chart(&figures.events))
            p.hint { "A report that repeats the current status changes nothing and records no event, so it is not counted." }
        }
        p.hint { "Figures as of " (crate::format::time(&figures.counted_at)) ", counted again every 15 seconds at most." }
    };
    Ok(layout::page("Overview", &signed.session, Section::Overview, body))
}

/// Horizontal stacked bars, one per source that reported anything, drawn as SVG on the server.
fn chart(events: &[EventCount]) -> Markup {
    const OUTCOMES: [(&str, &str); 4] =
        [("applied", "#059669"), ("created", "#2563eb"), ("stale", "#d97706"), ("conflict", "#dc2626")];
    let rows: Vec<(Source, [i64; 4])> = Source::ALL
        .into_iter()
        .map(|source| {
            let mut counts = [0i64; 4];
            for count in events.iter().filter(|c| c.source == source) {
                if let Some(i) = OUTCOMES.iter().position(|(name, _)| *name == outcome(count.kind)) {
                    counts[i] += count.count;
                }
            }
            (source, counts)
        })
        .filter(|(_, counts)| counts.iter().sum::<i64>() > 0)
        .collect();
    if rows.is_empty() {
        return html! { p.empty { "Nothing was reported in the last 24 hours." } };
    }
    let max = rows.iter().map(|(_, c)| c.iter().sum::<i64>()).max().unwrap_or(1).max(1);
    let (label_width, bar_width, row_height) = (90i64, 560i64, 30i64);
    let height = row_height * rows.len() as i64 + 10;
    let description: Vec<String> = rows
        .iter()
        .map(|(source, c)| format!("{source}: {} applied, {} created, {} stale, {} conflict", c[0], c[1], c[2], c[3]))
        .collect();
    html! {
        div.legend {
            // Classes rather than inline styles: the console's CSP allows no inline style.
            @for (name, _) in OUTCOMES { span { i class=(format!("swatch-{name}")) {} (name) } }
        }
        div.table-wrap {
            svg.chart role="img" aria-label=(description.join("; ")) viewBox=(format!("0 0 {} {height}", label_width + bar_width + 60))
                width="100%" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg" {
                @for (i, (source, counts)) in rows.iter().enumerate() {
                    @let y = 8 + i as i64 * row_height;
                    @let total: i64 = counts.iter().sum();
                    text x="0" y=(y + 15) { (source.as_str()) }
                    @for (x, width, j) in segments(counts, label_width, bar_width, max) {
                        rect x=(x) y=(y) width=(width) height="20" rx="3" fill=(OUTCOMES[j].1) {
                            title { (counts[j]) " " (OUTCOMES[j].0) }
                        }
                    }
                    text x=(label_width + total * bar_width / max + 8) y=(y + 15) { (total) }
                }
            }
        }
    }
}

/// The bars of one row: (x, width, outcome index) of each non-zero count, left to right.
fn segments(counts: &[i64; 4], start: i64, full: i64, max: i64) -> Vec<(i64, i64, usize)> {
    let mut x = start;
    let mut out = Vec::new();
    for (j, count) in counts.iter().enumerate().filter(|(_, c)| **c > 0) {
        let width = (count * full / max).max(2);
        out.push((x, width, j));
        x += width;
    }
    out
}
