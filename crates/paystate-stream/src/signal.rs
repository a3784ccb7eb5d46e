//! Wake-ups for readers that follow the events table: "tenant T committed something".
//!
//! The events table is the stream; these signals only say when to read it again, so a lost or
//! spurious wake-up costs a query, never an event. [`SignallingStore`] wraps a store and raises
//! the signal after every tenant write (`run_write_for`) that committed; writes without a tenant
//! lane (the webhook dispatcher's bookkeeping, the CLI, other instances) are found by the
//! readers' own bounded polling.

use paystate_domain::TenantId;
use paystate_store::{ReadJob, Store, StoreResult, WriteJob};
use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// One watch per tenant that someone follows, plus one for "any tenant". A watch keeps only
/// the latest value, so a burst of commits wakes each reader once.
#[derive(Debug)]
pub struct CommitSignal {
    tenants: Mutex<HashMap<TenantId, watch::Sender<()>>>,
    any: watch::Sender<()>,
}

impl Default for CommitSignal {
    fn default() -> Self {
        Self { tenants: Mutex::new(HashMap::new()), any: watch::Sender::new(()) }
    }
}

impl CommitSignal {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Changes whenever `tenant` commits through this process.
    pub fn subscribe(&self, tenant: &TenantId) -> watch::Receiver<()> {
        let mut tenants = self.tenants.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        tenants.entry(tenant.clone()).or_insert_with(|| watch::Sender::new(())).subscribe()
    }

    /// Changes whenever any tenant commits through this process.
    pub fn subscribe_any(&self) -> watch::Receiver<()> {
        self.any.subscribe()
    }

    /// Wakes the readers of `tenant` (and of any tenant).
    pub fn committed(&self, tenant: &TenantId) {
        self.any.send_replace(());
        let mut tenants = self.tenants.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(sender) = tenants.get(tenant) {
            if sender.receiver_count() == 0 {
                // Nobody follows this tenant any more: forget it, so the map stays as small as
                // the set of followed tenants.
                tenants.remove(tenant);
            } else {
                sender.send_replace(());
            }
        }
    }

    /// How many tenants have a watch (for tests of the clean-up).
    pub fn followed_tenants(&self) -> usize {
        self.tenants.lock().map(|tenants| tenants.len()).unwrap_or(0)
    }
}

/// A store that raises a [`CommitSignal`] after each tenant write that committed.
pub struct SignallingStore {
    inner: Arc<dyn Store>,
    signal: Arc<CommitSignal>,
}

impl SignallingStore {
    pub fn new(inner: Arc<dyn Store>, signal: Arc<CommitSignal>) -> Self {
        Self { inner, signal }
    }
}

type Erased = Box<dyn Any + Send>;

#[async_trait::async_trait]
impl Store for SignallingStore {
    async fn run_read(&self, job: ReadJob) -> StoreResult<Erased> {
        self.inner.run_read(job).await
    }

    async fn run_lookup(&self, job: ReadJob) -> StoreResult<Erased> {
        self.inner.run_lookup(job).await
    }

    async fn run_write(&self, job: WriteJob) -> StoreResult<Erased> {
        self.inner.run_write(job).await
    }

    async fn run_write_for(&self, tenant: &TenantId, job: WriteJob) -> StoreResult<Erased> {
        let result = self.inner.run_write_for(tenant, job).await;
        // Raised after a failure too: a group commit may have committed other jobs of the batch
        // before this one failed, and a spurious wake-up costs one query.
        self.signal.committed(tenant);
        result
    }

    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }

    fn payment_cache(&self) -> Option<paystate_store::PaymentCacheStats> {
        self.inner.payment_cache()
    }

    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_commit_wakes_the_tenants_readers_only() {
        let signal = CommitSignal::new();
        let (a, b) = (TenantId::generate(), TenantId::generate());
        let mut follows_a = signal.subscribe(&a);
        let follows_b = signal.subscribe(&b);
        let mut follows_any = signal.subscribe_any();
        signal.committed(&a);
        assert!(follows_a.has_changed().unwrap());
        assert!(!follows_b.has_changed().unwrap());
        assert!(follows_any.has_changed().unwrap());
        follows_a.borrow_and_update();
        follows_any.borrow_and_update();
        signal.committed(&b);
        assert!(!follows_a.has_changed().unwrap());
        assert!(follows_b.has_changed().unwrap());
        drop(follows_a);
        assert_eq!(signal.followed_tenants(), 2);
        signal.committed(&a);
        assert_eq!(signal.followed_tenants(), 1, "an unfollowed tenant is forgotten");
    }
}
