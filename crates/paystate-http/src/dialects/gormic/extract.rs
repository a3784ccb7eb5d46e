//! Gormic's extractors: the credential (`api-key` and `organization-id`) and the
//! `{"params": {…}}` body, each refusing in Gormic's own format.

use super::errors::Refusal;
use crate::AppState;
use crate::auth::{Caller, authenticate};
use crate::extract::{body_bytes, has_nul};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use paystate_domain::{Actor, Source};
use paystate_store::{Scope, StoreError};
use serde_json::{Map, Value};

/// The authenticated caller of a Gormic request, allowed to write.
pub struct GormicCaller {
    caller: Caller,
    pub request_id: String,
}

impl GormicCaller {
    /// The actor of this request's changes; the body (no secret travels in it) goes to the audit trail.
    pub fn actor(&self, body: &Bytes) -> Actor {
        let raw = (!body.is_empty()).then(|| String::from_utf8_lossy(body).into_owned());
        self.caller.actor(Source::Gormic, raw)
    }
}

impl FromRequestParts<AppState> for GormicCaller {
    type Rejection = Refusal;

    /// Checks `api-key` and `organization-id`. Every credential failure, including a valid key
    /// presented with an organization that is not its tenant or a key limited to another
    /// dialect, gets the same 401, so that a caller learns nothing about keys or tenants.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Refusal> {
        let request_id = crate::auth::request_id(parts);
        let header =
            |name: &str| crate::auth::single_header(&parts.headers, name).map(str::trim).filter(|v| !v.is_empty());
        let (Some(key), Some(organization)) = (header("api-key"), header("organization-id")) else {
            return Err(Refusal::unauthorized());
        };
        let caller = authenticate(state, key, Source::Gormic, &request_id).await?;
        let tenant = match state.ledger.tenant(&caller.tenant_id).await {
            Ok(tenant) => tenant,
            Err(StoreError::NotFound) => return Err(Refusal::unauthorized()),
            Err(error) => return Err(error.into()),
        };
        if !paystate_domain::dialect_settings::is_organization(&tenant, organization) {
            return Err(Refusal::unauthorized());
        }
        if caller.scope < Scope::Write {
            return Err(Refusal::forbidden());
        }
        Ok(GormicCaller { caller, request_id })
    }
}

/// A `{"params": {…}}` body: its bytes (for the audit trail) and the `params` object. With
/// `REQUIRED` false (confirm), an empty body or one without `params` is an empty object.
pub struct Params<const REQUIRED: bool> {
    pub raw: Bytes,
    pub params: Map<String, Value>,
}

impl<S: Send + Sync, const REQUIRED: bool> FromRequest<S> for Params<REQUIRED> {
    type Rejection = Refusal;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Refusal> {
        let (parts, body) = request.into_parts();
        let raw = read_body(&parts, body).await?;
        let params = params(&raw, REQUIRED)?;
        Ok(Params { raw, params })
    }
}

/// Reads the body within the 1 MiB cap; a body that is not JSON by its declared type, or that
/// carries a NUL character, is refused. A body without a content type is read as JSON.
async fn read_body(parts: &Parts, body: axum::body::Body) -> Result<Bytes, Refusal> {
    let bytes = body_bytes(&parts.headers, body)
        .await
        .map_err(|_| Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", "the body exceeds 1 MiB"))?;
    let content_type = parts.headers.get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap_or("?"));
    if !bytes.iter().all(u8::is_ascii_whitespace) && content_type.is_some_and(|t| !crate::extract::is_json(Some(t))) {
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the body as application/json",
        ));
    }
    if has_nul(&bytes) {
        return Err(Refusal::invalid("body", "NUL characters are not accepted"));
    }
    Ok(bytes)
}

/// The `params` object of a body. An empty body, or one without `params`, is an empty object
/// unless the route needs one.
pub fn params(bytes: &[u8], required: bool) -> Result<Map<String, Value>, Refusal> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return if required { Err(Refusal::invalid("params", "is required")) } else { Ok(Map::new()) };
    }
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| Refusal::invalid("body", format!("is not valid JSON ({e})")))?;
    let Value::Object(mut body) = value else { return Err(Refusal::invalid("body", "must be a JSON object")) };
    if let Some(unknown) = body.keys().find(|k| *k != "params") {
        return Err(Refusal::invalid("body", format!("has an unknown member {unknown:?}; send {{\"params\": {{…}}}}")));
    }
    match body.remove("params") {
        Some(Value::Object(params)) => Ok(params),
        None | Some(Value::Null) if !required => Ok(Map::new()),
        None | Some(Value::Null) => Err(Refusal::invalid("params", "is required")),
        Some(_) => Err(Refusal::invalid("params", "must be an object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_read_strictly() {
        assert!(params(b"", false).unwrap().is_empty());
        assert!(params(b"{}", false).unwrap().is_empty());
        assert!(params(b"", true).is_err());
        assert!(params(b"{\"params\": []}", true).is_err());
        assert!(params(b"{\"params\": {}, \"x\": 1}", true).is_err());
        assert!(params(b"[1]", true).is_err());
    }
}
