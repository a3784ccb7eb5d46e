//! The readers: read-only connections lent to read jobs, which run concurrently with the writer
//! (WAL) and with each other.

use crate::conn::SqliteConn;
use crate::payment_cache::PaymentCache;
use paystate_store::{StoreError, StoreResult};
use rusqlite::Connection;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Read-only connections, each used by one read job at a time. (A pool
/// crate would add a dependency for these few lines, and none tracks our rusqlite version.)
pub(crate) struct ReaderPool {
    pub(crate) permits: Semaphore,
    pub(crate) idle: Mutex<Vec<Connection>>,
}

impl ReaderPool {
    /// An idle connection (the caller holds a permit), back in the pool when the lease drops,
    /// even if the read's future is dropped half way.
    pub(crate) fn lease(&self, payments: Option<Arc<PaymentCache>>) -> StoreResult<Lease<'_>> {
        let connection = self.idle.lock().map_err(|_| StoreError::Backend("reader pool poisoned".into()))?.pop();
        let connection = connection.ok_or_else(|| StoreError::Backend("no idle reader".into()))?;
        Ok(Lease { conn: Some(SqliteConn::new(connection).looking_up_in(payments)), pool: self })
    }
}

pub(crate) struct Lease<'a> {
    /// Always `Some` until the lease drops.
    pub(crate) conn: Option<SqliteConn>,
    pool: &'a ReaderPool,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let (Some(conn), Ok(mut idle)) = (self.conn.take(), self.pool.idle.lock()) {
            idle.push(conn.into_inner());
        }
    }
}
