//! Norce Checkout: the payment adapter's update-payment hook.
//!
//! A Norce Checkout configured with paystate as a payment adapter's hook URL posts the whole
//! updated order to `/api/checkout/v1/callback/orders/{order_id}/payments/{payment_id}/update-payment`.
//! paystate creates or updates its order for (tenant, merchant, Norce order) and its payment for
//! the path's payment from that order, runs the payment's Norce state through the canonical
//! status machine, all in one transaction, and answers an RFC 6902 JSON Patch that brings the
//! checkout's order in line with what paystate knows (`[]` when it already agrees).
//!
//! Errors are in Norce's adapter shape, `{"code", "message"}` (see `errors`). The hook's own
//! statuses are 200, 400 and 404; a missing or wrong key is 401, a key not allowed to write here
//! 403, an oversized body 413 and a busy database 503, as everywhere in paystate.
//!
//! The handler translates: `extract` reads the key, the path and the body, `parse` turns the
//! order into the ledger's checkout use case (`Ledger::sync_checkout`), which decides and writes
//! in one transaction, and `render` answers its result as a JSON Patch.

pub mod errors;
pub mod extract;
pub mod parse;
pub mod render;
pub mod wire;

use crate::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use errors::NorceError;
use extract::{HookBody, HookPath, NorceCaller};
use parse::{Hook, Ids};
use paystate_domain::{Outcome, Source};
use wire::{NorceOrder, NorcePatchOperation};

/// The documented path of the hook.
pub const UPDATE_PAYMENT: &str = "/api/checkout/v1/callback/orders/{order_id}/payments/{payment_id}/update-payment";

#[derive(utoipa::OpenApi)]
#[openapi(paths(update_payment), components(schemas(NorceError)))]
pub struct Doc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(UPDATE_PAYMENT, post(update_payment))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(on_panic))
}

/// A handler that panicked answers in Norce's format, like every other failure of the hook.
pub(crate) fn on_panic(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("the norce hook panicked");
    NorceError::internal().into_response()
}

/// Norce Checkout's payment adapter hook: the checkout sends the whole updated order.
///
/// paystate keeps the order (reference, currency, country, culture, state, total, customer,
/// cart, attributes) and the path's payment (amount, method, PSP reference, state through the
/// canonical status machine), and answers the JSON Patch operations that bring the checkout's
/// order in line with what paystate knows, `[]` when it agrees. Stale and repeated hooks change
/// nothing; a hook that contradicts a settled payment flags it for review and is answered 400.
#[utoipa::path(
    post,
    path = "/api/checkout/v1/callback/orders/{order_id}/payments/{payment_id}/update-payment",
    tag = "norce",
    operation_id = "norce_update_payment",
    params(
        ("order_id" = String, Path, description = "Norce order id; must equal the body's `id`"),
        ("payment_id" = String, Path, description = "Norce payment id; must be in the body's `payments[]`"),
        ("x-merchant" = String, Header, description = "Norce merchant id, one of the tenant's `settings.norce.merchants`; must equal the body's `merchant`", example = "norce"),
        ("x-channel" = String, Header, description = "Norce channel id; must equal the body's `channel`", example = "1"),
    ),
    request_body(
        description = "The whole updated Norce order. Norce's own samples send it as `application/json-patch+json`; that, any other `application/*+json` and a missing content type are read as JSON too (one media type is listed: the body is the order either way, never an RFC 6902 patch, which is what a generator would make of `json-patch+json`).",
        content((NorceOrder = "application/json"))
    ),
    responses(
        (status = 200, description = "RFC 6902 operations for the checkout to apply to its order; `[]` when it agrees with paystate", body = Vec<NorcePatchOperation>),
        (status = 400, description = "A missing header, an invalid field (`order-bad-request`, named in `field`), or a state that contradicts a settled payment (`order-conflict`, recorded and flagged for review)", body = NorceError),
        (status = 401, description = "No valid paystate API key (`unauthorized`)", body = NorceError),
        (status = 403, description = "The key may not write, or is limited to another dialect (`forbidden`)", body = NorceError),
        (status = 404, description = "The merchant is not the tenant's (`order-not-found`), or the payment is not in the order (`payment-not-found`)", body = NorceError),
        (status = 413, description = "The body is above 1 MiB (`payload-too-large`)", body = NorceError),
        (status = 503, description = "The database stayed busy; retry (`service-unavailable`)", body = NorceError),
    ),
    security(("bearer" = []))
)]
pub async fn update_payment(
    State(state): State<AppState>,
    caller: NorceCaller,
    path: HookPath,
    body: HookBody,
) -> Result<Json<Vec<NorcePatchOperation>>, NorceError> {
    let ids =
        Ids { order_id: path.order_id, payment_id: path.payment_id, merchant: body.merchant, channel: body.channel };
    let Hook { sent, update } = parse::parse(&body.value, ids)?;
    let actor = caller.actor(body.text);
    let synced =
        state.ledger.sync_checkout(&actor, update).await.map_err(|error| NorceError::from_checkout(error, &sent))?;
    state.metrics.report(Source::Norce, synced.outcome, synced.payment.status);
    if let Outcome::Conflict { current, .. } = synced.outcome {
        return Err(NorceError::conflict(&sent, &synced.payment, current));
    }
    Ok(Json(render::answer(&sent.payment, &synced.payment)))
}
