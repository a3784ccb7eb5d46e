//! One transaction per use case, with one retry policy, and a typed refusal that rolls back.
//!
//! A use case's job reads, lets the domain decide and writes inside one store transaction. When
//! a record it read changed before the commit (`VersionConflict`), or a concurrent job created
//! the record it was about to create (`Duplicate`, for jobs that find or create), the whole job
//! runs again on what is there now; when that keeps happening the caller is told the database is
//! busy. A job that refuses stops with its use case's own error: everything it wrote is rolled
//! back and the error reaches the caller as it was, never disguised as a store failure.

use futures::future::BoxFuture;
use paystate_domain::TenantId;
use paystate_store::{Refusal, Store, StoreError, StoreExt, StoreResult, Tx};

/// How many times a job runs before its caller is told the database is busy.
pub const ATTEMPTS: usize = 5;

/// Which store answers mean "run the job again on fresh data".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// A record the job read changed before it committed.
    OnVersionConflict,
    /// That, or a record the job created was created first by a concurrent job (find-or-create
    /// jobs: the next attempt finds it).
    OnConcurrentCreate,
}

impl Retry {
    fn again(self, error: &StoreError) -> bool {
        match error {
            StoreError::VersionConflict => true,
            StoreError::Duplicate(_) => self == Retry::OnConcurrentCreate,
            _ => false,
        }
    }
}

/// How a use case's job stops early: its own refusal, or the store's (or domain's) error.
#[derive(Debug)]
pub enum Stop<E> {
    Refused(E),
    Store(StoreError),
}

impl<E> From<StoreError> for Stop<E> {
    fn from(error: StoreError) -> Self {
        Stop::Store(error)
    }
}

impl<E> From<paystate_domain::DomainError> for Stop<E> {
    fn from(error: paystate_domain::DomainError) -> Self {
        Stop::Store(error.into())
    }
}

/// What a job answers.
pub type JobResult<T, E> = Result<T, Stop<E>>;

/// Runs `job` as one transaction of `tenant`'s records under `retry`. A refusal (`Stop::Refused`)
/// rolls the job back and is answered as the use case's error; a store error that `retry` does
/// not cover is answered through `E::from`.
pub async fn transact<T, E, F>(store: &dyn Store, tenant: &TenantId, retry: Retry, job: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + Sync + 'static,
    F: for<'t> FnOnce(&'t mut dyn Tx) -> BoxFuture<'t, JobResult<T, E>> + Clone + Send + 'static,
{
    let result = retrying(retry, || {
        let attempt = job.clone();
        store.write_for(tenant, move |tx| {
            Box::pin(async move {
                attempt(tx).await.map_err(|stop| match stop {
                    Stop::Refused(refusal) => StoreError::Refused(Refusal::new(refusal)),
                    Stop::Store(error) => error,
                })
            })
        })
    })
    .await;
    match result {
        Ok(value) => Ok(value),
        // Only this function wraps refusals, always as `E`: the downcast cannot miss.
        Err(StoreError::Refused(refusal)) => {
            Err(refusal.downcast::<E>().unwrap_or_else(|_| unreachable!("a job refused with another use case's error")))
        }
        Err(error) => Err(E::from(error)),
    }
}

/// The one retry policy of every write: runs `attempt` again while `retry` says the store's
/// answer means "fresh data may succeed"; after [`ATTEMPTS`] the database counts as busy.
/// `transact` runs its jobs through it, and so does every write with an idempotency key.
pub async fn retrying<T, Fut>(retry: Retry, mut attempt: impl FnMut() -> Fut) -> StoreResult<T>
where
    Fut: std::future::Future<Output = StoreResult<T>>,
{
    for _ in 0..ATTEMPTS {
        match attempt().await {
            Err(error) if retry.again(&error) => continue,
            other => return other,
        }
    }
    Err(StoreError::Busy)
}
