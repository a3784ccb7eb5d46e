//! One SQLite connection as the store uses it: the writer's, or a reader's lent from the pool.
//! It runs and notes statements, and carries what a job leaves for its batch: the events it
//! recorded (written by [`crate::outbox`] when the job ends) and the payments it wrote (for the
//! payment cache). The SQL of each part of the contract lives in a module of its own:
//! [`crate::reader`], [`crate::tx`], [`crate::idempotency`], [`crate::endpoints`],
//! [`crate::outbox`], [`crate::stream`] and [`crate::users`].

use crate::error::map_error;
use crate::payment_cache::{PaymentCache, Weighed};
use crate::rows::{docs, from_doc};
use paystate_domain::{Actor, EventDraft, Payment};
use paystate_store::{StatementLog, StoreResult};
use rusqlite::{Connection, OptionalExtension, Row};
use serde::de::DeserializeOwned;
use std::sync::Arc;

pub(crate) struct SqliteConn {
    conn: Connection,
    /// The events the current job recorded, written when it ends ([`SqliteConn::flush_events`]).
    pub(crate) queued: Vec<(Actor, EventDraft)>,
    /// Where the statements of the current job are noted, when its request asked for them.
    log: Option<StatementLog>,
    /// On a reader serving lookups of a store that caches payments: where payments are looked
    /// up first, and filled after a miss.
    pub(crate) lookup_cache: Option<Arc<PaymentCache>>,
    /// On the writer of a store that caches payments: every payment the current job wrote, for
    /// the cache to publish once the batch has committed.
    written_payments: Option<Vec<Weighed>>,
}

/// `condition` when its filter is set, else a condition on the same parameter that is always
/// true. SQLite plans a statement once for any parameters, so `(?2 IS NULL OR order_id = ?2)`
/// would scan every row of the tenant instead of using the order's index.
pub(crate) fn only_if(set: bool, condition: &'static str, parameter: &str) -> String {
    if set { condition.to_owned() } else { format!("{parameter} IS NULL") }
}

impl SqliteConn {
    pub(crate) fn new(conn: Connection) -> Self {
        Self { conn, queued: Vec::new(), log: None, lookup_cache: None, written_payments: None }
    }

    /// A reader for lookups, which answers payments from `cache` when it has them.
    pub(crate) fn looking_up_in(mut self, cache: Option<Arc<PaymentCache>>) -> Self {
        self.lookup_cache = cache;
        self
    }

    /// A writer that keeps the payments each job writes, for [`take_written_payments`](Self::take_written_payments).
    pub(crate) fn recording_payments(mut self) -> Self {
        self.written_payments = Some(Vec::new());
        self
    }

    /// The payments written since the last call, in the order they were written.
    pub(crate) fn take_written_payments(&mut self) -> Vec<Weighed> {
        self.written_payments.as_mut().map(std::mem::take).unwrap_or_default()
    }

    pub(crate) fn wrote_payment(&mut self, payment: &Payment, document_length: usize) {
        if let Some(written) = &mut self.written_payments {
            written.push(Weighed::new(payment.clone(), document_length));
        }
    }

    /// Notes the statements of the jobs that follow in `log` (or in none).
    pub(crate) fn set_log(&mut self, log: Option<StatementLog>) {
        self.log = log;
    }

    pub(crate) fn note(&self, sql: &str) {
        if let Some(log) = &self.log {
            log.note(sql);
        }
    }

    pub(crate) fn into_inner(self) -> Connection {
        self.conn
    }

    /// Runs one statement that returns no rows (transaction control, mostly). Prepared once per
    /// connection: preparing `BEGIN` or `RELEASE` again on every use cost more than running it.
    pub(crate) fn execute(&self, sql: &str) -> StoreResult<()> {
        self.run(sql, []).map(|_| ())
    }

    pub(crate) fn discard_queued_events(&mut self) {
        self.queued.clear();
    }

    pub(crate) fn one_doc<T: DeserializeOwned>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> StoreResult<Option<T>> {
        self.one_text(sql, params)?.as_deref().map(from_doc).transpose()
    }

    /// The first column of the one row the statement selects, if any.
    pub(crate) fn one_text(&self, sql: &str, params: impl rusqlite::Params) -> StoreResult<Option<String>> {
        self.note(sql);
        self.query_one(sql, params, |row| row.get(0))
    }

    pub(crate) fn many_docs<T: DeserializeOwned>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> StoreResult<Vec<T>> {
        self.note(sql);
        docs(self.query_all(sql, params, |row| row.get::<_, String>(0))?)
    }

    /// The one row a statement selects, if any, read by `from_row`. Every lookup of one row goes
    /// through here, so that each does not spell out the prepare, the read and the error mapping
    /// again. It notes nothing: a caller notes the statement where its request's log shows it.
    pub(crate) fn query_one<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        from_row: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> StoreResult<Option<T>> {
        self.conn.prepare_cached(sql).and_then(|mut s| s.query_row(params, from_row).optional()).map_err(map_error)
    }

    /// Every row a statement selects, each read by `from_row`: the list counterpart of
    /// [`Self::query_one`], and like it noting nothing.
    pub(crate) fn query_all<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        from_row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> StoreResult<Vec<T>> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.query_map(params, from_row)?.collect::<Result<Vec<_>, _>>())
            .map_err(map_error)
    }

    /// The connection itself, for the statements of sibling modules.
    pub(crate) fn raw(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn run(&self, sql: &str, params: impl rusqlite::Params) -> StoreResult<usize> {
        self.note(sql);
        self.conn.prepare_cached(sql).and_then(|mut s| s.execute(params)).map_err(map_error)
    }
}
