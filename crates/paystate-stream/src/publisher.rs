//! The publisher: hands every event to NATS JetStream, per tenant in `seq` order, at least once
//! (exactly once in the stream within its duplicate window).
//!
//! It claims tenants that have events after their cursor (a lease, so that instances sharing a
//! database never publish one tenant at once), reads the events after the cursor, publishes them
//! one after the other, each only once JetStream acknowledged the one before, and moves the
//! cursor after each acknowledged page. Publishing one event at a time per tenant (tenants run
//! concurrently) is what keeps the order strict: a client that lost its connection re-sends
//! what it had queued, and with a single event in flight that can only be the event being
//! retried. Each message carries `Nats-Msg-Id` = the event id, so JetStream drops the copies a
//! retry or a publisher that died before moving its cursor sends again.
//!
//! A failed publish releases the tenant and backs off (doubling up to a ceiling); events wait in
//! the table meanwhile, so nothing is lost while NATS is down and publishing catches up when it
//! returns.

use crate::metrics::StreamMetrics;
use crate::nats::{self, NatsError};
use async_nats::jetstream;
use futures::FutureExt;
use paystate_domain::StoredEvent;
use paystate_store::{EventFilter, Store, StoreExt, StoreResult, StreamClaim};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The publisher's settings. The defaults are production's; tests shorten them.
#[derive(Clone, Debug)]
pub struct PublisherConfig {
    /// `nats://host:port` (several comma-separated servers are allowed).
    pub url: String,
    /// The JetStream stream, created when missing.
    pub stream: String,
    /// The first token(s) of every subject (`<prefix>.<tenant id>.<event type>`).
    pub subject_prefix: String,
    /// How long a claim holds a tenant; each acknowledged page extends it.
    pub lease: Duration,
    /// How long an idle publisher waits before looking for events again (without a wake-up
    /// from a commit of this process).
    pub poll_interval: Duration,
    /// Events read and published per page.
    pub page: u32,
    /// Tenants published concurrently.
    pub tenants_at_once: u32,
    /// NATS connection and acknowledgement timeout.
    pub timeout: Duration,
    /// The first wait after a failure; doubled after each failure in a row, up to `max_backoff`.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// How often the backlog gauges are refreshed.
    pub stats_interval: Duration,
}

impl PublisherConfig {
    pub fn new(url: impl Into<String>, stream: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            stream: stream.into(),
            subject_prefix: nats::DEFAULT_SUBJECT_PREFIX.to_owned(),
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            page: 256,
            tenants_at_once: 16,
            timeout: Duration::from_secs(5),
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            stats_interval: Duration::from_secs(5),
        }
    }

    /// The cursors' sink name: one cursor per stream, so a new stream receives every event.
    pub fn sink(&self) -> String {
        format!("nats:{}", self.stream)
    }
}

/// The default stream name.
pub const DEFAULT_STREAM: &str = "PAYSTATE";

/// A running publisher's inputs.
pub struct Publisher {
    store: Arc<dyn Store>,
    config: PublisherConfig,
    metrics: StreamMetrics,
    /// Changes when this process commits for any tenant; `None` in a process that writes no
    /// events itself (`paystate worker`), which polls.
    wake: Option<watch::Receiver<()>>,
}

/// How a tenant's turn ended.
enum Turn {
    /// Published what there was (or lost the lease to another publisher).
    Done,
    /// A publish or a store call failed: back off.
    Failed,
}

impl Publisher {
    pub fn new(
        store: Arc<dyn Store>,
        config: PublisherConfig,
        metrics: StreamMetrics,
        wake: Option<watch::Receiver<()>>,
    ) -> Self {
        Self { store, config, metrics, wake }
    }

    /// Connects and checks (or creates) the stream once: an incompatible stream is an error for
    /// the caller to refuse to start with; an unreachable NATS is not (the publisher keeps
    /// trying), so it answers `Ok(false)` then.
    pub async fn check(&self) -> Result<bool, NatsError> {
        nats::check_prefix(&self.config.subject_prefix)?;
        let checked = match nats::connect(&self.config.url, self.config.timeout).await {
            Ok(context) => nats::ensure_stream(&context, &self.config.stream, &self.config.subject_prefix).await,
            Err(error) => Err(error),
        };
        match checked {
            Ok(()) => Ok(true),
            Err(NatsError::Unreachable(reason)) => {
                tracing::warn!(%reason, url = %self.config.url, "NATS is unreachable; events wait until it answers");
                Ok(false)
            }
            Err(error) => Err(error),
        }
    }

