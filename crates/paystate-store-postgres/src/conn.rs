//! One job's connection to PostgreSQL, and its life: a pooled connection, the job's transaction
//! (or a batch's, with a savepoint per job) begun, committed or rolled back, and handed back to
//! the pool as it was left. A read job runs in a REPEATABLE READ READ ONLY transaction (one
//! snapshot), a write job in a READ COMMITTED one, and a lookup in none (each statement stands
//! alone).
//!
//! Inside a write job, reads of a payment or order lock the row (`FOR NO KEY UPDATE`) until the
//! job commits, so two instances updating one payment take turns instead of losing an update.
//! Events the job records are numbered and written by [`crate::outbox`] right before COMMIT,
//! under the tenant's counter row lock, held until COMMIT: numbers follow commit order without
//! gaps. A write job that names its tenant (every batch, and every job of a tenant's lane) takes
//! that lock first, before any payment's: two instances' jobs then never hold one lock each
//! while waiting for the other's.
//!
//! The SQL of each part of the contract lives in a module of its own: [`crate::reader`],
//! [`crate::tx`], [`crate::idempotency`], [`crate::endpoints`], [`crate::outbox`],
//! [`crate::stream`] and [`crate::users`].

use crate::error::{check_text, ends_connection, map_error};
use crate::pool::{Lease, Pool};
use crate::statements::{note, noted, noted_scalar, unmatchable};
use paystate_domain::{Actor, EventDraft, TenantId};
use paystate_store::outbox::Subscriber;
use paystate_store::{StatementLog, StoreError, StoreResult};
use serde::de::DeserializeOwned;
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres};
use std::collections::HashMap;
use std::sync::Arc;

/// The statement that locks a tenant's event counter (see [`PgConn::lock_event_counter`]).
pub(crate) const LOCK_EVENT_COUNTER: &str = "SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE";

/// The statement that opens a read job's snapshot.
pub(crate) const READ_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

/// What the connection serves.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A read job: one read-only snapshot.
    Read,
    /// A write job (or a batch of them): one transaction that locks what it reads.
    Write,
    /// A read job whose statements each stand alone: no transaction at all.
    Lookup,
}

pub(crate) struct PgConn {
    lease: Lease,
    pub(crate) mode: Mode,
    /// Set when a statement failed other than by PostgreSQL refusing it (an I/O error, a row it
    /// could not decode): the connection may have answers pending, so it is closed, not lent again.
    broken: bool,
    /// The events the job recorded, written right before COMMIT ([`PgConn::flush_events`]).
    pub(crate) queued: Vec<(Actor, EventDraft)>,
    /// The text of the first statement PostgreSQL refused. After a refusal PostgreSQL ignores
    /// every later statement and turns COMMIT into ROLLBACK without an error, so a job that went
    /// on regardless must not be reported as committed (SQLite, by contrast, keeps the
    /// transaction usable after a failed statement).
    aborted: Option<String>,
    /// Where the job's statements are noted, when its request asked for them.
    pub(crate) log: Option<StatementLog>,
    /// The subscribers of each tenant whose events this transaction wrote, read once per
    /// transaction (a batch of jobs shares it).
    pub(crate) subscribers: HashMap<TenantId, Vec<Subscriber>>,
}

impl PgConn {
    /// A pooled connection with the job's transaction started as `mode` wants it (a lookup
    /// starts none). The statement is noted by the caller: a batch notes it in the log of each of
    /// its jobs. A connection that turns out dead when BEGIN is sent (nothing of the job has run
    /// yet) is replaced once, and the idle ones with it.
    pub(crate) async fn open(pool: &Arc<Pool>, mode: Mode) -> StoreResult<Self> {
        let lease = pool.acquire().await?;
        let reused = lease.reused();
        match Self::start(lease, mode).await {
            Err(StoreError::Busy) if reused => {
                pool.discard_idle();
                Self::start(pool.acquire().await?, mode).await
            }
            started => started,
        }
    }

    async fn start(lease: Lease, mode: Mode) -> StoreResult<Self> {
        let mut conn = Self {
            lease,
            mode,
            broken: false,
            queued: Vec::new(),
            aborted: None,
            log: None,
            subscribers: HashMap::new(),
        };
        match mode {
            Mode::Read => conn.statement(READ_SNAPSHOT).await?,
            Mode::Write => conn.statement("BEGIN").await?,
            Mode::Lookup => {}
        }
        Ok(conn)
    }

    /// Runs one statement without parameters (transaction control), noted in the job's log.
    async fn control(&mut self, sql: &'static str) -> StoreResult<()> {
        note(&self.log, sql);
        self.statement(sql).await
    }

    async fn statement(&mut self, sql: &'static str) -> StoreResult<()> {
        let done = sqlx::raw_sql(sql).execute(self.conn()).await;
        done.map(drop).map_err(|e| self.failed(e))
    }

