//! Committed payments kept in memory for lookups, so that a read of one payment need not touch
//! the database.
//!
//! It stays coherent because every payment is written by this process's one writer (the serving
//! process holds the database's server lock; the CLI and workers write no payments), which
//! publishes what each batch wrote once its commit is durable and before it answers the callers,
//! so a caller reads its own write. A lookup that misses reads the database and fills the entry,
//! but only if no commit writing a payment of the same shard began or ended since before its
//! read: the writer may otherwise have published a newer version in between, which the fill would
//! overwrite with the older one. The cache holds to a memory budget, each payment weighed by its
//! stored document (its `attrs` are the caller's and may be large). Eviction is in hash order,
//! which is random: reads of one payment come from anywhere in the table, and random eviction
//! keeps no bookkeeping.
//!
//! Written here rather than taken from a cache crate because the fill must check the shard's
//! epoch and insert under one lock, which no such crate's insert offers.

use paystate_domain::{Payment, PaymentId};
use paystate_store::PaymentCacheStats;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Enough that the two cores' readers and the writer rarely want the same lock.
const SHARDS: usize = 16;

/// What a cached payment is taken to cost beside its document's length. Measured on the
/// benchmark's payments (740-byte documents): about 750 bytes each in memory, the 416-byte struct,
/// its strings and the map's entry; the margin covers payments whose decoded `attrs` outweigh
/// their text.
const ENTRY_OVERHEAD: usize = 400;

pub(crate) struct PaymentCache {
    shards: Vec<Mutex<Shard>>,
    /// The most bytes one shard's payments may weigh.
    budget_per_shard: usize,
    hasher: RandomState,
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Default)]
struct Shard {
    payments: HashMap<PaymentId, Entry>,
    /// What the shard's payments weigh together.
    weight: usize,
    /// Moves on whenever a commit that writes payments of this shard begins or ends.
    epoch: u64,
    /// Commits under way that write payments of this shard.
    committing: usize,
}

struct Entry {
    payment: Arc<Payment>,
    weight: usize,
}

/// A payment with what it weighs in the cache: its stored document's length and the overhead.
pub(crate) struct Weighed {
    pub(crate) payment: Payment,
    pub(crate) weight: usize,
}

impl Weighed {
    pub(crate) fn new(payment: Payment, document_length: usize) -> Self {
        Self { payment, weight: document_length + ENTRY_OVERHEAD }
    }
}

/// What a lookup found in the cache.
pub(crate) enum Cached {
    Hit(Arc<Payment>),
    /// Not cached: the database has the answer, and the ticket (none while a commit writing this
    /// shard is under way) lets the lookup cache it.
    Miss(Option<FillTicket>),
}

/// The shard's state when a lookup missed, which must still hold when it fills the entry.
pub(crate) struct FillTicket {
    shard: usize,
    epoch: u64,
}

/// The shards a commit is writing, from [`PaymentCache::begin_commit`] to [`PaymentCache::end_commit`].
pub(crate) struct CommitMark {
    shards: Vec<usize>,
}

impl PaymentCache {
    /// A cache whose payments weigh at most about `budget` bytes.
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            budget_per_shard: budget / SHARDS,
            hasher: RandomState::new(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn shard_of(&self, id: &PaymentId) -> usize {
        (self.hasher.hash_one(id) % SHARDS as u64) as usize
    }

    /// A shard's lock; no update of a shard can stop half way, so a panic elsewhere while it was
    /// held leaves it consistent.
    fn shard(&self, index: usize) -> MutexGuard<'_, Shard> {
        self.shards[index].lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn stats(&self) -> PaymentCacheStats {
        let mut stats = PaymentCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            ..Default::default()
        };
        for index in 0..SHARDS {
            let shard = self.shard(index);
            stats.payments += shard.payments.len() as u64;
            stats.bytes += shard.weight as u64;
        }
        stats
    }

