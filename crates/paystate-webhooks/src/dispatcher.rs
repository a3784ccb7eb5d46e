//! The dispatcher: claims due deliveries from the outbox, sends them, and records every attempt.
//!
//! Delivery is at least once. A dispatcher leases what it claims (longer than one attempt can
//! take), so several dispatchers on one database never send one delivery at the same time; if a
//! dispatcher dies mid-send, the lease runs out and another one sends the delivery again. Each
//! attempt, its answer and the next step are written in one transaction with the endpoint's
//! bookkeeping (its run of failures, and disabling it with an event).
//!
//! Rules: only a 2xx answer succeeds; redirects are not followed (a 3xx is a failure); an attempt
//! times out after 15 s; failures are retried after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h,
//! 20 h and 24 h (±10 % jitter, never sooner than a `Retry-After`), then the delivery fails; a 410
//! disables the endpoint, and so does an unbroken run of failures lasting five days.

use crate::metrics::{Outcome, WebhookMetrics};
use crate::sealing::SealingKey;
use crate::signing::{SigningSecret, signature_header};
use crate::ssrf::{GuardedResolver, Refused, check_host};
use futures::FutureExt;
use paystate_domain::{Actor, EventDraft, EventType, Source, Timestamp};
use paystate_store::{AttemptOutcome, AttemptRecord, ClaimedDelivery, NextStep, Store, StoreExt, StoreResult};
use reqwest::Url;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How many bytes of an answer's body the attempt log keeps.
pub const EXCERPT_BYTES: usize = 1024;

/// The dispatcher's settings. The defaults are the production rules; tests shorten them.
#[derive(Clone, Debug)]
pub struct DispatcherConfig {
    /// The delay before each attempt of a round: the first (0, at once), then after each failure.
    /// A delivery fails for good after its last entry's attempt fails.
    pub schedule: Vec<Duration>,
    /// Each retry delay is multiplied by a random factor in `1 ± jitter`.
    pub jitter: f64,
    /// One attempt's limit, from connecting to the end of the answer's headers and excerpt.
    pub timeout: Duration,
    /// How long a claim holds a delivery; longer than `timeout`, so a live dispatcher's claim
    /// never runs out mid-attempt.
    pub lease: Duration,
    /// How long an idle dispatcher waits before looking for due deliveries again.
    pub poll_interval: Duration,
    /// Deliveries claimed (and sent concurrently) at a time.
    pub batch_size: u32,
    /// An endpoint whose attempts have all failed for this long is disabled.
    pub disable_after: Duration,
    /// The longest `Retry-After` honoured.
    pub max_retry_after: Duration,
    /// How often the outbox gauges are refreshed.
    pub stats_interval: Duration,
    /// Allow loopback, private, link-local and CGNAT receivers.
    pub allow_private_networks: bool,
    /// Who holds this dispatcher's leases: a name unique to it that survives its restarts (the
    /// server of a SQLite file, an instance's stable name). A dispatcher starting takes back the
    /// leases its previous run left at once instead of waiting for them to run out. By default a
    /// new random name per process, which takes nothing back.
    pub owner: String,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        let (s, m, h) = (1, 60, 3600);
        Self {
            schedule: [0, 5 * s, 5 * m, 30 * m, 2 * h, 5 * h, 10 * h, 14 * h, 20 * h, 24 * h]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            jitter: 0.1,
            timeout: Duration::from_secs(15),
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            batch_size: 16,
            disable_after: Duration::from_secs(5 * 24 * h),
            max_retry_after: Duration::from_secs(24 * h),
            stats_interval: Duration::from_secs(15),
            allow_private_networks: false,
            owner: format!("run-{}", paystate_domain::DeliveryId::generate().as_str()),
        }
    }
}

impl DispatcherConfig {
    /// The delay before the next attempt after `failures` failed attempts of a round, or `None`
    /// when the round is over.
    pub fn delay_after(&self, failures: u32) -> Option<Duration> {
        self.schedule.get(failures as usize).map(|delay| jittered(*delay, self.jitter))
    }
}

