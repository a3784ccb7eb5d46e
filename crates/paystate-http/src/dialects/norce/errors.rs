//! The hook's error format: Norce's payment adapters answer `{"code": "...", "message": "..."}`
//! with codes such as `order-not-found`, `order-bad-request`, `order-conflict`,
//! `payment-not-found`, `unauthorized` and `internal-server-error`, and this hook belongs to an
//! adapter, so the checkout reads its refusals in that shape. paystate adds `field` (the JSON path,
//! header or path parameter refused) and, for a conflict, what it holds; a client that reads only
//! `code` and `message` loses nothing.
//!
//! The handler works with the crate's `ApiError` (one mapping of domain and store errors); this
//! module is the one place that turns it into Norce's shape.

use crate::problem::ApiError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
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

impl NorceError {
    pub fn internal() -> Self {
        NorceError {
            code: "internal-server-error".into(),
            message: "an internal error occurred".into(),
            field: None,
            conflict: None,
            status: 500,
        }
    }
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
