//! The SQL of the operator console on PostgreSQL: users, sessions and the overview's counts.

use crate::conn::PgConn;
use crate::error::check_text;
use crate::rows::ts;
use crate::statements::{noted, noted_as, noted_scalar, unmatchable};
use paystate_domain::Payment;
use paystate_domain::{EventType, PaymentStatus, Role, Source, TenantId, Timestamp, UserId};
use paystate_store::{
    EventCount, PageRequest, PaymentSearch, SessionRecord, StatusCount, StoreError, StoreResult, UserRecord,
};
use sqlx::types::Json;

/// The columns of `console_users`, in the order of [`UserRow`].
macro_rules! user_columns {
    () => {
        "id, tenant_id, email, role, password_hash, disabled_at, created_at, updated_at"
    };
}

macro_rules! session_columns {
    () => {
        "token_hash, tenant_id, user_id, created_at, last_seen_at, revoked_at"
    };
}

type UserRow = (String, String, String, String, String, Option<Timestamp>, Timestamp, Timestamp);
type SessionRow = (Vec<u8>, String, String, Timestamp, Timestamp, Option<Timestamp>);

fn user_record(row: UserRow) -> StoreResult<UserRecord> {
    let (id, tenant_id, email, role, password_hash, disabled_at, created_at, updated_at) = row;
    Ok(UserRecord {
        id: UserId::from_trusted(id),
        tenant_id: TenantId::from_trusted(tenant_id),
        email,
        role: Role::parse(&role).ok_or_else(|| StoreError::Backend(format!("bad role {role}")))?,
        password_hash,
        disabled_at,
        created_at,
        updated_at,
    })
}

fn session_record(row: SessionRow) -> StoreResult<SessionRecord> {
    let (hash, tenant_id, user_id, created_at, last_seen_at, revoked_at) = row;
    Ok(SessionRecord {
        token_hash: hash.try_into().map_err(|_| StoreError::Backend("bad session hash".into()))?,
        tenant_id: TenantId::from_trusted(tenant_id),
        user_id: UserId::from_trusted(user_id),
        created_at,
        last_seen_at,
        revoked_at,
    })
}

impl PgConn {
    pub(super) async fn console_user(&mut self, tenant: &TenantId, id: &UserId) -> StoreResult<Option<UserRecord>> {
        if unmatchable(&[tenant.as_str(), id.as_str()]) {
            return Ok(None);
        }
        let sql = concat!("SELECT ", user_columns!(), " FROM console_users WHERE tenant_id = $1 AND id = $2");
        let row = noted_as::<UserRow>(&self.log, sql)
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(self.conn())
            .await;
        row.map_err(|e| self.failed(e))?.map(user_record).transpose()
    }

    pub(super) async fn console_users_with_email(&mut self, email: &str) -> StoreResult<Vec<UserRecord>> {
        if unmatchable(&[email]) {
            return Ok(Vec::new());
        }
        let sql = concat!("SELECT ", user_columns!(), " FROM console_users WHERE email = $1 ORDER BY id");
        let rows = noted_as::<UserRow>(&self.log, sql).bind(email).fetch_all(self.conn()).await;
        rows.map_err(|e| self.failed(e))?.into_iter().map(user_record).collect()
    }

    pub(super) async fn console_users(&mut self, tenant: &TenantId) -> StoreResult<Vec<UserRecord>> {
        if unmatchable(&[tenant.as_str()]) {
            return Ok(Vec::new());
        }
        let sql = concat!("SELECT ", user_columns!(), " FROM console_users WHERE tenant_id = $1 ORDER BY email");
        let rows = noted_as::<UserRow>(&self.log, sql).bind(tenant.as_str()).fetch_all(self.conn()).await;
        rows.map_err(|e| self.failed(e))?.into_iter().map(user_record).collect()
    }

