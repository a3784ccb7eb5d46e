//! The transactional outbox on PostgreSQL: the events a job recorded, numbered and written with
//! the rows of their fan-out right before COMMIT, and the webhook deliveries those rows are, as
//! dispatchers claim, attempt, retry and purge them.
//!
//! Which subscribers get an event is [`paystate_store::outbox::fan_out`]'s to decide; this module
//! reads the subscribers and writes the rows. An event is numbered from its tenant's counter,
//! whose row stays locked until COMMIT (the job may have locked it already, see
//! [`PgConn::lock_event_counter`]): a concurrent job of the same tenant numbers its events after
//! this one commits, or rolls back leaving no gap.

use crate::conn::PgConn;
use crate::error::{check_opt_text, check_text, json_text};
use crate::rows::{
    AttemptRow, DeliveryRow, EndpointRow, attempt_record, count, delivery_columns, delivery_record, endpoint_columns,
    endpoint_record, ts,
};
use crate::statements::{check_cursor, noted, noted_as, noted_scalar, only_if, unmatchable};
use paystate_domain::{DeliveryId, EndpointId, TenantId, Timestamp};
use paystate_store::outbox::{self, NewEvent, OutboxRow, Subscriber};
use paystate_store::{
    AttemptOutcome, AttemptRecord, ClaimedDelivery, DeliveryFilter, DeliveryRecord, DeliveryState, EndpointRecord,
    NextStep, OutboxStats, PageRequest, StoreError, StoreResult,
};
use sqlx::AssertSqlSafe;
use std::collections::HashMap;

impl PgConn {
    /// Numbers and writes the events the job queued, in the job's transaction, each with the rows
    /// of its fan-out to its tenant's subscribers: they commit exactly when the event does.
    pub(crate) async fn flush_events(&mut self) -> StoreResult<()> {
        for (actor, draft) in std::mem::take(&mut self.queued) {
            let event = NewEvent::new(actor, draft);
            let seq = self.write_event(&event).await?;
            let tenant = &event.actor.tenant_id;
            if !self.subscribers.contains_key(tenant) {
                let read = self.subscribers_of(tenant).await?;
                self.subscribers.insert(tenant.clone(), read);
            }
            for row in outbox::fan_out(&event, seq, &self.subscribers[tenant]) {
                self.write_outbox_row(&row).await?;
            }
        }
        Ok(())
    }

    /// Writes the event with the next number of its tenant's counter; answers that number.
    async fn write_event(&mut self, event: &NewEvent) -> StoreResult<i64> {
        let (actor, draft) = (&event.actor, &event.draft);
        let request_body = actor.request_body.as_deref();
        check_text("request_id", &actor.request_id)?;
        check_opt_text("request_body", request_body)?;
        let (data, detail) = (json_text("data", &event.data)?, json_text("detail", &draft.detail)?);
        let written = noted_scalar::<i64>(
            &self.log,
            "WITH next AS (UPDATE tenants SET event_seq = event_seq + 1 WHERE id = $2 RETURNING event_seq) \
             INSERT INTO events (id, tenant_id, seq, type, payment_id, order_id, source, actor, request_id, \
             request_body, data, detail, created_at) \
             SELECT $1, $2, next.event_seq, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11::jsonb, $12 FROM next \
             RETURNING seq",
        )
        .bind(event.id.as_str())
        .bind(actor.tenant_id.as_str())
        .bind(draft.kind.as_str())
        .bind(draft.payment_id().map(|id| id.as_str()))
        .bind(draft.order_id().map(|id| id.as_str()))
        .bind(actor.source.as_str())
        .bind(actor.name())
        .bind(&actor.request_id)
        .bind(request_body)
        .bind(data)
        .bind(detail)
        .bind(event.created_at)
        .fetch_optional(self.conn())
        .await;
        match written.map_err(|e| self.failed(e))? {
            Some(seq) => Ok(seq),
            None => Err(StoreError::Backend(format!("an event names the unknown tenant {}", actor.tenant_id))),
        }
    }

    /// The tenant's subscribers that may want its events: its enabled webhook endpoints.
    async fn subscribers_of(&mut self, tenant: &TenantId) -> StoreResult<Vec<Subscriber>> {
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
        let rows = rows.map_err(|e| self.failed(e))?;
        Ok(rows.into_iter().map(|row| Subscriber::Webhook(endpoint_record(row).endpoint)).collect())
    }

    async fn write_outbox_row(&mut self, row: &OutboxRow) -> StoreResult<()> {
        match row {
            OutboxRow::Delivery(delivery) => self.write_delivery(delivery).await,
        }
    }

    /// Writes a delivery: one of an event's fan-out, or a test message.
    pub(crate) async fn write_delivery(&mut self, delivery: &DeliveryRecord) -> StoreResult<()> {
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

    pub(crate) async fn delivery_row(
        &mut self,
        tenant: &TenantId,
        id: &DeliveryId,
    ) -> StoreResult<Option<DeliveryRecord>> {
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

    pub(crate) async fn delivery_rows(
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

    pub(crate) async fn attempt_rows(
        &mut self,
        tenant: &TenantId,
        ids: &[DeliveryId],
    ) -> StoreResult<Vec<AttemptRecord>> {
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

    pub(crate) async fn outbox_stats_row(&mut self) -> StoreResult<OutboxStats> {
        let row = sqlx::query_as::<_, (i64, Option<Timestamp>)>(
            "SELECT COUNT(*), MIN(d.created_at) FROM webhook_deliveries d \
             JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.state = 'pending' AND e.enabled",
        )
        .fetch_one(self.conn())
        .await;
        let (pending, oldest_pending_at) = row.map_err(|e| self.failed(e))?;
        Ok(OutboxStats { pending: u64::try_from(pending).unwrap_or_default(), oldest_pending_at })
    }

    pub(crate) async fn purge_delivery_rows(&mut self, before: Timestamp) -> StoreResult<u64> {
        let query = noted(&self.log, "DELETE FROM webhook_deliveries WHERE state <> 'pending' AND updated_at < $1")
            .bind(ts(&before));
        self.execute(query).await
    }

    /// `FOR UPDATE SKIP LOCKED`: concurrent claimers each lock and lease different rows, and a
    /// row another claimer leased and committed no longer qualifies when re-checked.
    pub(crate) async fn claim_delivery_rows(
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

    pub(crate) async fn release_lease_rows(&mut self, owner: &str) -> StoreResult<u64> {
        check_text("owner", owner)?;
        let query = noted(
            &self.log,
            "UPDATE webhook_deliveries SET lease_until = NULL, lease_token = NULL \
             WHERE state = 'pending' AND lease_token LIKE $1 ESCAPE '\\'",
        )
        .bind(paystate_store::lease_pattern(owner));
        self.execute(query).await
    }

    pub(crate) async fn record_attempt_rows(&mut self, outcome: &AttemptOutcome) -> StoreResult<bool> {
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

    pub(crate) async fn retry_delivery_row(
        &mut self,
        tenant: &TenantId,
        id: &DeliveryId,
        now: Timestamp,
    ) -> StoreResult<bool> {
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

    pub(crate) async fn retry_failed_delivery_rows(
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
}
