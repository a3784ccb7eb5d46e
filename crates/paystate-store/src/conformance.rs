//! The storage story every backend must tell the same way. Each backend's test binary calls
//! [`run_all`] on a fresh database; the API integration tests then cover behaviour end to end.

use crate::*;
use futures::FutureExt;
use paystate_domain::order::NewOrder;
use paystate_domain::payment::NewPayment;
use paystate_domain::{
    Currency, EndpointId, EventSelection, EventType, OrderState, PaymentStatus, Source, WebhookEndpoint,
};
use std::sync::Arc;

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

async fn new_tenant(store: &Arc<dyn Store>) -> TenantId {
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

async fn insert_order(store: &Arc<dyn Store>, tenant: &TenantId, reference: &str) -> StoreResult<Order> {
    let (order, event) = new_order(tenant, reference);
    let actor = actor(tenant);
    store
        .write(move |tx| {
            async move {
                tx.insert_order(&order).await?;
                tx.record(&actor, event);
                Ok(order)
            }
            .boxed()
        })
        .await
}

async fn insert_payment(store: &Arc<dyn Store>, order: &Order, external_id: Option<&str>) -> StoreResult<Payment> {
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

/// Runs every check of the suite against one store.
pub async fn run_all(store: Arc<dyn Store>) {
    tenants_and_keys(&store).await;
    orders_round_trip_and_stay_unique(&store).await;
    payments_round_trip_and_updates_check_versions(&store).await;
    a_failing_job_leaves_nothing_behind(&store).await;
    events_are_numbered_gap_free_under_concurrency(&store).await;
    jobs_sharing_a_batch_fail_alone(&store).await;
    idempotency_claims(&store).await;
    tenants_are_isolated(&store).await;
    webhook_endpoints_round_trip(&store).await;
    the_outbox_writes_deliveries_with_their_events(&store).await;
    claims_lease_and_attempts_move_deliveries_on(&store).await;
    a_restarted_dispatcher_takes_back_its_own_leases(&store).await;
    finished_deliveries_are_purged_and_events_kept(&store).await;
    concurrent_claimers_never_share_a_delivery(&store).await;
    crate::stream_conformance::stream_cursors_lease_and_advance(&store).await;
    console_users_and_sessions(&store).await;
    console_overview_counts(&store).await;
    payments_by_transaction_ref(&store).await;
    store.ping().await.unwrap();
}

async fn tenants_and_keys(store: &Arc<dyn Store>) {
    let tenant = new_tenant(store).await;
    let read = tenant.clone();
    let found = store.read(move |r| async move { r.tenant(&read).await }.boxed()).await.unwrap().unwrap();
    assert_eq!(found.settings, serde_json::json!({"a": 1}));
    let key = ApiKeyRecord {
        id: KeyId::generate(),
        tenant_id: tenant.clone(),
        secret_hash: [7; 32],
        scope: Scope::Write,
        dialect: Some(Source::Teljoy),
        label: Some("shop".into()),
        created_at: now(),
        expires_at: Some(now() + chrono::Duration::days(1)),
        revoked_at: None,
    };
    let written = key.clone();
    store.write(move |tx| async move { tx.insert_api_key(&written).await }.boxed()).await.unwrap();
    let id = key.id.clone();
    let read = store.read(move |r| async move { r.api_key(&id).await }.boxed()).await.unwrap();
    assert_eq!(read, Some(key.clone()));
    let (t, id) = (tenant.clone(), key.id.clone());
    assert!(store.write(move |tx| async move { tx.revoke_api_key(&t, &id, now()).await }.boxed()).await.unwrap());
    let t = tenant.clone();
    let keys = store.read(move |r| async move { r.api_keys(&t).await }.boxed()).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].revoked_at.is_some());
    let (other, id) = (TenantId::generate(), key.id.clone());
    assert!(!store.write(move |tx| async move { tx.revoke_api_key(&other, &id, now()).await }.boxed()).await.unwrap());
}

async fn orders_round_trip_and_stay_unique(store: &Arc<dyn Store>) {
    let tenant = new_tenant(store).await;
    let order = insert_order(store, &tenant, "R-1").await.unwrap();
    assert!(matches!(insert_order(store, &tenant, "R-1").await, Err(StoreError::Duplicate("reference"))));
    for reference in ["R-2", "R-3", "R-4"] {
        insert_order(store, &tenant, reference).await.unwrap();
    }
    let t = tenant.clone();
    let by_ref = store.read(move |r| async move { r.order_by_reference(&t, "R-1").await }.boxed()).await.unwrap();
    assert_eq!(by_ref, Some(order.clone()));
    let t = tenant.clone();
    let first = store
        .read(move |r| {
            async move { r.orders(&t, &OrderFilter::default(), &PageRequest { after: None, limit: 2 }).await }.boxed()
        })
        .await
        .unwrap();
    assert_eq!(first.iter().map(|o| o.reference.as_str()).collect::<Vec<_>>(), ["R-1", "R-2"]);
    let (t, after) = (tenant.clone(), first[1].id.to_string());
    let rest = store
        .read(move |r| {
            async move { r.orders(&t, &OrderFilter::default(), &PageRequest { after: Some(after), limit: 10 }).await }
                .boxed()
        })
        .await
        .unwrap();
    assert_eq!(rest.iter().map(|o| o.reference.as_str()).collect::<Vec<_>>(), ["R-3", "R-4"]);

    let (closed, _) = order.change_state(OrderState::Closed, &actor(&tenant), now()).unwrap().unwrap();
    let written = closed.clone();
    store.write(move |tx| async move { tx.update_order(&written).await }.boxed()).await.unwrap();
    let stale = closed.clone();
    assert!(matches!(
        store.write(move |tx| async move { tx.update_order(&stale).await }.boxed()).await,
        Err(StoreError::VersionConflict)
    ));
    let t = tenant.clone();
    let filter = OrderFilter { state: Some(OrderState::Closed), ..Default::default() };
    let closed_orders = store
        .read(move |r| async move { r.orders(&t, &filter, &PageRequest { after: None, limit: 10 }).await }.boxed())
        .await
        .unwrap();
    assert_eq!(closed_orders, vec![closed]);
}

