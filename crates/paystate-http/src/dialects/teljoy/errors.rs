//! Teljoy's error format: ASP.NET Core problem details, as the document shows them.
//!
//! `type` is the RFC section of the status as ASP.NET links it (RFC 7231, and RFC 7235 for 401),
//! `traceId` is paystate's request id, and a 400 carries the `errors` map of validation
//! messages. Internal details never reach the body; they go to the log. This module owns the
//! `errors` map, the wording of the JSON reader's refusals in ASP.NET's words, the answer of every
//! failure, and one mapping of each ledger error the dialect meets.

use crate::dialects::json::{Kind, Problem, Refused};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use paystate_domain::DomainError;
use paystate_ledger::{PaymentReadError, PaymentReportError};
use paystate_store::StoreError;
use serde::Serialize;
use std::collections::BTreeMap;

/// Validation errors by property name, as ASP.NET's `errors` map.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Errors(pub BTreeMap<String, Vec<String>>);

impl Errors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.entry(field.to_owned()).or_default().push(message.into());
    }

    pub fn required(&mut self, field: &str) {
        self.add(field, format!("The {field} field is required."));
    }

    /// A refusal of the JSON reader, in ASP.NET's words, under the member's name.
    pub fn refused(&mut self, refused: &Refused) {
        let field = refused.path.as_str();
        match &refused.problem {
            Problem::Required => self.required(field),
            Problem::Expected(Kind::String) => self.add(field, format!("The {field} field must be a string.")),
            Problem::Repeated => self.add(field, format!("The {field} field was given more than once.")),
            // The body's members are read as strings only, and unknown ones are ignored (ASP.NET
            // ignores them): the reader's other refusals are worded plainly should one appear.
            _ => self.add(field, format!("The {field} field {}.", refused.message())),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// An error answer, before it is stamped with the request's trace id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub status: StatusCode,
    pub detail: Option<String>,
    pub errors: Option<Errors>,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    #[serde(rename = "traceId")]
    trace_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a BTreeMap<String, Vec<String>>>,
}

/// ASP.NET Core's `type` link and title for a status.
fn type_and_title(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("https://tools.ietf.org/html/rfc7231#section-6.5.1", "One or more validation errors occurred."),
        401 => ("https://tools.ietf.org/html/rfc7235#section-3.1", "Unauthorized"),
        403 => ("https://tools.ietf.org/html/rfc7231#section-6.5.3", "Forbidden"),
        404 => ("https://tools.ietf.org/html/rfc7231#section-6.5.4", "Not Found"),
        405 => ("https://tools.ietf.org/html/rfc7231#section-6.5.5", "Method Not Allowed"),
        409 => ("https://tools.ietf.org/html/rfc7231#section-6.5.8", "Conflict"),
        413 => ("https://tools.ietf.org/html/rfc7231#section-6.5.11", "Payload Too Large"),
        415 => ("https://tools.ietf.org/html/rfc7231#section-6.5.13", "Unsupported Media Type"),
        503 => ("https://tools.ietf.org/html/rfc7231#section-6.6.4", "Service Unavailable"),
        // The document's own 500 title; the type is the section of 500 (the document's sample
        // repeats the 400 link there).
        _ => ("https://tools.ietf.org/html/rfc7231#section-6.6.1", "An error occurred."),
    }
}

impl Failure {
    fn plain(status: StatusCode) -> Self {
        Failure { status, detail: None, errors: None }
    }

    /// A 400 with its validation messages.
    pub fn validation(errors: Errors) -> Self {
        Failure { status: StatusCode::BAD_REQUEST, detail: None, errors: Some(errors) }
    }

