//! The SQL of the operator console on SQLite: users, sessions and the overview's counts.

use crate::conn::SqliteConn;
use crate::rows::{opt_ts, parse_ts, ts};
use paystate_domain::Payment;
use paystate_domain::{EventType, PaymentStatus, Role, Source, TenantId, Timestamp, UserId};
use paystate_store::{
    EventCount, PageRequest, PaymentSearch, SessionRecord, StatusCount, StoreError, StoreResult, UserRecord,
};
use rusqlite::{Row, params};

const USER_COLUMNS: &str = "id, tenant_id, email, role, password_hash, disabled_at, created_at, updated_at";
const SESSION_COLUMNS: &str = "token_hash, tenant_id, user_id, created_at, last_seen_at, revoked_at";

type UserRow = (String, String, String, String, String, Option<String>, String, String);

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<UserRow> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?, row.get(7)?))
}

fn user_record(row: UserRow) -> StoreResult<UserRecord> {
    let (id, tenant_id, email, role, password_hash, disabled_at, created_at, updated_at) = row;
    Ok(UserRecord {
        id: UserId::from_trusted(id),
        tenant_id: TenantId::from_trusted(tenant_id),
        email,
        role: Role::parse(&role).ok_or_else(|| StoreError::Backend(format!("bad role {role}")))?,
        password_hash,
        disabled_at: opt_ts(disabled_at)?,
        created_at: parse_ts(&created_at)?,
        updated_at: parse_ts(&updated_at)?,
    })
}

type SessionRow = (Vec<u8>, String, String, String, String, Option<String>);

fn session_from_row(row: &Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
}

fn session_record(row: SessionRow) -> StoreResult<SessionRecord> {
    let (hash, tenant_id, user_id, created_at, last_seen_at, revoked_at) = row;
    Ok(SessionRecord {
        token_hash: hash.try_into().map_err(|_| StoreError::Backend("bad session hash".into()))?,
        tenant_id: TenantId::from_trusted(tenant_id),
        user_id: UserId::from_trusted(user_id),
        created_at: parse_ts(&created_at)?,
        last_seen_at: parse_ts(&last_seen_at)?,
        revoked_at: opt_ts(revoked_at)?,
    })
}

impl SqliteConn {
    fn user_rows(&self, sql: &str, params: impl rusqlite::Params) -> StoreResult<Vec<UserRecord>> {
        self.note(sql);
        let rows = self.query_all(sql, params, user_from_row)?;
        rows.into_iter().map(user_record).collect()
    }

