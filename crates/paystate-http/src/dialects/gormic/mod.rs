//! Gormic Order Management: a shop or POS records receipts and refunds of orders.
//!
//! `POST /v1/om/payments` creates a payment, `PATCH /v1/om/payments/{uid}` changes one,
//! `PATCH /v1/om/payments/{uid}/confirm` completes one and `DELETE /v1/om/payments/{uid}` removes
//! one. Callers authenticate with an `api-key` header (a paystate API key, possibly limited to
//! this dialect) and an `organization-id` that names the key's tenant (its id, or the alias in
//! the tenant setting `gormic.organization_id`). Answers are Gormic's envelope; refusals are
//! `{"error": {"code", "message"}}`, HTTP 400 for the documented rule codes.
//!
//! [`transformers`] holds the wire format, the status mapping and the rules; [`jobs`] the
//! transactions that apply them through the ledger's status machine.

mod jobs;
pub mod transformers;

use crate::AppState;
use crate::auth::{AuthFailure, authenticate};
use crate::extract::{body_bytes, has_nul};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use paystate_domain::{Actor, DomainError, OrderState, Source};
use paystate_store::{Scope, StoreError};
use serde::Serialize;
use transformers::{Created, Envelope, ErrorBody, Items, Updated};

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
    components(schemas(transformers::ErrorDetail, transformers::Item, transformers::MethodItem, transformers::LocaleItem)),
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

// --- refusals ---------------------------------------------------------------------------------

/// A refusal in Gormic's format: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Refusal { status, code, message: message.into() }
    }

    /// A malformed, missing or out-of-range field, named by its path (`params.amount`).
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidParameter", format!("{field}: {}", message.into()))
    }

    /// An action the payment's status does not allow.
    pub fn invalid_status(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_STATUS", message)
    }

    /// Refunds beyond what the order's receipts paid.
    pub fn limit_reached(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "LIMIT_REACHED", message)
    }

    pub fn method_not_found(method: &str) -> Self {
        let method: String = method.chars().take(64).collect();
        Self::new(
            StatusCode::BAD_REQUEST,
            "MethodNotFound",
            format!("params.methodId: {method:?} is not a visible payment method of the organization"),
        )
    }

    pub fn order_closed() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ORDER_CLOSED", "the order is closed and takes no changes")
    }

    pub fn order_canceled() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ORDER_CANCELED", "the order is canceled and takes no changes")
    }

    /// Missing, unknown, wrong or foreign credentials: always this very answer.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "a valid api-key and its organization-id are required")
    }

    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", "this api-key may only read; changes need scope write")
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", format!("no such {what}"))
    }

    pub fn unavailable() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", "the service is busy; retry shortly")
    }

    fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "the request could not be completed")
    }
}

impl From<DomainError> for Refusal {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Invalid { field, message } => {
                Refusal::invalid(&format!("params.{}", wire_name(field)), message)
            }
            DomainError::UnknownCurrency(_) | DomainError::TooManyDecimals { .. } | DomainError::AmountOutOfRange => {
                Refusal::invalid("params.amount", error.to_string())
            }
            DomainError::ExceedsAvailable { .. } => Refusal::limit_reached(error.to_string()),
            DomainError::NotAllowed { status, action } => {
                let hint = if action == "update" { " without correction: true" } else { "" };
                let status = transformers::Status::of_canonical(status).as_str();
                Refusal::invalid_status(format!("the payment is {status}; it does not allow {action}{hint}"))
            }
            DomainError::Deleted => Refusal::not_found("payment"),
            DomainError::OrderNotOpen(OrderState::Canceled) => Refusal::order_canceled(),
            DomainError::OrderNotOpen(_) => Refusal::order_closed(),
        }
    }
}

/// The Gormic name of a domain field.
fn wire_name(field: &str) -> &str {
    match field {
        "method_id" => "methodId",
        "source_payment_id" => "sourcePaymentId",
        "transaction_ref" => "transactionRef",
        "invoice_id" => "invoiceId",
        "external_id" => "id",
        other => other,
    }
}

