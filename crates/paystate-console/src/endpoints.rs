//! Managing webhook endpoints (admins): add one (its signing secret shown on that answer only),
//! rotate its secret (the new one shown once, the old one signing on for a grace period),
//! disable and enable it, and queue a test message. The same use cases as
//! `/v1/webhook-endpoints` ([`paystate_webhooks::Webhooks`]); other roles see no forms, and a
//! forged post is refused before anything is read or written.

use crate::Console;
use crate::error::{PageError, PageResult};
use crate::session::{Signed, see_other};
use crate::webhooks::{self, Shown};
use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use paystate_domain::{EndpointId, EventType, WebhookEndpoint};
use paystate_ledger::is_key_taken;
use paystate_webhooks::{EndpointPatch, NewEndpoint, WebhookError};
use serde::Deserialize;
use serde_json::json;

/// The grace periods a rotation offers: the old secret stops at once, after a day, after a week.
const GRACES: [(i64, &str); 3] =
    [(86_400, "keeps signing for 24 hours"), (0, "stops at once"), (604_800, "keeps signing for 7 days")];

#[derive(Deserialize)]
pub struct ActForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    once: String,
    #[serde(default)]
    grace: String,
}

impl From<WebhookError> for PageError {
    fn from(error: WebhookError) -> Self {
        match error {
            WebhookError::Store(error) => error.into(),
            WebhookError::InvalidUrl(invalid) => PageError::invalid(format!("The URL {}.", invalid.0)),
            other => {
                tracing::error!(error = %other, "a console webhook action failed");
                PageError::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "Something failed",
                    "The server could not answer.",
                )
            }
        }
    }
}

fn endpoint_id(raw: &str) -> PageResult<EndpointId> {
    EndpointId::parse(raw).ok_or_else(PageError::not_found)
}

/// Checks the session's CSRF token and the admin role, before anything is read or written.
fn admin(signed: &Signed, csrf: &str) -> PageResult<()> {
    signed.check_csrf(csrf)?;
    signed.require_admin()
}

/// `POST /webhooks/endpoints`: the form's fields come as pairs, since event types repeat.
pub async fn create(
    State(state): State<Console>,
    signed: Signed,
    Form(fields): Form<Vec<(String, String)>>,
) -> PageResult<Response> {
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str());
    admin(&signed, field("csrf"))?;
    let events: Vec<String> = if field("scope") == "some" {
        fields.iter().filter(|(k, _)| k == "events").map(|(_, v)| v.clone()).collect()
    } else {
        vec!["*".to_owned()]
    };
    if events.is_empty() {
        return Err(PageError::invalid("Pick at least one event type, or every event."));
    }
    let url = field("url").trim().to_owned();
    let description = Some(field("description").trim().to_owned()).filter(|d| !d.is_empty());
    let body = json!({"action": "create_endpoint", "url": url, "events": events, "description": description});
    let once = crate::once::guard(field("once"), &signed, &body)?;
    let actor = signed.actor(body);
    let new = NewEndpoint { url, events, description, enabled: true };
    let issued = match state.webhooks.create(&actor, new, once).await {
        Ok(issued) => issued,
        // Sent twice: created once; the secret was on the first answer and is kept sealed.
        Err(WebhookError::Store(error)) if is_key_taken(&error) => {
            return Ok(see_other("/dashboard/webhooks?done=again"));
        }
        Err(error) => return Err(error.into()),
    };
    let user = &signed.session.user.id;
    tracing::info!(endpoint = %issued.endpoint.id, user = %user, source = "dashboard", "webhook endpoint created in the console");
    let shown = Shown { endpoint: issued.endpoint.id.to_string(), secret: issued.secret.reveal(), rotated: None };
    Ok(webhooks::render(&state, &signed, Default::default(), Some(shown)).await?.into_response())
}

pub async fn rotate(
    State(state): State<Console>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<ActForm>,
) -> PageResult<Response> {
    admin(&signed, &form.csrf)?;
    let id = endpoint_id(&id)?;
    let seconds = GRACES
        .iter()
        .map(|(s, _)| *s)
        .find(|s| s.to_string() == form.grace)
        .ok_or_else(|| PageError::invalid("Pick how long the old secret keeps signing."))?;
    let body = json!({"action": "rotate_secret", "endpoint": id.as_str(), "grace": seconds});
    let once = crate::once::guard(&form.once, &signed, &body)?;
    let actor = signed.actor(body);
    let issued = match state.webhooks.rotate(&actor, &id, chrono::TimeDelta::seconds(seconds), once).await {
        Ok(issued) => issued,
        Err(WebhookError::Store(error)) if is_key_taken(&error) => {
            return Ok(see_other("/dashboard/webhooks?done=again"));
        }
        Err(error) => return Err(error.into()),
    };
    tracing::info!(endpoint = %id, user = %signed.session.user.id, source = "dashboard", "webhook secret rotated in the console");
    let shown =
        Shown { endpoint: id.to_string(), secret: issued.secret.reveal(), rotated: Some(issued.previous_expires_at) };
    Ok(webhooks::render(&state, &signed, Default::default(), Some(shown)).await?.into_response())
}

