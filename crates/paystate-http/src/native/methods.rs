//! `/v1/payment-methods`: the payment methods a tenant offers, with localized names.

use super::Native;
use crate::extract::Json;
use crate::idempotency::{Idempotency, json, respond};
use crate::problem::{ApiError, ApiResult, Problem};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use paystate_domain::{MethodId, MethodLocale, PaymentMethod, Source};
use paystate_ledger::{MethodPatch, NewMethod};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMethod {
    /// Your short code for the method; unique per tenant.
    #[schema(min_length = 1, max_length = 200)]
    pub code: String,
    /// Name and description per language tag.
    pub locales: BTreeMap<String, MethodLocale>,
    /// Defaults to true.
    pub visible: Option<bool>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchMethod {
    pub locales: Option<BTreeMap<String, MethodLocale>>,
    pub visible: Option<bool>,
}

fn method_id(raw: &str) -> ApiResult<MethodId> {
    MethodId::parse(raw).ok_or_else(ApiError::not_found)
}

#[utoipa::path(post, operation_id = "methods_create", path = "/v1/payment-methods", tag = "payment methods", request_body = CreateMethod,
    responses((status = 201, body = PaymentMethod), (status = 409, body = Problem)), security(("bearer" = [])))]
pub async fn create(
    Native { state, caller }: Native,
    idem: Idempotency,
    body: Json<CreateMethod>,
) -> ApiResult<Response> {
    let Json { value, raw } = body;
    let new = NewMethod { code: value.code, locales: value.locales, visible: value.visible.unwrap_or(true) };
    let answer = |method: &PaymentMethod| json(StatusCode::CREATED, method);
    let method = state.ledger.create_method(&caller.actor(Source::Native, Some(raw)), new, idem.once(answer)).await?;
    Ok(respond(answer(&method)))
}

#[utoipa::path(get, operation_id = "methods_list", path = "/v1/payment-methods", tag = "payment methods",
    responses((status = 200, body = super::ListOf<PaymentMethod>)), security(("bearer" = [])))]
pub async fn list(Native { state, caller }: Native) -> ApiResult<axum::Json<super::ListOf<PaymentMethod>>> {
    let data = state.ledger.methods(&caller.tenant_id).await?;
    Ok(axum::Json(super::ListOf { data, has_more: false, next_cursor: None }))
}

#[utoipa::path(get, operation_id = "methods_get", path = "/v1/payment-methods/{id}", tag = "payment methods",
    responses((status = 200, body = PaymentMethod), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get(Native { state, caller }: Native, Path(id): Path<String>) -> ApiResult<axum::Json<PaymentMethod>> {
    Ok(axum::Json(state.ledger.method(&caller.tenant_id, &method_id(&id)?).await?))
}

#[utoipa::path(patch, operation_id = "methods_patch", path = "/v1/payment-methods/{id}", tag = "payment methods", request_body = PatchMethod,
    responses((status = 200, body = PaymentMethod), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn patch(
    Native { state, caller }: Native,
    idem: Idempotency,
    Path(id): Path<String>,
    body: Json<PatchMethod>,
) -> ApiResult<Response> {
    let Json { value, raw } = body;
    let patch = MethodPatch { locales: value.locales, visible: value.visible };
    let answer = |method: &PaymentMethod| json(StatusCode::OK, method);
    let actor = caller.actor(Source::Native, Some(raw));
    let method = state.ledger.update_method(&actor, &method_id(&id)?, patch, idem.once(answer)).await?;
    Ok(respond(answer(&method)))
}