impl From<StoreError> for Refusal {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Refusal::not_found("payment"),
            StoreError::Domain(domain) => domain.into(),
            StoreError::InvalidValue(detail) => Refusal::invalid("params", detail),
            StoreError::Busy | StoreError::VersionConflict => Refusal::unavailable(),
            other => {
                tracing::error!(error = %other, "storage failure");
                Refusal::internal()
            }
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: transformers::ErrorDetail { code: self.code.into(), message: self.message } };
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

// --- the request's context ------------------------------------------------------------------

/// The authenticated caller of a Gormic request.
struct Context {
    caller: crate::auth::Caller,
    request_id: String,
}

impl Context {
    /// Checks `api-key` and `organization-id`. Every credential failure, including a valid key
    /// presented with an organization that is not its tenant or a key limited to another
    /// dialect, gets the same 401, so that a caller learns nothing about keys or tenants.
    async fn authorize(state: &AppState, parts: &Parts) -> Result<Context, Refusal> {
        let request_id = crate::auth::request_id(parts);
        let header =
            |name: &str| crate::auth::single_header(&parts.headers, name).map(str::trim).filter(|v| !v.is_empty());
        let (Some(key), Some(organization)) = (header("api-key"), header("organization-id")) else {
            return Err(Refusal::unauthorized());
        };
        let caller = match authenticate(state, key, Source::Gormic, &request_id).await {
            Ok(caller) => caller,
            Err(AuthFailure::Unavailable) => return Err(Refusal::unavailable()),
            Err(AuthFailure::Unauthorized | AuthFailure::WrongDialect) => return Err(Refusal::unauthorized()),
        };
        let tenant = match state.ledger.tenant(&caller.tenant_id).await {
            Ok(tenant) => tenant,
            Err(StoreError::NotFound) => return Err(Refusal::unauthorized()),
            Err(error) => return Err(error.into()),
        };
        let alias = match tenant.setting(&["gormic", "organization_id"]) {
            Some(serde_json::Value::String(alias)) => Some(alias.clone()),
            Some(serde_json::Value::Number(alias)) => Some(alias.to_string()),
            _ => None,
        };
        if organization != tenant.id.as_str() && alias.as_deref() != Some(organization) {
            return Err(Refusal::unauthorized());
        }
        if caller.scope < Scope::Write {
            return Err(Refusal::forbidden());
        }
        Ok(Context { caller, request_id })
    }

    /// The actor of this request's changes; the body (no secret travels in it) goes to the audit trail.
    fn actor(&self, body: &Bytes) -> Actor {
        let raw = (!body.is_empty()).then(|| String::from_utf8_lossy(body).into_owned());
        self.caller.actor(Source::Gormic, raw)
    }

    fn answer<T: Serialize>(&self, state: &AppState, data: T) -> Response {
        let envelope = Envelope {
            app: transformers::APP,
            service: transformers::SERVICE,
            warnings: Vec::new(),
            instance_id: state.config.instance_id.clone(),
            request_id: self.request_id.clone(),
            data,
        };
        (StatusCode::OK, axum::Json(envelope)).into_response()
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Reads the body within the 1 MiB cap; a body that is not JSON by its declared type, or that
/// carries a NUL character, is refused. A body without a content type is read as JSON.
async fn read_body(parts: &Parts, body: Body) -> Result<Bytes, Refusal> {
    let bytes = body_bytes(&parts.headers, body)
        .await
        .map_err(|_| Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", "the body exceeds 1 MiB"))?;
    let content_type = parts.headers.get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap_or("?"));
    if !bytes.iter().all(u8::is_ascii_whitespace) && content_type.is_some_and(|t| !is_json(t)) {
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the body as application/json",
        ));
    }
    if has_nul(&bytes) {
        return Err(Refusal::invalid("body", "NUL characters are not accepted"));
    }
    Ok(bytes)
}

fn uid_of(path: Result<Path<String>, PathRejection>) -> Result<String, Refusal> {
    path.map(|Path(uid)| uid).map_err(|_| Refusal::not_found("payment"))
}

