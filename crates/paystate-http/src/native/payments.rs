//! `/v1/payments`: create, read and list payments, and every command of the status machine.

use super::{ListOf, Native};
use crate::AppState;
use crate::auth::Caller;
use crate::extract::{Json, Query, present};
use crate::idempotency::{Idempotency, json, respond};
use crate::problem::{ApiError, ApiResult, Problem};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use paystate_domain::payment::{Adjustment, MissingAmount, NewPayment};
use paystate_domain::{
    Currency, MethodId, Outcome, Payment, PaymentCommand, PaymentId, PaymentPatch, PaymentStatus, PaymentType, Source,
};
use paystate_store::{PaymentFilter, Scope};
use serde::Deserialize;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePayment {
    /// The order's id or reference.
    pub order_id: String,
    /// Minor units of the order's currency.
    #[serde(deserialize_with = "crate::extract::minor_units")]
    #[schema(minimum = 0, maximum = 999_999_999_999_999_i64)]
    pub amount: i64,
    /// Must equal the order's currency when given.
    pub currency: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<PaymentType>,
    /// The receipt a refund pays back.
    pub source_payment_id: Option<String>,
    pub method_id: Option<String>,
    /// Your id (or your provider's) for the payment; unique per tenant, usable wherever an id is.
    pub external_id: Option<String>,
    pub transaction_ref: Option<String>,
    pub invoice_id: Option<String>,
    pub note: Option<String>,
    /// A JSON object (null: none).
    #[schema(value_type = Option<Object>)]
    pub attrs: Option<serde_json::Value>,
    pub custom: Option<bool>,
}

