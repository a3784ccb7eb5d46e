//! API keys of the tenant (admins): the list, creating one (its secret shown on this one answer,
//! never again), and revoking one. The same ledger calls as `POST /v1/api-keys` and the CLI.

use crate::Console;
use crate::error::{PageError, PageResult};
use crate::format::time;
use crate::layout::{self, Section};
use crate::session::{Signed, see_other};
use axum::extract::{Form, Path, State};
use axum::response::Response;
use maud::{Markup, html};
use paystate_domain::{KeyId, Source};
use paystate_ledger::IssuedKey;
use paystate_store::Scope;
use serde::Deserialize;

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
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn render(state: &Console, signed: &Signed, issued: Option<IssuedKey>) -> PageResult<Markup> {
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

pub async fn page(State(state): State<Console>, signed: Signed) -> PageResult<Markup> {
    signed.require_admin()?;
    render(&state, &signed, None).await
}

pub async fn create(State(state): State<Console>, signed: Signed, Form(form): Form<CreateForm>) -> PageResult<Markup> {
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
    let issued = state.ledger.create_key(&signed.session.user.tenant_id, scope, dialect, None, label, None).await?;
    tracing::info!(key = %issued.id, user = %signed.session.user.id, "API key created in the console");
    render(&state, &signed, Some(issued)).await
}

pub async fn revoke(
    State(state): State<Console>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> PageResult<Response> {
    signed.check_csrf(&form.csrf)?;
    signed.require_admin()?;
    let key = KeyId::parse(&id).ok_or_else(PageError::not_found)?;
    state.ledger.revoke_key(&signed.session.user.tenant_id, &key, None).await?;
    tracing::info!(key = %key, user = %signed.session.user.id, "API key revoked in the console");
    Ok(see_other("/dashboard/keys"))
}
