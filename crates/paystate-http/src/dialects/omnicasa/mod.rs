//! Omnicasa API v3: `POST /payment/update-order/{secretKey}`, and its read side
//! `GET /payment/get-order/{secretKey}`.
//!
//! A payment flow reports the state of a payment of a real-estate back office's order. The
//! path secret is a paystate API key (which the tenant may limit to this dialect); the body is an
//! `UpdatePaymentOrderParameter` in JSON or DataContract XML; the answer is the `ReturnResult`
//! envelope in the negotiated format. The ledger's `report_order_status` finds the order by its
//! reference, chooses its payment and runs the report through the status machine in one
//! transaction; the read side asks the ledger's `order_status` for the payment a report would be
//! about.
//!
//! The dialect follows docs/dialects/adding-a-dialect.md: [`extract`] (credential, media types,
//! body), [`parse`] (the body and the query into the ledger's input), [`render`] (the ledger's
//! results into answers), [`wire`] (the vendor's types), [`errors`] (the error table), and
//! [`sql_log`] (`IsWriteLogSQL`).

pub mod errors;
pub mod extract;
pub mod parse;
pub mod render;
pub mod sql_log;
pub mod wire;

use crate::{AppState, HttpConfig};
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use errors::{Envelope, Failure, Language, Refusal};
use extract::{Credential, UpdateBody};
use paystate_domain::Source;
use paystate_store::Scope;
use sql_log::SqlLog;
use wire::MediaType;

/// The documented route; also served under `HttpConfig::omnicasa_prefix`.
pub const PATH: &str = "/payment/update-order/{secretKey}";
/// The documented read route; also served under the prefix.
pub const READ_PATH: &str = "/payment/get-order/{secretKey}";

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(update_order, get_order),
    components(schemas(
        wire::UpdatePaymentOrderParameter,
        wire::ReturnResult,
        wire::PaymentsResult,
        wire::PaymentOrder
    )),
    tags((name = "omnicasa", description = "Omnicasa API v3 (ASP.NET Web API), byte-compatible. Also served under the configured prefix, e.g. /api/v3/payment/update-order/{secretKey}."))
)]
pub struct Doc;

pub fn router(config: &HttpConfig) -> Router<AppState> {
    let update = || post(update_order).fallback(update_method_not_allowed);
    let read = || get(get_order).fallback(read_method_not_allowed);
    let mut router = Router::new().route(PATH, update()).route(READ_PATH, read());
    if let Some(prefix) = config.omnicasa_prefix.as_deref().and_then(prefix) {
        router = router.route(&format!("{prefix}{PATH}"), update()).route(&format!("{prefix}{READ_PATH}"), read());
    }
    router
        .route_layer(axum::middleware::from_fn(sql_log::note_statements))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(on_panic))
}

