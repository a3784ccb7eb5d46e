//! The Teljoy dialect: `POST /api/v1/status/{payment-id}` (also `/api/status/{payment-id}`, which
//! the WooCommerce plugins call). A merchant's shop reports the WooCommerce status of an order's
//! payment; paystate runs it through the canonical status machine and answers
//! `{"success": true}`, or ASP.NET Core problem details. The plugins read the status back with
//! `GET` on the same paths (`{order_id, status, trust_signature}`, see [`render`]).
//!
//! The order of checks follows ASP.NET: the media type, then the body's validation (all messages
//! at once, no data read), then the API key (`api-key` header or `apiKey` property), then the
//! payment (404 beyond the caller's tenant), then, under the payment's lock, the consistency
//! checks `trust_Value` and `trust_Seed`, the seed kept with the payment, and the status command
//! (the ledger's `report_payment`, one transaction).
//!
//! This module owns the routes, the OpenAPI description and the handlers; `extract` reads the
//! key and the body, [`parse`] translates the body, [`render`] writes the answers, `errors` owns
//! the problem details, and [`wire`] the wire types.

pub mod errors;
pub mod extract;
pub mod parse;
pub mod render;
pub mod wire;

use crate::AppState;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::post;
use errors::{Failure, trace_id};
use extract::{API_KEY_HEADER, KeyHeader, PaymentPath, TeljoyJson, TeljoyReader};
use paystate_domain::Source;
use wire::{
    ReadAnswers, StatusAnswers, TeljoyProblem, TeljoyStatusReadBack, TeljoyStatusRequest, TeljoyStatusResponse,
};

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(update_status_v1, update_status, read_status_v1, read_status),
    components(schemas(TeljoyStatusRequest, TeljoyStatusResponse, TeljoyStatusReadBack, TeljoyProblem)),
    modifiers(&ApiKeyHeader)
)]
pub struct Doc;

struct ApiKeyHeader;

impl utoipa::Modify for ApiKeyHeader {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "teljoy_api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                API_KEY_HEADER,
                "A paystate API key, possibly limited to the teljoy dialect: scope write or admin to report a \
                 status (it may instead travel as the body's apiKey property), any scope to read one back.",
            ))),
        );
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/status/{payment-id}", post(update_status_v1).get(read_status_v1).fallback(method_not_allowed))
        .route("/api/status/{payment-id}", post(update_status).get(read_status).fallback(method_not_allowed))
        .layer(axum::middleware::from_fn(errors::with_trace_id))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(on_panic))
}

/// A handler that panicked answers as ASP.NET Core's problem details, like every other failure
/// of this dialect.
pub(crate) fn on_panic(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a teljoy handler panicked");
    Failure::internal().respond("")
}

/// Update Payment Status: reports the WooCommerce status of the payment's order.
///
/// `{payment-id}` is the payment's paystate id or its external id (the provider's UUID).
/// WooCommerce statuses map to paystate's: `pending` and `on-hold` to pending, `processing` and
/// `completed` to paid, `cancelled` to canceled, `failed` to failed, `refunded` to a refund of
/// all that remains of a paid payment, and `checkout-draft` to open (it never moves a payment);
/// any other status (those other plugins add) is a 400 naming the field. The seed of an
/// accepted report is kept with the payment (`attrs.teljoy.trust_seed`) for the read-back. `trust_Value` (MD5 hex of the order id) and
/// `trust_Seed` (base64 of the order's product list in JSON) are consistency checks, not
/// authentication; the API key is. A report that contradicts a settled status is recorded, the
/// payment is flagged for review, and the answer is 409.
#[utoipa::path(post, path = "/api/v1/status/{payment-id}", tag = "teljoy", operation_id = "teljoy_update_status_v1",
    params(("payment-id" = String, Path, description = "the payment's id or external id")),
    request_body(content = TeljoyStatusRequest, content_type = "application/json"),
    responses(StatusAnswers),
    security(("teljoy_api_key" = [])))]
