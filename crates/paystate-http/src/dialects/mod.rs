//! The vendor dialects: each module speaks one vendor's API byte-compatibly at its documented
//! path, and translates its wire types into ledger commands and back. Vendor vocabulary stays
//! inside its module.

pub mod gormic;
pub mod norce;
pub mod omnicasa;
pub mod teljoy;

use crate::{AppState, HttpConfig};
use axum::Router;

pub fn router(config: &HttpConfig) -> Router<AppState> {
    Router::new().merge(omnicasa::router(config)).merge(norce::router()).merge(gormic::router()).merge(teljoy::router())
}

/// Each dialect's part of the OpenAPI document.
pub fn openapi_parts() -> Vec<utoipa::openapi::OpenApi> {
    use utoipa::OpenApi;
    vec![omnicasa::Doc::openapi(), norce::Doc::openapi(), gormic::Doc::openapi(), teljoy::Doc::openapi()]
}