fn respond(result: Result<Response, Refusal>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

// --- handlers ---------------------------------------------------------------------------------

/// Creates a payment (a receipt, or a refund of a completed receipt) of an order.
#[utoipa::path(post, path = "/v1/om/payments", operation_id = "gormic_create", tag = "gormic", request_body = transformers::CreateRequest,
    params(("organization-id" = String, Header, description = "the key's tenant id, or its alias in settings.gormic.organization_id")),
    responses(
        (status = 200, body = Envelope<Created>),
        (status = 400, body = ErrorBody, description = "InvalidParameter, MethodNotFound, LIMIT_REACHED, ORDER_CLOSED or ORDER_CANCELED"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody, description = "no such order")),
    security(("gormic_api_key" = [])))]
pub async fn create(State(state): State<AppState>, request: Request) -> Response {
    respond(
        async {
            let (parts, body) = request.into_parts();
            let context = Context::authorize(&state, &parts).await?;
            let bytes = read_body(&parts, body).await?;
            let create = transformers::create(transformers::params(&bytes, true)?)?;
            let id = jobs::create(&state, context.actor(&bytes), create).await?;
            Ok(context.answer(&state, Created { id: id.to_string() }))
        }
        .await,
    )
}

/// Changes a payment's amount, method and other fields, or its status. A complete payment
/// changes only with `correction: true` (reversing it needs none).
#[utoipa::path(patch, path = "/v1/om/payments/{uid}", operation_id = "gormic_update", tag = "gormic", request_body = transformers::UpdateRequest,
    params(("uid" = String, Path, description = "the payment's id"),
        ("organization-id" = String, Header, description = "the key's tenant id, or its alias in settings.gormic.organization_id")),
    responses(
        (status = 200, body = Envelope<Updated>),
        (status = 400, body = ErrorBody, description = "InvalidParameter, INVALID_STATUS, MethodNotFound, LIMIT_REACHED, ORDER_CLOSED or ORDER_CANCELED"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("gormic_api_key" = [])))]
pub async fn update(
    State(state): State<AppState>,
    uid: Result<Path<String>, PathRejection>,
    request: Request,
) -> Response {
    respond(
        async {
            let (parts, body) = request.into_parts();
            let context = Context::authorize(&state, &parts).await?;
            let uid = uid_of(uid)?;
            let bytes = read_body(&parts, body).await?;
            let change = transformers::update(transformers::params(&bytes, true)?)?;
            jobs::change(&state, context.actor(&bytes), uid, change).await?;
            Ok(context.answer(&state, Updated { success: true }))
        }
        .await,
    )
}

/// Completes a pending or progress payment; confirming a complete one again changes nothing.
#[utoipa::path(patch, path = "/v1/om/payments/{uid}/confirm", operation_id = "gormic_confirm", tag = "gormic",
    request_body(content = Option<transformers::ConfirmRequest>, description = "optional: the body may be left out"),
    params(("uid" = String, Path, description = "the payment's id"),
        ("organization-id" = String, Header, description = "the key's tenant id, or its alias in settings.gormic.organization_id")),
    responses(
        (status = 200, body = Envelope<Items>, description = "the order's payments after the change and the methods they use"),
        (status = 400, body = ErrorBody, description = "InvalidParameter, INVALID_STATUS, LIMIT_REACHED, ORDER_CLOSED or ORDER_CANCELED"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("gormic_api_key" = [])))]
pub async fn confirm(
    State(state): State<AppState>,
    uid: Result<Path<String>, PathRejection>,
    request: Request,
) -> Response {
    respond(
        async {
            let (parts, body) = request.into_parts();
            let context = Context::authorize(&state, &parts).await?;
            let uid = uid_of(uid)?;
            let bytes = read_body(&parts, body).await?;
            let change = transformers::confirm(transformers::params(&bytes, false)?)?;
            let book = jobs::change(&state, context.actor(&bytes), uid, change).await?;
            Ok(context.answer(&state, book.items()))
        }
        .await,
    )
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
    uid: Result<Path<String>, PathRejection>,
    request: Request,
) -> Response {
    respond(
        async {
            let (parts, _) = request.into_parts();
            let context = Context::authorize(&state, &parts).await?;
            let uid = uid_of(uid)?;
            let book = jobs::delete(&state, context.actor(&Bytes::new()), uid).await?;
            Ok(context.answer(&state, book.items()))
        }
        .await,
    )
}
