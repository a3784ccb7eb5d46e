//! `/v1/api-keys` (admin): issue, list and revoke the tenant's API keys. A key's secret is in
//! the creation response only.

use super::Native;
use crate::extract::Json;
use crate::idempotency::{Idempotency, json, respond};
use crate::problem::{ApiError, ApiResult, Problem};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use paystate_domain::{KeyId, Source};
use paystate_ledger::IssuedKey;
use paystate_store::{ApiKeyRecord, Scope};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    #[schema(value_type = String, example = "write")]
    pub scope: Scope,
    /// Limit the key to one dialect: native, omnicasa, norce, gormic or teljoy.
    pub dialect: Option<Source>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub label: Option<String>,
}

/// A key as listed: never its secret.
#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub key_id: String,
    pub scope: String,
    pub dialect: Option<Source>,
    pub label: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<ApiKeyRecord> for KeyView {
    fn from(key: ApiKeyRecord) -> Self {
        KeyView {
            key_id: key.id.to_string(),
            scope: key.scope.as_str().into(),
            dialect: key.dialect,
            label: key.label,
            created_at: key.created_at,
            expires_at: key.expires_at,
            revoked_at: key.revoked_at,
        }
    }
}

/// The one response that shows a key's secret.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IssuedKeyView {
    pub key_id: String,
    /// The secret, shown in the first answer only (null in an idempotent replay).
    pub api_key: Option<String>,
    pub scope: String,
    pub dialect: Option<Source>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[utoipa::path(post, operation_id = "keys_create", path = "/v1/api-keys", tag = "api keys", request_body = CreateKey,
    responses((status = 201, body = IssuedKeyView), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn create(Native { state, caller }: Native, idem: Idempotency, body: Json<CreateKey>) -> ApiResult<Response> {
    caller.require(Scope::Admin)?;
    let actor = caller.actor(Source::Native, Some(body.raw));
    let CreateKey { scope, dialect, expires_at, label } = body.value;
    if dialect.is_some_and(|d| !d.takes_keys()) {
        return Err(ApiError::invalid("dialect", "must be native, omnicasa, norce, gormic or teljoy"));
    }
    // A well-formed time that is already past: the request is valid, the present refuses it.
    if expires_at.is_some_and(|at| at <= chrono::Utc::now()) {
        let mut error = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "already-expired",
            "Already expired",
            "expires_at must be in the future",
        );
        error.0.field = Some("expires_at".into());
        return Err(error);
    }
    // The secret is shown once: an idempotent replay answers without it, and it is never stored.
    let once = idem.once(|issued: &IssuedKey| issued_answer(issued, false));
    let issued = state.ledger.create_key(&actor, scope, dialect, expires_at, label, once).await?;
    Ok(respond(issued_answer(&issued, true)))
}

fn issued_answer(issued: &IssuedKey, reveal: bool) -> paystate_store::StoredResponse {
    let view = IssuedKeyView {
        key_id: issued.id.to_string(),
        api_key: reveal.then(|| issued.token.clone()),
        scope: issued.scope.as_str().into(),
        dialect: issued.dialect,
        expires_at: issued.expires_at,
    };
    json(StatusCode::CREATED, &view)
}

#[utoipa::path(get, operation_id = "keys_list", path = "/v1/api-keys", tag = "api keys", responses((status = 200, body = super::ListOf<KeyView>)), security(("bearer" = [])))]
pub async fn list(Native { state, caller }: Native) -> ApiResult<axum::Json<super::ListOf<KeyView>>> {
    caller.require(Scope::Admin)?;
    let data = state.ledger.keys(&caller.tenant_id).await?.into_iter().map(KeyView::from).collect();
    Ok(axum::Json(super::ListOf { data, has_more: false, next_cursor: None }))
}

#[utoipa::path(delete, operation_id = "keys_revoke", path = "/v1/api-keys/{id}", tag = "api keys", responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn revoke(
    Native { state, caller }: Native,
    idem: Idempotency,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(Scope::Admin)?;
    let id = KeyId::parse(&id).ok_or_else(ApiError::not_found)?;
    state
        .ledger
        .revoke_key(&caller.actor(Source::Native, None), &id, idem.once(|_: &()| crate::idempotency::no_content()))
        .await?;
    Ok(respond(crate::idempotency::no_content()))
}
