//! The SQL of the event stream's cursors (see `paystate_store::StreamClaim`). The single writer
//! runs each write job alone, so a claim's select and lease are one atomic step.

use crate::conn::SqliteConn;
use crate::error::map_error;
use crate::rows::{opt_ts, ts};
use paystate_domain::{TenantId, Timestamp};
use paystate_store::{StoreResult, StreamBacklog, StreamClaim};
use rusqlite::params;

/// Tenants whose counter is past the sink's cursor, with the cursor (0 when it has none).
const OWED: &str = "FROM tenants t LEFT JOIN event_stream_cursors c ON c.sink = ?1 AND c.tenant_id = t.id \
     WHERE t.event_seq > COALESCE(c.acked_seq, 0)";

impl SqliteConn {
    pub(crate) fn stream_backlog_rows(&mut self, sink: &str) -> StoreResult<StreamBacklog> {
        let sql = format!(
            "SELECT COALESCE(SUM(t.event_seq - COALESCE(c.acked_seq, 0)), 0), \
             MIN((SELECT e.created_at FROM events e WHERE e.tenant_id = t.id AND e.seq = COALESCE(c.acked_seq, 0) + 1)) \
             {OWED}"
        );
        self.note(&sql);
        let (pending, oldest): (i64, Option<String>) = self
            .raw()
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row(params![sink], |row| Ok((row.get(0)?, row.get(1)?))))
            .map_err(map_error)?;
        Ok(StreamBacklog { pending: u64::try_from(pending).unwrap_or_default(), oldest_pending_at: opt_ts(oldest)? })
    }

    pub(crate) fn claim_stream_rows(
        &mut self,
        sink: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<StreamClaim>> {
        let sql = format!(
            "SELECT t.id, COALESCE(c.acked_seq, 0) {OWED} AND (c.lease_until IS NULL OR c.lease_until <= ?2) \
             ORDER BY c.updated_at NULLS FIRST, t.id LIMIT ?3"
        );
        self.note(&sql);
        let owed: Vec<(String, i64)> = self.query_all(&sql, params![sink, ts(&now), limit], |row| row.try_into())?;
        let token = paystate_store::new_lease_token("stream");
        let mut claims = Vec::with_capacity(owed.len());
        for (tenant, acked_seq) in owed {
            self.run(
                "INSERT INTO event_stream_cursors (sink, tenant_id, acked_seq, lease_until, lease_token, updated_at) \
                 VALUES (?1, ?2, 0, ?3, ?4, ?5) ON CONFLICT (sink, tenant_id) DO UPDATE SET \
                 lease_until = excluded.lease_until, lease_token = excluded.lease_token, updated_at = excluded.updated_at",
                params![sink, tenant, ts(&lease_until), token, ts(&now)],
            )?;
            claims.push(StreamClaim {
                tenant_id: TenantId::from_trusted(tenant),
                acked_seq,
                lease_token: token.clone(),
            });
        }
        Ok(claims)
    }

    pub(crate) fn advance_stream_row(
        &mut self,
        sink: &str,
        tenant: &TenantId,
        token: &str,
        acked_seq: i64,
        lease_until: Timestamp,
    ) -> StoreResult<bool> {
        let moved = self.run(
            "UPDATE event_stream_cursors SET acked_seq = MAX(acked_seq, ?4), lease_until = ?5 \
             WHERE sink = ?1 AND tenant_id = ?2 AND lease_token = ?3",
            params![sink, tenant.as_str(), token, acked_seq, ts(&lease_until)],
        )?;
        Ok(moved == 1)
    }

    pub(crate) fn release_stream_row(&mut self, sink: &str, tenant: &TenantId, token: &str) -> StoreResult<()> {
        self.run(
            "UPDATE event_stream_cursors SET lease_until = NULL, lease_token = NULL \
             WHERE sink = ?1 AND tenant_id = ?2 AND lease_token = ?3",
            params![sink, tenant.as_str(), token],
        )?;
        Ok(())
    }
}
