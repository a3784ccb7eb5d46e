//! The webhooks' story: endpoints, the outbox that writes deliveries with their events, and the
//! dispatchers' claims, leases, attempts, retries and purges.

use super::{actor, insert_order, insert_order_then_fail, insert_payment, new_tenant};
use crate::*;
use futures::FutureExt;
use paystate_domain::{EndpointId, EventSelection, EventType, PaymentStatus, WebhookEndpoint};
use std::sync::Arc;

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

pub async fn webhook_endpoints_round_trip(store: &Arc<dyn Store>) {
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

pub async fn the_outbox_writes_deliveries_with_their_events(store: &Arc<dyn Store>) {
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
    let failed = insert_order_then_fail(store, &tenant, "W-2").await;
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
    // Deleting the other subscribed endpoint leaves nothing of the tenant due.
    let t = tenant.clone();
    let id = everything.endpoint.id.clone();
    store.write(move |tx| async move { tx.delete_endpoint(&t, &id).await }.boxed()).await.unwrap();
}

pub async fn claims_lease_and_attempts_move_deliveries_on(store: &Arc<dyn Store>) {
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

pub async fn a_restarted_dispatcher_takes_back_its_own_leases(store: &Arc<dyn Store>) {
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

pub async fn finished_deliveries_are_purged_and_events_kept(store: &Arc<dyn Store>) {
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

pub async fn concurrent_claimers_never_share_a_delivery(store: &Arc<dyn Store>) {
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
