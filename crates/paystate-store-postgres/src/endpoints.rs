//! Webhook endpoints on PostgreSQL: the records of the outbox's webhook subscribers, with their
//! sealed secrets. Inside a write job an endpoint read is locked until COMMIT, as payments are.

use crate::conn::{Mode, PgConn};
use crate::error::{check_opt_text, check_text, json_text};
use crate::rows::{EndpointRow, endpoint_columns, endpoint_record, ts};
use crate::statements::{check_cursor, only_if, unmatchable};
use paystate_domain::{EndpointId, TenantId};
use paystate_store::{EndpointRecord, PageRequest, StoreError, StoreResult};
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, Postgres};

impl PgConn {
    pub(crate) async fn endpoint_row(
        &mut self,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> StoreResult<Option<EndpointRecord>> {
        if unmatchable(&[tenant.as_str(), id.as_str()]) {
            return Ok(None);
        }
        let sql = if self.mode == Mode::Write {
            concat!(
                "SELECT ",
                endpoint_columns!(),
                " FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2 FOR NO KEY UPDATE"
            )
        } else {
            concat!("SELECT ", endpoint_columns!(), " FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2")
        };
        let row = sqlx::query_as::<_, EndpointRow>(sql)
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(self.conn())
            .await;
        Ok(row.map_err(|e| self.failed(e))?.map(endpoint_record))
    }

    pub(crate) async fn endpoint_rows(
        &mut self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> StoreResult<Vec<EndpointRecord>> {
        check_cursor(page)?;
        if unmatchable(&[tenant.as_str()]) {
            return Ok(Vec::new());
        }
        let sql = format!(
            concat!(
                "SELECT ",
                endpoint_columns!(),
                " FROM webhook_endpoints WHERE tenant_id = $1 AND {} ORDER BY id LIMIT $3"
            ),
            only_if(page.after.is_some(), "id > $2", "$2::text IS NULL"),
        );
        let rows = sqlx::query_as::<_, EndpointRow>(AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(page.after.as_deref())
            .bind(i64::from(page.limit))
            .fetch_all(self.conn())
            .await;
        Ok(rows.map_err(|e| self.failed(e))?.into_iter().map(endpoint_record).collect())
    }

    pub(crate) async fn insert_endpoint_row(&mut self, record: &EndpointRecord) -> StoreResult<()> {
        let e = &record.endpoint;
        let query = sqlx::query(concat!(
            "INSERT INTO webhook_endpoints (",
            endpoint_columns!(),
            ") VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
        .bind(e.id.as_str())
        .bind(e.tenant_id.as_str());
        let query = bind_endpoint_settings(query, record)?.bind(ts(&e.created_at)).bind(ts(&e.updated_at));
        self.execute(query).await.map(drop)
    }

    pub(crate) async fn update_endpoint_row(&mut self, record: &EndpointRecord) -> StoreResult<()> {
        let e = &record.endpoint;
        let query = sqlx::query(
            "UPDATE webhook_endpoints SET url = $3, events = $4::jsonb, description = $5, enabled = $6, \
             disabled_reason = $7, disabled_at = $8, failing_since = $9, secret = $10, previous_secret = $11, \
             previous_expires_at = $12, updated_at = $13 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(e.tenant_id.as_str())
        .bind(e.id.as_str());
        let query = bind_endpoint_settings(query, record)?.bind(ts(&e.updated_at));
        if self.execute(query).await? == 1 { Ok(()) } else { Err(StoreError::NotFound) }
    }

    pub(crate) async fn delete_endpoint_row(&mut self, tenant: &TenantId, id: &EndpointId) -> StoreResult<bool> {
        if unmatchable(&[tenant.as_str(), id.as_str()]) {
            return Ok(false);
        }
        // Deliveries and their attempts go with it (ON DELETE CASCADE).
        let query = sqlx::query("DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str());
        Ok(self.execute(query).await? == 1)
    }
}

/// Checks and binds an endpoint's settings, `$3` to `$12` (url, events, description, enabled,
/// the disabling, the secrets), which its insert and its update both write after the two ids:
/// one list, so that the two statements cannot check or bind them differently.
fn bind_endpoint_settings<'q>(
    query: Query<'q, Postgres, PgArguments>,
    record: &'q EndpointRecord,
) -> StoreResult<Query<'q, Postgres, PgArguments>> {
    let e = &record.endpoint;
    check_text("url", &e.url)?;
    check_opt_text("description", e.description.as_deref())?;
    let events = json_text("events", &e.events)?;
    Ok(query
        .bind(&e.url)
        .bind(events)
        .bind(e.description.as_deref())
        .bind(e.enabled)
        .bind(e.disabled_reason.as_deref())
        .bind(e.disabled_at.as_ref().map(ts))
        .bind(e.failing_since.as_ref().map(ts))
        .bind(record.secret.as_slice())
        .bind(record.previous_secret.as_deref())
        .bind(record.previous_expires_at.as_ref().map(ts)))
}
