//! The writer thread, owner of the only writing connection: it takes the jobs that queued while
//! the previous commit was being made durable and runs them in one transaction, each in a
//! savepoint of its own (group commit), then answers each caller once the commit is durable and
//! the payment cache has what it committed. Beside it, the checkpointer thread copies the WAL
//! into the database without ever blocking it (see the crate's documentation).

use crate::conn::SqliteConn;
use crate::payment_cache::PaymentCache;
use paystate_store::{FaultInjection, StatementLog, StoreError, StoreResult, WriteJob};
use rusqlite::Connection;
use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{mpsc, oneshot};

/// A write job on its way to the writer, with where to answer.
pub(crate) struct WriteRequest {
    pub(crate) job: WriteJob,
    pub(crate) reply: oneshot::Sender<StoreResult<Box<dyn Any + Send>>>,
    /// The statement log of the request that sent the job, when it keeps one.
    pub(crate) log: Option<StatementLog>,
}

/// Runs the write jobs sent to the store, a batch at a time, until the store is dropped.
pub(crate) fn writer_loop(
    conn: Connection,
    mut receiver: mpsc::UnboundedReceiver<WriteRequest>,
    max_batch: usize,
    committed: std::sync::mpsc::SyncSender<()>,
    catch_up: &AtomicBool,
    payments: Option<Arc<PaymentCache>>,
    faults: &FaultInjection,
) {
    let mut conn = SqliteConn::new(conn);
    if payments.is_some() {
        conn = conn.recording_payments();
    }
    while let Some(first) = receiver.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match receiver.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        run_batch(&mut conn, batch, payments.as_deref(), faults);
        if catch_up.swap(false, Ordering::Relaxed) {
            // Only the frames committed since the checkpointer's last pass are left to copy.
            checkpoint(conn.raw());
        }
        // Full means a checkpoint is already due.
        let _ = committed.try_send(());
    }
}

/// How long the checkpointer lets commits accumulate before copying them into the database:
/// one checkpoint (and one fsync of the database file) covers many batches.
const CHECKPOINT_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// At most this many frames are left for the writer to copy when it catches up: a few batches.
const CATCH_UP_FRAMES: i64 = 512;

/// Checkpoints the WAL after commits, PASSIVE so that it never waits for (or blocks) the writer
/// or a reader, and raises `catch_up` when the WAL has grown long. Ends, with a last checkpoint,
/// when the writer has stopped.
pub(crate) fn checkpoint_loop(
    conn: Connection,
    commits: std::sync::mpsc::Receiver<()>,
    restart_frames: i64,
    catch_up: &AtomicBool,
) {
    while commits.recv().is_ok() {
        std::thread::sleep(CHECKPOINT_PAUSE);
        let Some(mut frames) = checkpoint(&conn) else { continue };
        if frames < restart_frames {
            continue;
        }
        // Copy what was committed during that pass, and again, until a pass found only a few
        // new frames: what is left for the writer to copy while its callers wait is then about
        // as much. A disk too slow to converge leaves the WAL to grow until the next round.
        for _ in 0..8 {
            let Some(now) = checkpoint(&conn) else { break };
            let new = now - frames;
            frames = now;
            if (0..CATCH_UP_FRAMES).contains(&new) {
                catch_up.store(true, Ordering::Relaxed);
                break;
            }
        }
    }
    checkpoint(&conn);
}

/// A PASSIVE checkpoint; the WAL's length in frames, when it could be checkpointed.
fn checkpoint(conn: &Connection) -> Option<i64> {
    match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get::<_, i64>(1)) {
        Ok(frames) => Some(frames),
        Err(error) => {
            tracing::warn!(%error, "SQLite checkpoint failed; the next one retries");
            None
        }
    }
}

/// Runs a batch of write jobs in one transaction, each in a savepoint, and answers each caller
/// after the commit, and after the payment cache has what it committed.
fn run_batch(
    conn: &mut SqliteConn,
    batch: Vec<WriteRequest>,
    payments: Option<&PaymentCache>,
    faults: &FaultInjection,
) {
    // The statements every job of the batch shares are noted in each job's log that asked.
    let logs: Vec<StatementLog> = batch.iter().filter_map(|request| request.log.clone()).collect();
    let note_all = |sql: &str| logs.iter().for_each(|log| log.note(sql));
    note_all("BEGIN IMMEDIATE");
    if let Err(error) = conn.execute("BEGIN IMMEDIATE") {
        for request in batch {
            let _ = request.reply.send(Err(error.for_each_caller()));
        }
        return;
    }
    let mut answers = Vec::with_capacity(batch.len());
    // The payments the batch's jobs wrote: to publish once committed, or to forget where their
    // job failed (rolled back, but a failed RELEASE could leave its rows in the transaction).
    let (mut committed, mut doubtful) = (Vec::new(), Vec::new());
    for request in batch {
        conn.set_log(request.log);
        let result = conn.execute("SAVEPOINT job").and_then(|()| {
            let ran = std::panic::catch_unwind(AssertUnwindSafe(|| futures::executor::block_on((request.job)(conn))));
            let result = ran.unwrap_or_else(|_| Err(StoreError::Backend("a write job panicked".into())));
            result.and_then(|value| conn.flush_events().map(|()| value))
        });
        conn.discard_queued_events();
        let undone = if result.is_ok() { Ok(()) } else { conn.execute("ROLLBACK TO job") };
        let result = match undone.and_then(|()| conn.execute("RELEASE job")) {
            Ok(()) => result,
            Err(error) => Err(error),
        };
        conn.set_log(None);
        let written = conn.take_written_payments();
        if result.is_ok() {
            committed.extend(written);
        } else {
            doubtful.extend(written.into_iter().map(|weighed| weighed.payment.id));
        }
        answers.push((request.reply, result));
    }
    let mark = payments.map(|cache| cache.begin_commit(committed.iter().map(|w| &w.payment.id).chain(&doubtful)));
    note_all("COMMIT");
    let outcome = conn.execute("COMMIT");
    if let Err(error) = &outcome {
        tracing::error!(%error, "SQLite commit failed; the batch is rolled back");
        note_all("ROLLBACK");
        let _ = conn.execute("ROLLBACK");
        doubtful.extend(committed.drain(..).map(|weighed| weighed.payment.id));
    }
    if let (Some(cache), Some(mark)) = (payments, mark) {
        cache.end_commit(mark, committed, &doubtful);
    }
    let lost = outcome.is_ok() && faults.answer_lost();
    for (reply, result) in answers {
        let _ = reply.send(match &outcome {
            Ok(()) if lost => Err(paystate_store::lost_answer()),
            Ok(()) => result,
            Err(error) => Err(error.for_each_caller()),
        });
    }
}
