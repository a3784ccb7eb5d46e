//! Strict request extractors for the native API: JSON bodies and query strings whose every
//! failure is a problem+json 4xx naming what is wrong.

use crate::problem::ApiError;
use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

/// The request body cap of every API (1 MiB).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// A JSON body, plus its raw text for the audit trail.
pub struct Json<T> {
    pub value: T,
    pub raw: String,
}

/// Reads a body within [`BODY_LIMIT`], answering 413 beyond it; a body announced larger is
/// refused before any of it is read.
pub async fn body_bytes(headers: &HeaderMap, body: Body) -> Result<axum::body::Bytes, ApiError> {
    let too_large = || {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", "Payload too large", "the body exceeds 1 MiB")
    };
    let announced =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|length| length > BODY_LIMIT as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|error| {
        if is_timeout(&error) {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request-timeout",
                "Request timeout",
                "the body stopped arriving before it was complete",
            )
        } else {
            too_large()
        }
    })
}

/// Whether a body failed because it stalled (see `ConnectionLimits::body_timeout`).
fn is_timeout(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = source {
        if error.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// Whether a body carries a NUL character, raw or escaped: refused everywhere alike, because
/// PostgreSQL cannot store it and no payment field has a use for it.
pub fn has_nul(body: &[u8]) -> bool {
    body.contains(&0) || body.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000"))
}

fn is_json(content_type: Option<&str>) -> bool {
    let Some(content_type) = content_type else { return false };
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        if !is_json(content_type.as_deref()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "send the body as application/json",
            ));
        }
        let (parts, body) = request.into_parts();
        let bytes = body_bytes(&parts.headers, body).await?;
        if has_nul(&bytes) {
            return Err(ApiError::bad_request("NUL characters are not accepted"));
        }
        let value =
            serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
        let raw = String::from_utf8_lossy(&bytes).into_owned();
        Ok(Json { value, raw })
    }
}

/// A query string deserialized strictly (unknown parameters are refused by the target type).
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded_from_str(query).map(Query).map_err(|e| ApiError::bad_request(format!("invalid query: {e}")))
    }
}

fn serde_urlencoded_from_str<T: DeserializeOwned>(query: &str) -> Result<T, String> {
    axum::extract::Query::<T>::try_from_uri(&format!("/?{query}").parse().map_err(|_| "malformed query".to_owned())?)
        .map(|q| q.0)
        .map_err(|e| e.body_text())
}

/// Deserializes a present field as `Some(value)`, so that with `#[serde(default)]` a missing
/// field is `None` and an explicit `null` is `Some(None)` ("clear it").
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_found_raw_and_escaped() {
        assert!(has_nul(b"{\"a\":\"x\\u0000\"}"));
        assert!(has_nul(b"{\"a\":\"x\\U0000\"}"));
        assert!(has_nul(b"{\"a\":\"\0\"}"));
        assert!(!has_nul(b"{\"a\":\"\\u00001\"}".split_at(3).0));
    }

    #[test]
    fn json_content_types() {
        assert!(is_json(Some("application/json")));
        assert!(is_json(Some("application/json; charset=utf-8")));
        assert!(is_json(Some("application/merge-patch+json")));
        assert!(!is_json(Some("text/plain")));
        assert!(!is_json(None));
    }
}
