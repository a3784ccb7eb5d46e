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

pub mod errors;
pub mod transformers;

use crate::AppState;
use crate::auth::{self, AuthFailure, Caller};
use crate::extract::{body_bytes, has_nul};
use crate::problem::{ApiError, ApiResult};
use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::FutureExt;
use paystate_domain::order::{NewOrder, OrderPatch};
use paystate_domain::payment::{Adjustment, MissingAmount, NewPayment};
use paystate_domain::{
    Actor, DomainError, Order, Outcome, Payment, PaymentCommand, PaymentPatch, PaymentStatus, PaymentType, Source,
    Tenant,
};
use paystate_ledger::{apply, find_order, find_payment, now, open_order, open_payment};
use paystate_store::{Scope, StoreError, StoreResult, Tx};
use serde_json::Value;
use transformers::{BodyError, Hook, Ids, Invalid, NorceOrder, NorcePatchOperation, NorcePaymentState, Plan, Step};

/// The documented path of the hook.
pub const UPDATE_PAYMENT: &str = "/api/checkout/v1/callback/orders/{order_id}/payments/{payment_id}/update-payment";

/// How many times a hook is run again when a concurrent one changed or created its records first.
const RETRIES: usize = 5;

#[derive(utoipa::OpenApi)]
#[openapi(paths(update_payment), components(schemas(errors::NorceError)))]
pub struct Doc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(UPDATE_PAYMENT, post(update_payment))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(on_panic))
}

/// A handler that panicked answers in Norce's format, like every other failure of the hook.
pub(crate) fn on_panic(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("the norce hook panicked");
    errors::NorceError::internal().into_response()
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
        (status = 400, description = "A missing header, an invalid field (`order-bad-request`, named in `field`), or a state that contradicts a settled payment (`order-conflict`, recorded and flagged for review)", body = errors::NorceError),
        (status = 401, description = "No valid paystate API key (`unauthorized`)", body = errors::NorceError),
        (status = 403, description = "The key may not write, or is limited to another dialect (`forbidden`)", body = errors::NorceError),
        (status = 404, description = "The merchant is not the tenant's (`order-not-found`), or the payment is not in the order (`payment-not-found`)", body = errors::NorceError),
        (status = 413, description = "The body is above 1 MiB (`payload-too-large`)", body = errors::NorceError),
        (status = 503, description = "The database stayed busy; retry (`service-unavailable`)", body = errors::NorceError),
    ),
    security(("bearer" = []))
)]
pub async fn update_payment(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    request: Request,
) -> Response {
    match handle(&state, path, request).await {
        Ok(operations) => (StatusCode::OK, axum::Json(operations)).into_response(),
        Err(error) => errors::NorceError::from(error).into_response(),
    }
}

async fn handle(
    state: &AppState,
    path: Result<Path<(String, String)>, PathRejection>,
    request: Request,
) -> ApiResult<Vec<NorcePatchOperation>> {
    let (parts, body) = request.into_parts();
    let caller = authenticate(state, &parts).await?;
    let Path((order_id, payment_id)) =
        path.map_err(|_| ApiError::invalid("order_id", "the path's order_id and payment_id must be UTF-8 text"))?;
    transformers::check_id("order_id", &order_id).map_err(invalid)?;
    transformers::check_id("payment_id", &payment_id).map_err(invalid)?;
    let merchant = required_header(&parts.headers, "x-merchant")?;
    let channel = required_header(&parts.headers, "x-channel")?;
    check_content_type(&parts.headers)?;
    let bytes = body_bytes(&parts.headers, body).await?;
    if has_nul(&bytes) {
        return Err(ApiError::invalid("body", "body must not contain NUL characters"));
    }
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::invalid("body", format!("body is not valid JSON: {e}")))?;
    let ids = Ids { order_id, payment_id, merchant, channel };
    let hook = transformers::parse(&value, ids).map_err(|error| match error {
        BodyError::Invalid(refused) => invalid(refused),
        BodyError::PaymentNotInOrder { payment_id } => not_found(
            "payment_id",
            format!("payment_id {payment_id:?} is not one of the order's payments (payments[].id)"),
        ),
    })?;
    let actor = caller.actor(Source::Norce, Some(String::from_utf8_lossy(&bytes).into_owned()));
    let written = record(state, &actor, &hook).await?;
    state.metrics.report(Source::Norce, written.outcome, written.payment.status);
    if let Outcome::Conflict { current, .. } = written.outcome {
        return Err(conflict(&hook, &written.payment, current));
    }
    Ok(transformers::answer(&hook.payment, &written.payment))
}

