//! One PostgreSQL transaction as a paystate [`Reader`] and [`Tx`]: the SQL of the shared store.
//!
//! Inside a write job, reads of a payment or order lock the row (`FOR NO KEY UPDATE`) until the
//! job commits, so two instances updating one payment take turns instead of losing an update.
//! Events the job records are numbered and written by [`PgConn::flush_events`] right before
//! COMMIT: the tenant row lock that numbering takes is then held only for the commit itself, and
//! numbers follow commit order without gaps.

use crate::error::{check_opt_text, check_text, json_text, map_error};
use async_trait::async_trait;
use chrono::SubsecRound;
use paystate_domain::{
    Actor, EventDraft, EventId, KeyId, MethodId, Order, OrderId, Payment, PaymentId, PaymentMethod, Source,
    StoredEvent, Tenant, TenantId, Timestamp,
};
use paystate_store::{
    ApiKeyRecord, ClaimOutcome, EventFilter, IdempotencyClaim, OrderFilter, PageRequest, PaymentFilter, Reader, Scope,
    StatementLog, StoreError, StoreResult, StoredResponse, Tx,
};
use serde::de::DeserializeOwned;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection, Postgres, Transaction};

/// Whether the transaction serves a read job (a read-only snapshot) or a write job.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Read,
    Write,
}

pub(crate) struct PgConn {
    tx: Transaction<'static, Postgres>,
    mode: Mode,
    queued: Vec<(Actor, EventDraft)>,
    /// The text of the first statement PostgreSQL refused. After a refusal PostgreSQL ignores
    /// every later statement and turns COMMIT into ROLLBACK without an error, so a job that went
    /// on regardless must not be reported as committed (SQLite, by contrast, keeps the
    /// transaction usable after a failed statement).
    aborted: Option<String>,
    /// Where the job's statements are noted, when its request asked for them.
    log: Option<StatementLog>,
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
    sql: &'static str,
) -> QueryAs<'static, Postgres, O, PgArguments> {
    note(log, sql);
    sqlx::query_as(sql)
}