/// Non-status fields; `null` clears a field, a missing field stays as it is.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchPayment {
    #[serde(default, deserialize_with = "crate::extract::optional_minor_units")]
    #[schema(minimum = 0, maximum = 999_999_999_999_999_i64)]
    pub amount: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub method_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub external_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub transaction_ref: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub invoice_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub note: Option<Option<String>>,
    /// A JSON object (null: none).
    #[schema(value_type = Option<Object>)]
    pub attrs: Option<serde_json::Value>,
    pub custom: Option<bool>,
    /// Required to change a paid or reversed payment; recorded with before and after.
    #[serde(default)]
    pub correction: bool,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportStatus {
    pub status: PaymentStatus,
    /// When the customer paid (RFC 3339); defaults to the time of the update.
    pub paid_at: Option<chrono::DateTime<chrono::Utc>>,
    pub reason: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Adjust {
    /// Minor units; without it a refund or chargeback takes all that remains.
    #[serde(default, deserialize_with = "crate::extract::optional_minor_units")]
    #[schema(minimum = 0, maximum = 999_999_999_999_999_i64)]
    pub amount: Option<i64>,
    pub reason: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolve {
    /// The status to settle on; without it the status stays and only the review flag clears.
    pub status: Option<PaymentStatus>,
    #[schema(min_length = 1, max_length = 1000, pattern = "\\S")]
    pub reason: String,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PaymentQuery {
    /// Order id or reference.
    pub order_id: Option<String>,
    pub status: Option<PaymentStatus>,
    pub needs_review: Option<bool>,
    pub include_deleted: Option<bool>,
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(min_length = 1, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")]
    pub cursor: Option<String>,
}

fn method_id(raw: Option<String>) -> ApiResult<Option<MethodId>> {
    raw.map(|m| MethodId::parse(&m).ok_or_else(|| ApiError::invalid("method_id", "not a payment method id")))
        .transpose()
}

/// A well-formed reference in the body to a record the tenant does not have: 404, naming the
/// field (as an unknown `order_id` is), for the request is valid but what it names is not there.
fn unknown(error: paystate_store::StoreError, field: &str, detail: &str) -> ApiError {
    match error {
        paystate_store::StoreError::NotFound => {
            let mut error = ApiError::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail);
            error.0.field = Some(field.into());
            error
        }
        other => other.into(),
    }
}

/// The method a body names, when it is one of the tenant's.
async fn known_method(state: &AppState, caller: &Caller, method: Option<&MethodId>) -> ApiResult<()> {
    if let Some(method) = method {
        state
            .ledger
            .method(&caller.tenant_id, method)
            .await
            .map_err(|e| unknown(e, "method_id", "no such payment method"))?;
    }
    Ok(())
}

fn reason(text: Option<String>) -> ApiResult<Option<String>> {
    match text {
        Some(text) if text.chars().count() > 1000 => {
            Err(ApiError::invalid("reason", "must be at most 1000 characters"))
        }
        other => Ok(other),
    }
}

#[utoipa::path(post, operation_id = "payments_create", path = "/v1/payments", tag = "payments", request_body = CreatePayment,
    responses((status = 201, body = Payment), (status = 400, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn create(
    Native { state, caller }: Native,
    idem: Idempotency,
    body: Json<CreatePayment>,
) -> ApiResult<Response> {
    let Json { value, raw } = body;
    let source_payment_id = match value.source_payment_id {
        Some(source) => Some(
            state
                .ledger
                .payment(&caller.tenant_id, &source)
                .await
                .map_err(|error| unknown(error, "source_payment_id", "no such payment"))?
                .id,
        ),
        None => None,
    };
    let method_id = method_id(value.method_id)?;
    known_method(&state, &caller, method_id.as_ref()).await?;
    let new = NewPayment {
        external_id: value.external_id,
        kind: value.kind,
        source_payment_id,
        method_id,
        amount: value.amount,
        currency: value.currency.as_deref().map(Currency::parse).transpose()?,
        transaction_ref: value.transaction_ref,
        invoice_id: value.invoice_id,
        note: value.note,
        attrs: value.attrs.unwrap_or(serde_json::Value::Null),
        custom: value.custom.unwrap_or(false),
    };
    let answer = |payment: &Payment| json(StatusCode::CREATED, payment);
    let actor = caller.actor(Source::Native, Some(raw));
    let payment = state.ledger.create_payment(&actor, &value.order_id, new, idem.once(answer)).await.map_err(
        |error| match error {
            // Another currency than the order's: a valid request that this order refuses.
            paystate_store::StoreError::Domain(paystate_domain::DomainError::Invalid {
                field: "currency",
                message,
            }) => {
                let mut refused = ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "currency-mismatch",
                    "Not the order's currency",
                    message,
                );
                refused.0.field = Some("currency".into());
                refused
            }
            other => other.into(),
        },
    )?;
    Ok(respond(answer(&payment)))
}

#[utoipa::path(get, operation_id = "payments_get", path = "/v1/payments/{id}", tag = "payments", params(("id" = String, Path, description = "payment id or external id")),
    responses((status = 200, body = Payment), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get(Native { state, caller }: Native, Path(id): Path<String>) -> ApiResult<axum::Json<Payment>> {
    Ok(axum::Json(state.ledger.payment(&caller.tenant_id, &id).await?))
}

#[utoipa::path(get, operation_id = "payments_list", path = "/v1/payments", tag = "payments", params(PaymentQuery),
    responses((status = 200, body = ListOf<Payment>)), security(("bearer" = [])))]
pub async fn list(
    Native { state, caller }: Native,
    Query(query): Query<PaymentQuery>,
) -> ApiResult<axum::Json<ListOf<Payment>>> {
    let page = super::Paging { limit: query.limit, cursor: query.cursor }.page()?;
    let order_id = match query.order_id {
        Some(order) => match state.ledger.order(&caller.tenant_id, &order).await {
            Ok(order) => Some(order.id),
            // An unknown order has no payments.
            Err(paystate_store::StoreError::NotFound) => {
                return Ok(axum::Json(ListOf { data: vec![], has_more: false, next_cursor: None }));
            }
            Err(error) => return Err(error.into()),
        },
        None => None,
    };
    let filter = PaymentFilter {
        order_id,
        status: query.status,
        needs_review: query.needs_review,
        include_deleted: query.include_deleted.unwrap_or(false),
    };
    Ok(axum::Json(state.ledger.payments(&caller.tenant_id, filter, page).await?.into()))
}

#[utoipa::path(patch, operation_id = "payments_patch", path = "/v1/payments/{id}", tag = "payments", request_body = PatchPayment,
    responses((status = 200, body = Payment), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn patch(
    Native { state, caller }: Native,
    idem: Idempotency,
    Path(id): Path<String>,
    body: Json<PatchPayment>,
) -> ApiResult<Response> {
    let Json { value, raw } = body;
    let method_id = value.method_id.map(method_id).transpose()?;
    known_method(&state, &caller, method_id.as_ref().and_then(Option::as_ref)).await?;
    let patch = PaymentPatch {
        amount: value.amount,
        method_id,
        external_id: value.external_id,
        transaction_ref: value.transaction_ref,
        invoice_id: value.invoice_id,
        note: value.note,
        attrs: value.attrs,
        custom: value.custom,
        correction: value.correction,
    };
    run(&state, &caller, idem, &id, PaymentCommand::Update(patch), None, raw).await
}

#[utoipa::path(delete, operation_id = "payments_delete", path = "/v1/payments/{id}", tag = "payments",
    responses((status = 200, body = Payment), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn delete(
    Native { state, caller }: Native,
    idem: Idempotency,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    run(&state, &caller, idem, &id, PaymentCommand::Delete, None, String::new()).await
}

#[utoipa::path(post, operation_id = "payments_report_status", path = "/v1/payments/{id}/status", tag = "payments", request_body = ReportStatus,
    responses((status = 200, body = Payment, description = "applied, unchanged or stale: see the paystate-outcome header"),
        (status = 409, body = Problem, description = "contradicts a settled status; the payment is flagged for review")),
    security(("bearer" = [])))]
pub async fn report_status(
    Native { state, caller }: Native,
    idem: Idempotency,
    Path(id): Path<String>,
    body: Json<ReportStatus>,
) -> ApiResult<Response> {
    let Json { value, raw } = body;
    let command = PaymentCommand::ReportStatus { status: value.status, paid_at: value.paid_at };
    run(&state, &caller, idem, &id, command, reason(value.reason)?, raw).await
}

#[utoipa::path(post, operation_id = "payments_refund", path = "/v1/payments/{id}/refunds", tag = "payments", request_body = Adjust,
    responses((status = 200, body = Payment), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn refund(
    Native { state, caller }: Native,
    idem: Idempotency,
    Path(id): Path<String>,
    body: Json<Adjust>,
) -> ApiResult<Response> {
    adjust(state, caller, idem, id, body, Adjustment::Refund).await
}

#[utoipa::path(post, operation_id = "payments_chargeback", path = "/v1/payments/{id}/chargebacks", tag = "payments", request_body = Adjust,
    responses((status = 200, body = Payment), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn chargeback(
    Native { state, caller }: Native,
    idem: Idempotency,
    Path(id): Path<String>,
    body: Json<Adjust>,
) -> ApiResult<Response> {
    adjust(state, caller, idem, id, body, Adjustment::Chargeback).await
}

async fn adjust(
    state: AppState,
    caller: Caller,
    idem: Idempotency,
    id: String,
    body: Json<Adjust>,
    kind: Adjustment,
) -> ApiResult<Response> {
    let Json { value, raw } = body;
    let command = PaymentCommand::Adjust { kind, amount: value.amount, missing: MissingAmount::Remaining };
    run(&state, &caller, idem, &id, command, reason(value.reason)?, raw).await
}

#[utoipa::path(post, operation_id = "payments_resolve", path = "/v1/payments/{id}/resolve", tag = "payments", request_body = Resolve,
    responses((status = 200, body = Payment), (status = 403, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn resolve(
    Native { state, caller }: Native,
    idem: Idempotency,
    Path(id): Path<String>,
    body: Json<Resolve>,
) -> ApiResult<Response> {
    caller.require(Scope::Admin)?;
    let Json { value, raw } = body;
    if value.reason.trim().is_empty() {
        return Err(ApiError::invalid("reason", "a resolution needs a reason"));
    }
    let command = PaymentCommand::Resolve { status: value.status };
    run(&state, &caller, idem, &id, command, reason(Some(value.reason))?, raw).await
}

async fn run(
    state: &AppState,
    caller: &Caller,
    idem: Idempotency,
    id: &str,
    command: PaymentCommand,
    reason: Option<String>,
    raw: String,
) -> ApiResult<Response> {
    let body = (!raw.is_empty()).then_some(raw);
    let once = idem.once(|(payment, outcome): &(Payment, Outcome)| outcome_answer(payment, *outcome));
    let (payment, outcome) =
        state.ledger.command(&caller.actor(Source::Native, body), id, command, reason, once).await?;
    state.metrics.report(Source::Native, outcome, payment.status);
    Ok(respond(outcome_answer(&payment, outcome)))
}

/// Applied, unchanged and stale reports answer 200 with the payment and a `paystate-outcome`
/// header; a conflict answers 409 (it is recorded and the payment flagged all the same).
pub fn outcome_answer(payment: &Payment, outcome: Outcome) -> paystate_store::StoredResponse {
    let name = match outcome {
        Outcome::Applied => "applied",
        Outcome::Unchanged => "unchanged",
        Outcome::Stale => "stale",
        Outcome::Conflict { current, reported } => {
            return crate::idempotency::problem(&conflict(&payment.id, current, reported));
        }
    };
    let mut answer = json(StatusCode::OK, payment);
    answer.headers.push(("paystate-outcome".into(), name.into()));
    answer
}

pub fn conflict(payment: &PaymentId, current: PaymentStatus, reported: PaymentStatus) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "status-conflict",
        "Status conflict",
        format!("the payment is {current}; {reported} contradicts it. The report is recorded and the payment flagged for review"),
    )
    .with_extra(serde_json::json!({"payment_id": payment, "current_status": current, "reported_status": reported}))
}