/// The bearer key of the request, allowed to write through this dialect.
async fn authenticate(state: &AppState, parts: &axum::http::request::Parts) -> ApiResult<Caller> {
    // Norce's own samples send the key without the `Bearer` word.
    let token = auth::bearer_or_bare(parts).ok_or_else(ApiError::unauthorized)?;
    let caller = match auth::authenticate(state, token, Source::Norce, &auth::request_id(parts)).await {
        Ok(caller) => caller,
        Err(AuthFailure::Unauthorized) => return Err(ApiError::unauthorized()),
        Err(AuthFailure::WrongDialect) => return Err(ApiError::forbidden("this key is limited to another dialect")),
        Err(AuthFailure::Unavailable) => return Err(StoreError::Busy.into()),
    };
    caller.require(Scope::Write)?;
    Ok(caller)
}

fn required_header(headers: &HeaderMap, name: &'static str) -> ApiResult<String> {
    let value = headers
        .get(name)
        .ok_or_else(|| ApiError::invalid(name, format!("the {name} header is required")))?
        .to_str()
        .map_err(|_| ApiError::invalid(name, format!("the {name} header must be visible ASCII text")))?
        .trim();
    transformers::check_id(name, value)
        .map_err(|refused| ApiError::invalid(name, format!("the {name} header {}", refused.message)))?;
    Ok(value.to_owned())
}

/// JSON under any of its names: `application/json`, Norce's own `application/json-patch+json`,
/// any `application/*+json`; a body without a content type is read as JSON too.
fn check_content_type(headers: &HeaderMap) -> ApiResult<()> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else { return Ok(()) };
    let essence = value.to_str().unwrap_or_default().split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json")) {
        Ok(())
    } else {
        Err(ApiError::invalid("Content-Type", "Content-Type must be application/json or application/json-patch+json"))
    }
}

fn invalid(refused: Invalid) -> ApiError {
    let detail = refused.detail();
    ApiError::invalid(refused.field, detail)
}

fn not_found(field: &str, detail: String) -> ApiError {
    let mut error = ApiError::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail);
    error.0.field = Some(field.to_owned());
    error
}

/// What a hook left the payment as, and what the status machine made of its report.
struct Written {
    payment: Payment,
    outcome: Outcome,
}

/// A hook refused inside its transaction, before anything was written.
enum Refusal {
    /// The merchant is not in the tenant's `settings.norce.merchants`.
    ForeignMerchant,
    /// The order exists in another currency.
    Currency(paystate_domain::Currency),
    /// The external id names a payment of another order (only a hand-made external id can).
    PaymentOfAnotherOrder,
}

/// Runs the hook in one transaction, again when a concurrent hook got there first.
async fn record(state: &AppState, actor: &Actor, hook: &Hook) -> ApiResult<Written> {
    for _ in 0..RETRIES {
        let (job_actor, job_hook) = (actor.clone(), hook.clone());
        let result = state
            .ledger
            .transaction(&actor.tenant_id, move |tx| async move { run(tx, &job_actor, &job_hook).await }.boxed())
            .await;
        match result {
            Ok(Ok(written)) => return Ok(written),
            Ok(Err(refusal)) => return Err(refused(refusal, hook)),
            // Another hook for the same order or payment committed first: read it again.
            Err(StoreError::VersionConflict | StoreError::Duplicate(_)) => continue,
            Err(error) => return Err(store_error(error, hook)),
        }
    }
    Err(StoreError::Busy.into())
}

