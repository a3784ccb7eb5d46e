//! Group commit for PostgreSQL: one lane per tenant.
//!
//! Every event takes its number from its tenant's counter row, which stays locked until COMMIT
//! so that numbers are gap-free and follow commit order. One commit per job would therefore
//! serialize a tenant's writes on the disk's flush latency. Instead, the write jobs of one
//! tenant queue in the tenant's lane, and one task per busy lane runs what has queued in one
//! transaction, each job inside its own savepoint: a job that fails is rolled back alone (its
//! row locks with it), the others commit together, and every caller is answered only after that
//! commit. A lane has at most one transaction open, so the batches of one instance never wait
//! on each other's row locks; different tenants' lanes touch disjoint rows and run in parallel.
//!
//! Each batch locks its tenant's event counter row before its first job, so the batches of two
//! instances for one tenant take turns rather than lock payments in opposite orders (which would
//! deadlock, and PostgreSQL would fail a job of one of them).

use crate::conn::{LOCK_EVENT_COUNTER, Mode, PgConn};
use crate::pool::Pool;
use paystate_domain::TenantId;
use paystate_store::{FaultInjection, StatementLog, StoreError, StoreResult, WriteJob};
use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

type Answer = StoreResult<Box<dyn Any + Send>>;

struct Queued {
    job: WriteJob,
    reply: oneshot::Sender<Answer>,
    log: Option<StatementLog>,
}

/// The lanes of the tenants that have jobs queued or running. A tenant is in the map exactly
/// while a task drains its lane, so a job either joins a running lane or starts one.
#[derive(Clone)]
pub(crate) struct Lanes {
    queues: Arc<Mutex<HashMap<TenantId, VecDeque<Queued>>>>,
    /// How many jobs at most share one transaction.
    max_batch: usize,
    faults: FaultInjection,
}

impl Lanes {
    /// Lanes that batch up to `max_batch` jobs; none when that is 1 (or 0): nothing to share.
    pub(crate) fn new(max_batch: usize, faults: FaultInjection) -> Option<Self> {
        (max_batch > 1).then(|| Lanes { queues: Arc::default(), max_batch, faults })
    }

    /// Runs `job` in `tenant`'s lane and answers once its batch has committed (or it failed).
    pub(crate) async fn run(&self, pool: &Arc<Pool>, tenant: &TenantId, job: WriteJob) -> Answer {
        let (reply, answer) = oneshot::channel();
        let queued = Queued { job, reply, log: StatementLog::current() };
        let start = {
            let mut queues = self.queues.lock().map_err(|_| poisoned())?;
            match queues.get_mut(tenant) {
                Some(queue) => {
                    queue.push_back(queued);
                    false
                }
                None => {
                    queues.insert(tenant.clone(), VecDeque::from([queued]));
                    true
                }
            }
        };
        if start {
            tokio::spawn(self.clone().drain(pool.clone(), tenant.clone()));
        }
        answer.await.map_err(|_| StoreError::Backend("a PostgreSQL lane dropped a job".into()))?
    }

    /// Runs the lane's batches until it is empty, then closes it.
    async fn drain(self, pool: Arc<Pool>, tenant: TenantId) {
        loop {
            let batch: Vec<Queued> = {
                let Ok(mut queues) = self.queues.lock() else { return };
                let Some(queue) = queues.get_mut(&tenant) else { return };
                if queue.is_empty() {
                    queues.remove(&tenant);
                    return;
                }
                let take = queue.len().min(self.max_batch);
                queue.drain(..take).collect()
            };
            run_batch(&pool, &tenant, batch, &self.faults).await;
        }
    }
}

fn poisoned() -> StoreError {
    StoreError::Backend("the PostgreSQL lanes are poisoned".into())
}

/// Runs a batch in one transaction, each job in a savepoint, and answers every caller after
/// the commit. A dropped reply (the caller went away) changes nothing: its job still ran.
async fn run_batch(pool: &Arc<Pool>, tenant: &TenantId, batch: Vec<Queued>, faults: &FaultInjection) {
    // Statements the jobs share are noted in the log of each job that keeps one.
    let logs: Vec<StatementLog> = batch.iter().filter_map(|queued| queued.log.clone()).collect();
    let note_all = |sql: &str| logs.iter().for_each(|log| log.note(sql));
    note_all("BEGIN");
    note_all(LOCK_EVENT_COUNTER);
    let started = match PgConn::open(pool, Mode::Write).await {
        Ok(mut conn) => conn.lock_event_counter(tenant).await.map(|()| conn),
        Err(error) => Err(error),
    };
    let mut conn = match started {
        Ok(conn) => conn,
        Err(error) => {
            for queued in batch {
                let _ = queued.reply.send(Err(error.for_each_caller()));
            }
            return;
        }
    };
    let mut answers = Vec::with_capacity(batch.len());
    let jobs = batch.len();
    // The first job's savepoint; each later job's is set as the job before it ends.
    let mut broken: Option<StoreError> = conn.begin_job().await.err();
    for (index, queued) in batch.into_iter().enumerate() {
        if let Some(error) = &broken {
            let _ = queued.reply.send(Err(error.for_each_caller()));
            continue;
        }
        // Each job starts at a savepoint (set by the round trip that ended the job before it).
        if let Some(log) = &queued.log {
            log.note("SAVEPOINT job");
        }
        conn.set_log(queued.log);
        let result = run_job(&mut conn, queued.job, index + 1 < jobs).await;
        // The job's writes go; the transaction must stay usable for the others.
        if result.is_err()
            && let Err(undo) = conn.undo_job().await
        {
            broken = Some(undo);
        }
        conn.set_log(None);
        answers.push((queued.reply, result));
    }
    let committed = match broken {
        Some(error) => {
            note_all("ROLLBACK");
            conn.rollback().await;
            Err(error)
        }
        None => {
            note_all("COMMIT");
            conn.commit().await
        }
    };
    match committed {
        Ok(()) => {
            let lost = faults.answer_lost();
            for (reply, result) in answers {
                let _ = reply.send(if lost { Err(paystate_store::lost_answer()) } else { result });
            }
        }
        Err(error) => {
            for (reply, result) in answers {
                // A job that failed on its own says why; the others failed with the batch.
                let _ = reply.send(result.and(Err(error.for_each_caller())));
            }
        }
    }
}

/// One job: its own statements, then its events, then the release of its savepoint (and the
/// next job's savepoint, when `another` job follows).
async fn run_job(conn: &mut PgConn, job: WriteJob, another: bool) -> Answer {
    let value = crate::run_write_job(conn, job).await?;
    conn.flush_events().await?;
    conn.keep_job(another).await?;
    Ok(value)
}
