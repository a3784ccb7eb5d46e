//! The dispatcher's Prometheus metrics: attempts by outcome, attempt latency, and the outbox's
//! backlog and the age of its oldest pending delivery (gauges the dispatcher refreshes).

use paystate_store::OutboxStats;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// How an attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer.
    Succeeded,
    /// Failed; another attempt is scheduled.
    Retrying,
    /// Failed with no attempt left (schedule exhausted, or 410).
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Retrying => "retrying",
            Self::Failed => "failed",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

/// Cheap to clone: every clone updates the same metrics.
#[derive(Clone, Debug)]
pub struct WebhookMetrics {
    attempts: Family<OutcomeLabels, Counter>,
    disabled: Counter,
    latency: Histogram,
    pending: Gauge,
    oldest_age: Gauge<f64, AtomicU64>,
}

impl Default for WebhookMetrics {
    fn default() -> Self {
        Self {
            attempts: Family::default(),
            disabled: Counter::default(),
            latency: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            pending: Gauge::default(),
            oldest_age: Gauge::default(),
        }
    }
}

impl WebhookMetrics {
    /// Adds the metrics to a registry (paystate's, prefixed `paystate_`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register("webhook_deliveries", "Webhook delivery attempts by outcome", self.attempts.clone());
        registry.register(
            "webhook_endpoints_disabled",
            "Webhook endpoints the dispatcher disabled (410, or failing for days)",
            self.disabled.clone(),
        );
        registry.register(
            "webhook_attempt_duration_seconds",
            "Webhook attempt latency, until the answer's headers or the failure",
            self.latency.clone(),
        );
        registry.register(
            "webhook_outbox_pending",
            "Pending webhook deliveries of enabled endpoints",
            self.pending.clone(),
        );
        registry.register(
            "webhook_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending webhook delivery (0 when none)",
            self.oldest_age.clone(),
        );
    }

    pub fn attempt(&self, outcome: Outcome, latency: Duration) {
        self.attempts.get_or_create(&OutcomeLabels { outcome: outcome.as_str().into() }).inc();
        self.latency.observe(latency.as_secs_f64());
    }

    pub fn endpoint_disabled(&self) {
        self.disabled.inc();
    }

    pub fn outbox(&self, stats: OutboxStats, now: paystate_domain::Timestamp) {
        self.pending.set(i64::try_from(stats.pending).unwrap_or(i64::MAX));
        let age = stats.oldest_pending_at.map_or(0.0, |at| (now - at).as_seconds_f64().max(0.0));
        self.oldest_age.set(age);
    }
}