/// The whole hook, inside one transaction: nothing is written unless all of it is.
async fn run(tx: &mut dyn Tx, actor: &Actor, hook: &Hook) -> StoreResult<Result<Written, Refusal>> {
    let tenant = tx.tenant(&actor.tenant_id).await?.ok_or(StoreError::NotFound)?;
    if !owns_merchant(&tenant, &hook.ids.merchant) {
        return Ok(Err(Refusal::ForeignMerchant));
    }
    let reference = transformers::order_reference(&hook.ids.merchant, &hook.ids.order_id);
    let external_id = transformers::payment_external_id(&hook.ids.merchant, &hook.ids.order_id, &hook.ids.payment_id);
    // The payment first, then its own order by id: a payment and its order are committed
    // together, so a concurrent first hook is seen whole or not at all (under read committed, an
    // order looked up first could be missed and its payment, committed meanwhile, then found).
    let payment = found(find_payment(&mut *tx, &tenant.id, &external_id).await)?;
    let order = match &payment {
        Some(payment) => {
            let order = tx.order(&tenant.id, &payment.order_id).await?.ok_or(StoreError::NotFound)?;
            if order.reference != reference {
                return Ok(Err(Refusal::PaymentOfAnotherOrder));
            }
            Some(order)
        }
        None => found(find_order(&mut *tx, &tenant.id, &reference).await)?,
    };
    if let Some(order) = &order
        && order.currency != hook.currency
    {
        return Ok(Err(Refusal::Currency(order.currency)));
    }

    let sent = hook.payment.state;
    let plan = match &payment {
        Some(payment) => transformers::plan(payment.status, transformers::fully_refunded(payment), sent),
        None => transformers::plan(PaymentStatus::Open, false, sent),
    };
    let (steps, payment) = match (plan, payment) {
        (Plan::Proceed(steps), payment) => (steps, payment),
        // A late or contradicting hook changes neither the order nor the payment's fields: the
        // machine records it (a stale event, or a conflict that flags the payment for review).
        (Plan::Stale(status), Some(payment)) => {
            let command = PaymentCommand::ReportStatus { status, paid_at: None };
            let (payment, outcome) = apply(&mut *tx, actor, &payment, &command, None).await?;
            return Ok(Ok(Written { payment, outcome }));
        }
        (Plan::Conflict(step), Some(payment)) => {
            let command = command_for(step, &payment);
            let (payment, outcome) = apply(&mut *tx, actor, &payment, &command, None).await?;
            return Ok(Ok(Written { payment, outcome }));
        }
        (Plan::Behind, Some(payment)) => return Ok(Ok(Written { payment, outcome: Outcome::Stale })),
        // A payment paystate does not know yet is open: every state is the same or later.
        (_, None) => return Err(StoreError::Backend("a new payment was planned as stale or conflicting".into())),
    };

    // An order older than the one paystate holds (Norce's lastModified) is old news for the
    // order and for the payment's fields alike; the payment's state still goes through the machine.
    let fresh = order.as_ref().is_none_or(|order| !is_older(order, hook));
    let order = match order {
        Some(order) if fresh => keep_order(&mut *tx, actor, order, hook).await?,
        Some(order) => order,
        None => open_order(&mut *tx, actor, new_order(hook, reference)).await?,
    };
    let method_id = method_of(&mut *tx, &tenant, &hook.payment.method_codes).await?;
    let mut payment = match payment {
        Some(payment) if !fresh => payment,
        None => {
            let new = NewPayment {
                external_id: Some(external_id),
                kind: Some(PaymentType::Receipt),
                method_id,
                amount: hook.payment.amount,
                currency: Some(hook.currency),
                transaction_ref: hook.payment.reference.clone(),
                attrs: serde_json::json!({"norce": hook.payment.snapshot}),
                ..NewPayment::default()
            };
            open_payment(&mut *tx, actor, &order, new).await?
        }
        Some(payment) => {
            let patch = PaymentPatch {
                amount: Some(hook.payment.amount),
                method_id: method_id.map(Some),
                transaction_ref: hook.payment.reference.clone().map(Some),
                attrs: Some(with_norce(&payment.attrs, hook.payment.snapshot.clone())),
                // A settled payment's fields change only as an audited correction (before and after).
                correction: matches!(payment.status, PaymentStatus::Paid | PaymentStatus::Reversed),
                ..PaymentPatch::default()
            };
            apply(&mut *tx, actor, &payment, &PaymentCommand::Update(patch), None).await?.0
        }
    };
    let mut outcome = Outcome::Unchanged;
    for step in steps {
        let command = command_for(step, &payment);
        let (next, result) = apply(&mut *tx, actor, &payment, &command, None).await?;
        payment = next;
        outcome = match (outcome, result) {
            (Outcome::Conflict { .. }, _) => outcome,
            (_, Outcome::Conflict { .. } | Outcome::Applied) => result,
            _ => outcome,
        };
    }
    Ok(Ok(Written { payment, outcome }))
}

