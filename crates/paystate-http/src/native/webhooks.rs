//! `/v1/webhook-endpoints`, `/v1/webhook-deliveries` and `/v1/events/{id}/deliveries` (admin):
//! manage webhook endpoints and their secrets, read the delivery log, retry and test.
//!
//! A secret is in the response that creates or rotates it, and nowhere else: an idempotent
//! replay of that response shows `"secret": null` (rotate to get a new one).

use super::{ListOf, Native, Paging};
use crate::AppState;
use crate::auth::Caller;
use crate::extract::{Json, Query, present};
use crate::idempotency::{Idempotency, json, no_content, respond};
use crate::problem::{ApiError, ApiResult, Problem};
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use paystate_domain::{DeliveryId, EndpointId, EventId, Source, WebhookEndpoint};
use paystate_store::{DeliveryFilter, DeliveryState, Scope};
use paystate_webhooks::{Delivery, EndpointPatch, IssuedSecret, NewEndpoint, WebhookError};
use serde::{Deserialize, Serialize};

impl From<WebhookError> for ApiError {
    fn from(error: WebhookError) -> Self {
        match error {
            WebhookError::Store(error) => error.into(),
            WebhookError::InvalidUrl(invalid) => ApiError::invalid("url", invalid.0),
            other => {
                tracing::error!(error = %other, "webhook failure");
                ApiError::internal()
            }
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// http or https; private networks are refused unless the server allows them.
    pub url: String,
    /// Event types (`payment.status_changed`, …) or `["*"]` for all.
    pub events: Vec<String>,
    pub description: Option<String>,
    /// Default true.
    pub enabled: Option<bool>,
}

/// Changes to an endpoint; a missing field stays as it is, `"description": null` clears it.
/// Enabling an endpoint forgets why it was disabled.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchEndpoint {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// How long the old secret keeps signing beside the new one: 0 to 604800, default 86400.
    #[serde(default, deserialize_with = "crate::extract::optional_whole")]
    #[schema(minimum = 0, maximum = 604800)]
    pub grace_period_seconds: Option<i64>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryFailed {
    /// Failed deliveries created at or after this time are sent again.
    pub since: chrono::DateTime<chrono::Utc>,
}

/// An endpoint with its signing secret, shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EndpointWithSecret {
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    /// `whsec_…`: verify signatures with it. Null in an idempotent replay.
    pub secret: Option<String>,
    /// Until when the previous secret also signs (after a rotation with a grace period).
    pub previous_secret_expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AttemptView {
    pub at: chrono::DateTime<chrono::Utc>,
    /// The answer's HTTP status; null when none came (connection refused, timeout, refused by
    /// the SSRF guard).
    pub status_code: Option<u16>,
    pub latency_ms: u32,
    /// The first bytes (at most 1 KiB) of the answer's body.
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: String,
    pub endpoint_id: String,
    /// The `webhook-id` of every attempt.
    pub event_id: String,
    pub event_type: String,
    /// pending, succeeded or failed.
    pub state: String,
    pub attempt_count: u32,
    /// When the next attempt is due (pending deliveries): the retry schedule at work.
    pub next_attempt_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_attempt_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The body every attempt sends.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub attempts: Vec<AttemptView>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<Delivery> for DeliveryView {
    fn from(delivery: Delivery) -> Self {
        let record = delivery.record;
        DeliveryView {
            id: record.id.to_string(),
            endpoint_id: record.endpoint_id.to_string(),
            event_id: record.event_id.to_string(),
            event_type: record.event_type,
            state: record.state.as_str().into(),
            attempt_count: record.attempts,
            next_attempt_at: record.next_attempt_at,
            last_attempt_at: record.last_attempt_at,
            payload: serde_json::from_str(&record.payload).unwrap_or(serde_json::Value::String(record.payload)),
            attempts: delivery
                .attempts
                .into_iter()
                .map(|a| AttemptView {
                    at: a.at,
                    status_code: a.status_code,
                    latency_ms: a.latency_ms,
                    response_excerpt: a.response_excerpt,
                    error: a.error,
                })
                .collect(),
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// pending, succeeded or failed.
    #[param(value_type = Option<String>, pattern = "^(pending|succeeded|failed)$")]
    pub state: Option<String>,
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(min_length = 1, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")]
    pub cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Retried {
    /// How many failed deliveries were queued again.
    pub retried: u64,
}

fn endpoint_id(raw: &str) -> ApiResult<EndpointId> {
    EndpointId::parse(raw).ok_or_else(ApiError::not_found)
}

/// The answer that shows a secret (`reveal`), or the one an idempotent replay keeps, which
/// does not: the secret is shown once and never stored in clear.
fn with_secret(status: StatusCode, issued: &IssuedSecret, reveal: bool) -> paystate_store::StoredResponse {
    let view = EndpointWithSecret {
        endpoint: issued.endpoint.clone(),
        secret: reveal.then(|| issued.secret.reveal()),
        previous_secret_expires_at: issued.previous_expires_at,
    };
    json(status, &view)
}

fn delivery_answer(delivery: &Delivery) -> paystate_store::StoredResponse {
    json(StatusCode::ACCEPTED, &DeliveryView::from(delivery.clone()))
}

fn delivery_id(raw: &str) -> ApiResult<DeliveryId> {
    DeliveryId::parse(raw).ok_or_else(ApiError::not_found)
}

/// A page of the delivery log: the query's state and paging, narrowed by `of` to one endpoint's
/// or one event's deliveries.
async fn deliveries(
    state: &AppState,
    caller: &Caller,
    query: &DeliveryQuery,
    of: impl FnOnce(DeliveryFilter) -> ApiResult<DeliveryFilter>,
) -> ApiResult<axum::Json<ListOf<DeliveryView>>> {
    caller.require(Scope::Admin)?;
    let delivery_state = query
        .state
        .as_deref()
        .map(|s| {
            DeliveryState::parse(s).ok_or_else(|| ApiError::invalid("state", "must be pending, succeeded or failed"))
        })
        .transpose()?;
    let page = Paging { limit: query.limit, cursor: query.cursor.clone() }.page()?;
    let filter = of(DeliveryFilter { endpoint_id: None, event_id: None, state: delivery_state })?;
    let page = state.webhooks.deliveries(&caller.tenant_id, filter, page).await?;
    Ok(axum::Json(ListOf::of(page, DeliveryView::from)))
}

#[utoipa::path(post, path = "/v1/webhook-endpoints", tag = "webhooks", request_body = CreateEndpoint,
    responses((status = 201, body = EndpointWithSecret), (status = 400, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn create(
    Native { state, caller }: Native,
    idem: Idempotency,
    body: Json<CreateEndpoint>,
) -> ApiResult<Response> {
    caller.require(Scope::Admin)?;
    let actor = caller.actor(Source::Native, Some(body.raw));
    let CreateEndpoint { url, events, description, enabled } = body.value;
    let new = NewEndpoint { url, events, description, enabled: enabled.unwrap_or(true) };
    let once = idem.once(|issued: &IssuedSecret| with_secret(StatusCode::CREATED, issued, false));
    let issued = state.webhooks.create(&actor, new, once).await?;
    Ok(respond(with_secret(StatusCode::CREATED, &issued, true)))
}

#[utoipa::path(get, path = "/v1/webhook-endpoints", tag = "webhooks", params(Paging),
    responses((status = 200, body = ListOf<WebhookEndpoint>)), security(("bearer" = [])))]
pub async fn list(
    Native { state, caller }: Native,
    Query(paging): Query<Paging>,
) -> ApiResult<axum::Json<ListOf<WebhookEndpoint>>> {
    caller.require(Scope::Admin)?;
    let page = state.webhooks.endpoints(&caller.tenant_id, paging.page()?).await?;
    Ok(axum::Json(page.into()))
}

#[utoipa::path(get, path = "/v1/webhook-endpoints/{id}", tag = "webhooks",
    responses((status = 200, body = WebhookEndpoint), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get(Native { state, caller }: Native, Path(id): Path<String>) -> ApiResult<axum::Json<WebhookEndpoint>> {
    caller.require(Scope::Admin)?;
    Ok(axum::Json(state.webhooks.endpoint(&caller.tenant_id, &endpoint_id(&id)?).await?))
}

#[utoipa::path(patch, path = "/v1/webhook-endpoints/{id}", tag = "webhooks", request_body = PatchEndpoint,
    responses((status = 200, body = WebhookEndpoint), (status = 400, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn patch(
    Native { state, caller }: Native,
    idem: Idempotency,
    Path(id): Path<String>,
    body: Json<PatchEndpoint>,
) -> ApiResult<Response> {
    caller.require(Scope::Admin)?;
    let actor = caller.actor(Source::Native, Some(body.raw));
    let PatchEndpoint { url, events, description, enabled } = body.value;
    let patch = EndpointPatch { url, events, description, enabled };
    let answer = |endpoint: &WebhookEndpoint| json(StatusCode::OK, endpoint);
    let endpoint = state.webhooks.update(&actor, &endpoint_id(&id)?, patch, idem.once(answer)).await?;
    Ok(respond(answer(&endpoint)))
}

#[utoipa::path(delete, path = "/v1/webhook-endpoints/{id}", tag = "webhooks",
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn delete(
    Native { state, caller }: Native,
    idem: Idempotency,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(Scope::Admin)?;
    state
        .webhooks
        .delete(&caller.actor(Source::Native, None), &endpoint_id(&id)?, idem.once(|_: &()| no_content()))
        .await?;
    Ok(respond(no_content()))
}

#[utoipa::path(post, path = "/v1/webhook-endpoints/{id}/rotate-secret", tag = "webhooks",
    request_body(content = RotateSecret, description = "optional: without a body the grace period is 86400 seconds"),
    responses((status = 200, body = EndpointWithSecret), (status = 400, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn rotate_secret(
    Native { state, caller }: Native,
    idem: Idempotency,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require(Scope::Admin)?;
    // The body is optional: an empty one means the default grace period.
    let options: RotateSecret = if body.iter().all(u8::is_ascii_whitespace) {
        RotateSecret::default()
    } else {
        crate::extract::object_from_slice(&body)?
    };
    let grace = match options.grace_period_seconds {
        Some(seconds) => chrono::TimeDelta::try_seconds(seconds)
            .ok_or_else(|| ApiError::invalid("grace_period_seconds", "out of range"))?,
        None => paystate_webhooks::service::DEFAULT_GRACE,
    };
    let once = idem.once(|issued: &IssuedSecret| with_secret(StatusCode::OK, issued, false));
    let actor = caller.actor(Source::Native, (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned()));
    let issued = state.webhooks.rotate(&actor, &endpoint_id(&id)?, grace, once).await?;
    Ok(respond(with_secret(StatusCode::OK, &issued, true)))
}

#[utoipa::path(get, path = "/v1/webhook-endpoints/{id}/deliveries", tag = "webhooks", params(DeliveryQuery),
    responses((status = 200, body = ListOf<DeliveryView>), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn endpoint_deliveries(
    Native { state, caller }: Native,
    Path(id): Path<String>,
    Query(query): Query<DeliveryQuery>,
) -> ApiResult<axum::Json<ListOf<DeliveryView>>> {
    deliveries(&state, &caller, &query, |filter| Ok(DeliveryFilter { endpoint_id: Some(endpoint_id(&id)?), ..filter }))
        .await
}

#[utoipa::path(get, path = "/v1/events/{id}/deliveries", tag = "webhooks", params(DeliveryQuery),
    responses((status = 200, body = ListOf<DeliveryView>)), security(("bearer" = [])))]
pub async fn event_deliveries(
    Native { state, caller }: Native,
    Path(id): Path<String>,
    Query(query): Query<DeliveryQuery>,
) -> ApiResult<axum::Json<ListOf<DeliveryView>>> {
    let event = |id: &str| EventId::parse(id).ok_or_else(ApiError::not_found);
    deliveries(&state, &caller, &query, |filter| Ok(DeliveryFilter { event_id: Some(event(&id)?), ..filter })).await
}

#[utoipa::path(get, path = "/v1/webhook-deliveries/{id}", tag = "webhooks",
    responses((status = 200, body = DeliveryView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_delivery(
    Native { state, caller }: Native,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<DeliveryView>> {
    caller.require(Scope::Admin)?;
    Ok(axum::Json(state.webhooks.delivery(&caller.tenant_id, &delivery_id(&id)?).await?.into()))
}

#[utoipa::path(post, path = "/v1/webhook-deliveries/{id}/retry", tag = "webhooks",
    responses((status = 202, body = DeliveryView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn retry(Native { state, caller }: Native, idem: Idempotency, Path(id): Path<String>) -> ApiResult<Response> {
    caller.require(Scope::Admin)?;
    let delivery = state.webhooks.retry(&caller.tenant_id, &delivery_id(&id)?, idem.once(delivery_answer)).await?;
    Ok(respond(delivery_answer(&delivery)))
}

#[utoipa::path(post, path = "/v1/webhook-endpoints/{id}/retry-failed", tag = "webhooks", request_body = RetryFailed,
    responses((status = 202, body = Retried), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn retry_failed(
    Native { state, caller }: Native,
    idem: Idempotency,
    Path(id): Path<String>,
    body: Json<RetryFailed>,
) -> ApiResult<Response> {
    caller.require(Scope::Admin)?;
    let answer = |retried: &u64| json(StatusCode::ACCEPTED, &Retried { retried: *retried });
    let endpoint = endpoint_id(&id)?;
    let retried =
        state.webhooks.retry_failed(&caller.tenant_id, &endpoint, body.value.since, idem.once(answer)).await?;
    Ok(respond(answer(&retried)))
}

#[utoipa::path(post, path = "/v1/webhook-endpoints/{id}/test", tag = "webhooks",
    responses((status = 202, body = DeliveryView), (status = 404, body = Problem),
        (status = 422, body = Problem, description = "the endpoint is disabled")),
    security(("bearer" = [])))]
pub async fn test(Native { state, caller }: Native, idem: Idempotency, Path(id): Path<String>) -> ApiResult<Response> {
    caller.require(Scope::Admin)?;
    let delivery = state
        .webhooks
        .send_test(&caller.tenant_id, &endpoint_id(&id)?, idem.once(delivery_answer))
        .await
        .map_err(|error| match error {
            // A disabled endpoint: a valid request that the endpoint's current state refuses.
            WebhookError::Store(paystate_store::StoreError::Domain(paystate_domain::DomainError::Invalid {
                field: "enabled",
                message,
            })) => {
                let mut refused =
                    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "endpoint-disabled", "Endpoint disabled", message);
                refused.0.field = Some("enabled".into());
                refused
            }
            other => other.into(),
        })?;
    Ok(respond(delivery_answer(&delivery)))
}
