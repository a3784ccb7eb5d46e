//! The Teljoy dialect: `POST /api/v1/status/{payment-id}` (also `/api/status/{payment-id}`, which
//! the WooCommerce plugins call). A merchant's shop reports the WooCommerce status of an order's
//! payment; paystate runs it through the canonical status machine and answers
//! `{"success": true}`, or ASP.NET Core problem details. The plugins read the status back with
//! `GET` on the same paths (`{order_id, status, trust_signature}`, see [`render`]).
//!
//! The order of checks follows ASP.NET: the media type, then the body's validation (all messages
//! at once, no data read), then the API key (`api-key` header or `apiKey` property), then the
//! payment (404 beyond the caller's tenant), then, under the payment's lock, the consistency
//! checks `trust_Value` and `trust_Seed`, the seed kept with the payment, and the status command.

mod errors;
pub mod render;
pub mod transformers;

use crate::AppState;
use crate::auth::{AuthFailure, authenticate};
use crate::extract::{body_bytes, has_nul};
use crate::observe::RequestId;
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use errors::Failure;
use futures::FutureExt;
use paystate_domain::{Outcome, Payment, PaymentCommand, PaymentPatch, PaymentStatus, Source};
use paystate_ledger::{apply, find_payment};
use paystate_store::{Scope, StoreError};
use render::TeljoyStatusReadBack;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;
use transformers::{
    API_KEY, Errors, ID, STATUS, SeedError, StatusUpdate, TRUST_SEED, TRUST_VALUE, TeljoyProblem, TeljoyStatusRequest,
    TeljoyStatusResponse, WooStatus,
};

/// The header the document names for the key.
const API_KEY_HEADER: &str = "api-key";
/// How often a report is retried when its payment changed between read and write.
const VERSION_RETRIES: usize = 5;

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
pub async fn update_status_v1(State(state): State<AppState>, request: Request) -> Response {
    handle(state, request).await
}

/// The answers of the status route, documented once for both of its paths.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // describes the answers for OpenAPI; the handler builds them itself
enum StatusAnswers {
    /// accepted: applied, already so, or an earlier status delivered late
    #[response(status = 200)]
    Accepted(TeljoyStatusResponse),
    /// validation errors, by property
    #[response(status = 400, content_type = "application/problem+json")]
    Invalid(TeljoyProblem),
    /// unknown or wrong API key
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(TeljoyProblem),
    /// a read-only key, or one limited to another API
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(TeljoyProblem),
    /// no such payment for this key's tenant
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(TeljoyProblem),
    /// contradicts the payment's settled status; recorded and flagged for review
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(TeljoyProblem),
    /// the body is not JSON
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(TeljoyProblem),
    /// an internal failure
    #[response(status = 500, content_type = "application/problem+json")]
    Internal(TeljoyProblem),
}

/// Update Payment Status, at the path the WooCommerce plugins call; the same as `/api/v1/status/{payment-id}`.
#[utoipa::path(post, path = "/api/status/{payment-id}", tag = "teljoy", operation_id = "teljoy_update_status",
    params(("payment-id" = String, Path, description = "the payment's id or external id")),
    request_body(content = TeljoyStatusRequest, content_type = "application/json"),
    responses(StatusAnswers),
    security(("teljoy_api_key" = [])))]
pub async fn update_status(State(state): State<AppState>, request: Request) -> Response {
    handle(state, request).await
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
pub async fn read_status_v1(State(state): State<AppState>, request: Request) -> Response {
    read(state, request).await
}

/// Read Payment Status, at the path the WooCommerce plugins call; the same as `GET /api/v1/status/{payment-id}`.
#[utoipa::path(get, path = "/api/status/{payment-id}", tag = "teljoy", operation_id = "teljoy_read_status",
    params(("payment-id" = String, Path, description = "the payment's id or external id (the plugins' transaction id)")),
    responses(ReadAnswers),
    security(("teljoy_api_key" = [])))]
pub async fn read_status(State(state): State<AppState>, request: Request) -> Response {
    read(state, request).await
}

/// The answers of the read-back, documented once for both of its paths.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // describes the answers for OpenAPI; the handler builds them itself
enum ReadAnswers {
    /// the payment's status
    #[response(status = 200)]
    Found(TeljoyStatusReadBack),
    /// a missing, repeated, unknown, wrong, revoked or expired `api-key`, the same body for all
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(TeljoyProblem),
    /// a key limited to another API
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(TeljoyProblem),
    /// no such payment for this key's tenant
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(TeljoyProblem),
    /// the database is busy; retry
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(TeljoyProblem),
    /// an internal failure
    #[response(status = 500, content_type = "application/problem+json")]
    Internal(TeljoyProblem),
}

async fn method_not_allowed(request: Request) -> Response {
    let mut response = Failure::method_not_allowed().respond(&trace_id(request.extensions()));
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
    response
}

fn trace_id(extensions: &axum::http::Extensions) -> String {
    extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default()
}

