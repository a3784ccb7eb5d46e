//! Omnicasa's extractors: the path secret as a credential, checked once with one mapping of
//! authentication failures for both routes; the media types of the request and of the answer
//! (ASP.NET Web API's content negotiation); and the update's body, read within the size limit.
//!
//! Omnicasa answers a refused credential in the language the body names, so the credential is
//! checked after the body is parsed (the handlers do it), and the body's own refusals (NUL,
//! malformed, invalid) are answered only after the credential's: extraction refuses only what
//! comes before both, an unreadable media type (415) and a body over the limit (413).

use super::errors::{Envelope, Failure, Language, Refusal};
use super::wire::MediaType;
use crate::AppState;
use crate::auth::{AuthFailure, Caller, authenticate};
use crate::extract::body_bytes;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use paystate_domain::Source;
use paystate_store::Scope;
use std::convert::Infallible;

impl MediaType {
    /// The media type of a request's `Content-Type`; only UTF-8 (the default) is read.
    pub fn of_content_type(value: &str) -> Option<Self> {
        let mut parts = value.split(';');
        let media = Self::from_essence(parts.next().unwrap_or_default().trim())?;
        for parameter in parts {
            let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
            if name.trim().eq_ignore_ascii_case("charset") {
                let charset = value.trim().trim_matches('"');
                if !(charset.eq_ignore_ascii_case("utf-8") || charset.eq_ignore_ascii_case("utf8")) {
                    return None;
                }
            }
        }
        Some(media)
    }
}

/// Chooses the answer's media type as ASP.NET Web API's content negotiation does: the best
/// `Accept` entry this endpoint can write (a literal type beats a range of the same quality; a
/// range prefers the request's own type), else the request's content type, else JSON.
pub fn negotiate(accept: Option<&str>, request: Option<MediaType>) -> MediaType {
    let mut entries: Vec<(u16, bool, &str)> = Vec::new();
    for entry in accept.unwrap_or_default().split(',') {
        let mut parts = entry.split(';');
        let range = parts.next().unwrap_or_default().trim();
        if range.is_empty() {
            continue;
        }
        let mut quality = 1000u16;
        for parameter in parts {
            if let Some((name, value)) = parameter.split_once('=')
                && name.trim().eq_ignore_ascii_case("q")
            {
                quality = value.trim().parse::<f32>().map_or(0, |q| (q.clamp(0.0, 1.0) * 1000.0) as u16);
            }
        }
        if quality > 0 {
            entries.push((quality, !range.contains('*'), range));
        }
    }
    // Highest quality first; at equal quality a literal type before a range; otherwise as sent.
    entries.sort_by_key(|&(quality, literal, _)| std::cmp::Reverse((quality, literal)));
    for (_, literal, range) in entries {
        if literal {
            if let Some(media) = MediaType::from_essence(range) {
                return media;
            }
            continue;
        }
        let (kind, _) = range.split_once('/').unwrap_or((range, "*"));
        let fits =
            |media: MediaType| kind == "*" || media.essence().split('/').next() == Some(&kind.to_ascii_lowercase());
        if let Some(media) = request.filter(|m| fits(*m)) {
            return media;
        }
        if let Some(media) = MediaType::ALL.into_iter().find(|m| fits(*m)) {
            return media;
        }
    }
    request.unwrap_or(MediaType::ApplicationJson)
}

/// The update's media types: the request's (none when unreadable) and the answer's.
pub fn update_media(headers: &HeaderMap) -> (Option<MediaType>, MediaType) {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let request = text(header::CONTENT_TYPE).and_then(MediaType::of_content_type);
    (request, negotiate(text(header::ACCEPT), request))
}

/// The read side's answer media type: a GET has no body, so `Accept` alone, else JSON.
pub fn read_media(headers: &HeaderMap) -> MediaType {
    negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()), None)
}

/// The `{secretKey}` of the path, not yet checked. It never leaves [`Credential::check`]: it is
/// not logged (the access log names the route template), nor put in events (they name the key
/// id), metrics or answers.
pub struct Credential {
    secret: Option<String>,
    request_id: String,
}

impl FromRequestParts<AppState> for Credential {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let secret = Path::<String>::from_request_parts(parts, state).await.ok().map(|Path(secret)| secret);
        Ok(Credential { secret, request_id: crate::auth::request_id(parts) })
    }
}

impl Credential {
    /// The caller, when the secret is an active key (possibly limited to this dialect) with
    /// `scope`.
    pub async fn check(self, state: &AppState, scope: Scope) -> Result<Caller, Failure> {
        let secret = self.secret.ok_or(Failure::Unauthorized)?;
        let caller = match authenticate(state, &secret, Source::Omnicasa, &self.request_id).await {
            Ok(caller) => caller,
            Err(AuthFailure::Unauthorized | AuthFailure::WrongDialect) => return Err(Failure::Unauthorized),
            Err(AuthFailure::Unavailable) => return Err(Failure::Busy),
        };
        caller.require(scope).map_err(|_| Failure::Forbidden)?;
        Ok(caller)
    }
}

/// The update's body in a media type it can be read in, within the size limit.
pub struct UpdateBody {
    pub media: MediaType,
    /// The answer's media type.
    pub answer: MediaType,
    pub bytes: Bytes,
}

impl UpdateBody {
    /// The body as text, for the audit trail.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

impl FromRequest<AppState> for UpdateBody {
    type Rejection = Refusal;

    async fn from_request(request: Request, _state: &AppState) -> Result<Self, Refusal> {
        let (parts, body) = request.into_parts();
        let (media, answer) = update_media(&parts.headers);
        let refuse = |failure| Refusal { envelope: Envelope::Update, media: answer, failure, language: Language::Nl };
        let media = media.ok_or(refuse(Failure::UnsupportedMediaType))?;
        // A body that stalls is refused like one that is too large: Omnicasa has no code for it.
        let bytes = body_bytes(&parts.headers, body).await.map_err(|_| refuse(Failure::TooLarge))?;
        Ok(UpdateBody { media, answer, bytes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_accept_then_the_request() {
        use MediaType::*;
        assert_eq!(negotiate(None, Some(TextXml)), TextXml);
        assert_eq!(negotiate(None, None), ApplicationJson);
        assert_eq!(negotiate(Some("application/xml"), Some(ApplicationJson)), ApplicationXml);
        assert_eq!(negotiate(Some("text/json"), Some(ApplicationXml)), TextJson);
        assert_eq!(negotiate(Some("*/*"), Some(TextXml)), TextXml);
        assert_eq!(negotiate(Some("text/html, application/xhtml+xml"), Some(ApplicationXml)), ApplicationXml);
        assert_eq!(negotiate(Some("application/json;q=0.5, application/xml"), Some(ApplicationJson)), ApplicationXml);
        assert_eq!(negotiate(Some("*/*;q=0.9, application/json;q=0.9"), Some(ApplicationXml)), ApplicationJson);
        assert_eq!(negotiate(Some("text/*"), Some(ApplicationXml)), TextJson);
        assert_eq!(negotiate(Some("APPLICATION/XML; charset=utf-8"), None), ApplicationXml);
    }

    #[test]
    fn content_types() {
        assert_eq!(MediaType::of_content_type("application/json; charset=utf-8"), Some(MediaType::ApplicationJson));
        assert_eq!(MediaType::of_content_type("Text/XML"), Some(MediaType::TextXml));
        assert_eq!(MediaType::of_content_type("application/xml; charset=utf-16"), None);
        assert_eq!(MediaType::of_content_type("application/x-www-form-urlencoded"), None);
    }
}
