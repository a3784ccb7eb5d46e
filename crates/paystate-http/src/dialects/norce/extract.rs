//! The hook's extractors, each refusing in Norce's format: the caller's key, the path's ids, and
//! the body with the headers that say whose it is.

use super::errors::NorceError;
use super::parse::check_id;
use crate::AppState;
use crate::auth::{self, AuthFailure, Caller};
use crate::extract::{body_bytes, has_nul};
use crate::problem::ApiError;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use paystate_domain::{Actor, Source};
use paystate_store::Scope;
use serde_json::Value;

/// The caller of the hook: a paystate API key allowed to write through this dialect.
pub struct NorceCaller(Caller);

impl NorceCaller {
    /// The actor of the hook's changes, with the body kept for the audit trail.
    pub fn actor(&self, body: String) -> Actor {
        self.0.actor(Source::Norce, Some(body))
    }
}

impl FromRequestParts<AppState> for NorceCaller {
    type Rejection = NorceError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, NorceError> {
        // Norce's own samples send the key without the `Bearer` word.
        let token = auth::bearer_or_bare(parts).ok_or_else(ApiError::unauthorized)?;
        let caller =
            auth::authenticate(state, token, Source::Norce, &auth::request_id(parts)).await.map_err(refused)?;
        caller.require(Scope::Write)?;
        Ok(NorceCaller(caller))
    }
}

/// The one mapping of a refused credential.
fn refused(failure: AuthFailure) -> NorceError {
    match failure {
        AuthFailure::Unauthorized => ApiError::unauthorized().into(),
        AuthFailure::WrongDialect => ApiError::forbidden("this key is limited to another dialect").into(),
        AuthFailure::Unavailable => NorceError::busy(),
    }
}

/// The path's Norce order and payment ids, checked with [`check_id`].
pub struct HookPath {
    pub order_id: String,
    pub payment_id: String,
}

impl<S: Send + Sync> FromRequestParts<S> for HookPath {
    type Rejection = NorceError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, NorceError> {
        let Path((order_id, payment_id)) =
            Path::<(String, String)>::from_request_parts(parts, state).await.map_err(|_| {
                NorceError::bad_request("order_id", "the path's order_id and payment_id must be UTF-8 text")
            })?;
        check_id("order_id", &order_id)?;
        check_id("payment_id", &payment_id)?;
        Ok(HookPath { order_id, payment_id })
    }
}

/// The hook's body as JSON, its text for the audit trail, and the merchant and channel headers.
pub struct HookBody {
    pub merchant: String,
    pub channel: String,
    pub value: Value,
    pub text: String,
}

impl<S: Send + Sync> FromRequest<S> for HookBody {
    type Rejection = NorceError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, NorceError> {
        let (parts, body) = request.into_parts();
        let merchant = required_header(&parts.headers, "x-merchant")?;
        let channel = required_header(&parts.headers, "x-channel")?;
        check_content_type(&parts.headers)?;
        let bytes = body_bytes(&parts.headers, body).await?;
        if has_nul(&bytes) {
            return Err(NorceError::bad_request("body", "body must not contain NUL characters"));
        }
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| NorceError::bad_request("body", format!("body is not valid JSON: {e}")))?;
        Ok(HookBody { merchant, channel, value, text: String::from_utf8_lossy(&bytes).into_owned() })
    }
}

fn required_header(headers: &HeaderMap, name: &'static str) -> Result<String, NorceError> {
    let value = headers
        .get(name)
        .ok_or_else(|| NorceError::bad_request(name, format!("the {name} header is required")))?
        .to_str()
        .map_err(|_| NorceError::bad_request(name, format!("the {name} header must be visible ASCII text")))?
        .trim();
    check_id(name, value)
        .map_err(|refused| NorceError::bad_request(name, format!("the {name} header {}", refused.message)))?;
    Ok(value.to_owned())
}

/// JSON under any of its names: `application/json`, Norce's own `application/json-patch+json`,
/// any `application/*+json`; a body without a content type is read as JSON too.
fn check_content_type(headers: &HeaderMap) -> Result<(), NorceError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else { return Ok(()) };
    if crate::extract::is_json(Some(value.to_str().unwrap_or_default())) {
        Ok(())
    } else {
        Err(NorceError::bad_request(
            "Content-Type",
            "Content-Type must be application/json or application/json-patch+json",
        ))
    }
}
