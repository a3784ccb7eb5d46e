//! How this store builds and runs its statements: each noted in the job's statement log when
//! its request keeps one, lists' optional filters spelled so that generic plans keep their
//! index, reads that lock their rows in a write job, and lookups by a value PostgreSQL could not
//! hold (a NUL byte) answered without asking it.

use crate::error::check_opt_text;
use paystate_store::{PageRequest, StatementLog, StoreResult};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::{AssertSqlSafe, FromRow, Postgres};
use std::borrow::Cow;

/// Notes a statement in the job's statement log, when it keeps one.
pub(crate) fn note(log: &Option<StatementLog>, sql: &str) {
    if let Some(log) = log {
        log.note(sql);
    }
}

/// `sqlx::query`, noting the statement in the job's statement log.
pub(crate) fn noted(log: &Option<StatementLog>, sql: &'static str) -> Query<'static, Postgres, PgArguments> {
    note(log, sql);
    sqlx::query(sql)
}

/// `sqlx::query_as`, noting the statement in the job's statement log.
pub(crate) fn noted_as<O: for<'r> FromRow<'r, PgRow>>(
    log: &Option<StatementLog>,
    sql: impl Into<Cow<'static, str>>,
) -> QueryAs<'static, Postgres, O, PgArguments> {
    let sql = sql.into();
    note(log, &sql);
    // Every statement is made of this crate's literals (see [`only_if`]); values are bound.
    sqlx::query_as(AssertSqlSafe(sql))
}

/// `sqlx::query_scalar`, noting the statement in the job's statement log.
pub(crate) fn noted_scalar<O>(
    log: &Option<StatementLog>,
    sql: impl Into<Cow<'static, str>>,
) -> QueryScalar<'static, Postgres, O, PgArguments>
where
    (O,): for<'r> FromRow<'r, PgRow>,
{
    let sql = sql.into();
    note(log, &sql);
    sqlx::query_scalar(AssertSqlSafe(sql))
}

/// The condition of a list's optional filter: `condition` when the filter is set, else
/// `unset`, a test that its parameter is NULL, which keeps the parameters' numbering.
///
/// One `($2::text IS NULL OR order_id = $2)` would serve both cases, but PostgreSQL plans a
/// prepared statement once for all values after a few runs (a generic plan), and with such an OR
/// that plan can use no index for the filter: listing the payments of one order then read every
/// payment of the tenant (31 ms with 25,000 of them, in the lock of a write batch). Each
/// combination of filters is a statement of its own instead, prepared once per connection.
pub(crate) fn only_if(set: bool, condition: &'static str, unset: &'static str) -> &'static str {
    if set { condition } else { unset }
}

/// A statement that locks the rows it reads when run inside a write job. A read-only snapshot
/// cannot take row locks (and needs none), so read jobs run the plain statement.
macro_rules! locking {
    ($self:ident, $sql:literal) => {
        if $self.mode == $crate::conn::Mode::Write { concat!($sql, " FOR NO KEY UPDATE") } else { $sql }
    };
}
pub(crate) use locking;

/// Whether any of these lookup values holds a NUL byte: no stored row can match one, and
/// PostgreSQL would refuse the statement (aborting a write job's transaction) rather than say so.
pub(crate) fn unmatchable(values: &[&str]) -> bool {
    values.iter().any(|value| value.contains('\0'))
}

/// Page cursors are ids; one with a NUL byte is not a cursor this store handed out.
pub(crate) fn check_cursor(page: &PageRequest) -> StoreResult<()> {
    check_opt_text("after", page.after.as_deref())
}
