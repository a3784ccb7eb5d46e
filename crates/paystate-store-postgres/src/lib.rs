//! paystate's production store: one PostgreSQL database shared by several instances.
//!
//! A tenant's write jobs share transactions (group commit, see [`lanes`]) unless `max_batch` is
//! 1; every other job runs in its own transaction on a pooled connection (see [`pool`]).
//! Writes run at READ COMMITTED; the payments and orders it reads are row-locked until it
//! commits, so instances updating one payment serialize instead of losing an update, and its
//! events are numbered from the tenant's counter, whose row a tenant's write locks before any
//! other and holds until COMMIT, so numbers are gap-free and follow commit order. A read job runs
//! in a REPEATABLE READ READ ONLY transaction: one consistent snapshot. A lookup runs its
//! statements without a transaction: each is one round trip.
//!
//! The URL's password never leaves this crate in an error or a log: connection errors are
//! described by host, port and database, and every error text is scrubbed of it besides.

mod conn;
mod endpoints;
mod error;
mod idempotency;
mod lanes;
mod migrate;
mod outbox;
mod pool;
mod reader;
mod rows;
mod statements;
mod stream;
pub mod testing;
mod tx;
mod users;

use conn::{Mode, PgConn, READ_SNAPSHOT};
use error::{redact, redact_url, url_secrets};
use futures::FutureExt;
use paystate_domain::TenantId;
use paystate_store::{FaultInjection, ReadJob, StatementLog, Store, StoreError, StoreResult, WriteJob};
use pool::Pool;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

pub use error::map_error;
pub use migrate::SCHEMA_VERSION;

/// How long PostgreSQL lets a session sit idle inside a transaction before ending it. Jobs never
/// wait on anything but the database between statements, so this only fires for a stuck or
/// paused process, whose row locks would otherwise block every other instance.
const IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(60);

/// How long start-up and `paystate migrate` wait for the server to accept a connection (an
/// unreachable host may otherwise leave TCP trying for minutes).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How many of a tenant's writes share a transaction at most, unless configured: the SQLite
/// store's batch size. The bound keeps one batch (and its hold on the tenant's counter) short.
const DEFAULT_MAX_BATCH: usize = 64;

/// Where and how to connect.
#[derive(Clone)]
pub struct PostgresOptions {
    /// A `postgres://` or `postgresql://` URL. TLS follows its `sslmode` (`require`,
    /// `verify-full`, …; rustls with the webpki roots, or `sslrootcert`).
    pub url: String,
    /// The pool's size: at most this many jobs run at once; the others wait for a connection.
    pub max_connections: u32,
    /// Cuts off any one statement (including a wait for a row lock) after this long; the job
    /// then fails with [`StoreError::Busy`]. Zero disables the limit.
    pub statement_timeout: Duration,
    /// How long a job waits for a pooled connection before failing with [`StoreError::Busy`].
    pub acquire_timeout: Duration,
    /// How many of a tenant's write jobs at most share one transaction (group commit); 1 gives
    /// every job a transaction of its own.
    pub max_batch: usize,
    /// Test-only: lose the answers of commits on demand (see [`FaultInjection`]).
    pub faults: FaultInjection,
}

impl std::fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("statement_timeout", &self.statement_timeout)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("max_batch", &self.max_batch)
            .finish()
    }
}

