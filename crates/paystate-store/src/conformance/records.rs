//! The records' story: tenants and keys, orders and payments with their versions, events
//! numbered without gaps, jobs that fail alone, idempotency keys, and tenants kept apart.

use super::{actor, insert_order, insert_order_then_fail, insert_payment, new_order, new_tenant};
use crate::*;
use futures::FutureExt;
use paystate_domain::{EventType, OrderState, PaymentStatus, Source};
use std::sync::Arc;

pub async fn tenants_and_keys(store: &Arc<dyn Store>) {
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

pub async fn orders_round_trip_and_stay_unique(store: &Arc<dyn Store>) {
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

pub async fn payments_round_trip_and_updates_check_versions(store: &Arc<dyn Store>) {
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

pub async fn payments_by_transaction_ref(store: &Arc<dyn Store>) {
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

pub async fn a_failing_job_leaves_nothing_behind(store: &Arc<dyn Store>) {
    let tenant = new_tenant(store).await;
    let result = insert_order_then_fail(store, &tenant, "F-1").await;
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

pub async fn events_are_numbered_gap_free_under_concurrency(store: &Arc<dyn Store>) {
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
pub async fn jobs_sharing_a_batch_fail_alone(store: &Arc<dyn Store>) {
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

pub async fn idempotency_claims(store: &Arc<dyn Store>) {
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

pub async fn tenants_are_isolated(store: &Arc<dyn Store>) {
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
