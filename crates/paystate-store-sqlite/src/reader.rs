//! The [`Reader`] of the SQLite store: the records' queries (tenants, keys, orders, payments,
//! methods, events), with payments looked up in the payment cache first when the connection
//! serves lookups of a store that keeps one. The other parts of the contract are answered by
//! their own modules.

use crate::conn::{SqliteConn, only_if};
use crate::payment_cache::Cached;
use crate::rows::{
    KEY_COLUMNS, event_from_row, event_record, from_doc, key_from_row, key_record, parse_ts, tenant_from_row,
};
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
use rusqlite::params;

#[async_trait]
impl Reader for SqliteConn {
    async fn tenant(&mut self, id: &TenantId) -> StoreResult<Option<Tenant>> {
        const SQL: &str = "SELECT id, name, settings, created_at, updated_at FROM tenants WHERE id = ?1";
        self.note(SQL);
        let row = self.query_one(SQL, [id.as_str()], tenant_from_row)?;
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
        let row = self.query_one(&sql, [id.as_str()], key_from_row)?;
        row.map(key_record).transpose()
    }

    async fn api_keys(&mut self, tenant: &TenantId) -> StoreResult<Vec<ApiKeyRecord>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE tenant_id = ?1 ORDER BY id");
        self.note(&sql);
        let rows = self.query_all(&sql, [tenant.as_str()], key_from_row)?;
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
        let rows = self.query_all(
            &sql,
            params![tenant.as_str(), filter.after_seq, filter.payment_id.as_ref().map(|p| p.as_str()), filter.limit],
            event_from_row,
        )?;
        rows.into_iter().map(event_record).collect()
    }

    async fn endpoint(&mut self, tenant: &TenantId, id: &EndpointId) -> StoreResult<Option<EndpointRecord>> {
        self.endpoint_row(tenant, id)
    }

    async fn endpoints(&mut self, tenant: &TenantId, page: &PageRequest) -> StoreResult<Vec<EndpointRecord>> {
        self.endpoint_rows(tenant, page)
    }

    async fn delivery(&mut self, tenant: &TenantId, id: &DeliveryId) -> StoreResult<Option<DeliveryRecord>> {
        self.delivery_row(tenant, id)
    }

    async fn deliveries(
        &mut self,
        tenant: &TenantId,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        self.delivery_rows(tenant, filter, page)
    }

    async fn delivery_attempts(&mut self, tenant: &TenantId, ids: &[DeliveryId]) -> StoreResult<Vec<AttemptRecord>> {
        self.attempt_rows(tenant, ids)
    }

    async fn idempotency_record(&mut self, tenant: &TenantId, key: &str) -> StoreResult<Option<IdempotencyRecord>> {
        self.idempotency_row(tenant, key)
    }

    async fn outbox_stats(&mut self) -> StoreResult<OutboxStats> {
        self.outbox_stats_row()
    }

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
