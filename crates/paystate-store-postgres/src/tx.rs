//! The [`Tx`] of the PostgreSQL store: the records' writes (tenants, keys, orders, payments,
//! methods), and the events a job records, queued for [`crate::outbox`]. The other parts of the
//! contract are written by their own modules.
//!
//! Every text is checked for NUL bytes before PostgreSQL sees it: a refused value then fails the
//! call with [`StoreError::InvalidValue`] without aborting the job's transaction. Updates check
//! the version they replace (`version = new - 1`): a row changed since it was read fails the job
//! with [`StoreError::VersionConflict`].

use crate::conn::PgConn;
use crate::error::{check_opt_text, check_text, json_text};
use crate::rows::{key_columns, ts};
use crate::statements::{noted, unmatchable};
use async_trait::async_trait;
use paystate_domain::{
    Actor, DeliveryId, EndpointId, EventDraft, KeyId, Order, Payment, PaymentMethod, Tenant, TenantId, Timestamp,
    UserId,
};
use paystate_store::{
    ApiKeyRecord, AttemptOutcome, ClaimedDelivery, DeliveryRecord, EndpointRecord, IdempotencyKey, SessionRecord,
    StoreError, StoreResult, StoredResponse, Tx, UserRecord,
};
use sqlx::Postgres;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;

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
        let query = noted(
            &self.log,
            "INSERT INTO payments (id, tenant_id, order_id, external_id, status, needs_review, deleted, version, doc) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)",
        )
        .bind(payment.id.as_str())
        .bind(payment.tenant_id.as_str())
        .bind(payment.order_id.as_str());
        let query = bind_payment_state(query, payment)?;
        self.execute(query).await.map(drop)
    }

    async fn update_payment(&mut self, payment: &Payment) -> StoreResult<()> {
        check_text("id", payment.id.as_str())?;
        check_text("tenant_id", payment.tenant_id.as_str())?;
        let query = noted(
            &self.log,
            "UPDATE payments SET external_id = $3, status = $4, needs_review = $5, deleted = $6, version = $7, doc = $8::jsonb \
             WHERE tenant_id = $1 AND id = $2 AND version = $7 - 1",
        )
        .bind(payment.tenant_id.as_str())
        .bind(payment.id.as_str());
        let query = bind_payment_state(query, payment)?;
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

    async fn claim_idempotency(&mut self, key: &IdempotencyKey, now: Timestamp) -> StoreResult<bool> {
        self.claim_idempotency_row(key, now).await
    }

    async fn answer_idempotency(&mut self, key: &IdempotencyKey, response: &StoredResponse) -> StoreResult<()> {
        self.answer_idempotency_row(key, response).await
    }

    async fn purge_deliveries(&mut self, before: Timestamp) -> StoreResult<u64> {
        self.purge_delivery_rows(before).await
    }

    async fn purge_idempotency(&mut self, before: Timestamp) -> StoreResult<u64> {
        self.purge_idempotency_rows(before).await
    }

    async fn insert_endpoint(&mut self, record: &EndpointRecord) -> StoreResult<()> {
        self.insert_endpoint_row(record).await
    }

    async fn update_endpoint(&mut self, record: &EndpointRecord) -> StoreResult<()> {
        self.update_endpoint_row(record).await
    }

    async fn delete_endpoint(&mut self, tenant: &TenantId, id: &EndpointId) -> StoreResult<bool> {
        self.delete_endpoint_row(tenant, id).await
    }

    async fn insert_delivery(&mut self, delivery: &DeliveryRecord) -> StoreResult<()> {
        self.write_delivery(delivery).await
    }

    async fn claim_deliveries(
        &mut self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
        owner: &str,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        self.claim_delivery_rows(now, lease_until, limit, owner).await
    }

    async fn release_leases(&mut self, owner: &str) -> StoreResult<u64> {
        self.release_lease_rows(owner).await
    }

    async fn record_attempt(&mut self, outcome: &AttemptOutcome) -> StoreResult<bool> {
        self.record_attempt_rows(outcome).await
    }

    async fn retry_delivery(&mut self, tenant: &TenantId, id: &DeliveryId, now: Timestamp) -> StoreResult<bool> {
        self.retry_delivery_row(tenant, id, now).await
    }

    async fn retry_failed_deliveries(
        &mut self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        since: Timestamp,
        now: Timestamp,
    ) -> StoreResult<u64> {
        self.retry_failed_delivery_rows(tenant, endpoint, since, now).await
    }

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

/// Checks and binds what a payment's insert and its update both write after its ids (and, in an
/// insert, its order): the external id, status, review flag, deletion, version and document. One
/// list, so that the two statements cannot check or bind them differently.
fn bind_payment_state<'q>(
    query: Query<'q, Postgres, PgArguments>,
    payment: &'q Payment,
) -> StoreResult<Query<'q, Postgres, PgArguments>> {
    check_opt_text("external_id", payment.external_id.as_deref())?;
    let doc = json_text("payment", payment)?;
    Ok(query
        .bind(payment.external_id.as_deref())
        .bind(payment.status.as_str())
        .bind(payment.needs_review)
        .bind(payment.deleted_at.is_some())
        .bind(payment.version)
        .bind(doc))
}
