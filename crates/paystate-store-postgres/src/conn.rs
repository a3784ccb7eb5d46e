//! One job's connection to PostgreSQL as a paystate [`Reader`] and [`Tx`]: the SQL of the
//! shared store. A read job runs in a REPEATABLE READ READ ONLY transaction (one snapshot), a
//! write job in a READ COMMITTED one, and a lookup in none (each statement stands alone).
//!
//! Inside a write job, reads of a payment or order lock the row (`FOR NO KEY UPDATE`) until the
//! job commits, so two instances updating one payment take turns instead of losing an update.
//! Events the job records are numbered and written by [`PgConn::flush_events`] right before
//! COMMIT, under the tenant's counter row lock, held until COMMIT: numbers follow commit order
//! without gaps. A write job that names its tenant (every batch, and every job of a tenant's
//! lane) takes that lock first, before any payment's: two instances' jobs then never hold one
//! lock each while waiting for the other's.

use crate::error::{check_opt_text, check_text, ends_connection, json_text, map_error};
use crate::pool::{Lease, Pool};
use async_trait::async_trait;
use chrono::SubsecRound;
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
use serde::de::DeserializeOwned;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, FromRow, PgConnection, Postgres};

// The operator console's SQL, in a file of its own (a child module, so it shares the helpers here).
#[path = "users.rs"]
mod users;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// The statement that locks a tenant's event counter (see [`PgConn::lock_event_counter`]).
pub(crate) const LOCK_EVENT_COUNTER: &str = "SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE";

/// The statement that opens a read job's snapshot.
pub(crate) const READ_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

/// What the connection serves.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A read job: one read-only snapshot.
    Read,
    /// A write job (or a batch of them): one transaction that locks what it reads.
    Write,
    /// A read job whose statements each stand alone: no transaction at all.
    Lookup,
}

pub(crate) struct PgConn {
    lease: Lease,
    mode: Mode,
    /// Set when a statement failed other than by PostgreSQL refusing it (an I/O error, a row it
    /// could not decode): the connection may have answers pending, so it is closed, not lent again.
    broken: bool,
    queued: Vec<(Actor, EventDraft)>,
    /// The text of the first statement PostgreSQL refused. After a refusal PostgreSQL ignores
    /// every later statement and turns COMMIT into ROLLBACK without an error, so a job that went
    /// on regardless must not be reported as committed (SQLite, by contrast, keeps the
    /// transaction usable after a failed statement).
    aborted: Option<String>,
    /// Where the job's statements are noted, when its request asked for them.
    log: Option<StatementLog>,
    /// The enabled webhook endpoints of each tenant whose events this transaction wrote, read
    /// once per transaction (a batch of jobs shares it).
    subscribers: HashMap<TenantId, Vec<WebhookEndpoint>>,
}

/// Notes a statement in the job's statement log, when it keeps one.
fn note(log: &Option<StatementLog>, sql: &str) {
    if let Some(log) = log {
        log.note(sql);
    }
}

/// `sqlx::query`, noting the statement in the job's statement log.
fn noted(log: &Option<StatementLog>, sql: &'static str) -> Query<'static, Postgres, PgArguments> {
    note(log, sql);
    sqlx::query(sql)
}

/// `sqlx::query_as`, noting the statement in the job's statement log.
fn noted_as<O: for<'r> FromRow<'r, PgRow>>(
    log: &Option<StatementLog>,
    sql: impl Into<Cow<'static, str>>,
) -> QueryAs<'static, Postgres, O, PgArguments> {
    let sql = sql.into();
    note(log, &sql);
    // Every statement is made of this file's literals (see [`only_if`]); values are bound.
    sqlx::query_as(AssertSqlSafe(sql))
}

/// `sqlx::query_scalar`, noting the statement in the job's statement log.
fn noted_scalar<O>(
    log: &Option<StatementLog>,
    sql: impl Into<Cow<'static, str>>,
) -> QueryScalar<'static, Postgres, O, PgArguments>
where
    (O,): for<'r> FromRow<'r, PgRow>,
{
    let sql = sql.into();
    note(log, &sql);
    sqlx::query_scalar(AssertSqlSafe(sql))
}

/// The condition of a list's optional filter: `condition` when the filter is set, else
/// `unset`, a test that its parameter is NULL, which keeps the parameters' numbering.
///
/// One `($2::text IS NULL OR order_id = $2)` would serve both cases, but PostgreSQL plans a
/// prepared statement once for all values after a few runs (a generic plan), and with such an OR
/// that plan can use no index for the filter: listing the payments of one order then read every
/// payment of the tenant (31 ms with 25,000 of them, in the lock of a write batch). Each
/// combination of filters is a statement of its own instead, prepared once per connection.
fn only_if(set: bool, condition: &'static str, unset: &'static str) -> &'static str {
    if set { condition } else { unset }
}

/// A statement that locks the rows it reads when run inside a write job. A read-only snapshot
/// cannot take row locks (and needs none), so read jobs run the plain statement.
macro_rules! locking {
    ($self:ident, $sql:literal) => {
        if $self.mode == Mode::Write { concat!($sql, " FOR NO KEY UPDATE") } else { $sql }
    };
}

/// The columns of `api_keys`, in the order of [`KeyRow`].
macro_rules! key_columns {
    () => {
        "id, tenant_id, secret_hash, scope, dialect, label, created_at, expires_at, revoked_at"
    };
}

type KeyRow =
    (String, String, Vec<u8>, String, Option<String>, Option<String>, Timestamp, Option<Timestamp>, Option<Timestamp>);

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
    serde_json::Value,
    serde_json::Value,
    Timestamp,
);

/// A time as stored: microseconds, truncated as the SQLite store does (PostgreSQL would round).
fn ts(at: &Timestamp) -> Timestamp {
    at.trunc_subsecs(6)
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
        created_at,
        expires_at,
        revoked_at,
    })
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

/// The columns of `webhook_deliveries`, in the order of [`DeliveryRow`].
macro_rules! delivery_columns {
    () => {
        "id, tenant_id, endpoint_id, event_id, event_type, payload, state, attempts, step, next_attempt_at, \
         last_attempt_at, created_at, updated_at"
    };
}

