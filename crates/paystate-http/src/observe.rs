//! Request ids, the access log and Prometheus metrics.
//!
//! Every response carries `x-request-id` (the caller's, when it is a sane token, else a new
//! UUIDv7). The access log and metric labels name the route template (`/payment/update-order/{secretKey}`),
//! never the raw path, because some dialects carry secrets in the path.

use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use paystate_domain::{Outcome, PaymentStatus, Source};
use paystate_store::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// The id of the request being served, for handlers, events and error bodies.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransitionLabels {
    source: String,
    outcome: String,
    status: String,
}

/// The Prometheus registry and the metrics paystate keeps.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    transitions: Family<TransitionLabels, Counter>,
    /// The webhook dispatcher's metrics (updated by a dispatcher running inside `serve`).
    pub webhooks: paystate_webhooks::WebhookMetrics,
    /// The NATS JetStream publisher's metrics (updated by a publisher running in this process).
    pub stream: paystate_stream::StreamMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("paystate");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        let transitions = Family::<TransitionLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by route template, method and status", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency by route template", latency.clone());
        registry.register(
            "payment_reports",
            "Payment status reports by source dialect, outcome (applied, unchanged, stale, conflict) and resulting status",
            transitions.clone(),
        );
        let webhooks = paystate_webhooks::WebhookMetrics::default();
        webhooks.register(&mut registry);
        let stream = paystate_stream::StreamMetrics::default();
        stream.register(&mut registry);
        Metrics { registry, requests, latency, transitions, webhooks, stream }
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

impl Metrics {
    /// The metrics of a server on `store`, with the store's own figures read at each scrape.
    pub fn for_store(store: Arc<dyn Store>) -> Self {
        let mut metrics = Self::default();
        metrics.registry.register_collector(Box::new(StoreFigures(store)));
        metrics
    }

    /// Counts one status report through the status machine.
    pub fn report(&self, source: Source, outcome: Outcome, status: PaymentStatus) {
        let outcome = match outcome {
            Outcome::Applied => "applied",
            Outcome::Unchanged => "unchanged",
            Outcome::Stale => "stale",
            Outcome::Conflict { .. } => "conflict",
        };
        let labels =
            TransitionLabels { source: source.to_string(), outcome: outcome.into(), status: status.to_string() };
        self.transitions.get_or_create(&labels).inc();
    }

    /// The registry in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            tracing::error!("could not encode metrics");
        }
        text
    }
}

/// The store's payment cache figures, when it keeps a cache.
struct StoreFigures(Arc<dyn Store>);

impl std::fmt::Debug for StoreFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StoreFigures").field(&self.0.backend()).finish()
    }
}

impl Collector for StoreFigures {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(cache) = self.0.payment_cache() else { return Ok(()) };
        let counters = [
            ("payment_cache_hits", "Reads of one payment answered from the payment cache", cache.hits),
            ("payment_cache_misses", "Reads of one payment that went to the database", cache.misses),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)?;
        }
        let gauges = [
            ("payment_cache_payments", "Payments in the payment cache", cache.payments),
            ("payment_cache_bytes", "What the payments in the payment cache weigh", cache.bytes),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

fn valid_request_id(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let sane =
        (1..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    sane.then(|| text.to_owned())
}

/// Assigns the request id, logs the request by route template and records its metrics.
pub async fn observe(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(valid_request_id)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let method = request.method().as_str().to_owned();
    request.extensions_mut().insert(RequestId(request_id.clone()));
    // The console (a crate of its own, without this type) reads the id from the header.
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        request.headers_mut().insert("x-request-id", value);
    }
    let span = tracing::info_span!("request", request_id = %request_id, method = %method, route = %route);
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    span.in_scope(|| tracing::info!(status, latency_ms = elapsed.as_secs_f64() * 1000.0, "served"));
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    let metrics = &state.metrics;
    metrics.requests.get_or_create(&RequestLabels { route: route.clone(), method: method.clone(), status }).inc();
    metrics.latency.get_or_create(&RouteLabels { route, method }).observe(elapsed.as_secs_f64());
    response
}