    /// Publishes until `shutdown` resolves; finishes the page in flight first.
    pub async fn run(mut self, shutdown: impl Future<Output = ()> + Send) {
        let shutdown = shutdown.shared();
        let stats = tokio::spawn(refresh_backlog(
            self.store.clone(),
            self.config.sink(),
            self.metrics.clone(),
            self.config.stats_interval,
        ));
        let mut failures = 0u32;
        // One client for the publisher's life: it reconnects by itself, and re-sends what it had
        // queued only to the connection it reconnects (see the module's notes on order).
        let mut context = None;
        let mut stream_ready = false;
        loop {
            if shutdown.clone().now_or_never().is_some() {
                break;
            }
            if context.is_none() {
                match nats::connect(&self.config.url, self.config.timeout).await {
                    Ok(js) => context = Some(js),
                    Err(error) => tracing::warn!(%error, "cannot publish events to NATS yet"),
                }
            }
            let outcome = match &context {
                Some(js) if !stream_ready => {
                    match nats::ensure_stream(js, &self.config.stream, &self.config.subject_prefix).await {
                        Ok(()) => {
                            stream_ready = true;
                            Ok(1)
                        }
                        Err(error) => {
                            tracing::warn!(%error, "cannot publish events to NATS yet");
                            Err(())
                        }
                    }
                }
                Some(js) => self.round(js).await,
                None => Err(()),
            };
            if outcome.is_err() {
                // Checked again before the next round: the stream may have been deleted.
                stream_ready = false;
            }
            let wait = match outcome {
                Ok(0) => {
                    failures = 0;
                    self.config.poll_interval
                }
                Ok(_) => {
                    failures = 0;
                    continue;
                }
                Err(()) => {
                    self.metrics.failed();
                    failures = failures.saturating_add(1);
                    backoff(&self.config, failures)
                }
            };
            let wake = async {
                match &mut self.wake {
                    Some(wake) if failures == 0 => {
                        let _ = wake.changed().await;
                    }
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.clone() => break,
                _ = tokio::time::sleep(wait) => {}
                _ = wake => {}
            }
        }
        stats.abort();
    }

    /// Claims owed tenants and publishes them concurrently; answers how many were claimed, or
    /// `Err` when any of them failed.
    async fn round(&mut self, js: &jetstream::Context) -> Result<usize, ()> {
        if let Some(wake) = &mut self.wake {
            // Marked seen before claiming, so a commit during the round wakes the next wait.
            wake.borrow_and_update();
        }
        let (sink, now) = (self.config.sink(), paystate_store::now());
        let lease_until = now + self.config.lease;
        let limit = self.config.tenants_at_once;
        let claims = self
            .store
            .write(move |tx| async move { tx.claim_stream_tenants(&sink, now, lease_until, limit).await }.boxed())
            .await
            .map_err(|error| tracing::warn!(%error, "cannot claim tenants to publish"))?;
        let count = claims.len();
        let turns = futures::future::join_all(claims.into_iter().map(|claim| self.publish_tenant(js, claim))).await;
        if turns.iter().any(|turn| matches!(turn, Turn::Failed)) { Err(()) } else { Ok(count) }
    }

    /// Publishes one claimed tenant's events until none is left, then releases it.
    async fn publish_tenant(&self, js: &jetstream::Context, claim: StreamClaim) -> Turn {
        let mut acked = claim.acked_seq;
        let turn = loop {
            let events = match self.events_after(&claim, acked).await {
                Ok(events) if events.is_empty() => break Turn::Done,
                Ok(events) => events,
                Err(error) => {
                    tracing::warn!(%error, tenant = %claim.tenant_id, "cannot read events to publish");
                    break Turn::Failed;
                }
            };
            let mut failed = false;
            let before = acked;
            for event in &events {
                match publish(js, &self.config, &claim, event).await {
                    Ok(duplicate) => {
                        self.metrics.published(duplicate);
                        acked = event.seq;
                    }
                    Err(error) => {
                        tracing::warn!(%error, tenant = %claim.tenant_id, seq = event.seq, "publishing to NATS failed");
                        failed = true;
                        break;
                    }
                }
            }
            if acked > before {
                match self.advance(&claim, acked).await {
                    Ok(true) => {}
                    // Another publisher holds the tenant now (this lease ran out): it goes on
                    // from the cursor, and JetStream drops what both sent.
                    Ok(false) => return Turn::Done,
                    Err(error) => {
                        tracing::warn!(%error, tenant = %claim.tenant_id, "cannot move the stream cursor");
                        break Turn::Failed;
                    }
                }
            }
            if failed {
                break Turn::Failed;
            }
        };
        let (sink, tenant, token) = (self.config.sink(), claim.tenant_id.clone(), claim.lease_token.clone());
        let released = self
            .store
            .write(move |tx| async move { tx.release_stream_cursor(&sink, &tenant, &token).await }.boxed())
            .await;
        if let Err(error) = released {
            // The lease runs out by itself.
            tracing::warn!(%error, "cannot release a stream cursor");
        }
        turn
    }

    async fn events_after(&self, claim: &StreamClaim, after: i64) -> StoreResult<Vec<StoredEvent>> {
        let tenant = claim.tenant_id.clone();
        let filter = EventFilter { after_seq: after, payment_id: None, limit: self.config.page };
        self.store.read(move |r| async move { r.events(&tenant, &filter).await }.boxed()).await
    }

    async fn advance(&self, claim: &StreamClaim, acked: i64) -> StoreResult<bool> {
        let (sink, tenant, token) = (self.config.sink(), claim.tenant_id.clone(), claim.lease_token.clone());
        let lease_until = paystate_store::now() + self.config.lease;
        self.store
            .write(move |tx| {
                async move { tx.advance_stream_cursor(&sink, &tenant, &token, acked, lease_until).await }.boxed()
            })
            .await
    }
}

/// Publishes one event and waits for JetStream's acknowledgement; answers whether JetStream had
/// it already (a duplicate it dropped).
async fn publish(
    js: &jetstream::Context,
    config: &PublisherConfig,
    claim: &StreamClaim,
    event: &StoredEvent,
) -> Result<bool, String> {
    let payload = serde_json::to_vec(event).map_err(|e| e.to_string())?;
    let message = jetstream::message::PublishMessage::build()
        .payload(payload.into())
        .message_id(event.id.as_str())
        .header("Paystate-Seq", event.seq.to_string().as_str());
    let subject = nats::subject(&config.subject_prefix, event, claim.tenant_id.as_str());
    // Bounded: while NATS is down the client's queue fills and sending waits.
    let sent = tokio::time::timeout(config.timeout, js.send_publish(subject, message))
        .await
        .map_err(|_| "timed out queueing the publish".to_owned())?
        .map_err(|e| e.to_string())?;
    let ack = sent.await.map_err(|e| e.to_string())?;
    Ok(ack.duplicate)
}

fn backoff(config: &PublisherConfig, failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
    config.min_backoff.saturating_mul(factor).min(config.max_backoff)
}

/// Refreshes the backlog gauges until aborted.
async fn refresh_backlog(store: Arc<dyn Store>, sink: String, metrics: StreamMetrics, every: Duration) {
    loop {
        let sink = sink.clone();
        match store.read(move |r| async move { r.stream_backlog(&sink).await }.boxed()).await {
            Ok(backlog) => metrics.backlog(backlog, paystate_store::now()),
            Err(error) => tracing::warn!(%error, "cannot measure the event stream's backlog"),
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_ceiling() {
        let config = PublisherConfig::new("nats://127.0.0.1:4222", DEFAULT_STREAM);
        let waits: Vec<u128> = (1..=10).map(|n| backoff(&config, n).as_millis()).collect();
        assert_eq!(waits, [200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000]);
        assert_eq!(backoff(&config, u32::MAX), config.max_backoff);
    }
}
