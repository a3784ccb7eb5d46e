//! `/v1/tenant`: the caller's tenant, its name and the per-tenant settings dialects read.

use super::Native;
use crate::extract::Json;
use crate::idempotency::{Idempotency, json, respond};
use crate::problem::{ApiResult, Problem};
use axum::response::Response;
use paystate_domain::{Source, Tenant};
use paystate_store::Scope;

#[utoipa::path(get, operation_id = "tenant_get", path = "/v1/tenant", tag = "tenant", responses((status = 200, body = Tenant)), security(("bearer" = [])))]
pub async fn get(Native { state, caller }: Native) -> ApiResult<axum::Json<Tenant>> {
    Ok(axum::Json(state.ledger.tenant(&caller.tenant_id).await?))
}

/// An RFC 7396 merge patch of `name` and `settings` (admin).
#[utoipa::path(patch, operation_id = "tenant_patch", path = "/v1/tenant", tag = "tenant", request_body(content = Object, content_type = "application/merge-patch+json"),
    responses((status = 200, body = Tenant), (status = 400, body = Problem), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn patch(
    Native { state, caller }: Native,
    idem: Idempotency,
    body: Json<serde_json::Value>,
) -> ApiResult<Response> {
    caller.require(Scope::Admin)?;
    let answer = |tenant: &Tenant| json(axum::http::StatusCode::OK, tenant);
    // The dialects' settings, vetted as the console's settings page vets them.
    let check = paystate_domain::dialect_settings::check;
    let actor = caller.actor(Source::Native, Some(body.raw));
    let tenant = state.ledger.patch_tenant(&actor, body.value, check, idem.once(answer)).await?;
    Ok(respond(answer(&tenant)))
}
