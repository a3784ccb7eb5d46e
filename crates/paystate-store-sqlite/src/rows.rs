//! Rows as this store holds them, and their decoding: times as RFC 3339 text to the microsecond,
//! records as JSON documents, and the column lists and row types of the tables whose columns
//! are read one by one (keys, events, webhook endpoints, deliveries and attempts).

use paystate_domain::{
    DeliveryId, EndpointId, EventId, EventSelection, KeyId, OrderId, PaymentId, Source, StoredEvent, TenantId,
    Timestamp, WebhookEndpoint,
};
use paystate_store::{
    ApiKeyRecord, AttemptRecord, DeliveryRecord, DeliveryState, EndpointRecord, Scope, StoreError, StoreResult,
};
use rusqlite::Row;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A time as stored: RFC 3339 in UTC to the microsecond, fixed width, so that comparing the
/// texts in SQL compares the times.
pub(crate) fn ts(at: &Timestamp) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub(crate) fn parse_ts(text: &str) -> StoreResult<Timestamp> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&chrono::Utc))
        .map_err(|e| StoreError::Backend(format!("bad timestamp {text:?}: {e}")))
}

pub(crate) fn opt_ts(text: Option<String>) -> StoreResult<Option<Timestamp>> {
    text.as_deref().map(parse_ts).transpose()
}

pub(crate) fn to_doc<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(e.to_string()))
}

pub(crate) fn from_doc<T: DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Backend(format!("bad stored document: {e}")))
}

pub(crate) fn docs<T: DeserializeOwned>(texts: Vec<String>) -> StoreResult<Vec<T>> {
    texts.iter().map(|text| from_doc(text)).collect()
}

/// Declares a row struct whose fields are the columns of a `SELECT` in their order (as
/// [`ENDPOINT_COLUMNS`] and [`DELIVERY_COLUMNS`] list them), and its reader: field n is column n. The struct's field list is then the only place the order is
/// spelled, instead of once in the struct and again in a reader listing `row.get(n)?` per field.
macro_rules! columns_by_position {
    ($name:ident, $from_row:ident { $($field:ident: $ty:ty),+ $(,)? }) => {
        pub(crate) struct $name {
            $($field: $ty),+
        }

        pub(crate) fn $from_row(row: &Row<'_>) -> rusqlite::Result<$name> {
            let mut next = 0;
            let mut column = || {
                next += 1;
                next - 1
            };
            // A struct's fields are evaluated in the order written: each takes the next column.
            Ok($name { $($field: row.get(column())?),+ })
        }
    };
}

/// A tenant's columns as a tuple. This and the other tuple readers (keys, events) use rusqlite's
/// own `TryFrom<&Row>` for tuples, which reads column n into field n, instead of listing `row.get(n)?`.
pub(crate) fn tenant_from_row(row: &Row<'_>) -> rusqlite::Result<(String, String, String, String, String)> {
    row.try_into()
}

pub(crate) type KeyRow =
    (String, String, Vec<u8>, String, Option<String>, Option<String>, String, Option<String>, Option<String>);

pub(crate) fn key_from_row(row: &Row<'_>) -> rusqlite::Result<KeyRow> {
    row.try_into()
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
        created_at: parse_ts(&created_at)?,
        expires_at: opt_ts(expires_at)?,
        revoked_at: opt_ts(revoked_at)?,
    })
}

pub(crate) const KEY_COLUMNS: &str =
    "id, tenant_id, secret_hash, scope, dialect, label, created_at, expires_at, revoked_at";

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
    String,
    String,
    String,
);

pub(crate) fn event_from_row(row: &Row<'_>) -> rusqlite::Result<EventRow> {
    row.try_into()
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
        data: from_doc(&data)?,
        detail: from_doc(&detail)?,
        created_at: parse_ts(&created_at)?,
    })
}

pub(crate) const ENDPOINT_COLUMNS: &str = "id, tenant_id, url, events, description, enabled, disabled_reason, disabled_at, \
     failing_since, secret, previous_secret, previous_expires_at, created_at, updated_at";

