//! One SQLite connection as a paystate [`Reader`] and [`Tx`]: the SQL of the embedded store.

use async_trait::async_trait;
use paystate_domain::{
    Actor, DeliveryId, EndpointId, EventDraft, EventId, EventSelection, KeyId, MethodId, Order, OrderId, Payment,
    PaymentId, PaymentMethod, Source, StoredEvent, Tenant, TenantId, Timestamp, UserId, WebhookEndpoint,
};
use paystate_store::{
    ApiKeyRecord, AttemptOutcome, AttemptRecord, ClaimedDelivery, DeliveryFilter, DeliveryRecord, DeliveryState,
    EndpointRecord, EventFilter, IdempotencyKey, IdempotencyRecord, NextStep, OrderFilter, OutboxStats, PageRequest,
    PaymentFilter, Reader, Scope, StatementLog, StoreError, StoreResult, StoredResponse, Tx,
};
use paystate_store::{EventCount, PaymentSearch, SessionRecord, StatusCount, UserRecord};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::Arc;

use crate::payment_cache::{Cached, PaymentCache, Weighed};

// The operator console's SQL, in a file of its own (a child module, so it shares the helpers here).
#[path = "users.rs"]
mod users;

pub(crate) struct SqliteConn {
    conn: Connection,
    queued: Vec<(Actor, EventDraft)>,
    /// Where the statements of the current job are noted, when its request asked for them.
    log: Option<StatementLog>,
    /// On a reader serving lookups of a store that caches payments: where payments are looked
    /// up first, and filled after a miss.
    lookup_cache: Option<Arc<PaymentCache>>,
    /// On the writer of a store that caches payments: every payment the current job wrote, for
    /// the cache to publish once the batch has committed.
    written_payments: Option<Vec<Weighed>>,
}

/// Maps a SQLite error to a store error; unique violations name the field they are about.
pub(crate) fn map_error(error: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(failure, message) = &error {
        match failure.code {
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => return StoreError::Busy,
            rusqlite::ErrorCode::ConstraintViolation => {
                let message = message.as_deref().unwrap_or_default();
                for field in ["reference", "external_id", "code", "key", "email"] {
                    if message.starts_with("UNIQUE") && message.contains(&format!(".{field}")) {
                        return StoreError::Duplicate(field);
                    }
                }
            }
            _ => {}
        }
    }
    StoreError::Backend(error.to_string())
}

pub(crate) fn ts(at: &Timestamp) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn parse_ts(text: &str) -> StoreResult<Timestamp> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&chrono::Utc))
        .map_err(|e| StoreError::Backend(format!("bad timestamp {text:?}: {e}")))
}

pub(crate) fn opt_ts(text: Option<String>) -> StoreResult<Option<Timestamp>> {
    text.as_deref().map(parse_ts).transpose()
}

/// `condition` when its filter is set, else a condition on the same parameter that is always
/// true. SQLite plans a statement once for any parameters, so `(?2 IS NULL OR order_id = ?2)`
/// would scan every row of the tenant instead of using the order's index.
fn only_if(set: bool, condition: &'static str, parameter: &str) -> String {
    if set { condition.to_owned() } else { format!("{parameter} IS NULL") }
}

fn to_doc<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(e.to_string()))
}

fn from_doc<T: DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Backend(format!("bad stored document: {e}")))
}

fn docs<T: DeserializeOwned>(texts: Vec<String>) -> StoreResult<Vec<T>> {
    texts.iter().map(|text| from_doc(text)).collect()
}

impl SqliteConn {
    pub(crate) fn new(conn: Connection) -> Self {
        Self { conn, queued: Vec::new(), log: None, lookup_cache: None, written_payments: None }
    }

    /// A reader for lookups, which answers payments from `cache` when it has them.
    pub(crate) fn looking_up_in(mut self, cache: Option<Arc<PaymentCache>>) -> Self {
        self.lookup_cache = cache;
        self
    }

    /// A writer that keeps the payments each job writes, for [`take_written_payments`](Self::take_written_payments).
    pub(crate) fn recording_payments(mut self) -> Self {
        self.written_payments = Some(Vec::new());
        self
    }

    /// The payments written since the last call, in the order they were written.
    pub(crate) fn take_written_payments(&mut self) -> Vec<Weighed> {
        self.written_payments.as_mut().map(std::mem::take).unwrap_or_default()
    }

    fn wrote_payment(&mut self, payment: &Payment, document_length: usize) {
        if let Some(written) = &mut self.written_payments {
            written.push(Weighed::new(payment.clone(), document_length));
        }
    }

    /// Notes the statements of the jobs that follow in `log` (or in none).
    pub(crate) fn set_log(&mut self, log: Option<StatementLog>) {
        self.log = log;
    }

    pub(crate) fn note(&self, sql: &str) {
        if let Some(log) = &self.log {
            log.note(sql);
        }
    }