    /// A 400 about one property (or `$`, the body as a whole).
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let mut errors = Errors::default();
        errors.add(field, message);
        Self::validation(errors)
    }

    /// Unknown, wrong, revoked and expired keys alike.
    pub fn unauthorized() -> Self {
        Self::plain(StatusCode::UNAUTHORIZED)
    }

    pub fn forbidden(detail: &str) -> Self {
        Failure { status: StatusCode::FORBIDDEN, detail: Some(detail.to_owned()), errors: None }
    }

    pub fn not_found() -> Self {
        Self::plain(StatusCode::NOT_FOUND)
    }

    pub fn method_not_allowed() -> Self {
        Self::plain(StatusCode::METHOD_NOT_ALLOWED)
    }

    pub fn conflict(detail: String) -> Self {
        Failure { status: StatusCode::CONFLICT, detail: Some(detail), errors: None }
    }

    pub fn too_large() -> Self {
        Failure { status: StatusCode::PAYLOAD_TOO_LARGE, detail: Some("The body exceeds 1 MiB.".into()), errors: None }
    }

    pub fn unsupported_media_type() -> Self {
        Failure {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            detail: Some("Send the body as application/json.".into()),
            errors: None,
        }
    }

    pub fn unavailable() -> Self {
        Failure {
            status: StatusCode::SERVICE_UNAVAILABLE,
            detail: Some("The service is busy; retry shortly.".into()),
            errors: None,
        }
    }

    pub fn internal() -> Self {
        Self::plain(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The answer, with the request id as `traceId`.
    pub fn respond(&self, trace_id: &str) -> Response {
        let (kind, title) = type_and_title(self.status);
        let body = Body {
            kind,
            title,
            status: self.status.as_u16(),
            detail: self.detail.as_deref(),
            trace_id,
            errors: self.errors.as_ref().map(|e| &e.0),
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json; charset=utf-8"));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// Answers a failure without knowing the request: axum's `IntoResponse` sees none, so the body
/// has an empty `traceId` here, and [`with_trace_id`] (a layer of the dialect's router, which
/// sees the request) writes it again with the request's id.
impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut response = self.respond("");
        response.extensions_mut().insert(self);
        response
    }
}

/// The layer that stamps every failure a handler or an extractor answered with the request id.
pub async fn with_trace_id(request: Request, next: Next) -> Response {
    let trace = trace_id(request.extensions());
    let response = next.run(request).await;
    match response.extensions().get::<Failure>() {
        Some(failure) => failure.respond(&trace),
        None => response,
    }
}

/// The request id, the `traceId` of every failure.
pub fn trace_id(extensions: &axum::http::Extensions) -> String {
    crate::auth::request_id_in(extensions)
}

/// A body that failed validation: all its messages at once.
impl From<Errors> for Failure {
    fn from(errors: Errors) -> Self {
        Failure::validation(errors)
    }
}

/// A status report the ledger did not apply. The dialect's own refusal is the trust checks'
/// validation messages.
impl From<PaymentReportError<Errors>> for Failure {
    fn from(error: PaymentReportError<Errors>) -> Self {
        match error {
            PaymentReportError::NotFound => Failure::not_found(),
            PaymentReportError::Refused(errors) => Failure::validation(errors),
            PaymentReportError::Domain(error) => domain(error),
            PaymentReportError::Store(error) => store(error),
        }
    }
}

/// A read-back the ledger could not answer.
impl From<PaymentReadError> for Failure {
    fn from(error: PaymentReadError) -> Self {
        match error {
            PaymentReadError::NotFound => Failure::not_found(),
            PaymentReadError::Store(error) => store(error),
        }
    }
}

fn domain(error: DomainError) -> Failure {
    match &error {
        DomainError::Invalid { field, message } => Failure::invalid(field, message.clone()),
        DomainError::UnknownCurrency(_) | DomainError::TooManyDecimals { .. } | DomainError::AmountOutOfRange => {
            Failure::invalid("$", error.to_string())
        }
        // The payment's state refuses the update: the shop's view contradicts paystate's.
        DomainError::ExceedsAvailable { .. }
        | DomainError::NotAllowed { .. }
        | DomainError::Deleted
        | DomainError::OrderNotOpen(_) => Failure::conflict(format!("The update cannot be applied: {error}.")),
    }
}

fn store(error: StoreError) -> Failure {
    match error {
        StoreError::NotFound => Failure::not_found(),
        StoreError::Domain(error) => domain(error),
        StoreError::InvalidValue(_) => Failure::invalid("$", "The request holds a value that cannot be stored."),
        StoreError::Busy | StoreError::VersionConflict => Failure::unavailable(),
        StoreError::Duplicate(field) => Failure::conflict(format!("The {field} already exists.")),
        other => {
            tracing::error!(error = %other, "storage failure");
            Failure::internal()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    async fn body(response: Response) -> (StatusCode, String, Value) {
        let status = response.status();
        let content_type = response.headers()[header::CONTENT_TYPE].to_str().unwrap().to_owned();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, content_type, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn the_validation_shape_is_the_documents() {
        let mut errors = Errors::default();
        errors.required("apiKey");
        errors.required("id");
        let (status, content_type, value) = body(Failure::validation(errors).respond("698b5f0f")).await;
        assert_eq!(status, 400);
        assert_eq!(content_type, "application/problem+json; charset=utf-8");
        assert_eq!(
            value,
            json!({
                "type": "https://tools.ietf.org/html/rfc7231#section-6.5.1",
                "title": "One or more validation errors occurred.",
                "status": 400,
                "traceId": "698b5f0f",
                "errors": {"apiKey": ["The apiKey field is required."], "id": ["The id field is required."]}
            })
        );
    }

    #[test]
    fn the_json_readers_refusals_are_worded_as_aspnet_words_them() {
        use crate::dialects::json::Members;
        let body = json!({"status": 3, "Id": "a", "ID": "b"});
        let members = Members::root(body.as_object().unwrap()).ignoring_case();
        let mut errors = Errors::default();
        errors.refused(&members.string("status").unwrap_err());
        errors.refused(&members.string("id").unwrap_err());
        errors.refused(&members.required_string("trust_Seed").unwrap_err());
        assert_eq!(errors.0["status"], ["The status field must be a string."]);
        assert_eq!(errors.0["id"], ["The id field was given more than once."]);
        assert_eq!(errors.0["trust_Seed"], ["The trust_Seed field is required."]);
    }

    #[tokio::test]
    async fn internal_failures_say_nothing_of_the_cause() {
        let failure = Failure::from(PaymentReadError::Store(StoreError::Backend(
            "connection to 10.0.0.5 refused, password=hunter2".into(),
        )));
        let (status, _, value) = body(failure.respond("05faffa9")).await;
        assert_eq!(status, 500);
        assert_eq!(
            value,
            json!({
                "type": "https://tools.ietf.org/html/rfc7231#section-6.6.1",
                "title": "An error occurred.",
                "status": 500,
                "traceId": "05faffa9"
            })
        );
    }

    #[tokio::test]
    async fn busy_is_a_503_with_retry_after() {
        let response = Failure::from(PaymentReadError::Store(StoreError::Busy)).respond("t");
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        let (status, _, value) = body(response).await;
        assert_eq!(status, 503);
        assert_eq!(value["type"], "https://tools.ietf.org/html/rfc7231#section-6.6.4");
    }
}
