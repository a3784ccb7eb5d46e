//! `GET /v1/events/stream`: the tenant's events live, as Server-Sent Events.
//!
//! The stream reads the events table, the same rows `GET /v1/events` lists: events are numbered
//! per tenant gap-free in commit order, and a reader of "events after SEQ" never misses one that
//! commits later with a smaller number, so following the table by `seq` yields every event once,
//! in order. A producer task per connection reads pages after its cursor into a bounded read-ahead
//! and, when it has caught up, waits for this process to commit for the tenant
//! ([`paystate_stream::CommitSignal`]) or for the poll interval (commits of other instances, the
//! CLI and the worker), whichever comes first.
//!
//! A consumer that stops draining its socket fills the read-ahead (bounded in events and in
//! bytes); once it has stayed full for the stall timeout the producer stops reading, and the
//! consumer gets `event: too_slow` and the end of the stream, to resume from its last `id`.
//! Writers never wait for a consumer: the producer only reads.

use super::Native;
use crate::AppState;
use crate::extract::Query;
use crate::problem::{ApiError, ApiResult, Problem};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use paystate_domain::{EventType, PaymentId, StoredEvent, TenantId};
use paystate_store::EventFilter;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};

/// How the stream behaves; the defaults are production's, tests shorten them.
#[derive(Clone, Debug)]
pub struct StreamSettings {
    /// The longest wait before reading the table again without a wake-up: the bound on the
    /// delay of an event committed by another instance.
    pub poll_interval: Duration,
    /// How often an idle stream sends a keep-alive comment.
    pub keep_alive: Duration,
    /// Events read ahead for one consumer.
    pub buffer: usize,
    /// Bytes of events read ahead for one consumer (an event may carry a request body of up to
    /// 1 MiB twice over, so the count alone does not bound the memory a consumer holds).
    pub buffer_bytes: usize,
    /// How long the read-ahead may stay full (the consumer not draining) before it is dropped.
    pub stall_timeout: Duration,
    /// Events read per query.
    pub page: u32,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            keep_alive: Duration::from_secs(15),
            buffer: 1024,
            buffer_bytes: 16 * 1024 * 1024,
            stall_timeout: Duration::from_secs(30),
            page: 500,
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Start after this sequence number (default 0: from the first event). A `Last-Event-ID`
    /// header wins over it, so a reconnecting client resumes where it stopped.
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// Only events of these types (comma-separated).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Only events of this payment (its id or external id).
    pub payment_id: Option<String>,
}

/// What one stream sends.
#[derive(Clone)]
struct Selection {
    tenant: TenantId,
    payment: Option<PaymentId>,
    kinds: Option<Vec<EventType>>,
}

impl Selection {
    fn wants(&self, event: &StoredEvent) -> bool {
        self.kinds.as_ref().is_none_or(|kinds| kinds.contains(&event.kind))
    }
}

fn start_after(headers: &HeaderMap, query: &StreamQuery) -> ApiResult<i64> {
    // A negative `after` is refused even when a `Last-Event-ID` header makes it moot.
    if query.after.is_some_and(|after| after < 0) {
        return Err(ApiError::invalid("after", "must not be negative"));
    }
    let after = match headers.get("last-event-id") {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|text| text.trim().parse::<i64>().ok())
            .ok_or_else(|| ApiError::invalid("Last-Event-ID", "must be an event's sequence number"))?,
        None => query.after.unwrap_or(0),
    };
    if after < 0 {
        return Err(ApiError::invalid("Last-Event-ID", "must not be negative"));
    }
    Ok(after)
}

fn kinds(text: Option<&str>) -> ApiResult<Option<Vec<EventType>>> {
    let Some(text) = text else { return Ok(None) };
    text.split(',')
        .map(|name| {
            EventType::parse(name.trim()).ok_or_else(|| {
                let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
                ApiError::invalid("type", format!("unknown event type; one of {}", known.join(", ")))
            })
        })
        .collect::<ApiResult<Vec<_>>>()
        .map(Some)
}