/// `Some` for a record found, `None` for one that does not exist.
fn found<T>(result: StoreResult<T>) -> StoreResult<Option<T>> {
    match result {
        Ok(record) => Ok(Some(record)),
        Err(StoreError::NotFound) => Ok(None),
        Err(error) => Err(error),
    }
}

fn owns_merchant(tenant: &Tenant, merchant: &str) -> bool {
    tenant
        .setting(&["norce", "merchants"])
        .and_then(Value::as_array)
        .is_some_and(|merchants| merchants.iter().any(|m| m.as_str() == Some(merchant)))
}

fn command_for(step: Step, payment: &Payment) -> PaymentCommand {
    match step {
        Step::Report(status) => PaymentCommand::ReportStatus { status, paid_at: None },
        // A payment of nothing has nothing left to refund: the credit is then a fact to record.
        Step::RefundAll => PaymentCommand::Adjust {
            kind: Adjustment::Refund,
            amount: None,
            missing: if payment.remaining() > 0 { MissingAmount::Remaining } else { MissingAmount::FlagOnly },
        },
    }
}

fn new_order(hook: &Hook, reference: String) -> NewOrder {
    NewOrder {
        reference,
        currency: hook.currency,
        total_amount: hook.total.unwrap_or(0),
        customer: hook.customer.clone(),
        attributes: serde_json::json!({"norce": hook.order_snapshot}),
    }
}

/// Whether the hook's order is older than the one paystate holds (both with a `lastModified`).
fn is_older(order: &Order, hook: &Hook) -> bool {
    let held = order.attributes.get("norce").and_then(|n| n.get("lastModified")).and_then(Value::as_str);
    matches!((held.and_then(transformers::parse_timestamp), hook.last_modified), (Some(held), Some(sent)) if sent < held)
}

/// Keeps what the hook says of the order: total, customer and the Norce fields in `attributes.norce`.
async fn keep_order(tx: &mut dyn Tx, actor: &Actor, order: Order, hook: &Hook) -> StoreResult<Order> {
    let patch = OrderPatch {
        total_amount: hook.total,
        customer: Some(hook.customer.clone()),
        attributes: Some(with_norce(&order.attributes, hook.order_snapshot.clone())),
    };
    match order.patch(patch, actor, now())? {
        Some((next, event)) => {
            tx.update_order(&next).await?;
            tx.record(actor, event);
            Ok(next)
        }
        None => Ok(order),
    }
}

/// The tenant's payment method whose code is the payment's `adapterId` (else its `name`).
async fn method_of(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    codes: &[String],
) -> StoreResult<Option<paystate_domain::MethodId>> {
    if codes.is_empty() {
        return Ok(None);
    }
    let methods = tx.methods(&tenant.id).await?;
    Ok(codes.iter().find_map(|code| methods.iter().find(|m| m.code.eq_ignore_ascii_case(code)).map(|m| m.id.clone())))
}