/// An endpoint's values in [`ENDPOINT_COLUMNS`] order, for its insert and its update.
pub(crate) fn endpoint_values(record: &EndpointRecord) -> StoreResult<Vec<Box<dyn rusqlite::ToSql>>> {
    let e = &record.endpoint;
    Ok(vec![
        Box::new(e.id.to_string()),
        Box::new(e.tenant_id.to_string()),
        Box::new(e.url.clone()),
        Box::new(to_doc(&e.events)?),
        Box::new(e.description.clone()),
        Box::new(e.enabled),
        Box::new(e.disabled_reason.clone()),
        Box::new(e.disabled_at.as_ref().map(ts)),
        Box::new(e.failing_since.as_ref().map(ts)),
        Box::new(record.secret.clone()),
        Box::new(record.previous_secret.clone()),
        Box::new(record.previous_expires_at.as_ref().map(ts)),
        Box::new(ts(&e.created_at)),
        Box::new(ts(&e.updated_at)),
    ])
}

columns_by_position! {
    EndpointRow, endpoint_from_row {
        id: String,
        tenant_id: String,
        url: String,
        events: String,
        description: Option<String>,
        enabled: bool,
        disabled_reason: Option<String>,
        disabled_at: Option<String>,
        failing_since: Option<String>,
        secret: Vec<u8>,
        previous_secret: Option<Vec<u8>>,
        previous_expires_at: Option<String>,
        created_at: String,
        updated_at: String,
    }
}

pub(crate) fn endpoint_record(row: EndpointRow) -> StoreResult<EndpointRecord> {
    Ok(EndpointRecord {
        endpoint: WebhookEndpoint {
            id: EndpointId::from_trusted(row.id),
            tenant_id: TenantId::from_trusted(row.tenant_id),
            url: row.url,
            events: EventSelection::from_trusted(from_doc(&row.events)?),
            description: row.description,
            enabled: row.enabled,
            disabled_reason: row.disabled_reason,
            disabled_at: opt_ts(row.disabled_at)?,
            failing_since: opt_ts(row.failing_since)?,
            created_at: parse_ts(&row.created_at)?,
            updated_at: parse_ts(&row.updated_at)?,
        },
        secret: row.secret,
        previous_secret: row.previous_secret,
        previous_expires_at: opt_ts(row.previous_expires_at)?,
    })
}

pub(crate) const DELIVERY_COLUMNS: &str = "id, tenant_id, endpoint_id, event_id, event_type, payload, state, attempts, step, \
     next_attempt_at, last_attempt_at, created_at, updated_at";

columns_by_position! {
    DeliveryRow, delivery_from_row {
        id: String,
        tenant_id: String,
        endpoint_id: String,
        event_id: String,
        event_type: String,
        payload: String,
        state: String,
        attempts: u32,
        step: u32,
        next_attempt_at: Option<String>,
        last_attempt_at: Option<String>,
        created_at: String,
        updated_at: String,
    }
}

pub(crate) fn delivery_record(row: DeliveryRow) -> StoreResult<DeliveryRecord> {
    Ok(DeliveryRecord {
        id: DeliveryId::from_trusted(row.id),
        tenant_id: TenantId::from_trusted(row.tenant_id),
        endpoint_id: EndpointId::from_trusted(row.endpoint_id),
        event_id: EventId::from_trusted(row.event_id),
        event_type: row.event_type,
        payload: row.payload,
        state: DeliveryState::parse(&row.state)
            .ok_or_else(|| StoreError::Backend(format!("bad delivery state {}", row.state)))?,
        attempts: row.attempts,
        step: row.step,
        next_attempt_at: opt_ts(row.next_attempt_at)?,
        last_attempt_at: opt_ts(row.last_attempt_at)?,
        created_at: parse_ts(&row.created_at)?,
        updated_at: parse_ts(&row.updated_at)?,
    })
}

pub(crate) type AttemptRow = (String, String, Option<u16>, u32, Option<String>, Option<String>);

pub(crate) fn attempt_record(row: AttemptRow) -> StoreResult<AttemptRecord> {
    let (delivery_id, at, status_code, latency_ms, response_excerpt, error) = row;
    Ok(AttemptRecord {
        delivery_id: DeliveryId::from_trusted(delivery_id),
        at: parse_ts(&at)?,
        status_code,
        latency_ms,
        response_excerpt,
        error,
    })
}

pub(crate) fn ids_json(ids: &[DeliveryId]) -> String {
    serde_json::Value::from(ids.iter().map(|id| id.as_str()).collect::<Vec<_>>()).to_string()
}