    pub(super) fn console_user(&self, tenant: &TenantId, id: &UserId) -> StoreResult<Option<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM console_users WHERE tenant_id = ?1 AND id = ?2");
        Ok(self.user_rows(&sql, [tenant.as_str(), id.as_str()])?.pop())
    }

    pub(super) fn console_users_with_email(&self, email: &str) -> StoreResult<Vec<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM console_users WHERE email = ?1 ORDER BY id");
        self.user_rows(&sql, [email])
    }

    pub(super) fn console_users(&self, tenant: &TenantId) -> StoreResult<Vec<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM console_users WHERE tenant_id = ?1 ORDER BY email");
        self.user_rows(&sql, [tenant.as_str()])
    }

    pub(super) fn console_session(&self, token_hash: &[u8; 32]) -> StoreResult<Option<SessionRecord>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM console_sessions WHERE token_hash = ?1");
        self.note(&sql);
        let row = self.query_one(&sql, [token_hash.as_slice()], session_from_row)?;
        row.map(session_record).transpose()
    }

    pub(super) fn console_payment_counts(&self, tenant: &TenantId) -> StoreResult<Vec<StatusCount>> {
        const SQL: &str = "SELECT status, needs_review, COUNT(*) FROM payments WHERE tenant_id = ?1 AND deleted = 0 \
                           GROUP BY status, needs_review ORDER BY status, needs_review";
        self.note(SQL);
        let rows: Vec<(String, bool, i64)> = self.query_all(SQL, [tenant.as_str()], |row| row.try_into())?;
        rows.into_iter()
            .map(|(status, needs_review, count)| {
                let status =
                    PaymentStatus::parse(&status).ok_or_else(|| StoreError::Backend(format!("bad status {status}")))?;
                Ok(StatusCount { status, needs_review, count })
            })
            .collect()
    }

    pub(super) fn console_event_counts(&self, tenant: &TenantId, since: Timestamp) -> StoreResult<Vec<EventCount>> {
        const SQL: &str = "SELECT source, type, COUNT(*) FROM events WHERE tenant_id = ?1 AND created_at >= ?2 \
                           GROUP BY source, type ORDER BY source, type";
        self.note(SQL);
        let rows: Vec<(String, String, i64)> =
            self.query_all(SQL, params![tenant.as_str(), ts(&since)], |row| row.try_into())?;
        rows.into_iter()
            .map(|(source, kind, count)| {
                let source =
                    Source::parse(&source).ok_or_else(|| StoreError::Backend(format!("bad source {source}")))?;
                let kind = EventType::parse(&kind).ok_or_else(|| StoreError::Backend(format!("bad type {kind}")))?;
                Ok(EventCount { source, kind, count })
            })
            .collect()
    }

    pub(super) fn console_payments_matching(
        &self,
        tenant: &TenantId,
        search: &PaymentSearch,
        page: &PageRequest,
    ) -> StoreResult<Vec<Payment>> {
        // One lower bound, the tighter of the filter's and the cursor's: with two, SQLite would
        // start the index range at one and filter the rows up to the other one by one.
        let after = search.id_after.as_deref().max(page.after.as_deref()).unwrap_or("");
        // An unset upper bound is one every payment id ("pay_" and 32 hex digits) lies below.
        const SQL: &str = "SELECT doc FROM payments WHERE tenant_id = ?1 AND deleted = 0 \
             AND id > ?2 AND id < ?3 \
             AND (?4 IS NULL OR status = ?4) AND (?5 IS NULL OR needs_review = ?5) \
             AND (?6 IS NULL OR json_extract(doc, '$.currency') = ?6) \
             AND (?7 IS NULL OR json_extract(doc, '$.created_via') = ?7) ORDER BY id LIMIT ?8";
        self.many_docs(
            SQL,
            params![
                tenant.as_str(),
                after,
                search.id_before.as_deref().unwrap_or("pay_g"),
                search.status.map(|s| s.as_str()),
                search.needs_review,
                search.currency,
                search.created_via.map(|s| s.as_str()),
                page.limit,
            ],
        )
    }

    pub(super) fn insert_console_user(&self, user: &UserRecord) -> StoreResult<()> {
        self.run(
            &format!("INSERT INTO console_users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
            params![
                user.id.as_str(),
                user.tenant_id.as_str(),
                user.email,
                user.role.as_str(),
                user.password_hash,
                user.disabled_at.as_ref().map(ts),
                ts(&user.created_at),
                ts(&user.updated_at),
            ],
        )
        .map(drop)
    }

    pub(super) fn update_console_user(&self, user: &UserRecord) -> StoreResult<()> {
        let changed = self.run(
            "UPDATE console_users SET role = ?3, password_hash = ?4, disabled_at = ?5, updated_at = ?6 \
             WHERE tenant_id = ?1 AND id = ?2",
            params![
                user.tenant_id.as_str(),
                user.id.as_str(),
                user.role.as_str(),
                user.password_hash,
                user.disabled_at.as_ref().map(ts),
                ts(&user.updated_at),
            ],
        )?;
        if changed == 1 { Ok(()) } else { Err(StoreError::NotFound) }
    }

    pub(super) fn insert_console_session(&self, session: &SessionRecord) -> StoreResult<()> {
        self.run(
            &format!("INSERT INTO console_sessions ({SESSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
            params![
                session.token_hash.as_slice(),
                session.tenant_id.as_str(),
                session.user_id.as_str(),
                ts(&session.created_at),
                ts(&session.last_seen_at),
                session.revoked_at.as_ref().map(ts),
            ],
        )
        .map(drop)
    }

    pub(super) fn touch_console_session(&self, token_hash: &[u8; 32], at: Timestamp) -> StoreResult<bool> {
        let changed = self.run(
            "UPDATE console_sessions SET last_seen_at = ?2 WHERE token_hash = ?1",
            params![token_hash.as_slice(), ts(&at)],
        )?;
        Ok(changed == 1)
    }

    pub(super) fn revoke_console_session(&self, token_hash: &[u8; 32], at: Timestamp) -> StoreResult<bool> {
        let changed = self.run(
            "UPDATE console_sessions SET revoked_at = COALESCE(revoked_at, ?2) WHERE token_hash = ?1",
            params![token_hash.as_slice(), ts(&at)],
        )?;
        Ok(changed == 1)
    }

    pub(super) fn revoke_console_user_sessions(
        &self,
        tenant: &TenantId,
        user: &UserId,
        at: Timestamp,
    ) -> StoreResult<u64> {
        let changed = self.run(
            "UPDATE console_sessions SET revoked_at = ?3 WHERE tenant_id = ?1 AND user_id = ?2 AND revoked_at IS NULL",
            params![tenant.as_str(), user.as_str(), ts(&at)],
        )?;
        Ok(changed as u64)
    }

    pub(super) fn purge_console_sessions(&self, before: Timestamp) -> StoreResult<u64> {
        let deleted = self.run("DELETE FROM console_sessions WHERE created_at < ?1", [ts(&before)])?;
        Ok(deleted as u64)
    }
}