async fn handle(state: AppState, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let trace = trace_id(&parts.extensions);
    // A path that does not decode names no payment: answered 404 once the caller is known.
    let path_id = Path::<String>::from_request_parts(&mut parts, &state).await.ok().map(|Path(id)| id);
    match run(&state, &parts.headers, body, path_id, &trace).await {
        Ok(()) => json_answer(&TeljoyStatusResponse { success: true }),
        Err(failure) => failure.respond(&trace),
    }
}

/// A 200 with a JSON body, as ASP.NET writes it (`charset=utf-8`).
fn json_answer(body: &impl serde::Serialize) -> Response {
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    response
}

async fn read(state: AppState, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let trace = trace_id(&parts.extensions);
    let path_id = Path::<String>::from_request_parts(&mut parts, &state).await.ok().map(|Path(id)| id);
    match read_back(&state, &parts.headers, path_id, &trace).await {
        Ok(answer) => {
            let mut response = json_answer(&answer);
            // A status changes: no cache between the shop and paystate may keep an old one.
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(failure) => failure.respond(&trace),
    }
}

/// The read-back: the key (one `api-key` header; a request has no body to carry it), then the
/// payment and its order, read together.
async fn read_back(
    state: &AppState,
    headers: &HeaderMap,
    path_id: Option<String>,
    trace: &str,
) -> Result<TeljoyStatusReadBack, Failure> {
    // Missing, empty or sent twice: refused exactly like a wrong key.
    let key = crate::auth::single_header(headers, API_KEY_HEADER)
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .ok_or_else(Failure::unauthorized)?;
    let caller = match authenticate(state, key, Source::Teljoy, trace).await {
        Ok(caller) => caller,
        Err(AuthFailure::Unauthorized) => return Err(Failure::unauthorized()),
        Err(AuthFailure::WrongDialect) => return Err(Failure::forbidden("This API key is limited to another API.")),
        Err(AuthFailure::Unavailable) => return Err(Failure::unavailable()),
    };
    // Every scope may read. No payment has an id or external id outside these bounds.
    let Some(path_id) = path_id.filter(|id| paystate_domain::order::validate_reference("id", id).is_ok()) else {
        return Err(Failure::not_found());
    };
    let tenant = caller.tenant_id;
    let answer = state
        .ledger
        .query(move |reader| {
            async move {
                let payment = find_payment(reader, &tenant, &path_id).await?;
                let order = reader.order(&tenant, &payment.order_id).await?.ok_or(StoreError::NotFound)?;
                Ok(TeljoyStatusReadBack::of(&payment, &order.reference))
            }
            .boxed()
        })
        .await?;
    Ok(answer)
}

/// A report that passed validation: what the job needs.
#[derive(Clone)]
struct Report {
    object: Map<String, Value>,
    update: StatusUpdate,
    status: WooStatus,
    /// `Ok` when the seed decoded, `Err` when it did not, `None` when none was given.
    seed: Option<Result<Value, SeedError>>,
}

async fn run(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    path_id: Option<String>,
    trace: &str,
) -> Result<(), Failure> {
    if !is_json(headers) {
        return Err(Failure::unsupported_media_type());
    }
    let bytes = body_bytes(headers, body).await.map_err(|_| Failure::too_large())?;
    if bytes.is_empty() {
        return Err(Failure::invalid("", "A non-empty request body is required."));
    }
    if has_nul(&bytes) {
        return Err(Failure::invalid("$", "NUL characters are not accepted."));
    }
    let object = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(object)) => object,
        Ok(_) => return Err(Failure::invalid("$", "The request body must be a JSON object.")),
        Err(_) => return Err(Failure::invalid("$", "The request body is not valid JSON.")),
    };

    let mut errors = Errors::default();
    let update = transformers::bind(&object, &mut errors);
    let key = presented_key(headers, update.api_key.as_deref(), &mut errors);
    let status = match update.status.as_deref() {
        None if !errors.0.contains_key(STATUS) => {
            errors.required(STATUS);
            None
        }
        None => None,
        Some(text) => {
            let parsed = WooStatus::parse(text);
            if parsed.is_none() {
                errors.add(STATUS, WooStatus::allowed_message());
            }
            parsed
        }
    };
    let (Some(key), Some(status), true) = (key, status, errors.is_empty()) else {
        return Err(Failure::validation(errors));
    };

    let caller = match authenticate(state, &key, Source::Teljoy, trace).await {
        Ok(caller) => caller,
        Err(AuthFailure::Unauthorized) => return Err(Failure::unauthorized()),
        Err(AuthFailure::WrongDialect) => return Err(Failure::forbidden("This API key is limited to another API.")),
        Err(AuthFailure::Unavailable) => return Err(Failure::unavailable()),
    };
    if caller.require(Scope::Write).is_err() {
        return Err(Failure::forbidden("This API key may only read; reporting a status needs scope write."));
    }
    // No payment has an id or external id outside these bounds: no need to ask the database.
    let Some(path_id) = path_id.filter(|id| paystate_domain::order::validate_reference("id", id).is_ok()) else {
        return Err(Failure::not_found());
    };

    let seed = update.trust_seed.as_deref().map(transformers::decode_seed);
    let report = Report { object, update, status, seed };
    let actor = caller.actor(Source::Teljoy, None);
    let mut attempt = 0;
    let (payment, outcome) = loop {
        attempt += 1;
        let (actor, path_id, report) = (actor.clone(), path_id.clone(), report.clone());
        let result = state
            .ledger
            .transaction(&caller.tenant_id, move |tx| {
                async move {
                    let payment = find_payment(tx, &actor.tenant_id, &path_id).await?;
                    let tenant = tx.tenant(&actor.tenant_id).await?.ok_or(StoreError::NotFound)?;
                    let order = tx.order(&actor.tenant_id, &payment.order_id).await?.ok_or(StoreError::NotFound)?;
                    let verify = tenant.setting(&["teljoy", "verify_trust"]) != Some(&Value::Bool(false));
                    let errors = check(&report, &path_id, &payment, &order.reference, verify);
                    if !errors.is_empty() {
                        return Ok(Err(errors));
                    }
                    let decoded = report.seed.as_ref().and_then(|seed| seed.as_ref().ok());
                    let mut actor = actor;
                    actor.request_body = Some(transformers::audit_body(&report.object, decoded));
                    // The seed, for the read-back's trust_signature: kept first, so that a payment
                    // not yet settled takes it without a correction.
                    let payment = match keep_seed(&payment, report.update.trust_seed.as_deref()) {
                        Some(command) => apply(tx, &actor, &payment, &command, None).await?.0,
                        None => payment,
                    };
                    apply(tx, &actor, &payment, &report.status.command(), None).await.map(Ok)
                }
                .boxed()
            })
            .await;
        match result {
            Err(StoreError::VersionConflict) if attempt < VERSION_RETRIES => continue,
            Err(error) => return Err(error.into()),
            Ok(Err(errors)) => return Err(Failure::validation(errors)),
            Ok(Ok(done)) => break done,
        }
    };
    state.metrics.report(Source::Teljoy, outcome, payment.status);
    match outcome {
        Outcome::Applied | Outcome::Unchanged | Outcome::Stale => Ok(()),
        Outcome::Conflict { current, .. } => Err(Failure::conflict(format!(
            "The payment is {current}; the status \"{}\" contradicts it. The report is recorded and the payment \
             is flagged for review.",
            status.as_str()
        ))),
    }
}

