//! `Idempotency-Key` with Stripe's semantics, for every changing native request.
//!
//! The first response (status and body) to a key is stored per tenant for 24 hours and replayed
//! with `Idempotent-Replayed: true`; the same key with another request is 422, and while the
//! first request still runs a second one is 409. A server error releases the key so that a
//! retry runs again. The stored response is written right after the change commits, so a crash
//! in between leaves a claim that a retry takes over after a minute: the retry then runs against
//! the changed state, which the status machine answers idempotently.

use crate::AppState;
use crate::auth::Caller;
use crate::extract::body_bytes;
use crate::problem::ApiError;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use paystate_store::{ClaimOutcome, IdempotencyClaim, StoreExt, StoredResponse};
use sha2::{Digest, Sha256};

/// How long a key is remembered.
pub const RETENTION: chrono::TimeDelta = chrono::TimeDelta::hours(24);
/// After this long an unfinished claim is taken to be abandoned by a crashed process.
const ABANDONED_AFTER: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

/// A response extension: the body to keep for replays instead of the one sent, for responses
/// that show a secret once (a replay must not show it again, and the store must not keep it).
#[derive(Clone, Debug)]
pub struct ReplayBody(pub Vec<u8>);

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
    let (parts, body) = request.into_parts();
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
    let now = paystate_store::now();
    let claim = IdempotencyClaim {
        tenant_id: caller.tenant_id.clone(),
        key: key.clone(),
        fingerprint: hex::encode(digest.finalize()),
        now,
        stale_before: now - ABANDONED_AFTER,
    };
    let store = state.ledger.store().clone();
    let outcome =
        store.write_for(&caller.tenant_id, move |tx| async move { tx.claim_idempotency(&claim).await }.boxed()).await;
    match outcome {
        Err(error) => ApiError::from(error).into_response(),
        Ok(ClaimOutcome::Replay(stored)) => replay(stored),
        Ok(ClaimOutcome::Mismatch) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "Idempotency key reused",
            "this Idempotency-Key was used with another request",
        )
        .into_response(),
        Ok(ClaimOutcome::InFlight) => ApiError::new(
            StatusCode::CONFLICT,
            "idempotency-key-in-use",
            "Idempotency key in use",
            "a request with this Idempotency-Key is still being processed",
        )
        .into_response(),
        Ok(ClaimOutcome::Claimed) => {
            let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
            finish(&state, &caller, key, response).await
        }
    }
}

async fn finish(state: &AppState, caller: &Caller, key: String, response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return ApiError::internal().into_response();
    };
    let tenant = caller.tenant_id.clone();
    let store = state.ledger.store().clone();
    let result = if parts.status.is_server_error() {
        store
            .write_for(&caller.tenant_id, move |tx| async move { tx.release_idempotency(&tenant, &key).await }.boxed())
            .await
    } else {
        let stored = StoredResponse {
            status: parts.status.as_u16(),
            content_type: parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/json")
                .to_owned(),
            body: parts.extensions.get::<ReplayBody>().map_or_else(|| bytes.to_vec(), |replay| replay.0.clone()),
        };
        store
            .write_for(&caller.tenant_id, move |tx| {
                async move { tx.complete_idempotency(&tenant, &key, &stored).await }.boxed()
            })
            .await
    };
    if let Err(error) = result {
        tracing::error!(%error, "could not store the idempotent response");
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    if let Ok(value) = HeaderValue::from_str(&stored.content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

/// Forgets keys older than [`RETENTION`], hourly, for as long as the server runs.
pub async fn purge_periodically(state: AppState) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let before = paystate_store::now() - RETENTION;
        let store = state.ledger.store().clone();
        match store.write(move |tx| async move { tx.purge_idempotency(before).await }.boxed()).await {
            Ok(purged) => tracing::debug!(purged, "purged old idempotency keys"),
            Err(error) => tracing::warn!(%error, "could not purge idempotency keys"),
        }
    }
}