async fn payments_round_trip_and_updates_check_versions(store: &Arc<dyn Store>) {
    let tenant = new_tenant(store).await;
    let order = insert_order(store, &tenant, "P-1").await.unwrap();
    let payment = insert_payment(store, &order, Some("ext-1")).await.unwrap();
    assert!(matches!(insert_payment(store, &order, Some("ext-1")).await, Err(StoreError::Duplicate("external_id"))));
    insert_payment(store, &order, None).await.unwrap();
    insert_payment(store, &order, None).await.unwrap();

    let t = tenant.clone();
    let by_external =
        store.read(move |r| async move { r.payment_by_external_id(&t, "ext-1").await }.boxed()).await.unwrap();
    assert_eq!(by_external, Some(payment.clone()));

    let mut paid = payment.clone();
    paid.status = PaymentStatus::Paid;
    paid.needs_review = true;
    paid.version += 1;
    let written = paid.clone();
    store.write(move |tx| async move { tx.update_payment(&written).await }.boxed()).await.unwrap();
    let again = paid.clone();
    assert!(matches!(
        store.write(move |tx| async move { tx.update_payment(&again).await }.boxed()).await,
        Err(StoreError::VersionConflict)
    ));
    let (t, id) = (tenant.clone(), payment.id.clone());
    let read = store.read(move |r| async move { r.payment(&t, &id).await }.boxed()).await.unwrap();
    assert_eq!(read, Some(paid.clone()));

    let t = tenant.clone();
    let filter = PaymentFilter { status: Some(PaymentStatus::Paid), needs_review: Some(true), ..Default::default() };
    let listed = store
        .read(move |r| async move { r.payments(&t, &filter, &PageRequest { after: None, limit: 10 }).await }.boxed())
        .await
        .unwrap();
    assert_eq!(listed, vec![paid]);
    let t = tenant.clone();
    let filter = PaymentFilter { order_id: Some(order.id.clone()), ..Default::default() };
    let all = store
        .read(move |r| async move { r.payments(&t, &filter, &PageRequest { after: None, limit: 10 }).await }.boxed())
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
}

async fn payments_by_transaction_ref(store: &Arc<dyn Store>) {
    let tenant = new_tenant(store).await;
    let order = insert_order(store, &tenant, "TR-1").await.unwrap();
    let mut found = Vec::new();
    for (reference, deleted) in [(Some("psp-7"), false), (Some("psp-7"), true), (Some("psp-8"), false), (None, false)] {
        let mut payment = insert_payment(store, &order, None).await.unwrap();
        payment.transaction_ref = reference.map(str::to_owned);
        payment.deleted_at = deleted.then(crate::now);
        payment.version += 1;
        let written = payment.clone();
        store.write(move |tx| async move { tx.update_payment(&written).await }.boxed()).await.unwrap();
        if reference == Some("psp-7") && !deleted {
            found.push(payment);
        }
    }
    // Another tenant's payment with the same reference is not found.
    let other = new_tenant(store).await;
    let theirs = insert_order(store, &other, "TR-1").await.unwrap();
    let mut their_payment = insert_payment(store, &theirs, None).await.unwrap();
    their_payment.transaction_ref = Some("psp-7".into());
    their_payment.version += 1;
    store.write(move |tx| async move { tx.update_payment(&their_payment).await }.boxed()).await.unwrap();

    let lookup = |reference: &'static str| {
        let t = tenant.clone();
        store.read(move |r| async move { r.payments_by_transaction_ref(&t, reference, 10).await }.boxed())
    };
    assert_eq!(lookup("psp-7").await.unwrap(), found, "live payments with exactly this reference");
    assert!(lookup("psp").await.unwrap().is_empty(), "exact, not a prefix");
    assert!(lookup("psp-7\0").await.unwrap().is_empty(), "a NUL matches nothing on either store");
}

async fn a_failing_job_leaves_nothing_behind(store: &Arc<dyn Store>) {
    let tenant = new_tenant(store).await;
    let (order, event) = new_order(&tenant, "F-1");
    let a = actor(&tenant);
    let result: StoreResult<()> = store
        .write(move |tx| {
            async move {
                tx.insert_order(&order).await?;
                tx.record(&a, event);
                Err(StoreError::NotFound)
            }
            .boxed()
        })
        .await;
    assert!(matches!(result, Err(StoreError::NotFound)));
    let t = tenant.clone();
    assert_eq!(store.read(move |r| async move { r.order_by_reference(&t, "F-1").await }.boxed()).await.unwrap(), None);
    let t = tenant.clone();
    let events = store
        .read(move |r| async move { r.events(&t, &EventFilter { limit: 10, ..Default::default() }).await }.boxed())
        .await
        .unwrap();
    assert!(events.is_empty());
    // The next event still gets number 1: a rollback leaves no gap.
    insert_order(store, &tenant, "F-2").await.unwrap();
    let t = tenant.clone();
    let events = store
        .read(move |r| async move { r.events(&t, &EventFilter { limit: 10, ..Default::default() }).await }.boxed())
        .await
        .unwrap();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1]);
    assert_eq!(events[0].kind, EventType::OrderCreated);
    assert_eq!(events[0].request_body.as_deref(), Some("{}"));
}