    /// Locks the tenant's event counter row until COMMIT, before the job (or the batch's first
    /// job) runs. Every job that records an event locks it anyway (at its first event, until
    /// COMMIT); taking it first orders the locks of every instance's jobs alike: the second waits
    /// for the first instead of each holding a payment the other needs (a deadlock PostgreSQL
    /// would break by failing a job).
    pub(crate) async fn lock_event_counter(&mut self, tenant: &TenantId) -> StoreResult<()> {
        check_text("tenant_id", tenant.as_str())?;
        let query = noted(&self.log, LOCK_EVENT_COUNTER).bind(tenant.as_str());
        self.execute(query).await.map(drop)
    }

    /// Marks where the first job of a batch starts, so that it can fail alone. (Each job notes
    /// its savepoint in its own log, whichever round trip set it.)
    pub(crate) async fn begin_job(&mut self) -> StoreResult<()> {
        self.statement("SAVEPOINT job").await
    }

    /// Keeps the job's writes in the batch's transaction and, when `another` job follows, marks
    /// where it starts, in the same round trip. (The last job's savepoint is left to COMMIT.)
    pub(crate) async fn keep_job(&mut self, another: bool) -> StoreResult<()> {
        if let Some(error) = self.aborted.clone() {
            return Err(StoreError::Backend(format!("a write job went on after a failed statement ({error})")));
        }
        if !another {
            return Ok(());
        }
        note(&self.log, "RELEASE SAVEPOINT job");
        self.statement("RELEASE SAVEPOINT job; SAVEPOINT job").await
    }

    /// Undoes the job's writes (and its locks); the batch's transaction goes on without them,
    /// from the same savepoint, which rolling back to keeps: the next job starts there.
    pub(crate) async fn undo_job(&mut self) -> StoreResult<()> {
        self.queued.clear();
        self.aborted = None;
        self.control("ROLLBACK TO SAVEPOINT job").await
    }

    /// Notes the job's statements in `log` (or in none).
    pub(crate) fn set_log(&mut self, log: Option<StatementLog>) {
        self.log = log;
    }

    /// Notes a statement of a sibling module in the job's statement log.
    pub(crate) fn note_statement(&self, sql: &str) {
        note(&self.log, sql);
    }

    pub(crate) fn conn(&mut self) -> &mut PgConnection {
        &mut self.lease
    }

    /// Maps an error of a statement, remembering that PostgreSQL aborted the transaction, or
    /// that the connection is not to be trusted again.
    pub(crate) fn failed(&mut self, error: sqlx::Error) -> StoreError {
        match &error {
            _ if ends_connection(&error) => {
                // The job answers 503; the cause is for the log (sqlx's text names no password).
                tracing::warn!(%error, "a PostgreSQL connection ended during a job");
                self.broken = true;
            }
            sqlx::Error::Database(_) if self.aborted.is_none() => self.aborted = Some(error.to_string()),
            sqlx::Error::Database(_) | sqlx::Error::RowNotFound => {}
            _ => self.broken = true,
        }
        map_error(error)
    }

    /// Commits, unless a statement of the job failed: PostgreSQL would then roll back while
    /// answering COMMIT as if it had worked.
    pub(crate) async fn commit(mut self) -> StoreResult<()> {
        if let Some(error) = self.aborted.take() {
            self.rollback().await;
            return Err(StoreError::Backend(format!(
                "the write job went on after a failed statement ({error}); PostgreSQL rolled it back"
            )));
        }
        let committed = self.control("COMMIT").await;
        // A refused COMMIT may have left the transaction open (an answer of an abandoned
        // statement comes back in its place): the pool then rolls back before lending it again.
        self.settle(committed.is_ok());
        committed
    }

    /// Ends the transaction without keeping anything (a read job's always ends so).
    pub(crate) async fn rollback(mut self) {
        let ended = self.control("ROLLBACK").await;
        self.settle(ended.is_ok());
    }

    /// Hands the connection of a lookup back (it opened no transaction).
    pub(crate) fn finish(mut self) {
        self.settle(true);
    }

    /// Tells the pool how the connection was left: broken (closed), or with nothing pending
    /// when `ended` (its transaction is over: lent again as it is). Otherwise, as when a job is
    /// dropped half way and never gets here, the pool rolls back before lending it again.
    fn settle(&mut self, ended: bool) {
        if self.broken {
            self.lease.broken();
        } else if ended {
            self.lease.settled();
        }
    }

    /// One document by tenant and key; a key holding NUL matches nothing.
    pub(crate) async fn one_doc<T: DeserializeOwned + Send + Unpin + 'static>(
        &mut self,
        sql: &'static str,
        tenant: &TenantId,
        key: &str,
    ) -> StoreResult<Option<T>> {
        if unmatchable(&[tenant.as_str(), key]) {
            return Ok(None);
        }
        let found =
            noted_scalar::<Json<T>>(&self.log, sql).bind(tenant.as_str()).bind(key).fetch_optional(self.conn()).await;
        Ok(found.map_err(|e| self.failed(e))?.map(|Json(doc)| doc))
    }

    pub(crate) async fn execute(
        &mut self,
        query: sqlx::query::Query<'_, Postgres, sqlx::postgres::PgArguments>,
    ) -> StoreResult<u64> {
        let done = query.execute(self.conn()).await;
        Ok(done.map_err(|e| self.failed(e))?.rows_affected())
    }
}
