//! Strict request extractors for the native API: JSON bodies and query strings whose every
//! failure is a problem+json 4xx naming what is wrong.

use crate::problem::ApiError;
use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
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

/// Whether a JSON body carries a NUL character, raw or escaped (`\u0000`): refused everywhere
/// alike, because PostgreSQL cannot store it and no payment field has a use for it. Escapes are
/// read as JSON reads them, so `\\u0000` (an escaped backslash, then `u0000`) is no NUL.
pub fn has_nul(body: &[u8]) -> bool {
    let mut rest = body;
    while let Some((&byte, after)) = rest.split_first() {
        match byte {
            0 => return true,
            b'\\' => match after {
                [b'u' | b'U', a, b, c, d, ..] if [a, b, c, d].iter().all(|&&digit| digit == b'0') => return true,
                [_, tail @ ..] => rest = tail,
                [] => rest = after,
            },
            _ => rest = after,
        }
    }
    false
}

/// JSON by its declared media type: `application/json` or any `application/*+json` (Norce's
/// `application/json-patch+json` among them), parameters ignored; no type is not JSON here.
pub(crate) fn is_json(content_type: Option<&str>) -> bool {
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
        let value = object_from_slice(&bytes)?;
        let raw = String::from_utf8_lossy(&bytes).into_owned();
        Ok(Json { value, raw })
    }
}

/// A native body: a JSON object without NUL characters, read into `T`. An array, a string or
/// `null` is refused before `T` sees it (serde reads a struct from an array too).
pub fn object_from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if has_nul(bytes) {
        return Err(ApiError::bad_request("NUL characters are not accepted"));
    }
    if bytes.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|&first| first != b'{') {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
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

/// An amount in minor units, read exactly from the JSON number's text (never through a double): a
/// whole number, written as an integer (`1250`) or with a fraction of zeros or an exponent that
/// leaves no fraction (`1250.0`, `1.25e3`), as JSON Schema's `integer` allows; `12.5` is refused.
pub fn minor_units<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let number = serde_json::Number::deserialize(deserializer)?;
    whole_number(&number.to_string())
        .ok_or_else(|| serde::de::Error::custom(format!("{number} is not a whole number of minor units")))
}

/// [`minor_units`] for an optional amount (`null` is `None`); use with `#[serde(default)]`.
pub fn optional_minor_units<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    #[derive(serde::Deserialize)]
    struct Amount(#[serde(deserialize_with = "minor_units")] i64);
    Ok(Option::<Amount>::deserialize(deserializer)?.map(|amount| amount.0))
}

/// An optional whole number of a JSON body (`null` is `None`), read exactly from the number's
/// text as [`minor_units`] reads amounts: `49.0` and `4.9e1` are 49, `49.5` is refused. Every
/// integer field of the native bodies reads through it or [`minor_units`], never through a double.
pub fn optional_whole<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else { return Ok(None) };
    whole_number(&number.to_string())
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("{number} is not a whole number")))
}

/// The integer a JSON number's text denotes, when it is a whole number that fits an i64.
pub(crate) fn whole_number(text: &str) -> Option<i64> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, exponent.strip_prefix('+').unwrap_or(exponent).parse::<i32>().ok()?),
        None => (unsigned, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int_part.is_empty() || !all_digits(int_part) || !all_digits(frac_part) {
        return None;
    }
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Some(0);
    }
    // The value is digits × 10^shift.
    let shift = i64::from(exponent) - frac_part.len() as i64;
    let integer = if shift >= 0 {
        if digits.len() as i64 + shift > 19 {
            return None;
        }
        format!("{digits}{}", "0".repeat(shift as usize))
    } else {
        let cut = digits.len().saturating_sub(usize::try_from(shift.unsigned_abs()).ok()?);
        let (whole, fraction) = digits.split_at(cut);
        if fraction.bytes().any(|b| b != b'0') {
            return None;
        }
        if whole.is_empty() { "0".to_owned() } else { whole.to_owned() }
    };
    let magnitude = integer.parse::<i64>().ok()?;
    Some(if negative { -magnitude } else { magnitude })
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
        // An escaped backslash, then the text u0000: no NUL.
        assert!(!has_nul(br#"{"a":"\\u0000"}"#));
        assert!(has_nul(br#"{"a":"\\\u0000"}"#));
        assert!(!has_nul(br#"{"a":"\u0001 \\ u0000"}"#));
        assert!(!has_nul(b"{\"a\":\"\\"));
    }

    #[test]
    fn whole_numbers_are_read_exactly() {
        for (text, expected) in [
            ("1250", Some(1250)),
            ("1250.0", Some(1250)),
            ("1250.000", Some(1250)),
            ("1.25e3", Some(1250)),
            ("125E+1", Some(1250)),
            ("12500e-1", Some(1250)),
            ("0.0", Some(0)),
            ("-0", Some(0)),
            ("-7.0", Some(-7)),
            ("999999999999999.0", Some(999_999_999_999_999)),
            ("9007199254740993.0", Some(9_007_199_254_740_993)),
            ("12.5", None),
            ("0.5", None),
            ("1e-1", None),
            ("9007199254740993.5", None),
            ("1e19", None),
            ("1e400", None),
        ] {
            assert_eq!(whole_number(text), expected, "{text}");
        }
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
