//! Records of the operator console: its users, their sessions, and the figures its overview
//! counts. The store keeps rows only; roles, expiry and throttling are the ledger's rules.

use paystate_domain::{EventType, PaymentStatus, Role, Source, TenantId, Timestamp, UserId};

/// A console user as stored: an argon2id hash (PHC string), never the password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    pub id: UserId,
    pub tenant_id: TenantId,
    /// Lowercased; unique per tenant.
    pub email: String,
    pub role: Role,
    pub password_hash: String,
    pub disabled_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A console session as stored: the SHA-256 of its token, never the token (the cookie holds it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub token_hash: [u8; 32],
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// How many live (not deleted) payments of a tenant have one status and review flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusCount {
    pub status: PaymentStatus,
    pub needs_review: bool,
    pub count: i64,
}

/// How many events of one type came through one source since a time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventCount {
    pub source: Source,
    pub kind: EventType,
    pub count: i64,
}

/// The console's payment list filters. Ids sort by creation time (UUIDv7), so a creation range
/// is an id range (both bounds exclusive) that the tenant's id index serves.
#[derive(Clone, Debug, Default)]
pub struct PaymentSearch {
    pub status: Option<PaymentStatus>,
    pub needs_review: Option<bool>,
    /// An ISO 4217 code.
    pub currency: Option<String>,
    /// The source that created the payment.
    pub created_via: Option<Source>,
    pub id_after: Option<String>,
    pub id_before: Option<String>,
}
