//! paystate's embedded store: one SQLite file, zero set-up.
//!
//! Every write goes to one writer thread that owns the only writing connection. It takes the
//! jobs that queued while the previous commit was being made durable and runs them in one
//! `BEGIN IMMEDIATE` transaction, each inside its own savepoint: a failing job rolls back alone,
//! the others commit together with one fsync (group commit), and every caller is answered only
//! after that commit. Reads run concurrently on a small pool of read-only connections (WAL).
//!
//! The writer does not checkpoint on its own: a checkpoint copies the WAL into the database file
//! and fsyncs it, and done inside a commit it would stall every caller of that batch. A
//! checkpointer thread with its own connection does it instead, a little after commits, without
//! blocking the writer. Under steady load that alone never lets the WAL start over (a checkpoint
//! never catches up with a writer that keeps committing), so once the WAL is long the
//! checkpointer asks the writer to copy the last few frames itself between two batches: the next
//! batch then writes the WAL from its beginning again, over pages still in the OS cache, and the
//! file is cut back to its limit.
//!
//! The process that serves the API holds the file's server lock (a second server on the same
//! file is refused; several instances need PostgreSQL) and may keep committed payments in memory
//! for lookups ([`payment_cache`]), which its writer keeps up to date.

mod backup;
mod conn;
mod endpoints;
mod error;
mod idempotency;
mod migrate;
mod outbox;
mod payment_cache;
mod reader;
mod readers;
mod rows;
mod stream;
mod tx;
mod users;
mod writer;

use futures::FutureExt;
use payment_cache::PaymentCache;
use paystate_store::{FaultInjection, ReadJob, StatementLog, Store, StoreError, StoreResult, WriteJob};
use readers::ReaderPool;
use rusqlite::{Connection, OpenFlags};
use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use tokio::sync::{Semaphore, mpsc, oneshot};
use writer::{WriteRequest, checkpoint_loop, writer_loop};

pub use backup::{backup, restore};
pub use migrate::SCHEMA_VERSION;

/// How hard a commit waits for the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Synchronous {
    /// fsync at every commit: a committed write survives power loss (the default).
    Full,
    /// WAL's NORMAL: a commit may be lost on power loss, never corrupted.
    Normal,
}

#[derive(Clone, Debug)]
pub struct SqliteOptions {
    pub path: PathBuf,
    pub synchronous: Synchronous,
    /// How many jobs at most share one transaction.
    pub max_batch: usize,
    pub readers: usize,
    /// WAL frames (pages) past which the checkpointer has the writer catch up, so that the WAL
    /// starts over; the file is cut back to a little more than that when it does.
    pub wal_restart_frames: i64,
    /// Set for the one process serving the API on this file; tools (the CLI, webhook workers,
    /// the benchmark's preparation) leave it unset, as they write no payments.
    pub serving: Option<Serving>,
    /// Test-only: lose the answers of commits on demand (see [`FaultInjection`]).
    pub faults: FaultInjection,
}

/// What the process serving the API on a SQLite file adds to its store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Serving {
    /// Memory for committed payments kept for lookups, in bytes (a payment weighs its stored
    /// document plus 400 bytes, about 1.1 KB for a typical one; 0 keeps none). Safe because the serving process holds the
    /// file's server lock, so its own writer writes every payment.
    pub payment_cache_bytes: usize,
}

impl Serving {
    /// A cache of `megabytes` MB (the unit of `paystate serve --payment-cache-mb`).
    pub fn with_payment_cache_mb(megabytes: usize) -> Self {
        Self { payment_cache_bytes: megabytes.saturating_mul(1 << 20) }
    }
}

/// The default of [`Serving::payment_cache_bytes`]: 100 MB, some 90,000 typical payments.
pub const DEFAULT_PAYMENT_CACHE_MB: usize = 100;