/// A handler that panicked answers in Omnicasa's envelope (JSON: the request's media is not known
/// any more), like every other failure of this dialect.
pub(crate) fn on_panic(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("an omnicasa handler panicked");
    let failure = Failure::Internal;
    Refusal { envelope: Envelope::Update, media: MediaType::ApplicationJson, failure, language: Language::Nl }
        .into_response()
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
            (wire::UpdatePaymentOrderParameter = "application/json"),
            (wire::UpdatePaymentOrderParameter = "text/json"),
            (wire::UpdatePaymentOrderParameter = "application/xml"),
            (wire::UpdatePaymentOrderParameter = "text/xml"),
        )
    ),
    responses(
        (status = 200, description = "Updated, or an idempotent repeat or a stale report (Value 0)", content(
            (wire::ReturnResult = "application/json"), (wire::ReturnResult = "text/json"),
            (wire::ReturnResult = "application/xml"), (wire::ReturnResult = "text/xml"))),
        (status = 400, description = "Malformed body or invalid field (codes 5 to 10)", content(
            (wire::ReturnResult = "application/json"), (wire::ReturnResult = "text/json"),
            (wire::ReturnResult = "application/xml"), (wire::ReturnResult = "text/xml"))),
        (status = 401, description = "Unknown or wrong secret key (code 1)", content(
            (wire::ReturnResult = "application/json"), (wire::ReturnResult = "text/json"),
            (wire::ReturnResult = "application/xml"), (wire::ReturnResult = "text/xml"))),
        (status = 403, description = "The key may not change payments (code 2)", content(
            (wire::ReturnResult = "application/json"), (wire::ReturnResult = "text/json"),
            (wire::ReturnResult = "application/xml"), (wire::ReturnResult = "text/xml"))),
        (status = 404, description = "No such order, or no payment on it (codes 11, 12)", content(
            (wire::ReturnResult = "application/json"), (wire::ReturnResult = "text/json"),
            (wire::ReturnResult = "application/xml"), (wire::ReturnResult = "text/xml"))),
        (status = 409, description = "Contradicts a settled status (13, recorded and flagged) or not allowed (14)", content(
            (wire::ReturnResult = "application/json"), (wire::ReturnResult = "text/json"),
            (wire::ReturnResult = "application/xml"), (wire::ReturnResult = "text/xml"))),
        (status = 413, description = "Body over 1 MiB (code 4)", content(
            (wire::ReturnResult = "application/json"), (wire::ReturnResult = "text/json"),
            (wire::ReturnResult = "application/xml"), (wire::ReturnResult = "text/xml"))),
        (status = 415, description = "Not JSON or XML in UTF-8 (code 3)", content(
            (wire::ReturnResult = "application/json"), (wire::ReturnResult = "text/json"),
            (wire::ReturnResult = "application/xml"), (wire::ReturnResult = "text/xml"))),
        (status = 405, description = "Another method than POST (code 18)", content(
            (wire::ReturnResult = "application/json"), (wire::ReturnResult = "text/json"),
            (wire::ReturnResult = "application/xml"), (wire::ReturnResult = "text/xml"))),
        (status = 500, description = "The tenant's settings.omnicasa are unusable (16) or an internal error (17)", content(
            (wire::ReturnResult = "application/json"), (wire::ReturnResult = "text/json"),
            (wire::ReturnResult = "application/xml"), (wire::ReturnResult = "text/xml"))),
        (status = 503, description = "Busy, retry (code 15)", content(
            (wire::ReturnResult = "application/json"), (wire::ReturnResult = "text/json"),
            (wire::ReturnResult = "application/xml"), (wire::ReturnResult = "text/xml"))),
    )
)]
pub async fn update_order(
    State(state): State<AppState>,
    sql: SqlLog,
    credential: Credential,
    body: UpdateBody,
) -> Result<Response, Refusal> {
    let refuse = |failure, language| Refusal { envelope: Envelope::Update, media: body.answer, failure, language };
    // The body is parsed before the credential is checked, only to answer a refused credential
    // in the caller's language; a bad body is refused after the credential check.
    let parsed = parse::update(body.media, &body.bytes);
    let language = parsed.as_ref().map_or_else(|rejection| rejection.language, |request| request.language);
    let caller = credential.check(&state, Scope::Write).await.map_err(|failure| refuse(failure, language))?;
    let request = parsed.map_err(|rejection| refuse(rejection.failure, rejection.language))?;

    let actor = caller.actor(Source::Omnicasa, Some(body.text()));
    let reported = state.ledger.report_order_status(&actor, request.report).await;
    sql.write_if(request.write_log_sql);
    if let Ok(reported) = &reported {
        state.metrics.report(Source::Omnicasa, reported.outcome, reported.payment.status);
    }
    let value = reported.map_err(Failure::from).and_then(|reported| render::changed(&reported));
    Ok(render::updated(body.answer, value.map_err(|failure| refuse(failure, request.language))?))
}

