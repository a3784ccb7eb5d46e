//! Omnicasa's read side: `GET /payment/get-order/{secretKey}?OrderId=&LanguageId=&IsWriteLogSQL=`
//! answers the payment order of an order (the payment an update would be about) in
//! `ReturnResultOfPayments`, JSON or DataContract XML after `Accept`, with the update's
//! credentials, prefix, error codes and languages. It reads through the ledger and writes nothing.

use super::errors::{Failure, Language};
use super::payment_order::{PaymentOrder, PaymentsResult};
use super::transformers::{self, MediaType, StatusId};
use super::{Settings, Stop, answer, write_sql_log};
use crate::AppState;
use crate::auth::{AuthFailure, authenticate};
use crate::observe::RequestId;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use paystate_domain::Source;
use paystate_store::{Scope, StatementLog, StoreError};

/// The documented read route; also served under the configured prefix.
pub const PATH: &str = "/payment/get-order/{secretKey}";

/// The query of a read, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetOrder {
    pub order_id: String,
    pub language: Language,
    pub write_log_sql: bool,
}

/// Reads the query as ASP.NET Web API binds one: names ignoring case, the first of a repeated
/// name, an empty value as absent. Refusals speak the language when it could be read.
pub fn parse_query(query: Option<&str>) -> Result<GetOrder, (Failure, Language)> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    let first = |name: &str| pairs.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    let language_id = first("LanguageId").map(|v| v.trim().parse::<i64>().ok());
    let language = Language::from_id(language_id.flatten());
    if language_id.is_some_and(|id| id.is_none()) {
        return Err((Failure::InvalidLanguageId, language));
    }
    let order_id = first("OrderId").unwrap_or_default().to_owned();
    paystate_domain::order::validate_reference("OrderId", &order_id)
        .map_err(|_| (Failure::InvalidOrderId, language))?;
    // The order's reference as sent, like the update's `OrderId`; the flags with white space
    // around them read as ASP.NET reads them.
    let write_log_sql = match first("IsWriteLogSQL").map(str::trim) {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => true,
        Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => false,
        Some(_) => return Err((Failure::InvalidIsWriteLogSql, language)),
    };
    Ok(GetOrder { order_id, language, write_log_sql })
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
            (PaymentsResult = "application/json"), (PaymentsResult = "text/json"),
            (PaymentsResult = "application/xml"), (PaymentsResult = "text/xml"))),
        (status = 400, description = "An invalid OrderId, LanguageId or IsWriteLogSQL (codes 7, 10)", content(
            (PaymentsResult = "application/json"), (PaymentsResult = "text/json"),
            (PaymentsResult = "application/xml"), (PaymentsResult = "text/xml"))),
        (status = 401, description = "Unknown or wrong secret key (code 1)", content(
            (PaymentsResult = "application/json"), (PaymentsResult = "text/json"),
            (PaymentsResult = "application/xml"), (PaymentsResult = "text/xml"))),
        (status = 404, description = "No such order, or no payment on it (codes 11, 12)", content(
            (PaymentsResult = "application/json"), (PaymentsResult = "text/json"),
            (PaymentsResult = "application/xml"), (PaymentsResult = "text/xml"))),
        (status = 405, description = "Another method than GET (code 18)", content(
            (PaymentsResult = "application/json"), (PaymentsResult = "text/json"),
            (PaymentsResult = "application/xml"), (PaymentsResult = "text/xml"))),
        (status = 500, description = "The tenant's settings.omnicasa.timezone is unusable (16) or an internal error (17)", content(
            (PaymentsResult = "application/json"), (PaymentsResult = "text/json"),
            (PaymentsResult = "application/xml"), (PaymentsResult = "text/xml"))),
        (status = 503, description = "Busy, retry (code 15)", content(
            (PaymentsResult = "application/json"), (PaymentsResult = "text/json"),
            (PaymentsResult = "application/xml"), (PaymentsResult = "text/xml"))),
    )
)]
pub async fn get_order(
    State(state): State<AppState>,
    secret: Result<Path<String>, PathRejection>,
    request_id: Option<axum::Extension<RequestId>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let request_id = request_id.map(|r| r.0.0).unwrap_or_default();
    let statements = StatementLog::new();
    let handled = handle(state, secret.ok().map(|Path(s)| s), request_id, query, headers, statements.clone());
    statements.scope(handled).await
}

