//! Gormic Order Management: a shop or POS records receipts and refunds of orders.
//!
//! `POST /v1/om/payments` creates a payment, `PATCH /v1/om/payments/{uid}` changes one,
//! `PATCH /v1/om/payments/{uid}/confirm` completes one and `DELETE /v1/om/payments/{uid}` removes
//! one. Callers authenticate with an `api-key` header (a paystate API key, possibly limited to
//! this dialect) and an `organization-id` that names the key's tenant (its id, or the alias in
//! the tenant setting `gormic.organization_id`). Answers are Gormic's envelope; refusals are
//! `{"error": {"code", "message"}}`, HTTP 400 for the documented rule codes.
//!
//! A translator, as every dialect: [`extract`] reads the credential and the body, [`parse`] turns
//! `params` into the ledger's payment desk inputs, the ledger decides (its `payment_desk` use
//! case, with the domain's order book rules), [`render`] writes the outcome in Gormic's words and
//! [`errors`] its refusals; [`wire`] holds the wire types.

pub mod errors;
pub mod extract;
pub mod parse;
mod render;
pub mod wire;

pub use errors::Refusal;

use crate::AppState;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use extract::{GormicCaller, Params};
use paystate_domain::Source;
use paystate_ledger::payment_desk::StatusReport;
use serde::Serialize;
use wire::{Created, Envelope, ErrorBody, Items, Updated};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/om/payments", post(create).fallback(method_not_allowed))
        .route("/v1/om/payments/{uid}", patch(update).delete(delete).fallback(method_not_allowed))
        .route("/v1/om/payments/{uid}/confirm", patch(confirm).fallback(method_not_allowed))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(on_panic))
}

/// A handler that panicked answers in Gormic's format, like every other failure of this dialect.
pub(crate) fn on_panic(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a gormic handler panicked");
    Refusal::internal().into_response()
}

async fn method_not_allowed() -> Refusal {
    Refusal::new(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "this route does not take that method")
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(create, update, confirm, delete),
    components(schemas(wire::ErrorDetail, wire::Item, wire::MethodItem, wire::LocaleItem)),
    modifiers(&ApiKeyAuth),
    tags((name = "gormic", description = "Gormic Order Management & POS: receipts and refunds of orders"))
)]
pub struct Doc;

struct ApiKeyAuth;

impl utoipa::Modify for ApiKeyAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .add_security_scheme("gormic_api_key", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("api-key"))));
    }
}

// --- the steps every handler shares ---------------------------------------------------------

fn uid_of(path: Result<Path<String>, PathRejection>) -> Result<String, Refusal> {
    path.map(|Path(uid)| uid).map_err(|_| Refusal::not_found("payment"))
}

/// Counts the status reports of a committed change.
fn count(state: &AppState, reports: &[StatusReport]) {
    for report in reports {
        state.metrics.report(Source::Gormic, report.outcome, report.status);
    }
}

fn answer<T: Serialize>(state: &AppState, caller: &GormicCaller, data: T) -> Response {
    let envelope = render::envelope(&state.config.instance_id, &caller.request_id, data);
    (StatusCode::OK, axum::Json(envelope)).into_response()
}

// --- handlers ---------------------------------------------------------------------------------

/// Creates a payment (a receipt, or a refund of a completed receipt) of an order.
#[utoipa::path(post, path = "/v1/om/payments", operation_id = "gormic_create", tag = "gormic", request_body = wire::CreateRequest,
    params(("organization-id" = String, Header, description = "the key's tenant id, or its alias in settings.gormic.organization_id")),
    responses(
        (status = 200, body = Envelope<Created>),
        (status = 400, body = ErrorBody, description = "InvalidParameter, MethodNotFound, LIMIT_REACHED, ORDER_CLOSED or ORDER_CANCELED"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody, description = "no such order")),
    security(("gormic_api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: GormicCaller,
    Params { raw, params }: Params<true>,
) -> Result<Response, Refusal> {
    let input = parse::create(&params)?;
    let created = state.ledger.desk_create(&caller.actor(&raw), input).await?;
    count(&state, &created.reports);
    Ok(answer(&state, &caller, Created { id: created.id.to_string() }))
}

/// Changes a payment's amount, method and other fields, or its status. A complete payment
/// changes only with `correction: true` (reversing it needs none).
#[utoipa::path(patch, path = "/v1/om/payments/{uid}", operation_id = "gormic_update", tag = "gormic", request_body = wire::UpdateRequest,
    params(("uid" = String, Path, description = "the payment's id"),
        ("organization-id" = String, Header, description = "the key's tenant id, or its alias in settings.gormic.organization_id")),
    responses(
        (status = 200, body = Envelope<Updated>),
        (status = 400, body = ErrorBody, description = "InvalidParameter, INVALID_STATUS, MethodNotFound, LIMIT_REACHED, ORDER_CLOSED or ORDER_CANCELED"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("gormic_api_key" = [])))]
pub async fn update(
    State(state): State<AppState>,
    caller: GormicCaller,
    uid: Result<Path<String>, PathRejection>,
    Params { raw, params }: Params<true>,
) -> Result<Response, Refusal> {
    let uid = uid_of(uid)?;
    let change = parse::update(&params)?;
    let after = state.ledger.desk_change(&caller.actor(&raw), &uid, change).await?;
    count(&state, &after.reports);
    Ok(answer(&state, &caller, Updated { success: true }))
}

/// Completes a pending or progress payment; confirming a complete one again changes nothing.
#[utoipa::path(patch, path = "/v1/om/payments/{uid}/confirm", operation_id = "gormic_confirm", tag = "gormic",
    request_body(content = Option<wire::ConfirmRequest>, description = "optional: the body may be left out"),
    params(("uid" = String, Path, description = "the payment's id"),
        ("organization-id" = String, Header, description = "the key's tenant id, or its alias in settings.gormic.organization_id")),
    responses(
        (status = 200, body = Envelope<Items>, description = "the order's payments after the change and the methods they use"),
        (status = 400, body = ErrorBody, description = "InvalidParameter, INVALID_STATUS, LIMIT_REACHED, ORDER_CLOSED or ORDER_CANCELED"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("gormic_api_key" = [])))]
pub async fn confirm(
    State(state): State<AppState>,
    caller: GormicCaller,
    uid: Result<Path<String>, PathRejection>,
    Params { raw, params }: Params<false>,
) -> Result<Response, Refusal> {
    let uid = uid_of(uid)?;
    let change = parse::confirm(&params)?;
    let after = state.ledger.desk_change(&caller.actor(&raw), &uid, change).await?;
    count(&state, &after.reports);
    Ok(answer(&state, &caller, render::items(&after)))
}

/// Deletes (soft) a payment that is not complete; deleting it again changes nothing.
#[utoipa::path(delete, path = "/v1/om/payments/{uid}", operation_id = "gormic_delete", tag = "gormic",
    params(("uid" = String, Path, description = "the payment's id"),
        ("organization-id" = String, Header, description = "the key's tenant id, or its alias in settings.gormic.organization_id")),
    responses(
        (status = 200, body = Envelope<Items>, description = "the order's payments after the change and the methods they use"),
        (status = 400, body = ErrorBody, description = "INVALID_STATUS, ORDER_CLOSED or ORDER_CANCELED"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("gormic_api_key" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    caller: GormicCaller,
    uid: Result<Path<String>, PathRejection>,
) -> Result<Response, Refusal> {
    let uid = uid_of(uid)?;
    let after = state.ledger.desk_delete(&caller.actor(&Bytes::new()), &uid).await?;
    Ok(answer(&state, &caller, render::items(&after)))
}
