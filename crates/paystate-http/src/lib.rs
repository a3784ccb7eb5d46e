//! paystate's HTTP surface (axum): the native REST API under `/v1`, the four vendor dialects at
//! their documented paths, and the ops endpoints (health, readiness, metrics, OpenAPI, docs).
//!
//! Handlers translate wire formats into ledger calls and back; they hold no business rules.

pub mod auth;
pub mod dialects;
pub mod extract;
pub mod idempotency;
pub mod native;
pub mod observe;
pub mod openapi;
pub mod ops;
pub mod problem;

use axum::Router;
use axum::response::{IntoResponse, Response};
use paystate_ledger::Ledger;
use std::future::Future;
use std::sync::Arc;

/// Settings of the HTTP layer.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// An extra prefix under which the Omnicasa route is also served (e.g. `/api/v3`).
    pub omnicasa_prefix: Option<String>,
    /// Identifies this running instance (Gormic's `instanceId`).
    pub instance_id: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { omnicasa_prefix: None, instance_id: uuid::Uuid::now_v7().to_string() }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub ledger: Ledger,
    pub metrics: Arc<observe::Metrics>,
    pub config: Arc<HttpConfig>,
}

impl AppState {
    pub fn new(ledger: Ledger, config: HttpConfig) -> Self {
        AppState { ledger, metrics: Arc::new(observe::Metrics::default()), config: Arc::new(config) }
    }
}

/// The whole application.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(native::router(state.clone()))
        .merge(dialects::router(&state.config))
        .merge(ops::router())
        .fallback(not_found)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(on_panic))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe::observe))
        .layer(axum::extract::DefaultBodyLimit::max(extract::BODY_LIMIT))
        .with_state(state)
}

async fn not_found() -> problem::ApiError {
    problem::ApiError::not_found()
}

fn on_panic(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    problem::ApiError::internal().into_response()
}

/// Serves until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tokio::spawn(idempotency::purge_periodically(state.clone()));
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown).await
}
