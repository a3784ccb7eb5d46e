//! RFC 9457 problem details: the native API's error format, and the one place where domain and
//! storage errors become HTTP statuses. Internal error text goes to the log, never to a client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use paystate_domain::DomainError;
use paystate_store::StoreError;
use serde::Serialize;

/// A problem as the native API answers it; `kind` is the stable last segment of `type`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The field a validation problem is about, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Extra members for specific problems (e.g. the current and reported status of a conflict).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub extra: Option<serde_json::Value>,
}

pub const PROBLEM_BASE: &str = "https://paystate.dev/problems/";

use paystate_ledger::KEY_TAKEN_FIELD;

/// The error type of every native handler.
#[derive(Debug, Clone)]
pub struct ApiError(pub Box<Problem>);

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, kind: &str, title: &str, detail: impl Into<String>) -> Self {
        ApiError(Box::new(Problem {
            kind: format!("{PROBLEM_BASE}{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
            extra: None,
        }))
    }

    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let mut error = Self::new(StatusCode::BAD_REQUEST, "invalid-request", "The request is invalid", detail);
        error.0.field = Some(field.into());
        error
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid-request", "The request is invalid", detail)
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized", "a valid API key is required")
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", "no such resource")
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal server error",
            "the request could not be completed",
        )
    }

    pub fn with_extra(mut self, extra: serde_json::Value) -> Self {
        self.0.extra = Some(extra);
        self
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        let unprocessable =
            |kind: &str, title: &str| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, kind, title, error.to_string());
        match &error {
            DomainError::Invalid { field, message } => ApiError::invalid(*field, message.clone()),
            DomainError::UnknownCurrency(_) => ApiError::invalid("currency", error.to_string()),
            DomainError::TooManyDecimals { .. } | DomainError::AmountOutOfRange => {
                ApiError::invalid("amount", error.to_string())
            }
            DomainError::ExceedsAvailable { .. } => {
                unprocessable("exceeds-available", "Amount exceeds what is available")
            }
            DomainError::NotAllowed { .. } => unprocessable("not-allowed", "Not allowed in the current status"),
            DomainError::Deleted => unprocessable("deleted", "The payment is deleted"),
            DomainError::OrderNotOpen(_) => unprocessable("order-not-open", "The order is not open"),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ApiError::not_found(),
            StoreError::Duplicate(field) => {
                let mut e = ApiError::new(
                    StatusCode::CONFLICT,
                    "duplicate",
                    "Already exists",
                    format!("{field} already exists"),
                );
                e.0.field = Some(field.to_owned());
                e
            }
            StoreError::VersionConflict => ApiError::new(
                StatusCode::CONFLICT,
                "concurrent-update",
                "Changed concurrently",
                "the record changed; retry",
            ),
            StoreError::Domain(domain) => domain.into(),
            StoreError::InvalidValue(detail) => ApiError::bad_request(detail),
            StoreError::Busy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "Service busy",
                "the database is busy; retry shortly",
            ),
            other => {
                tracing::error!(error = %other, "storage failure");
                ApiError::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let key_taken = status == StatusCode::CONFLICT && self.0.field.as_deref() == Some(KEY_TAKEN_FIELD);
        let mut response = (status, axum::Json(self.0)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if key_taken {
            response.extensions_mut().insert(crate::idempotency::KeyTaken);
        }
        response
    }
}