    pub(crate) fn inner(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn into_inner(self) -> Connection {
        self.conn
    }

    /// Runs one statement that returns no rows (transaction control, mostly). Prepared once per
    /// connection: preparing `BEGIN` or `RELEASE` again on every use cost more than running it.
    pub(crate) fn execute(&self, sql: &str) -> StoreResult<()> {
        self.run(sql, []).map(|_| ())
    }

    pub(crate) fn discard_queued_events(&mut self) {
        self.queued.clear();
    }

    /// Numbers and writes the events the job queued, in the job's transaction, each with one
    /// webhook delivery per enabled endpoint of its tenant that subscribes to its type (the
    /// transactional outbox: the deliveries commit exactly when the event does).
    pub(crate) fn flush_events(&mut self) -> StoreResult<()> {
        const NEXT_SEQ: &str = "UPDATE tenants SET event_seq = event_seq + 1 WHERE id = ?1 RETURNING event_seq";
        const INSERT_EVENT: &str = "INSERT INTO events (id, tenant_id, seq, type, payment_id, order_id, source, actor, \
            request_id, request_body, data, detail, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
        let queued = std::mem::take(&mut self.queued);
        let mut subscribers: HashMap<TenantId, Vec<WebhookEndpoint>> = HashMap::new();
        for (actor, draft) in queued {
            self.note(NEXT_SEQ);
            let seq: i64 = self
                .conn
                .prepare_cached(NEXT_SEQ)
                .and_then(|mut s| s.query_row([actor.tenant_id.as_str()], |row| row.get(0)))
                .map_err(map_error)?;
            let (event_id, created_at, data) = (EventId::generate(), paystate_store::now(), draft.data());
            self.note(INSERT_EVENT);
            self.conn
                .prepare_cached(INSERT_EVENT)
                .and_then(|mut s| {
                    s.execute(params![
                        event_id.as_str(),
                        actor.tenant_id.as_str(),
                        seq,
                        draft.kind.as_str(),
                        draft.payment_id().map(|id| id.as_str()),
                        draft.order_id().map(|id| id.as_str()),
                        actor.source.as_str(),
                        actor.name(),
                        actor.request_id,
                        actor.request_body,
                        data.to_string(),
                        draft.detail.to_string(),
                        ts(&created_at),
                    ])
                })
                .map_err(map_error)?;
            if !subscribers.contains_key(&actor.tenant_id) {
                let enabled = self.enabled_endpoints(&actor.tenant_id)?;
                subscribers.insert(actor.tenant_id.clone(), enabled);
            }
            let kind = draft.kind.as_str();
            let mut payload = None;
            for endpoint in subscribers[&actor.tenant_id].iter().filter(|e| e.wants(kind)) {
                let body =
                    payload.get_or_insert_with(|| paystate_store::event_payload(kind, seq, &created_at, &data)).clone();
                let delivery = paystate_store::new_delivery(endpoint, &event_id, kind, body, created_at);
                self.write_delivery(&delivery)?;
            }
        }
        Ok(())
    }

    fn enabled_endpoints(&self, tenant: &TenantId) -> StoreResult<Vec<WebhookEndpoint>> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = ?1 AND enabled = 1 ORDER BY id"
        );
        self.note(&sql);
        let rows = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_map([tenant.as_str()], endpoint_from_row)?.collect::<Result<Vec<_>, _>>())
            .map_err(map_error)?;
        rows.into_iter().map(|row| endpoint_record(row).map(|r| r.endpoint)).collect()
    }

    fn write_delivery(&self, delivery: &DeliveryRecord) -> StoreResult<()> {
        self.run(
            &format!(
                "INSERT INTO webhook_deliveries ({DELIVERY_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            ),
            params![
                delivery.id.as_str(),
                delivery.tenant_id.as_str(),
                delivery.endpoint_id.as_str(),
                delivery.event_id.as_str(),
                delivery.event_type,
                delivery.payload,
                delivery.state.as_str(),
                delivery.attempts,
                delivery.step,
                delivery.next_attempt_at.as_ref().map(ts),
                delivery.last_attempt_at.as_ref().map(ts),
                ts(&delivery.created_at),
                ts(&delivery.updated_at),
            ],
        )
        .map(drop)
    }

    fn delivery_by_id(&self, id: &str) -> StoreResult<Option<DeliveryRecord>> {
        let row = self
            .conn
            .prepare_cached(&format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = ?1"))
            .and_then(|mut s| s.query_row([id], delivery_from_row).optional())
            .map_err(map_error)?;
        row.map(delivery_record).transpose()
    }

    fn endpoint_by_id(&self, id: &str) -> StoreResult<Option<EndpointRecord>> {
        let row = self
            .conn
            .prepare_cached(&format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?1"))
            .and_then(|mut s| s.query_row([id], endpoint_from_row).optional())
            .map_err(map_error)?;
        row.map(endpoint_record).transpose()
    }

    fn one_doc<T: DeserializeOwned>(&self, sql: &str, params: impl rusqlite::Params) -> StoreResult<Option<T>> {
        self.one_text(sql, params)?.as_deref().map(from_doc).transpose()
    }

    /// The first column of the one row the statement selects, if any.
    fn one_text(&self, sql: &str, params: impl rusqlite::Params) -> StoreResult<Option<String>> {
        self.note(sql);
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.query_row(params, |row| row.get(0)).optional())
            .map_err(map_error)
    }

    fn many_docs<T: DeserializeOwned>(&self, sql: &str, params: impl rusqlite::Params) -> StoreResult<Vec<T>> {
        self.note(sql);
        let texts = self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.query_map(params, |row| row.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>())
            .map_err(map_error)?;
        docs(texts)
    }

    /// The connection itself, for the statements of sibling modules.
    pub(crate) fn raw(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn run(&self, sql: &str, params: impl rusqlite::Params) -> StoreResult<usize> {
        self.note(sql);
        self.conn.prepare_cached(sql).and_then(|mut s| s.execute(params)).map_err(map_error)
    }
}

fn tenant_from_row(row: &Row<'_>) -> rusqlite::Result<(String, String, String, String, String)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
}

type KeyRow = (String, String, Vec<u8>, String, Option<String>, Option<String>, String, Option<String>, Option<String>);

fn key_from_row(row: &Row<'_>) -> rusqlite::Result<KeyRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
    ))
}