async fn handle(
    state: AppState,
    secret: Option<String>,
    request_id: String,
    query: Option<String>,
    headers: HeaderMap,
    statements: StatementLog,
) -> Response {
    // A GET has no body: the answer follows `Accept`, JSON when it names nothing usable.
    let media = transformers::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()), None);
    let parsed = parse_query(query.as_deref());
    let language = match &parsed {
        Ok(request) => request.language,
        Err((_, language)) => *language,
    };
    let Some(secret) = secret else { return failure(media, Failure::Unauthorized, language) };
    let caller = match authenticate(&state, &secret, Source::Omnicasa, &request_id).await {
        Ok(caller) => caller,
        Err(AuthFailure::Unauthorized | AuthFailure::WrongDialect) => {
            return failure(media, Failure::Unauthorized, language);
        }
        Err(AuthFailure::Unavailable) => return failure(media, Failure::Busy, language),
    };
    drop(secret);
    if caller.require(Scope::Read).is_err() {
        return failure(media, Failure::Forbidden, language);
    }
    let request = match parsed {
        Ok(request) => request,
        Err((refused, language)) => return failure(media, refused, language),
    };
    let result = read(&state, &caller.tenant_id, &request).await;
    if request.write_log_sql {
        write_sql_log(&statements, &request_id);
    }
    match result {
        Ok(order) => {
            let result = PaymentsResult { success: true, code: 0, message: String::new(), value: Some(order) };
            answer(media, StatusCode::OK, result.to_bytes(media))
        }
        Err(refused) => failure(media, refused, request.language),
    }
}

/// The order by its reference in the caller's tenant, and the payment an update would be about.
async fn read(
    state: &AppState,
    tenant: &paystate_domain::TenantId,
    request: &GetOrder,
) -> Result<PaymentOrder, Failure> {
    let stored = |error: StoreError| match error {
        StoreError::Busy => Failure::Busy,
        other => {
            tracing::error!(error = %other, "Omnicasa get-order failed");
            Failure::Internal
        }
    };
    let found = state.ledger.order_with_receipts(tenant, &request.order_id).await.map_err(stored)?;
    let (order, receipts) = found.ok_or(Failure::OrderNotFound)?;
    let payment = transformers::target(&receipts, StatusId::Open).ok_or(Failure::NoPayment)?;
    let owner = state.ledger.tenant(tenant).await.map_err(stored)?;
    let zone = match Settings(&owner).timezone() {
        Ok(zone) => zone,
        Err(Stop::Refused(refused)) => return Err(refused),
        Err(Stop::Store(error)) => return Err(stored(error)),
    };
    Ok(PaymentOrder::of(&order, payment, zone, request.language))
}

/// Any other method than GET, in the envelope (ASP.NET Web API answers 405 too).
pub async fn method_not_allowed(headers: HeaderMap) -> Response {
    let media = transformers::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()), None);
    let mut response = failure(media, Failure::GetOnly, Language::Nl);
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET"));
    response
}

fn failure(media: MediaType, failure: Failure, language: Language) -> Response {
    let result =
        PaymentsResult { success: false, code: failure.code(), message: failure.message(language).into(), value: None };
    answer(media, failure.status(), result.to_bytes(media))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_binds_as_aspnet_does() {
        let read = |q: &str| parse_query(Some(q));
        let expected = GetOrder { order_id: "OM 1/2".into(), language: Language::En, write_log_sql: true };
        assert_eq!(read("orderid=OM+1%2F2&LANGUAGEID=3&IsWriteLogSQL=True"), Ok(expected));
        let first = read("OrderId=A&OrderId=B&LanguageId=&IsWriteLogSQL=").unwrap();
        assert_eq!((first.order_id.as_str(), first.language, first.write_log_sql), ("A", Language::Nl, false));
        assert_eq!(read("LanguageId=2"), Err((Failure::InvalidOrderId, Language::Fr)));
        assert_eq!(read("OrderId=A&LanguageId=two"), Err((Failure::InvalidLanguageId, Language::Nl)));
        assert_eq!(read("OrderId=A&IsWriteLogSQL=yes"), Err((Failure::InvalidIsWriteLogSql, Language::Nl)));
        assert_eq!(read("OrderId=%01x"), Err((Failure::InvalidOrderId, Language::Nl)));
        assert_eq!(parse_query(None), Err((Failure::InvalidOrderId, Language::Nl)));
        assert_eq!(read("OrderId=100%25").unwrap().order_id, "100%");
        assert_eq!(read("OrderId=50%").unwrap().order_id, "50%");
    }
}