    pub(super) async fn console_session(&mut self, token_hash: &[u8; 32]) -> StoreResult<Option<SessionRecord>> {
        let sql = concat!("SELECT ", session_columns!(), " FROM console_sessions WHERE token_hash = $1");
        let row = noted_as::<SessionRow>(&self.log, sql).bind(token_hash.as_slice()).fetch_optional(self.conn()).await;
        row.map_err(|e| self.failed(e))?.map(session_record).transpose()
    }

    pub(super) async fn console_payment_counts(&mut self, tenant: &TenantId) -> StoreResult<Vec<StatusCount>> {
        if unmatchable(&[tenant.as_str()]) {
            return Ok(Vec::new());
        }
        let sql = "SELECT status, needs_review, COUNT(*) FROM payments WHERE tenant_id = $1 AND NOT deleted \
                   GROUP BY status, needs_review ORDER BY status, needs_review";
        let rows = noted_as::<(String, bool, i64)>(&self.log, sql).bind(tenant.as_str()).fetch_all(self.conn()).await;
        rows.map_err(|e| self.failed(e))?
            .into_iter()
            .map(|(status, needs_review, count)| {
                let status =
                    PaymentStatus::parse(&status).ok_or_else(|| StoreError::Backend(format!("bad status {status}")))?;
                Ok(StatusCount { status, needs_review, count })
            })
            .collect()
    }

    pub(super) async fn console_event_counts(
        &mut self,
        tenant: &TenantId,
        since: Timestamp,
    ) -> StoreResult<Vec<EventCount>> {
        if unmatchable(&[tenant.as_str()]) {
            return Ok(Vec::new());
        }
        let sql = "SELECT source, type, COUNT(*) FROM events WHERE tenant_id = $1 AND created_at >= $2 \
                   GROUP BY source, type ORDER BY source, type";
        let rows = noted_as::<(String, String, i64)>(&self.log, sql)
            .bind(tenant.as_str())
            .bind(ts(&since))
            .fetch_all(self.conn())
            .await;
        rows.map_err(|e| self.failed(e))?
            .into_iter()
            .map(|(source, kind, count)| {
                let source =
                    Source::parse(&source).ok_or_else(|| StoreError::Backend(format!("bad source {source}")))?;
                let kind = EventType::parse(&kind).ok_or_else(|| StoreError::Backend(format!("bad type {kind}")))?;
                Ok(EventCount { source, kind, count })
            })
            .collect()
    }

    pub(super) async fn console_payments_matching(
        &mut self,
        tenant: &TenantId,
        search: &PaymentSearch,
        page: &PageRequest,
    ) -> StoreResult<Vec<Payment>> {
        let texts = [
            search.id_after.as_deref(),
            search.id_before.as_deref(),
            page.after.as_deref(),
            search.currency.as_deref(),
        ];
        if unmatchable(&[tenant.as_str()]) || unmatchable(&texts.iter().flatten().copied().collect::<Vec<_>>()) {
            return Ok(Vec::new());
        }
        // One lower bound, the tighter of the filter's and the cursor's, for the index range.
        let after = search.id_after.as_deref().max(page.after.as_deref()).unwrap_or("");
        // An unset upper bound is one every payment id ("pay_" and 32 hex digits) lies below.
        let sql = "SELECT doc FROM payments WHERE tenant_id = $1 AND NOT deleted AND id > $2 AND id < $3 \
                   AND ($4::text IS NULL OR status = $4) AND ($5::boolean IS NULL OR needs_review = $5) \
                   AND ($6::text IS NULL OR doc->>'currency' = $6) AND ($7::text IS NULL OR doc->>'created_via' = $7) \
                   ORDER BY id LIMIT $8";
        let rows = noted_scalar::<Json<Payment>>(&self.log, sql)
            .bind(tenant.as_str())
            .bind(after)
            .bind(search.id_before.as_deref().unwrap_or("pay_g"))
            .bind(search.status.map(|s| s.as_str()))
            .bind(search.needs_review)
            .bind(search.currency.as_deref())
            .bind(search.created_via.map(|s| s.as_str()))
            .bind(i64::from(page.limit))
            .fetch_all(self.conn())
            .await;
        Ok(rows.map_err(|e| self.failed(e))?.into_iter().map(|Json(p)| p).collect())
    }

