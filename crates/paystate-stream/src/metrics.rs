//! The publisher's Prometheus metrics: events acknowledged by JetStream (and how many of them it
//! dropped as duplicates), failed publishes, and the backlog's size and age (gauges the publisher
//! refreshes).

use paystate_store::StreamBacklog;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Cheap to clone: every clone updates the same metrics.
#[derive(Clone, Debug, Default)]
pub struct StreamMetrics {
    published: Counter,
    duplicates: Counter,
    failures: Counter,
    pending: Gauge,
    lag: Gauge<f64, AtomicU64>,
}

impl StreamMetrics {
    /// Adds the metrics to a registry (paystate's, prefixed `paystate_`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "stream_published",
            "Events NATS JetStream acknowledged (duplicates it dropped included)",
            self.published.clone(),
        );
        registry.register(
            "stream_duplicates",
            "Acknowledged events JetStream had already stored (dropped by Nats-Msg-Id)",
            self.duplicates.clone(),
        );
        registry.register(
            "stream_publish_failures",
            "Publishes to NATS JetStream that failed (retried with backoff)",
            self.failures.clone(),
        );
        registry.register(
            "stream_pending_events",
            "Events not yet acknowledged by NATS JetStream",
            self.pending.clone(),
        );
        registry.register(
            "stream_lag_seconds",
            "Age of the oldest event not yet acknowledged by NATS JetStream (0 when none)",
            self.lag.clone(),
        );
    }

    pub fn published(&self, duplicate: bool) {
        self.published.inc();
        if duplicate {
            self.duplicates.inc();
        }
    }

    pub fn failed(&self) {
        self.failures.inc();
    }

    pub fn backlog(&self, backlog: StreamBacklog, now: paystate_domain::Timestamp) {
        self.pending.set(i64::try_from(backlog.pending).unwrap_or(i64::MAX));
        let age = backlog.oldest_pending_at.map_or(0.0, |at| (now - at).as_seconds_f64().max(0.0));
        self.lag.set(age);
    }

    /// Events acknowledged so far (for tests and the benchmark).
    pub fn published_total(&self) -> u64 {
        self.published.get()
    }

    /// Acknowledged events JetStream had already stored.
    pub fn duplicates_total(&self) -> u64 {
        self.duplicates.get()
    }

    /// Failed publishes so far.
    pub fn failures_total(&self) -> u64 {
        self.failures.get()
    }
}