async fn events_are_numbered_gap_free_under_concurrency(store: &Arc<dyn Store>) {
    let tenant = new_tenant(store).await;
    let mut tasks = Vec::new();
    for i in 0..32 {
        let (store, tenant) = (store.clone(), tenant.clone());
        tasks.push(tokio::spawn(async move {
            for j in 0..5 {
                // Every fifth job fails after queuing its event: it must leave no number behind.
                let result = insert_order(&store, &tenant, &format!("C-{i}-{j}")).await;
                assert!(result.is_ok());
                if j == 2 {
                    let _ = insert_order(&store, &tenant, &format!("C-{i}-0")).await.unwrap_err();
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let t = tenant.clone();
    let events = store
        .read(move |r| async move { r.events(&t, &EventFilter { limit: 1000, ..Default::default() }).await }.boxed())
        .await
        .unwrap();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=160).collect::<Vec<_>>());
    let t = tenant.clone();
    let after = store
        .read(move |r| {
            async move { r.events(&t, &EventFilter { after_seq: 150, limit: 5, ..Default::default() }).await }.boxed()
        })
        .await
        .unwrap();
    assert_eq!(after.iter().map(|e| e.seq).collect::<Vec<_>>(), [151, 152, 153, 154, 155]);
}

/// How a job of [`jobs_sharing_a_batch_fail_alone`] ends.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Ending {
    Commits,
    /// The database refuses a statement (a duplicate reference).
    Refused,
    /// The job returns an error after its writes.
    Fails,
    Panics,
}

/// A write of `tenant` that opens an order, records its event, then ends as told.
async fn tenant_write(store: &Arc<dyn Store>, tenant: &TenantId, reference: String, ending: Ending) -> StoreResult<()> {
    let (order, event) = new_order(tenant, &reference);
    let actor = actor(tenant);
    store
        .write_for(tenant, move |tx| {
            async move {
                tx.insert_order(&order).await?;
                tx.record(&actor, event);
                match ending {
                    Ending::Commits | Ending::Refused => Ok(()),
                    Ending::Fails => Err(StoreError::InvalidValue("the job gives up".into())),
                    Ending::Panics => panic!("a job panics"),
                }
            }
            .boxed()
        })
        .await
}

/// Group commit keeps every guarantee: a slow first job holds the tenant's writes back, so the
/// jobs sent meanwhile queue and run together; each of them commits or fails on its own, and
/// the events of those that committed are numbered without gaps.
async fn jobs_sharing_a_batch_fail_alone(store: &Arc<dyn Store>) {
    let tenant = new_tenant(store).await;
    insert_order(store, &tenant, "TAKEN").await.unwrap();
    let (slow_store, slow_tenant) = (store.clone(), tenant.clone());
    let (order, event) = new_order(&tenant, "SLOW");
    let slow = tokio::spawn(async move {
        let actor = actor(&slow_tenant);
        slow_store
            .write_for(&slow_tenant, move |tx| {
                async move {
                    // Blocks the writer (or the tenant's lane) so that the jobs below queue.
                    std::thread::sleep(std::time::Duration::from_millis(300));
                    tx.insert_order(&order).await?;
                    tx.record(&actor, event);
                    Ok(())
                }
                .boxed()
            })
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let endings = [Ending::Commits, Ending::Refused, Ending::Fails, Ending::Commits, Ending::Panics];
    let mut jobs = Vec::new();
    for i in 0..20 {
        let ending = endings[i % endings.len()];
        let reference = if ending == Ending::Refused { "TAKEN".to_owned() } else { format!("B-{i}") };
        let (store, tenant) = (store.clone(), tenant.clone());
        jobs.push((i, ending, tokio::spawn(async move { tenant_write(&store, &tenant, reference, ending).await })));
    }
    slow.await.unwrap().unwrap();
    for (i, ending, job) in jobs {
        let result = job.await.unwrap();
        match ending {
            Ending::Commits => assert!(result.is_ok(), "job {i}: {result:?}"),
            Ending::Refused => {
                assert!(matches!(result, Err(StoreError::Duplicate("reference"))), "job {i}: {result:?}")
            }
            Ending::Fails => assert!(matches!(result, Err(StoreError::InvalidValue(_))), "job {i}: {result:?}"),
            Ending::Panics => assert!(matches!(result, Err(StoreError::Backend(_))), "job {i}: {result:?}"),
        }
        let (t, reference) = (tenant.clone(), format!("B-{i}"));
        let found =
            store.read(move |r| async move { r.order_by_reference(&t, &reference).await }.boxed()).await.unwrap();
        assert_eq!(found.is_some(), ending == Ending::Commits, "job {i} ({ending:?})");
    }
    let t = tenant.clone();
    let events = store
        .read(move |r| async move { r.events(&t, &EventFilter { limit: 1000, ..Default::default() }).await }.boxed())
        .await
        .unwrap();
    // TAKEN, SLOW and the 8 jobs that committed.
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=10).collect::<Vec<_>>());
}

async fn idempotency_claims(store: &Arc<dyn Store>) {
    let tenant = new_tenant(store).await;
    let key = IdempotencyKey { tenant_id: tenant.clone(), key: "k-1".into(), fingerprint: "f-1".into() };
    let answer = StoredResponse {
        status: 201,
        content_type: "application/json".into(),
        headers: vec![("paystate-outcome".into(), "applied".into())],
        body: b"{\"id\":1}".to_vec(),
    };
    // Claims `key` in a job that answers it and commits (`Ok`), or fails after claiming (`Err`).
    let run = |key: IdempotencyKey, commit: bool, answer: Option<StoredResponse>| {
        let store = store.clone();
        async move {
            store
                .write(move |tx| {
                    async move {
                        let claimed = tx.claim_idempotency(&key, now()).await?;
                        if let (true, Some(answer)) = (claimed, &answer) {
                            tx.answer_idempotency(&key, answer).await?;
                        }
                        if commit { Ok(claimed) } else { Err(StoreError::NotFound) }
                    }
                    .boxed()
                })
                .await
        }
    };
    let record = |name: &'static str| {
        let (store, t) = (store.clone(), tenant.clone());
        async move { store.read(move |r| async move { r.idempotency_record(&t, name).await }.boxed()).await.unwrap() }
    };
    // A job that fails takes its claim with it: the key stays free.
    assert!(matches!(run(key.clone(), false, Some(answer.clone())).await, Err(StoreError::NotFound)));
    assert_eq!(record("k-1").await, None);
    // The claim and the answer commit together; the key is then taken, whatever the fingerprint.
    assert!(run(key.clone(), true, Some(answer.clone())).await.unwrap());
    let stored = record("k-1").await.expect("the claim committed");
    assert_eq!((stored.fingerprint.as_str(), stored.response), ("f-1", Some(answer.clone())));
    assert!(!run(key.clone(), true, None).await.unwrap());
    assert!(!run(IdempotencyKey { fingerprint: "f-2".into(), ..key.clone() }, true, None).await.unwrap());

    // An unanswered claim (only an older paystate, claiming in a transaction of its own, left
    // those) is taken over by the next claim.
    let second = IdempotencyKey { key: "k-2".into(), ..key.clone() };
    assert!(run(second.clone(), true, None).await.unwrap());
    assert_eq!(record("k-2").await.map(|r| r.response), Some(None));
    assert!(run(IdempotencyKey { fingerprint: "f-3".into(), ..second }, true, Some(answer.clone())).await.unwrap());
    assert_eq!(record("k-2").await.map(|r| (r.fingerprint, r.response)), Some(("f-3".into(), Some(answer))));

    let purged = store
        .write(|tx| async move { tx.purge_idempotency(now() + chrono::Duration::seconds(5)).await }.boxed())
        .await
        .unwrap();
    assert!(purged >= 2);
    assert!(run(key, true, None).await.unwrap());
}

async fn tenants_are_isolated(store: &Arc<dyn Store>) {
    let (a, b) = (new_tenant(store).await, new_tenant(store).await);
    let order = insert_order(store, &a, "I-1").await.unwrap();
    let payment = insert_payment(store, &order, Some("iso-ext")).await.unwrap();
    insert_order(store, &b, "I-1").await.unwrap();
    let (t, o, p) = (b.clone(), order.id.clone(), payment.id.clone());
    let seen = store
        .read(move |r| {
            async move {
                Ok((
                    r.order(&t, &o).await?,
                    r.payment(&t, &p).await?,
                    r.payment_by_external_id(&t, "iso-ext").await?,
                    r.events(&t, &EventFilter { limit: 10, payment_id: Some(p.clone()), ..Default::default() }).await?,
                ))
            }
            .boxed()
        })
        .await
        .unwrap();
    assert_eq!(seen, (None, None, None, vec![]));
}

fn endpoint(tenant: &TenantId, events: &[&str], enabled: bool) -> EndpointRecord {
    let at = now();
    EndpointRecord {
        endpoint: WebhookEndpoint {
            id: EndpointId::generate(),
            tenant_id: tenant.clone(),
            url: "https://hooks.example.com/paystate".into(),
            events: EventSelection::parse(events.iter().map(|e| (*e).to_owned()).collect()).unwrap(),
            description: Some("ERP".into()),
            enabled,
            disabled_reason: None,
            disabled_at: None,
            failing_since: None,
            created_at: at,
            updated_at: at,
        },
        secret: vec![1, 2, 3],
        previous_secret: None,
        previous_expires_at: None,
    }
}

async fn insert_endpoint(store: &Arc<dyn Store>, record: &EndpointRecord) {
    let written = record.clone();
    store.write(move |tx| async move { tx.insert_endpoint(&written).await }.boxed()).await.unwrap();
}

async fn deliveries_of(store: &Arc<dyn Store>, tenant: &TenantId, filter: DeliveryFilter) -> Vec<DeliveryRecord> {
    let t = tenant.clone();
    store
        .read(move |r| {
            async move { r.deliveries(&t, &filter, &PageRequest { after: None, limit: 1000 }).await }.boxed()
        })
        .await
        .unwrap()
}

async fn claim(store: &Arc<dyn Store>, now: Timestamp, limit: u32) -> Vec<ClaimedDelivery> {
    claim_as(store, now, limit, "dispatcher-a").await
}

async fn claim_as(store: &Arc<dyn Store>, now: Timestamp, limit: u32, owner: &'static str) -> Vec<ClaimedDelivery> {
    let lease_until = now + chrono::Duration::seconds(60);
    store
        .write(move |tx| async move { tx.claim_deliveries(now, lease_until, limit, owner).await }.boxed())
        .await
        .unwrap()
}

async fn record_attempt(
    store: &Arc<dyn Store>,
    claimed: &ClaimedDelivery,
    token: &str,
    status: u16,
    next: NextStep,
) -> bool {
    let outcome = AttemptOutcome {
        tenant_id: claimed.delivery.tenant_id.clone(),
        lease_token: token.to_owned(),
        attempt: AttemptRecord {
            delivery_id: claimed.delivery.id.clone(),
            at: now(),
            status_code: Some(status),
            latency_ms: 12,
            response_excerpt: Some(format!("status {status}")),
            error: None,
        },
        next,
    };
    store.write(move |tx| async move { tx.record_attempt(&outcome).await }.boxed()).await.unwrap()
}

async fn webhook_endpoints_round_trip(store: &Arc<dyn Store>) {
    let (tenant, other) = (new_tenant(store).await, new_tenant(store).await);
    let mut first = endpoint(&tenant, &["payment.status_changed", "order.created"], true);
    insert_endpoint(store, &first).await;
    let second = endpoint(&tenant, &["*"], false);
    insert_endpoint(store, &second).await;

    let (t, id) = (tenant.clone(), first.endpoint.id.clone());
    let read = store.read(move |r| async move { r.endpoint(&t, &id).await }.boxed()).await.unwrap();
    assert_eq!(read, Some(first.clone()));
    let (o, id) = (other.clone(), first.endpoint.id.clone());
    assert_eq!(store.read(move |r| async move { r.endpoint(&o, &id).await }.boxed()).await.unwrap(), None);

    let t = tenant.clone();
    let page = store
        .read(move |r| async move { r.endpoints(&t, &PageRequest { after: None, limit: 1 }).await }.boxed())
        .await
        .unwrap();
    assert_eq!(page, vec![first.clone()]);
    let (t, after) = (tenant.clone(), first.endpoint.id.to_string());
    let rest = store
        .read(move |r| async move { r.endpoints(&t, &PageRequest { after: Some(after), limit: 10 }).await }.boxed())
        .await
        .unwrap();
    assert_eq!(rest, vec![second.clone()]);

    first.endpoint.url = "https://other.example.com/in".into();
    first.endpoint.disable("gone", now());
    first.previous_secret = Some(first.secret.clone());
    first.previous_expires_at = Some(now() + chrono::Duration::hours(24));
    first.secret = vec![9; 40];
    let written = first.clone();
    store.write(move |tx| async move { tx.update_endpoint(&written).await }.boxed()).await.unwrap();
    let (t, id) = (tenant.clone(), first.endpoint.id.clone());
    let read = store.read(move |r| async move { r.endpoint(&t, &id).await }.boxed()).await.unwrap();
    assert_eq!(read, Some(first.clone()));
    assert_eq!(first.signing_secrets(now()).len(), 2);

    let mut foreign = first.clone();
    foreign.endpoint.tenant_id = other.clone();
    assert!(matches!(
        store.write(move |tx| async move { tx.update_endpoint(&foreign).await }.boxed()).await,
        Err(StoreError::NotFound)
    ));
    let (o, id) = (other.clone(), first.endpoint.id.clone());
    assert!(!store.write(move |tx| async move { tx.delete_endpoint(&o, &id).await }.boxed()).await.unwrap());
    let (t, id) = (tenant.clone(), first.endpoint.id.clone());
    assert!(store.write(move |tx| async move { tx.delete_endpoint(&t, &id).await }.boxed()).await.unwrap());
    let (t, id) = (tenant.clone(), first.endpoint.id.clone());
    assert_eq!(store.read(move |r| async move { r.endpoint(&t, &id).await }.boxed()).await.unwrap(), None);
}

async fn the_outbox_writes_deliveries_with_their_events(store: &Arc<dyn Store>) {
    let tenant = new_tenant(store).await;
    let everything = endpoint(&tenant, &["*"], true);
    let payments_only = endpoint(&tenant, &["payment.status_changed"], true);
    let disabled = endpoint(&tenant, &["*"], false);
    for record in [&everything, &payments_only, &disabled] {
        insert_endpoint(store, record).await;
    }
    // Another tenant's endpoint never sees this tenant's events.
    let other = new_tenant(store).await;
    insert_endpoint(store, &endpoint(&other, &["*"], true)).await;
    let stats_before = store.read(|r| async move { r.outbox_stats().await }.boxed()).await.unwrap();

    let order = insert_order(store, &tenant, "W-1").await.unwrap();
    let t = tenant.clone();
    let events = store
        .read(move |r| async move { r.events(&t, &EventFilter { limit: 10, ..Default::default() }).await }.boxed())
        .await
        .unwrap();
    let event = &events[0];
    let deliveries = deliveries_of(store, &tenant, DeliveryFilter::default()).await;
    assert_eq!(deliveries.len(), 1, "one delivery per subscribed, enabled endpoint");
    let delivery = &deliveries[0];
    assert_eq!(delivery.endpoint_id, everything.endpoint.id);
    assert_eq!(delivery.event_id, event.id);
    assert_eq!(delivery.event_type, "order.created");
    assert_eq!((delivery.state, delivery.attempts, delivery.step), (DeliveryState::Pending, 0, 0));
    assert!(delivery.next_attempt_at.is_some_and(|at| at <= now()));
    let payload: serde_json::Value = serde_json::from_str(&delivery.payload).unwrap();
    assert_eq!(payload["type"], "order.created");
    assert_eq!(payload["data"]["id"], order.id.as_str());
    assert_eq!(payload["data"]["seq"], event.seq);
    assert!(payload["timestamp"].as_str().is_some());
    let o = other.clone();
    assert!(deliveries_of(store, &o, DeliveryFilter::default()).await.is_empty());
    let stats = store.read(|r| async move { r.outbox_stats().await }.boxed()).await.unwrap();
    assert_eq!(stats.pending, stats_before.pending + 1);
    assert!(stats.oldest_pending_at.is_some_and(|at| at <= delivery.created_at));

    // A job that fails leaves neither its event nor its deliveries behind.
    let (failed_order, failed_event) = new_order(&tenant, "W-2");
    let a = actor(&tenant);
    let failed: StoreResult<()> = store
        .write(move |tx| {
            async move {
                tx.insert_order(&failed_order).await?;
                tx.record(&a, failed_event);
                Err(StoreError::NotFound)
            }
            .boxed()
        })
        .await;
    assert!(failed.is_err());
    assert_eq!(deliveries_of(store, &tenant, DeliveryFilter::default()).await.len(), 1);

    // By event and by endpoint; deleting an endpoint takes its deliveries along.
    let payment = insert_payment(store, &order, None).await.unwrap();
    let mut paid = payment.clone();
    paid.status = PaymentStatus::Paid;
    paid.version += 1;
    let (a, written) = (actor(&tenant), paid.clone());
    store
        .write(move |tx| {
            async move {
                tx.update_payment(&written).await?;
                tx.record(&a, EventDraft::payment(EventType::PaymentStatusChanged, &written, serde_json::json!({})));
                Ok(())
            }
            .boxed()
        })
        .await
        .unwrap();
    let all = deliveries_of(store, &tenant, DeliveryFilter::default()).await;
    assert_eq!(all.len(), 4, "order.created to one, payment.created to one, status_changed to two");
    let changed_event = all.last().unwrap().event_id.clone();
    let by_event =
        deliveries_of(store, &tenant, DeliveryFilter { event_id: Some(changed_event), ..Default::default() }).await;
    assert_eq!(by_event.len(), 2);
    let by_endpoint = deliveries_of(
        store,
        &tenant,
        DeliveryFilter { endpoint_id: Some(payments_only.endpoint.id.clone()), ..Default::default() },
    )
    .await;
    assert_eq!(by_endpoint.len(), 1);
    assert_eq!(by_endpoint[0].event_type, "payment.status_changed");
    let (t, id) = (tenant.clone(), payments_only.endpoint.id.clone());
    assert!(store.write(move |tx| async move { tx.delete_endpoint(&t, &id).await }.boxed()).await.unwrap());
    assert_eq!(deliveries_of(store, &tenant, DeliveryFilter::default()).await.len(), 3);
    // Leave nothing due behind for the checks that claim.
    let t = tenant.clone();
    let id = everything.endpoint.id.clone();
    store.write(move |tx| async move { tx.delete_endpoint(&t, &id).await }.boxed()).await.unwrap();
}

async fn claims_lease_and_attempts_move_deliveries_on(store: &Arc<dyn Store>) {
    let tenant = new_tenant(store).await;
    let hook = endpoint(&tenant, &["order.created"], true);
    insert_endpoint(store, &hook).await;
    insert_order(store, &tenant, "L-1").await.unwrap();
    let mine = |claimed: Vec<ClaimedDelivery>| -> Vec<ClaimedDelivery> {
        claimed.into_iter().filter(|c| c.delivery.tenant_id == tenant).collect()
    };

    let first = mine(claim(store, now(), 100).await);
    assert_eq!(first.len(), 1);
    let claimed = first[0].clone();
    assert_eq!(claimed.endpoint, hook);
    assert!(!claimed.lease_token.is_empty());
    assert!(mine(claim(store, now(), 100).await).is_empty(), "a leased delivery is not claimed again");

    // The lease runs out (the dispatcher died): another claim takes it with a new token.
    let later = now() + chrono::Duration::seconds(61);
    let again = mine(claim(store, later, 100).await);
    assert_eq!(again.len(), 1);
    assert_ne!(again[0].lease_token, claimed.lease_token);
    // The first holder's attempt is logged, but the delivery stays with the new holder.
    assert!(!record_attempt(store, &claimed, &claimed.lease_token, 500, NextStep::Failed).await);
    let retry_at = now() + chrono::Duration::minutes(5);
    assert!(record_attempt(store, &again[0], &again[0].lease_token, 503, NextStep::RetryAt(retry_at)).await);
    let (t, id) = (tenant.clone(), claimed.delivery.id.clone());
    let delivery = store.read(move |r| async move { r.delivery(&t, &id).await }.boxed()).await.unwrap().unwrap();
    assert_eq!((delivery.state, delivery.attempts, delivery.step), (DeliveryState::Pending, 2, 1));
    assert_eq!(delivery.next_attempt_at, Some(retry_at));
    assert!(delivery.last_attempt_at.is_some());
    assert!(mine(claim(store, later, 100).await).is_empty(), "not due before its retry time");

    // Due: claimed, fails for good; retried by hand as one of the endpoint's failed deliveries.
    let due = mine(claim(store, retry_at, 100).await);
    assert_eq!(due.len(), 1);
    assert!(record_attempt(store, &due[0], &due[0].lease_token, 500, NextStep::Failed).await);
    let failed =
        deliveries_of(store, &tenant, DeliveryFilter { state: Some(DeliveryState::Failed), ..Default::default() })
            .await;
    assert_eq!(failed.len(), 1);
    assert!(mine(claim(store, retry_at, 100).await).is_empty(), "a failed delivery is not claimed");
    let (t, e, since) = (tenant.clone(), hook.endpoint.id.clone(), delivery.created_at + chrono::Duration::seconds(1));
    assert_eq!(
        store
            .write(move |tx| async move { tx.retry_failed_deliveries(&t, &e, since, now()).await }.boxed())
            .await
            .unwrap(),
        0,
        "created before `since`"
    );
    let (t, e, since) = (tenant.clone(), hook.endpoint.id.clone(), delivery.created_at);
    assert_eq!(
        store
            .write(move |tx| async move { tx.retry_failed_deliveries(&t, &e, since, now()).await }.boxed())
            .await
            .unwrap(),
        1
    );
    let round = mine(claim(store, now(), 100).await);
    assert_eq!(round.len(), 1);
    assert_eq!(round[0].delivery.step, 0, "a manual retry starts the schedule anew");
    assert!(record_attempt(store, &round[0], &round[0].lease_token, 200, NextStep::Succeeded).await);

    // One delivery retried by hand, whatever its state; none of another tenant.
    let (o, id) = (TenantId::generate(), claimed.delivery.id.clone());
    assert!(!store.write(move |tx| async move { tx.retry_delivery(&o, &id, now()).await }.boxed()).await.unwrap());
    let (t, id) = (tenant.clone(), claimed.delivery.id.clone());
    assert!(store.write(move |tx| async move { tx.retry_delivery(&t, &id, now()).await }.boxed()).await.unwrap());
    let (t, id) = (tenant.clone(), claimed.delivery.id.clone());
    let delivery = store.read(move |r| async move { r.delivery(&t, &id).await }.boxed()).await.unwrap().unwrap();
    assert_eq!((delivery.state, delivery.attempts, delivery.step), (DeliveryState::Pending, 4, 0));

    let (t, ids) = (tenant.clone(), vec![claimed.delivery.id.clone()]);
    let attempts = store.read(move |r| async move { r.delivery_attempts(&t, &ids).await }.boxed()).await.unwrap();
    assert_eq!(
        attempts.iter().map(|a| a.status_code).collect::<Vec<_>>(),
        [Some(500), Some(503), Some(500), Some(200)]
    );
    assert_eq!(attempts[3].response_excerpt.as_deref(), Some("status 200"));
    assert_eq!(attempts[3].latency_ms, 12);
    let (o, ids) = (TenantId::generate(), vec![claimed.delivery.id.clone()]);
    assert!(store.read(move |r| async move { r.delivery_attempts(&o, &ids).await }.boxed()).await.unwrap().is_empty());

    // A disabled endpoint's deliveries wait; they are not claimed.
    let mut off = hook.clone();
    off.endpoint.set_enabled(false, now());
    store.write(move |tx| async move { tx.update_endpoint(&off).await }.boxed()).await.unwrap();
    assert!(mine(claim(store, now(), 100).await).is_empty());
    let t = tenant.clone();
    let id = hook.endpoint.id.clone();
    store.write(move |tx| async move { tx.delete_endpoint(&t, &id).await }.boxed()).await.unwrap();
}

async fn a_restarted_dispatcher_takes_back_its_own_leases(store: &Arc<dyn Store>) {
    let tenant = new_tenant(store).await;
    insert_endpoint(store, &endpoint(&tenant, &["order.created"], true)).await;
    insert_order(store, &tenant, "R-1").await.unwrap();
    let mine = |claimed: Vec<ClaimedDelivery>| -> Vec<ClaimedDelivery> {
        claimed.into_iter().filter(|c| c.delivery.tenant_id == tenant).collect()
    };
    let release = |owner: &'static str| {
        let store = store.clone();
        async move { store.write(move |tx| async move { tx.release_leases(owner).await }.boxed()).await.unwrap() }
    };
    let held = mine(claim_as(store, now(), 100, "node_1").await);
    assert_eq!(held.len(), 1);
    assert!(held[0].lease_token.starts_with("node_1."), "{}", held[0].lease_token);
    // Another owner, or a pattern that would match it in LIKE, takes nothing back.
    assert_eq!(release("node%").await, 0);
    assert_eq!(release("node?1").await, 0);
    assert!(mine(claim_as(store, now(), 100, "node_2").await).is_empty(), "still leased");
    // The same owner, restarted, does: its delivery is claimable at once.
    assert!(release("node_1").await >= 1);
    let again = mine(claim_as(store, now(), 100, "node_2").await);
    assert_eq!(again.len(), 1);
    assert_eq!(release("node_1").await, 0, "node_2 holds it now");
}

async fn finished_deliveries_are_purged_and_events_kept(store: &Arc<dyn Store>) {
    let tenant = new_tenant(store).await;
    insert_endpoint(store, &endpoint(&tenant, &["order.created"], true)).await;
    insert_order(store, &tenant, "P-1").await.unwrap();
    let sent: Vec<ClaimedDelivery> =
        claim_as(store, now(), 1000, "purger").await.into_iter().filter(|c| c.delivery.tenant_id == tenant).collect();
    assert_eq!(sent.len(), 1);
    assert!(record_attempt(store, &sent[0], &sent[0].lease_token, 200, NextStep::Succeeded).await);
    insert_order(store, &tenant, "P-2").await.unwrap();
    let purge = |before: Timestamp| {
        let store = store.clone();
        async move { store.write(move |tx| async move { tx.purge_deliveries(before).await }.boxed()).await.unwrap() }
    };
    assert_eq!(purge(now() - chrono::Duration::days(1)).await, 0, "younger than the retention");
    assert!(purge(now() + chrono::Duration::seconds(1)).await >= 1);
    let left = deliveries_of(store, &tenant, DeliveryFilter::default()).await;
    assert_eq!(left.len(), 1, "the pending delivery stays");
    assert_eq!(left[0].state, DeliveryState::Pending);
    let t = tenant.clone();
    let events = store
        .read(move |r| async move { r.events(&t, &EventFilter { limit: 100, ..Default::default() }).await }.boxed())
        .await
        .unwrap();
    assert_eq!(events.len(), 2, "events are never purged");
}

async fn concurrent_claimers_never_share_a_delivery(store: &Arc<dyn Store>) {
    let tenant = new_tenant(store).await;
    insert_endpoint(store, &endpoint(&tenant, &["*"], true)).await;
    for i in 0..40 {
        insert_order(store, &tenant, &format!("Q-{i}")).await.unwrap();
    }
    let mut claimers = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        claimers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = claim(&store, now(), 3).await;
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|c| (c.delivery.tenant_id, c.delivery.id)));
            }
        }));
    }
    let mut seen = std::collections::HashSet::new();
    for claimer in claimers {
        for (tenant_id, id) in claimer.await.unwrap() {
            assert!(seen.insert(id.clone()), "delivery {id} was claimed twice");
            let _ = tenant_id;
        }
    }
    let all = deliveries_of(store, &tenant, DeliveryFilter::default()).await;
    assert_eq!(all.len(), 40);
    assert!(all.iter().all(|d| seen.contains(&d.id)), "every delivery was claimed once");
}

