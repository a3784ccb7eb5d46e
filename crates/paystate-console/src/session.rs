//! Sessions as the browser sees them: the cookie that carries the token, the extractor that
//! turns it into a signed-in person (or sends the visitor to the login page), CSRF checks of
//! forms, and the actor that records a person's changes.

use crate::Console;
use crate::error::PageError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use paystate_domain::{Actor, Source};
use paystate_ledger::ActiveSession;
use serde::Deserialize;

pub const COOKIE: &str = "paystate_session";
/// Where the cookie is sent: the console only, never the API.
const COOKIE_PATH: &str = "/dashboard";

/// A form that carries its CSRF value and nothing else.
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// A signed-in person and the request's id, for every console page and action.
pub struct Signed {
    pub session: ActiveSession,
    pub request_id: String,
}

impl Signed {
    /// The actor of changes this person makes through the console; `body` is what the form
    /// said (never a secret), kept in the audit trail like an API request's body.
    pub fn actor(&self, body: serde_json::Value) -> Actor {
        Actor {
            tenant_id: self.session.user.tenant_id.clone(),
            key_id: None,
            user_id: Some(self.session.user.id.clone()),
            source: Source::Dashboard,
            request_id: self.request_id.clone(),
            request_body: Some(body.to_string()),
        }
    }

    /// Refuses a form whose CSRF value is not this session's (compared in constant time).
    pub fn check_csrf(&self, presented: &str) -> Result<(), PageError> {
        if self.session.csrf_matches(presented) {
            Ok(())
        } else {
            Err(PageError::forbidden(
                "This form has expired or did not come from the console. Reload the page and try again.",
            ))
        }
    }

    /// Refuses people whose role may not change payments.
    pub fn require_operator(&self) -> Result<(), PageError> {
        if self.session.user.role.can_act() {
            Ok(())
        } else {
            Err(PageError::forbidden("Your role is viewer: you can read everything but change nothing."))
        }
    }

    pub fn require_admin(&self) -> Result<(), PageError> {
        if self.session.user.role.can_administer() {
            Ok(())
        } else {
            Err(PageError::forbidden("Only admins manage users."))
        }
    }
}

impl FromRequestParts<Console> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Console) -> Result<Self, Response> {
        if !same_origin(&parts.headers) {
            return Err(PageError::forbidden("This request came from another site.").into_response());
        }
        let Some(token) = cookie(&parts.headers, COOKIE) else { return Err(to_login(parts, false)) };
        match state.ledger.active_session(&token).await {
            Ok(Some(session)) => Ok(Signed { session, request_id: request_id(&parts.headers) }),
            Ok(None) => Err(to_login(parts, true)),
            Err(error) => Err(PageError::from(error).into_response()),
        }
    }
}

/// The id the HTTP layer gave this request (it sets the header on the way in).
pub fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// Sends a visitor to the login page, back to this page afterwards when it was a page (GET).
fn to_login(parts: &Parts, clear_cookie: bool) -> Response {
    let target = if parts.method == axum::http::Method::GET {
        // The full path: inside the nested router `parts.uri` lacks the `/dashboard` prefix.
        let original = parts.extensions.get::<axum::extract::OriginalUri>().map_or(&parts.uri, |o| &o.0);
        let here = original.path_and_query().map_or("/dashboard", |p| p.as_str());
        format!("/dashboard/login?next={}", encode_component(here))
    } else {
        "/dashboard/login".to_owned()
    };
    let mut response = Redirect::to(&target).into_response();
    if clear_cookie && let Ok(value) = HeaderValue::from_str(&clearing_cookie()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// A browser names the page a POST came from in `Origin`; one from another host is refused
/// (besides the CSRF token and the SameSite cookie). Clients that send none (scripts) pass.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else { return true };
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    origin_host.eq_ignore_ascii_case(host)
}

/// The value of one cookie of the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// Whether the browser reached us over TLS: directly (never, paystate serves plain HTTP) or
/// through a proxy that says so.
pub fn over_tls(headers: &HeaderMap) -> bool {
    let forwarded_proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').next().is_some_and(|p| p.trim().eq_ignore_ascii_case("https")));
    let forwarded = headers
        .get("forwarded")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().replace(' ', "").contains("proto=https"));
    forwarded_proto || forwarded
}

/// The session cookie: unreadable by scripts, never sent from another site, console only.
pub fn session_cookie(token: &str, secure: bool) -> String {
    let max_age = paystate_ledger::SESSION_ABSOLUTE.num_seconds();
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path={COOKIE_PATH}; Max-Age={max_age}{secure}")
}

pub fn clearing_cookie() -> String {
    format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path={COOKIE_PATH}; Max-Age=0")
}

/// Percent-encodes a query parameter's value.
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A redirect after a successful form (303: the browser then GETs the target).
pub fn see_other(target: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, target.to_owned())]).into_response()
}