fn key_record(row: KeyRow) -> StoreResult<ApiKeyRecord> {
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

const KEY_COLUMNS: &str = "id, tenant_id, secret_hash, scope, dialect, label, created_at, expires_at, revoked_at";

type EventRow = (
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

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<EventRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
        row.get(10)?,
        row.get(11)?,
    ))
}

fn event_record(row: EventRow) -> StoreResult<StoredEvent> {
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

const ENDPOINT_COLUMNS: &str = "id, tenant_id, url, events, description, enabled, disabled_reason, disabled_at, \
     failing_since, secret, previous_secret, previous_expires_at, created_at, updated_at";

/// An endpoint's values in [`ENDPOINT_COLUMNS`] order, for its insert and its update.
fn endpoint_values(record: &EndpointRecord) -> StoreResult<Vec<Box<dyn rusqlite::ToSql>>> {
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

struct EndpointRow {
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

fn endpoint_from_row(row: &Row<'_>) -> rusqlite::Result<EndpointRow> {
    Ok(EndpointRow {
        id: row.get(0)?,
        tenant_id: row.get(1)?,
        url: row.get(2)?,
        events: row.get(3)?,
        description: row.get(4)?,
        enabled: row.get(5)?,
        disabled_reason: row.get(6)?,
        disabled_at: row.get(7)?,
        failing_since: row.get(8)?,
        secret: row.get(9)?,
        previous_secret: row.get(10)?,
        previous_expires_at: row.get(11)?,
        created_at: row.get(12)?,
        updated_at: row.get(13)?,
    })
}

fn endpoint_record(row: EndpointRow) -> StoreResult<EndpointRecord> {
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

const DELIVERY_COLUMNS: &str = "id, tenant_id, endpoint_id, event_id, event_type, payload, state, attempts, step, \
     next_attempt_at, last_attempt_at, created_at, updated_at";

struct DeliveryRow {
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

fn delivery_from_row(row: &Row<'_>) -> rusqlite::Result<DeliveryRow> {
    Ok(DeliveryRow {
        id: row.get(0)?,
        tenant_id: row.get(1)?,
        endpoint_id: row.get(2)?,
        event_id: row.get(3)?,
        event_type: row.get(4)?,
        payload: row.get(5)?,
        state: row.get(6)?,
        attempts: row.get(7)?,
        step: row.get(8)?,
        next_attempt_at: row.get(9)?,
        last_attempt_at: row.get(10)?,
        created_at: row.get(11)?,
        updated_at: row.get(12)?,
    })
}

fn delivery_record(row: DeliveryRow) -> StoreResult<DeliveryRecord> {
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

type AttemptRow = (String, String, Option<u16>, u32, Option<String>, Option<String>);

fn attempt_record(row: AttemptRow) -> StoreResult<AttemptRecord> {
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

fn ids_json(ids: &[DeliveryId]) -> String {
    serde_json::Value::from(ids.iter().map(|id| id.as_str()).collect::<Vec<_>>()).to_string()
}

#[async_trait]
impl Reader for SqliteConn {
    async fn tenant(&mut self, id: &TenantId) -> StoreResult<Option<Tenant>> {
        const SQL: &str = "SELECT id, name, settings, created_at, updated_at FROM tenants WHERE id = ?1";
        self.note(SQL);
        let row = self
            .conn
            .prepare_cached(SQL)
            .and_then(|mut s| s.query_row([id.as_str()], tenant_from_row).optional())
            .map_err(map_error)?;
        row.map(|(id, name, settings, created_at, updated_at)| {
            Ok(Tenant {
                id: TenantId::from_trusted(id),
                name,
                settings: from_doc(&settings)?,
                created_at: parse_ts(&created_at)?,
                updated_at: parse_ts(&updated_at)?,
            })
        })
        .transpose()
    }

    async fn api_key(&mut self, id: &KeyId) -> StoreResult<Option<ApiKeyRecord>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1");
        self.note(&sql);
        let row = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row([id.as_str()], key_from_row).optional())
            .map_err(map_error)?;
        row.map(key_record).transpose()
    }

    async fn api_keys(&mut self, tenant: &TenantId) -> StoreResult<Vec<ApiKeyRecord>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE tenant_id = ?1 ORDER BY id");
        self.note(&sql);
        let rows = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_map([tenant.as_str()], key_from_row)?.collect::<Result<Vec<_>, _>>())
            .map_err(map_error)?;
        rows.into_iter().map(key_record).collect()
    }

    async fn order(&mut self, tenant: &TenantId, id: &OrderId) -> StoreResult<Option<Order>> {
        self.one_doc("SELECT doc FROM orders WHERE tenant_id = ?1 AND id = ?2", [tenant.as_str(), id.as_str()])
    }

    async fn order_by_reference(&mut self, tenant: &TenantId, reference: &str) -> StoreResult<Option<Order>> {
        self.one_doc("SELECT doc FROM orders WHERE tenant_id = ?1 AND reference = ?2", [tenant.as_str(), reference])
    }

    async fn orders(&mut self, tenant: &TenantId, filter: &OrderFilter, page: &PageRequest) -> StoreResult<Vec<Order>> {
        let by_reference = only_if(filter.reference.is_some(), "reference = ?2", "?2");
        let after = only_if(page.after.is_some(), "id > ?4", "?4");
        self.many_docs(
            &format!(
                "SELECT doc FROM orders WHERE tenant_id = ?1 AND {by_reference} AND (?3 IS NULL OR state = ?3) \
                 AND {after} ORDER BY id LIMIT ?5"
            ),
            params![tenant.as_str(), filter.reference, filter.state.map(|s| s.as_str()), page.after, page.limit],
        )
    }

    async fn payment(&mut self, tenant: &TenantId, id: &PaymentId) -> StoreResult<Option<Payment>> {
        const SQL: &str = "SELECT doc FROM payments WHERE tenant_id = ?1 AND id = ?2";
        let Some(cache) = &self.lookup_cache else { return self.one_doc(SQL, [tenant.as_str(), id.as_str()]) };
        let ticket = match cache.get(id) {
            // Payment ids are unique across tenants: another tenant's payment is not found.
            Cached::Hit(payment) => return Ok((payment.tenant_id == *tenant).then(|| (*payment).clone())),
            Cached::Miss(ticket) => ticket,
        };
        let Some(doc) = self.one_text(SQL, [tenant.as_str(), id.as_str()])? else { return Ok(None) };
        let payment: Payment = from_doc(&doc)?;
        if let Some(ticket) = ticket {
            cache.fill(ticket, &payment, doc.len());
        }
        Ok(Some(payment))
    }

    async fn payment_by_external_id(&mut self, tenant: &TenantId, external_id: &str) -> StoreResult<Option<Payment>> {
        self.one_doc(
            "SELECT doc FROM payments WHERE tenant_id = ?1 AND external_id = ?2",
            [tenant.as_str(), external_id],
        )
    }

    async fn payments(
        &mut self,
        tenant: &TenantId,
        filter: &PaymentFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<Payment>> {
        let by_order = only_if(filter.order_id.is_some(), "order_id = ?2", "?2");
        let after = only_if(page.after.is_some(), "id > ?6", "?6");
        self.many_docs(
            &format!(
                "SELECT doc FROM payments WHERE tenant_id = ?1 AND {by_order} AND (?3 IS NULL OR status = ?3) \
                 AND (?4 IS NULL OR needs_review = ?4) AND (?5 OR deleted = 0) AND {after} ORDER BY id LIMIT ?7"
            ),
            params![
                tenant.as_str(),
                filter.order_id.as_ref().map(|id| id.as_str()),
                filter.status.map(|s| s.as_str()),
                filter.needs_review,
                filter.include_deleted,
                page.after,
                page.limit
            ],
        )
    }

    async fn method(&mut self, tenant: &TenantId, id: &MethodId) -> StoreResult<Option<PaymentMethod>> {
        self.one_doc("SELECT doc FROM payment_methods WHERE tenant_id = ?1 AND id = ?2", [tenant.as_str(), id.as_str()])
    }

    async fn methods(&mut self, tenant: &TenantId) -> StoreResult<Vec<PaymentMethod>> {
        self.many_docs("SELECT doc FROM payment_methods WHERE tenant_id = ?1 ORDER BY id", [tenant.as_str()])
    }

    async fn events(&mut self, tenant: &TenantId, filter: &EventFilter) -> StoreResult<Vec<StoredEvent>> {
        let by_payment = only_if(filter.payment_id.is_some(), "payment_id = ?3", "?3");
        let sql = format!(
            "SELECT id, seq, type, payment_id, order_id, source, actor, request_id, request_body, data, detail, \
             created_at FROM events WHERE tenant_id = ?1 AND seq > ?2 AND {by_payment} ORDER BY seq LIMIT ?4"
        );
        self.note(&sql);
        let rows = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut s| {
                s.query_map(
                    params![
                        tenant.as_str(),
                        filter.after_seq,
                        filter.payment_id.as_ref().map(|p| p.as_str()),
                        filter.limit
                    ],
                    event_from_row,
                )?
                .collect::<Result<Vec<_>, _>>()
            })
            .map_err(map_error)?;
        rows.into_iter().map(event_record).collect()
    }
    async fn endpoint(&mut self, tenant: &TenantId, id: &EndpointId) -> StoreResult<Option<EndpointRecord>> {
        Ok(self.endpoint_by_id(id.as_str())?.filter(|r| r.endpoint.tenant_id == *tenant))
    }

    async fn endpoints(&mut self, tenant: &TenantId, page: &PageRequest) -> StoreResult<Vec<EndpointRecord>> {
        let rows = self
            .conn
            .prepare_cached(&format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = ?1 AND (?2 IS NULL OR id > ?2) \
                 ORDER BY id LIMIT ?3"
            ))
            .and_then(|mut s| {
                s.query_map(params![tenant.as_str(), page.after, page.limit], endpoint_from_row)?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(map_error)?;
        rows.into_iter().map(endpoint_record).collect()
    }

    async fn delivery(&mut self, tenant: &TenantId, id: &DeliveryId) -> StoreResult<Option<DeliveryRecord>> {
        Ok(self.delivery_by_id(id.as_str())?.filter(|d| d.tenant_id == *tenant))
    }

    async fn deliveries(
        &mut self,
        tenant: &TenantId,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let by_endpoint = only_if(filter.endpoint_id.is_some(), "endpoint_id = ?2", "?2");
        let by_event = only_if(filter.event_id.is_some(), "event_id = ?3", "?3");
        let after = only_if(page.after.is_some(), "id > ?5", "?5");
        let rows = self
            .conn
            .prepare_cached(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE tenant_id = ?1 AND {by_endpoint} \
                 AND {by_event} AND (?4 IS NULL OR state = ?4) AND {after} ORDER BY id LIMIT ?6"
            ))
            .and_then(|mut s| {
                s.query_map(
                    params![
                        tenant.as_str(),
                        filter.endpoint_id.as_ref().map(|id| id.as_str()),
                        filter.event_id.as_ref().map(|id| id.as_str()),
                        filter.state.map(|s| s.as_str()),
                        page.after,
                        page.limit
                    ],
                    delivery_from_row,
                )?
                .collect::<Result<Vec<_>, _>>()
            })
            .map_err(map_error)?;
        rows.into_iter().map(delivery_record).collect()
    }

    async fn delivery_attempts(&mut self, tenant: &TenantId, ids: &[DeliveryId]) -> StoreResult<Vec<AttemptRecord>> {
        let rows = self
            .conn
            .prepare_cached(
                "SELECT a.delivery_id, a.at, a.status_code, a.latency_ms, a.response_excerpt, a.error \
                 FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id \
                 WHERE d.tenant_id = ?1 AND a.delivery_id IN (SELECT value FROM json_each(?2)) \
                 ORDER BY a.delivery_id, a.id",
            )
            .and_then(|mut s| {
                s.query_map(params![tenant.as_str(), ids_json(ids)], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
                })?
                .collect::<Result<Vec<AttemptRow>, _>>()
            })
            .map_err(map_error)?;
        rows.into_iter().map(attempt_record).collect()
    }

    async fn idempotency_record(&mut self, tenant: &TenantId, key: &str) -> StoreResult<Option<IdempotencyRecord>> {
        type Row = (String, Option<u16>, Option<String>, Option<String>, Option<Vec<u8>>, String);
        const SQL: &str = "SELECT fingerprint, status, content_type, headers, body, created_at FROM idempotency_keys \
                           WHERE tenant_id = ?1 AND key = ?2";
        self.note(SQL);
        let row: Option<Row> = self
            .conn
            .prepare_cached(SQL)
            .and_then(|mut s| {
                s.query_row([tenant.as_str(), key], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
                })
                .optional()
            })
            .map_err(map_error)?;
        let Some((fingerprint, status, content_type, headers, body, created_at)) = row else { return Ok(None) };
        let response = match (status, content_type, body) {
            (Some(status), Some(content_type), Some(body)) => {
                let headers = headers.as_deref().map(from_doc).transpose()?.unwrap_or_default();
                Some(StoredResponse { status, content_type, headers, body })
            }
            _ => None,
        };
        Ok(Some(IdempotencyRecord { fingerprint, response, created_at: parse_ts(&created_at)? }))
    }

    async fn outbox_stats(&mut self) -> StoreResult<OutboxStats> {
        let (pending, oldest): (i64, Option<String>) = self
            .conn
            .prepare_cached(
                "SELECT COUNT(*), MIN(d.created_at) FROM webhook_deliveries d \
                 JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.state = 'pending' AND e.enabled = 1",
            )
            .and_then(|mut s| s.query_row([], |row| Ok((row.get(0)?, row.get(1)?))))
            .map_err(map_error)?;
        Ok(OutboxStats { pending: pending.max(0) as u64, oldest_pending_at: opt_ts(oldest)? })
    }

    // --- event stream ---

    async fn stream_backlog(&mut self, sink: &str) -> StoreResult<paystate_store::StreamBacklog> {
        self.stream_backlog_rows(sink)
    }

    // --- console: users and sessions ---
    async fn user(&mut self, tenant: &TenantId, id: &UserId) -> StoreResult<Option<UserRecord>> {
        self.console_user(tenant, id)
    }

    async fn users_with_email(&mut self, email: &str) -> StoreResult<Vec<UserRecord>> {
        self.console_users_with_email(email)
    }

    async fn users(&mut self, tenant: &TenantId) -> StoreResult<Vec<UserRecord>> {
        self.console_users(tenant)
    }

    async fn session(&mut self, token_hash: &[u8; 32]) -> StoreResult<Option<SessionRecord>> {
        self.console_session(token_hash)
    }

    async fn payment_counts(&mut self, tenant: &TenantId) -> StoreResult<Vec<StatusCount>> {
        self.console_payment_counts(tenant)
    }

    async fn event_counts(&mut self, tenant: &TenantId, since: Timestamp) -> StoreResult<Vec<EventCount>> {
        self.console_event_counts(tenant, since)
    }

    async fn payments_matching(
        &mut self,
        tenant: &TenantId,
        search: &PaymentSearch,
        page: &PageRequest,
    ) -> StoreResult<Vec<Payment>> {
        self.console_payments_matching(tenant, search, page)
    }

    async fn payments_by_transaction_ref(
        &mut self,
        tenant: &TenantId,
        reference: &str,
        limit: u32,
    ) -> StoreResult<Vec<Payment>> {
        // Named: for `ORDER BY id` the planner would otherwise walk the tenant's payments by id
        // (payments_by_tenant) and test each one; the few payments of one reference sort cheaply.
        const SQL: &str = "SELECT doc FROM payments INDEXED BY payments_by_transaction_ref WHERE tenant_id = ?1 \
             AND json_extract(doc, '$.transaction_ref') = ?2 AND deleted = 0 ORDER BY id LIMIT ?3";
        self.many_docs(SQL, params![tenant.as_str(), reference, limit])
    }
}

#[async_trait]
impl Tx for SqliteConn {
    async fn insert_tenant(&mut self, tenant: &Tenant) -> StoreResult<()> {
        self.run(
            "INSERT INTO tenants (id, name, settings, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                tenant.id.as_str(),
                tenant.name,
                tenant.settings.to_string(),
                ts(&tenant.created_at),
                ts(&tenant.updated_at)
            ],
        )
        .map(drop)
    }

    async fn update_tenant(&mut self, tenant: &Tenant) -> StoreResult<()> {
        let changed = self.run(
            "UPDATE tenants SET name = ?2, settings = ?3, updated_at = ?4 WHERE id = ?1",
            params![tenant.id.as_str(), tenant.name, tenant.settings.to_string(), ts(&tenant.updated_at)],
        )?;
        if changed == 1 { Ok(()) } else { Err(StoreError::NotFound) }
    }

    async fn insert_api_key(&mut self, key: &ApiKeyRecord) -> StoreResult<()> {
        self.run(
            &format!("INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
            params![
                key.id.as_str(),
                key.tenant_id.as_str(),
                key.secret_hash.as_slice(),
                key.scope.as_str(),
                key.dialect.map(|d| d.as_str()),
                key.label,
                ts(&key.created_at),
                key.expires_at.as_ref().map(ts),
                key.revoked_at.as_ref().map(ts),
            ],
        )
        .map(drop)
    }

    async fn revoke_api_key(&mut self, tenant: &TenantId, id: &KeyId, at: Timestamp) -> StoreResult<bool> {
        let changed = self.run(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?3) WHERE tenant_id = ?1 AND id = ?2",
            params![tenant.as_str(), id.as_str(), ts(&at)],
        )?;
        Ok(changed == 1)
    }

    async fn insert_order(&mut self, order: &Order) -> StoreResult<()> {
        self.run(
            "INSERT INTO orders (id, tenant_id, reference, state, version, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                order.id.as_str(),
                order.tenant_id.as_str(),
                order.reference,
                order.state.as_str(),
                order.version,
                to_doc(order)?
            ],
        )
        .map(drop)
    }

    async fn update_order(&mut self, order: &Order) -> StoreResult<()> {
        let changed = self.run(
            "UPDATE orders SET state = ?3, version = ?4, doc = ?5 WHERE tenant_id = ?1 AND id = ?2 AND version = ?4 - 1",
            params![order.tenant_id.as_str(), order.id.as_str(), order.state.as_str(), order.version, to_doc(order)?],
        )?;
        if changed == 1 { Ok(()) } else { Err(StoreError::VersionConflict) }
    }

    async fn insert_payment(&mut self, payment: &Payment) -> StoreResult<()> {
        let doc = to_doc(payment)?;
        let length = doc.len();
        self.run(
            "INSERT INTO payments (id, tenant_id, order_id, external_id, status, needs_review, deleted, version, doc) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                payment.id.as_str(),
                payment.tenant_id.as_str(),
                payment.order_id.as_str(),
                payment.external_id,
                payment.status.as_str(),
                payment.needs_review,
                payment.deleted_at.is_some(),
                payment.version,
                doc
            ],
        )?;
        self.wrote_payment(payment, length);
        Ok(())
    }

    async fn update_payment(&mut self, payment: &Payment) -> StoreResult<()> {
        let doc = to_doc(payment)?;
        let length = doc.len();
        let changed = self.run(
            "UPDATE payments SET external_id = ?3, status = ?4, needs_review = ?5, deleted = ?6, version = ?7, doc = ?8 \
             WHERE tenant_id = ?1 AND id = ?2 AND version = ?7 - 1",
            params![
                payment.tenant_id.as_str(),
                payment.id.as_str(),
                payment.external_id,
                payment.status.as_str(),
                payment.needs_review,
                payment.deleted_at.is_some(),
                payment.version,
                doc
            ],
        )?;
        if changed != 1 {
            return Err(StoreError::VersionConflict);
        }
        self.wrote_payment(payment, length);
        Ok(())
    }

    async fn insert_method(&mut self, method: &PaymentMethod) -> StoreResult<()> {
        self.run(
            "INSERT INTO payment_methods (id, tenant_id, code, doc) VALUES (?1, ?2, ?3, ?4)",
            params![method.id.as_str(), method.tenant_id.as_str(), method.code, to_doc(method)?],
        )
        .map(drop)
    }

    async fn update_method(&mut self, method: &PaymentMethod) -> StoreResult<()> {
        let changed = self.run(
            "UPDATE payment_methods SET doc = ?3 WHERE tenant_id = ?1 AND id = ?2",
            params![method.tenant_id.as_str(), method.id.as_str(), to_doc(method)?],
        )?;
        if changed == 1 { Ok(()) } else { Err(StoreError::NotFound) }
    }

    fn record(&mut self, actor: &Actor, event: EventDraft) {
        self.queued.push((actor.clone(), event));
    }

    /// The single writer runs one job at a time, so a claim never meets one still running.
    async fn claim_idempotency(&mut self, key: &IdempotencyKey, now: Timestamp) -> StoreResult<bool> {
        let claimed = self.run(
            "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, created_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (tenant_id, key) DO NOTHING",
            params![key.tenant_id.as_str(), key.key, key.fingerprint, ts(&now)],
        )?;
        if claimed == 1 {
            return Ok(true);
        }
        // An unanswered claim can only be one an older paystate left when its process died.
        let taken_over = self.run(
            "UPDATE idempotency_keys SET fingerprint = ?3, created_at = ?4 \
             WHERE tenant_id = ?1 AND key = ?2 AND status IS NULL",
            params![key.tenant_id.as_str(), key.key, key.fingerprint, ts(&now)],
        )?;
        Ok(taken_over == 1)
    }

    async fn answer_idempotency(&mut self, key: &IdempotencyKey, response: &StoredResponse) -> StoreResult<()> {
        let headers = to_doc(&response.headers)?;
        self.run(
            "UPDATE idempotency_keys SET status = ?3, content_type = ?4, headers = ?5, body = ?6 \
             WHERE tenant_id = ?1 AND key = ?2",
            params![key.tenant_id.as_str(), key.key, response.status, response.content_type, headers, response.body],
        )
        .map(drop)
    }

    async fn purge_deliveries(&mut self, before: Timestamp) -> StoreResult<u64> {
        self.run("DELETE FROM webhook_deliveries WHERE state <> 'pending' AND updated_at < ?1", [ts(&before)])
            .map(|n| n as u64)
    }

    async fn purge_idempotency(&mut self, before: Timestamp) -> StoreResult<u64> {
        self.run("DELETE FROM idempotency_keys WHERE created_at < ?1", [ts(&before)]).map(|n| n as u64)
    }

    async fn insert_endpoint(&mut self, record: &EndpointRecord) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        );
        self.run(&sql, rusqlite::params_from_iter(endpoint_values(record)?)).map(drop)
    }

    async fn update_endpoint(&mut self, record: &EndpointRecord) -> StoreResult<()> {
        // The same values as an insert, by position; the creation time (?13) stays as it was.
        let changed = self.run(
            "UPDATE webhook_endpoints SET url = ?3, events = ?4, description = ?5, enabled = ?6, disabled_reason = ?7, \
             disabled_at = ?8, failing_since = ?9, secret = ?10, previous_secret = ?11, previous_expires_at = ?12, \
             updated_at = ?14 WHERE id = ?1 AND tenant_id = ?2",
            rusqlite::params_from_iter(endpoint_values(record)?),
        )?;
        if changed == 1 { Ok(()) } else { Err(StoreError::NotFound) }
    }

    async fn delete_endpoint(&mut self, tenant: &TenantId, id: &EndpointId) -> StoreResult<bool> {
        // Deliveries and their attempts go with it (ON DELETE CASCADE).
        let changed =
            self.run("DELETE FROM webhook_endpoints WHERE tenant_id = ?1 AND id = ?2", [tenant.as_str(), id.as_str()])?;
        Ok(changed == 1)
    }

    async fn insert_delivery(&mut self, delivery: &DeliveryRecord) -> StoreResult<()> {
        self.write_delivery(delivery)
    }

    /// The single writer runs this job alone, so selecting and leasing are one atomic step.
    async fn claim_deliveries(
        &mut self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
        owner: &str,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        let ids: Vec<String> = self
            .conn
            .prepare_cached(
                "SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
                 WHERE d.state = 'pending' AND d.next_attempt_at <= ?1 AND (d.lease_until IS NULL OR d.lease_until <= ?1) \
                 AND e.enabled = 1 ORDER BY d.next_attempt_at, d.id LIMIT ?2",
            )
            .and_then(|mut s| s.query_map(params![ts(&now), limit], |row| row.get(0))?.collect())
            .map_err(map_error)?;
        let mut claimed = Vec::with_capacity(ids.len());
        for id in ids {
            let token = paystate_store::new_lease_token(owner);
            self.run(
                "UPDATE webhook_deliveries SET lease_until = ?2, lease_token = ?3 WHERE id = ?1",
                params![id, ts(&lease_until), token],
            )?;
            let delivery = self.delivery_by_id(&id)?.ok_or(StoreError::NotFound)?;
            let endpoint = self.endpoint_by_id(delivery.endpoint_id.as_str())?.ok_or(StoreError::NotFound)?;
            claimed.push(ClaimedDelivery { delivery, endpoint, lease_token: token });
        }
        Ok(claimed)
    }

    async fn release_leases(&mut self, owner: &str) -> StoreResult<u64> {
        self.run(
            "UPDATE webhook_deliveries SET lease_until = NULL, lease_token = NULL \
             WHERE state = 'pending' AND lease_token LIKE ?1 ESCAPE '\\'",
            [paystate_store::lease_pattern(owner)],
        )
        .map(|n| n as u64)
    }

    async fn record_attempt(&mut self, outcome: &AttemptOutcome) -> StoreResult<bool> {
        let (tenant, attempt) = (outcome.tenant_id.as_str(), &outcome.attempt);
        let delivery = attempt.delivery_id.as_str();
        let logged = self.run(
            "INSERT INTO webhook_attempts (delivery_id, at, status_code, latency_ms, response_excerpt, error) \
             SELECT id, ?3, ?4, ?5, ?6, ?7 FROM webhook_deliveries WHERE id = ?1 AND tenant_id = ?2",
            params![
                delivery,
                tenant,
                ts(&attempt.at),
                attempt.status_code,
                attempt.latency_ms,
                attempt.response_excerpt,
                attempt.error
            ],
        )?;
        if logged == 0 {
            // Deleted with its endpoint meanwhile.
            return Ok(false);
        }
        self.run(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = ?2 WHERE id = ?1",
            params![delivery, ts(&attempt.at)],
        )?;
        let (state, next_at, advance) = match outcome.next {
            NextStep::Succeeded => (DeliveryState::Succeeded, None, 0),
            NextStep::RetryAt(at) => (DeliveryState::Pending, Some(ts(&at)), 1),
            NextStep::Failed => (DeliveryState::Failed, None, 1),
        };
        let moved = self.run(
            "UPDATE webhook_deliveries SET state = ?3, next_attempt_at = ?4, step = step + ?5, lease_until = NULL, \
             lease_token = NULL, updated_at = ?6 WHERE id = ?1 AND lease_token = ?2",
            params![delivery, outcome.lease_token, state.as_str(), next_at, advance, ts(&paystate_store::now())],
        )?;
        Ok(moved == 1)
    }

    async fn retry_delivery(&mut self, tenant: &TenantId, id: &DeliveryId, now: Timestamp) -> StoreResult<bool> {
        let changed = self.run(
            "UPDATE webhook_deliveries SET state = 'pending', step = 0, next_attempt_at = ?3, lease_until = NULL, \
             lease_token = NULL, updated_at = ?3 WHERE tenant_id = ?1 AND id = ?2",
            params![tenant.as_str(), id.as_str(), ts(&now)],
        )?;
        Ok(changed == 1)
    }

    async fn retry_failed_deliveries(
        &mut self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        since: Timestamp,
        now: Timestamp,
    ) -> StoreResult<u64> {
        let changed = self.run(
            "UPDATE webhook_deliveries SET state = 'pending', step = 0, next_attempt_at = ?4, lease_until = NULL, \
             lease_token = NULL, updated_at = ?4 \
             WHERE tenant_id = ?1 AND endpoint_id = ?2 AND state = 'failed' AND created_at >= ?3",
            params![tenant.as_str(), endpoint.as_str(), ts(&since), ts(&now)],
        )?;
        Ok(changed as u64)
    }

    // --- event stream ---

    async fn claim_stream_tenants(
        &mut self,
        sink: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<paystate_store::StreamClaim>> {
        self.claim_stream_rows(sink, now, lease_until, limit)
    }

    async fn advance_stream_cursor(
        &mut self,
        sink: &str,
        tenant: &TenantId,
        lease_token: &str,
        acked_seq: i64,
        lease_until: Timestamp,
    ) -> StoreResult<bool> {
        self.advance_stream_row(sink, tenant, lease_token, acked_seq, lease_until)
    }

    async fn release_stream_cursor(&mut self, sink: &str, tenant: &TenantId, lease_token: &str) -> StoreResult<()> {
        self.release_stream_row(sink, tenant, lease_token)
    }

    // --- console: users and sessions ---
    async fn insert_user(&mut self, user: &UserRecord) -> StoreResult<()> {
        self.insert_console_user(user)
    }

    async fn update_user(&mut self, user: &UserRecord) -> StoreResult<()> {
        self.update_console_user(user)
    }

    async fn insert_session(&mut self, session: &SessionRecord) -> StoreResult<()> {
        self.insert_console_session(session)
    }

    async fn touch_session(&mut self, token_hash: &[u8; 32], at: Timestamp) -> StoreResult<bool> {
        self.touch_console_session(token_hash, at)
    }

    async fn revoke_session(&mut self, token_hash: &[u8; 32], at: Timestamp) -> StoreResult<bool> {
        self.revoke_console_session(token_hash, at)
    }

    async fn revoke_user_sessions(&mut self, tenant: &TenantId, user: &UserId, at: Timestamp) -> StoreResult<u64> {
        self.revoke_console_user_sessions(tenant, user, at)
    }

    async fn purge_sessions(&mut self, before: Timestamp) -> StoreResult<u64> {
        self.purge_console_sessions(before)
    }
}