    pub(crate) fn get(&self, id: &PaymentId) -> Cached {
        let index = self.shard_of(id);
        let shard = self.shard(index);
        match shard.payments.get(id) {
            Some(entry) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Cached::Hit(entry.payment.clone())
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                Cached::Miss((shard.committing == 0).then_some(FillTicket { shard: index, epoch: shard.epoch }))
            }
        }
    }

    /// Caches what a lookup read from the database after missing, unless a commit writing the
    /// same shard began or ended since: what it read may then be older than the committed state.
    pub(crate) fn fill(&self, ticket: FillTicket, payment: &Payment, document_length: usize) {
        let mut shard = self.shard(ticket.shard);
        if shard.epoch == ticket.epoch {
            shard.put(Weighed::new(payment.clone(), document_length), self.budget_per_shard);
        }
    }

    /// Called before a COMMIT that writes these payments: until [`end_commit`](Self::end_commit),
    /// lookups that miss in their shards fill nothing, and those that missed before fill nothing.
    pub(crate) fn begin_commit<'a>(&self, ids: impl IntoIterator<Item = &'a PaymentId>) -> CommitMark {
        let mut shards: Vec<usize> = ids.into_iter().map(|id| self.shard_of(id)).collect();
        shards.sort_unstable();
        shards.dedup();
        for &index in &shards {
            let mut shard = self.shard(index);
            shard.committing += 1;
            shard.epoch += 1;
        }
        CommitMark { shards }
    }

    /// Called after the COMMIT, before its callers are answered: publishes `committed` (each
    /// payment's last version wins), then forgets `doubtful`, the payments of a failed commit or
    /// of jobs that failed, whose rows the database may or may not have kept (so one that a job
    /// of the batch committed and a later one failed on is read from the database next time).
    pub(crate) fn end_commit(&self, mark: CommitMark, committed: Vec<Weighed>, doubtful: &[PaymentId]) {
        for weighed in committed {
            self.shard(self.shard_of(&weighed.payment.id)).put(weighed, self.budget_per_shard);
        }
        for id in doubtful {
            self.shard(self.shard_of(id)).remove(id);
        }
        for index in mark.shards {
            let mut shard = self.shard(index);
            shard.committing -= 1;
            shard.epoch += 1;
        }
    }
}

impl Shard {
    /// Caches the payment, evicting others until it fits; one heavier than the whole budget is
    /// only forgotten (a version of it may be cached).
    fn put(&mut self, weighed: Weighed, budget: usize) {
        let Weighed { payment, weight } = weighed;
        self.remove(&payment.id);
        if weight > budget {
            return;
        }
        while self.weight + weight > budget {
            let Some(victim) = self.payments.keys().next().cloned() else { break };
            self.remove(&victim);
        }
        self.weight += weight;
        self.payments.insert(payment.id.clone(), Entry { payment: Arc::new(payment), weight });
    }

