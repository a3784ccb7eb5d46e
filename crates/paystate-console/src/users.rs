//! Users of the tenant (admins): the list, adding a person (the generated password shown once),
//! changing a person's role, disabling one (their sessions end at once); and every person's own
//! password change.

use crate::Console;
use crate::error::{PageError, PageResult};
use crate::format::time;
use crate::layout::Notice;
use crate::layout::{self, Section};
use crate::session::CsrfForm;
use crate::session::{Signed, see_other};
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use paystate_domain::Role;
use paystate_ledger::is_key_taken;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    once: String,
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    role: String,
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

async fn render(state: &Console, signed: &Signed, created: Option<(String, String)>, done: &str) -> PageResult<Markup> {
    let users = state.ledger.users(&signed.session.user.tenant_id).await?;
    let csrf = &signed.session.csrf_token;
    let body = html! {
        div.page-head { div { h1 { "Users" } p.sub { "People who sign in to this console. Roles add up: viewer reads, operator also acts on payments, admin also manages users." } } }
        @if let Some((email, password)) = created {
            section.notice.ok role="status" {
                p { "Created " strong { (email) } ". Their password, shown this once:" }
                p.secret { (password) }
                p.hint { "Hand it over safely; they can change it after signing in." }
            }
        }
        @if done == "again" {
            p.notice.info role="status" { "That form was sent twice: the person was added once, and their password was shown on the first answer only. If it was not noted, disable them and add them again with another address, or let them change it." }
        }
        section.card {
            div.table-wrap { table {
                thead { tr { th { "E-mail" } th { "Role" } th { "State" } th.hide-narrow { "Created" } th {} } }
                tbody { @for u in &users {
                    tr {
                        td { (u.email) }
                        td { @if u.disabled_at.is_none() && u.id != signed.session.user.id {
                            form.inline method="post" action=(format!("/dashboard/users/{}/role", u.id)) {
                                input type="hidden" name="csrf" value=(csrf);
                                label.visually-hidden for=(format!("role-{}", u.id)) { "Role of " (u.email) }
                                select id=(format!("role-{}", u.id)) name="role" {
                                    @for r in Role::ALL { option value=(r.as_str()) selected[r == u.role] { (r.as_str()) } }
                                }
                                button.secondary type="submit" aria-label=(format!("Change the role of {}", u.email)) { "Change" }
                            }
                        } @else { span.badge { (u.role.as_str()) } } }
                        td { @if u.disabled_at.is_some() { span.badge.review { "disabled" } } @else { "active" } }
                        td.hide-narrow { (time(&u.created_at)) }
                        td { @if u.disabled_at.is_none() && u.id != signed.session.user.id {
                            form method="post" action=(format!("/dashboard/users/{}/disable", u.id)) {
                                input type="hidden" name="csrf" value=(csrf);
                                button.secondary type="submit" aria-label=(format!("Disable {}", u.email)) { "Disable" }
                            }
                        } }
                    }
                } }
            } }
        }
        section.card aria-labelledby="add" {
            h2 #add { "Add a person" }
            form.filters method="post" action="/dashboard/users" {
                input type="hidden" name="csrf" value=(csrf);
                (crate::once::field())
                div.field.q { label for="new-email" { "E-mail" } input #new-email type="email" name="email" required; }
                div.field {
                    label for="new-role" { "Role" }
                    select #new-role name="role" { @for r in Role::ALL { option value=(r.as_str()) { (r.as_str()) } } }
                }
                button type="submit" { "Add" }
            }
        }
    };
    Ok(layout::page("Users", &signed.session, Section::Users, body))
}

pub async fn page(State(state): State<Console>, signed: Signed, Query(notice): Query<Notice>) -> PageResult<Response> {
    if !signed.session.user.role.can_administer() {
        return Ok(account(&signed).into_response());
    }
    Ok(render(&state, &signed, None, &notice.done).await?.into_response())
}

/// What a non-admin sees under Users: their own account and its password form.
fn account(signed: &Signed) -> Markup {
    let user = &signed.session.user;
    layout::page(
        "Your account",
        &signed.session,
        Section::Users,
        html! {
            h1 { "Your account" }
            p.sub { (user.email) " · " (user.role.as_str()) }
            (password_form(&signed.session.csrf_token))
        },
    )
}

fn password_form(csrf: &str) -> Markup {
    html! {
        section.card {
            h2 { "Change your password" }
            form method="post" action="/dashboard/account/password" {
                input type="hidden" name="csrf" value=(csrf);
                div.field { label for="current" { "Current password" } input #current type="password" name="current_password" autocomplete="current-password" required; }
                div.field { label for="new" { "New password " span.hint { "(12 characters at least)" } } input #new type="password" name="new_password" autocomplete="new-password" minlength="12" required; }
                button type="submit" { "Change password" }
            }
        }
    }
}

pub async fn create(
    State(state): State<Console>,
    signed: Signed,
    Form(form): Form<CreateForm>,
) -> PageResult<Response> {
    signed.check_csrf(&form.csrf)?;
    signed.require_admin()?;
    let role = Role::parse(&form.role).ok_or_else(|| PageError::invalid("Pick a role: viewer, operator or admin."))?;
    let body = json!({"action": "create_user", "email": form.email.trim().to_lowercase(), "role": role.as_str()});
    let once = crate::once::guard(&form.once, &signed, &body)?;
    let actor = signed.actor(body);
    let created = match state.ledger.create_user(&actor, &form.email, role, None, once).await {
        Ok(created) => created,
        // Sent twice: added once; the password was on the first answer and is not kept.
        Err(error) if is_key_taken(&error) => return Ok(see_other("/dashboard/users?done=again")),
        Err(error) => return Err(error.into()),
    };
    tracing::info!(created = %created.user.id, user = %signed.session.user.id, source = "dashboard", "console user added");
    let password = created.password.unwrap_or_default();
    Ok(render(&state, &signed, Some((created.user.email, password)), "").await?.into_response())
}

pub async fn disable(
    State(state): State<Console>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> PageResult<Response> {
    signed.check_csrf(&form.csrf)?;
    signed.require_admin()?;
    if id == signed.session.user.id.as_str() {
        return Err(PageError::invalid("You cannot disable yourself; ask another admin."));
    }
    let actor = signed.actor(json!({"action": "disable_user", "user": id}));
    state.ledger.disable_user(&actor, &id).await?;
    Ok(see_other("/dashboard/users"))
}

/// A new role for another person of the tenant (admins; never one's own, so that a tenant
/// cannot lose its last admin by a slip), recorded as `user.updated` with before and after.
pub async fn change_role(
    State(state): State<Console>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<RoleForm>,
) -> PageResult<Response> {
    signed.check_csrf(&form.csrf)?;
    signed.require_admin()?;
    if id == signed.session.user.id.as_str() {
        return Err(PageError::invalid("You cannot change your own role; ask another admin."));
    }
    let role = Role::parse(&form.role).ok_or_else(|| PageError::invalid("Pick a role: viewer, operator or admin."))?;
    let actor = signed.actor(json!({"action": "change_role", "user": id, "role": role.as_str()}));
    state.ledger.set_role(&actor, &id, role).await?;
    Ok(see_other("/dashboard/users"))
}

pub async fn change_password(
    State(state): State<Console>,
    signed: Signed,
    Form(form): Form<PasswordForm>,
) -> PageResult<Response> {
    signed.check_csrf(&form.csrf)?;
    state.ledger.change_password(&signed.session.user, &form.current_password, &form.new_password).await?;
    // Changing the password ends every session, this one too: sign in again with the new one.
    Ok(see_other("/dashboard/login"))
}