/// `attributes` with its `norce` member set to what the hook says, other members kept.
fn with_norce(attributes: &Value, snapshot: Value) -> Value {
    let mut map = attributes.as_object().cloned().unwrap_or_default();
    map.insert("norce".into(), snapshot);
    Value::Object(map)
}

fn refused(refusal: Refusal, hook: &Hook) -> ApiError {
    match refusal {
        Refusal::ForeignMerchant => not_found(
            "x-merchant",
            format!(
                "merchant {:?} is not one of this tenant's Norce merchants (settings.norce.merchants)",
                hook.ids.merchant
            ),
        ),
        Refusal::Currency(held) => ApiError::invalid(
            "currency",
            format!(
                "currency is {}, but paystate holds the order in {held}; an order's currency does not change",
                hook.currency
            ),
        ),
        Refusal::PaymentOfAnotherOrder => {
            let field = hook.payment.field("id");
            let detail = format!("{field} names a payment that paystate holds for another order");
            ApiError::invalid(field, detail)
        }
    }
}

/// A store or domain error, in the hook's terms: 400 naming the field, 404, or 503 and 500.
fn store_error(error: StoreError, hook: &Hook) -> ApiError {
    let payment = &hook.payment;
    let domain = match error {
        StoreError::Domain(domain) => domain,
        StoreError::InvalidValue(detail) => {
            return ApiError::invalid("body", format!("body holds a value paystate cannot store: {detail}"));
        }
        other => return other.into(),
    };
    let (field, detail) = match domain {
        DomainError::Invalid { field, message } => {
            let field = match field {
                "amount" => payment.field("amount"),
                "transaction_ref" => payment.field("reference"),
                "attrs" => payment.field("attributes"),
                "total_amount" => "total.includingVat".to_owned(),
                other => other.to_owned(),
            };
            let detail = format!("{field} {message}");
            (field, detail)
        }
        DomainError::UnknownCurrency(_) => ("currency".to_owned(), format!("currency: {domain}")),
        DomainError::TooManyDecimals { .. } | DomainError::AmountOutOfRange | DomainError::ExceedsAvailable { .. } => {
            (payment.field("amount"), format!("{}: {domain}", payment.field("amount")))
        }
        DomainError::NotAllowed { status, action } => (
            payment.field("state"),
            format!("payment {:?} is {status} in paystate, which does not allow {action}", hook.ids.payment_id),
        ),
        DomainError::Deleted => (
            payment.field("id"),
            format!("payment {:?} was deleted in paystate and takes no more updates", hook.ids.payment_id),
        ),
        DomainError::OrderNotOpen(state) => {
            ("id".to_owned(), format!("order {:?} is {state} in paystate and takes no new payments", hook.ids.order_id))
        }
    };
    ApiError::invalid(field, detail)
}

/// A state that contradicts a settled payment: recorded and flagged, answered 400 naming the conflict.
fn conflict(hook: &Hook, payment: &Payment, current: PaymentStatus) -> ApiError {
    let sent = &hook.payment;
    let held = NorcePaymentState::of(payment).written_like(&sent.state_text);
    let field = sent.field("state");
    let detail = format!(
        "{field} {:?} contradicts payment {:?}, which paystate holds as {current} ({held}); the report is recorded and the payment flagged for review",
        sent.state_text, hook.ids.payment_id
    );
    let mut error = ApiError::new(StatusCode::BAD_REQUEST, "status-conflict", "Status conflict", detail);
    error.0.field = Some(field);
    error.with_extra(serde_json::json!({
        "payment_id": hook.ids.payment_id,
        "paystate_payment_id": payment.id,
        "reported_state": sent.state_text,
        "current_state": held,
        "current_status": current,
    }))
}