pub async fn disable(
    state: State<Console>,
    signed: Signed,
    id: Path<String>,
    form: Form<ActForm>,
) -> PageResult<Response> {
    set_enabled(state, signed, id, form, false).await
}

pub async fn enable(
    state: State<Console>,
    signed: Signed,
    id: Path<String>,
    form: Form<ActForm>,
) -> PageResult<Response> {
    set_enabled(state, signed, id, form, true).await
}

/// Enabling or disabling twice leaves it so: no token needed.
async fn set_enabled(
    State(state): State<Console>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<ActForm>,
    enabled: bool,
) -> PageResult<Response> {
    admin(&signed, &form.csrf)?;
    let id = endpoint_id(&id)?;
    let patch = EndpointPatch { enabled: Some(enabled), ..Default::default() };
    let done = if enabled { "enabled" } else { "disabled" };
    let action = if enabled { "enable_endpoint" } else { "disable_endpoint" };
    let actor = signed.actor(json!({"action": action, "endpoint": id.as_str()}));
    state.webhooks.update(&actor, &id, patch, None).await?;
    tracing::info!(endpoint = %id, user = %signed.session.user.id, source = "dashboard", "webhook endpoint {done} in the console");
    Ok(see_other(&format!("/dashboard/webhooks?done={done}")))
}

pub async fn test(
    State(state): State<Console>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<ActForm>,
) -> PageResult<Response> {
    admin(&signed, &form.csrf)?;
    let id = endpoint_id(&id)?;
    let once = crate::once::guard(&form.once, &signed, &json!({"action": "test_endpoint", "endpoint": id.as_str()}))?;
    match state.webhooks.send_test(&signed.session.user.tenant_id, &id, once).await {
        Ok(delivery) => tracing::info!(endpoint = %id, delivery = %delivery.record.id, user = %signed.session.user.id,
            source = "dashboard", "webhook test queued in the console"),
        Err(WebhookError::Store(error)) if is_key_taken(&error) => {}
        Err(error) => return Err(error.into()),
    }
    Ok(see_other("/dashboard/webhooks?state=pending&done=tested"))
}

/// An endpoint's admin buttons: test, rotate the secret, disable or enable.
pub fn actions(e: &WebhookEndpoint, csrf: &str) -> Markup {
    let base = format!("/dashboard/webhooks/endpoints/{}", e.id);
    html! {
        div.row-actions {
            @if e.enabled {
                form method="post" action=(format!("{base}/test")) {
                    input type="hidden" name="csrf" value=(csrf);
                    (crate::once::field())
                    button.secondary type="submit" aria-label=(format!("Send a test event to {}", e.id)) { "Send test" }
                }
            }
            form method="post" action=(format!("{base}/{}", if e.enabled { "disable" } else { "enable" })) {
                input type="hidden" name="csrf" value=(csrf);
                @if e.enabled { button.secondary type="submit" aria-label=(format!("Disable {}", e.id)) { "Disable" } }
                @else { button.secondary type="submit" aria-label=(format!("Enable {}", e.id)) { "Enable" } }
            }
            details.rotate {
                summary { "Rotate secret" }
                form method="post" action=(format!("{base}/rotate")) {
                    input type="hidden" name="csrf" value=(csrf);
                    (crate::once::field())
                    label for=(format!("grace-{}", e.id)) { "The old secret" }
                    select id=(format!("grace-{}", e.id)) name="grace" {
                        @for (seconds, label) in GRACES { option value=(seconds) { (label) } }
                    }
                    button type="submit" aria-label=(format!("Rotate the secret of {}", e.id)) { "Rotate" }
                }
            }
        }
    }
}

/// The form that adds an endpoint.
pub fn create_form(csrf: &str) -> Markup {
    html! {
        section.card aria-labelledby="new-endpoint" {
            h2 #new-endpoint { "Add an endpoint" }
            form method="post" action="/dashboard/webhooks/endpoints" {
                input type="hidden" name="csrf" value=(csrf);
                (crate::once::field())
                div.grid.tight {
                    div.field { label for="endpoint-url" { "URL " span.hint { "(https, reachable from paystate)" } }
                        input #endpoint-url type="url" name="url" required maxlength="2048" placeholder="https://shop.example/hooks/paystate"; }
                    div.field { label for="endpoint-description" { "Description" }
                        input #endpoint-description type="text" name="description" maxlength="500"; }
                }
                fieldset.events {
                    legend { "Events it receives" }
                    label.choice { input type="radio" name="scope" value="all" checked; " every event, present and future" }
                    label.choice { input type="radio" name="scope" value="some"; " only the ones ticked:" }
                    div.checks {
                        @for kind in EventType::ALL {
                            label.choice { input type="checkbox" name="events" value=(kind.as_str()); " " span.mono { (kind.as_str()) } }
                        }
                    }
                }
                button type="submit" { "Add endpoint" }
            }
        }
    }
}
