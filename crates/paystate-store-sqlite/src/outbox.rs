//! The transactional outbox on SQLite: the events a job recorded, numbered and written with the
//! rows of their fan-out when the job ends, and the webhook deliveries those rows are, as
//! dispatchers claim, attempt, retry and purge them.
//!
//! Which subscribers get an event is [`paystate_store::outbox::fan_out`]'s to decide; this module
//! reads the subscribers and writes the rows. The single writer runs one job at a time, so an
//! event's number (its tenant's counter) follows commit order, and a claim's select and lease are
//! one atomic step.

use crate::conn::{SqliteConn, only_if};
use crate::error::map_error;
use crate::rows::{
    AttemptRow, DELIVERY_COLUMNS, ENDPOINT_COLUMNS, attempt_record, delivery_from_row, delivery_record,
    endpoint_from_row, endpoint_record, ids_json, opt_ts, ts,
};
use paystate_domain::{DeliveryId, EndpointId, TenantId, Timestamp};
use paystate_store::outbox::{self, NewEvent, OutboxRow, Subscriber};
use paystate_store::{
    AttemptOutcome, AttemptRecord, ClaimedDelivery, DeliveryFilter, DeliveryRecord, DeliveryState, NextStep,
    OutboxStats, PageRequest, StoreError, StoreResult,
};
use rusqlite::params;
use std::collections::HashMap;

impl SqliteConn {
    /// Numbers and writes the events the job queued, in the job's transaction, each with the rows
    /// of its fan-out to its tenant's subscribers: they commit exactly when the event does.
    pub(crate) fn flush_events(&mut self) -> StoreResult<()> {
        // Each tenant's subscribers are read once per job, at its first event.
        let mut subscribers: HashMap<TenantId, Vec<Subscriber>> = HashMap::new();
        for (actor, draft) in std::mem::take(&mut self.queued) {
            let event = NewEvent::new(actor, draft);
            let seq = self.write_event(&event)?;
            let tenant = &event.actor.tenant_id;
            if !subscribers.contains_key(tenant) {
                let read = self.subscribers(tenant)?;
                subscribers.insert(tenant.clone(), read);
            }
            for row in outbox::fan_out(&event, seq, &subscribers[tenant]) {
                self.write_outbox_row(&row)?;
            }
        }
        Ok(())
    }

    /// Writes the event with the next number of its tenant's counter; answers that number.
    fn write_event(&self, event: &NewEvent) -> StoreResult<i64> {
        const NEXT_SEQ: &str = "UPDATE tenants SET event_seq = event_seq + 1 WHERE id = ?1 RETURNING event_seq";
        const INSERT_EVENT: &str = "INSERT INTO events (id, tenant_id, seq, type, payment_id, order_id, source, actor, \
            request_id, request_body, data, detail, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
        let (actor, draft) = (&event.actor, &event.draft);
        self.note(NEXT_SEQ);
        let seq: i64 = self
            .raw()
            .prepare_cached(NEXT_SEQ)
            .and_then(|mut s| s.query_row([actor.tenant_id.as_str()], |row| row.get(0)))
            .map_err(map_error)?;
        self.run(
            INSERT_EVENT,
            params![
                event.id.as_str(),
                actor.tenant_id.as_str(),
                seq,
                draft.kind.as_str(),
                draft.payment_id().map(|id| id.as_str()),
                draft.order_id().map(|id| id.as_str()),
                actor.source.as_str(),
                actor.name(),
                actor.request_id,
                actor.request_body,
                event.data.to_string(),
                draft.detail.to_string(),
                ts(&event.created_at),
            ],
        )?;
        Ok(seq)
    }

