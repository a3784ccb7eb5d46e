//! The tenant's event feed, newest first: every event of every channel, filtered by type and
//! source, each linked to its payment (or order), in pages of 50 whose cursor is an event number.
//!
//! It reads the store's event log as `GET /v1/events` does (ascending, after a sequence number),
//! walking back from the newest in chunks. Events are numbered per tenant, so a chunk is one
//! range of numbers; a filter that matches rarely stops after [`SCAN_BUDGET`] events and offers
//! to search on, rather than read the whole log in one request.

use crate::Console;
use crate::error::{PageError, PageResult};
use crate::format::time;
use crate::layout::{self, Section};
use crate::overview::outcome;
use crate::session::{Signed, encode_component};
use axum::extract::{Query, State};
use futures::FutureExt;
use maud::{Markup, html};
use paystate_domain::{EventType, Source, StoredEvent, TenantId};
use paystate_store::{EventFilter, Reader, StoreResult};
use serde::Deserialize;
use std::collections::HashMap;

const PAGE_SIZE: usize = 50;
/// How many events one chunk reads.
const CHUNK: i64 = 500;
/// How many events one request reads at most while it looks for matching ones.
const SCAN_BUDGET: i64 = 10_000;

#[derive(Deserialize, Default)]
pub struct FeedQuery {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    source: String,
    /// Events numbered below this one (the cursor); empty: from the newest.
    #[serde(default)]
    before: String,
}

/// One page of the feed, and where the next one starts.
struct Feed {
    events: Vec<StoredEvent>,
    /// The number below which the next page starts; `None` at the first event.
    next: Option<i64>,
    /// Whether the page stopped at the scan budget rather than filling up.
    searched_to: Option<i64>,
}

/// The number of the tenant's newest event (0: none), by galloping then halving over "is there
/// an event after n": a few dozen one-row indexed reads, whatever the log's length (reading a
/// chunk of events instead parses every one of them).
async fn newest(r: &mut dyn Reader, tenant: &TenantId) -> StoreResult<i64> {
    let after = |n: i64| EventFilter { after_seq: n, payment_id: None, limit: 1 };
    if r.events(tenant, &after(0)).await?.is_empty() {
        return Ok(0);
    }
    // An event follows `low`; none follows `high`.
    let (mut low, mut step) = (0i64, CHUNK);
    while !r.events(tenant, &after(low + step)).await?.is_empty() {
        low += step;
        step *= 2;
    }
    let mut high = low + step;
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if r.events(tenant, &after(middle)).await?.is_empty() { high = middle } else { low = middle }
    }
    Ok(high)
}

async fn feed(
    r: &mut dyn Reader,
    tenant: &TenantId,
    before: Option<i64>,
    wanted: impl Fn(&StoredEvent) -> bool,
) -> StoreResult<Feed> {
    let mut cursor = match before {
        Some(before) => before,
        None => newest(r, tenant).await? + 1,
    };
    let (mut events, mut scanned) = (Vec::with_capacity(PAGE_SIZE), 0);
    // A page and one more first (all an unfiltered page needs), doubling up to CHUNK while a
    // filter turns events away: every event read is parsed, so reading few is what keeps it fast.
    let mut size = PAGE_SIZE as i64 + 1;
    while cursor > 1 && scanned < SCAN_BUDGET {
        let from = (cursor - 1 - size).max(0);
        let chunk = r.events(tenant, &EventFilter { after_seq: from, payment_id: None, limit: size as u32 }).await?;
        size = (size * 2).min(CHUNK);
        for event in chunk.into_iter().rev().filter(|e| e.seq < cursor) {
            if events.len() == PAGE_SIZE {
                return Ok(Feed { next: events.last().map(|e: &StoredEvent| e.seq), events, searched_to: None });
            }
            if wanted(&event) {
                events.push(event);
            }
        }
        scanned += cursor - 1 - from;
        cursor = from + 1;
    }
    let more = cursor > 1;
    let searched_to = (more && events.len() < PAGE_SIZE).then_some(cursor);
    Ok(Feed { next: more.then_some(cursor), events, searched_to })
}

impl FeedQuery {
    fn link(&self, before: i64) -> String {
        let mut link = format!("/dashboard/events?before={before}");
        for (name, value) in [("type", &self.kind), ("source", &self.source)] {
            if !value.is_empty() {
                link.push_str(&format!("&{name}={}", encode_component(value)));
            }
        }
        link
    }
}