pub async fn update_status_v1(
    State(state): State<AppState>,
    path: PaymentPath,
    key: KeyHeader,
    TeljoyJson(body): TeljoyJson,
) -> Result<Response, Failure> {
    report_status(state, path, key, body).await
}

/// Update Payment Status, at the path the WooCommerce plugins call; the same as `/api/v1/status/{payment-id}`.
#[utoipa::path(post, path = "/api/status/{payment-id}", tag = "teljoy", operation_id = "teljoy_update_status",
    params(("payment-id" = String, Path, description = "the payment's id or external id")),
    request_body(content = TeljoyStatusRequest, content_type = "application/json"),
    responses(StatusAnswers),
    security(("teljoy_api_key" = [])))]
pub async fn update_status(
    State(state): State<AppState>,
    path: PaymentPath,
    key: KeyHeader,
    TeljoyJson(body): TeljoyJson,
) -> Result<Response, Failure> {
    report_status(state, path, key, body).await
}

/// Read Payment Status, as the WooCommerce plugins read it back: the shop's order id, the
/// payment's status in Teljoy's words, and `trust_signature`.
///
/// `{payment-id}` (the plugins' transaction id) is the payment's paystate id or its external id.
/// `status` is `pending` (paystate's open and pending), `confirmed` (authorized), `complete`
/// (paid, refunds included), `failed`, or `cancelled` (expired, canceled, reversed, or a deleted
/// payment). `trust_signature` is hex SHA-256 of (hex MD5 of `order_id`, then the last
/// `trust_Seed` the shop sent with a status report; the empty string when it sent none). Any
/// scope may read; the key travels in the `api-key` header only.
#[utoipa::path(get, path = "/api/v1/status/{payment-id}", tag = "teljoy", operation_id = "teljoy_read_status_v1",
    params(("payment-id" = String, Path, description = "the payment's id or external id (the plugins' transaction id)")),
    responses(ReadAnswers),
    security(("teljoy_api_key" = [])))]
pub async fn read_status_v1(
    State(state): State<AppState>,
    TeljoyReader(caller): TeljoyReader,
    path: PaymentPath,
) -> Result<Response, Failure> {
    let read = state.ledger.payment_with_order(&caller.tenant_id, &path.or_not_found()?).await?;
    Ok(render::read_back(&read))
}

/// Read Payment Status, at the path the WooCommerce plugins call; the same as `GET /api/v1/status/{payment-id}`.
#[utoipa::path(get, path = "/api/status/{payment-id}", tag = "teljoy", operation_id = "teljoy_read_status",
    params(("payment-id" = String, Path, description = "the payment's id or external id (the plugins' transaction id)")),
    responses(ReadAnswers),
    security(("teljoy_api_key" = [])))]
pub async fn read_status(
    State(state): State<AppState>,
    reader: TeljoyReader,
    path: PaymentPath,
) -> Result<Response, Failure> {
    read_status_v1(State(state), reader, path).await
}

/// A status report: validated whole, then authenticated, then reported to the ledger, which
/// checks it against the payment and its order in the same transaction as it writes.
async fn report_status(
    state: AppState,
    path: PaymentPath,
    key: KeyHeader,
    body: serde_json::Map<String, serde_json::Value>,
) -> Result<Response, Failure> {
    let (update, mut errors) = parse::bind(&body);
    let api_key = key.presented_key(update.api_key.as_deref(), &mut errors);
    let report = parse::report(&body, update, api_key, errors)?;
    let caller = key.writer(&state, &report.api_key).await?;
    let payment_id = path.or_not_found()?;

    let actor = caller.actor(Source::Teljoy, Some(report.audit_body.clone()));
    let check = report.check.for_path(&payment_id);
    let reported = state.ledger.report_payment(&actor, parse::ledger_report(&report, payment_id), check).await?;

    state.metrics.report(Source::Teljoy, reported.outcome, reported.payment.status);
    render::report(&reported, report.status)
}

async fn method_not_allowed(request: Request) -> Response {
    let mut response = Failure::method_not_allowed().respond(&trace_id(request.extensions()));
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
    response
}
