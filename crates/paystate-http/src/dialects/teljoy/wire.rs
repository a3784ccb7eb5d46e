//! Teljoy's wire types: the status report's body and answer, the read-back's answer, and
//! ASP.NET Core's problem details, as serde writes them and OpenAPI describes them. The report's
//! body is read member by member (`parse::bind`), not through [`TeljoyStatusRequest`], which
//! describes it.

use serde::Serialize;
use std::collections::BTreeMap;

/// The body of a status update. Property names bind case-insensitively.
#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TeljoyStatusRequest {
    /// The API key, when it is not sent in the `api-key` header; both must agree when both are sent.
    #[serde(rename = "apiKey")]
    api_key: Option<String>,
    /// The payment's id or external id; must equal the path's when given.
    id: Option<String>,
    /// A WooCommerce order status.
    #[schema(
        example = "completed",
        pattern = "(?i)^(pending|on-hold|processing|completed|cancelled|refunded|failed|checkout-draft)$"
    )]
    status: String,
    /// Base64 of the order's product list in JSON (a consistency check; required unless the tenant
    /// sets `teljoy.verify_trust` to false).
    #[serde(rename = "trust_Seed")]
    trust_seed: Option<String>,
    /// MD5 hex of the order id (a consistency check; required unless the tenant sets
    /// `teljoy.verify_trust` to false).
    #[serde(rename = "trust_Value")]
    #[schema(example = "c10cd9445121e4ed6ad0ab47cdde2882")]
    trust_value: Option<String>,
    /// Kept with the event as received.
    #[serde(rename = "alt_Trust_Value")]
    alt_trust_value: Option<String>,
}

/// The answer to an accepted update.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TeljoyStatusResponse {
    pub success: bool,
}

/// ASP.NET Core's problem details: every error of this API.
#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TeljoyProblem {
    #[serde(rename = "type")]
    #[schema(example = "https://tools.ietf.org/html/rfc7231#section-6.5.1")]
    kind: String,
    #[schema(example = "One or more validation errors occurred.")]
    title: String,
    #[schema(example = 400)]
    status: u16,
    detail: Option<String>,
    /// The request id (also in the `x-request-id` header).
    #[serde(rename = "traceId")]
    trace_id: String,
    /// For a 400: the property names and their messages.
    errors: Option<BTreeMap<String, Vec<String>>>,
}

/// The status words the plugins read back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadStatus {
    Pending,
    Confirmed,
    Complete,
    Failed,
    Cancelled,
}

/// The answer of `GET /api/status/{transaction-id}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TeljoyStatusReadBack {
    /// The shop's order id: the reference of the payment's order.
    #[schema(example = "76144")]
    pub order_id: String,
    /// The payment's status: pending, confirmed, complete, failed or cancelled.
    #[schema(value_type = String, example = "complete", pattern = "^(pending|confirmed|complete|failed|cancelled)$")]
    pub status: ReadStatus,
    /// hex SHA-256 of (hex MD5 of `order_id`, then the last `trust_Seed` the shop sent; the empty
    /// string when it sent none).
    #[schema(example = "5b0f3d6e…")]
    pub trust_signature: String,
}

/// The answers of the status route, documented once for both of its paths.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // describes the answers for OpenAPI; the handler builds them itself
pub enum StatusAnswers {
    /// accepted: applied, already so, or an earlier status delivered late
    #[response(status = 200)]
    Accepted(TeljoyStatusResponse),
    /// validation errors, by property
    #[response(status = 400, content_type = "application/problem+json")]
    Invalid(TeljoyProblem),
    /// unknown or wrong API key
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(TeljoyProblem),
    /// a read-only key, or one limited to another API
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(TeljoyProblem),
    /// no such payment for this key's tenant
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(TeljoyProblem),
    /// contradicts the payment's settled status; recorded and flagged for review
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(TeljoyProblem),
    /// the body is not JSON
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(TeljoyProblem),
    /// an internal failure
    #[response(status = 500, content_type = "application/problem+json")]
    Internal(TeljoyProblem),
}

/// The answers of the read-back, documented once for both of its paths.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // describes the answers for OpenAPI; the handler builds them itself
pub enum ReadAnswers {
    /// the payment's status
    #[response(status = 200)]
    Found(TeljoyStatusReadBack),
    /// a missing, repeated, unknown, wrong, revoked or expired `api-key`, the same body for all
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(TeljoyProblem),
    /// a key limited to another API
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(TeljoyProblem),
    /// no such payment for this key's tenant
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(TeljoyProblem),
    /// the database is busy; retry
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(TeljoyProblem),
    /// an internal failure
    #[response(status = 500, content_type = "application/problem+json")]
    Internal(TeljoyProblem),
}
