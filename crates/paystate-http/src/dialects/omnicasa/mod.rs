//! Omnicasa API v3: `POST /payment/update-order/{secretKey}`, and its read side
//! `GET /payment/get-order/{secretKey}` (`read`).
//!
//! A payment flow reports the state of a payment of a real-estate back office's order. The
//! path secret is a paystate API key (which the tenant may limit to this dialect); the body is an
//! `UpdatePaymentOrderParameter` in JSON or DataContract XML; the answer is the `ReturnResult`
//! envelope in the negotiated format. The order is found by its reference, its payment is
//! chosen, and the report runs through the canonical status machine in one transaction.
//!
//! The secret never leaves this handler: it is not logged (the access log names the route
//! template), not put in events (they name the key id), metrics or answers.

pub mod errors;
pub mod payment_order;
pub mod read;
pub mod transformers;

use crate::auth::{AuthFailure, Caller, authenticate};
use crate::extract::{body_bytes, has_nul};
use crate::observe::RequestId;
use crate::{AppState, HttpConfig};
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono_tz::Tz;
use errors::{Failure, Language};
use futures::FutureExt;
use paystate_domain::order::NewOrder;
use paystate_domain::payment::NewPayment;
use paystate_domain::{Actor, Currency, DomainError, Order, Outcome, Payment, PaymentType, Source, Tenant};
use paystate_ledger::{apply, open_order, open_payment};
use paystate_store::{PageRequest, PaymentFilter, Scope, StatementLog, StoreError, Tx};
use transformers::{MediaType, PaidAt, ReturnResult, UpdatePaymentOrder};

/// The documented route; also served under `HttpConfig::omnicasa_prefix`.
pub const PATH: &str = "/payment/update-order/{secretKey}";

/// How often a job whose payment or order changed underneath it is run again.
const ATTEMPTS: usize = 5;

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(update_order, read::get_order),
    components(schemas(
        transformers::UpdatePaymentOrderParameter,
        transformers::ReturnResult,
        payment_order::PaymentsResult,
        payment_order::PaymentOrder
    )),
    tags((name = "omnicasa", description = "Omnicasa API v3 (ASP.NET Web API), byte-compatible. Also served under the configured prefix, e.g. /api/v3/payment/update-order/{secretKey}."))
)]
pub struct Doc;

pub fn router(config: &HttpConfig) -> Router<AppState> {
    let update = || post(update_order).fallback(method_not_allowed);
    let get = || axum::routing::get(read::get_order).fallback(read::method_not_allowed);
    let mut router = Router::new().route(PATH, update()).route(read::PATH, get());
    if let Some(prefix) = config.omnicasa_prefix.as_deref().and_then(prefix) {
        router = router.route(&format!("{prefix}{PATH}"), update()).route(&format!("{prefix}{}", read::PATH), get());
    }
    router.layer(tower_http::catch_panic::CatchPanicLayer::custom(on_panic))
}

/// A handler that panicked answers in Omnicasa's envelope (JSON: the request's media is not known
/// any more), like every other failure of this dialect.
pub(crate) fn on_panic(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("an omnicasa handler panicked");
    failure_response(MediaType::ApplicationJson, Failure::Internal, Language::Nl)
}

/// The configured prefix as a route prefix (`api/v3/` → `/api/v3`); none when empty or unusable.
fn prefix(configured: &str) -> Option<String> {
    let trimmed = configured.trim().trim_matches('/');
    if trimmed.is_empty() {
        return None;
    }
    let usable = trimmed.split('/').all(|segment| {
        !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    });
    if !usable {
        tracing::error!(
            prefix = configured,
            "the Omnicasa prefix is not a plain path; the prefixed route is not served"
        );
        return None;
    }
    Some(format!("/{trimmed}"))
}

