//! Signing in and out: the login form, the check of an address and password (throttled, with
//! one answer for an unknown address and a wrong password), the session cookie, and logging out
//! of this browser or of every device.

use crate::Console;
use crate::error::{PageError, PageResult};
use crate::layout;
use crate::session::CsrfForm;
use crate::session::{self, Signed};
use axum::extract::{ConnectInfo, Form, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use paystate_domain::TenantId;
use paystate_ledger::SignIn;
use serde::Deserialize;
use std::net::SocketAddr;

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    /// Asked only when the address and password fit users of several tenants.
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    next: String,
}

/// Only a console path may be the target after sign-in (no open redirect to another site).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(next) if next.starts_with("/dashboard") && !next.starts_with("//") && !next.contains('\\') => next,
        _ => "/dashboard",
    }
}

fn login_page(email: &str, next: &str, message: Option<&str>, ask_tenant: bool) -> Markup {
    layout::bare(
        "Sign in",
        html! {
            section.card {
                h1 { "Sign in" }
                p.sub { "The operator console of paystate." }
                @if let Some(message) = message {
                    p.notice.bad role="alert" { (message) }
                }
                form method="post" action="/dashboard/login" {
                    input type="hidden" name="next" value=(next);
                    div.field {
                        label for="email" { "E-mail" }
                        input #email type="email" name="email" value=(email) autocomplete="username" required autofocus[email.is_empty()];
                    }
                    div.field {
                        label for="password" { "Password" }
                        input #password type="password" name="password" autocomplete="current-password" required autofocus[!email.is_empty() && !ask_tenant];
                    }
                    @if ask_tenant {
                        div.field {
                            label for="tenant" { "Tenant id " span.hint { "(this address belongs to several tenants)" } }
                            input #tenant type="text" name="tenant" placeholder="ten_…" required autofocus;
                        }
                    }
                    button type="submit" { "Sign in" }
                }
            }
            p.sub { "No account yet? An administrator creates one with " code { "paystate user create" } "." }
        },
    )
}

pub async fn form(Query(query): Query<LoginQuery>) -> Markup {
    login_page("", safe_next(query.next.as_deref()), None, false)
}

/// The peer's IP address, when the server was started with connection info ("unknown" else).
pub struct ClientAddress(String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let address = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(a)| a.ip().to_string());
        Ok(ClientAddress(address.unwrap_or_else(|| "unknown".to_owned())))
    }
}

pub async fn submit(
    State(state): State<Console>,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> PageResult {
    if !session::same_origin(&headers) {
        return Err(PageError::forbidden("This request came from another site."));
    }
    let next = safe_next(Some(&form.next)).to_owned();
    let account = form.email.trim().to_lowercase();
    let refuse = |status: StatusCode, message: &str, ask_tenant: bool| {
        (status, login_page(&form.email, &next, Some(message), ask_tenant)).into_response()
    };
    if !state.throttle.allows(&account, &client) {
        let message = "Too many failed sign-ins. Wait 15 minutes and try again.";
        return Ok(refuse(StatusCode::TOO_MANY_REQUESTS, message, false));
    }
    let tenant = match form.tenant.trim() {
        "" => None,
        text => match TenantId::parse(text) {
            Some(tenant) => Some(tenant),
            None => {
                return Ok(refuse(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "A tenant id looks like ten_ and 32 hex digits.",
                    true,
                ));
            }
        },
    };
    let outcome = state.ledger.sign_in(&form.email, &form.password, tenant.as_ref()).await?;
    let user = match outcome {
        SignIn::Accepted(user) => user,
        SignIn::Ambiguous => {
            let message = "This address is in several tenants: say which one.";
            return Ok(refuse(StatusCode::OK, message, true));
        }
        SignIn::Refused => {
            state.throttle.failed(&account, &client);
            return Ok(refuse(StatusCode::UNAUTHORIZED, "The e-mail address or the password is wrong.", false));
        }
    };
    state.throttle.succeeded(&account);
    let issued = state.ledger.start_session(&user).await?;
    tracing::info!(user = %user.id, tenant = %user.tenant_id, "console sign-in");
    let cookie = session::session_cookie(&issued.token, session::over_tls(&headers));
    let mut response = session::see_other(&next);
    let value = HeaderValue::from_str(&cookie).map_err(|_| PageError::invalid("bad cookie"))?;
    response.headers_mut().append(header::SET_COOKIE, value);
    Ok(response)
}

fn signed_out() -> Response {
    let mut response = session::see_other("/dashboard/login");
    if let Ok(value) = HeaderValue::from_str(&session::clearing_cookie()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

pub async fn logout(State(state): State<Console>, signed: Signed, Form(form): Form<CsrfForm>) -> PageResult {
    signed.check_csrf(&form.csrf)?;
    state.ledger.end_session(signed.session.token_hash).await?;
    Ok(signed_out())
}

pub async fn logout_everywhere(State(state): State<Console>, signed: Signed, Form(form): Form<CsrfForm>) -> PageResult {
    signed.check_csrf(&form.csrf)?;
    let user = &signed.session.user;
    state.ledger.end_all_sessions(&user.tenant_id, &user.id).await?;
    Ok(signed_out())
}
