//! `/v1/events`: the tenant's audit trail, in sequence order, for readers that follow it.

use super::Native;
use crate::extract::Query;
use crate::problem::{ApiError, ApiResult, Problem};
use axum::extract::Path;
use paystate_domain::StoredEvent;
use paystate_store::EventFilter;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Events with a sequence number above this one (default 0: from the start).
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// 1 to 1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// A page of events; follow with `after = next_after`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventPage {
    pub data: Vec<StoredEvent>,
    pub has_more: bool,
    /// The last sequence number of this page (pass it as `after`); also sent as `next_cursor`.
    pub next_after: i64,
    pub next_cursor: Option<String>,
}

fn filter(query: &EventQuery) -> ApiResult<(i64, u32)> {
    let after = query.after.unwrap_or(0);
    let limit = query.limit.unwrap_or(100);
    if after < 0 {
        return Err(ApiError::invalid("after", "must not be negative"));
    }
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 1000"));
    }
    Ok((after, limit))
}

fn page(mut data: Vec<StoredEvent>, after: i64, limit: u32) -> EventPage {
    let has_more = data.len() > limit as usize;
    data.truncate(limit as usize);
    let next_after = data.last().map_or(after, |e| e.seq);
    EventPage { data, has_more, next_after, next_cursor: has_more.then(|| next_after.to_string()) }
}

#[utoipa::path(get, operation_id = "events_list", path = "/v1/events", tag = "events", params(EventQuery),
    responses((status = 200, body = EventPage), (status = 400, body = Problem)), security(("bearer" = [])))]
pub async fn list(
    Native { state, caller }: Native,
    Query(query): Query<EventQuery>,
) -> ApiResult<axum::Json<EventPage>> {
    let (after, limit) = filter(&query)?;
    let events = state
        .ledger
        .events(&caller.tenant_id, EventFilter { after_seq: after, payment_id: None, limit: limit + 1 })
        .await?;
    Ok(axum::Json(page(events, after, limit)))
}

#[utoipa::path(get, operation_id = "events_of_payment", path = "/v1/payments/{id}/events", tag = "events", params(EventQuery),
    responses((status = 200, body = EventPage), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn of_payment(
    Native { state, caller }: Native,
    Path(id): Path<String>,
    Query(query): Query<EventQuery>,
) -> ApiResult<axum::Json<EventPage>> {
    let (after, limit) = filter(&query)?;
    let events = state.ledger.payment_events(&caller.tenant_id, &id, after, limit + 1).await?;
    Ok(axum::Json(page(events, after, limit)))
}