/// Update Payment order.
///
/// Reports the status of the payment of the order whose reference is `OrderId`. Answers 200
/// with `Success: true`, `Code: 0`, an empty `Message` and `Value` = how many payments changed
/// state (0 for a repeated or late report). Errors use the same envelope with `Success: false`,
/// a code from the table in docs/dialects/omnicasa.md and a message in the language of
/// `LanguageId`. The answer is JSON or XML after `Accept`, else after the request's content type.
#[utoipa::path(
    post,
    path = "/payment/update-order/{secretKey}",
    tag = "omnicasa",
    params(("secretKey" = String, Path, description = "A paystate API key with scope write (may be limited to the omnicasa dialect)")),
    request_body(
        description = "UpdatePaymentOrderParameter; JSON names bind case-insensitively; XML in namespace http://schemas.datacontract.org/2004/07/OmnicasaApiv3.Parameters",
        content(
            (transformers::UpdatePaymentOrderParameter = "application/json"),
            (transformers::UpdatePaymentOrderParameter = "text/json"),
            (transformers::UpdatePaymentOrderParameter = "application/xml"),
            (transformers::UpdatePaymentOrderParameter = "text/xml"),
        )
    ),
    responses(
        (status = 200, description = "Updated, or an idempotent repeat or a stale report (Value 0)", content(
            (transformers::ReturnResult = "application/json"), (transformers::ReturnResult = "text/json"),
            (transformers::ReturnResult = "application/xml"), (transformers::ReturnResult = "text/xml"))),
        (status = 400, description = "Malformed body or invalid field (codes 5 to 10)", content(
            (transformers::ReturnResult = "application/json"), (transformers::ReturnResult = "text/json"),
            (transformers::ReturnResult = "application/xml"), (transformers::ReturnResult = "text/xml"))),
        (status = 401, description = "Unknown or wrong secret key (code 1)", content(
            (transformers::ReturnResult = "application/json"), (transformers::ReturnResult = "text/json"),
            (transformers::ReturnResult = "application/xml"), (transformers::ReturnResult = "text/xml"))),
        (status = 403, description = "The key may not change payments (code 2)", content(
            (transformers::ReturnResult = "application/json"), (transformers::ReturnResult = "text/json"),
            (transformers::ReturnResult = "application/xml"), (transformers::ReturnResult = "text/xml"))),
        (status = 404, description = "No such order, or no payment on it (codes 11, 12)", content(
            (transformers::ReturnResult = "application/json"), (transformers::ReturnResult = "text/json"),
            (transformers::ReturnResult = "application/xml"), (transformers::ReturnResult = "text/xml"))),
        (status = 409, description = "Contradicts a settled status (13, recorded and flagged) or not allowed (14)", content(
            (transformers::ReturnResult = "application/json"), (transformers::ReturnResult = "text/json"),
            (transformers::ReturnResult = "application/xml"), (transformers::ReturnResult = "text/xml"))),
        (status = 413, description = "Body over 1 MiB (code 4)", content(
            (transformers::ReturnResult = "application/json"), (transformers::ReturnResult = "text/json"),
            (transformers::ReturnResult = "application/xml"), (transformers::ReturnResult = "text/xml"))),
        (status = 415, description = "Not JSON or XML in UTF-8 (code 3)", content(
            (transformers::ReturnResult = "application/json"), (transformers::ReturnResult = "text/json"),
            (transformers::ReturnResult = "application/xml"), (transformers::ReturnResult = "text/xml"))),
        (status = 405, description = "Another method than POST (code 18)", content(
            (transformers::ReturnResult = "application/json"), (transformers::ReturnResult = "text/json"),
            (transformers::ReturnResult = "application/xml"), (transformers::ReturnResult = "text/xml"))),
        (status = 500, description = "The tenant's settings.omnicasa are unusable (16) or an internal error (17)", content(
            (transformers::ReturnResult = "application/json"), (transformers::ReturnResult = "text/json"),
            (transformers::ReturnResult = "application/xml"), (transformers::ReturnResult = "text/xml"))),
        (status = 503, description = "Busy, retry (code 15)", content(
            (transformers::ReturnResult = "application/json"), (transformers::ReturnResult = "text/json"),
            (transformers::ReturnResult = "application/xml"), (transformers::ReturnResult = "text/xml"))),
    )
)]
pub async fn update_order(
    State(state): State<AppState>,
    secret: Result<Path<String>, PathRejection>,
    request_id: Option<axum::Extension<RequestId>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request_id = request_id.map(|r| r.0.0).unwrap_or_default();
    // Every statement of this request, the credential check included, is noted here; it is
    // written to the log only when the body asks for it (IsWriteLogSQL).
    let statements = StatementLog::new();
    statements.clone().scope(handle(state, secret.ok().map(|Path(s)| s), request_id, headers, body, statements)).await
}

