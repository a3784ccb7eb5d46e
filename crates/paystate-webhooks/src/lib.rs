//! paystate's outgoing webhooks.
//!
//! Subscribers learn about every change as reliably as the change itself: the store writes one
//! delivery per subscribed endpoint in the transaction that records the event (the outbox, see
//! `paystate_store`), and the [`Dispatcher`] sends them, signed per Standard Webhooks, retried on
//! a schedule, with every attempt logged. [`Webhooks`] manages endpoints, secrets and deliveries
//! for the native API and the CLI. Secrets are sealed at rest ([`sealing`]), and receivers on
//! private networks are refused unless allowed ([`ssrf`]).

pub mod dispatcher;
pub mod metrics;
pub mod sealing;
pub mod service;
pub mod signing;
pub mod ssrf;

pub use dispatcher::{Dispatcher, DispatcherConfig};
pub use metrics::WebhookMetrics;
pub use sealing::{SealingError, SealingKey};
pub use service::{Delivery, EndpointPatch, IssuedSecret, NewEndpoint, Webhooks};
pub use signing::SigningSecret;

use paystate_domain::DomainError;
use paystate_store::StoreError;

/// Why a webhook operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The endpoint URL is not acceptable (scheme, credentials, or a refused host).
    #[error("url {0}")]
    InvalidUrl(ssrf::InvalidUrl),
    #[error(transparent)]
    Sealing(#[from] SealingError),
    /// The HTTP client could not be built.
    #[error("cannot build the webhook HTTP client: {0}")]
    Client(String),
}

impl From<ssrf::InvalidUrl> for WebhookError {
    fn from(invalid: ssrf::InvalidUrl) -> Self {
        Self::InvalidUrl(invalid)
    }
}

impl From<DomainError> for WebhookError {
    fn from(error: DomainError) -> Self {
        Self::Store(StoreError::Domain(error))
    }
}

pub type WebhookResult<T> = Result<T, WebhookError>;

/// Makes rustls's ring provider the process default, once. reqwest is built without a provider
/// of its own (see the workspace manifest), so any `reqwest::Client` built with its defaults
/// (rather than the webhook client, which brings its provider along) needs this first. Call it
/// at start-up; later calls do nothing.
pub fn install_default_crypto_provider() {
    // An error only says that a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
