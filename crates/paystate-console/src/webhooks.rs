//! Webhooks as an operator sees them: the endpoints and their health, deliveries by state with
//! each one's attempts (response codes, truncated bodies, errors), and a manual retry that sends
//! a delivery again now rather than at its next backoff. Admins also manage the endpoints
//! here (see [`crate::endpoints`]).

use crate::Console;
use crate::error::{PageError, PageResult};
use crate::format::time;
use crate::layout::{self, Section};
use crate::session::CsrfForm;
use crate::session::{Signed, see_other};
use axum::extract::{Form, Path, Query, State};
use axum::response::Response;
use futures::FutureExt;
use maud::{Markup, html};
use paystate_domain::DeliveryId;
use paystate_store::{AttemptRecord, DeliveryFilter, DeliveryRecord, DeliveryState, EndpointRecord, PageRequest};
use serde::Deserialize;

const SHOWN: u32 = 100;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    done: String,
}

type Listing = (Vec<EndpointRecord>, Vec<DeliveryRecord>, Vec<AttemptRecord>);

/// A signing secret just issued, for the one answer that shows it.
pub struct Shown {
    pub endpoint: String,
    pub secret: String,
    /// After a rotation: until when the previous secret still signs (`None`: it stopped).
    pub rotated: Option<Option<paystate_domain::Timestamp>>,
}

pub async fn page(State(state): State<Console>, signed: Signed, Query(query): Query<ListQuery>) -> PageResult<Markup> {
    render(&state, &signed, query, None).await
}

