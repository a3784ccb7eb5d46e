//! Webhook records: endpoints with their sealed secrets, and the outbox of deliveries with the
//! log of their attempts.
//!
//! The outbox is transactional: each backend's event flush, right before COMMIT, writes the
//! deliveries [`crate::outbox::fan_out`] decides (one per enabled endpoint of the tenant
//! subscribed to the event's type), so a delivery exists exactly when its event does.
//! Dispatchers claim due deliveries with a lease (several may share one database) and record
//! every attempt.

use paystate_domain::{DeliveryId, EndpointId, EventId, TenantId, Timestamp, WebhookEndpoint};
use serde::{Deserialize, Serialize};

/// A webhook endpoint as stored: the subscriber's view and its signing secrets, sealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointRecord {
    pub endpoint: WebhookEndpoint,
    /// The current signing secret, sealed (encrypted) with the instance's sealing key.
    pub secret: Vec<u8>,
    /// The secret before the last rotation, still signing until `previous_expires_at`.
    pub previous_secret: Option<Vec<u8>>,
    pub previous_expires_at: Option<Timestamp>,
}

impl EndpointRecord {
    /// The sealed secrets that sign at `now`: the current one, then the previous one while its
    /// grace period lasts.
    pub fn signing_secrets(&self, now: Timestamp) -> Vec<&[u8]> {
        let mut secrets = vec![self.secret.as_slice()];
        if let (Some(previous), Some(until)) = (&self.previous_secret, self.previous_expires_at)
            && until > now
        {
            secrets.push(previous.as_slice());
        }
        secrets
    }
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its next attempt (`next_attempt_at`); a claimed one is being sent.
    Pending,
    /// A 2xx answer was received.
    Succeeded,
    /// No more attempts: the schedule ran out, or the endpoint answered 410.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Succeeded, Self::Failed].into_iter().find(|s| s.as_str() == text)
    }
}

/// One delivery: an event (or a test message) bound for one endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: DeliveryId,
    pub tenant_id: TenantId,
    pub endpoint_id: EndpointId,
    /// The event's id, sent as `webhook-id`: the same for every attempt.
    pub event_id: EventId,
    pub event_type: String,
    /// The JSON body, fixed when the delivery is written so every attempt sends the same bytes.
    pub payload: String,
    pub state: DeliveryState,
    /// Attempts made so far, all rounds together.
    pub attempts: u32,
    /// Failed attempts of the current round: the position in the retry schedule. A manual retry
    /// starts a new round.
    pub step: u32,
    /// When the next attempt is due (pending deliveries only).
    pub next_attempt_at: Option<Timestamp>,
    pub last_attempt_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One attempt to send a delivery, as its log shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    pub delivery_id: DeliveryId,
    pub at: Timestamp,
    /// The HTTP status, when an answer came.
    pub status_code: Option<u16>,
    pub latency_ms: u32,
    /// The first bytes of the answer's body.
    pub response_excerpt: Option<String>,
    /// Why the attempt failed without an answer (connection refused, timeout, SSRF guard…), or
    /// what was wrong with the answer.
    pub error: Option<String>,
}

/// Which deliveries a list shows; at least one of endpoint and event is usually given.
#[derive(Clone, Debug, Default)]
pub struct DeliveryFilter {
    pub endpoint_id: Option<EndpointId>,
    pub event_id: Option<EventId>,
    pub state: Option<DeliveryState>,
}

/// A delivery a dispatcher holds for one lease, with everything needed to send it.
#[derive(Clone, Debug)]
pub struct ClaimedDelivery {
    pub delivery: DeliveryRecord,
    pub endpoint: EndpointRecord,
    /// Proves the claim when the attempt is recorded; a delivery claimed again after the lease
    /// ran out has another token.
    pub lease_token: String,
}

/// What happens to a delivery after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextStep {
    Succeeded,
    /// Try again at this time (the schedule, or a later `Retry-After`).
    RetryAt(Timestamp),
    /// No more attempts.
    Failed,
}

/// An attempt and its consequence, recorded in one write.
#[derive(Clone, Debug)]
pub struct AttemptOutcome {
    pub tenant_id: TenantId,
    pub lease_token: String,
    pub attempt: AttemptRecord,
    pub next: NextStep,
}

/// The outbox's size, for the dispatcher's gauges: pending deliveries of enabled endpoints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxStats {
    pub pending: u64,
    pub oldest_pending_at: Option<Timestamp>,
}

/// The body of a webhook, as the outbox's fan-out writes it into every delivery of an event: Standard Webhooks'
/// `{type, timestamp, data}`, where `data` is the record after the change plus the event's `seq`
/// (receivers drop a snapshot older than one they have).
pub fn event_payload(event_type: &str, seq: i64, created_at: &Timestamp, data: &serde_json::Value) -> String {
    let mut data = data.clone();
    if let serde_json::Value::Object(fields) = &mut data {
        fields.insert("seq".into(), seq.into());
    }
    serde_json::json!({
        "type": event_type,
        "timestamp": created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "data": data,
    })
    .to_string()
}

/// A delivery of a freshly written event, due at once.
pub fn new_delivery(
    endpoint: &WebhookEndpoint,
    event_id: &EventId,
    event_type: &str,
    payload: String,
    now: Timestamp,
) -> DeliveryRecord {
    DeliveryRecord {
        id: DeliveryId::generate(),
        tenant_id: endpoint.tenant_id.clone(),
        endpoint_id: endpoint.id.clone(),
        event_id: event_id.clone(),
        event_type: event_type.to_owned(),
        payload,
        state: DeliveryState::Pending,
        attempts: 0,
        step: 0,
        next_attempt_at: Some(now),
        last_attempt_at: None,
        created_at: now,
        updated_at: now,
    }
}

/// A fresh lease token of `owner`: unique per claim (it need not be secret).
pub fn new_lease_token(owner: &str) -> String {
    format!("{owner}.{}", &DeliveryId::generate().as_str()[DeliveryId::PREFIX.len()..])
}

/// The `LIKE` pattern of every lease token of `owner` (its `%` and `_` escaped with `\`).
pub fn lease_pattern(owner: &str) -> String {
    let escaped = owner.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("{escaped}.%")
}