#[utoipa::path(get, operation_id = "events_stream", path = "/v1/events/stream", tag = "events", params(StreamQuery,
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this sequence number")),
    responses((status = 200, content_type = "text/event-stream",
        description = "`id: <seq>`, `event: <type>`, `data: <the event as GET /v1/events lists it>` per event; `event: too_slow` before a consumer that fell behind is disconnected"),
        (status = 400, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn stream(
    Native { state, caller }: Native,
    headers: HeaderMap,
    Query(query): Query<StreamQuery>,
) -> ApiResult<Response> {
    let after = start_after(&headers, &query)?;
    let kinds = kinds(query.kind.as_deref())?;
    let payment = match &query.payment_id {
        Some(id) => Some(state.ledger.payment(&caller.tenant_id, id).await?.id),
        None => None,
    };
    let selection = Selection { tenant: caller.tenant_id.clone(), payment, kinds };
    let settings = state.config.stream.clone();
    let (events, received) = mpsc::channel(settings.buffer.max(1));
    let budget = Arc::new(Semaphore::new(settings.buffer_bytes.clamp(1, Semaphore::MAX_PERMITS)));
    let (too_slow, told) = oneshot::channel();
    let wake = state.signal.subscribe(&selection.tenant);
    let closing = state.closing.subscribe();
    let reader = Reader { state: state.clone(), selection, events, budget, too_slow };
    tokio::spawn(reader.produce(after, wake, closing));
    let body = futures::stream::unfold((received, Some(told)), |(mut received, told)| async move {
        let mut told = told?;
        tokio::select! {
            biased;
            Ok(()) = &mut told => {
                let event = Event::default().event("too_slow").data(r#"{"detail":"the consumer fell behind; resume from the last id"}"#);
                Some((Ok::<_, std::convert::Infallible>(event), (received, None)))
            }
            // The event's share of the read-ahead budget goes back as it leaves for the socket.
            next = received.recv() => next.map(|(event, _budget)| (Ok(event), (received, Some(told)))),
        }
    });
    let mut response =
        Sse::new(body).keep_alive(KeepAlive::new().interval(settings.keep_alive).text("keep-alive")).into_response();
    // Reverse proxies (nginx) would otherwise buffer the stream.
    response.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// One stream's producer: reads the tenant's events into the consumer's read-ahead.
struct Reader {
    state: AppState,
    selection: Selection,
    events: mpsc::Sender<(Event, OwnedSemaphorePermit)>,
    /// Bytes the read-ahead may still take.
    budget: Arc<Semaphore>,
    too_slow: oneshot::Sender<()>,
}

impl Reader {
    /// Reads the events after `after` until the consumer goes away, falls behind, or the
    /// server shuts down.
    async fn produce(self, mut after: i64, mut wake: watch::Receiver<()>, mut closing: watch::Receiver<bool>) {
        let settings = self.state.config.stream.clone();
        loop {
            // Marked seen before reading, so a commit during the read wakes the next wait.
            wake.borrow_and_update();
            let payment_id = self.selection.payment.clone();
            let filter = EventFilter { after_seq: after, payment_id, limit: settings.page };
            let page = match self.state.ledger.events(&self.selection.tenant, filter).await {
                Ok(page) => page,
                Err(error) => {
                    // The consumer reconnects with its last id; the stream cannot skip past this.
                    tracing::warn!(%error, "the event stream could not read events; closing it");
                    return;
                }
            };
            let caught_up = page.len() < settings.page as usize;
            for event in page {
                after = event.seq;
                if !self.selection.wants(&event) {
                    continue;
                }
                match self.offer(&event, &settings).await {
                    Offer::Taken => {}
                    Offer::Gone => return,
                    Offer::TooSlow => {
                        tracing::info!(tenant = %self.selection.tenant, "an event stream consumer fell behind; dropping it");
                        let _ = self.too_slow.send(());
                        return;
                    }
                }
            }
            if caught_up {
                tokio::select! {
                    Ok(()) = wake.changed() => {}
                    _ = tokio::time::sleep(settings.poll_interval) => {}
                    _ = self.events.closed() => return,
                    _ = closing.wait_for(|closing| *closing) => return,
                }
            }
        }
    }

    /// Puts one event into the read-ahead, waiting at most the stall timeout for room.
    async fn offer(&self, event: &StoredEvent, settings: &StreamSettings) -> Offer {
        let Ok(data) = serde_json::to_string(event) else { return Offer::Taken };
        let deadline = tokio::time::Instant::now() + settings.stall_timeout;
        let weight = u32::try_from(data.len().clamp(1, settings.buffer_bytes.max(1))).unwrap_or(u32::MAX);
        let budget = match tokio::time::timeout_at(deadline, self.budget.clone().acquire_many_owned(weight)).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Offer::Gone,
            Err(_) => return Offer::TooSlow,
        };
        let message = Event::default().id(event.seq.to_string()).event(event.kind.as_str()).data(data);
        match tokio::time::timeout_at(deadline, self.events.send((message, budget))).await {
            Ok(Ok(())) => Offer::Taken,
            Ok(Err(_)) => Offer::Gone,
            Err(_) => Offer::TooSlow,
        }
    }
}

/// What became of an event offered to the read-ahead.
enum Offer {
    Taken,
    /// The consumer went away.
    Gone,
    /// The read-ahead stayed full for the stall timeout.
    TooSlow,
}
