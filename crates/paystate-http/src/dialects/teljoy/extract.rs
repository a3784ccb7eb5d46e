//! The Teljoy dialect's extractors: the API key and the JSON body, each refusing in ASP.NET Core's
//! problem details ([`Failure`]), and the payment the path names.
//!
//! The key travels in the `api-key` header or, for a status report, in the body's `apiKey`
//! property; a report is therefore authenticated after its body is validated (ASP.NET's order:
//! the media type, the body's validation with all messages at once, then the key). The read-back
//! has no body: its key is the header's, checked by [`TeljoyReader`] before anything else.

use super::errors::{Errors, Failure, trace_id};
use super::parse::API_KEY;
use crate::AppState;
use crate::auth::{AuthFailure, Caller, authenticate};
use crate::extract::{body_bytes, has_nul};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use paystate_domain::Source;
use paystate_store::Scope;
use serde_json::{Map, Value};
use std::convert::Infallible;
use subtle::ConstantTimeEq;

/// The header the document names for the key.
pub const API_KEY_HEADER: &str = "api-key";

/// The one mapping of a refused credential to Teljoy's answers.
fn refused(failure: AuthFailure) -> Failure {
    match failure {
        AuthFailure::Unauthorized => Failure::unauthorized(),
        AuthFailure::WrongDialect => Failure::forbidden("This API key is limited to another API."),
        AuthFailure::Unavailable => Failure::unavailable(),
    }
}

/// The `api-key` header of a status report, as sent, with the request id authentication logs
/// under. Reading it never fails: what is wrong with it is a validation message of the body's.
pub struct KeyHeader {
    /// The first value, trimmed (not UTF-8 is read lossily and fails authentication).
    first: Option<String>,
    /// Whether the header was sent more than once.
    repeated: bool,
    request_id: String,
}

impl<S: Send + Sync> FromRequestParts<S> for KeyHeader {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let mut values = parts.headers.get_all(API_KEY_HEADER).iter();
        let first = values.next().map(|value| String::from_utf8_lossy(value.as_bytes()).trim().to_owned());
        Ok(KeyHeader { first, repeated: values.next().is_some(), request_id: trace_id(&parts.extensions) })
    }
}

impl KeyHeader {
    /// The key from the header or the body's `apiKey` (`in_body`); both may be sent if they
    /// agree. `None` when it is refused, with the reason in `errors`.
    pub fn presented_key(&self, in_body: Option<&str>, errors: &mut Errors) -> Option<String> {
        if self.repeated {
            errors.add(API_KEY, "The api-key header must be sent once.");
            return None;
        }
        match (self.first.as_deref().filter(|k| !k.is_empty()), in_body) {
            (None, None) => {
                // A body whose apiKey was refused (not a string) already says so.
                if !errors.0.contains_key(API_KEY) {
                    errors.required(API_KEY);
                }
                None
            }
            (Some(header), None) => Some(header.to_owned()),
            (None, Some(body)) => Some(body.to_owned()),
            (Some(header), Some(body)) => {
                if bool::from(header.as_bytes().ct_eq(body.as_bytes())) {
                    Some(header.to_owned())
                } else {
                    errors.add(API_KEY, "The apiKey field must equal the api-key header.");
                    None
                }
            }
        }
    }

    /// The caller of a status report: a key of scope write or admin, for this dialect.
    pub async fn writer(&self, state: &AppState, key: &str) -> Result<Caller, Failure> {
        let caller = authenticate(state, key, Source::Teljoy, &self.request_id).await.map_err(refused)?;
        if caller.require(Scope::Write).is_err() {
            return Err(Failure::forbidden("This API key may only read; reporting a status needs scope write."));
        }
        Ok(caller)
    }
}

/// The caller of the read-back: one `api-key` header of any scope. Missing, empty or sent twice
/// is refused exactly like a wrong key.
pub struct TeljoyReader(pub Caller);

impl FromRequestParts<AppState> for TeljoyReader {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let key = crate::auth::single_header(&parts.headers, API_KEY_HEADER)
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .ok_or_else(Failure::unauthorized)?;
        let caller = authenticate(state, key, Source::Teljoy, &trace_id(&parts.extensions)).await.map_err(refused)?;
        Ok(TeljoyReader(caller))
    }
}

/// The payment the path names (its id or external id). A path that does not decode, or names an
/// id no payment can have, names no payment: answered 404 once the caller is known, without
/// asking the database.
pub struct PaymentPath(Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for PaymentPath {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let id = Path::<String>::from_request_parts(parts, state).await.ok().map(|Path(id)| id);
        Ok(PaymentPath(id.filter(|id| paystate_domain::order::validate_reference("id", id).is_ok())))
    }
}

impl PaymentPath {
    pub fn or_not_found(self) -> Result<String, Failure> {
        self.0.ok_or_else(Failure::not_found)
    }
}

/// A report's body: a JSON object of at most 1 MiB, without NUL characters.
pub struct TeljoyJson(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for TeljoyJson {
    type Rejection = Failure;

    async fn from_request(request: Request, _: &S) -> Result<Self, Self::Rejection> {
        if !is_json(request.headers()) {
            return Err(Failure::unsupported_media_type());
        }
        let (parts, body) = request.into_parts();
        // Whatever stops the body (too large, or stalled) is the 413 this dialect has always answered.
        let bytes = body_bytes(&parts.headers, body).await.map_err(|_| Failure::too_large())?;
        if bytes.is_empty() {
            return Err(Failure::invalid("", "A non-empty request body is required."));
        }
        if has_nul(&bytes) {
            return Err(Failure::invalid("$", "NUL characters are not accepted."));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(object)) => Ok(TeljoyJson(object)),
            Ok(_) => Err(Failure::invalid("$", "The request body must be a JSON object.")),
            Err(_) => Err(Failure::invalid("$", "The request body is not valid JSON.")),
        }
    }
}

/// JSON as ASP.NET's JSON input formatter takes it: application/json, text/json, application/*+json.
fn is_json(headers: &HeaderMap) -> bool {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    crate::extract::is_json(content_type)
        || content_type
            .is_some_and(|t| t.split(';').next().unwrap_or_default().trim().eq_ignore_ascii_case("text/json"))
}
