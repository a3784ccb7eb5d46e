//! Rows as this store holds them, and their decoding: the column lists and row types of the
//! tables whose columns are read one by one (keys, events, webhook endpoints, deliveries and
//! attempts), and the values written as PostgreSQL stores them (times to the microsecond,
//! counters as INTEGER). Records without such columns are JSONB documents, read with `Json`.

use chrono::SubsecRound;
use paystate_domain::{
    DeliveryId, EndpointId, EventId, EventSelection, KeyId, OrderId, PaymentId, Source, StoredEvent, TenantId,
    Timestamp, WebhookEndpoint,
};
use paystate_store::{
    ApiKeyRecord, AttemptRecord, DeliveryRecord, DeliveryState, EndpointRecord, Scope, StoreError, StoreResult,
};
use sqlx::types::Json;

/// The columns of `api_keys`, in the order of [`KeyRow`].
macro_rules! key_columns {
    () => {
        "id, tenant_id, secret_hash, scope, dialect, label, created_at, expires_at, revoked_at"
    };
}
pub(crate) use key_columns;

pub(crate) type KeyRow =
    (String, String, Vec<u8>, String, Option<String>, Option<String>, Timestamp, Option<Timestamp>, Option<Timestamp>);

pub(crate) type EventRow = (
    String,
    i64,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    Option<String>,
    serde_json::Value,
    serde_json::Value,
    Timestamp,
);

/// A time as stored: microseconds, truncated as the SQLite store does (PostgreSQL would round).
pub(crate) fn ts(at: &Timestamp) -> Timestamp {
    at.trunc_subsecs(6)
}

pub(crate) fn key_record(row: KeyRow) -> StoreResult<ApiKeyRecord> {
    let (id, tenant_id, hash, scope, dialect, label, created_at, expires_at, revoked_at) = row;
    Ok(ApiKeyRecord {
        id: KeyId::from_trusted(id),
        tenant_id: TenantId::from_trusted(tenant_id),
        secret_hash: hash.try_into().map_err(|_| StoreError::Backend("bad key hash".into()))?,
        scope: Scope::parse(&scope).ok_or_else(|| StoreError::Backend(format!("bad scope {scope}")))?,
        dialect: dialect.as_deref().and_then(Source::parse),
        label,
        created_at,
        expires_at,
        revoked_at,
    })
}

pub(crate) fn event_record(row: EventRow) -> StoreResult<StoredEvent> {
    let (id, seq, kind, payment_id, order_id, source, actor, request_id, request_body, data, detail, created_at) = row;
    Ok(StoredEvent {
        id: EventId::from_trusted(id),
        seq,
        kind: paystate_domain::EventType::parse(&kind)
            .ok_or_else(|| StoreError::Backend(format!("bad event type {kind}")))?,
        payment_id: payment_id.map(PaymentId::from_trusted),
        order_id: order_id.map(OrderId::from_trusted),
        source: Source::parse(&source).ok_or_else(|| StoreError::Backend(format!("bad source {source}")))?,
        actor,
        request_id,
        request_body,
        data,
        detail,
        created_at,
    })
}

/// The columns of `webhook_endpoints`, in the order of [`EndpointRow`].
macro_rules! endpoint_columns {
    () => {
        "id, tenant_id, url, events, description, enabled, disabled_reason, disabled_at, failing_since, secret, \
         previous_secret, previous_expires_at, created_at, updated_at"
    };
}
pub(crate) use endpoint_columns;

/// The columns of `webhook_deliveries`, in the order of [`DeliveryRow`].
macro_rules! delivery_columns {
    () => {
        "id, tenant_id, endpoint_id, event_id, event_type, payload, state, attempts, step, next_attempt_at, \
         last_attempt_at, created_at, updated_at"
    };
}
pub(crate) use delivery_columns;

pub(crate) type EndpointRow = (
    String,
    String,
    String,
    Json<Vec<String>>,
    Option<String>,
    bool,
    Option<String>,
    Option<Timestamp>,
    Option<Timestamp>,
    Vec<u8>,
    Option<Vec<u8>>,
    Option<Timestamp>,
    Timestamp,
    Timestamp,
);

pub(crate) fn endpoint_record(row: EndpointRow) -> EndpointRecord {
    let (
        id,
        tenant_id,
        url,
        Json(events),
        description,
        enabled,
        disabled_reason,
        disabled_at,
        failing_since,
        secret,
        previous_secret,
        previous_expires_at,
        created_at,
        updated_at,
    ) = row;
    EndpointRecord {
        endpoint: WebhookEndpoint {
            id: EndpointId::from_trusted(id),
            tenant_id: TenantId::from_trusted(tenant_id),
            url,
            events: EventSelection::from_trusted(events),
            description,
            enabled,
            disabled_reason,
            disabled_at,
            failing_since,
            created_at,
            updated_at,
        },
        secret,
        previous_secret,
        previous_expires_at,
    }
}

pub(crate) type DeliveryRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i32,
    i32,
    Option<Timestamp>,
    Option<Timestamp>,
    Timestamp,
    Timestamp,
);

pub(crate) fn delivery_record(row: DeliveryRow) -> StoreResult<DeliveryRecord> {
    let (
        id,
        tenant_id,
        endpoint_id,
        event_id,
        event_type,
        payload,
        state,
        attempts,
        step,
        next_attempt_at,
        last_attempt_at,
        created_at,
        updated_at,
    ) = row;
    Ok(DeliveryRecord {
        id: DeliveryId::from_trusted(id),
        tenant_id: TenantId::from_trusted(tenant_id),
        endpoint_id: EndpointId::from_trusted(endpoint_id),
        event_id: EventId::from_trusted(event_id),
        event_type,
        payload,
        state: DeliveryState::parse(&state)
            .ok_or_else(|| StoreError::Backend(format!("bad delivery state {state}")))?,
        attempts: u32::try_from(attempts).unwrap_or_default(),
        step: u32::try_from(step).unwrap_or_default(),
        next_attempt_at,
        last_attempt_at,
        created_at,
        updated_at,
    })
}

pub(crate) type AttemptRow = (String, Timestamp, Option<i32>, i32, Option<String>, Option<String>);

pub(crate) fn attempt_record(row: AttemptRow) -> AttemptRecord {
    let (delivery_id, at, status_code, latency_ms, response_excerpt, error) = row;
    AttemptRecord {
        delivery_id: DeliveryId::from_trusted(delivery_id),
        at,
        status_code: status_code.and_then(|code| u16::try_from(code).ok()),
        latency_ms: u32::try_from(latency_ms).unwrap_or_default(),
        response_excerpt,
        error,
    }
}

/// A counter as an INTEGER column holds it.
pub(crate) fn count(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}