async fn handle(
    state: AppState,
    secret: Option<String>,
    request_id: String,
    headers: HeaderMap,
    body: Body,
    statements: StatementLog,
) -> Response {
    let header_text = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let request_media = header_text(header::CONTENT_TYPE).and_then(MediaType::of_content_type);
    let answer_media = transformers::negotiate(header_text(header::ACCEPT), request_media);
    let refuse = |failure: Failure, language| failure_response(answer_media, failure, language);

    let Some(request_media) = request_media else { return refuse(Failure::UnsupportedMediaType, Language::Nl) };
    let Ok(bytes) = body_bytes(&headers, body).await else { return refuse(Failure::TooLarge, Language::Nl) };
    // Read before the credential check, only to answer a refused credential in the caller's
    // language; a bad body is reported after the credential check.
    // JSON escapes a NUL as \u0000; XML has no way to write one (`&#0;` is malformed).
    let nul = match request_media {
        MediaType::ApplicationJson | MediaType::TextJson => has_nul(&bytes),
        MediaType::ApplicationXml | MediaType::TextXml => bytes.contains(&0),
    };
    let parsed = if nul {
        Err(transformers::Rejection { failure: Failure::Nul, language: Language::Nl })
    } else {
        transformers::parse(request_media, &bytes)
    };
    let language = match &parsed {
        Ok(request) => request.language,
        Err(rejection) => rejection.language,
    };

    let Some(secret) = secret else { return refuse(Failure::Unauthorized, language) };
    let caller = match authenticate(&state, &secret, Source::Omnicasa, &request_id).await {
        Ok(caller) => caller,
        Err(AuthFailure::Unauthorized | AuthFailure::WrongDialect) => return refuse(Failure::Unauthorized, language),
        Err(AuthFailure::Unavailable) => return refuse(Failure::Busy, language),
    };
    drop(secret);
    if caller.require(Scope::Write).is_err() {
        return refuse(Failure::Forbidden, language);
    }
    let request = match parsed {
        Ok(request) => request,
        Err(rejection) => return refuse(rejection.failure, rejection.language),
    };

    let raw = String::from_utf8_lossy(&bytes).into_owned();
    let result = update(&state, &caller, &request, raw).await;
    if request.write_log_sql {
        write_sql_log(&statements, &request_id);
    }
    match result {
        Ok(changed) => {
            let result = ReturnResult { success: true, code: 0, message: String::new(), value: changed };
            envelope(answer_media, StatusCode::OK, &result)
        }
        Err(failure) => refuse(failure, request.language),
    }
}