pub async fn render(state: &Console, signed: &Signed, query: ListQuery, shown: Option<Shown>) -> PageResult<Markup> {
    let tenant = signed.session.user.tenant_id.clone();
    let wanted = match query.state.as_str() {
        "" => DeliveryState::Failed,
        text => DeliveryState::parse(text)
            .ok_or_else(|| PageError::invalid("The state is pending, succeeded or failed."))?,
    };
    let (endpoints, deliveries, attempts): Listing = state
        .ledger
        .query(move |r| {
            async move {
                let endpoints = r.endpoints(&tenant, &PageRequest { after: None, limit: 500 }).await?;
                let filter = DeliveryFilter { state: Some(wanted), ..Default::default() };
                let deliveries = r.deliveries(&tenant, &filter, &PageRequest { after: None, limit: SHOWN }).await?;
                let ids: Vec<DeliveryId> = deliveries.iter().map(|d| d.id.clone()).collect();
                let attempts = r.delivery_attempts(&tenant, &ids).await?;
                Ok((endpoints, deliveries, attempts))
            }
            .boxed()
        })
        .await?;
    let can_act = signed.session.user.role.can_act();
    let can_administer = signed.session.user.role.can_administer();
    let csrf = &signed.session.csrf_token;
    let body = html! {
        div.page-head { div { h1 { "Webhooks" } p.sub { "Endpoints that subscribe to this tenant's events, and what was sent to them." } } }
        @if let Some(shown) = &shown {
            section.notice.ok role="status" {
                p { @if shown.rotated.is_some() { "New signing secret of " } @else { "Created " } span.mono { (shown.endpoint) } ". Its signing secret, shown this once:" }
                p.secret #new-secret { (shown.secret) }
                p.hint { "Copy it into the receiver now: paystate keeps it sealed and cannot show it again."
                    @match shown.rotated { Some(Some(until)) => { " The old secret also signs until " (time(&until)) "." } Some(None) => { " The old secret no longer signs." } None => {} } }
            }
        }
        @match query.done.as_str() {
            "retried" => p.notice.ok role="status" { "The delivery is queued to be sent again now." },
            "tested" => p.notice.ok role="status" { "A webhook.test message is queued: it is listed below until it is sent." },
            "disabled" => p.notice.ok role="status" { "The endpoint is disabled: nothing is sent to it until it is enabled again." },
            "enabled" => p.notice.ok role="status" { "The endpoint is enabled: deliveries to it resume." },
            "again" => p.notice.info role="status" { "That form was sent twice and acted once; a secret it issued was shown on the first answer only. If it was not copied, rotate the secret." },
            _ => {}
        }
        section.card aria-labelledby="endpoints" {
            h2 #endpoints { "Endpoints" }
            div.table-wrap { table.stack {
                thead { tr { th { "Endpoint" } th { "URL" } th { "Events" } th { "Health" } @if can_administer { th { "Manage" } } } }
                tbody {
                    @for e in &endpoints {
                        @let e = &e.endpoint;
                        tr {
                            td.mono data-label="Endpoint" { (e.id) }
                            td data-label="URL" { (e.url) }
                            td data-label="Events" { (e.events.as_slice().join(", ")) }
                            td data-label="Health" {
                                @if !e.enabled { span.badge.review { "disabled" } @if let Some(reason) = &e.disabled_reason { br; span.hint { (reason) } } }
                                @else if let Some(since) = &e.failing_since { span.badge.review { "failing" } br; span.hint { "since " (time(since)) } }
                                @else { span.badge.outcome-applied { "healthy" } }
                            }
                            @if can_administer { td data-label="Manage" { (crate::endpoints::actions(e, csrf)) } }
                        }
                    }
                    @if endpoints.is_empty() { tr { td.empty colspan="5" {
                        "No endpoints. " @if can_administer { "Add one below, or with POST /v1/webhook-endpoints." } @else { "An admin adds them." }
                    } } }
                }
            } }
        }
        @if can_administer { (crate::endpoints::create_form(csrf)) }
        section.card aria-labelledby="deliveries" {
            h2 #deliveries { "Deliveries" }
            nav.legend aria-label="Delivery state" {
                @for s in [DeliveryState::Failed, DeliveryState::Pending, DeliveryState::Succeeded] {
                    a href=(format!("/dashboard/webhooks?state={}", s.as_str())) aria-current=[(s == wanted).then_some("page")] { (s.as_str()) }
                }
            }
            div.table-wrap { table {
                thead { tr { th { "Delivery" } th { "Event" } th { "State" } th.num { "Attempts" } th { "Last answer" } th {} } }
                tbody {
                    @for d in &deliveries {
                        @let last = attempts.iter().rfind(|a| a.delivery_id == d.id);
                        tr {
                            td { span.mono { (d.id) } br; span.hint { "to " (d.endpoint_id) } }
                            td { (d.event_type) br; span.hint { (time(&d.created_at)) } }
                            td { span.badge { (d.state.as_str()) } }
                            td.num { (d.attempts) }
                            td { @match last {
                                Some(a) => {
                                    (a.status_code.map_or("no answer".to_owned(), |c| format!("HTTP {c}"))) " · " (time(&a.at))
                                    @if let Some(error) = &a.error { br; span.hint { (error) } }
                                    @if let Some(excerpt) = &a.response_excerpt { details.body { summary { "Response" } pre { (excerpt) } } }
                                }
                                None => span.hint { "not tried yet" },
                            } }
                            td { @if can_act {
                                form method="post" action=(format!("/dashboard/webhooks/deliveries/{}/retry", d.id)) {
                                    input type="hidden" name="csrf" value=(csrf);
                                    button.secondary type="submit" aria-label=(format!("Retry {}", d.id)) { "Retry now" }
                                }
                            } }
                        }
                    }
                    @if deliveries.is_empty() { tr { td.empty colspan="6" { "No " (wanted.as_str()) " deliveries." } } }
                }
            } }
            @if deliveries.len() as u32 == SHOWN { p.hint { "The oldest " (SHOWN) " are shown." } }
        }
    };
    Ok(layout::page("Webhooks", &signed.session, Section::Webhooks, body))
}

pub async fn retry(
    State(state): State<Console>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> PageResult<Response> {
    signed.check_csrf(&form.csrf)?;
    signed.require_operator()?;
    let id = DeliveryId::parse(&id).ok_or_else(PageError::not_found)?;
    match state.webhooks.retry(&signed.session.user.tenant_id, &id, None).await {
        Ok(_) => {}
        Err(paystate_webhooks::WebhookError::Store(paystate_store::StoreError::NotFound)) => {
            return Err(PageError::not_found());
        }
        Err(error) => return Err(error.into()),
    }
    Ok(see_other("/dashboard/webhooks?state=pending&done=retried"))
}
