//! The storage story every backend must tell the same way. Each backend's test binary calls
//! [`run_all`] on a fresh database; the API integration tests then cover behaviour end to end.

use crate::*;
use futures::FutureExt;
use paystate_domain::order::NewOrder;
use paystate_domain::payment::NewPayment;
use paystate_domain::{Currency, EventType, OrderState, PaymentStatus, Source};
use std::sync::Arc;

fn actor(tenant: &TenantId) -> Actor {
    Actor {
        tenant_id: tenant.clone(),
        key_id: None,
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

fn new_order(tenant: &TenantId, reference: &str) -> (Order, EventDraft) {
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
    idempotency_claims(&store).await;
    tenants_are_isolated(&store).await;
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

async fn idempotency_claims(store: &Arc<dyn Store>) {
    let tenant = new_tenant(store).await;
    let claim = IdempotencyClaim {
        tenant_id: tenant.clone(),
        key: "k-1".into(),
        fingerprint: "f-1".into(),
        now: now(),
        stale_before: now() - chrono::Duration::minutes(1),
    };
    let run = |claim: IdempotencyClaim| {
        let store = store.clone();
        async move { store.write(move |tx| async move { tx.claim_idempotency(&claim).await }.boxed()).await.unwrap() }
    };
    assert_eq!(run(claim.clone()).await, ClaimOutcome::Claimed);
    assert_eq!(run(claim.clone()).await, ClaimOutcome::InFlight);
    assert_eq!(run(IdempotencyClaim { fingerprint: "f-2".into(), ..claim.clone() }).await, ClaimOutcome::Mismatch);
    let response =
        StoredResponse { status: 201, content_type: "application/json".into(), body: b"{\"id\":1}".to_vec() };
    let (t, stored) = (tenant.clone(), response.clone());
    store.write(move |tx| async move { tx.complete_idempotency(&t, "k-1", &stored).await }.boxed()).await.unwrap();
    assert_eq!(run(claim.clone()).await, ClaimOutcome::Replay(response));

    // A released claim (a server error) may run again; a crashed one is taken over once stale.
    let second = IdempotencyClaim { key: "k-2".into(), ..claim.clone() };
    assert_eq!(run(second.clone()).await, ClaimOutcome::Claimed);
    let t = tenant.clone();
    store.write(move |tx| async move { tx.release_idempotency(&t, "k-2").await }.boxed()).await.unwrap();
    assert_eq!(run(second.clone()).await, ClaimOutcome::Claimed);
    let later = IdempotencyClaim { stale_before: now() + chrono::Duration::seconds(1), ..second };
    assert_eq!(run(later).await, ClaimOutcome::Claimed);

    let purged = store
        .write(|tx| async move { tx.purge_idempotency(now() + chrono::Duration::seconds(5)).await }.boxed())
        .await
        .unwrap();
    assert!(purged >= 2);
    assert_eq!(run(claim).await, ClaimOutcome::Claimed);
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