/// Any other method than POST, in the envelope (ASP.NET Web API answers 405 too).
async fn method_not_allowed(headers: HeaderMap) -> Response {
    let header_text = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let request_media = header_text(header::CONTENT_TYPE).and_then(MediaType::of_content_type);
    let media = transformers::negotiate(header_text(header::ACCEPT), request_media);
    let mut response = failure_response(media, Failure::MethodNotAllowed, Language::Nl);
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

fn failure_response(media: MediaType, failure: Failure, language: Language) -> Response {
    let result =
        ReturnResult { success: false, code: failure.code(), message: failure.message(language).into(), value: 0 };
    envelope(media, failure.status(), &result)
}

fn envelope(media: MediaType, status: StatusCode, result: &ReturnResult) -> Response {
    answer(media, status, result.to_bytes(media))
}

/// An answer of either side in `media`: its content type, and `Retry-After` when busy.
fn answer(media: MediaType, status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(media.content_type()));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// `IsWriteLogSQL`: the statements this request ran, as templates whose parameters are
/// placeholders (the values are never logged), at info level with the request id.
fn write_sql_log(statements: &StatementLog, request_id: &str) {
    let statements = statements.statements();
    tracing::info!(
        request_id = %request_id,
        count = statements.len(),
        "Omnicasa IsWriteLogSQL: the SQL statements of this request follow"
    );
    for (index, sql) in statements.iter().enumerate() {
        tracing::info!(
            request_id = %request_id,
            n = index + 1,
            sql = %sql,
            parameters = %redacted_parameters(sql),
            "Omnicasa IsWriteLogSQL"
        );
    }
}

/// How the parameters of a statement appear in the log: counted, never shown.
fn redacted_parameters(sql: &str) -> String {
    let bytes = sql.as_bytes();
    let mut highest = 0u32;
    for (index, byte) in bytes.iter().enumerate() {
        if matches!(byte, b'?' | b'$') {
            let digits: String =
                bytes[index + 1..].iter().take_while(|b| b.is_ascii_digit()).map(|&b| b as char).collect();
            highest = highest.max(digits.parse().unwrap_or(0));
        }
    }
    if highest == 0 { "none".into() } else { format!("{highest} redacted") }
}

// --- the update -------------------------------------------------------------------------------

/// What the transaction did.
struct Done {
    payment: Payment,
    outcome: Outcome,
    /// The payment (and maybe its order) was created by this request.
    created: bool,
}

/// A job's end: a store error rolls back; a refusal commits nothing (it comes before any write).
enum Stop {
    Store(StoreError),
    Refused(Failure),
}

impl From<StoreError> for Stop {
    fn from(error: StoreError) -> Self {
        Stop::Store(error)
    }
}

impl From<DomainError> for Stop {
    fn from(error: DomainError) -> Self {
        Stop::Store(error.into())
    }
}

/// Runs the report in one transaction; answers `Value`, the number of payments that changed.
async fn update(state: &AppState, caller: &Caller, request: &UpdatePaymentOrder, raw: String) -> Result<i32, Failure> {
    let actor = caller.actor(Source::Omnicasa, Some(raw));
    let mut attempt = 0;
    let done = loop {
        attempt += 1;
        let (actor, request) = (actor.clone(), request.clone());
        let result = state
            .ledger
            .transaction(&caller.tenant_id, move |tx| {
                async move {
                    match job(tx, &actor, &request).await {
                        Ok(done) => Ok(Ok(done)),
                        Err(Stop::Refused(failure)) => Ok(Err(failure)),
                        Err(Stop::Store(error)) => Err(error),
                    }
                }
                .boxed()
            })
            .await;
        match result {
            // The payment changed underneath, or a concurrent request created the same unknown
            // order first: run again on what is there now.
            Err(StoreError::VersionConflict | StoreError::Duplicate(_)) if attempt < ATTEMPTS => continue,
            Ok(Ok(done)) => break done,
            Ok(Err(failure)) => return Err(failure),
            Err(error) => return Err(store_failure(error)),
        }
    };
    state.metrics.report(Source::Omnicasa, done.outcome, done.payment.status);
    match done.outcome {
        Outcome::Conflict { .. } => Err(Failure::Conflict),
        Outcome::Applied => Ok(1),
        Outcome::Unchanged | Outcome::Stale => Ok(i32::from(done.created)),
    }
}

fn store_failure(error: StoreError) -> Failure {
    match error {
        StoreError::Busy | StoreError::VersionConflict | StoreError::Duplicate(_) => Failure::Busy,
        StoreError::Domain(DomainError::Invalid { field: "reference", .. }) => Failure::InvalidOrderId,
        StoreError::Domain(
            DomainError::NotAllowed { .. }
            | DomainError::OrderNotOpen(_)
            | DomainError::Deleted
            | DomainError::ExceedsAvailable { .. },
        ) => Failure::NotAllowed,
        other => {
            tracing::error!(error = %other, "Omnicasa update failed");
            Failure::Internal
        }
    }
}

/// Finds (or, when the tenant allows it, creates) the order and its payment, and runs the report.
async fn job(tx: &mut dyn Tx, actor: &Actor, request: &UpdatePaymentOrder) -> Result<Done, Stop> {
    let tenant = tx.tenant(&actor.tenant_id).await?.ok_or(StoreError::NotFound)?;
    let settings = Settings(&tenant);
    // The zone is read only for a wall-clock PaidAt: an instant with an offset needs none.
    let paid_at = match request.paid_at {
        None => None,
        Some(exact @ PaidAt::Exact(_)) => Some(exact.instant(Tz::UTC)),
        Some(local) => Some(local.instant(settings.timezone()?)),
    };
    let command = request.status.command(paid_at);
    let (payment, created) = match tx.order_by_reference(&actor.tenant_id, &request.order_id).await? {
        Some(order) => match target(tx, &order, request).await? {
            Some(payment) => (payment, false),
            None if settings.create_unknown_orders()? => (open_payment(tx, actor, &order, new_payment()).await?, true),
            None => return Err(Stop::Refused(Failure::NoPayment)),
        },
        None if settings.create_unknown_orders()? => {
            let new = NewOrder {
                reference: request.order_id.clone(),
                currency: settings.currency()?,
                total_amount: 0,
                customer: serde_json::Value::Null,
                attributes: serde_json::json!({}),
            };
            let order = open_order(tx, actor, new).await?;
            (open_payment(tx, actor, &order, new_payment()).await?, true)
        }
        None => return Err(Stop::Refused(Failure::OrderNotFound)),
    };
    let (payment, outcome) = apply(tx, actor, &payment, &command, None).await?;
    Ok(Done { payment, outcome, created })
}

/// The open receipt created for an order Omnicasa names but paystate does not know: its
/// amount is unknown to this call, so it is 0 until someone sets it.
fn new_payment() -> NewPayment {
    NewPayment { kind: Some(PaymentType::Receipt), ..NewPayment::default() }
}

/// The payment of the order this report is about (see [`transformers::target`]), read again so
/// that the job holds its lock.
async fn target(tx: &mut dyn Tx, order: &Order, request: &UpdatePaymentOrder) -> Result<Option<Payment>, Stop> {
    const PAGE: u32 = 100;
    let filter = PaymentFilter { order_id: Some(order.id.clone()), ..PaymentFilter::default() };
    let mut receipts = Vec::new();
    let mut after = None;
    loop {
        let page = tx.payments(&order.tenant_id, &filter, &PageRequest { after: after.take(), limit: PAGE }).await?;
        let full = page.len() == PAGE as usize;
        after = page.last().map(|p| p.id.to_string());
        receipts.extend(page.into_iter().filter(|p| p.kind == PaymentType::Receipt));
        if !full {
            break;
        }
    }
    match transformers::target(&receipts, request.status) {
        Some(chosen) => Ok(tx.payment(&order.tenant_id, &chosen.id).await?),
        None => Ok(None),
    }
}

/// The tenant's `settings.omnicasa`, each read when needed, so that a bad value fails only the
/// requests that use it.
struct Settings<'t>(&'t Tenant);

