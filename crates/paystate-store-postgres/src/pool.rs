//! The instance's connections to PostgreSQL: at most `max_connections` open, each lent to one
//! job at a time.
//!
//! Hand-written rather than sqlx's `PgPool` because of one round trip: `PgPool` tests every
//! connection that comes back (a Sync and its answer, in a task of its own) before lending it
//! again, which made a lookup of one payment cost two round trips instead of one. Here the job
//! hands its connection back itself, once everything it sent has been answered and no
//! transaction is open. A connection left half way (its caller went away, or a COMMIT answered
//! with an abandoned statement's error) is rolled back by a task of its own before it is lent
//! again, so a caller that hangs up costs no new connection; a broken one (an I/O error, the
//! server ending the session) is closed. A connection idle for long is not lent again but
//! replaced: a firewall or NAT between the instance and the database may have forgotten it, and
//! a job on it would wait for TCP to give up.

use crate::error::ends_connection;
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
        Ok(Lease { conn: Some(conn), reused, state: Settled::No, pool: self.clone(), permit: Some(permit) })
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

    /// Makes the connection available again (unless the pool is closed).
    fn put_back(&self, conn: PgConnection) {
        if !self.permits.is_closed()
            && let Ok(mut idle) = self.idle.lock()
        {
            idle.push((conn, Instant::now()));
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

/// A lent connection, handed back when dropped as [`Lease::settled`] or [`Lease::broken`] said.
pub(crate) struct Lease {
    /// Always `Some` until the lease drops.
    conn: Option<PgConnection>,
    /// Whether the connection served jobs before (rather than being opened for this one).
    reused: bool,
    state: Settled,
    pool: Arc<Pool>,
    /// Always `Some` until the lease drops; it goes with a connection that needs rolling back.
    permit: Option<OwnedSemaphorePermit>,
}

/// What the job said of its connection when it was done with it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Settled {
    /// Nothing: the job was dropped half way, or its transaction's end failed.
    No,
    /// Every statement sent was answered and no transaction is open.
    Reusable,
    /// The connection is gone or cannot be trusted.
    Broken,
}

impl Lease {
    /// Whether the connection served jobs before this lease.
    pub(crate) fn reused(&self) -> bool {
        self.reused
    }

    /// Says that every statement sent was answered and no transaction is open: the connection
    /// is lent again as it is.
    pub(crate) fn settled(&mut self) {
        self.state = Settled::Reusable;
    }

    /// Says that the connection must not be lent again: it is closed.
    pub(crate) fn broken(&mut self) {
        self.state = Settled::Broken;
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
        match self.state {
            Settled::Reusable => self.pool.put_back(conn),
            // The connection drops here: its socket closes and the server ends its session.
            Settled::Broken => {}
            Settled::No => {
                // Answers may be pending and a transaction open. A task reads the answers, rolls
                // back and hands the connection back, holding its permit meanwhile (so no more
                // than the pool's size is ever open). Without a runtime (at exit) it just closes.
                let (Ok(runtime), Some(permit)) = (tokio::runtime::Handle::try_current(), self.permit.take()) else {
                    return;
                };
                runtime.spawn(roll_back_and_put_back(self.pool.clone(), conn, permit));
            }
        }
    }
}

/// Rolls back whatever a job left open on `conn` and makes it available again; closes it when
/// that fails. The first try may only collect an abandoned statement's error (sqlx reads what is
/// pending before it sends anything), hence a second.
async fn roll_back_and_put_back(pool: Arc<Pool>, mut conn: PgConnection, permit: OwnedSemaphorePermit) {
    for _ in 0..2 {
        match sqlx::raw_sql("ROLLBACK").execute(&mut conn).await {
            Ok(_) => {
                pool.put_back(conn);
                break;
            }
            Err(error) if ends_connection(&error) => break,
            Err(_) => continue,
        }
    }
    drop(permit);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{TestDatabase, test_server_url};
    use std::str::FromStr;

    async fn backend_pid(lease: &mut Lease) -> i32 {
        let pid = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut **lease).await.unwrap();
        lease.settled();
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

        // Left inside a transaction with a statement unanswered: rolled back and lent again.
        let mut abandoned = pool.acquire().await.unwrap();
        sqlx::raw_sql("BEGIN").execute(&mut *abandoned).await.unwrap();
        let pending = sqlx::query("SELECT pg_sleep(0.05)").execute(&mut *abandoned);
        assert!(tokio::time::timeout(Duration::from_millis(5), pending).await.is_err());
        drop(abandoned);
        let mut recovered = pool.acquire().await.unwrap();
        // SAVEPOINT is refused outside a transaction block.
        let savepoint = sqlx::raw_sql("SAVEPOINT probe").execute(&mut *recovered).await;
        assert!(savepoint.is_err(), "the abandoned transaction was rolled back");
        assert_eq!(backend_pid(&mut recovered).await, first);
        drop(recovered);

        // Broken: closed, and its place taken by a new one (the pool has room for one only).
        pool.acquire().await.unwrap().broken();
        let after_broken = backend_pid(&mut pool.acquire().await.unwrap()).await;
        assert_ne!(after_broken, first);

        let stale = Pool { idle_limit: Duration::ZERO, ..Arc::into_inner(pool).unwrap() };
        let stale = Arc::new(stale);
        let before = backend_pid(&mut stale.acquire().await.unwrap()).await;
        let after = backend_pid(&mut stale.acquire().await.unwrap()).await;
        assert_ne!(before, after, "a connection idle past the limit is replaced");
        stale.close().await;
        database.drop_database().await.unwrap();
    }
}
