//! The hook's error format: Norce's payment adapters answer `{"code": "...", "message": "..."}`
//! with codes such as `order-not-found`, `order-bad-request`, `order-conflict`,
//! `payment-not-found`, `unauthorized` and `internal-server-error`, and this hook belongs to an
//! adapter, so the checkout reads its refusals in that shape. paystate adds `field` (the JSON path,
//! header or path parameter refused) and, for a conflict, what it holds; a client that reads only
//! `code` and `message` loses nothing.
//!
//! This module is the one place that words a refusal for Norce: the body's, the checkout use
//! case's (naming the fields of the order that was sent), the conflict's, and the crate's shared
//! ones (`ApiError`: credentials, body size, a busy database).

use super::parse::{BodyError, Invalid, Sent};
use super::wire::NorcePaymentState;
use crate::problem::ApiError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use paystate_domain::{DomainError, Payment, PaymentStatus};
use paystate_ledger::CheckoutError;
use paystate_store::StoreError;
use serde::Serialize;

/// A refusal as Norce's adapters write it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NorceError {
    /// `order-bad-request`, `order-conflict`, `order-not-found`, `payment-not-found`,
    /// `unauthorized`, `forbidden`, `payload-too-large`, `service-unavailable` or
    /// `internal-server-error`.
    #[schema(example = "order-bad-request")]
    pub code: String,
    /// What is wrong, starting with the field it is about.
    #[schema(example = "payments[0].amount has more decimals than SEK has (2): 1.001")]
    pub message: String,
    /// The field refused: a JSON path into the order (`payments[0].amount`), a header
    /// (`x-merchant`) or a path parameter (`payment_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// A conflict's details: `payment_id` (Norce's), `paystate_payment_id`, `reported_state`,
    /// `current_state` (Norce's word for what paystate holds) and `current_status`.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub conflict: Option<serde_json::Value>,
    #[serde(skip)]
    status: u16,
}

impl From<ApiError> for NorceError {
    fn from(error: ApiError) -> Self {
        let problem = *error.0;
        let kind = problem.kind.rsplit('/').next().unwrap_or_default();
        let code = match (problem.status, kind) {
            (400, "status-conflict") => "order-conflict",
            (400, _) => "order-bad-request",
            (401, _) => "unauthorized",
            (403, _) => "forbidden",
            (404, _) if problem.field.as_deref() == Some("payment_id") => "payment-not-found",
            (404, _) => "order-not-found",
            (413, _) => "payload-too-large",
            (503, _) => "service-unavailable",
            _ => "internal-server-error",
        };
        NorceError {
            code: code.to_owned(),
            message: problem.detail,
            field: problem.field,
            conflict: problem.extra,
            status: problem.status,
        }
    }
}

impl From<Invalid> for NorceError {
    fn from(refused: Invalid) -> Self {
        let detail = refused.detail();
        NorceError::bad_request(refused.field, detail)
    }
}

impl From<BodyError> for NorceError {
    fn from(error: BodyError) -> Self {
        match error {
            BodyError::Invalid(refused) => refused.into(),
            BodyError::PaymentNotInOrder { payment_id } => NorceError::not_found(
                "payment_id",
                format!("payment_id {payment_id:?} is not one of the order's payments (payments[].id)"),
            ),
        }
    }
}

impl NorceError {
    fn new(status: StatusCode, code: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        NorceError {
            code: code.to_owned(),
            message: message.into(),
            field: Some(field.into()),
            conflict: None,
            status: status.as_u16(),
        }
    }

    /// `order-bad-request` about `field`; `message` is the whole sentence.
    pub fn bad_request(field: impl Into<String>, message: impl Into<String>) -> Self {
        NorceError::new(StatusCode::BAD_REQUEST, "order-bad-request", field, message)
    }

    /// `payment-not-found` about the path's payment, else `order-not-found`.
    pub fn not_found(field: &str, message: String) -> Self {
        let code = if field == "payment_id" { "payment-not-found" } else { "order-not-found" };
        NorceError::new(StatusCode::NOT_FOUND, code, field, message)
    }

    /// The database could not be asked in time: 503, to be retried.
    pub fn busy() -> Self {
        NorceError {
            code: "service-unavailable".into(),
            message: "the database is busy; retry shortly".into(),
            field: None,
            conflict: None,
            status: 503,
        }
    }

    pub fn internal() -> Self {
        NorceError {
            code: "internal-server-error".into(),
            message: "an internal error occurred".into(),
            field: None,
            conflict: None,
            status: 500,
        }
    }

    /// The checkout use case's refusal, worded with the fields of the order that was sent (which
    /// is why this is no `From`: the error alone does not know them).
    pub fn from_checkout(error: CheckoutError, sent: &Sent) -> Self {
        match error {
            CheckoutError::ForeignMerchant => NorceError::not_found(
                "x-merchant",
                format!(
                    "merchant {:?} is not one of this tenant's Norce merchants (settings.norce.merchants)",
                    sent.ids.merchant
                ),
            ),
            CheckoutError::Currency(held) => NorceError::bad_request(
                "currency",
                format!(
                    "currency is {}, but paystate holds the order in {held}; an order's currency does not change",
                    sent.currency
                ),
            ),
            CheckoutError::PaymentOfAnotherOrder => {
                let field = sent.payment.field("id");
                let detail = format!("{field} names a payment that paystate holds for another order");
                NorceError::bad_request(field, detail)
            }
            CheckoutError::Store(error) => store_error(error, sent),
        }
    }

    /// A state that contradicts a settled payment: recorded and flagged, answered 400 naming the conflict.
    pub fn conflict(sent: &Sent, payment: &Payment, current: PaymentStatus) -> Self {
        let reported = &sent.payment.state_text;
        let held = NorcePaymentState::of(payment).written_like(reported);
        let field = sent.payment.field("state");
        let detail = format!(
            "{field} {reported:?} contradicts payment {:?}, which paystate holds as {current} ({held}); the report is recorded and the payment flagged for review",
            sent.ids.payment_id
        );
        let mut error = NorceError::new(StatusCode::BAD_REQUEST, "order-conflict", field, detail);
        error.conflict = Some(serde_json::json!({
            "payment_id": sent.ids.payment_id,
            "paystate_payment_id": payment.id,
            "reported_state": reported,
            "current_state": held,
            "current_status": current,
        }));
        error
    }
}

/// A store or domain error, in the hook's terms: 400 naming the field, 404, or 503 and 500.
fn store_error(error: StoreError, sent: &Sent) -> NorceError {
    let payment = &sent.payment;
    let domain = match error {
        StoreError::Domain(domain) => domain,
        StoreError::InvalidValue(detail) => {
            return NorceError::bad_request("body", format!("body holds a value paystate cannot store: {detail}"));
        }
        other => return ApiError::from(other).into(),
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
            format!("payment {:?} is {status} in paystate, which does not allow {action}", sent.ids.payment_id),
        ),
        DomainError::Deleted => (
            payment.field("id"),
            format!("payment {:?} was deleted in paystate and takes no more updates", sent.ids.payment_id),
        ),
        DomainError::OrderNotOpen(state) => {
            ("id".to_owned(), format!("order {:?} is {state} in paystate and takes no new payments", sent.ids.order_id))
        }
    };
    NorceError::bad_request(field, detail)
}

impl IntoResponse for NorceError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(&self)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
        }
        response
    }
}
