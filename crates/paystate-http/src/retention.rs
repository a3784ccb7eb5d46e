//! What paystate forgets, and when: idempotency keys after 24 hours, and finished webhook
//! deliveries (with their attempts) after the configured retention. Events are never purged:
//! they are the audit trail.

use crate::AppState;
use futures::FutureExt;
use paystate_store::StoreExt;

/// Purges a minute after the server starts, then hourly, for as long as it runs. The first round
/// waits so that it never competes with a start's own work (nor with a test's fault injection,
/// which loses the answer of the next commit, whosever it is).
pub async fn purge_periodically(state: AppState) {
    let first = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut tick = tokio::time::interval_at(first, std::time::Duration::from_secs(3600));
    loop {
        tick.tick().await;
        purge_once(&state).await;
    }
}

/// One round: old idempotency keys, then finished deliveries older than the retention.
pub async fn purge_once(state: &AppState) {
    let now = paystate_store::now();
    let store = state.ledger.store().clone();
    let keys_before = now - crate::idempotency::RETENTION;
    match store.write(move |tx| async move { tx.purge_idempotency(keys_before).await }.boxed()).await {
        Ok(purged) => tracing::debug!(purged, "purged old idempotency keys"),
        Err(error) => tracing::warn!(%error, "could not purge idempotency keys"),
    }
    let deliveries_before = now - state.config.webhooks.retention;
    match store.write(move |tx| async move { tx.purge_deliveries(deliveries_before).await }.boxed()).await {
        Ok(purged) => tracing::debug!(purged, "purged finished webhook deliveries"),
        Err(error) => tracing::warn!(%error, "could not purge webhook deliveries"),
    }
}