impl PostgresOptions {
    /// Reads a `postgres://` or `postgresql://` URL, with a pool of 10 connections, a 10 s
    /// statement timeout, a 5 s acquire timeout and batches of up to 64 writes.
    pub fn from_url(url: &str) -> StoreResult<Self> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::InvalidValue("a PostgreSQL URL starts with postgres:// or postgresql://".into()));
        }
        let options = Self {
            url: url.to_owned(),
            max_connections: 10,
            statement_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(5),
            max_batch: DEFAULT_MAX_BATCH,
            faults: FaultInjection::default(),
        };
        // Parse now, so a malformed URL fails at configuration time rather than at start-up.
        options.connect_options()?;
        Ok(options)
    }

    /// The sqlx options of one connection, the statement timeout included: it is sent with the
    /// start-up packet, so every connection has it from the first statement, without a round trip.
    fn connect_options(&self) -> StoreResult<PgConnectOptions> {
        let parsed = PgConnectOptions::from_str(&self.url).map_err(|e| {
            StoreError::InvalidValue(redact(format!("the PostgreSQL URL is invalid: {e}"), &url_secrets(&self.url)))
        })?;
        let named = if parsed.get_application_name().is_none() { parsed.application_name("paystate") } else { parsed };
        Ok(named.options([
            ("statement_timeout", self.statement_timeout.as_millis().to_string()),
            ("idle_in_transaction_session_timeout", IDLE_IN_TRANSACTION_TIMEOUT.as_millis().to_string()),
        ]))
    }
}

/// A connection failure described without the URL: host, port, database and the cause, with
/// the password scrubbed from the cause as well.
fn connect_error(options: &PgConnectOptions, secrets: &[String], error: &dyn std::fmt::Display) -> StoreError {
    let database = options.get_database().unwrap_or(options.get_username());
    StoreError::Backend(redact(
        format!(
            "cannot connect to PostgreSQL at {}:{} (database {database}): {error}",
            options.get_host(),
            options.get_port()
        ),
        secrets,
    ))
}

/// The PostgreSQL [`Store`].
pub struct PostgresStore {
    pool: Arc<Pool>,
    /// Present when a tenant's write jobs may share transactions.
    lanes: Option<lanes::Lanes>,
    /// The URL's password in its spellings, scrubbed from every error text.
    secrets: Vec<String>,
    faults: FaultInjection,
}

impl PostgresStore {
    /// Connects, applies pending migrations, and refuses a schema newer than this build
    /// ([`StoreError::SchemaTooNew`]).
    pub async fn open(options: PostgresOptions) -> StoreResult<Self> {
        // Migrating first, on a connection of its own, proves the server reachable and reports
        // why it is not (a pool would only say that it timed out waiting for a connection).
        Self::migrate_only(options.clone()).await?;
        // Connections are not tested before they are lent (a round trip each time): a dead one is
        // found by the job's BEGIN and replaced, or fails a lookup once (a retryable 503).
        let pool = Pool::new(options.connect_options()?, options.max_connections, options.acquire_timeout);
        Ok(Self {
            pool,
            lanes: lanes::Lanes::new(options.max_batch, options.faults.clone()),
            secrets: url_secrets(&options.url),
            faults: options.faults.clone(),
        })
    }

    /// Applies pending migrations and returns the schema version (for `paystate migrate`). Safe
    /// while instances serve: migrators and starting instances take turns on an advisory lock.
    pub async fn migrate_only(options: PostgresOptions) -> StoreResult<i64> {
        let secrets = url_secrets(&options.url);
        let connect = options.connect_options()?;
        let mut conn = match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&connect)).await {
            Ok(connected) => connected.map_err(|e| connect_error(&connect, &secrets, &e))?,
            Err(_) => {
                return Err(connect_error(&connect, &secrets, &format!("no answer within {CONNECT_TIMEOUT:?}")));
            }
        };
        let migrated = migrate::migrate(&mut conn).await;
        let _ = conn.close().await;
        migrated.map_err(|e| scrub(e, &secrets))
    }

    /// Lends no more connections and closes the idle ones; the others close as their jobs end.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

impl PostgresStore {
    /// A pooled connection with the job's transaction started as `mode` wants it, the statement
    /// noted in the log of the request that asked for one.
    async fn start(&self, mode: Mode) -> StoreResult<PgConn> {
        let log = StatementLog::current();
        match (&log, mode) {
            (Some(log), Mode::Read) => log.note(READ_SNAPSHOT),
            (Some(log), Mode::Write) => log.note("BEGIN"),
            _ => {}
        }
        let mut conn = PgConn::open(&self.pool, mode).await.map_err(|e| scrub(e, &self.secrets))?;
        conn.set_log(log);
        Ok(conn)
    }