    /// The tenant's subscribers that may want its events: its enabled webhook endpoints.
    fn subscribers(&self, tenant: &TenantId) -> StoreResult<Vec<Subscriber>> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = ?1 AND enabled = 1 ORDER BY id"
        );
        self.note(&sql);
        let rows = self.query_all(&sql, [tenant.as_str()], endpoint_from_row)?;
        rows.into_iter().map(|row| endpoint_record(row).map(|r| Subscriber::Webhook(r.endpoint))).collect()
    }

    fn write_outbox_row(&self, row: &OutboxRow) -> StoreResult<()> {
        match row {
            OutboxRow::Delivery(delivery) => self.write_delivery(delivery),
        }
    }

    /// Writes a delivery: one of an event's fan-out, or a test message.
    pub(crate) fn write_delivery(&self, delivery: &DeliveryRecord) -> StoreResult<()> {
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
        let row = self.query_one(
            &format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = ?1"),
            [id],
            delivery_from_row,
        )?;
        row.map(delivery_record).transpose()
    }

    pub(crate) fn delivery_row(&mut self, tenant: &TenantId, id: &DeliveryId) -> StoreResult<Option<DeliveryRecord>> {
        Ok(self.delivery_by_id(id.as_str())?.filter(|d| d.tenant_id == *tenant))
    }

    pub(crate) fn delivery_rows(
        &mut self,
        tenant: &TenantId,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let by_endpoint = only_if(filter.endpoint_id.is_some(), "endpoint_id = ?2", "?2");
        let by_event = only_if(filter.event_id.is_some(), "event_id = ?3", "?3");
        let after = only_if(page.after.is_some(), "id > ?5", "?5");
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE tenant_id = ?1 AND {by_endpoint} \
             AND {by_event} AND (?4 IS NULL OR state = ?4) AND {after} ORDER BY id LIMIT ?6"
        );
        let rows = self.query_all(
            &sql,
            params![
                tenant.as_str(),
                filter.endpoint_id.as_ref().map(|id| id.as_str()),
                filter.event_id.as_ref().map(|id| id.as_str()),
                filter.state.map(|s| s.as_str()),
                page.after,
                page.limit
            ],
            delivery_from_row,
        )?;
        rows.into_iter().map(delivery_record).collect()
    }

    pub(crate) fn attempt_rows(&mut self, tenant: &TenantId, ids: &[DeliveryId]) -> StoreResult<Vec<AttemptRecord>> {
        let rows: Vec<AttemptRow> = self.query_all(
            "SELECT a.delivery_id, a.at, a.status_code, a.latency_ms, a.response_excerpt, a.error \
             FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id \
             WHERE d.tenant_id = ?1 AND a.delivery_id IN (SELECT value FROM json_each(?2)) \
             ORDER BY a.delivery_id, a.id",
            params![tenant.as_str(), ids_json(ids)],
            |row| row.try_into(),
        )?;
        rows.into_iter().map(attempt_record).collect()
    }

    pub(crate) fn outbox_stats_row(&mut self) -> StoreResult<OutboxStats> {
        let (pending, oldest): (i64, Option<String>) = self
            .raw()
            .prepare_cached(
                "SELECT COUNT(*), MIN(d.created_at) FROM webhook_deliveries d \
                 JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.state = 'pending' AND e.enabled = 1",
            )
            .and_then(|mut s| s.query_row([], |row| Ok((row.get(0)?, row.get(1)?))))
            .map_err(map_error)?;
        Ok(OutboxStats { pending: pending.max(0) as u64, oldest_pending_at: opt_ts(oldest)? })
    }

    pub(crate) fn purge_delivery_rows(&mut self, before: Timestamp) -> StoreResult<u64> {
        self.run("DELETE FROM webhook_deliveries WHERE state <> 'pending' AND updated_at < ?1", [ts(&before)])
            .map(|n| n as u64)
    }

    /// The single writer runs this job alone, so selecting and leasing are one atomic step.
    pub(crate) fn claim_delivery_rows(
        &mut self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
        owner: &str,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        let ids: Vec<String> = self.query_all(
            "SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
             WHERE d.state = 'pending' AND d.next_attempt_at <= ?1 AND (d.lease_until IS NULL OR d.lease_until <= ?1) \
             AND e.enabled = 1 ORDER BY d.next_attempt_at, d.id LIMIT ?2",
            params![ts(&now), limit],
            |row| row.get(0),
        )?;
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

    pub(crate) fn release_lease_rows(&mut self, owner: &str) -> StoreResult<u64> {
        self.run(
            "UPDATE webhook_deliveries SET lease_until = NULL, lease_token = NULL \
             WHERE state = 'pending' AND lease_token LIKE ?1 ESCAPE '\\'",
            [paystate_store::lease_pattern(owner)],
        )
        .map(|n| n as u64)
    }

    pub(crate) fn record_attempt_rows(&mut self, outcome: &AttemptOutcome) -> StoreResult<bool> {
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

    pub(crate) fn retry_delivery_row(
        &mut self,
        tenant: &TenantId,
        id: &DeliveryId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let changed = self.run(
            "UPDATE webhook_deliveries SET state = 'pending', step = 0, next_attempt_at = ?3, lease_until = NULL, \
             lease_token = NULL, updated_at = ?3 WHERE tenant_id = ?1 AND id = ?2",
            params![tenant.as_str(), id.as_str(), ts(&now)],
        )?;
        Ok(changed == 1)
    }

    pub(crate) fn retry_failed_delivery_rows(
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
}