fn jittered(delay: Duration, jitter: f64) -> Duration {
    if delay.is_zero() || jitter <= 0.0 {
        return delay;
    }
    let mut bytes = [0u8; 8];
    let unit = match getrandom::fill(&mut bytes) {
        Ok(()) => (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64,
        Err(_) => 0.5,
    };
    delay.mul_f64(1.0 - jitter + 2.0 * jitter * unit)
}

/// Reads a `Retry-After` value: seconds, or an HTTP date.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&chrono::Utc);
    (at - now).to_std().ok()
}

/// The client every attempt goes through: no redirects, no proxies, the SSRF guard as resolver,
/// a timeout, and rustls on the ring provider with the webpki roots.
pub fn http_client(config: &DispatcherConfig) -> Result<reqwest::Client, crate::WebhookError> {
    crate::install_default_crypto_provider();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| crate::WebhookError::Client(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(config.timeout)
        .connect_timeout(config.timeout)
        .dns_resolver(GuardedResolver { allow_private: config.allow_private_networks })
        .user_agent(concat!("paystate-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| crate::WebhookError::Client(e.to_string()))
}

/// What an attempt got back.
struct Answer {
    status: Option<u16>,
    retry_after: Option<Duration>,
    excerpt: Option<String>,
    error: Option<String>,
    latency: Duration,
}

/// Sends claimed deliveries; see the module documentation.
#[derive(Clone)]
pub struct Dispatcher {
    store: Arc<dyn Store>,
    sealing: SealingKey,
    client: reqwest::Client,
    config: Arc<DispatcherConfig>,
    metrics: WebhookMetrics,
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn Store>,
        sealing: SealingKey,
        config: DispatcherConfig,
        metrics: WebhookMetrics,
    ) -> Result<Self, crate::WebhookError> {
        let client = http_client(&config)?;
        Ok(Self { store, sealing, client, config: Arc::new(config), metrics })
    }

    /// Sends due deliveries until `shutdown` resolves; a batch being sent is finished first.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut stats_due = Instant::now();
        tracing::info!(
            batch = self.config.batch_size,
            allow_private_networks = self.config.allow_private_networks,
            "webhook dispatcher started"
        );
        self.take_back_leases().await;
        loop {
            if Instant::now() >= stats_due {
                self.refresh_stats().await;
                stats_due = Instant::now() + self.config.stats_interval;
            }
            let sent = match self.run_once().await {
                Ok(sent) => sent,
                Err(error) => {
                    tracing::warn!(%error, "could not claim webhook deliveries");
                    0
                }
            };
            if sent > 0 && (&mut shutdown).now_or_never().is_none() {
                continue;
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
        tracing::info!("webhook dispatcher stopped");
    }

    /// Ends the leases a previous run under the same owner left when it died, so their
    /// deliveries go out now rather than when the leases run out.
    pub async fn take_back_leases(&self) {
        let owner = self.config.owner.clone();
        match self.store.write(move |tx| async move { tx.release_leases(&owner).await }.boxed()).await {
            Ok(0) => {}
            Ok(released) => tracing::info!(released, "took back the leases of this dispatcher's previous run"),
            Err(error) => tracing::warn!(%error, "could not take back this dispatcher's leases; they run out instead"),
        }
    }

    /// Claims one batch of due deliveries, sends them concurrently and records each attempt;
    /// answers how many were claimed.
    pub async fn run_once(&self) -> StoreResult<usize> {
        let now = paystate_store::now();
        let lease_until = now + chrono::Duration::from_std(self.config.lease).unwrap_or(chrono::Duration::minutes(1));
        let (limit, owner) = (self.config.batch_size.max(1), self.config.owner.clone());
        let claimed = self
            .store
            .write(move |tx| async move { tx.claim_deliveries(now, lease_until, limit, &owner).await }.boxed())
            .await?;
        let count = claimed.len();
        futures::future::join_all(claimed.into_iter().map(|claim| self.deliver(claim))).await;
        Ok(count)
    }

    /// Refreshes the outbox gauges.
    pub async fn refresh_stats(&self) {
        match self.store.read(|r| async move { r.outbox_stats().await }.boxed()).await {
            Ok(stats) => self.metrics.outbox(stats, paystate_store::now()),
            Err(error) => tracing::warn!(%error, "could not read the webhook outbox's size"),
        }
    }

    async fn deliver(&self, claim: ClaimedDelivery) {
        let delivery_id = claim.delivery.id.clone();
        let answer = self.attempt(&claim).await;
        if let Err(error) = self.record(claim, answer).await {
            // The lease runs out and the delivery is sent again: at least once.
            tracing::warn!(delivery = %delivery_id, %error, "could not record a webhook attempt");
        }
    }

    /// One attempt: sign with every live secret and POST, without following redirects.
    async fn attempt(&self, claim: &ClaimedDelivery) -> Answer {
        let started = Instant::now();
        let failed = |error: String| Answer {
            status: None,
            retry_after: None,
            excerpt: None,
            error: Some(error),
            latency: started.elapsed(),
        };
        let (delivery, endpoint) = (&claim.delivery, &claim.endpoint);
        let now = paystate_store::now();
        let mut secrets = Vec::new();
        for sealed in endpoint.signing_secrets(now) {
            match self.sealing.open(sealed, endpoint.endpoint.id.as_str()) {
                Ok(bytes) => secrets.push(SigningSecret::from_bytes(bytes)),
                Err(error) => {
                    tracing::error!(endpoint = %endpoint.endpoint.id, "cannot open a webhook signing secret");
                    return failed(error.to_string());
                }
            }
        }
        let url = match Url::parse(&endpoint.endpoint.url) {
            Ok(url) => url,
            Err(error) => return failed(format!("invalid URL: {error}")),
        };
        if let Err(refused) = check_host(&url, self.config.allow_private_networks) {
            return failed(refused.to_string());
        }
        let timestamp = now.timestamp();
        let id = delivery.event_id.as_str();
        let signature = signature_header(&secrets, id, timestamp, delivery.payload.as_bytes());
        let sent = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(delivery.payload.clone())
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(error) => return failed(describe(&error, self.config.timeout)),
        };
        let latency = started.elapsed();
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, now))
            .map(|delay| delay.min(self.config.max_retry_after));
        let mut body = Vec::new();
        let mut error = None;
        while body.len() < EXCERPT_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(EXCERPT_BYTES - body.len())]),
                Ok(None) => break,
                Err(e) => {
                    error = Some(format!("reading the answer: {}", describe(&e, self.config.timeout)));
                    break;
                }
            }
        }
        Answer { status: Some(status), retry_after, excerpt: Some(excerpt(&body)), error, latency }
    }

    /// Records the attempt and moves the delivery and its endpoint on, in one transaction.
    async fn record(&self, claim: ClaimedDelivery, answer: Answer) -> StoreResult<()> {
        let now = paystate_store::now();
        let succeeded = answer.status.is_some_and(|s| (200..300).contains(&s));
        let gone = answer.status == Some(410);
        let next = if succeeded {
            NextStep::Succeeded
        } else if gone {
            NextStep::Failed
        } else {
            match self.config.delay_after(claim.delivery.step + 1) {
                Some(delay) => {
                    let delay = answer.retry_after.map_or(delay, |after| delay.max(after));
                    NextStep::RetryAt(now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::days(1)))
                }
                None => NextStep::Failed,
            }
        };
        let outcome = match next {
            NextStep::Succeeded => Outcome::Succeeded,
            NextStep::RetryAt(_) => Outcome::Retrying,
            NextStep::Failed => Outcome::Failed,
        };
        self.metrics.attempt(outcome, answer.latency);
        let attempt = AttemptRecord {
            delivery_id: claim.delivery.id.clone(),
            at: now,
            status_code: answer.status,
            latency_ms: u32::try_from(answer.latency.as_millis()).unwrap_or(u32::MAX),
            response_excerpt: answer.excerpt,
            error: answer.error.map(|e| clean(&e)),
        };
        let outcome = AttemptOutcome {
            tenant_id: claim.delivery.tenant_id.clone(),
            lease_token: claim.lease_token.clone(),
            attempt,
            next,
        };
        let disable_after = chrono::Duration::from_std(self.config.disable_after).unwrap_or(chrono::Duration::days(5));
        let (tenant, endpoint_id, delivery_id) =
            (claim.delivery.tenant_id.clone(), claim.endpoint.endpoint.id.clone(), claim.delivery.id.clone());
        let status = answer.status;
        let disabled = self
            .store
            .write(move |tx| {
                async move {
                    // The endpoint first: its row lock orders this job after any concurrent change.
                    let endpoint = tx.endpoint(&tenant, &endpoint_id).await?;
                    if !tx.record_attempt(&outcome).await? {
                        return Ok(None);
                    }
                    let Some(mut record) = endpoint else { return Ok(None) };
                    let before = record.clone();
                    let endpoint = &mut record.endpoint;
                    let mut reason = None;
                    if succeeded {
                        endpoint.failing_since = None;
                    } else {
                        let since = *endpoint.failing_since.get_or_insert(now);
                        if endpoint.enabled && gone {
                            reason = Some("gone");
                        } else if endpoint.enabled && now - since >= disable_after {
                            reason = Some("failing");
                        }
                    }
                    if let Some(reason) = reason {
                        endpoint.disable(reason, now);
                    }
                    if record != before {
                        tx.update_endpoint(&record).await?;
                    }
                    if let Some(reason) = reason {
                        let actor = Actor {
                            tenant_id: tenant.clone(),
                            key_id: None,
                            user_id: None,
                            source: Source::System,
                            request_id: format!("webhook-dispatcher:{delivery_id}"),
                            request_body: None,
                        };
                        let detail = serde_json::json!({
                            "reason": reason,
                            "status_code": status,
                            "delivery_id": delivery_id,
                            "failing_since": record.endpoint.failing_since,
                        });
                        tx.record(
                            &actor,
                            EventDraft::endpoint(EventType::WebhookEndpointDisabled, &record.endpoint, detail),
                        );
                    }
                    Ok(reason)
                }
                .boxed()
            })
            .await?;
        if let Some(reason) = disabled {
            self.metrics.endpoint_disabled();
            tracing::warn!(endpoint = %claim.endpoint.endpoint.id, reason, "disabled a webhook endpoint");
        }
        Ok(())
    }
}

