//! Idempotency keys on PostgreSQL: a request's claim on its key, committed with its change, and
//! the answer replayed to a retry of it.

use crate::conn::PgConn;
use crate::error::{check_text, json_text};
use crate::rows::ts;
use crate::statements::{noted, noted_as, unmatchable};
use paystate_domain::{TenantId, Timestamp};
use paystate_store::{IdempotencyKey, IdempotencyRecord, StoreError, StoreResult, StoredResponse};

impl PgConn {
    pub(crate) async fn idempotency_row(
        &mut self,
        tenant: &TenantId,
        key: &str,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        type Row = (String, Option<i32>, Option<String>, Option<serde_json::Value>, Option<Vec<u8>>, Timestamp);
        if unmatchable(&[tenant.as_str(), key]) {
            return Ok(None);
        }
        let row = noted_as::<Row>(
            &self.log,
            "SELECT fingerprint, status, content_type, headers, body, created_at FROM idempotency_keys \
             WHERE tenant_id = $1 AND key = $2",
        )
        .bind(tenant.as_str())
        .bind(key)
        .fetch_optional(self.conn())
        .await;
        let Some((fingerprint, status, content_type, headers, body, created_at)) = row.map_err(|e| self.failed(e))?
        else {
            return Ok(None);
        };
        let response = match (status, content_type, body) {
            (Some(status), Some(content_type), Some(body)) => {
                let status =
                    u16::try_from(status).map_err(|_| StoreError::Backend(format!("bad stored status {status}")))?;
                let headers = match headers {
                    Some(headers) => serde_json::from_value(headers)
                        .map_err(|e| StoreError::Backend(format!("bad stored headers: {e}")))?,
                    None => Vec::new(),
                };
                Some(StoredResponse { status, content_type, headers, body })
            }
            _ => None,
        };
        Ok(Some(IdempotencyRecord { fingerprint, response, created_at }))
    }

    /// `ON CONFLICT DO NOTHING` waits for a concurrent claimer of the key to commit or roll
    /// back: two instances racing for one key see one winner, and the loser finds it answered.
    pub(crate) async fn claim_idempotency_row(&mut self, key: &IdempotencyKey, now: Timestamp) -> StoreResult<bool> {
        check_text("tenant_id", key.tenant_id.as_str())?;
        check_text("idempotency key", &key.key)?;
        check_text("fingerprint", &key.fingerprint)?;
        let query = noted(
            &self.log,
            "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, key) DO NOTHING",
        )
        .bind(key.tenant_id.as_str())
        .bind(&key.key)
        .bind(&key.fingerprint)
        .bind(ts(&now));
        if self.execute(query).await? == 1 {
            return Ok(true);
        }
        // An unanswered claim can only be one an older paystate left when its process died.
        let query = noted(
            &self.log,
            "UPDATE idempotency_keys SET fingerprint = $3, created_at = $4 \
             WHERE tenant_id = $1 AND key = $2 AND status IS NULL",
        )
        .bind(key.tenant_id.as_str())
        .bind(&key.key)
        .bind(&key.fingerprint)
        .bind(ts(&now));
        Ok(self.execute(query).await? == 1)
    }

    pub(crate) async fn answer_idempotency_row(
        &mut self,
        key: &IdempotencyKey,
        response: &StoredResponse,
    ) -> StoreResult<()> {
        check_text("content_type", &response.content_type)?;
        let headers = json_text("headers", &response.headers)?;
        let query = noted(
            &self.log,
            "UPDATE idempotency_keys SET status = $3, content_type = $4, headers = $5::jsonb, body = $6 \
             WHERE tenant_id = $1 AND key = $2",
        )
        .bind(key.tenant_id.as_str())
        .bind(&key.key)
        .bind(i32::from(response.status))
        .bind(&response.content_type)
        .bind(headers)
        .bind(response.body.as_slice());
        self.execute(query).await.map(drop)
    }

    pub(crate) async fn purge_idempotency_rows(&mut self, before: Timestamp) -> StoreResult<u64> {
        let query = noted(&self.log, "DELETE FROM idempotency_keys WHERE created_at < $1").bind(ts(&before));
        self.execute(query).await
    }
}
