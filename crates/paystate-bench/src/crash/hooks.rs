//! The webhook receiver of the crash test: an axum server on loopback that checks each message's
//! Standard Webhooks signature with its own HMAC (not paystate's signing code, so that a bug there
//! cannot hide itself) and counts deliveries per `webhook-id`.

use anyhow::Result;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Standard Webhooks' tolerance for a signature's timestamp.
const TOLERANCE_SECONDS: i64 = 300;

#[derive(Default)]
pub struct Deliveries {
    /// Each tenant's signing key (the decoded bytes of its `whsec_…`), set once its endpoint exists.
    secrets: Mutex<Vec<Option<Vec<u8>>>>,
    /// Validly signed deliveries per `webhook-id` (the event id).
    valid: Mutex<HashMap<String, u32>>,
    pub invalid: AtomicU64,
    pub received: AtomicU64,
}

impl Deliveries {
    pub fn set_secret(&self, tenant: usize, secret: &str) -> Result<()> {
        let bytes = STANDARD.decode(secret.strip_prefix("whsec_").unwrap_or(secret))?;
        let mut secrets = self.secrets.lock().expect("secrets");
        if secrets.len() <= tenant {
            secrets.resize(tenant + 1, None);
        }
        secrets[tenant] = Some(bytes);
        Ok(())
    }

    /// How many valid deliveries each event id got so far.
    pub fn counts(&self) -> HashMap<String, u32> {
        self.valid.lock().expect("deliveries").clone()
    }

    /// How many of `ids` have been delivered validly at least once.
    pub fn delivered<'a>(&self, ids: impl IntoIterator<Item = &'a String>) -> usize {
        let valid = self.valid.lock().expect("deliveries");
        ids.into_iter().filter(|id| valid.contains_key(*id)).count()
    }

    fn verify(&self, tenant: usize, headers: &HeaderMap, body: &[u8]) -> Option<String> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let (id, timestamp, signatures) =
            (header("webhook-id")?, header("webhook-timestamp")?, header("webhook-signature")?);
        let seconds: i64 = timestamp.parse().ok()?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64;
        if (now - seconds).abs() > TOLERANCE_SECONDS {
            return None;
        }
        let key = self.secrets.lock().expect("secrets").get(tenant).cloned().flatten()?;
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).ok()?;
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        let expected = STANDARD.encode(mac.finalize().into_bytes());
        let matches = signatures.split(' ').filter_map(|s| s.strip_prefix("v1,")).any(|s| s == expected);
        matches.then(|| id.to_owned())
    }
}

/// Starts the receiver on a free loopback port: its port, and the task to abort at the end.
pub async fn start(deliveries: Arc<Deliveries>) -> Result<(u16, tokio::task::JoinHandle<()>)> {
    async fn receive(
        State(deliveries): State<Arc<Deliveries>>,
        Path(tenant): Path<usize>,
        headers: HeaderMap,
        body: Bytes,
    ) -> StatusCode {
        deliveries.received.fetch_add(1, Ordering::Relaxed);
        // An endpoint subscribed to every event receives its own `webhook_endpoint.created`,
        // which can arrive before the harness has read the secret from the creation's answer:
        // not yet verifiable, so refused (paystate sends it again), not counted as invalid.
        if deliveries.secrets.lock().expect("secrets").get(tenant).cloned().flatten().is_none() {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        match deliveries.verify(tenant, &headers, &body) {
            Some(id) => *deliveries.valid.lock().expect("deliveries").entry(id).or_default() += 1,
            // Counted, and answered 2xx all the same: a refusal would only make paystate resend it.
            None => {
                deliveries.invalid.fetch_add(1, Ordering::Relaxed);
            }
        }
        StatusCode::NO_CONTENT
    }
    let app = axum::Router::new().route("/hook/{tenant}", axum::routing::post(receive)).with_state(deliveries);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((port, task))
}