/// The checks that need the payment: the body's `id`, and the trust values when the tenant
/// verifies them (`settings.teljoy.verify_trust`, true unless set to false).
fn check(report: &Report, path_id: &str, payment: &Payment, order_reference: &str, verify: bool) -> Errors {
    let mut errors = Errors::default();
    if let Some(id) = report.update.id.as_deref() {
        let same = id == path_id || id == payment.id.as_str() || payment.external_id.as_deref() == Some(id);
        if !same {
            errors.add(ID, "The id field must equal the payment id in the path.");
        }
    }
    if !verify {
        return errors;
    }
    match report.update.trust_value.as_deref() {
        None => errors.required(TRUST_VALUE),
        Some(value) if !transformers::trust_value_matches(value, order_reference) => {
            errors.add(TRUST_VALUE, "The trust_Value field must be the MD5 hex of the order id.");
        }
        Some(_) => {}
    }
    match &report.seed {
        None => errors.required(TRUST_SEED),
        Some(Err(error)) => errors.add(TRUST_SEED, error.message()),
        Some(Ok(_)) => {}
    }
    errors
}

/// The change that keeps a seed the payment does not hold yet in its `attrs` (see [`render`]).
/// A settled payment's fields change only as an audited correction, as every dialect's do.
fn keep_seed(payment: &Payment, seed: Option<&str>) -> Option<PaymentCommand> {
    let attrs = render::attrs_with_seed(payment, seed?)?;
    Some(PaymentCommand::Update(PaymentPatch {
        attrs: Some(attrs),
        correction: matches!(payment.status, PaymentStatus::Paid | PaymentStatus::Reversed),
        ..PaymentPatch::default()
    }))
}

/// The key from the `api-key` header or the `apiKey` property; both may be sent if they agree.
fn presented_key(headers: &HeaderMap, in_body: Option<&str>, errors: &mut Errors) -> Option<String> {
    let mut values = headers.get_all(API_KEY_HEADER).iter();
    let in_header = values.next().map(|value| String::from_utf8_lossy(value.as_bytes()).trim().to_owned());
    if values.next().is_some() {
        errors.add(API_KEY, "The api-key header must be sent once.");
        return None;
    }
    match (in_header.filter(|k| !k.is_empty()), in_body) {
        (None, None) => {
            if !errors.0.contains_key(API_KEY) {
                errors.required(API_KEY);
            }
            None
        }
        (Some(header), None) => Some(header),
        (None, Some(body)) => Some(body.to_owned()),
        (Some(header), Some(body)) => {
            if bool::from(header.as_bytes().ct_eq(body.as_bytes())) {
                Some(header)
            } else {
                errors.add(API_KEY, "The apiKey field must equal the api-key header.");
                None
            }
        }
    }
}

/// JSON as ASP.NET's JSON input formatter takes it: application/json, text/json, application/*+json.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json"
        || essence == "text/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}