impl Settings<'_> {
    fn value(&self, key: &str) -> Option<&serde_json::Value> {
        self.0.setting(&["omnicasa", key]).filter(|v| !v.is_null())
    }

    fn invalid(&self, key: &str) -> Stop {
        tracing::warn!(tenant = %self.0.id, setting = key, "the tenant's settings.omnicasa.{key} is invalid");
        Stop::Refused(Failure::Settings)
    }

    /// `timezone`: an IANA zone name; default Europe/Brussels.
    fn timezone(&self) -> Result<Tz, Stop> {
        match self.value("timezone") {
            None => Ok(Tz::Europe__Brussels),
            Some(value) => value.as_str().and_then(|name| name.parse().ok()).ok_or_else(|| self.invalid("timezone")),
        }
    }

    /// `create_unknown_orders`: create an unknown order with an open payment; default false.
    fn create_unknown_orders(&self) -> Result<bool, Stop> {
        match self.value("create_unknown_orders") {
            None => Ok(false),
            Some(value) => value.as_bool().ok_or_else(|| self.invalid("create_unknown_orders")),
        }
    }

    /// `currency`: the ISO 4217 currency of orders created from this dialect; default EUR.
    fn currency(&self) -> Result<Currency, Stop> {
        let code = match self.value("currency") {
            None => "EUR",
            Some(value) => value.as_str().ok_or_else(|| self.invalid("currency"))?,
        };
        Currency::parse(code).map_err(|_| self.invalid("currency"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(prefix("/api/v3").as_deref(), Some("/api/v3"));
        assert_eq!(prefix("api/v3/").as_deref(), Some("/api/v3"));
        assert_eq!(prefix(" / "), None);
        assert_eq!(prefix(""), None);
        assert_eq!(prefix("/api/{x}"), None);
        assert_eq!(prefix("/api//v3"), None);
    }

    #[test]
    fn parameters_are_counted_never_shown() {
        assert_eq!(redacted_parameters("SELECT doc FROM orders WHERE tenant_id = ?1 AND reference = ?2"), "2 redacted");
        assert_eq!(redacted_parameters("UPDATE t SET a = $3 WHERE id = $1 AND v = $12 - 1"), "12 redacted");
        assert_eq!(redacted_parameters("COMMIT"), "none");
    }

    #[test]
    fn settings_default_and_refuse_bad_values() {
        let mut tenant = Tenant {
            id: paystate_domain::TenantId::generate(),
            name: "t".into(),
            settings: serde_json::json!({}),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        };
        let settings = Settings(&tenant);
        assert_eq!(settings.timezone().ok(), Some(Tz::Europe__Brussels));
        assert_eq!(settings.create_unknown_orders().ok(), Some(false));
        assert_eq!(settings.currency().ok().map(|c| c.code()), Some("EUR"));
        tenant.settings = serde_json::json!({"omnicasa": {"timezone": "Europe/Paris", "create_unknown_orders": true, "currency": "USD"}});
        let settings = Settings(&tenant);
        assert_eq!(settings.timezone().ok(), Some(Tz::Europe__Paris));
        assert_eq!(settings.create_unknown_orders().ok(), Some(true));
        assert_eq!(settings.currency().ok().map(|c| c.code()), Some("USD"));
        tenant.settings = serde_json::json!({"omnicasa": {"timezone": "Mars/Olympus", "create_unknown_orders": "yes", "currency": "XXY"}});
        let settings = Settings(&tenant);
        assert!(matches!(settings.timezone(), Err(Stop::Refused(Failure::Settings))));
        assert!(matches!(settings.create_unknown_orders(), Err(Stop::Refused(Failure::Settings))));
        assert!(matches!(settings.currency(), Err(Stop::Refused(Failure::Settings))));
    }
}