pub async fn page(State(state): State<Console>, signed: Signed, Query(query): Query<FeedQuery>) -> PageResult<Markup> {
    let kind = match query.kind.as_str() {
        "" => None,
        text => {
            Some(EventType::parse(text).ok_or_else(|| PageError::invalid(format!("{text:?} is not an event type.")))?)
        }
    };
    let source = match query.source.as_str() {
        "" => None,
        text => Some(Source::parse(text).ok_or_else(|| PageError::invalid(format!("{text:?} is not a source.")))?),
    };
    let before = match query.before.trim() {
        "" => None,
        text => Some(
            text.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| PageError::invalid("The cursor is an event number."))?,
        ),
    };
    let tenant = signed.session.user.tenant_id.clone();
    let reader = tenant.clone();
    let wanted = move |e: &StoredEvent| kind.is_none_or(|k| e.kind == k) && source.is_none_or(|s| e.source == s);
    let feed = state.ledger.query(move |r| async move { feed(r, &reader, before, wanted).await }.boxed()).await?;
    let names: HashMap<String, String> =
        state.ledger.users(&tenant).await?.into_iter().map(|u| (u.id.to_string(), u.email)).collect();
    let body = html! {
        div.page-head { div { h1 { "Events" } p.sub { "Everything that happened to this tenant's payments and orders, through every channel, and every change to its set-up (keys, users, webhook endpoints, settings). Newest first." } } }
        form.card.filters method="get" action="/dashboard/events" {
            div.field {
                label for="type" { "Type" }
                select #type name="type" {
                    option value="" { "any type" }
                    @for k in EventType::ALL { option value=(k.as_str()) selected[kind == Some(k)] { (k.as_str()) } }
                }
            }
            div.field {
                label for="source" { "Source" }
                select #source name="source" {
                    option value="" { "any source" }
                    @for s in Source::ALL { option value=(s.as_str()) selected[source == Some(s)] { (s.as_str()) } }
                }
            }
            div.buttons {
                button type="submit" { "Apply" }
                a.button.secondary href="/dashboard/events" { "Clear" }
            }
        }
        section.card {
            (table(&feed.events, &names))
            div.pager {
                span { (feed.events.len()) " shown"
                    @if let Some(to) = feed.searched_to { " · searched back to event " (to) } }
                @if let Some(next) = feed.next {
                    a.button.secondary href=(query.link(next)) rel="next" { @if feed.searched_to.is_some() { "Search older events →" } @else { "Older events →" } }
                }
            }
        }
    };
    Ok(layout::page("Events", &signed.session, Section::Events, body))
}

/// What an event of the tenant's set-up (no order, no payment) is about, as the feed names it.
fn set_up_record(kind: EventType) -> &'static str {
    match kind {
        EventType::TenantUpdated => "tenant",
        EventType::ApiKeyCreated | EventType::ApiKeyRevoked => "key",
        EventType::UserCreated | EventType::UserUpdated | EventType::UserDisabled => "user",
        _ => "endpoint",
    }
}

fn table(events: &[StoredEvent], names: &HashMap<String, String>) -> Markup {
    html! {
        div.table-wrap { table.stack {
            thead { tr { th.num { "#" } th { "When" } th { "Event" } th { "About" } th { "Source" } th { "Actor" } } }
            tbody {
                @for e in events {
                    tr {
                        td.num data-label="Event" { (e.seq) }
                        td.when data-label="When" { (time(&e.created_at)) }
                        td data-label="What" {
                            span class=(format!("badge outcome-{}", outcome(e.kind))) { (e.kind.as_str()) }
                            (crate::changes::list(e))
                            @if let Some(summary) = crate::payment::summary(e) { div.hint { (summary) } }
                        }
                        td data-label="Payment" {
                            @if let Some(payment) = &e.payment_id {
                                a.mono href=(format!("/dashboard/payments/{payment}#event-{}", e.seq)) { (payment) }
                            } @else if let Some(order) = &e.order_id {
                                "order " a.mono href=(format!("/dashboard/orders/{order}")) { (order) }
                            } @else if let Some(id) = e.data["id"].as_str() {
                                (set_up_record(e.kind)) " " span.mono { (id) }
                                @if let Some(email) = e.data["email"].as_str() { " " (email) }
                            } @else { "—" }
                        }
                        td data-label="Source" { span.badge { (e.source.as_str()) } }
                        td.actor data-label="Actor" {
                            @if let Some(email) = names.get(&e.actor) { span title=(e.actor) { (email) } } @else { span.mono title=(e.actor) { (e.actor) } }
                        }
                    }
                }
                @if events.is_empty() { tr { td.empty colspan="6" { "No event matches." } } }
            }
        } }
    }
}