type EndpointRow = (
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

fn endpoint_record(row: EndpointRow) -> EndpointRecord {
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

type DeliveryRow = (
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

fn delivery_record(row: DeliveryRow) -> StoreResult<DeliveryRecord> {
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

type AttemptRow = (String, Timestamp, Option<i32>, i32, Option<String>, Option<String>);

fn attempt_record(row: AttemptRow) -> AttemptRecord {
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
fn count(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// Whether any of these lookup values holds a NUL byte: no stored row can match one, and
/// PostgreSQL would refuse the statement (aborting a write job's transaction) rather than say so.
fn unmatchable(values: &[&str]) -> bool {
    values.iter().any(|value| value.contains('\0'))
}

/// Page cursors are ids; one with a NUL byte is not a cursor this store handed out.
fn check_cursor(page: &PageRequest) -> StoreResult<()> {
    check_opt_text("after", page.after.as_deref())
}

impl PgConn {
    /// A pooled connection with the job's transaction started as `mode` wants it (a lookup
    /// starts none). The statement is noted by the caller: a batch notes it in the log of each of
    /// its jobs. A connection that turns out dead when BEGIN is sent (nothing of the job has run
    /// yet) is replaced once, and the idle ones with it.
    pub(crate) async fn open(pool: &Arc<Pool>, mode: Mode) -> StoreResult<Self> {
        let lease = pool.acquire().await?;
        let reused = lease.reused();
        match Self::start(lease, mode).await {
            Err(StoreError::Busy) if reused => {
                pool.discard_idle();
                Self::start(pool.acquire().await?, mode).await
            }
            started => started,
        }
    }

    async fn start(lease: Lease, mode: Mode) -> StoreResult<Self> {
        let mut conn = Self {
            lease,
            mode,
            broken: false,
            queued: Vec::new(),
            aborted: None,
            log: None,
            subscribers: HashMap::new(),
        };
        match mode {
            Mode::Read => conn.statement(READ_SNAPSHOT).await?,
            Mode::Write => conn.statement("BEGIN").await?,
            Mode::Lookup => {}
        }
        Ok(conn)
    }

    /// Runs one statement without parameters (transaction control), noted in the job's log.
    async fn control(&mut self, sql: &'static str) -> StoreResult<()> {
        note(&self.log, sql);
        self.statement(sql).await
    }

    async fn statement(&mut self, sql: &'static str) -> StoreResult<()> {
        let done = sqlx::raw_sql(sql).execute(self.conn()).await;
        done.map(drop).map_err(|e| self.failed(e))
    }

    /// Locks the tenant's event counter row until COMMIT, before the job (or the batch's first
    /// job) runs. Every job that records an event locks it anyway (at its first event, until
    /// COMMIT); taking it first orders the locks of every instance's jobs alike: the second waits
    /// for the first instead of each holding a payment the other needs (a deadlock PostgreSQL
    /// would break by failing a job).
    pub(crate) async fn lock_event_counter(&mut self, tenant: &TenantId) -> StoreResult<()> {
        check_text("tenant_id", tenant.as_str())?;
        let query = noted(&self.log, LOCK_EVENT_COUNTER).bind(tenant.as_str());
        self.execute(query).await.map(drop)
    }

    /// Marks where the first job of a batch starts, so that it can fail alone. (Each job notes
    /// its savepoint in its own log, whichever round trip set it.)
    pub(crate) async fn begin_job(&mut self) -> StoreResult<()> {
        self.statement("SAVEPOINT job").await
    }

    /// Keeps the job's writes in the batch's transaction and, when `another` job follows, marks
    /// where it starts, in the same round trip. (The last job's savepoint is left to COMMIT.)
    pub(crate) async fn keep_job(&mut self, another: bool) -> StoreResult<()> {
        if let Some(error) = self.aborted.clone() {
            return Err(StoreError::Backend(format!("a write job went on after a failed statement ({error})")));
        }
        if !another {
            return Ok(());
        }
        note(&self.log, "RELEASE SAVEPOINT job");
        self.statement("RELEASE SAVEPOINT job; SAVEPOINT job").await
    }

    /// Undoes the job's writes (and its locks); the batch's transaction goes on without them,
    /// from the same savepoint, which rolling back to keeps: the next job starts there.
    pub(crate) async fn undo_job(&mut self) -> StoreResult<()> {
        self.queued.clear();
        self.aborted = None;
        self.control("ROLLBACK TO SAVEPOINT job").await
    }

    /// Notes the job's statements in `log` (or in none).
    pub(crate) fn set_log(&mut self, log: Option<StatementLog>) {
        self.log = log;
    }

    /// Notes a statement of a sibling module in the job's statement log.
    pub(crate) fn note_statement(&self, sql: &str) {
        note(&self.log, sql);
    }

    pub(crate) fn conn(&mut self) -> &mut PgConnection {
        &mut self.lease
    }

    /// Maps an error of a statement, remembering that PostgreSQL aborted the transaction, or
    /// that the connection is not to be trusted again.
    pub(crate) fn failed(&mut self, error: sqlx::Error) -> StoreError {
        match &error {
            _ if ends_connection(&error) => {
                // The job answers 503; the cause is for the log (sqlx's text names no password).
                tracing::warn!(%error, "a PostgreSQL connection ended during a job");
                self.broken = true;
            }
            sqlx::Error::Database(_) if self.aborted.is_none() => self.aborted = Some(error.to_string()),
            sqlx::Error::Database(_) | sqlx::Error::RowNotFound => {}
            _ => self.broken = true,
        }
        map_error(error)
    }

    /// Numbers and writes the events the job queued, in the job's transaction. The tenant's
    /// counter row stays locked until COMMIT (the job may have locked it already, see
    /// [`PgConn::lock_event_counter`]), so a concurrent job of the same tenant numbers its events
    /// after this one commits (or rolls back, leaving no gap). Each event gets one webhook
    /// delivery per enabled endpoint of its tenant subscribed to its type, in this same
    /// transaction (the transactional outbox).
    pub(crate) async fn flush_events(&mut self) -> StoreResult<()> {
        for (actor, draft) in std::mem::take(&mut self.queued) {
            let request_body = actor.request_body.as_deref();
            check_text("request_id", &actor.request_id)?;
            check_opt_text("request_body", request_body)?;
            let data = draft.data();
            let (data_text, detail) = (json_text("data", &data)?, json_text("detail", &draft.detail)?);
            let (event_id, created_at) = (EventId::generate(), paystate_store::now());
            let written = noted_scalar::<i64>(
                &self.log,
                "WITH next AS (UPDATE tenants SET event_seq = event_seq + 1 WHERE id = $2 RETURNING event_seq) \
                 INSERT INTO events (id, tenant_id, seq, type, payment_id, order_id, source, actor, request_id, \
                 request_body, data, detail, created_at) \
                 SELECT $1, $2, next.event_seq, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11::jsonb, $12 FROM next \
                 RETURNING seq",
            )
            .bind(event_id.as_str())
            .bind(actor.tenant_id.as_str())
            .bind(draft.kind.as_str())
            .bind(draft.payment_id().map(|id| id.as_str()))
            .bind(draft.order_id().map(|id| id.as_str()))
            .bind(actor.source.as_str())
            .bind(actor.name())
            .bind(&actor.request_id)
            .bind(request_body)
            .bind(data_text)
            .bind(detail)
            .bind(created_at)
            .fetch_optional(self.conn())
            .await;
            let Some(seq) = written.map_err(|e| self.failed(e))? else {
                return Err(StoreError::Backend(format!("an event names the unknown tenant {}", actor.tenant_id)));
            };
            if !self.subscribers.contains_key(&actor.tenant_id) {
                let enabled = self.enabled_endpoints(&actor.tenant_id).await?;
                self.subscribers.insert(actor.tenant_id.clone(), enabled);
            }
            let kind = draft.kind.as_str();
            let wanted: Vec<WebhookEndpoint> =
                self.subscribers[&actor.tenant_id].iter().filter(|e| e.wants(kind)).cloned().collect();
            if wanted.is_empty() {
                continue;
            }
            let payload = paystate_store::event_payload(kind, seq, &created_at, &data);
            for endpoint in &wanted {
                let delivery = paystate_store::new_delivery(endpoint, &event_id, kind, payload.clone(), created_at);
                self.write_delivery(&delivery).await?;
            }
        }
        Ok(())
    }

    async fn enabled_endpoints(&mut self, tenant: &TenantId) -> StoreResult<Vec<WebhookEndpoint>> {
        let rows = noted_as::<EndpointRow>(
            &self.log,
            concat!(
                "SELECT ",
                endpoint_columns!(),
                " FROM webhook_endpoints WHERE tenant_id = $1 AND enabled ORDER BY id"
            ),
        )
        .bind(tenant.as_str())
        .fetch_all(self.conn())
        .await;
        Ok(rows.map_err(|e| self.failed(e))?.into_iter().map(|row| endpoint_record(row).endpoint).collect())
    }

    async fn write_delivery(&mut self, delivery: &DeliveryRecord) -> StoreResult<()> {
        check_text("payload", &delivery.payload)?;
        check_text("event_type", &delivery.event_type)?;
        let query = noted(
            &self.log,
            concat!(
                "INSERT INTO webhook_deliveries (",
                delivery_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            ),
        )
        .bind(delivery.id.as_str())
        .bind(delivery.tenant_id.as_str())
        .bind(delivery.endpoint_id.as_str())
        .bind(delivery.event_id.as_str())
        .bind(&delivery.event_type)
        .bind(&delivery.payload)
        .bind(delivery.state.as_str())
        .bind(count(delivery.attempts))
        .bind(count(delivery.step))
        .bind(delivery.next_attempt_at.as_ref().map(ts))
        .bind(delivery.last_attempt_at.as_ref().map(ts))
        .bind(ts(&delivery.created_at))
        .bind(ts(&delivery.updated_at));
        self.execute(query).await.map(drop)
    }

    /// Commits, unless a statement of the job failed: PostgreSQL would then roll back while
    /// answering COMMIT as if it had worked.
    pub(crate) async fn commit(mut self) -> StoreResult<()> {
        if let Some(error) = self.aborted.take() {
            self.rollback().await;
            return Err(StoreError::Backend(format!(
                "the write job went on after a failed statement ({error}); PostgreSQL rolled it back"
            )));
        }
        let committed = self.control("COMMIT").await;
        // A refused COMMIT may have left the transaction open (an answer of an abandoned
        // statement comes back in its place): the pool then rolls back before lending it again.
        self.settle(committed.is_ok());
        committed
    }

    /// Ends the transaction without keeping anything (a read job's always ends so).
    pub(crate) async fn rollback(mut self) {
        let ended = self.control("ROLLBACK").await;
        self.settle(ended.is_ok());
    }

    /// Hands the connection of a lookup back (it opened no transaction).
    pub(crate) fn finish(mut self) {
        self.settle(true);
    }

    /// Tells the pool how the connection was left: broken (closed), or with nothing pending
    /// when `ended` (its transaction is over: lent again as it is). Otherwise, as when a job is
    /// dropped half way and never gets here, the pool rolls back before lending it again.
    fn settle(&mut self, ended: bool) {
        if self.broken {
            self.lease.broken();
        } else if ended {
            self.lease.settled();
        }
    }

    /// One document by tenant and key; a key holding NUL matches nothing.
    async fn one_doc<T: DeserializeOwned + Send + Unpin + 'static>(
        &mut self,
        sql: &'static str,
        tenant: &TenantId,
        key: &str,
    ) -> StoreResult<Option<T>> {
        if unmatchable(&[tenant.as_str(), key]) {
            return Ok(None);
        }
        let found =
            noted_scalar::<Json<T>>(&self.log, sql).bind(tenant.as_str()).bind(key).fetch_optional(self.conn()).await;
        Ok(found.map_err(|e| self.failed(e))?.map(|Json(doc)| doc))
    }

    async fn execute(
        &mut self,
        query: sqlx::query::Query<'_, Postgres, sqlx::postgres::PgArguments>,
    ) -> StoreResult<u64> {
        let done = query.execute(self.conn()).await;
        Ok(done.map_err(|e| self.failed(e))?.rows_affected())
    }
}

#[async_trait]
impl Reader for PgConn {
    async fn tenant(&mut self, id: &TenantId) -> StoreResult<Option<Tenant>> {
        if unmatchable(&[id.as_str()]) {
            return Ok(None);
        }
        let row = noted_as::<(String, String, serde_json::Value, Timestamp, Timestamp)>(
            &self.log,
            "SELECT id, name, settings, created_at, updated_at FROM tenants WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(self.conn())
        .await;
        let row = row.map_err(|e| self.failed(e))?;
        Ok(row.map(|(id, name, settings, created_at, updated_at)| Tenant {
            id: TenantId::from_trusted(id),
            name,
            settings,
            created_at,
            updated_at,
        }))
    }

    async fn api_key(&mut self, id: &KeyId) -> StoreResult<Option<ApiKeyRecord>> {
        if unmatchable(&[id.as_str()]) {
            return Ok(None);
        }
        let row = noted_as::<KeyRow>(&self.log, concat!("SELECT ", key_columns!(), " FROM api_keys WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(self.conn())
            .await;
        row.map_err(|e| self.failed(e))?.map(key_record).transpose()
    }

    async fn api_keys(&mut self, tenant: &TenantId) -> StoreResult<Vec<ApiKeyRecord>> {
        if unmatchable(&[tenant.as_str()]) {
            return Ok(Vec::new());
        }
        let rows = noted_as::<KeyRow>(
            &self.log,
            concat!("SELECT ", key_columns!(), " FROM api_keys WHERE tenant_id = $1 ORDER BY id"),
        )
        .bind(tenant.as_str())
        .fetch_all(self.conn())
        .await;
        rows.map_err(|e| self.failed(e))?.into_iter().map(key_record).collect()
    }

    async fn order(&mut self, tenant: &TenantId, id: &OrderId) -> StoreResult<Option<Order>> {
        let sql = locking!(self, "SELECT doc FROM orders WHERE tenant_id = $1 AND id = $2");
        self.one_doc(sql, tenant, id.as_str()).await
    }

    async fn order_by_reference(&mut self, tenant: &TenantId, reference: &str) -> StoreResult<Option<Order>> {
        let sql = locking!(self, "SELECT doc FROM orders WHERE tenant_id = $1 AND reference = $2");
        self.one_doc(sql, tenant, reference).await
    }

    async fn orders(&mut self, tenant: &TenantId, filter: &OrderFilter, page: &PageRequest) -> StoreResult<Vec<Order>> {
        check_cursor(page)?;
        if unmatchable(&[tenant.as_str(), filter.reference.as_deref().unwrap_or_default()]) {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT doc FROM orders WHERE tenant_id = $1 AND {} AND {} AND {} ORDER BY id LIMIT $5",
            only_if(filter.reference.is_some(), "reference = $2", "$2::text IS NULL"),
            only_if(filter.state.is_some(), "state = $3", "$3::text IS NULL"),
            only_if(page.after.is_some(), "id > $4", "$4::text IS NULL"),
        );
        let docs = noted_scalar::<Json<Order>>(&self.log, sql)
            .bind(tenant.as_str())
            .bind(filter.reference.as_deref())
            .bind(filter.state.map(|s| s.as_str()))
            .bind(page.after.as_deref())
            .bind(i64::from(page.limit))
            .fetch_all(self.conn())
            .await;
        Ok(docs.map_err(|e| self.failed(e))?.into_iter().map(|Json(doc)| doc).collect())
    }

    async fn payment(&mut self, tenant: &TenantId, id: &PaymentId) -> StoreResult<Option<Payment>> {
        let sql = locking!(self, "SELECT doc FROM payments WHERE tenant_id = $1 AND id = $2");
        self.one_doc(sql, tenant, id.as_str()).await
    }

    async fn payment_by_external_id(&mut self, tenant: &TenantId, external_id: &str) -> StoreResult<Option<Payment>> {
        let sql = locking!(self, "SELECT doc FROM payments WHERE tenant_id = $1 AND external_id = $2");
        self.one_doc(sql, tenant, external_id).await
    }

    async fn payments(
        &mut self,
        tenant: &TenantId,
        filter: &PaymentFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<Payment>> {
        check_cursor(page)?;
        let order_id = filter.order_id.as_ref().map(|id| id.as_str());
        if unmatchable(&[tenant.as_str(), order_id.unwrap_or_default()]) {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT doc FROM payments WHERE tenant_id = $1 AND {} AND {} AND {} AND ($5 OR NOT deleted) AND {} \
             ORDER BY id LIMIT $7",
            only_if(order_id.is_some(), "order_id = $2", "$2::text IS NULL"),
            only_if(filter.status.is_some(), "status = $3", "$3::text IS NULL"),
            only_if(filter.needs_review.is_some(), "needs_review = $4", "$4::boolean IS NULL"),
            only_if(page.after.is_some(), "id > $6", "$6::text IS NULL"),
        );
        let docs = noted_scalar::<Json<Payment>>(&self.log, sql)
            .bind(tenant.as_str())
            .bind(order_id)
            .bind(filter.status.map(|s| s.as_str()))
            .bind(filter.needs_review)
            .bind(filter.include_deleted)
            .bind(page.after.as_deref())
            .bind(i64::from(page.limit))
            .fetch_all(self.conn())
            .await;
        Ok(docs.map_err(|e| self.failed(e))?.into_iter().map(|Json(doc)| doc).collect())
    }

    async fn method(&mut self, tenant: &TenantId, id: &MethodId) -> StoreResult<Option<PaymentMethod>> {
        self.one_doc("SELECT doc FROM payment_methods WHERE tenant_id = $1 AND id = $2", tenant, id.as_str()).await
    }

    async fn methods(&mut self, tenant: &TenantId) -> StoreResult<Vec<PaymentMethod>> {
        if unmatchable(&[tenant.as_str()]) {
            return Ok(Vec::new());
        }
        let docs = noted_scalar::<Json<PaymentMethod>>(
            &self.log,
            "SELECT doc FROM payment_methods WHERE tenant_id = $1 ORDER BY id",
        )
        .bind(tenant.as_str())
        .fetch_all(self.conn())
        .await;
        Ok(docs.map_err(|e| self.failed(e))?.into_iter().map(|Json(doc)| doc).collect())
    }

    async fn events(&mut self, tenant: &TenantId, filter: &EventFilter) -> StoreResult<Vec<StoredEvent>> {
        let payment_id = filter.payment_id.as_ref().map(|p| p.as_str());
        if unmatchable(&[tenant.as_str(), payment_id.unwrap_or_default()]) {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT id, seq, type, payment_id, order_id, source, actor, request_id, request_body, data, detail, \
             created_at FROM events WHERE tenant_id = $1 AND seq > $2 AND {} ORDER BY seq LIMIT $4",
            only_if(payment_id.is_some(), "payment_id = $3", "$3::text IS NULL"),
        );
        let rows = noted_as::<EventRow>(&self.log, sql)
            .bind(tenant.as_str())
            .bind(filter.after_seq)
            .bind(payment_id)
            .bind(i64::from(filter.limit))
            .fetch_all(self.conn())
            .await;
        rows.map_err(|e| self.failed(e))?.into_iter().map(event_record).collect()
    }
    async fn endpoint(&mut self, tenant: &TenantId, id: &EndpointId) -> StoreResult<Option<EndpointRecord>> {
        if unmatchable(&[tenant.as_str(), id.as_str()]) {
            return Ok(None);
        }
        let sql = if self.mode == Mode::Write {
            concat!(
                "SELECT ",
                endpoint_columns!(),
                " FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2 FOR NO KEY UPDATE"
            )
        } else {
            concat!("SELECT ", endpoint_columns!(), " FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2")
        };
        let row = sqlx::query_as::<_, EndpointRow>(sql)
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(self.conn())
            .await;
        Ok(row.map_err(|e| self.failed(e))?.map(endpoint_record))
    }

    async fn endpoints(&mut self, tenant: &TenantId, page: &PageRequest) -> StoreResult<Vec<EndpointRecord>> {
        check_cursor(page)?;
        if unmatchable(&[tenant.as_str()]) {
            return Ok(Vec::new());
        }
        let sql = format!(
            concat!(
                "SELECT ",
                endpoint_columns!(),
                " FROM webhook_endpoints WHERE tenant_id = $1 AND {} ORDER BY id LIMIT $3"
            ),
            only_if(page.after.is_some(), "id > $2", "$2::text IS NULL"),
        );
        let rows = sqlx::query_as::<_, EndpointRow>(AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(page.after.as_deref())
            .bind(i64::from(page.limit))
            .fetch_all(self.conn())
            .await;
        Ok(rows.map_err(|e| self.failed(e))?.into_iter().map(endpoint_record).collect())
    }

    async fn delivery(&mut self, tenant: &TenantId, id: &DeliveryId) -> StoreResult<Option<DeliveryRecord>> {
        if unmatchable(&[tenant.as_str(), id.as_str()]) {
            return Ok(None);
        }
        let row = sqlx::query_as::<_, DeliveryRow>(concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM webhook_deliveries WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_str())
        .bind(id.as_str())
        .fetch_optional(self.conn())
        .await;
        row.map_err(|e| self.failed(e))?.map(delivery_record).transpose()
    }

    async fn deliveries(
        &mut self,
        tenant: &TenantId,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        check_cursor(page)?;
        let endpoint = filter.endpoint_id.as_ref().map(|id| id.as_str());
        let event = filter.event_id.as_ref().map(|id| id.as_str());
        if unmatchable(&[tenant.as_str(), endpoint.unwrap_or_default(), event.unwrap_or_default()]) {
            return Ok(Vec::new());
        }
        let sql = format!(
            concat!(
                "SELECT ",
                delivery_columns!(),
                " FROM webhook_deliveries WHERE tenant_id = $1 AND {} AND {} AND {} AND {} ORDER BY id LIMIT $6"
            ),
            only_if(endpoint.is_some(), "endpoint_id = $2", "$2::text IS NULL"),
            only_if(event.is_some(), "event_id = $3", "$3::text IS NULL"),
            only_if(filter.state.is_some(), "state = $4", "$4::text IS NULL"),
            only_if(page.after.is_some(), "id > $5", "$5::text IS NULL"),
        );
        let rows = sqlx::query_as::<_, DeliveryRow>(AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(endpoint)
            .bind(event)
            .bind(filter.state.map(|s| s.as_str()))
            .bind(page.after.as_deref())
            .bind(i64::from(page.limit))
            .fetch_all(self.conn())
            .await;
        rows.map_err(|e| self.failed(e))?.into_iter().map(delivery_record).collect()
    }

    async fn delivery_attempts(&mut self, tenant: &TenantId, ids: &[DeliveryId]) -> StoreResult<Vec<AttemptRecord>> {
        let ids: Vec<&str> = ids.iter().map(|id| id.as_str()).filter(|id| !unmatchable(&[id])).collect();
        if unmatchable(&[tenant.as_str()]) || ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query_as::<_, AttemptRow>(
            "SELECT a.delivery_id, a.at, a.status_code, a.latency_ms, a.response_excerpt, a.error \
             FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id \
             WHERE d.tenant_id = $1 AND a.delivery_id = ANY($2) ORDER BY a.delivery_id, a.id",
        )
        .bind(tenant.as_str())
        .bind(ids)
        .fetch_all(self.conn())
        .await;
        Ok(rows.map_err(|e| self.failed(e))?.into_iter().map(attempt_record).collect())
    }

    async fn idempotency_record(&mut self, tenant: &TenantId, key: &str) -> StoreResult<Option<IdempotencyRecord>> {
        type Row = (String, Option<i32>, Option<String>, Option<serde_json::Value>, Option<Vec<u8>>, Timestamp);
        if unmatchable(&[tenant.as_str(), key]) {
            return Ok(None);
        }
        let row = noted_as::<Row>(
            &self.log,
            "SELECT fingerprint, status, content_type, headers, body, created_at FROM idempotency_keys \
             WHERE tenant_id = $1 AND key = $2",
        )
        .bind(tenant.as_str())
        .bind(key)
        .fetch_optional(self.conn())
        .await;
        let Some((fingerprint, status, content_type, headers, body, created_at)) = row.map_err(|e| self.failed(e))?
        else {
            return Ok(None);
        };
        let response = match (status, content_type, body) {
            (Some(status), Some(content_type), Some(body)) => {
                let status =
                    u16::try_from(status).map_err(|_| StoreError::Backend(format!("bad stored status {status}")))?;
                let headers = match headers {
                    Some(headers) => serde_json::from_value(headers)
                        .map_err(|e| StoreError::Backend(format!("bad stored headers: {e}")))?,
                    None => Vec::new(),
                };
                Some(StoredResponse { status, content_type, headers, body })
            }
            _ => None,
        };
        Ok(Some(IdempotencyRecord { fingerprint, response, created_at }))
    }

    async fn outbox_stats(&mut self) -> StoreResult<OutboxStats> {
        let row = sqlx::query_as::<_, (i64, Option<Timestamp>)>(
            "SELECT COUNT(*), MIN(d.created_at) FROM webhook_deliveries d \
             JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.state = 'pending' AND e.enabled",
        )
        .fetch_one(self.conn())
        .await;
        let (pending, oldest_pending_at) = row.map_err(|e| self.failed(e))?;
        Ok(OutboxStats { pending: u64::try_from(pending).unwrap_or_default(), oldest_pending_at })
    }

    // --- event stream ---

    async fn stream_backlog(&mut self, sink: &str) -> StoreResult<paystate_store::StreamBacklog> {
        self.stream_backlog_rows(sink).await
    }

    // --- console: users and sessions ---
    async fn user(&mut self, tenant: &TenantId, id: &UserId) -> StoreResult<Option<UserRecord>> {
        self.console_user(tenant, id).await
    }

    async fn users_with_email(&mut self, email: &str) -> StoreResult<Vec<UserRecord>> {
        self.console_users_with_email(email).await
    }

    async fn users(&mut self, tenant: &TenantId) -> StoreResult<Vec<UserRecord>> {
        self.console_users(tenant).await
    }

    async fn session(&mut self, token_hash: &[u8; 32]) -> StoreResult<Option<SessionRecord>> {
        self.console_session(token_hash).await
    }

    async fn payment_counts(&mut self, tenant: &TenantId) -> StoreResult<Vec<StatusCount>> {
        self.console_payment_counts(tenant).await
    }

    async fn event_counts(&mut self, tenant: &TenantId, since: Timestamp) -> StoreResult<Vec<EventCount>> {
        self.console_event_counts(tenant, since).await
    }

    async fn payments_matching(
        &mut self,
        tenant: &TenantId,
        search: &PaymentSearch,
        page: &PageRequest,
    ) -> StoreResult<Vec<Payment>> {
        self.console_payments_matching(tenant, search, page).await
    }

    async fn payments_by_transaction_ref(
        &mut self,
        tenant: &TenantId,
        reference: &str,
        limit: u32,
    ) -> StoreResult<Vec<Payment>> {
        // PostgreSQL text holds no NUL: such a reference matches nothing.
        if unmatchable(&[tenant.as_str(), reference]) {
            return Ok(Vec::new());
        }
        // The expression is the index's (payments_by_transaction_ref), so the lookup is a seek.
        let sql = "SELECT doc FROM payments WHERE tenant_id = $1 AND doc->>'transaction_ref' = $2 AND NOT deleted \
                   ORDER BY id LIMIT $3";
        let rows = noted_scalar::<Json<Payment>>(&self.log, sql)
            .bind(tenant.as_str())
            .bind(reference)
            .bind(i64::from(limit))
            .fetch_all(self.conn())
            .await;
        Ok(rows.map_err(|e| self.failed(e))?.into_iter().map(|Json(p)| p).collect())
    }
}

#[async_trait]
impl Tx for PgConn {
    async fn insert_tenant(&mut self, tenant: &Tenant) -> StoreResult<()> {
        check_text("id", tenant.id.as_str())?;
        check_text("name", &tenant.name)?;
        let settings = json_text("settings", &tenant.settings)?;
        let query = noted(
            &self.log,
            "INSERT INTO tenants (id, name, settings, created_at, updated_at) VALUES ($1, $2, $3::jsonb, $4, $5)",
        )
        .bind(tenant.id.as_str())
        .bind(&tenant.name)
        .bind(settings)
        .bind(ts(&tenant.created_at))
        .bind(ts(&tenant.updated_at));
        self.execute(query).await.map(drop)
    }

    async fn update_tenant(&mut self, tenant: &Tenant) -> StoreResult<()> {
        check_text("id", tenant.id.as_str())?;
        check_text("name", &tenant.name)?;
        let settings = json_text("settings", &tenant.settings)?;
        let query =
            noted(&self.log, "UPDATE tenants SET name = $2, settings = $3::jsonb, updated_at = $4 WHERE id = $1")
                .bind(tenant.id.as_str())
                .bind(&tenant.name)
                .bind(settings)
                .bind(ts(&tenant.updated_at));
        if self.execute(query).await? == 1 { Ok(()) } else { Err(StoreError::NotFound) }
    }

    async fn insert_api_key(&mut self, key: &ApiKeyRecord) -> StoreResult<()> {
        check_text("id", key.id.as_str())?;
        check_text("tenant_id", key.tenant_id.as_str())?;
        check_opt_text("label", key.label.as_deref())?;
        let query = noted(
            &self.log,
            concat!("INSERT INTO api_keys (", key_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"),
        )
        .bind(key.id.as_str())
        .bind(key.tenant_id.as_str())
        .bind(key.secret_hash.as_slice())
        .bind(key.scope.as_str())
        .bind(key.dialect.map(|d| d.as_str()))
        .bind(key.label.as_deref())
        .bind(ts(&key.created_at))
        .bind(key.expires_at.as_ref().map(ts))
        .bind(key.revoked_at.as_ref().map(ts));
        self.execute(query).await.map(drop)
    }

    async fn revoke_api_key(&mut self, tenant: &TenantId, id: &KeyId, at: Timestamp) -> StoreResult<bool> {
        if unmatchable(&[tenant.as_str(), id.as_str()]) {
            return Ok(false);
        }
        let query = noted(
            &self.log,
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.as_str())
        .bind(id.as_str())
        .bind(ts(&at));
        Ok(self.execute(query).await? == 1)
    }

    async fn insert_order(&mut self, order: &Order) -> StoreResult<()> {
        check_text("id", order.id.as_str())?;
        check_text("tenant_id", order.tenant_id.as_str())?;
        check_text("reference", &order.reference)?;
        let doc = json_text("order", order)?;
        let query = noted(
            &self.log,
            "INSERT INTO orders (id, tenant_id, reference, state, version, doc) VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
        )
        .bind(order.id.as_str())
        .bind(order.tenant_id.as_str())
        .bind(&order.reference)
        .bind(order.state.as_str())
        .bind(order.version)
        .bind(doc);
        self.execute(query).await.map(drop)
    }

    async fn update_order(&mut self, order: &Order) -> StoreResult<()> {
        check_text("id", order.id.as_str())?;
        check_text("tenant_id", order.tenant_id.as_str())?;
        let doc = json_text("order", order)?;
        let query = noted(
            &self.log,
            "UPDATE orders SET state = $3, version = $4, doc = $5::jsonb WHERE tenant_id = $1 AND id = $2 AND version = $4 - 1",
        )
        .bind(order.tenant_id.as_str())
        .bind(order.id.as_str())
        .bind(order.state.as_str())
        .bind(order.version)
        .bind(doc);
        if self.execute(query).await? == 1 { Ok(()) } else { Err(StoreError::VersionConflict) }
    }

    async fn insert_payment(&mut self, payment: &Payment) -> StoreResult<()> {
        check_text("id", payment.id.as_str())?;
        check_text("tenant_id", payment.tenant_id.as_str())?;
        check_text("order_id", payment.order_id.as_str())?;
        check_opt_text("external_id", payment.external_id.as_deref())?;
        let doc = json_text("payment", payment)?;
        let query = noted(
            &self.log,
            "INSERT INTO payments (id, tenant_id, order_id, external_id, status, needs_review, deleted, version, doc) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)",
        )
        .bind(payment.id.as_str())
        .bind(payment.tenant_id.as_str())
        .bind(payment.order_id.as_str())
        .bind(payment.external_id.as_deref())
        .bind(payment.status.as_str())
        .bind(payment.needs_review)
        .bind(payment.deleted_at.is_some())
        .bind(payment.version)
        .bind(doc);
        self.execute(query).await.map(drop)
    }

    async fn update_payment(&mut self, payment: &Payment) -> StoreResult<()> {
        check_text("id", payment.id.as_str())?;
        check_text("tenant_id", payment.tenant_id.as_str())?;
        check_opt_text("external_id", payment.external_id.as_deref())?;
        let doc = json_text("payment", payment)?;
        let query = noted(
            &self.log,
            "UPDATE payments SET external_id = $3, status = $4, needs_review = $5, deleted = $6, version = $7, doc = $8::jsonb \
             WHERE tenant_id = $1 AND id = $2 AND version = $7 - 1",
        )
        .bind(payment.tenant_id.as_str())
        .bind(payment.id.as_str())
        .bind(payment.external_id.as_deref())
        .bind(payment.status.as_str())
        .bind(payment.needs_review)
        .bind(payment.deleted_at.is_some())
        .bind(payment.version)
        .bind(doc);
        if self.execute(query).await? == 1 { Ok(()) } else { Err(StoreError::VersionConflict) }
    }

    async fn insert_method(&mut self, method: &PaymentMethod) -> StoreResult<()> {
        check_text("id", method.id.as_str())?;
        check_text("tenant_id", method.tenant_id.as_str())?;
        check_text("code", &method.code)?;
        let doc = json_text("method", method)?;
        let query =
            noted(&self.log, "INSERT INTO payment_methods (id, tenant_id, code, doc) VALUES ($1, $2, $3, $4::jsonb)")
                .bind(method.id.as_str())
                .bind(method.tenant_id.as_str())
                .bind(&method.code)
                .bind(doc);
        self.execute(query).await.map(drop)
    }

    async fn update_method(&mut self, method: &PaymentMethod) -> StoreResult<()> {
        check_text("id", method.id.as_str())?;
        check_text("tenant_id", method.tenant_id.as_str())?;
        let doc = json_text("method", method)?;
        let query = noted(&self.log, "UPDATE payment_methods SET doc = $3::jsonb WHERE tenant_id = $1 AND id = $2")
            .bind(method.tenant_id.as_str())
            .bind(method.id.as_str())
            .bind(doc);
        if self.execute(query).await? == 1 { Ok(()) } else { Err(StoreError::NotFound) }
    }

    fn record(&mut self, actor: &Actor, event: EventDraft) {
        self.queued.push((actor.clone(), event));
    }

    /// `ON CONFLICT DO NOTHING` waits for a concurrent claimer of the key to commit or roll
    /// back: two instances racing for one key see one winner, and the loser finds it answered.
    async fn claim_idempotency(&mut self, key: &IdempotencyKey, now: Timestamp) -> StoreResult<bool> {
        check_text("tenant_id", key.tenant_id.as_str())?;
        check_text("idempotency key", &key.key)?;
        check_text("fingerprint", &key.fingerprint)?;
        let query = noted(
            &self.log,
            "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, key) DO NOTHING",
        )
        .bind(key.tenant_id.as_str())
        .bind(&key.key)
        .bind(&key.fingerprint)
        .bind(ts(&now));
        if self.execute(query).await? == 1 {
            return Ok(true);
        }
        // An unanswered claim can only be one an older paystate left when its process died.
        let query = noted(
            &self.log,
            "UPDATE idempotency_keys SET fingerprint = $3, created_at = $4 \
             WHERE tenant_id = $1 AND key = $2 AND status IS NULL",
        )
        .bind(key.tenant_id.as_str())
        .bind(&key.key)
        .bind(&key.fingerprint)
        .bind(ts(&now));
        Ok(self.execute(query).await? == 1)
    }

    async fn answer_idempotency(&mut self, key: &IdempotencyKey, response: &StoredResponse) -> StoreResult<()> {
        check_text("content_type", &response.content_type)?;
        let headers = json_text("headers", &response.headers)?;
        let query = noted(
            &self.log,
            "UPDATE idempotency_keys SET status = $3, content_type = $4, headers = $5::jsonb, body = $6 \
             WHERE tenant_id = $1 AND key = $2",
        )
        .bind(key.tenant_id.as_str())
        .bind(&key.key)
        .bind(i32::from(response.status))
        .bind(&response.content_type)
        .bind(headers)
        .bind(response.body.as_slice());
        self.execute(query).await.map(drop)
    }

    async fn purge_deliveries(&mut self, before: Timestamp) -> StoreResult<u64> {
        let query = noted(&self.log, "DELETE FROM webhook_deliveries WHERE state <> 'pending' AND updated_at < $1")
            .bind(ts(&before));
        self.execute(query).await
    }

    async fn purge_idempotency(&mut self, before: Timestamp) -> StoreResult<u64> {
        let query = noted(&self.log, "DELETE FROM idempotency_keys WHERE created_at < $1").bind(ts(&before));
        self.execute(query).await
    }

    async fn insert_endpoint(&mut self, record: &EndpointRecord) -> StoreResult<()> {
        let e = &record.endpoint;
        check_text("url", &e.url)?;
        check_opt_text("description", e.description.as_deref())?;
        let events = json_text("events", &e.events)?;
        let query = sqlx::query(concat!(
            "INSERT INTO webhook_endpoints (",
            endpoint_columns!(),
            ") VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
        .bind(e.id.as_str())
        .bind(e.tenant_id.as_str())
        .bind(&e.url)
        .bind(events)
        .bind(e.description.as_deref())
        .bind(e.enabled)
        .bind(e.disabled_reason.as_deref())
        .bind(e.disabled_at.as_ref().map(ts))
        .bind(e.failing_since.as_ref().map(ts))
        .bind(record.secret.as_slice())
        .bind(record.previous_secret.as_deref())
        .bind(record.previous_expires_at.as_ref().map(ts))
        .bind(ts(&e.created_at))
        .bind(ts(&e.updated_at));
        self.execute(query).await.map(drop)
    }

    async fn update_endpoint(&mut self, record: &EndpointRecord) -> StoreResult<()> {
        let e = &record.endpoint;
        check_text("url", &e.url)?;
        check_opt_text("description", e.description.as_deref())?;
        let events = json_text("events", &e.events)?;
        let query = sqlx::query(
            "UPDATE webhook_endpoints SET url = $3, events = $4::jsonb, description = $5, enabled = $6, \
             disabled_reason = $7, disabled_at = $8, failing_since = $9, secret = $10, previous_secret = $11, \
             previous_expires_at = $12, updated_at = $13 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(e.tenant_id.as_str())
        .bind(e.id.as_str())
        .bind(&e.url)
        .bind(events)
        .bind(e.description.as_deref())
        .bind(e.enabled)
        .bind(e.disabled_reason.as_deref())
        .bind(e.disabled_at.as_ref().map(ts))
        .bind(e.failing_since.as_ref().map(ts))
        .bind(record.secret.as_slice())
        .bind(record.previous_secret.as_deref())
        .bind(record.previous_expires_at.as_ref().map(ts))
        .bind(ts(&e.updated_at));
        if self.execute(query).await? == 1 { Ok(()) } else { Err(StoreError::NotFound) }
    }

    async fn delete_endpoint(&mut self, tenant: &TenantId, id: &EndpointId) -> StoreResult<bool> {
        if unmatchable(&[tenant.as_str(), id.as_str()]) {
            return Ok(false);
        }
        // Deliveries and their attempts go with it (ON DELETE CASCADE).
        let query = sqlx::query("DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str());
        Ok(self.execute(query).await? == 1)
    }

    async fn insert_delivery(&mut self, delivery: &DeliveryRecord) -> StoreResult<()> {
        self.write_delivery(delivery).await
    }

    /// `FOR UPDATE SKIP LOCKED`: concurrent claimers each lock and lease different rows, and a
    /// row another claimer leased and committed no longer qualifies when re-checked.
    async fn claim_deliveries(
        &mut self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
        owner: &str,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        check_text("owner", owner)?;
        let leased = sqlx::query_as::<_, (String, String)>(
            "WITH due AS ( \
                 SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
                 WHERE d.state = 'pending' AND d.next_attempt_at <= $1 \
                 AND (d.lease_until IS NULL OR d.lease_until <= $1) AND e.enabled \
                 ORDER BY d.next_attempt_at, d.id LIMIT $3 FOR UPDATE OF d SKIP LOCKED) \
             UPDATE webhook_deliveries w SET lease_until = $2, lease_token = $4 || '.' || gen_random_uuid()::text \
             FROM due WHERE w.id = due.id RETURNING w.id, w.lease_token",
        )
        .bind(ts(&now))
        .bind(ts(&lease_until))
        .bind(i64::from(limit))
        .bind(owner)
        .fetch_all(self.conn())
        .await;
        let leased = leased.map_err(|e| self.failed(e))?;
        if leased.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = leased.iter().map(|(id, _)| id.as_str()).collect();
        let rows = sqlx::query_as::<_, DeliveryRow>(concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM webhook_deliveries WHERE id = ANY($1) ORDER BY next_attempt_at, id"
        ))
        .bind(&ids)
        .fetch_all(self.conn())
        .await;
        let deliveries = rows.map_err(|e| self.failed(e))?;
        let endpoint_rows = sqlx::query_as::<_, EndpointRow>(concat!(
            "SELECT ",
            endpoint_columns!(),
            " FROM webhook_endpoints WHERE id IN (SELECT endpoint_id FROM webhook_deliveries WHERE id = ANY($1))"
        ))
        .bind(&ids)
        .fetch_all(self.conn())
        .await;
        let endpoints: HashMap<EndpointId, EndpointRecord> = endpoint_rows
            .map_err(|e| self.failed(e))?
            .into_iter()
            .map(|row| {
                let record = endpoint_record(row);
                (record.endpoint.id.clone(), record)
            })
            .collect();
        let tokens: HashMap<&str, &str> = leased.iter().map(|(id, token)| (id.as_str(), token.as_str())).collect();
        let mut claimed = Vec::with_capacity(deliveries.len());
        for row in deliveries {
            let delivery = delivery_record(row)?;
            let endpoint = endpoints.get(&delivery.endpoint_id).cloned().ok_or(StoreError::NotFound)?;
            let lease_token = tokens.get(delivery.id.as_str()).copied().unwrap_or_default().to_owned();
            claimed.push(ClaimedDelivery { delivery, endpoint, lease_token });
        }
        Ok(claimed)
    }

    async fn release_leases(&mut self, owner: &str) -> StoreResult<u64> {
        check_text("owner", owner)?;
        let query = noted(
            &self.log,
            "UPDATE webhook_deliveries SET lease_until = NULL, lease_token = NULL \
             WHERE state = 'pending' AND lease_token LIKE $1 ESCAPE '\\'",
        )
        .bind(paystate_store::lease_pattern(owner));
        self.execute(query).await
    }

    async fn record_attempt(&mut self, outcome: &AttemptOutcome) -> StoreResult<bool> {
        let attempt = &outcome.attempt;
        check_opt_text("response_excerpt", attempt.response_excerpt.as_deref())?;
        check_opt_text("error", attempt.error.as_deref())?;
        let query = sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, at, status_code, latency_ms, response_excerpt, error) \
             SELECT id, $3, $4, $5, $6, $7 FROM webhook_deliveries WHERE id = $1 AND tenant_id = $2",
        )
        .bind(attempt.delivery_id.as_str())
        .bind(outcome.tenant_id.as_str())
        .bind(ts(&attempt.at))
        .bind(attempt.status_code.map(i32::from))
        .bind(count(attempt.latency_ms))
        .bind(attempt.response_excerpt.as_deref())
        .bind(attempt.error.as_deref());
        if self.execute(query).await? == 0 {
            // Deleted with its endpoint meanwhile.
            return Ok(false);
        }
        let (state, next_at, advance) = match outcome.next {
            NextStep::Succeeded => (DeliveryState::Succeeded, None, 0),
            NextStep::RetryAt(at) => (DeliveryState::Pending, Some(ts(&at)), 1),
            NextStep::Failed => (DeliveryState::Failed, None, 1),
        };
        // The attempt counts whoever holds the delivery now; the state moves only for the holder.
        let query =
            sqlx::query("UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = $2 WHERE id = $1")
                .bind(attempt.delivery_id.as_str())
                .bind(ts(&attempt.at));
        self.execute(query).await?;
        let query = sqlx::query(
            "UPDATE webhook_deliveries SET state = $3, next_attempt_at = $4, step = step + $5, updated_at = $6, \
             lease_until = NULL, lease_token = NULL WHERE id = $1 AND lease_token = $2",
        )
        .bind(attempt.delivery_id.as_str())
        .bind(&outcome.lease_token)
        .bind(state.as_str())
        .bind(next_at)
        .bind(advance)
        .bind(paystate_store::now());
        Ok(self.execute(query).await? == 1)
    }

    async fn retry_delivery(&mut self, tenant: &TenantId, id: &DeliveryId, now: Timestamp) -> StoreResult<bool> {
        if unmatchable(&[tenant.as_str(), id.as_str()]) {
            return Ok(false);
        }
        let query = sqlx::query(
            "UPDATE webhook_deliveries SET state = 'pending', step = 0, next_attempt_at = $3, lease_until = NULL, \
             lease_token = NULL, updated_at = $3 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.as_str())
        .bind(id.as_str())
        .bind(ts(&now));
        Ok(self.execute(query).await? == 1)
    }

    async fn retry_failed_deliveries(
        &mut self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        since: Timestamp,
        now: Timestamp,
    ) -> StoreResult<u64> {
        if unmatchable(&[tenant.as_str(), endpoint.as_str()]) {
            return Ok(0);
        }
        let query = sqlx::query(
            "UPDATE webhook_deliveries SET state = 'pending', step = 0, next_attempt_at = $4, lease_until = NULL, \
             lease_token = NULL, updated_at = $4 \
             WHERE tenant_id = $1 AND endpoint_id = $2 AND state = 'failed' AND created_at >= $3",
        )
        .bind(tenant.as_str())
        .bind(endpoint.as_str())
        .bind(ts(&since))
        .bind(ts(&now));
        self.execute(query).await
    }

    // --- event stream ---

    async fn claim_stream_tenants(
        &mut self,
        sink: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<paystate_store::StreamClaim>> {
        self.claim_stream_rows(sink, ts(&now), ts(&lease_until), limit).await
    }

    async fn advance_stream_cursor(
        &mut self,
        sink: &str,
        tenant: &TenantId,
        lease_token: &str,
        acked_seq: i64,
        lease_until: Timestamp,
    ) -> StoreResult<bool> {
        self.advance_stream_row(sink, tenant, lease_token, acked_seq, ts(&lease_until)).await
    }

    async fn release_stream_cursor(&mut self, sink: &str, tenant: &TenantId, lease_token: &str) -> StoreResult<()> {
        self.release_stream_row(sink, tenant, lease_token).await
    }

    // --- console: users and sessions ---
    async fn insert_user(&mut self, user: &UserRecord) -> StoreResult<()> {
        self.insert_console_user(user).await
    }

    async fn update_user(&mut self, user: &UserRecord) -> StoreResult<()> {
        self.update_console_user(user).await
    }

    async fn insert_session(&mut self, session: &SessionRecord) -> StoreResult<()> {
        self.insert_console_session(session).await
    }

    async fn touch_session(&mut self, token_hash: &[u8; 32], at: Timestamp) -> StoreResult<bool> {
        self.touch_console_session(token_hash, at).await
    }

    async fn revoke_session(&mut self, token_hash: &[u8; 32], at: Timestamp) -> StoreResult<bool> {
        self.revoke_console_session(token_hash, at).await
    }

    async fn revoke_user_sessions(&mut self, tenant: &TenantId, user: &UserId, at: Timestamp) -> StoreResult<u64> {
        self.revoke_console_user_sessions(tenant, user, at).await
    }

    async fn purge_sessions(&mut self, before: Timestamp) -> StoreResult<u64> {
        self.purge_console_sessions(before).await
    }
}
