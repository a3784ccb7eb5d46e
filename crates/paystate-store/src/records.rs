//! Records that belong to storage rather than the payment domain: keys, filters, idempotency.

use paystate_domain::{KeyId, OrderId, OrderState, PaymentId, PaymentStatus, Source, TenantId, Timestamp};
use serde::{Deserialize, Serialize};

/// What an API key may do. Each scope includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Read,
    Write,
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Read, Self::Write, Self::Admin].into_iter().find(|s| s.as_str() == text)
    }
}

/// An API key as stored: the SHA-256 of its secret, never the secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: KeyId,
    pub tenant_id: TenantId,
    pub secret_hash: [u8; 32],
    pub scope: Scope,
    /// When set, the key works only through this dialect.
    pub dialect: Option<Source>,
    pub label: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl ApiKeyRecord {
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}

/// Cursor pagination: records after `after` (an id), at most `limit`.
#[derive(Clone, Debug, Default)]
pub struct PageRequest {
    pub after: Option<String>,
    pub limit: u32,
}

#[derive(Clone, Debug, Default)]
pub struct OrderFilter {
    pub reference: Option<String>,
    pub state: Option<OrderState>,
}

#[derive(Clone, Debug, Default)]
pub struct PaymentFilter {
    pub order_id: Option<OrderId>,
    pub status: Option<PaymentStatus>,
    pub needs_review: Option<bool>,
    pub include_deleted: bool,
}

#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    /// Events with a sequence number above this one.
    pub after_seq: i64,
    pub payment_id: Option<PaymentId>,
    pub limit: u32,
}

/// An `Idempotency-Key` as a request presents it. The key is claimed, and the answer to replay
/// stored, inside the transaction that makes the request's change: after any crash the key is
/// either answered (the change committed) or free (nothing committed), never half way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub tenant_id: TenantId,
    pub key: String,
    /// A digest of method, route and body: the same key with another request is refused.
    pub fingerprint: String,
}

/// A key as stored: which request it belongs to, and the answer that request got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub fingerprint: String,
    /// `None` only for a claim an older paystate left unanswered (it claimed in a transaction
    /// of its own); a claim made today always commits with its answer.
    pub response: Option<StoredResponse>,
    pub created_at: Timestamp,
}

/// The first response to a request, replayed for every retry with the same key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub content_type: String,
    /// The headers a replay repeats (`paystate-outcome`), beside the content type.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// How a backend's in-memory payment cache is doing (SQLite's serving process keeps one), for
/// the metrics an operator sizes it by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PaymentCacheStats {
    /// Lookups of a payment by id answered from memory, since the process started.
    pub hits: u64,
    /// Lookups of a payment by id that read the database.
    pub misses: u64,
    /// Payments held now.
    pub payments: u64,
    /// What they weigh, in bytes (each its stored document plus a fixed overhead).
    pub bytes: u64,
}
