//! `/v1/orders`: open, read, list, describe and close orders.

use super::{ListOf, Native, Paging};
use crate::extract::{Json, Query};
use crate::idempotency::{Idempotency, json, respond};
use crate::problem::{ApiResult, Problem};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use paystate_domain::order::{NewOrder, OrderPatch};
use paystate_domain::{Currency, Order, OrderState, Source};
use paystate_store::OrderFilter;
use serde::Deserialize;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrder {
    /// Your id for the order; unique per tenant.
    #[schema(min_length = 1, max_length = 200)]
    pub reference: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Minor units (cents); defaults to 0.
    #[serde(default, deserialize_with = "crate::extract::optional_minor_units")]
    #[schema(minimum = 0, maximum = 999_999_999_999_999_i64)]
    pub total_amount: Option<i64>,
    /// A JSON object, or null when none is known.
    #[schema(value_type = Option<Object>)]
    pub customer: Option<serde_json::Value>,
    /// A JSON object (null: none).
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<serde_json::Value>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchOrder {
    #[serde(default, deserialize_with = "crate::extract::optional_minor_units")]
    #[schema(minimum = 0, maximum = 999_999_999_999_999_i64)]
    pub total_amount: Option<i64>,
    /// A JSON object, or null when none is known.
    #[schema(value_type = Option<Object>)]
    pub customer: Option<serde_json::Value>,
    /// A JSON object (null: none).
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<serde_json::Value>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetOrderState {
    pub state: OrderState,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OrderQuery {
    pub reference: Option<String>,
    pub state: Option<OrderState>,
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(min_length = 1, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")]
    pub cursor: Option<String>,
}

#[utoipa::path(post, operation_id = "orders_create", path = "/v1/orders", tag = "orders", request_body = CreateOrder,
    responses((status = 201, body = Order), (status = 400, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn create(
    Native { state, caller }: Native,
    idem: Idempotency,
    body: Json<CreateOrder>,
) -> ApiResult<Response> {
    let Json { value, raw } = body;
    let new = NewOrder {
        reference: value.reference,
        currency: Currency::parse(&value.currency)?,
        total_amount: value.total_amount.unwrap_or(0),
        customer: value.customer.unwrap_or(serde_json::Value::Null),
        attributes: value.attributes.unwrap_or(serde_json::Value::Null),
    };
    let answer = |order: &Order| json(StatusCode::CREATED, order);
    let order = state.ledger.create_order(&caller.actor(Source::Native, Some(raw)), new, idem.once(answer)).await?;
    Ok(respond(answer(&order)))
}

#[utoipa::path(get, operation_id = "orders_get", path = "/v1/orders/{id}", tag = "orders", params(("id" = String, Path, description = "order id or reference")),
    responses((status = 200, body = Order), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get(Native { state, caller }: Native, Path(id): Path<String>) -> ApiResult<axum::Json<Order>> {
    Ok(axum::Json(state.ledger.order(&caller.tenant_id, &id).await?))
}

#[utoipa::path(get, operation_id = "orders_list", path = "/v1/orders", tag = "orders", params(OrderQuery),
    responses((status = 200, body = ListOf<Order>)), security(("bearer" = [])))]
pub async fn list(
    Native { state, caller }: Native,
    Query(query): Query<OrderQuery>,
) -> ApiResult<axum::Json<ListOf<Order>>> {
    let page = Paging { limit: query.limit, cursor: query.cursor }.page()?;
    let filter = OrderFilter { reference: query.reference, state: query.state };
    Ok(axum::Json(state.ledger.orders(&caller.tenant_id, filter, page).await?.into()))
}

#[utoipa::path(patch, operation_id = "orders_patch", path = "/v1/orders/{id}", tag = "orders", request_body = PatchOrder,
    responses((status = 200, body = Order), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn patch(
    Native { state, caller }: Native,
    idem: Idempotency,
    Path(id): Path<String>,
    body: Json<PatchOrder>,
) -> ApiResult<Response> {
    let Json { value, raw } = body;
    let patch = OrderPatch { total_amount: value.total_amount, customer: value.customer, attributes: value.attributes };
    let answer = |order: &Order| json(StatusCode::OK, order);
    let order =
        state.ledger.patch_order(&caller.actor(Source::Native, Some(raw)), &id, patch, idem.once(answer)).await?;
    Ok(respond(answer(&order)))
}

#[utoipa::path(post, operation_id = "orders_set_state", path = "/v1/orders/{id}/state", tag = "orders", request_body = SetOrderState,
    responses((status = 200, body = Order), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn set_state(
    Native { state, caller }: Native,
    idem: Idempotency,
    Path(id): Path<String>,
    body: Json<SetOrderState>,
) -> ApiResult<Response> {
    let Json { value, raw } = body;
    let answer = |(order, _): &(Order, bool)| json(StatusCode::OK, order);
    let actor = caller.actor(Source::Native, Some(raw));
    let changed = state.ledger.set_order_state(&actor, &id, value.state, idem.once(answer)).await?;
    Ok(respond(answer(&changed)))
}
