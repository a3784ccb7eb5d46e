//! The instance's connections to PostgreSQL: at most `max_connections` open, each lent to one
//! job at a time.
//!
//! Hand-written rather than sqlx's `PgPool` because of one round trip: `PgPool` tests every
//! connection that comes back (a Sync and its answer, in a task of its own) before lending it
//! again, which made a lookup of one payment cost two round trips instead of one. Here the job
//! hands its connection back itself, and only once everything it sent has been answered and no
//! transaction is open; a connection left any other way (the job's future dropped half way, an
//! I/O error) is closed instead, and PostgreSQL rolls back whatever it had open.

use crate::map_error;
use paystate_store::{StoreError, StoreResult};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, timeout_at};

pub(crate) struct Pool {
    connect: PgConnectOptions,
    /// One permit per connection that may be open.
    permits: Arc<Semaphore>,
    /// Connections with nothing pending, ready to be lent.
    idle: Mutex<Vec<PgConnection>>,
    acquire_timeout: Duration,
}

impl Pool {
    /// A pool that opens connections as jobs need them (none yet).
    pub(crate) fn new(connect: PgConnectOptions, max_connections: u32, acquire_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            connect,
            permits: Arc::new(Semaphore::new(max_connections.max(1) as usize)),
            idle: Mutex::new(Vec::new()),
            acquire_timeout,
        })
    }

    /// An idle connection, or a new one; [`StoreError::Busy`] when none is free (or could be
    /// opened) within the acquire timeout.
    pub(crate) async fn acquire(self: &Arc<Self>) -> StoreResult<Lease> {
        let deadline = Instant::now() + self.acquire_timeout;
        let permit = match timeout_at(deadline, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_closed)) => return Err(StoreError::Backend("the PostgreSQL pool is closed".into())),
            Err(_elapsed) => return Err(StoreError::Busy),
        };
        let idle = self.idle.lock().map_err(|_| poisoned())?.pop();
        let conn = match idle {
            Some(conn) => conn,
            None => match timeout_at(deadline, PgConnection::connect_with(&self.connect)).await {
                Ok(connected) => connected.map_err(map_error)?,
                Err(_elapsed) => return Err(StoreError::Busy),
            },
        };
        Ok(Lease { conn: Some(conn), reusable: false, pool: self.clone(), _permit: permit })
    }

    /// Lends no more connections and closes the idle ones; lent ones close when handed back.
    pub(crate) async fn close(&self) {
        self.permits.close();
        let idle = match self.idle.lock() {
            Ok(mut idle) => std::mem::take(&mut *idle),
            Err(_) => return,
        };
        for conn in idle {
            let _ = conn.close().await;
        }
    }
}

fn poisoned() -> StoreError {
    StoreError::Backend("the PostgreSQL pool is poisoned".into())
}

/// A lent connection. It goes back to the pool when dropped only if [`Lease::settled`] said
/// that nothing is pending on it since its last use; otherwise it is closed.
pub(crate) struct Lease {
    /// Always `Some` until the lease drops.
    conn: Option<PgConnection>,
    reusable: bool,
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
}

impl Lease {
    /// Says whether every statement sent was answered and no transaction is open (true), or
    /// the connection must not be lent again (false). A lease that is never settled is closed.
    pub(crate) fn settled(&mut self, reusable: bool) {
        self.reusable = reusable;
    }
}

impl Deref for Lease {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        self.conn.as_ref().expect("a lease holds its connection until it drops")
    }
}

impl DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.conn.as_mut().expect("a lease holds its connection until it drops")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if self.reusable
            && !self.pool.permits.is_closed()
            && let Ok(mut idle) = self.pool.idle.lock()
        {
            idle.push(conn);
        }
        // Otherwise the connection drops here: its socket closes and the server ends its session.
    }
}