/// Get Payment order.
///
/// Answers the payment order of the order whose reference is `OrderId`: the payment an update
/// would be about (the newest receipt that is not terminal, else the newest). `Value` is null on
/// errors, which carry the update's codes and messages.
#[utoipa::path(
    get,
    path = "/payment/get-order/{secretKey}",
    tag = "omnicasa",
    params(
        ("secretKey" = String, Path, description = "A paystate API key (scope read or more; may be limited to the omnicasa dialect)"),
        ("OrderId" = String, Query, description = "The order's reference"),
        ("LanguageId" = Option<i32>, Query, description = "1 NL, 2 FR, 3 EN (StatusName and Message); anything else reads as 1"),
        ("IsWriteLogSQL" = Option<bool>, Query, description = "Writes the SQL statements of this request to the server log"),
    ),
    responses(
        (status = 200, description = "The payment order", content(
            (wire::PaymentsResult = "application/json"), (wire::PaymentsResult = "text/json"),
            (wire::PaymentsResult = "application/xml"), (wire::PaymentsResult = "text/xml"))),
        (status = 400, description = "An invalid OrderId, LanguageId or IsWriteLogSQL (codes 7, 10)", content(
            (wire::PaymentsResult = "application/json"), (wire::PaymentsResult = "text/json"),
            (wire::PaymentsResult = "application/xml"), (wire::PaymentsResult = "text/xml"))),
        (status = 401, description = "Unknown or wrong secret key (code 1)", content(
            (wire::PaymentsResult = "application/json"), (wire::PaymentsResult = "text/json"),
            (wire::PaymentsResult = "application/xml"), (wire::PaymentsResult = "text/xml"))),
        (status = 404, description = "No such order, or no payment on it (codes 11, 12)", content(
            (wire::PaymentsResult = "application/json"), (wire::PaymentsResult = "text/json"),
            (wire::PaymentsResult = "application/xml"), (wire::PaymentsResult = "text/xml"))),
        (status = 405, description = "Another method than GET (code 18)", content(
            (wire::PaymentsResult = "application/json"), (wire::PaymentsResult = "text/json"),
            (wire::PaymentsResult = "application/xml"), (wire::PaymentsResult = "text/xml"))),
        (status = 500, description = "The tenant's settings.omnicasa.timezone is unusable (16) or an internal error (17)", content(
            (wire::PaymentsResult = "application/json"), (wire::PaymentsResult = "text/json"),
            (wire::PaymentsResult = "application/xml"), (wire::PaymentsResult = "text/xml"))),
        (status = 503, description = "Busy, retry (code 15)", content(
            (wire::PaymentsResult = "application/json"), (wire::PaymentsResult = "text/json"),
            (wire::PaymentsResult = "application/xml"), (wire::PaymentsResult = "text/xml"))),
    )
)]
pub async fn get_order(
    State(state): State<AppState>,
    sql: SqlLog,
    credential: Credential,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let media = extract::read_media(&headers);
    let refuse = |failure, language| Refusal { envelope: Envelope::Read, media, failure, language };
    let parsed = parse::get_order(query.as_deref());
    let language = parsed.as_ref().map_or_else(|rejection| rejection.language, |request| request.language);
    let caller = credential.check(&state, Scope::Read).await.map_err(|failure| refuse(failure, language))?;
    let request = parsed.map_err(|rejection| refuse(rejection.failure, rejection.language))?;

    let found = state.ledger.order_status(&caller.tenant_id, &request.order_id).await;
    sql.write_if(request.write_log_sql);
    let found = found.map_err(|error| refuse(error.into(), request.language))?;
    Ok(render::payment_order(media, &found, request.language))
}

/// Any other method than POST on the update's route, in the envelope (ASP.NET Web API answers
/// 405 too).
async fn update_method_not_allowed(headers: HeaderMap) -> Response {
    let (_, media) = extract::update_media(&headers);
    let refusal =
        Refusal { envelope: Envelope::Update, media, failure: Failure::MethodNotAllowed, language: Language::Nl };
    allowing("POST", refusal)
}

/// Any other method than GET on the read's route.
async fn read_method_not_allowed(headers: HeaderMap) -> Response {
    let media = extract::read_media(&headers);
    let refusal = Refusal { envelope: Envelope::Read, media, failure: Failure::GetOnly, language: Language::Nl };
    allowing("GET", refusal)
}

fn allowing(method: &'static str, refusal: Refusal) -> Response {
    let mut response = refusal.into_response();
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(method));
    response
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
}
