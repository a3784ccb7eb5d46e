//! Authentication by paystate API key, for every API surface.
//!
//! Each dialect finds the key where its vendor carries the credential (a bearer token, an
//! `api-key` header, a path secret) and calls [`authenticate`]; failures are answered in the
//! dialect's own format, and an unknown key and a wrong one always look the same.

use crate::AppState;
use crate::observe::RequestId;
use crate::problem::{ApiError, ApiResult};
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use paystate_domain::{Actor, KeyId, Source, TenantId};
use paystate_store::Scope;

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub tenant_id: TenantId,
    pub key_id: KeyId,
    pub scope: Scope,
    pub request_id: String,
}

/// Why a credential was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// Unknown, wrong, revoked or expired: the caller learns nothing more.
    Unauthorized,
    /// A valid key limited to another dialect.
    WrongDialect,
    /// The database could not be asked.
    Unavailable,
}

impl Caller {
    pub fn require(&self, scope: Scope) -> ApiResult<()> {
        if self.scope >= scope {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this key's scope is {}; {} is required",
                self.scope.as_str(),
                scope.as_str()
            )))
        }
    }

    /// The actor of the changes this request makes, with the body kept for the audit trail.
    pub fn actor(&self, source: Source, request_body: Option<String>) -> Actor {
        Actor {
            tenant_id: self.tenant_id.clone(),
            key_id: Some(self.key_id.clone()),
            user_id: None,
            source,
            request_id: self.request_id.clone(),
            request_body,
        }
    }
}

/// Checks a presented key for use through `dialect`.
pub async fn authenticate(
    state: &AppState,
    presented: &str,
    dialect: Source,
    request_id: &str,
) -> Result<Caller, AuthFailure> {
    let record = state.ledger.authenticate(presented).await.map_err(|error| {
        tracing::error!(%error, "could not check an API key");
        AuthFailure::Unavailable
    })?;
    let record = record.ok_or(AuthFailure::Unauthorized)?;
    if record.dialect.is_some_and(|only| only != dialect) {
        return Err(AuthFailure::WrongDialect);
    }
    Ok(Caller {
        tenant_id: record.tenant_id,
        key_id: record.id,
        scope: record.scope,
        request_id: request_id.to_owned(),
    })
}

/// The one value of a credential header; `None` when it is missing or sent more than once (two
/// credentials, possibly of two tenants, are ambiguous: neither is taken).
pub fn single_header<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    value.to_str().ok()
}

/// The bearer token of a request, if it has exactly one.
pub fn bearer(request: &axum::http::request::Parts) -> Option<&str> {
    let value = single_header(&request.headers, header::AUTHORIZATION.as_str())?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The key of `Authorization: Bearer <key>`, or of `Authorization: <key>` with no scheme at all
/// (as some vendors' samples send it); any other scheme (`Basic …`) is no key.
pub fn bearer_or_bare(request: &axum::http::request::Parts) -> Option<&str> {
    let value = single_header(&request.headers, header::AUTHORIZATION.as_str())?.trim();
    match value.split_once(' ') {
        Some((scheme, token)) => scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()),
        None => (!value.is_empty()).then_some(value),
    }
}

pub fn request_id(request: &axum::http::request::Parts) -> String {
    request_id_in(&request.extensions)
}

/// The request id the access log gave the request (empty when it has none).
pub fn request_id_in(extensions: &axum::http::Extensions) -> String {
    extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default()
}

/// The native API's guard: a bearer key; reads need scope read, changes need scope write.
pub async fn require_native_key(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let Some(token) = bearer(&parts) else { return ApiError::unauthorized().into_response() };
    let caller = match authenticate(&state, token, Source::Native, &request_id(&parts)).await {
        Ok(caller) => caller,
        Err(AuthFailure::Unauthorized) => return ApiError::unauthorized().into_response(),
        Err(AuthFailure::WrongDialect) => {
            return ApiError::forbidden("this key is limited to another dialect").into_response();
        }
        Err(AuthFailure::Unavailable) => return ApiError::from(paystate_store::StoreError::Busy).into_response(),
    };
    let needed = if parts.method == Method::GET || parts.method == Method::HEAD { Scope::Read } else { Scope::Write };
    if let Err(error) = caller.require(needed) {
        return error.into_response();
    }
    parts.extensions.insert(caller);
    next.run(Request::from_parts(parts, body)).await
}
