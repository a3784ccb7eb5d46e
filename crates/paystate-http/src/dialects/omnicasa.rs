//! Placeholder replaced by the omnicasa dialect.

use crate::{AppState, HttpConfig};
use axum::Router;

#[derive(utoipa::OpenApi)]
pub struct Doc;

#[allow(unused_variables)]
pub fn router(config: &HttpConfig) -> Router<AppState> {
    Router::new()
}
