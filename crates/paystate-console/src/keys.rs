//! API keys of the tenant (admins): the list, creating one (its secret shown on this one answer,
//! never again), and revoking one. The same ledger calls as `POST /v1/api-keys` and the CLI.

use crate::Console;
use crate::error::{PageError, PageResult};
use crate::format::time;
use crate::layout::Notice;
use crate::layout::{self, Section};
use crate::session::{Signed, see_other};
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use paystate_domain::{KeyId, Source};
use paystate_ledger::{IssuedKey, is_key_taken};
use paystate_store::Scope;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    dialect: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    once: String,
}

#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    once: String,
}

async fn render(state: &Console, signed: &Signed, issued: Option<IssuedKey>, done: &str) -> PageResult<Markup> {
    let now = paystate_ledger::now();
    let keys = state.ledger.keys(&signed.session.user.tenant_id).await?;
    let csrf = &signed.session.csrf_token;
    let body = html! {
        div.page-head { div { h1 { "API keys" } p.sub { "Keys for the native API and the vendor dialects. A key's secret is shown once, when it is created." } } }
        @if let Some(issued) = &issued {
            section.notice.ok role="status" {
                p { "Created " span.mono { (issued.id) } " (" (issued.scope.as_str()) "). Its secret, shown this once:" }
                p.secret #new-secret { (issued.token) }
                p.hint { "Copy it now: paystate keeps only its hash and cannot show it again." }
            }
        }
        @match done {
            "again" => p.notice.info role="status" { "That form was sent twice: the key was created once, and its secret was shown on the first answer only. If it was not copied, revoke that key and create another." },
            "revoked" => p.notice.ok role="status" { "The key is revoked: requests with it are refused from now on." },
            _ => {}
        }
        section.card {
            div.table-wrap { table {
                thead { tr { th { "Key" } th { "Scope" } th { "Dialect" } th { "Label" } th.hide-narrow { "Created" } th { "State" } th {} } }
                tbody {
                    @for k in &keys {
                        tr {
                            td.mono { (k.id) }
                            td { span.badge { (k.scope.as_str()) } }
                            td { (k.dialect.map_or("any", |d| d.as_str())) }
                            td { (k.label.as_deref().unwrap_or("—")) }
                            td.hide-narrow { (time(&k.created_at)) }
                            td { @if k.revoked_at.is_some() { span.badge.review { "revoked" } } @else if !k.is_active(now) { "expired" } @else { "active" } }
                            td { @if k.is_active(now) {
                                form method="post" action=(format!("/dashboard/keys/{}/revoke", k.id)) {
                                    input type="hidden" name="csrf" value=(csrf);
                                    (crate::once::field())
                                    button.secondary type="submit" aria-label=(format!("Revoke {}", k.id)) { "Revoke" }
                                }
                            } }
                        }
                    }
                    @if keys.is_empty() { tr { td.empty colspan="7" { "No keys." } } }
                }
            } }
        }
        section.card aria-labelledby="new-key" {
            h2 #new-key { "Create a key" }
            form.filters method="post" action="/dashboard/keys" {
                input type="hidden" name="csrf" value=(csrf);
                (crate::once::field())
                div.field {
                    label for="key-scope" { "Scope" }
                    select #key-scope name="scope" { @for s in [Scope::Read, Scope::Write, Scope::Admin] { option value=(s.as_str()) { (s.as_str()) } } }
                }
                div.field {
                    label for="key-dialect" { "Only through" }
                    select #key-dialect name="dialect" {
                        option value="" { "any API" }
                        @for s in Source::ALL.into_iter().filter(|s| s.takes_keys()) { option value=(s.as_str()) { (s.as_str()) } }
                    }
                }
                div.field { label for="key-label" { "Label" } input #key-label type="text" name="label" maxlength="200"; }
                button type="submit" { "Create key" }
            }
        }
    };
    Ok(layout::page("API keys", &signed.session, Section::Keys, body))
}

pub async fn page(State(state): State<Console>, signed: Signed, Query(notice): Query<Notice>) -> PageResult<Markup> {
    signed.require_admin()?;
    render(&state, &signed, None, &notice.done).await
}

pub async fn create(
    State(state): State<Console>,
    signed: Signed,
    Form(form): Form<CreateForm>,
) -> PageResult<Response> {
    signed.check_csrf(&form.csrf)?;
    signed.require_admin()?;
    let scope = Scope::parse(&form.scope).ok_or_else(|| PageError::invalid("Pick a scope: read, write or admin."))?;
    let dialect = match form.dialect.as_str() {
        "" => None,
        text => Some(
            Source::parse(text)
                .filter(|s| s.takes_keys())
                .ok_or_else(|| PageError::invalid("Pick an API from the list."))?,
        ),
    };
    let label = Some(form.label.trim().to_owned()).filter(|l| !l.is_empty());
    let body = json!({"action": "create_key", "scope": scope.as_str(), "dialect": dialect.map(|d| d.as_str()), "label": label});
    let once = crate::once::guard(&form.once, &signed, &body)?;
    let actor = signed.actor(body);
    let issued = match state.ledger.create_key(&actor, scope, dialect, None, label, once).await {
        Ok(issued) => issued,
        // Sent twice: created once; the secret was on the first answer and cannot be shown again.
        Err(error) if is_key_taken(&error) => return Ok(see_other("/dashboard/keys?done=again")),
        Err(error) => return Err(error.into()),
    };
    tracing::info!(key = %issued.id, user = %signed.session.user.id, source = "dashboard", "API key created in the console");
    Ok(render(&state, &signed, Some(issued), "").await?.into_response())
}

pub async fn revoke(
    State(state): State<Console>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<RevokeForm>,
) -> PageResult<Response> {
    signed.check_csrf(&form.csrf)?;
    signed.require_admin()?;
    let key = KeyId::parse(&id).ok_or_else(PageError::not_found)?;
    let body = json!({"action": "revoke_key", "key": key.as_str()});
    let once = crate::once::guard(&form.once, &signed, &body)?;
    match state.ledger.revoke_key(&signed.actor(body), &key, once).await {
        Ok(()) => {
            tracing::info!(key = %key, user = %signed.session.user.id, source = "dashboard", "API key revoked in the console")
        }
        Err(error) if is_key_taken(&error) => {}
        Err(error) => return Err(error.into()),
    }
    Ok(see_other("/dashboard/keys?done=revoked"))
}
