//! Exactly-once use cases, for requests that carry an `Idempotency-Key`.
//!
//! The key is claimed at the start of the transaction that makes the request's change, and the
//! answer to replay is stored at its end, so the claim, the change and the answer commit
//! together or not at all (in a group-committed batch, inside the job's savepoint). After a crash
//! at any moment a retry therefore finds the key either answered (the change is durable: it is
//! replayed, never applied again) or free (nothing was written: it runs for the first time). A
//! request refused without writing leaves its key free, so a corrected retry may use it again.
//!
//! The answer is rendered inside the transaction by the surface that asked (an HTTP response
//! for the native API), from the use case's typed result; it must be a pure, quick function.

use futures::FutureExt;
use futures::future::BoxFuture;
use paystate_domain::TenantId;
use paystate_store::{IdempotencyKey, Store, StoreError, StoreExt, StoreResult, StoredResponse, Tx};
use std::sync::Arc;

/// The error of a use case whose key another request has already committed: the caller
/// answers with that request's stored answer instead.
pub const KEY_TAKEN: StoreError = StoreError::Duplicate(KEY_TAKEN_FIELD);

/// Whether a use case failed because its key was [`KEY_TAKEN`].
pub fn is_key_taken(error: &StoreError) -> bool {
    matches!(error, StoreError::Duplicate(field) if *field == KEY_TAKEN_FIELD)
}

/// The field of [`KEY_TAKEN`]'s duplicate.
pub const KEY_TAKEN_FIELD: &str = "idempotency_key";

/// A request's idempotency key and how to answer it, given the use case's result.
pub struct Once<T> {
    key: IdempotencyKey,
    answer: Arc<dyn Fn(&T) -> StoredResponse + Send + Sync>,
}

impl<T> Clone for Once<T> {
    fn clone(&self) -> Self {
        Self { key: self.key.clone(), answer: self.answer.clone() }
    }
}

impl<T> Once<T> {
    pub fn new(key: IdempotencyKey, answer: impl Fn(&T) -> StoredResponse + Send + Sync + 'static) -> Self {
        Self { key, answer: Arc::new(answer) }
    }

    pub fn key(&self) -> &IdempotencyKey {
        &self.key
    }

    /// Claims the key in `tx`; [`KEY_TAKEN`] when another request committed it first.
    pub async fn claim(&self, tx: &mut (impl Tx + ?Sized)) -> StoreResult<()> {
        if tx.claim_idempotency(&self.key, crate::now()).await? { Ok(()) } else { Err(KEY_TAKEN) }
    }

    /// Stores the answer to `value` under the claimed key, in `tx`.
    pub async fn answer(&self, tx: &mut (impl Tx + ?Sized), value: &T) -> StoreResult<()> {
        tx.answer_idempotency(&self.key, &(self.answer)(value)).await
    }
}

/// Runs a write job of `tenant` in one transaction, exactly once for `once`'s key when given:
/// the claim before the job's first statement, the answer after its last.
pub async fn write_once<T, F>(store: &dyn Store, tenant: &TenantId, once: Option<Once<T>>, job: F) -> StoreResult<T>
where
    T: Send + Sync + 'static,
    F: for<'t> FnOnce(&'t mut dyn Tx) -> BoxFuture<'t, StoreResult<T>> + Send + 'static,
{
    store
        .write_for(tenant, move |tx| {
            async move {
                if let Some(once) = &once {
                    once.claim(&mut *tx).await?;
                }
                let value = job(&mut *tx).await?;
                if let Some(once) = &once {
                    once.answer(&mut *tx, &value).await?;
                }
                Ok(value)
            }
            .boxed()
        })
        .await
}
