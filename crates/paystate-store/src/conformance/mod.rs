//! The storage story every backend must tell the same way, one scenario at a time.
//!
//! Each scenario is a public async function of a store, and each backend's test binary runs
//! every one of them as a test of its own, on a fresh database, through [`conformance_tests!`]
//! (as the API tests do with `api_test!`): a failing scenario is named by the test that fails,
//! and no scenario leans on what another left behind. The API integration tests then cover
//! behaviour end to end.

mod console;
mod records;
mod stream;
mod webhooks;

pub use console::*;
pub use records::*;
pub use stream::*;
pub use webhooks::*;

use crate::*;
use futures::FutureExt;
use futures::future::BoxFuture;
use paystate_domain::order::NewOrder;
use paystate_domain::payment::NewPayment;
use paystate_domain::{Currency, Source};
use std::sync::Arc;

/// One scenario of the suite, ready to run on the store it is given.
pub type Scenario = fn(Arc<dyn Store>) -> BoxFuture<'static, ()>;

/// Expands, in a backend's test binary, to one `#[tokio::test]` per scenario of the suite, named
/// after it. `$on_fresh_store` names an async function `(name: &'static str, scenario:
/// Scenario)` that opens a store on a fresh database, runs the scenario on it and throws the
/// database away; a backend with several configurations calls the macro once per
/// configuration, each in a module of its own:
///
/// ```text
/// mod sqlite_passes_the_conformance_suite {
///     paystate_store::conformance_tests!(super::on_a_fresh_file);
/// }
/// ```
///
/// A scenario added to the suite is added to the list below, and so runs on every backend.
#[macro_export]
macro_rules! conformance_tests {
    ($on_fresh_store:path) => {
        $crate::conformance_tests!(@each $on_fresh_store;
            tenants_and_keys,
            orders_round_trip_and_stay_unique,
            payments_round_trip_and_updates_check_versions,
            a_failing_job_leaves_nothing_behind,
            events_are_numbered_gap_free_under_concurrency,
            jobs_sharing_a_batch_fail_alone,
            idempotency_claims,
            tenants_are_isolated,
            webhook_endpoints_round_trip,
            the_outbox_writes_deliveries_with_their_events,
            claims_lease_and_attempts_move_deliveries_on,
            a_restarted_dispatcher_takes_back_its_own_leases,
            finished_deliveries_are_purged_and_events_kept,
            concurrent_claimers_never_share_a_delivery,
            stream_cursors_lease_and_advance,
            console_users_and_sessions,
            console_overview_counts,
            payments_by_transaction_ref,
            the_store_answers_a_ping,
        );
    };
    (@each $on_fresh_store:path; $($scenario:ident),+ $(,)?) => {
        $(
            // Four workers: scenarios spawn concurrent jobs, and some block a worker on purpose.
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $scenario() {
                let scenario: $crate::conformance::Scenario =
                    |store| ::std::boxed::Box::pin(async move { $crate::conformance::$scenario(&store).await });
                $on_fresh_store(stringify!($scenario), scenario).await;
            }
        )+
    };
}

/// The store answers its readiness check.
pub async fn the_store_answers_a_ping(store: &Arc<dyn Store>) {
    store.ping().await.unwrap();
}

/// The CLI acting for `tenant`: the actor of the suite's writes, and of backends' own fixtures.
pub fn actor(tenant: &TenantId) -> Actor {
    Actor {
        tenant_id: tenant.clone(),
        key_id: None,
        user_id: None,
        source: Source::Cli,
        request_id: "conformance".into(),
        request_body: Some("{}".into()),
    }
}

pub(crate) async fn new_tenant(store: &Arc<dyn Store>) -> TenantId {
    let now = now();
    let tenant = Tenant {
        id: TenantId::generate(),
        name: "Conformance".into(),
        settings: serde_json::json!({"a": 1}),
        created_at: now,
        updated_at: now,
    };
    let id = tenant.id.clone();
    store.write(move |tx| async move { tx.insert_tenant(&tenant).await }.boxed()).await.unwrap();
    id
}

/// A new order of `tenant` (10.00 EUR) and its event, for the suite and backends' own fixtures.
pub fn new_order(tenant: &TenantId, reference: &str) -> (Order, EventDraft) {
    let new = NewOrder {
        reference: reference.into(),
        currency: Currency::parse("EUR").unwrap(),
        total_amount: 1000,
        customer: serde_json::json!({"name": "Ada"}),
        attributes: serde_json::Value::Null,
    };
    Order::open(new, &actor(tenant), now()).unwrap()
}

pub(crate) async fn insert_order(store: &Arc<dyn Store>, tenant: &TenantId, reference: &str) -> StoreResult<Order> {
    order_job(store, tenant, reference, Ok).await
}

/// A write job that inserts an order of `tenant` and records its event, then fails with
/// [`StoreError::NotFound`]: the scenarios that check a failed job leaves nothing behind (no
/// order, no event, no delivery) all run this one job.
pub(crate) async fn insert_order_then_fail(
    store: &Arc<dyn Store>,
    tenant: &TenantId,
    reference: &str,
) -> StoreResult<()> {
    order_job(store, tenant, reference, |_| Err(StoreError::NotFound)).await
}

/// The one write job behind [`insert_order`] and [`insert_order_then_fail`]: inserts a new order
/// of `tenant`, records its event, and ends the job with what `then` makes of the order.
async fn order_job<T: Send + 'static>(
    store: &Arc<dyn Store>,
    tenant: &TenantId,
    reference: &str,
    then: fn(Order) -> StoreResult<T>,
) -> StoreResult<T> {
    let (order, event) = new_order(tenant, reference);
    let actor = actor(tenant);
    store
        .write(move |tx| {
            async move {
                tx.insert_order(&order).await?;
                tx.record(&actor, event);
                then(order)
            }
            .boxed()
        })
        .await
}

pub(crate) async fn insert_payment(
    store: &Arc<dyn Store>,
    order: &Order,
    external_id: Option<&str>,
) -> StoreResult<Payment> {
    let new = NewPayment { amount: 500, external_id: external_id.map(str::to_owned), ..Default::default() };
    let actor = actor(&order.tenant_id);
    let (payment, event) = Payment::create(order, new, &actor, now()).unwrap();
    store
        .write(move |tx| {
            async move {
                tx.insert_payment(&payment).await?;
                tx.record(&actor, event);
                Ok(payment)
            }
            .boxed()
        })
        .await
}
