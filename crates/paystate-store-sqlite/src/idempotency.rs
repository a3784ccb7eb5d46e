//! Idempotency keys on SQLite: a request's claim on its key, committed with its change, and the
//! answer replayed to a retry of it.

use crate::conn::SqliteConn;
use crate::rows::{from_doc, parse_ts, to_doc, ts};
use paystate_domain::{TenantId, Timestamp};
use paystate_store::{IdempotencyKey, IdempotencyRecord, StoreResult, StoredResponse};
use rusqlite::params;

impl SqliteConn {
    pub(crate) fn idempotency_row(&mut self, tenant: &TenantId, key: &str) -> StoreResult<Option<IdempotencyRecord>> {
        type Row = (String, Option<u16>, Option<String>, Option<String>, Option<Vec<u8>>, String);
        const SQL: &str = "SELECT fingerprint, status, content_type, headers, body, created_at FROM idempotency_keys \
                           WHERE tenant_id = ?1 AND key = ?2";
        self.note(SQL);
        let row: Option<Row> = self.query_one(SQL, [tenant.as_str(), key], |row| row.try_into())?;
        let Some((fingerprint, status, content_type, headers, body, created_at)) = row else { return Ok(None) };
        let response = match (status, content_type, body) {
            (Some(status), Some(content_type), Some(body)) => {
                let headers = headers.as_deref().map(from_doc).transpose()?.unwrap_or_default();
                Some(StoredResponse { status, content_type, headers, body })
            }
            _ => None,
        };
        Ok(Some(IdempotencyRecord { fingerprint, response, created_at: parse_ts(&created_at)? }))
    }

    /// The single writer runs one job at a time, so a claim never meets one still running.
    pub(crate) fn claim_idempotency_row(&mut self, key: &IdempotencyKey, now: Timestamp) -> StoreResult<bool> {
        let claimed = self.run(
            "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, created_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (tenant_id, key) DO NOTHING",
            params![key.tenant_id.as_str(), key.key, key.fingerprint, ts(&now)],
        )?;
        if claimed == 1 {
            return Ok(true);
        }
        // An unanswered claim can only be one an older paystate left when its process died.
        let taken_over = self.run(
            "UPDATE idempotency_keys SET fingerprint = ?3, created_at = ?4 \
             WHERE tenant_id = ?1 AND key = ?2 AND status IS NULL",
            params![key.tenant_id.as_str(), key.key, key.fingerprint, ts(&now)],
        )?;
        Ok(taken_over == 1)
    }

    pub(crate) fn answer_idempotency_row(
        &mut self,
        key: &IdempotencyKey,
        response: &StoredResponse,
    ) -> StoreResult<()> {
        let headers = to_doc(&response.headers)?;
        self.run(
            "UPDATE idempotency_keys SET status = ?3, content_type = ?4, headers = ?5, body = ?6 \
             WHERE tenant_id = ?1 AND key = ?2",
            params![key.tenant_id.as_str(), key.key, response.status, response.content_type, headers, response.body],
        )
        .map(drop)
    }

    pub(crate) fn purge_idempotency_rows(&mut self, before: Timestamp) -> StoreResult<u64> {
        self.run("DELETE FROM idempotency_keys WHERE created_at < ?1", [ts(&before)]).map(|n| n as u64)
    }
}