// --- console: users and sessions ---

fn console_user(tenant: &TenantId, email: &str) -> UserRecord {
    let now = now();
    UserRecord {
        id: paystate_domain::UserId::generate(),
        tenant_id: tenant.clone(),
        email: email.into(),
        role: paystate_domain::Role::Operator,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        disabled_at: None,
        created_at: now,
        updated_at: now,
    }
}

fn console_session(user: &UserRecord, fill: u8) -> SessionRecord {
    let now = now();
    SessionRecord {
        token_hash: [fill; 32],
        tenant_id: user.tenant_id.clone(),
        user_id: user.id.clone(),
        created_at: now,
        last_seen_at: now,
        revoked_at: None,
    }
}

async fn console_users_and_sessions(store: &Arc<dyn Store>) {
    let (tenant, other) = (new_tenant(store).await, new_tenant(store).await);
    let email = format!("ana-{}@shop.example", tenant.as_str());
    let ana = console_user(&tenant, &email);
    let (written, twin) = (ana.clone(), console_user(&other, &email));
    store
        .write(move |tx| {
            async move {
                tx.insert_user(&written).await?;
                tx.insert_user(&twin).await
            }
            .boxed()
        })
        .await
        .unwrap();
    let duplicate = console_user(&tenant, &email);
    let refused = store.write(move |tx| async move { tx.insert_user(&duplicate).await }.boxed()).await;
    assert!(matches!(refused, Err(StoreError::Duplicate("email"))), "{refused:?}");

    let (t, id, e) = (tenant.clone(), ana.id.clone(), email.clone());
    let (read, same_email, listed, foreign) = store
        .read(move |r| {
            async move {
                let other_tenant = TenantId::generate();
                Ok((
                    r.user(&t, &id).await?,
                    r.users_with_email(&e).await?,
                    r.users(&t).await?,
                    r.user(&other_tenant, &id).await?,
                ))
            }
            .boxed()
        })
        .await
        .unwrap();
    assert_eq!(read.as_ref(), Some(&ana));
    assert_eq!(same_email.len(), 2, "one user per tenant with that address");
    assert_eq!(listed, vec![ana.clone()]);
    assert_eq!(foreign, None, "a user is read only within its tenant");

    let mut changed = ana.clone();
    changed.role = paystate_domain::Role::Admin;
    changed.password_hash = "$argon2id$other".into();
    changed.updated_at = now();
    let written = changed.clone();
    store.write(move |tx| async move { tx.update_user(&written).await }.boxed()).await.unwrap();
    let (t, id) = (tenant.clone(), ana.id.clone());
    let read = store.read(move |r| async move { r.user(&t, &id).await }.boxed()).await.unwrap();
    assert_eq!(read, Some(changed.clone()));

    let (first, second) = (console_session(&ana, 1), console_session(&ana, 2));
    let (a, b) = (first.clone(), second.clone());
    store
        .write(move |tx| {
            async move {
                tx.insert_session(&a).await?;
                tx.insert_session(&b).await
            }
            .boxed()
        })
        .await
        .unwrap();
    let read = store.read(move |r| async move { r.session(&[1; 32]).await }.boxed()).await.unwrap();
    assert_eq!(read, Some(first.clone()));
    let later = now() + chrono::Duration::seconds(5);
    let touched = store.write(move |tx| async move { tx.touch_session(&[1; 32], later).await }.boxed()).await.unwrap();
    assert!(touched);
    let read = store.read(move |r| async move { r.session(&[1; 32]).await }.boxed()).await.unwrap().unwrap();
    assert_eq!(read.last_seen_at, later);
    let missing = store.write(move |tx| async move { tx.touch_session(&[9; 32], later).await }.boxed()).await;
    assert!(!missing.unwrap());

    let revoked = store.write(move |tx| async move { tx.revoke_session(&[1; 32], later).await }.boxed()).await;
    assert!(revoked.unwrap());
    let (t, u) = (tenant.clone(), ana.id.clone());
    let everywhere =
        store.write(move |tx| async move { tx.revoke_user_sessions(&t, &u, later).await }.boxed()).await.unwrap();
    assert_eq!(everywhere, 1, "only the session still live");
    let both = store
        .read(move |r| async move { Ok((r.session(&[1; 32]).await?, r.session(&[2; 32]).await?)) }.boxed())
        .await
        .unwrap();
    assert_eq!(both.0.unwrap().revoked_at, Some(later));
    assert_eq!(both.1.unwrap().revoked_at, Some(later));

    let purged = store
        .write(move |tx| async move { tx.purge_sessions(later + chrono::Duration::seconds(1)).await }.boxed())
        .await
        .unwrap();
    assert!(purged >= 2);
    let gone = store.read(move |r| async move { r.session(&[2; 32]).await }.boxed()).await.unwrap();
    assert_eq!(gone, None);
}

