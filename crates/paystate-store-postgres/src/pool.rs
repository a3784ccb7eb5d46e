//! The instance's connections to PostgreSQL: at most `max_connections` open, each lent to one
//! job at a time.
//!
//! Hand-written rather than sqlx's `PgPool` because of one round trip: `PgPool` tests every
//! connection that comes back (a Sync and its answer, in a task of its own) before lending it
//! again, which made a lookup of one payment cost two round trips instead of one. Here the job
//! hands its connection back itself, and only once everything it sent has been answered and no
//! transaction is open; a connection left any other way (the job's future dropped half way, an
//! I/O error) is closed instead, and PostgreSQL rolls back whatever it had open. A connection
//! idle for long is not lent again but replaced: a firewall or NAT between the instance and the
//! database may have forgotten it, and a job on it would wait for TCP to give up.

use crate::map_error;
use paystate_store::{StoreError, StoreResult};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, timeout_at};

/// How long a connection may sit idle and still be lent: less than common NAT and load
/// balancer idle timeouts (4 to 6 minutes), after which a connection may be silently gone.
const IDLE_LIMIT: Duration = Duration::from_secs(120);

pub(crate) struct Pool {
    connect: PgConnectOptions,
    /// One permit per connection that may be open.
    permits: Arc<Semaphore>,
    /// Connections with nothing pending, ready to be lent, with when each was handed back.
    idle: Mutex<Vec<(PgConnection, Instant)>>,
    acquire_timeout: Duration,
    /// [`IDLE_LIMIT`], but for tests.
    idle_limit: Duration,
}

impl Pool {
    /// A pool that opens connections as jobs need them (none yet).
    pub(crate) fn new(connect: PgConnectOptions, max_connections: u32, acquire_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            connect,
            permits: Arc::new(Semaphore::new(max_connections.max(1) as usize)),
            idle: Mutex::new(Vec::new()),
            acquire_timeout,
            idle_limit: IDLE_LIMIT,
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
        let (conn, reused) = match self.idle_connection()? {
            Some(conn) => (conn, true),
            None => match timeout_at(deadline, PgConnection::connect_with(&self.connect)).await {
                Ok(Ok(connected)) => (connected, false),
                Ok(Err(error)) => {
                    // Said here, because the job only answers 503 (sqlx's text names no password).
                    tracing::warn!(%error, "cannot open a PostgreSQL connection");
                    return Err(map_error(error));
                }
                Err(_elapsed) => return Err(StoreError::Busy),
            },
        };
        Ok(Lease { conn: Some(conn), reused, reusable: false, pool: self.clone(), _permit: permit })
    }

    /// Closes the idle connections: one of them turned out dead, so the others (as old, or
    /// older) likely are too, after a restart of the server or a cut in the network.
    pub(crate) fn discard_idle(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }

    /// The connection handed back last, unless it has been idle past the limit (then every one
    /// is: they are handed back in order, so all of them are closed).
    fn idle_connection(&self) -> StoreResult<Option<PgConnection>> {
        let mut idle = self.idle.lock().map_err(|_| poisoned())?;
        match idle.pop() {
            Some((conn, since)) if since.elapsed() < self.idle_limit => Ok(Some(conn)),
            Some(_stale) => {
                idle.clear();
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// Lends no more connections and closes the idle ones; lent ones close when handed back.
    pub(crate) async fn close(&self) {
        self.permits.close();
        let idle = match self.idle.lock() {
            Ok(mut idle) => std::mem::take(&mut *idle),
            Err(_) => return,
        };
        for (conn, _) in idle {
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
    /// Whether the connection served jobs before (rather than being opened for this one).
    reused: bool,
    reusable: bool,
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
}

impl Lease {
    /// Whether the connection served jobs before this lease.
    pub(crate) fn reused(&self) -> bool {
        self.reused
    }

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
            idle.push((conn, Instant::now()));
        }
        // Otherwise the connection drops here: its socket closes and the server ends its session.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{TestDatabase, test_server_url};
    use std::str::FromStr;

    async fn backend_pid(lease: &mut Lease) -> i32 {
        let pid = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut **lease).await.unwrap();
        lease.settled(true);
        pid
    }

    #[tokio::test]
    async fn connections_are_reused_settled_closed_otherwise_and_replaced_when_idle_long() {
        let Some(server) = test_server_url("pool::tests") else { return };
        let database = TestDatabase::create(&server).await.unwrap();
        let connect = PgConnectOptions::from_str(&database.url).unwrap();
        let pool = Pool::new(connect, 1, Duration::from_secs(5));

        let first = backend_pid(&mut pool.acquire().await.unwrap()).await;
        let again = backend_pid(&mut pool.acquire().await.unwrap()).await;
        assert_eq!(first, again, "a settled connection is lent again");

        // Not settled: closed, and its place taken by a new one (the pool has room for one only).
        let unsettled = pool.acquire().await.unwrap();
        drop(unsettled);
        let after_unsettled = backend_pid(&mut pool.acquire().await.unwrap()).await;
        assert_ne!(after_unsettled, first);

        let stale = Pool { idle_limit: Duration::ZERO, ..Arc::into_inner(pool).unwrap() };
        let stale = Arc::new(stale);
        let before = backend_pid(&mut stale.acquire().await.unwrap()).await;
        let after = backend_pid(&mut stale.acquire().await.unwrap()).await;
        assert_ne!(before, after, "a connection idle past the limit is replaced");
        stale.close().await;
        database.drop_database().await.unwrap();
    }
}
