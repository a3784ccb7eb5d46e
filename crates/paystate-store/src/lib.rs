//! The storage contract of paystate.
//!
//! A backend implements [`Store`], which runs jobs: a read job gets a [`Reader`], a write job a
//! [`Tx`] whose every effect commits atomically or not at all. Use cases (in `paystate-ledger`) are
//! written once against these traits, so SQLite and PostgreSQL behave the same by construction;
//! the [`conformance`] suite (feature `conformance`) checks each backend against the contract.

mod error;
mod faults;
pub mod outbox;
mod records;
mod statements;
mod stream;
mod users;
mod webhooks;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use error::{Refusal, StoreError, StoreResult};
pub use faults::{FaultInjection, lost_answer};
pub use records::*;
pub use statements::{Scoped, StatementLog};
pub use stream::{StreamBacklog, StreamClaim};
pub use users::*;
pub use webhooks::*;

use async_trait::async_trait;
use futures::future::BoxFuture;
use paystate_domain::{
    Actor, DeliveryId, EndpointId, EventDraft, KeyId, MethodId, Order, OrderId, Payment, PaymentId, PaymentMethod,
    StoredEvent, Tenant, TenantId, Timestamp, UserId,
};
use std::any::Any;

/// Queries every backend answers. Inside a write job, reads of a payment or order also lock it
/// against concurrent writers until the job commits.
#[async_trait]
pub trait Reader: Send {
    async fn tenant(&mut self, id: &TenantId) -> StoreResult<Option<Tenant>>;
    async fn api_key(&mut self, id: &KeyId) -> StoreResult<Option<ApiKeyRecord>>;
    async fn api_keys(&mut self, tenant: &TenantId) -> StoreResult<Vec<ApiKeyRecord>>;
    async fn order(&mut self, tenant: &TenantId, id: &OrderId) -> StoreResult<Option<Order>>;
    async fn order_by_reference(&mut self, tenant: &TenantId, reference: &str) -> StoreResult<Option<Order>>;
    async fn orders(&mut self, tenant: &TenantId, filter: &OrderFilter, page: &PageRequest) -> StoreResult<Vec<Order>>;
    async fn payment(&mut self, tenant: &TenantId, id: &PaymentId) -> StoreResult<Option<Payment>>;
    async fn payment_by_external_id(&mut self, tenant: &TenantId, external_id: &str) -> StoreResult<Option<Payment>>;
    async fn payments(
        &mut self,
        tenant: &TenantId,
        filter: &PaymentFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<Payment>>;
    async fn method(&mut self, tenant: &TenantId, id: &MethodId) -> StoreResult<Option<PaymentMethod>>;
    async fn methods(&mut self, tenant: &TenantId) -> StoreResult<Vec<PaymentMethod>>;
    async fn events(&mut self, tenant: &TenantId, filter: &EventFilter) -> StoreResult<Vec<StoredEvent>>;
    /// Inside a write job, the endpoint stays locked against concurrent writers until commit.
    async fn endpoint(&mut self, tenant: &TenantId, id: &EndpointId) -> StoreResult<Option<EndpointRecord>>;
    async fn endpoints(&mut self, tenant: &TenantId, page: &PageRequest) -> StoreResult<Vec<EndpointRecord>>;
    async fn delivery(&mut self, tenant: &TenantId, id: &DeliveryId) -> StoreResult<Option<DeliveryRecord>>;
    /// Deliveries in creation order (by id), after the page's cursor.
    async fn deliveries(
        &mut self,
        tenant: &TenantId,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<DeliveryRecord>>;
    /// The attempts of these deliveries, by delivery and then in the order they were made.
    async fn delivery_attempts(&mut self, tenant: &TenantId, ids: &[DeliveryId]) -> StoreResult<Vec<AttemptRecord>>;
    /// Pending deliveries of enabled endpoints, across every tenant (the dispatcher's gauges).
    async fn outbox_stats(&mut self) -> StoreResult<OutboxStats>;
    /// A tenant's idempotency key, with the answer to replay once its request has committed.
    async fn idempotency_record(&mut self, tenant: &TenantId, key: &str) -> StoreResult<Option<IdempotencyRecord>>;

    // --- event stream ---

    /// The events after `sink`'s cursors, across every tenant (a tenant without a cursor owes
    /// all of its events).
    async fn stream_backlog(&mut self, sink: &str) -> StoreResult<StreamBacklog>;

    // --- console: users and sessions ---
    async fn user(&mut self, tenant: &TenantId, id: &UserId) -> StoreResult<Option<UserRecord>>;
    /// The user of each tenant with this (lowercased) e-mail address: a person signs in with an
    /// address alone, and the same address may belong to users of several tenants.
    async fn users_with_email(&mut self, email: &str) -> StoreResult<Vec<UserRecord>>;
    /// The tenant's users by e-mail address.
    async fn users(&mut self, tenant: &TenantId) -> StoreResult<Vec<UserRecord>>;
    async fn session(&mut self, token_hash: &[u8; 32]) -> StoreResult<Option<SessionRecord>>;
    /// Live payments per status and review flag (the console's overview).
    async fn payment_counts(&mut self, tenant: &TenantId) -> StoreResult<Vec<StatusCount>>;
    /// Events per source and type created at or after `since` (the console's overview).
    async fn event_counts(&mut self, tenant: &TenantId, since: Timestamp) -> StoreResult<Vec<EventCount>>;
    /// Live payments matching the console's filters, by id after the page's cursor.
    async fn payments_matching(
        &mut self,
        tenant: &TenantId,
        search: &PaymentSearch,
        page: &PageRequest,
    ) -> StoreResult<Vec<Payment>>;
    /// Live payments whose transaction reference is exactly `reference`, by id, at most `limit`
    /// (the console's search box).
    async fn payments_by_transaction_ref(
        &mut self,
        tenant: &TenantId,
        reference: &str,
        limit: u32,
    ) -> StoreResult<Vec<Payment>>;
}

/// Writes inside one transaction. Nothing is visible to others before the job returns `Ok` and
/// the backend commits; an `Err` rolls back every write of the job.
#[async_trait]
pub trait Tx: Reader {
    async fn insert_tenant(&mut self, tenant: &Tenant) -> StoreResult<()>;
    async fn update_tenant(&mut self, tenant: &Tenant) -> StoreResult<()>;
    async fn insert_api_key(&mut self, key: &ApiKeyRecord) -> StoreResult<()>;
    /// Marks the key revoked; false when the tenant has no such key.
    async fn revoke_api_key(&mut self, tenant: &TenantId, id: &KeyId, at: Timestamp) -> StoreResult<bool>;
    /// Fails with [`StoreError::Duplicate`] naming `reference` when the tenant has that reference.
    async fn insert_order(&mut self, order: &Order) -> StoreResult<()>;
    /// Writes `order` over the row of version `order.version - 1` ([`StoreError::VersionConflict`] otherwise).
    async fn update_order(&mut self, order: &Order) -> StoreResult<()>;
    /// Fails with [`StoreError::Duplicate`] naming `external_id` when the tenant has that external id.
    async fn insert_payment(&mut self, payment: &Payment) -> StoreResult<()>;
    /// Writes `payment` over the row of version `payment.version - 1` ([`StoreError::VersionConflict`] otherwise).
    async fn update_payment(&mut self, payment: &Payment) -> StoreResult<()>;
    async fn insert_method(&mut self, method: &PaymentMethod) -> StoreResult<()>;
    async fn update_method(&mut self, method: &PaymentMethod) -> StoreResult<()>;
    /// Queues an event; the backend numbers and writes every queued event when the job commits,
    /// so numbering follows commit order and no row lock is taken before the job's own reads.
    /// With each event it writes the rows [`outbox::fan_out`] gives for the tenant's subscribers
    /// (one webhook delivery per enabled endpoint subscribed to the event's type): the
    /// transactional outbox.
    fn record(&mut self, actor: &Actor, event: EventDraft);
    /// Claims an idempotency key for this transaction: true when it was free (or held by an
    /// unanswered claim an older paystate left), false when another request's transaction has
    /// committed it. A claim by a transaction still running is waited for, never skipped.
    async fn claim_idempotency(&mut self, key: &IdempotencyKey, now: Timestamp) -> StoreResult<bool>;
    /// Stores the answer of a key this transaction claimed; it commits with the change.
    async fn answer_idempotency(&mut self, key: &IdempotencyKey, response: &StoredResponse) -> StoreResult<()>;
    /// Deletes idempotency records created before `before`; returns how many went.
    async fn purge_idempotency(&mut self, before: Timestamp) -> StoreResult<u64>;
    /// Deletes finished (succeeded or failed) webhook deliveries last changed before `before`,
    /// with their attempts; answers how many. Pending deliveries stay, and events are never purged.
    async fn purge_deliveries(&mut self, before: Timestamp) -> StoreResult<u64>;

    async fn insert_endpoint(&mut self, endpoint: &EndpointRecord) -> StoreResult<()>;
    /// Writes every field of the endpoint, its secrets included ([`StoreError::NotFound`] when missing).
    async fn update_endpoint(&mut self, endpoint: &EndpointRecord) -> StoreResult<()>;
    /// Deletes the endpoint with its deliveries and their attempts; false when there is none.
    async fn delete_endpoint(&mut self, tenant: &TenantId, id: &EndpointId) -> StoreResult<bool>;
    /// Adds a delivery outside the event flush (a test message).
    async fn insert_delivery(&mut self, delivery: &DeliveryRecord) -> StoreResult<()>;
    /// Leases up to `limit` pending deliveries due at `now` whose endpoint is enabled, oldest due
    /// first, until `lease_until`. Concurrent claimers never get the same delivery while its
    /// lease runs; a delivery whose lease ran out (its dispatcher died) is claimable again.
    ///
    /// Each lease token starts with `owner` and a dot, so that a dispatcher that restarts under
    /// the same owner can take its dead run's leases back at once ([`Tx::release_leases`]).
    async fn claim_deliveries(
        &mut self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
        owner: &str,
    ) -> StoreResult<Vec<ClaimedDelivery>>;
    /// Ends every lease `owner` holds (those of a run of it that died), so its deliveries are
    /// claimable at once rather than when the leases run out; answers how many.
    async fn release_leases(&mut self, owner: &str) -> StoreResult<u64>;
    /// Logs an attempt and, when the lease token still holds the delivery, moves it on (done,
    /// rescheduled or failed) and releases the lease. False when the claim was lost (the lease
    /// ran out and another dispatcher took it, or the delivery was retried by hand): the attempt
    /// is logged all the same, but the delivery is left to its new holder.
    async fn record_attempt(&mut self, outcome: &AttemptOutcome) -> StoreResult<bool>;
    /// Starts a new round for one delivery, in whatever state: pending, due at `now`, schedule
    /// from the start. False when the tenant has no such delivery.
    async fn retry_delivery(&mut self, tenant: &TenantId, id: &DeliveryId, now: Timestamp) -> StoreResult<bool>;
    /// Starts a new round for every failed delivery of the endpoint created at or after `since`;
    /// answers how many.
    async fn retry_failed_deliveries(
        &mut self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        since: Timestamp,
        now: Timestamp,
    ) -> StoreResult<u64>;

    // --- event stream ---

    /// Leases, until `lease_until`, up to `limit` tenants that have events after `sink`'s cursor
    /// and whose cursor no live lease holds at `now` (creating a cursor at 0 for a tenant that
    /// has none), least recently served first. Concurrent claimers never get the same tenant
    /// while its lease runs.
    async fn claim_stream_tenants(
        &mut self,
        sink: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<StreamClaim>>;
    /// Moves the tenant's cursor forward to `acked_seq` (never back) and extends the lease to
    /// `lease_until`, while `lease_token` holds it; false when the lease was lost.
    async fn advance_stream_cursor(
        &mut self,
        sink: &str,
        tenant: &TenantId,
        lease_token: &str,
        acked_seq: i64,
        lease_until: Timestamp,
    ) -> StoreResult<bool>;
    /// Ends the lease, when `lease_token` still holds it.
    async fn release_stream_cursor(&mut self, sink: &str, tenant: &TenantId, lease_token: &str) -> StoreResult<()>;
    // --- console: users and sessions ---
    /// Fails with [`StoreError::Duplicate`] naming `email` when the tenant has that address.
    async fn insert_user(&mut self, user: &UserRecord) -> StoreResult<()>;
    /// Writes role, password hash, disabled_at and updated_at ([`StoreError::NotFound`] when missing).
    async fn update_user(&mut self, user: &UserRecord) -> StoreResult<()>;
    async fn insert_session(&mut self, session: &SessionRecord) -> StoreResult<()>;
    /// Sets `last_seen_at`; false when there is no such session.
    async fn touch_session(&mut self, token_hash: &[u8; 32], at: Timestamp) -> StoreResult<bool>;
    /// Marks the session revoked (kept if already); false when there is no such session.
    async fn revoke_session(&mut self, token_hash: &[u8; 32], at: Timestamp) -> StoreResult<bool>;
    /// Revokes every live session of the user; answers how many.
    async fn revoke_user_sessions(&mut self, tenant: &TenantId, user: &UserId, at: Timestamp) -> StoreResult<u64>;
    /// Deletes sessions created before `before` (past any absolute expiry); answers how many.
    async fn purge_sessions(&mut self, before: Timestamp) -> StoreResult<u64>;
}

/// The current time, truncated to microseconds so that every backend stores it exactly.
pub fn now() -> Timestamp {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}

type Erased = Box<dyn Any + Send>;
/// A read job, type-erased so that [`Store`] stays object-safe; see [`StoreExt::read`].
pub type ReadJob = Box<dyn for<'t> FnOnce(&'t mut dyn Reader) -> BoxFuture<'t, StoreResult<Erased>> + Send>;
/// A write job, type-erased so that [`Store`] stays object-safe; see [`StoreExt::write`].
pub type WriteJob = Box<dyn for<'t> FnOnce(&'t mut dyn Tx) -> BoxFuture<'t, StoreResult<Erased>> + Send>;

/// A storage backend.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Runs a read job on a consistent snapshot.
    async fn run_read(&self, job: ReadJob) -> StoreResult<Erased>;
    /// Runs a read job whose statements each stand alone, such as a lookup by id and then by
    /// external id: they share no snapshot, so a backend may run each outside any transaction.
    async fn run_lookup(&self, job: ReadJob) -> StoreResult<Erased> {
        self.run_read(job).await
    }
    /// Runs a write job in one transaction and answers only once its commit is durable.
    async fn run_write(&self, job: WriteJob) -> StoreResult<Erased>;
    /// Runs a write job that touches only `tenant`'s records (its events included). The backend
    /// may commit it together with other jobs of the same tenant (group commit); it still fails
    /// alone and is answered only once its commit is durable.
    async fn run_write_for(&self, tenant: &TenantId, job: WriteJob) -> StoreResult<Erased> {
        let _ = tenant;
        self.run_write(job).await
    }
    /// Checks that the database answers (readiness).
    async fn ping(&self) -> StoreResult<()>;
    /// The payment cache's figures, when the backend keeps one.
    fn payment_cache(&self) -> Option<PaymentCacheStats> {
        None
    }
    /// "sqlite" or "postgres", for logs and metrics.
    fn backend(&self) -> &'static str;
}

