//! Placeholder replaced by the gormic dialect.

use crate::AppState;
use axum::Router;

#[derive(utoipa::OpenApi)]
pub struct Doc;

#[allow(unused_variables)]
pub fn router() -> Router<AppState> {
    Router::new()
}
