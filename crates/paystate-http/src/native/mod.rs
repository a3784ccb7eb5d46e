//! paystate's own REST API under `/v1`: JSON, bearer API keys, problem+json errors,
//! cursor pagination and `Idempotency-Key` on every change.

pub mod events;
pub mod keys;
pub mod methods;
pub mod orders;
pub mod payments;
pub mod stream;
pub mod tenant;
pub mod webhooks;

use crate::AppState;
use crate::auth::Caller;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::{Deserialize, Serialize};

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/v1/orders", post(orders::create).get(orders::list))
        .route("/v1/orders/{id}", get(orders::get).patch(orders::patch))
        .route("/v1/orders/{id}/state", post(orders::set_state))
        .route("/v1/payments", post(payments::create).get(payments::list))
        .route("/v1/payments/{id}", get(payments::get).patch(payments::patch).delete(payments::delete))
        .route("/v1/payments/{id}/status", post(payments::report_status))
        .route("/v1/payments/{id}/refunds", post(payments::refund))
        .route("/v1/payments/{id}/chargebacks", post(payments::chargeback))
        .route("/v1/payments/{id}/resolve", post(payments::resolve))
        .route("/v1/payments/{id}/events", get(events::of_payment))
        .route("/v1/payment-methods", post(methods::create).get(methods::list))
        .route("/v1/payment-methods/{id}", get(methods::get).patch(methods::patch))
        .route("/v1/events", get(events::list))
        .route("/v1/events/stream", get(stream::stream))
        .route("/v1/tenant", get(tenant::get).patch(tenant::patch))
        .route("/v1/api-keys", post(keys::create).get(keys::list))
        .route("/v1/api-keys/{id}", axum::routing::delete(keys::revoke))
        .route("/v1/webhook-endpoints", post(webhooks::create).get(webhooks::list))
        .route("/v1/webhook-endpoints/{id}", get(webhooks::get).patch(webhooks::patch).delete(webhooks::delete))
        .route("/v1/webhook-endpoints/{id}/rotate-secret", post(webhooks::rotate_secret))
        .route("/v1/webhook-endpoints/{id}/deliveries", get(webhooks::endpoint_deliveries))
        .route("/v1/webhook-endpoints/{id}/retry-failed", post(webhooks::retry_failed))
        .route("/v1/webhook-endpoints/{id}/test", post(webhooks::test))
        .route("/v1/webhook-deliveries/{id}", get(webhooks::get_delivery))
        .route("/v1/webhook-deliveries/{id}/retry", post(webhooks::retry))
        .route("/v1/events/{id}/deliveries", get(webhooks::event_deliveries))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), crate::idempotency::idempotency))
        .route_layer(axum::middleware::from_fn_with_state(state, crate::auth::require_native_key))
}

/// What every native handler starts from: the server's state and the API key that called
/// (`require_native_key` put it in the request's extensions).
pub struct Native {
    pub state: AppState,
    pub caller: Caller,
}

impl FromRequestParts<AppState> for Native {
    type Rejection = <Extension<Caller> as FromRequestParts<AppState>>::Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Extension(caller) = Extension::<Caller>::from_request_parts(parts, state).await?;
        Ok(Native { state: state.clone(), caller })
    }
}

/// A page of a list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ListOf<T> {
    pub data: Vec<T>,
    pub has_more: bool,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> From<paystate_ledger::Page<T>> for ListOf<T> {
    fn from(page: paystate_ledger::Page<T>) -> Self {
        ListOf::of(page, |item| item)
    }
}

impl<T> ListOf<T> {
    /// A page of the ledger, each item turned into its `view`.
    pub fn of<U>(page: paystate_ledger::Page<U>, view: impl FnMut(U) -> T) -> Self {
        ListOf {
            data: page.data.into_iter().map(view).collect(),
            has_more: page.has_more,
            next_cursor: page.next_cursor,
        }
    }
}

/// `limit` (1 to 100, default 20) and `cursor` of a list request.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct Paging {
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(min_length = 1, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")]
    pub cursor: Option<String>,
}

impl Paging {
    pub fn page(&self) -> crate::problem::ApiResult<paystate_store::PageRequest> {
        let limit = self.limit.unwrap_or(20);
        if !(1..=100).contains(&limit) {
            return Err(crate::problem::ApiError::invalid("limit", "must be between 1 and 100"));
        }
        // A cursor is an id this API handed out: printable text, never a control character.
        if self.cursor.as_deref().is_some_and(|cursor| cursor.is_empty() || cursor.chars().any(char::is_control)) {
            return Err(crate::problem::ApiError::invalid("cursor", "is not a cursor this API handed out"));
        }
        Ok(paystate_store::PageRequest { after: self.cursor.clone(), limit })
    }
}