/// Typed wrappers around [`Store::run_read`] and [`Store::run_write`].
#[async_trait]
pub trait StoreExt {
    async fn read<T, F>(&self, job: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut dyn Reader) -> BoxFuture<'t, StoreResult<T>> + Send + 'static;

    /// A read whose statements each stand alone; see [`Store::run_lookup`].
    async fn lookup<T, F>(&self, job: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut dyn Reader) -> BoxFuture<'t, StoreResult<T>> + Send + 'static;

    async fn write<T, F>(&self, job: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut dyn Tx) -> BoxFuture<'t, StoreResult<T>> + Send + 'static;

    /// A write that touches only `tenant`'s records; see [`Store::run_write_for`].
    async fn write_for<T, F>(&self, tenant: &TenantId, job: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut dyn Tx) -> BoxFuture<'t, StoreResult<T>> + Send + 'static;
}

#[async_trait]
impl<S: Store + ?Sized> StoreExt for S {
    async fn read<T, F>(&self, job: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut dyn Reader) -> BoxFuture<'t, StoreResult<T>> + Send + 'static,
    {
        downcast(self.run_read(erase_read(job)).await?)
    }

    async fn lookup<T, F>(&self, job: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut dyn Reader) -> BoxFuture<'t, StoreResult<T>> + Send + 'static,
    {
        downcast(self.run_lookup(erase_read(job)).await?)
    }

