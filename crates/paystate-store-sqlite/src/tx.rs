//! The [`Tx`] of the SQLite store: the records' writes (tenants, keys, orders, payments,
//! methods), each payment written noted for the payment cache, and the events a job records,
//! queued for [`crate::outbox`]. The other parts of the contract are written by their own modules.
//!
//! Updates check the version they replace (`version = new - 1`): a row changed since it was read
//! fails the job with [`StoreError::VersionConflict`].

use crate::conn::SqliteConn;
use crate::rows::{KEY_COLUMNS, to_doc, ts};
use async_trait::async_trait;
use paystate_domain::{
    Actor, DeliveryId, EndpointId, EventDraft, KeyId, Order, Payment, PaymentMethod, Tenant, TenantId, Timestamp,
    UserId,
};
use paystate_store::{
    ApiKeyRecord, AttemptOutcome, ClaimedDelivery, DeliveryRecord, EndpointRecord, IdempotencyKey, SessionRecord,
    StoreError, StoreResult, StoredResponse, Tx, UserRecord,
};
use rusqlite::{ToSql, params};

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
        self.write_payment_row(
            "INSERT INTO payments (id, tenant_id, order_id, external_id, status, needs_review, deleted, version, doc) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![payment.id.as_str(), payment.tenant_id.as_str(), payment.order_id.as_str()],
            payment,
        )
        .map(drop)
    }

    async fn update_payment(&mut self, payment: &Payment) -> StoreResult<()> {
        let changed = self.write_payment_row(
            "UPDATE payments SET external_id = ?3, status = ?4, needs_review = ?5, deleted = ?6, version = ?7, doc = ?8 \
             WHERE tenant_id = ?1 AND id = ?2 AND version = ?7 - 1",
            params![payment.tenant_id.as_str(), payment.id.as_str()],
            payment,
        )?;
        if changed == 1 { Ok(()) } else { Err(StoreError::VersionConflict) }
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

    async fn claim_idempotency(&mut self, key: &IdempotencyKey, now: Timestamp) -> StoreResult<bool> {
        self.claim_idempotency_row(key, now)
    }

    async fn answer_idempotency(&mut self, key: &IdempotencyKey, response: &StoredResponse) -> StoreResult<()> {
        self.answer_idempotency_row(key, response)
    }

    async fn purge_deliveries(&mut self, before: Timestamp) -> StoreResult<u64> {
        self.purge_delivery_rows(before)
    }

    async fn purge_idempotency(&mut self, before: Timestamp) -> StoreResult<u64> {
        self.purge_idempotency_rows(before)
    }

    async fn insert_endpoint(&mut self, record: &EndpointRecord) -> StoreResult<()> {
        self.insert_endpoint_row(record)
    }

    async fn update_endpoint(&mut self, record: &EndpointRecord) -> StoreResult<()> {
        self.update_endpoint_row(record)
    }

    async fn delete_endpoint(&mut self, tenant: &TenantId, id: &EndpointId) -> StoreResult<bool> {
        self.delete_endpoint_row(tenant, id)
    }

    async fn insert_delivery(&mut self, delivery: &DeliveryRecord) -> StoreResult<()> {
        self.write_delivery(delivery)
    }

    async fn claim_deliveries(
        &mut self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
        owner: &str,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        self.claim_delivery_rows(now, lease_until, limit, owner)
    }

    async fn release_leases(&mut self, owner: &str) -> StoreResult<u64> {
        self.release_lease_rows(owner)
    }

    async fn record_attempt(&mut self, outcome: &AttemptOutcome) -> StoreResult<bool> {
        self.record_attempt_rows(outcome)
    }

    async fn retry_delivery(&mut self, tenant: &TenantId, id: &DeliveryId, now: Timestamp) -> StoreResult<bool> {
        self.retry_delivery_row(tenant, id, now)
    }

    async fn retry_failed_deliveries(
        &mut self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        since: Timestamp,
        now: Timestamp,
    ) -> StoreResult<u64> {
        self.retry_failed_delivery_rows(tenant, endpoint, since, now)
    }

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

impl SqliteConn {
    /// Runs a payment's insert or its update. Both bind, after their own leading parameters
    /// (`ids`: the ids, and an insert's order), the same columns in the same order (external id,
    /// status, review flag, deletion, version, document), and both note a payment they wrote for
    /// the payment cache: one place, so that the two cannot drift apart.
    fn write_payment_row(&mut self, sql: &str, ids: &[&dyn ToSql], payment: &Payment) -> StoreResult<usize> {
        let doc = to_doc(payment)?;
        let length = doc.len();
        let (status, deleted) = (payment.status.as_str(), payment.deleted_at.is_some());
        let state: [&dyn ToSql; 6] =
            [&payment.external_id, &status, &payment.needs_review, &deleted, &payment.version, &doc];
        let values: Vec<&dyn ToSql> = ids.iter().copied().chain(state).collect();
        let changed = self.run(sql, values.as_slice())?;
        if changed == 1 {
            self.wrote_payment(payment, length);
        }
        Ok(changed)
    }
}