impl SqliteOptions {
    /// Reads a `sqlite://PATH`, `sqlite:PATH` or plain path URL; `?synchronous=normal` is honoured.
    pub fn from_url(url: &str) -> StoreResult<Self> {
        let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.is_empty() {
            return Err(StoreError::InvalidValue("the SQLite URL names no file".into()));
        }
        let mut options = SqliteOptions {
            path: PathBuf::from(path),
            synchronous: Synchronous::Full,
            max_batch: 64,
            readers: 4,
            wal_restart_frames: WAL_RESTART_FRAMES,
            serving: None,
            faults: FaultInjection::default(),
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("synchronous", "full")) => options.synchronous = Synchronous::Full,
                Some(("synchronous", "normal")) => options.synchronous = Synchronous::Normal,
                _ => return Err(StoreError::InvalidValue(format!("unknown SQLite URL option {pair:?}"))),
            }
        }
        Ok(options)
    }
}

/// The SQLite [`Store`].
pub struct SqliteStore {
    writer: mpsc::UnboundedSender<WriteRequest>,
    readers: Arc<ReaderPool>,
    payments: Option<Arc<PaymentCache>>,
    /// Held while the store lives, when it serves the API ([`SqliteOptions::serving`]).
    _server_lock: Option<std::fs::File>,
}