/// `sqlx::query_scalar`, noting the statement in the job's statement log.
fn noted_scalar<O>(log: &Option<StatementLog>, sql: &'static str) -> QueryScalar<'static, Postgres, O, PgArguments>
where
    (O,): for<'r> FromRow<'r, PgRow>,
{
    note(log, sql);
    sqlx::query_scalar(sql)
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
    String,
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
        order_id: OrderId::from_trusted(order_id),
        source: Source::parse(&source).ok_or_else(|| StoreError::Backend(format!("bad source {source}")))?,
        actor,
        request_id,
        request_body,
        data,
        detail,
        created_at,
    })
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
    pub(crate) fn new(tx: Transaction<'static, Postgres>, mode: Mode) -> Self {
        Self { tx, mode, queued: Vec::new(), aborted: None, log: None }
    }

    /// Notes the job's statements in `log` (or in none).
    pub(crate) fn set_log(&mut self, log: Option<StatementLog>) {
        self.log = log;
    }

    fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// Maps an error of a statement, remembering that PostgreSQL aborted the transaction.
    fn failed(&mut self, error: sqlx::Error) -> StoreError {
        if matches!(error, sqlx::Error::Database(_)) && self.aborted.is_none() {
            self.aborted = Some(error.to_string());
        }
        map_error(error)
    }

    /// Numbers and writes the events the job queued, in the job's transaction. The tenant's
    /// counter row stays locked until COMMIT, so a concurrent job of the same tenant numbers its
    /// events after this one commits (or rolls back, leaving no gap).
    pub(crate) async fn flush_events(&mut self) -> StoreResult<()> {
        for (actor, draft) in std::mem::take(&mut self.queued) {
            let request_body = actor.request_body.as_deref();
            check_text("request_id", &actor.request_id)?;
            check_opt_text("request_body", request_body)?;
            let (data, detail) = (json_text("data", &draft.data())?, json_text("detail", &draft.detail)?);
            let written = noted(
                &self.log,
                "WITH next AS (UPDATE tenants SET event_seq = event_seq + 1 WHERE id = $2 RETURNING event_seq) \
                 INSERT INTO events (id, tenant_id, seq, type, payment_id, order_id, source, actor, request_id, \
                 request_body, data, detail, created_at) \
                 SELECT $1, $2, next.event_seq, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11::jsonb, $12 FROM next",
            )
            .bind(EventId::generate().as_str())
            .bind(actor.tenant_id.as_str())
            .bind(draft.kind.as_str())
            .bind(draft.payment_id().map(|id| id.as_str()))
            .bind(draft.order_id().as_str())
            .bind(actor.source.as_str())
            .bind(actor.name())
            .bind(&actor.request_id)
            .bind(request_body)
            .bind(data)
            .bind(detail)
            .bind(paystate_store::now())
            .execute(self.conn())
            .await;
            let written = written.map_err(|e| self.failed(e))?;
            if written.rows_affected() != 1 {
                return Err(StoreError::Backend(format!("an event names the unknown tenant {}", actor.tenant_id)));
            }
        }
        Ok(())
    }

    /// Commits, unless a statement of the job failed: PostgreSQL would then roll back while
    /// answering COMMIT as if it had worked.
    pub(crate) async fn commit(mut self) -> StoreResult<()> {
        if let Some(error) = self.aborted.take() {
            note(&self.log, "ROLLBACK");
            let _ = self.tx.rollback().await;
            return Err(StoreError::Backend(format!(
                "the write job went on after a failed statement ({error}); PostgreSQL rolled it back"
            )));
        }
        note(&self.log, "COMMIT");
        self.tx.commit().await.map_err(map_error)
    }

    pub(crate) async fn rollback(self) {
        note(&self.log, "ROLLBACK");
        // A failure here means the connection is broken; the pool discards it.
        let _ = self.tx.rollback().await;
    }

    async fn one_doc<T: DeserializeOwned + Send + Unpin + 'static>(
        &mut self,
        sql: &'static str,
        tenant: &TenantId,
        key: &str,
    ) -> StoreResult<Option<T>> {
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
        if unmatchable(&[tenant.as_str(), id.as_str()]) {
            return Ok(None);
        }
        let sql = locking!(self, "SELECT doc FROM orders WHERE tenant_id = $1 AND id = $2");
        self.one_doc(sql, tenant, id.as_str()).await
    }

    async fn order_by_reference(&mut self, tenant: &TenantId, reference: &str) -> StoreResult<Option<Order>> {
        if unmatchable(&[tenant.as_str(), reference]) {
            return Ok(None);
        }
        let sql = locking!(self, "SELECT doc FROM orders WHERE tenant_id = $1 AND reference = $2");
        self.one_doc(sql, tenant, reference).await
    }

    async fn orders(&mut self, tenant: &TenantId, filter: &OrderFilter, page: &PageRequest) -> StoreResult<Vec<Order>> {
        check_cursor(page)?;
        if unmatchable(&[tenant.as_str(), filter.reference.as_deref().unwrap_or_default()]) {
            return Ok(Vec::new());
        }
        let docs = noted_scalar::<Json<Order>>(
            &self.log,
            "SELECT doc FROM orders WHERE tenant_id = $1 AND ($2::text IS NULL OR reference = $2) \
             AND ($3::text IS NULL OR state = $3) AND ($4::text IS NULL OR id > $4) ORDER BY id LIMIT $5",
        )
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
        if unmatchable(&[tenant.as_str(), id.as_str()]) {
            return Ok(None);
        }
        let sql = locking!(self, "SELECT doc FROM payments WHERE tenant_id = $1 AND id = $2");
        self.one_doc(sql, tenant, id.as_str()).await
    }

    async fn payment_by_external_id(&mut self, tenant: &TenantId, external_id: &str) -> StoreResult<Option<Payment>> {
        if unmatchable(&[tenant.as_str(), external_id]) {
            return Ok(None);
        }
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
        let docs = noted_scalar::<Json<Payment>>(
            &self.log,
            "SELECT doc FROM payments WHERE tenant_id = $1 AND ($2::text IS NULL OR order_id = $2) \
             AND ($3::text IS NULL OR status = $3) AND ($4::boolean IS NULL OR needs_review = $4) \
             AND ($5 OR NOT deleted) AND ($6::text IS NULL OR id > $6) ORDER BY id LIMIT $7",
        )
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
        if unmatchable(&[tenant.as_str(), id.as_str()]) {
            return Ok(None);
        }
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
        let rows = noted_as::<EventRow>(
            &self.log,
            "SELECT id, seq, type, payment_id, order_id, source, actor, request_id, request_body, data, detail, created_at \
             FROM events WHERE tenant_id = $1 AND seq > $2 AND ($3::text IS NULL OR payment_id = $3) ORDER BY seq LIMIT $4",
        )
        .bind(tenant.as_str())
        .bind(filter.after_seq)
        .bind(payment_id)
        .bind(i64::from(filter.limit))
        .fetch_all(self.conn())
        .await;
        rows.map_err(|e| self.failed(e))?.into_iter().map(event_record).collect()
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

    /// Inserts the claim unless the key exists (`ON CONFLICT DO NOTHING` waits for a concurrent
    /// claimer to commit or roll back), then judges the existing row under a row lock. Two
    /// instances racing for one key thus see one winner; a concurrent delete between the insert
    /// and the read is answered by trying again.
    async fn claim_idempotency(&mut self, claim: &IdempotencyClaim) -> StoreResult<ClaimOutcome> {
        type Existing = (String, Option<i32>, Option<String>, Option<Vec<u8>>, Timestamp);
        check_text("tenant_id", claim.tenant_id.as_str())?;
        check_text("idempotency key", &claim.key)?;
        check_text("fingerprint", &claim.fingerprint)?;
        for _ in 0..3 {
            let query = noted(
                &self.log,
                "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant_id, key) DO NOTHING",
            )
            .bind(claim.tenant_id.as_str())
            .bind(&claim.key)
            .bind(&claim.fingerprint)
            .bind(ts(&claim.now));
            if self.execute(query).await? == 1 {
                return Ok(ClaimOutcome::Claimed);
            }
            let existing = noted_as::<Existing>(
                &self.log,
                "SELECT fingerprint, status, content_type, body, created_at FROM idempotency_keys \
                 WHERE tenant_id = $1 AND key = $2 FOR UPDATE",
            )
            .bind(claim.tenant_id.as_str())
            .bind(&claim.key)
            .fetch_optional(self.conn())
            .await;
            let Some((fingerprint, status, content_type, body, created_at)) = existing.map_err(|e| self.failed(e))?
            else {
                // Released or purged since the insert found it: claim it afresh.
                continue;
            };
            if fingerprint != claim.fingerprint {
                return Ok(ClaimOutcome::Mismatch);
            }
            return match (status, content_type, body) {
                (Some(status), Some(content_type), Some(body)) => {
                    let status = u16::try_from(status)
                        .map_err(|_| StoreError::Backend(format!("bad stored status {status}")))?;
                    Ok(ClaimOutcome::Replay(StoredResponse { status, content_type, body }))
                }
                _ if created_at > claim.stale_before => Ok(ClaimOutcome::InFlight),
                _ => {
                    // A claim whose request never finished (the process died): take it over.
                    let query = noted(
                        &self.log,
                        "UPDATE idempotency_keys SET fingerprint = $3, created_at = $4, status = NULL, content_type = NULL, \
                         body = NULL WHERE tenant_id = $1 AND key = $2",
                    )
                    .bind(claim.tenant_id.as_str())
                    .bind(&claim.key)
                    .bind(&claim.fingerprint)
                    .bind(ts(&claim.now));
                    self.execute(query).await?;
                    Ok(ClaimOutcome::Claimed)
                }
            };
        }
        // The key keeps appearing and vanishing under us: let the caller retry later.
        Err(StoreError::Busy)
    }

    async fn complete_idempotency(
        &mut self,
        tenant: &TenantId,
        key: &str,
        response: &StoredResponse,
    ) -> StoreResult<()> {
        if unmatchable(&[tenant.as_str(), key]) {
            return Ok(());
        }
        check_text("content_type", &response.content_type)?;
        let query = noted(
            &self.log,
            "UPDATE idempotency_keys SET status = $3, content_type = $4, body = $5 WHERE tenant_id = $1 AND key = $2",
        )
        .bind(tenant.as_str())
        .bind(key)
        .bind(i32::from(response.status))
        .bind(&response.content_type)
        .bind(response.body.as_slice());
        self.execute(query).await.map(drop)
    }

    async fn release_idempotency(&mut self, tenant: &TenantId, key: &str) -> StoreResult<()> {
        if unmatchable(&[tenant.as_str(), key]) {
            return Ok(());
        }
        let query =
            noted(&self.log, "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 AND status IS NULL")
                .bind(tenant.as_str())
                .bind(key);
        self.execute(query).await.map(drop)
    }

    async fn purge_idempotency(&mut self, before: Timestamp) -> StoreResult<u64> {
        let query = noted(&self.log, "DELETE FROM idempotency_keys WHERE created_at < $1").bind(ts(&before));
        self.execute(query).await
    }
}
