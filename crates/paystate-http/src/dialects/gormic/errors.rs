//! Gormic's error format, `{"error": {"code", "message"}}` (HTTP 400 for the documented rule
//! codes), and the one place where the ledger's errors, the order book's refusals and
//! authentication failures are worded as Gormic's codes.

use super::render::major;
use super::wire::{ErrorBody, ErrorDetail, Status};
use crate::auth::AuthFailure;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use paystate_domain::order_book::{BookError, Step};
use paystate_domain::{DomainError, OrderState};
use paystate_ledger::PaymentDeskError;
use paystate_store::StoreError;

/// A refusal in Gormic's format: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
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

    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "the request could not be completed")
    }
}

impl From<AuthFailure> for Refusal {
    /// A key limited to another dialect gets the very answer of an unknown one.
    fn from(failure: AuthFailure) -> Self {
        match failure {
            AuthFailure::Unavailable => Refusal::unavailable(),
            AuthFailure::Unauthorized | AuthFailure::WrongDialect => Refusal::unauthorized(),
        }
    }
}

impl From<PaymentDeskError> for Refusal {
    fn from(error: PaymentDeskError) -> Self {
        match error {
            PaymentDeskError::OrderNotFound => Refusal::not_found("order"),
            PaymentDeskError::PaymentNotFound => Refusal::not_found("payment"),
            PaymentDeskError::Invalid { field, message } => {
                Refusal::invalid(&format!("params.{}", wire_name(field)), message)
            }
            PaymentDeskError::Amount(problem) => Refusal::invalid("params.amount", problem.to_string()),
            PaymentDeskError::MethodNotFound(method) => Refusal::method_not_found(&method),
            PaymentDeskError::Rule(refusal) => refusal.into(),
            PaymentDeskError::Moved => Refusal::unavailable(),
            PaymentDeskError::Store(error) => error.into(),
        }
    }
}

impl From<BookError> for Refusal {
    fn from(error: BookError) -> Self {
        match error {
            BookError::OrderNotOpen(OrderState::Canceled) => Refusal::order_canceled(),
            BookError::OrderNotOpen(_) => Refusal::order_closed(),
            BookError::RefundExceedsReceipt { receipt, currency, requested, available } => {
                Refusal::limit_reached(format!(
                    "a refund of {} exceeds the {} still refundable of payment {receipt}",
                    major(currency, requested),
                    major(currency, available),
                ))
            }
            BookError::BelowRefunded { currency, used } => Refusal::limit_reached(format!(
                "refunds and chargebacks of this payment already take {}",
                major(currency, used)
            )),
            BookError::NotNow { status, in_progress, step } => {
                let status = Status::of_parts(status, in_progress).as_str();
                Refusal::invalid_status(match step {
                    Step::Confirm => format!("a {status} payment cannot be confirmed"),
                    Step::Reverse => format!("a {status} payment cannot be reversed"),
                    Step::Delete => format!("a {status} payment cannot be deleted"),
                    Step::Update => format!("a {status} payment changes only with correction: true"),
                    Step::Become(target) => {
                        format!("a {status} payment cannot become {}", Status::of_target(target).as_str())
                    }
                })
            }
            BookError::SourceNotCompleted | BookError::RefundFinal | BookError::RefundAmountFinal => {
                Refusal::invalid_status(error.to_string())
            }
        }
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
                let status = Status::of_canonical(status).as_str();
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
        "external_id" | "payment_id" => "id",
        "order_id" => "orderId",
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
        let body = ErrorBody { error: ErrorDetail { code: self.code.into(), message: self.message } };
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