    fn remove(&mut self, id: &PaymentId) {
        if let Some(entry) = self.payments.remove(id) {
            self.weight -= entry.weight;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Room for a few payments in each shard.
    const BUDGET: usize = SHARDS * 4 * 1024;

    /// Version `version` of one and the same payment.
    fn payment(version: i64) -> Payment {
        use paystate_store::conformance::{actor, new_order};
        let tenant = paystate_domain::TenantId::generate();
        let (order, _) = new_order(&tenant, "A-1");
        let new = paystate_domain::payment::NewPayment { amount: 500, ..Default::default() };
        let (payment, _) = Payment::create(&order, new, &actor(&tenant), chrono::Utc::now()).unwrap();
        Payment { id: PaymentId::from_trusted("pay_00000000000000000000000000000001".into()), version, ..payment }
    }

    fn cached_version(cache: &PaymentCache, id: &PaymentId) -> Option<i64> {
        match cache.get(id) {
            Cached::Hit(payment) => Some(payment.version),
            Cached::Miss(_) => None,
        }
    }

    fn ticket(cache: &PaymentCache, id: &PaymentId) -> Option<FillTicket> {
        match cache.get(id) {
            Cached::Hit(_) => panic!("expected a miss"),
            Cached::Miss(ticket) => ticket,
        }
    }

    #[test]
    fn a_miss_fills_when_nothing_was_committed_meanwhile() {
        let (cache, v1) = (PaymentCache::new(BUDGET), payment(1));
        let ticket = ticket(&cache, &v1.id).expect("no commit is under way");
        cache.fill(ticket, &v1, 600);
        assert_eq!(cached_version(&cache, &v1.id), Some(1));
    }

    /// The race the epochs exist for: a lookup reads version 1, the writer commits and publishes
    /// version 2, then the lookup tries to fill with what it read.
    #[test]
    fn a_miss_that_raced_a_commit_does_not_put_back_an_older_version() {
        let (cache, v1, v2) = (PaymentCache::new(BUDGET), payment(1), payment(2));
        let stale = ticket(&cache, &v1.id).unwrap();
        let mark = cache.begin_commit([&v2.id]);
        cache.end_commit(mark, vec![Weighed::new(v2.clone(), 600)], &[]);
        cache.fill(stale, &v1, 600);
        assert_eq!(cached_version(&cache, &v1.id), Some(2));

        // Evicted in between, the entry stays empty rather than old.
        let cache = PaymentCache::new(BUDGET);
        let stale = ticket(&cache, &v1.id).unwrap();
        let mark = cache.begin_commit([&v2.id]);
        cache.end_commit(mark, vec![], std::slice::from_ref(&v2.id));
        cache.fill(stale, &v1, 600);
        assert_eq!(cached_version(&cache, &v1.id), None);
    }

    #[test]
    fn no_fill_while_a_commit_writing_the_shard_is_under_way() {
        let (cache, v1) = (PaymentCache::new(BUDGET), payment(1));
        let mark = cache.begin_commit([&v1.id]);
        assert!(ticket(&cache, &v1.id).is_none());
        cache.end_commit(mark, vec![], &[]);
        assert!(ticket(&cache, &v1.id).is_some());
    }

    #[test]
    fn a_payment_a_failed_job_wrote_is_forgotten_even_when_an_earlier_job_committed_it() {
        let (cache, v2) = (PaymentCache::new(BUDGET), payment(2));
        let mark = cache.begin_commit([&v2.id, &v2.id]);
        cache.end_commit(mark, vec![Weighed::new(v2.clone(), 600)], std::slice::from_ref(&v2.id));
        assert_eq!(cached_version(&cache, &v2.id), None);
    }

    #[test]
    fn a_failed_commit_forgets_what_it_wrote() {
        let (cache, v1, v2) = (PaymentCache::new(BUDGET), payment(1), payment(2));
        cache.fill(ticket(&cache, &v1.id).unwrap(), &v1, 600);
        let mark = cache.begin_commit([&v2.id]);
        cache.end_commit(mark, vec![], std::slice::from_ref(&v2.id));
        assert_eq!(cached_version(&cache, &v1.id), None);
    }

    #[test]
    fn it_keeps_to_its_budget_and_skips_a_payment_heavier_than_a_shard() {
        let cache = PaymentCache::new(SHARDS * 2 * (600 + ENTRY_OVERHEAD));
        let payments: Vec<Payment> =
            (0..SHARDS * 20).map(|_| Payment { id: PaymentId::generate(), ..payment(1) }).collect();
        let mark = cache.begin_commit(payments.iter().map(|p| &p.id));
        cache.end_commit(mark, payments.iter().map(|p| Weighed::new(p.clone(), 600)).collect(), &[]);
        let kept = payments.iter().filter(|p| cached_version(&cache, &p.id).is_some()).count();
        assert!(kept > 0 && kept <= SHARDS * 2, "kept {kept}");
        for shard in &cache.shards {
            let shard = shard.lock().unwrap();
            assert_eq!(shard.weight, shard.payments.values().map(|e| e.weight).sum::<usize>());
            assert!(shard.weight <= cache.budget_per_shard);
        }

        let heavy = payments[0].clone();
        let mark = cache.begin_commit([&heavy.id]);
        cache.end_commit(mark, vec![Weighed::new(heavy.clone(), cache.budget_per_shard)], &[]);
        assert_eq!(cached_version(&cache, &heavy.id), None);
    }
}
