//! The SQL of the event stream's cursors (see `paystate_store::StreamClaim`).
//!
//! A claim first gives every tenant with events a cursor row (at 0), then leases owed cursors
//! with `FOR UPDATE SKIP LOCKED`: concurrent claimers each lock different rows, and a row another
//! claimer leased and committed no longer qualifies when re-checked. The tenants' counters are
//! only read, never locked, so claiming never waits for a writer.

use crate::conn::PgConn;
use paystate_domain::{TenantId, Timestamp};
use paystate_store::{StoreResult, StreamBacklog, StreamClaim};

impl PgConn {
    pub(crate) async fn stream_backlog_rows(&mut self, sink: &str) -> StoreResult<StreamBacklog> {
        const SQL: &str = "SELECT COALESCE(SUM(t.event_seq - COALESCE(c.acked_seq, 0)), 0)::BIGINT, \
             MIN((SELECT e.created_at FROM events e WHERE e.tenant_id = t.id AND e.seq = COALESCE(c.acked_seq, 0) + 1)) \
             FROM tenants t LEFT JOIN event_stream_cursors c ON c.sink = $1 AND c.tenant_id = t.id \
             WHERE t.event_seq > COALESCE(c.acked_seq, 0)";
        self.note_statement(SQL);
        let row = sqlx::query_as::<_, (i64, Option<Timestamp>)>(SQL).bind(sink).fetch_one(self.conn()).await;
        let (pending, oldest_pending_at) = row.map_err(|e| self.failed(e))?;
        Ok(StreamBacklog { pending: u64::try_from(pending).unwrap_or_default(), oldest_pending_at })
    }

    pub(crate) async fn claim_stream_rows(
        &mut self,
        sink: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<StreamClaim>> {
        const CREATE: &str = "INSERT INTO event_stream_cursors (sink, tenant_id, acked_seq, updated_at) \
             SELECT $1, t.id, 0, '-infinity' FROM tenants t WHERE t.event_seq > 0 AND NOT EXISTS \
             (SELECT 1 FROM event_stream_cursors c WHERE c.sink = $1 AND c.tenant_id = t.id) \
             ON CONFLICT DO NOTHING";
        self.note_statement(CREATE);
        let created = sqlx::query(CREATE).bind(sink).execute(self.conn()).await;
        created.map_err(|e| self.failed(e))?;
        const LEASE: &str = "WITH owed AS ( \
                 SELECT c.tenant_id FROM event_stream_cursors c JOIN tenants t ON t.id = c.tenant_id \
                 WHERE c.sink = $1 AND t.event_seq > c.acked_seq AND (c.lease_until IS NULL OR c.lease_until <= $2) \
                 ORDER BY c.updated_at, c.tenant_id LIMIT $5 FOR UPDATE OF c SKIP LOCKED) \
             UPDATE event_stream_cursors c SET lease_until = $3, lease_token = $4, updated_at = $2 \
             FROM owed WHERE c.sink = $1 AND c.tenant_id = owed.tenant_id RETURNING c.tenant_id, c.acked_seq";
        self.note_statement(LEASE);
        let token = paystate_store::new_lease_token("stream");
        let leased = sqlx::query_as::<_, (String, i64)>(LEASE)
            .bind(sink)
            .bind(now)
            .bind(lease_until)
            .bind(&token)
            .bind(i64::from(limit))
            .fetch_all(self.conn())
            .await;
        let leased = leased.map_err(|e| self.failed(e))?;
        Ok(leased
            .into_iter()
            .map(|(tenant, acked_seq)| StreamClaim {
                tenant_id: TenantId::from_trusted(tenant),
                acked_seq,
                lease_token: token.clone(),
            })
            .collect())
    }

    pub(crate) async fn advance_stream_row(
        &mut self,
        sink: &str,
        tenant: &TenantId,
        token: &str,
        acked_seq: i64,
        lease_until: Timestamp,
    ) -> StoreResult<bool> {
        const SQL: &str = "UPDATE event_stream_cursors SET acked_seq = GREATEST(acked_seq, $4), lease_until = $5 \
             WHERE sink = $1 AND tenant_id = $2 AND lease_token = $3";
        self.note_statement(SQL);
        let moved = sqlx::query(SQL)
            .bind(sink)
            .bind(tenant.as_str())
            .bind(token)
            .bind(acked_seq)
            .bind(lease_until)
            .execute(self.conn())
            .await;
        Ok(moved.map_err(|e| self.failed(e))?.rows_affected() == 1)
    }

    pub(crate) async fn release_stream_row(&mut self, sink: &str, tenant: &TenantId, token: &str) -> StoreResult<()> {
        const SQL: &str = "UPDATE event_stream_cursors SET lease_until = NULL, lease_token = NULL \
             WHERE sink = $1 AND tenant_id = $2 AND lease_token = $3";
        self.note_statement(SQL);
        let released = sqlx::query(SQL).bind(sink).bind(tenant.as_str()).bind(token).execute(self.conn()).await;
        released.map_err(|e| self.failed(e))?;
        Ok(())
    }
}