    async fn write<T, F>(&self, job: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut dyn Tx) -> BoxFuture<'t, StoreResult<T>> + Send + 'static,
    {
        downcast(self.run_write(erase_write(job)).await?)
    }

    async fn write_for<T, F>(&self, tenant: &TenantId, job: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut dyn Tx) -> BoxFuture<'t, StoreResult<T>> + Send + 'static,
    {
        downcast(self.run_write_for(tenant, erase_write(job)).await?)
    }
}

fn erase_read<T, F>(job: F) -> ReadJob
where
    T: Send + 'static,
    F: for<'t> FnOnce(&'t mut dyn Reader) -> BoxFuture<'t, StoreResult<T>> + Send + 'static,
{
    Box::new(move |reader| Box::pin(async move { job(reader).await.map(|value| Box::new(value) as Erased) }))
}

fn erase_write<T, F>(job: F) -> WriteJob
where
    T: Send + 'static,
    F: for<'t> FnOnce(&'t mut dyn Tx) -> BoxFuture<'t, StoreResult<T>> + Send + 'static,
{
    Box::new(move |tx| Box::pin(async move { job(tx).await.map(|value| Box::new(value) as Erased) }))
}

fn downcast<T: 'static>(value: Erased) -> StoreResult<T> {
    value
        .downcast::<T>()
        .map(|boxed| *boxed)
        .map_err(|_| StoreError::Backend("a job returned a value of another type".into()))
}