impl SqliteStore {
    /// Opens (creating when missing) the database file and applies pending migrations. Serving,
    /// it first takes the file's server lock ([`StoreError::InUse`] when another process has it).
    pub async fn open(options: SqliteOptions) -> StoreResult<Self> {
        let server_lock = options.serving.map(|_| lock_for_serving(&options.path)).transpose()?;
        let payments = options
            .serving
            .filter(|serving| serving.payment_cache_bytes > 0)
            .map(|serving| Arc::new(PaymentCache::new(serving.payment_cache_bytes)));
        let opened = options.clone();
        let (writer_conn, checkpoint_conn, reader_conns) = tokio::task::spawn_blocking(move || -> StoreResult<_> {
            let mut conn = open_connection(&opened, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE)?;
            migrate::migrate(&mut conn)?;
            conn.pragma_update(None, "wal_autocheckpoint", 0).map_err(error::map_error)?;
            // The WAL file is cut back to this size (a quarter more than it holds before it starts
            // over) when a burst, or a reader that kept it from starting over, made it longer.
            let page_size: i64 =
                conn.pragma_query_value(None, "page_size", |row| row.get(0)).map_err(error::map_error)?;
            // A WAL frame is a page and its 24-byte header.
            let wal_size_limit = opened.wal_restart_frames.max(1) * (page_size + 24) / 4 * 5;
            conn.pragma_update(None, "journal_size_limit", wal_size_limit).map_err(error::map_error)?;
            let checkpointer = open_connection(&opened, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
            let readers = (0..opened.readers.max(1))
                .map(|_| open_connection(&opened, OpenFlags::SQLITE_OPEN_READ_ONLY))
                .collect::<StoreResult<Vec<_>>>()?;
            Ok((conn, checkpointer, readers))
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))??;

        let (sender, receiver) = mpsc::unbounded_channel();
        let max_batch = options.max_batch.max(1);
        // Capacity one: a commit only needs to say that there is something to checkpoint.
        let (committed, commits) = std::sync::mpsc::sync_channel(1);
        let catch_up = Arc::new(AtomicBool::new(false));
        let (asked, restart_frames) = (catch_up.clone(), options.wal_restart_frames);
        let published = payments.clone();
        let faults = options.faults.clone();
        std::thread::Builder::new()
            .name("paystate-sqlite-checkpointer".into())
            .spawn(move || checkpoint_loop(checkpoint_conn, commits, restart_frames, &asked))
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        std::thread::Builder::new()
            .name("paystate-sqlite-writer".into())
            .spawn(move || writer_loop(writer_conn, receiver, max_batch, committed, &catch_up, published, &faults))
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let readers =
            Arc::new(ReaderPool { permits: Semaphore::new(reader_conns.len()), idle: Mutex::new(reader_conns) });
        Ok(Self { writer: sender, readers, payments, _server_lock: server_lock })
    }

    /// Applies pending migrations and returns the schema version (for `paystate migrate`).
    pub async fn migrate_only(options: SqliteOptions) -> StoreResult<i64> {
        tokio::task::spawn_blocking(move || {
            let mut conn =
                open_connection(&options, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE)?;
            migrate::migrate(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
    }
}

/// Takes the lock that a process serving the API holds on the database, in a file beside it (a
/// lock on the database file itself would need a second descriptor of it, and closing that would
/// drop SQLite's own locks on it). The kernel releases it when the process ends, however it ends.
pub(crate) fn lock_for_serving(database: &Path) -> StoreResult<std::fs::File> {
    let mut path = database.as_os_str().to_owned();
    path.push("-server.lock");
    let file =
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(|e| {
            StoreError::Backend(format!("cannot open the server lock {}: {e}", Path::new(&path).display()))
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::InUse(format!(
            "another paystate server is serving {}; a SQLite database takes one (several instances need PostgreSQL)",
            database.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Backend(format!("cannot take the server lock: {e}"))),
    }
}

fn open_connection(options: &SqliteOptions, flags: OpenFlags) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(&options.path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(error::map_error)?;
    let synchronous = match options.synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(error::map_error)?;
    if !flags.contains(OpenFlags::SQLITE_OPEN_READ_ONLY) {
        conn.pragma_update(None, "journal_mode", "WAL").map_err(error::map_error)?;
    }
    // Temporary tables and the savepoints' journals stay in memory: the writer's savepoint per
    // job would otherwise spill its journal into a temporary file, written out to disk for nothing.
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;"
    ))
    .map_err(error::map_error)?;
    // SQLite's default page cache is 2 MB per connection; a bigger one keeps the indexes' inner
    // pages in memory instead of reading them from the OS on every lookup. The writer gets more
    // because every job of a batch goes through it.
    let cache_kib = if flags.contains(OpenFlags::SQLITE_OPEN_READ_ONLY) { 8 * 1024 } else { 32 * 1024 };
    conn.pragma_update(None, "cache_size", -cache_kib).map_err(error::map_error)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// The default of [`SqliteOptions::wal_restart_frames`]: about 256 MB, written again every few
/// seconds at full load, so its pages stay in the OS cache (overwriting a frame that was evicted
/// would read it back from disk first), and each catch-up stall is seconds apart.
const WAL_RESTART_FRAMES: i64 = 65536;

impl SqliteStore {
    /// Runs a read job on a reader: in one read transaction (one snapshot) unless it is a lookup,
    /// whose statements stand alone and whose payments may come from the cache.
    async fn read_with(&self, job: ReadJob, lookup: bool) -> StoreResult<Box<dyn Any + Send>> {
        let _permit = self.readers.permits.acquire().await.map_err(|e| StoreError::Backend(e.to_string()))?;
        let mut lease = self.readers.lease(if lookup { self.payments.clone() } else { None })?;
        let Some(conn) = lease.conn.as_mut() else { return Err(StoreError::Backend("no idle reader".into())) };
        // The read runs right here, on the caller's thread: a lookup in WAL mode never waits for
        // the writer and takes microseconds on cached pages, less than handing it to a blocking
        // thread and back would (two context switches, which dominated the read path).
        conn.set_log(StatementLog::current());
        let begun = if lookup { Ok(()) } else { conn.execute("BEGIN") };
        let result = match begun {
            Ok(()) => AssertUnwindSafe(job(conn))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(StoreError::Backend("a read job panicked".into()))),
            Err(error) => Err(error),
        };
        if !lookup {
            let _ = conn.execute("COMMIT");
        }
        conn.set_log(None);
        result
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn run_read(&self, job: ReadJob) -> StoreResult<Box<dyn Any + Send>> {
        self.read_with(job, false).await
    }

    async fn run_lookup(&self, job: ReadJob) -> StoreResult<Box<dyn Any + Send>> {
        self.read_with(job, true).await
    }

    async fn run_write(&self, job: WriteJob) -> StoreResult<Box<dyn Any + Send>> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(WriteRequest { job, reply, log: StatementLog::current() })
            .map_err(|_| StoreError::Backend("the SQLite writer has stopped".into()))?;
        answer.await.map_err(|_| StoreError::Backend("the SQLite writer dropped a job".into()))?
    }

    async fn ping(&self) -> StoreResult<()> {
        use paystate_store::StoreExt;
        self.read(|reader| {
            async move { reader.tenant(&paystate_domain::TenantId::generate()).await.map(|_| ()) }.boxed()
        })
        .await
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn payment_cache(&self) -> Option<paystate_store::PaymentCacheStats> {
        self.payments.as_ref().map(|cache| cache.stats())
    }
}
