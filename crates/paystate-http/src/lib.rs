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
pub mod retention;
pub mod schema_rules;
pub mod server;
pub mod stall;

use axum::Router;
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use paystate_ledger::Ledger;
use paystate_webhooks::{DispatcherConfig, SealingKey, Webhooks};
use std::future::Future;
use std::sync::Arc;

/// Settings of the HTTP layer.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// An extra prefix under which the Omnicasa route is also served (e.g. `/api/v3`).
    pub omnicasa_prefix: Option<String>,
    /// Identifies this running instance (Gormic's `instanceId`).
    pub instance_id: String,
    pub webhooks: WebhookSettings,
    /// Header and body timeouts and the per-address connection cap.
    pub limits: server::ConnectionLimits,
    /// The live event stream (`GET /v1/events/stream`).
    pub stream: native::stream::StreamSettings,
    /// Publish every event to NATS JetStream from [`serve`]; `None` publishes nothing.
    pub nats: Option<paystate_stream::PublisherConfig>,
}

/// Outgoing webhooks: how secrets are sealed, which receivers are allowed, and whether `serve`
/// runs a dispatcher.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// Seals the endpoints' signing secrets; every instance on one database needs the same.
    pub sealing_key: SealingKey,
    /// Allow endpoints on loopback, private, link-local and CGNAT addresses. Applies to the
    /// URLs the API accepts and to the dispatcher `serve` runs (overriding its own setting).
    pub allow_private_networks: bool,
    /// Run a dispatcher inside [`serve`]; `None` leaves deliveries to `paystate worker`s.
    pub dispatcher: Option<DispatcherConfig>,
    /// How long finished (succeeded or failed) deliveries and their attempts are kept.
    pub retention: chrono::TimeDelta,
}

/// The default of [`WebhookSettings::retention`]: 30 days.
pub const DEFAULT_WEBHOOK_RETENTION_DAYS: i64 = 30;

impl Default for HttpConfig {
    /// No dispatcher, and a sealing key that lives as long as the process: for tests and
    /// embedding. The binary always configures a persistent key.
    fn default() -> Self {
        HttpConfig {
            omnicasa_prefix: None,
            instance_id: uuid::Uuid::now_v7().to_string(),
            webhooks: WebhookSettings {
                sealing_key: SealingKey::generate().expect("the operating system provides randomness"),
                allow_private_networks: false,
                dispatcher: None,
                retention: chrono::TimeDelta::days(DEFAULT_WEBHOOK_RETENTION_DAYS),
            },
            limits: server::ConnectionLimits::default(),
            stream: native::stream::StreamSettings::default(),
            nats: None,
        }
    }
}

/// What every handler shares, behind one `Arc`: axum clones the state for every layer and
/// handler of every request, and one reference count is cheaper to touch than one per field.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The parts of [`AppState`].
pub struct Shared {
    pub ledger: Ledger,
    pub webhooks: Webhooks,
    pub metrics: Arc<observe::Metrics>,
    pub config: Arc<HttpConfig>,
    /// Raised after each tenant write that committed through this process: wakes the live
    /// event streams (and a NATS publisher running here).
    pub signal: Arc<paystate_stream::CommitSignal>,
    /// Set when the server shuts down, so that endless event streams end and let it finish.
    pub closing: tokio::sync::watch::Sender<bool>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(ledger: Ledger, config: HttpConfig) -> Self {
        // Every write of the API goes through this ledger's store, so wrapping it once signals
        // every commit of this process to the event streams.
        let signal = paystate_stream::CommitSignal::new();
        let store = paystate_stream::SignallingStore::new(ledger.store().clone(), signal.clone());
        let ledger = ledger.with_store(Arc::new(store));
        let webhooks = Webhooks::new(
            ledger.store().clone(),
            config.webhooks.sealing_key.clone(),
            config.webhooks.allow_private_networks,
        );
        let metrics = Arc::new(observe::Metrics::for_store(ledger.store().clone()));
        let closing = tokio::sync::watch::Sender::new(false);
        AppState(Arc::new(Shared { ledger, webhooks, metrics, config: Arc::new(config), signal, closing }))
    }
}

/// The whole application.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(native::router(state.clone()))
        .merge(dialects::router(&state.config))
        .merge(ops::router())
        // The operator console, on by default: people sign in with console users, not API keys.
        .nest("/dashboard", paystate_console::router(state.ledger.clone(), state.webhooks.clone()))
        .fallback(not_found)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(on_panic))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe::observe))
        .layer(axum::extract::DefaultBodyLimit::max(extract::BODY_LIMIT))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(state.config.limits.body_timeout))
        .with_state(state)
}

async fn not_found() -> problem::ApiError {
    problem::ApiError::not_found()
}

fn on_panic(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    problem::ApiError::internal().into_response()
}

/// Serves until `shutdown` resolves, then finishes the requests in flight (and the webhook
/// dispatcher and the NATS publisher, when they run here, finish what they are sending).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let shutdown = shutdown.shared();
    let closing = state.clone();
    let stop_streams = shutdown.clone();
    tokio::spawn(async move {
        stop_streams.await;
        closing.closing.send_replace(true);
    });
    tokio::spawn(retention::purge_periodically(state.clone()));
    let dispatcher = match &state.config.webhooks.dispatcher {
        Some(config) => {
            let config = DispatcherConfig {
                allow_private_networks: state.config.webhooks.allow_private_networks,
                ..config.clone()
            };
            let dispatcher = paystate_webhooks::Dispatcher::new(
                state.ledger.store().clone(),
                state.config.webhooks.sealing_key.clone(),
                config,
                state.metrics.webhooks.clone(),
            )
            .map_err(std::io::Error::other)?;
            Some(tokio::spawn(dispatcher.run(shutdown.clone())))
        }
        None => None,
    };
    let publisher = match &state.config.nats {
        Some(config) => {
            let publisher = paystate_stream::Publisher::new(
                state.ledger.store().clone(),
                config.clone(),
                state.metrics.stream.clone(),
                Some(state.signal.subscribe_any()),
            );
            // An incompatible stream stops the start; an unreachable NATS only delays publishing.
            publisher.check().await.map_err(std::io::Error::other)?;
            Some(tokio::spawn(publisher.run(shutdown.clone())))
        }
        None => None,
    };
    let limits = state.config.limits;
    server::run(listener, app(state), limits, shutdown).await?;
    for task in [dispatcher, publisher].into_iter().flatten() {
        let _ = task.await;
    }
    Ok(())
}
