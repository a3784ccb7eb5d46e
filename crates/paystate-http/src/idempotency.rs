//! `Idempotency-Key` with Stripe's promise: the same key yields the same single effect, whatever
//! crashed when, for every changing native request.
//!
//! The key is claimed and the answer stored inside the transaction that makes the change (see
//! `paystate_ledger::once`): this middleware only looks the key up before the request runs and
//! replays a stored answer, with `Idempotent-Replayed: true`, its status, content type, body and
//! the headers that matter (`paystate-outcome`). The same key with another request is 422. Two
//! requests racing with one key never both apply: the second's claim waits for the first's
//! transaction and then finds the key answered, and is answered the same. A request refused
//! without writing (a 4xx of validation, a 5xx) leaves the key free. Keys are kept 24 hours.

use crate::AppState;
use crate::auth::Caller;
use crate::extract::body_bytes;
use crate::problem::ApiError;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use paystate_ledger::Once;
use paystate_store::{IdempotencyKey, StoreExt, StoreResult, StoredResponse};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// How long a key is remembered.
pub const RETENTION: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// The key of the request, for handlers to make their use case exactly-once; `None` without one.
#[derive(Clone, Debug, Default)]
pub struct Idempotency(Option<(IdempotencyKey, Arc<AtomicBool>)>);

impl Idempotency {
    /// The use case's exactly-once guard, answering a replay with `answer` of its result.
    pub fn once<T: 'static>(&self, answer: impl Fn(&T) -> StoredResponse + Send + Sync + 'static) -> Option<Once<T>> {
        let (key, answered) = self.0.clone()?;
        Some(Once::new(key, move |value| {
            answered.store(true, Ordering::Relaxed);
            answer(value)
        }))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Idempotency {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Idempotency>().cloned().unwrap_or_default())
    }
}

/// A response extension: the use case found its key answered by a concurrent request; the
/// middleware replays that answer.
#[derive(Clone, Copy, Debug)]
pub struct KeyTaken;

fn valid_key(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    ((1..=255).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_graphic())).then(|| text.to_owned())
}

pub async fn idempotency(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let changing = matches!(*request.method(), Method::POST | Method::PATCH | Method::DELETE);
    let Some(raw_key) = request.headers().get("idempotency-key").filter(|_| changing) else {
        return next.run(request).await;
    };
    let Some(key) = valid_key(raw_key) else {
        return ApiError::invalid("Idempotency-Key", "must be 1 to 255 visible ASCII characters").into_response();
    };
    let Some(caller) = request.extensions().get::<Caller>().cloned() else {
        return ApiError::unauthorized().into_response();
    };
    let (mut parts, body) = request.into_parts();
    let bytes = match body_bytes(&parts.headers, body).await {
        Ok(bytes) => bytes,
        Err(error) => return error.into_response(),
    };
    let mut digest = Sha256::new();
    digest.update(parts.method.as_str().as_bytes());
    digest.update(b" ");
    digest.update(parts.uri.path().as_bytes());
    digest.update(b"\n");
    digest.update(&bytes);
    let key = IdempotencyKey { tenant_id: caller.tenant_id.clone(), key, fingerprint: hex::encode(digest.finalize()) };
    match answered(&state, &key).await {
        Ok(Some(response)) => return response,
        Ok(None) => {}
        Err(error) => return ApiError::from(error).into_response(),
    }
    let used = Arc::new(AtomicBool::new(false));
    parts.extensions.insert(Idempotency(Some((key.clone(), used.clone()))));
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    if response.extensions().get::<KeyTaken>().is_some() {
        return match answered(&state, &key).await {
            Ok(Some(replayed)) => replayed,
            _ => response,
        };
    }
    if response.status().is_success() && !used.load(Ordering::Relaxed) {
        // Every changing route hands its key to its use case; one that does not is a bug that
        // would let a retry apply twice.
        tracing::error!(status = %response.status(), "a keyed request succeeded without storing its answer");
        debug_assert!(false, "a keyed request succeeded without storing its answer");
    }
    response
}

/// The answer to replay for `key`, or the refusal of a key used with another request; `None`
/// while the key is free.
async fn answered(state: &AppState, key: &IdempotencyKey) -> StoreResult<Option<Response>> {
    let (tenant, name) = (key.tenant_id.clone(), key.key.clone());
    let record =
        state.ledger.store().lookup(move |r| async move { r.idempotency_record(&tenant, &name).await }.boxed()).await?;
    // No answer: a claim an older paystate left behind, which the use case takes over.
    let Some(stored) = record.as_ref().and_then(|record| record.response.clone()) else { return Ok(None) };
    if record.is_some_and(|record| record.fingerprint != key.fingerprint) {
        return Ok(Some(
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency key reused",
                "this Idempotency-Key was used with another request",
            )
            .into_response(),
        ));
    }
    let mut response = respond(stored);
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(Some(response))
}

/// A stored answer as an HTTP response: the first answer and every replay are the same bytes.
pub fn respond(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    if let Ok(value) = HeaderValue::from_str(&stored.content_type)
        && !stored.content_type.is_empty()
    {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    for (name, value) in stored.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response.headers_mut().insert(name, value);
        }
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// A JSON answer.
pub fn json(status: StatusCode, value: &impl serde::Serialize) -> StoredResponse {
    StoredResponse {
        status: status.as_u16(),
        content_type: "application/json".into(),
        headers: Vec::new(),
        body: serde_json::to_vec(value).unwrap_or_default(),
    }
}

/// A problem+json answer.
pub fn problem(error: &ApiError) -> StoredResponse {
    StoredResponse {
        status: error.status().as_u16(),
        content_type: "application/problem+json".into(),
        headers: Vec::new(),
        body: serde_json::to_vec(&error.0).unwrap_or_default(),
    }
}

/// An answer without a body (204).
pub fn no_content() -> StoredResponse {
    StoredResponse { status: 204, content_type: String::new(), headers: Vec::new(), body: Vec::new() }
}