#[cfg(test)]
mod tests {
    /// Each public async function of the conformance suite is a scenario, and a scenario runs
    /// only when `conformance_tests!` lists it: a scenario added but
    /// not listed would never run on any backend. (Read from the sources, as the suite is only
    /// compiled with the `conformance` feature.)
    #[test]
    fn the_conformance_macro_lists_every_scenario() {
        let listing = include_str!("conformance/mod.rs");
        let list = listing
            .split_once("(@each $on_fresh_store;")
            .and_then(|(_, rest)| rest.split_once(");"))
            .map(|(list, _)| list)
            .expect("the macro's list of scenarios");
        let listed: Vec<&str> = list.split(',').map(str::trim).filter(|name| !name.is_empty()).collect();
        let sources = [
            listing,
            include_str!("conformance/records.rs"),
            include_str!("conformance/webhooks.rs"),
            include_str!("conformance/stream.rs"),
            include_str!("conformance/console.rs"),
        ];
        let scenarios: Vec<&str> = sources
            .iter()
            .flat_map(|source| source.lines())
            .filter_map(|line| line.strip_prefix("pub async fn "))
            .filter_map(|rest| rest.split_once("(store: &Arc<dyn Store>)").map(|(name, _)| name))
            .collect();
        assert!(scenarios.contains(&"tenants_and_keys"), "the scenarios were read: {scenarios:?}");
        for scenario in &scenarios {
            assert!(listed.contains(scenario), "conformance_tests! does not list the scenario {scenario}");
        }
        assert_eq!(listed.len(), scenarios.len(), "every name listed is a scenario: {listed:?}");
    }
}