    pub(super) async fn insert_console_user(&mut self, user: &UserRecord) -> StoreResult<()> {
        check_text("email", &user.email)?;
        check_text("password_hash", &user.password_hash)?;
        let query = noted(
            &self.log,
            concat!("INSERT INTO console_users (", user_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"),
        )
        .bind(user.id.as_str())
        .bind(user.tenant_id.as_str())
        .bind(user.email.as_str())
        .bind(user.role.as_str())
        .bind(user.password_hash.as_str())
        .bind(user.disabled_at.as_ref().map(ts))
        .bind(ts(&user.created_at))
        .bind(ts(&user.updated_at));
        self.execute(query).await.map(drop)
    }

    pub(super) async fn update_console_user(&mut self, user: &UserRecord) -> StoreResult<()> {
        check_text("password_hash", &user.password_hash)?;
        let query = noted(
            &self.log,
            "UPDATE console_users SET role = $3, password_hash = $4, disabled_at = $5, updated_at = $6 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(user.tenant_id.as_str())
        .bind(user.id.as_str())
        .bind(user.role.as_str())
        .bind(user.password_hash.as_str())
        .bind(user.disabled_at.as_ref().map(ts))
        .bind(ts(&user.updated_at));
        if self.execute(query).await? == 1 { Ok(()) } else { Err(StoreError::NotFound) }
    }

    pub(super) async fn insert_console_session(&mut self, session: &SessionRecord) -> StoreResult<()> {
        let query = noted(
            &self.log,
            concat!("INSERT INTO console_sessions (", session_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6)"),
        )
        .bind(session.token_hash.as_slice())
        .bind(session.tenant_id.as_str())
        .bind(session.user_id.as_str())
        .bind(ts(&session.created_at))
        .bind(ts(&session.last_seen_at))
        .bind(session.revoked_at.as_ref().map(ts));
        self.execute(query).await.map(drop)
    }

    pub(super) async fn touch_console_session(&mut self, token_hash: &[u8; 32], at: Timestamp) -> StoreResult<bool> {
        let query = noted(&self.log, "UPDATE console_sessions SET last_seen_at = $2 WHERE token_hash = $1")
            .bind(token_hash.as_slice())
            .bind(ts(&at));
        Ok(self.execute(query).await? == 1)
    }

    pub(super) async fn revoke_console_session(&mut self, token_hash: &[u8; 32], at: Timestamp) -> StoreResult<bool> {
        let query =
            noted(&self.log, "UPDATE console_sessions SET revoked_at = COALESCE(revoked_at, $2) WHERE token_hash = $1")
                .bind(token_hash.as_slice())
                .bind(ts(&at));
        Ok(self.execute(query).await? == 1)
    }

    pub(super) async fn revoke_console_user_sessions(
        &mut self,
        tenant: &TenantId,
        user: &UserId,
        at: Timestamp,
    ) -> StoreResult<u64> {
        if unmatchable(&[tenant.as_str(), user.as_str()]) {
            return Ok(0);
        }
        let query = noted(
            &self.log,
            "UPDATE console_sessions SET revoked_at = $3 WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL",
        )
        .bind(tenant.as_str())
        .bind(user.as_str())
        .bind(ts(&at));
        self.execute(query).await
    }

    pub(super) async fn purge_console_sessions(&mut self, before: Timestamp) -> StoreResult<u64> {
        let query = noted(&self.log, "DELETE FROM console_sessions WHERE created_at < $1").bind(ts(&before));
        self.execute(query).await
    }
}