async fn console_overview_counts(store: &Arc<dyn Store>) {
    let tenant = new_tenant(store).await;
    let order = insert_order(store, &tenant, "COUNTS-1").await.unwrap();
    for external in ["c-1", "c-2"] {
        insert_payment(store, &order, Some(external)).await.unwrap();
    }
    let t = tenant.clone();
    let since = now() - chrono::Duration::hours(1);
    let (payments, events, none) = store
        .read(move |r| {
            async move {
                let future = now() + chrono::Duration::hours(1);
                Ok((r.payment_counts(&t).await?, r.event_counts(&t, since).await?, r.event_counts(&t, future).await?))
            }
            .boxed()
        })
        .await
        .unwrap();
    assert_eq!(payments, vec![StatusCount { status: PaymentStatus::Open, needs_review: false, count: 2 }]);

    let search = |search: PaymentSearch, after: Option<String>| {
        let t = tenant.clone();
        let page = PageRequest { after, limit: 10 };
        store.read(move |r| async move { r.payments_matching(&t, &search, &page).await }.boxed())
    };
    let all = search(PaymentSearch::default(), None).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all[0].id < all[1].id, "by id");
    let euro = PaymentSearch { currency: Some("EUR".into()), created_via: Some(Source::Cli), ..Default::default() };
    assert_eq!(search(euro, None).await.unwrap().len(), 2);
    let yen = PaymentSearch { currency: Some("JPY".into()), ..Default::default() };
    assert!(search(yen, None).await.unwrap().is_empty());
    let native = PaymentSearch { created_via: Some(Source::Native), ..Default::default() };
    assert!(search(native, None).await.unwrap().is_empty());
    let after_first = PaymentSearch { id_after: Some(all[0].id.to_string()), ..Default::default() };
    assert_eq!(search(after_first, None).await.unwrap(), vec![all[1].clone()]);
    let both = PaymentSearch { id_after: Some(all[0].id.to_string()), ..Default::default() };
    assert!(search(both, Some(all[1].id.to_string())).await.unwrap().is_empty(), "the tighter bound wins");
    let before_second = PaymentSearch { id_before: Some(all[1].id.to_string()), ..Default::default() };
    assert_eq!(search(before_second, None).await.unwrap(), vec![all[0].clone()]);
    let after_first = search(PaymentSearch::default(), Some(all[0].id.to_string())).await.unwrap();
    assert_eq!(after_first, vec![all[1].clone()]);
    let paid = PaymentSearch { status: Some(PaymentStatus::Paid), needs_review: Some(false), ..Default::default() };
    assert!(search(paid, None).await.unwrap().is_empty());
    let created = |kind| events.iter().find(|c| c.kind == kind && c.source == Source::Cli).map(|c| c.count);
    assert_eq!(created(EventType::OrderCreated), Some(1));
    assert_eq!(created(EventType::PaymentCreated), Some(2));
    assert!(none.is_empty());
}
