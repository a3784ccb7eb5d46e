//! Webhook endpoints on SQLite: the records of the outbox's webhook subscribers, with their
//! sealed secrets.

use crate::conn::SqliteConn;
use crate::rows::{ENDPOINT_COLUMNS, endpoint_from_row, endpoint_record, endpoint_values};
use paystate_domain::{EndpointId, TenantId};
use paystate_store::{EndpointRecord, PageRequest, StoreError, StoreResult};
use rusqlite::params;

impl SqliteConn {
    pub(crate) fn endpoint_by_id(&self, id: &str) -> StoreResult<Option<EndpointRecord>> {
        let row = self.query_one(
            &format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?1"),
            [id],
            endpoint_from_row,
        )?;
        row.map(endpoint_record).transpose()
    }

    pub(crate) fn endpoint_row(&mut self, tenant: &TenantId, id: &EndpointId) -> StoreResult<Option<EndpointRecord>> {
        Ok(self.endpoint_by_id(id.as_str())?.filter(|r| r.endpoint.tenant_id == *tenant))
    }

    pub(crate) fn endpoint_rows(&mut self, tenant: &TenantId, page: &PageRequest) -> StoreResult<Vec<EndpointRecord>> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = ?1 AND (?2 IS NULL OR id > ?2) \
             ORDER BY id LIMIT ?3"
        );
        let rows = self.query_all(&sql, params![tenant.as_str(), page.after, page.limit], endpoint_from_row)?;
        rows.into_iter().map(endpoint_record).collect()
    }

    pub(crate) fn insert_endpoint_row(&mut self, record: &EndpointRecord) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        );
        self.run(&sql, rusqlite::params_from_iter(endpoint_values(record)?)).map(drop)
    }

    pub(crate) fn update_endpoint_row(&mut self, record: &EndpointRecord) -> StoreResult<()> {
        // The same values as an insert, by position; the creation time (?13) stays as it was.
        let changed = self.run(
            "UPDATE webhook_endpoints SET url = ?3, events = ?4, description = ?5, enabled = ?6, disabled_reason = ?7, \
             disabled_at = ?8, failing_since = ?9, secret = ?10, previous_secret = ?11, previous_expires_at = ?12, \
             updated_at = ?14 WHERE id = ?1 AND tenant_id = ?2",
            rusqlite::params_from_iter(endpoint_values(record)?),
        )?;
        if changed == 1 { Ok(()) } else { Err(StoreError::NotFound) }
    }

    pub(crate) fn delete_endpoint_row(&mut self, tenant: &TenantId, id: &EndpointId) -> StoreResult<bool> {
        // Deliveries and their attempts go with it (ON DELETE CASCADE).
        let changed =
            self.run("DELETE FROM webhook_endpoints WHERE tenant_id = ?1 AND id = ?2", [tenant.as_str(), id.as_str()])?;
        Ok(changed == 1)
    }
}