/// A failed request in words, without the URL (it may carry a token of the receiver's).
fn describe(error: &reqwest::Error, timeout: Duration) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(refused) = current.downcast_ref::<Refused>() {
            return refused.to_string();
        }
        source = current.source();
    }
    if error.is_timeout() {
        return format!("timed out after {timeout:?}");
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(current) = source {
        text.push_str(": ");
        text.push_str(&current.to_string());
        source = current.source();
    }
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "the endpoint");
    }
    text
}

/// The first bytes of an answer as text, with NUL characters (which PostgreSQL cannot store)
/// replaced.
fn excerpt(body: &[u8]) -> String {
    clean(&String::from_utf8_lossy(body))
}

fn clean(text: &str) -> String {
    text.replace('\0', "\u{fffd}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_is_the_documented_one() {
        let config = DispatcherConfig::default();
        let hours = |h: u64| Duration::from_secs(h * 3600);
        assert_eq!(
            config.schedule,
            [
                Duration::ZERO,
                Duration::from_secs(5),
                Duration::from_secs(300),
                Duration::from_secs(1800),
                hours(2),
                hours(5),
                hours(10),
                hours(14),
                hours(20),
                hours(24)
            ]
        );
        assert_eq!(config.timeout, Duration::from_secs(15));
        assert!(config.lease > config.timeout);
        assert_eq!(config.disable_after, hours(120));
        for failures in 1..10 {
            let base = config.schedule[failures as usize].as_secs_f64();
            let delay = config.delay_after(failures).unwrap().as_secs_f64();
            assert!((base * 0.9..=base * 1.1).contains(&delay), "{failures}: {delay} vs {base}");
        }
        assert_eq!(config.delay_after(10), None, "the tenth failure ends the round");
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date() {
        let now = chrono::DateTime::parse_from_rfc3339("2025-10-21T07:28:00Z").unwrap().with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Tue, 21 Oct 2025 07:30:00 GMT", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Tue, 21 Oct 2025 07:00:00 GMT", now), None, "in the past");
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn excerpts_are_storable_text() {
        assert_eq!(excerpt(b"ok\0\xff"), "ok\u{fffd}\u{fffd}");
    }
}
