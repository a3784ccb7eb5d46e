//! The [`Reader`] of the PostgreSQL store: the records' queries (tenants, keys, orders,
//! payments, methods, events). Inside a write job, reads of a payment or order lock the row
//! until COMMIT ([`locking!`]). The other parts of the contract are answered by their own modules.

use crate::conn::PgConn;
use crate::rows::{EventRow, KeyRow, event_record, key_columns, key_record};
use crate::statements::{check_cursor, locking, noted_as, noted_scalar, only_if, unmatchable};
use async_trait::async_trait;
use paystate_domain::{
    DeliveryId, EndpointId, KeyId, MethodId, Order, OrderId, Payment, PaymentId, PaymentMethod, StoredEvent, Tenant,
    TenantId, Timestamp, UserId,
};
use paystate_store::{
    ApiKeyRecord, AttemptRecord, DeliveryFilter, DeliveryRecord, EndpointRecord, EventCount, EventFilter,
    IdempotencyRecord, OrderFilter, OutboxStats, PageRequest, PaymentFilter, PaymentSearch, Reader, SessionRecord,
    StatusCount, StoreResult, UserRecord,
};
use sqlx::types::Json;

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
        self.endpoint_row(tenant, id).await
    }

    async fn endpoints(&mut self, tenant: &TenantId, page: &PageRequest) -> StoreResult<Vec<EndpointRecord>> {
        self.endpoint_rows(tenant, page).await
    }

    async fn delivery(&mut self, tenant: &TenantId, id: &DeliveryId) -> StoreResult<Option<DeliveryRecord>> {
        self.delivery_row(tenant, id).await
    }

    async fn deliveries(
        &mut self,
        tenant: &TenantId,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        self.delivery_rows(tenant, filter, page).await
    }

    async fn delivery_attempts(&mut self, tenant: &TenantId, ids: &[DeliveryId]) -> StoreResult<Vec<AttemptRecord>> {
        self.attempt_rows(tenant, ids).await
    }

    async fn idempotency_record(&mut self, tenant: &TenantId, key: &str) -> StoreResult<Option<IdempotencyRecord>> {
        self.idempotency_row(tenant, key).await
    }

    async fn outbox_stats(&mut self) -> StoreResult<OutboxStats> {
        self.outbox_stats_row().await
    }

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