    /// Runs a write job in a transaction of its own; with its `tenant`, whose event counter it
    /// then locks first, as a batch does (see [`PgConn::lock_event_counter`]).
    async fn write_alone(&self, tenant: Option<&TenantId>, job: WriteJob) -> StoreResult<Box<dyn Any + Send>> {
        let mut conn = self.start(Mode::Write).await?;
        let locked = match tenant {
            Some(tenant) => conn.lock_event_counter(tenant).await,
            None => Ok(()),
        };
        let ran = match locked {
            Ok(()) => run_write_job(&mut conn, job).await,
            Err(error) => Err(error),
        };
        let result = match ran {
            Ok(value) => conn.flush_events().await.map(|()| value),
            Err(error) => Err(error),
        };
        let result = match result {
            Ok(value) => match conn.commit().await {
                Ok(()) if self.faults.answer_lost() => Err(paystate_store::lost_answer()),
                committed => committed.map(|()| value),
            },
            Err(error) => {
                conn.rollback().await;
                Err(error)
            }
        };
        result.map_err(|e| scrub(e, &self.secrets))
    }
}

/// Runs a write job's own statements, a panic becoming its error.
async fn run_write_job(conn: &mut PgConn, job: WriteJob) -> StoreResult<Box<dyn Any + Send>> {
    AssertUnwindSafe(job(conn))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Err(StoreError::Backend("a write job panicked".into())))
}

/// Runs a read job, a panic becoming its error.
async fn run_read_job(conn: &mut PgConn, job: ReadJob) -> StoreResult<Box<dyn Any + Send>> {
    AssertUnwindSafe(job(conn))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Err(StoreError::Backend("a read job panicked".into())))
}

/// Removes the URL's password from an error's text.
fn scrub(error: StoreError, secrets: &[String]) -> StoreError {
    match error {
        StoreError::Backend(text) => StoreError::Backend(redact(text, secrets)),
        StoreError::InvalidValue(text) => StoreError::InvalidValue(redact(text, secrets)),
        other => other,
    }
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    async fn run_read(&self, job: ReadJob) -> StoreResult<Box<dyn Any + Send>> {
        let mut conn = self.start(Mode::Read).await?;
        let result = run_read_job(&mut conn, job).await;
        // Nothing to keep: a read-only transaction ends the same either way.
        conn.rollback().await;
        result.map_err(|e| scrub(e, &self.secrets))
    }

    async fn run_lookup(&self, job: ReadJob) -> StoreResult<Box<dyn Any + Send>> {
        let mut conn = self.start(Mode::Lookup).await?;
        let result = run_read_job(&mut conn, job).await;
        conn.finish();
        result.map_err(|e| scrub(e, &self.secrets))
    }

    async fn run_write(&self, job: WriteJob) -> StoreResult<Box<dyn Any + Send>> {
        self.write_alone(None, job).await
    }

    async fn run_write_for(&self, tenant: &TenantId, job: WriteJob) -> StoreResult<Box<dyn Any + Send>> {
        match &self.lanes {
            Some(lanes) => lanes.run(&self.pool, tenant, job).await.map_err(|e| scrub(e, &self.secrets)),
            None => self.write_alone(Some(tenant), job).await,
        }
    }

    async fn ping(&self) -> StoreResult<()> {
        let mut lease = self.pool.acquire().await.map_err(|e| scrub(e, &self.secrets))?;
        let answered = sqlx::raw_sql("SELECT 1").execute(&mut *lease).await;
        if answered.is_ok() {
            lease.settled();
        }
        answered.map(drop).map_err(|e| scrub(map_error(e), &self.secrets))
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }
}
