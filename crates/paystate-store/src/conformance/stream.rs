//! The event stream's story: sinks' cursors, leased per tenant and moved forward as events are
//! acknowledged.

use super::insert_order;
use crate::*;
use futures::FutureExt;
use std::sync::Arc;

async fn claim_stream(store: &Arc<dyn Store>, sink: &str, now: Timestamp, limit: u32) -> Vec<StreamClaim> {
    let (sink, lease_until) = (sink.to_owned(), now + chrono::Duration::seconds(30));
    store
        .write(move |tx| async move { tx.claim_stream_tenants(&sink, now, lease_until, limit).await }.boxed())
        .await
        .unwrap()
}

async fn backlog(store: &Arc<dyn Store>, sink: &str) -> StreamBacklog {
    let sink = sink.to_owned();
    store.read(move |r| async move { r.stream_backlog(&sink).await }.boxed()).await.unwrap()
}

async fn advance(store: &Arc<dyn Store>, sink: &str, claim: &StreamClaim, seq: i64) -> bool {
    let (sink, claim) = (sink.to_owned(), claim.clone());
    let lease_until = now() + chrono::Duration::seconds(30);
    store
        .write(move |tx| {
            async move { tx.advance_stream_cursor(&sink, &claim.tenant_id, &claim.lease_token, seq, lease_until).await }
                .boxed()
        })
        .await
        .unwrap()
}

/// A tenant with `events` order events.
async fn tenant_with_events(store: &Arc<dyn Store>, events: usize) -> TenantId {
    let at = now();
    let tenant = Tenant {
        id: TenantId::generate(),
        name: "Stream".into(),
        settings: serde_json::json!({}),
        created_at: at,
        updated_at: at,
    };
    let id = tenant.id.clone();
    store.write(move |tx| async move { tx.insert_tenant(&tenant).await }.boxed()).await.unwrap();
    for i in 0..events {
        one_more_event(store, &id, &format!("STREAM-{i}")).await;
    }
    id
}

/// Claims lease owed tenants exclusively, cursors move forward only under their lease, and the
/// backlog counts what each sink still owes.
pub async fn stream_cursors_lease_and_advance(store: &Arc<dyn Store>) {
    let sink = format!("conformance-{}", TenantId::generate());
    let before = backlog(store, &sink).await;
    let tenant = tenant_with_events(store, 3).await;
    let quiet = tenant_with_events(store, 0).await;
    let owed = backlog(store, &sink).await;
    assert_eq!(owed.pending, before.pending + 3, "a tenant without a cursor owes every event");
    assert!(owed.oldest_pending_at.is_some());

    let claims = claim_stream(store, &sink, now(), 10_000).await;
    let mine: Vec<&StreamClaim> = claims.iter().filter(|c| c.tenant_id == tenant).collect();
    assert_eq!(mine.len(), 1, "the owed tenant is claimed");
    assert_eq!(mine[0].acked_seq, 0);
    assert!(claims.iter().all(|c| c.tenant_id != quiet), "a tenant without events is not");
    let claim = mine[0].clone();
    assert!(
        claim_stream(store, &sink, now(), 10_000).await.iter().all(|c| c.tenant_id != tenant),
        "nobody else gets a leased tenant"
    );
    let other_sink = format!("{sink}-other");
    assert!(
        claim_stream(store, &other_sink, now(), 10_000).await.iter().any(|c| c.tenant_id == tenant),
        "each sink has its own cursor"
    );

    assert!(advance(store, &sink, &claim, 2).await);
    assert!(advance(store, &sink, &claim, 1).await, "an older acknowledgement keeps the lease");
    assert_eq!(backlog(store, &sink).await.pending, owed.pending - 2, "the cursor never moves back");
    let stolen = StreamClaim { lease_token: "not-the-token".into(), ..claim.clone() };
    assert!(!advance(store, &sink, &stolen, 3).await, "another token cannot move it");

    // A lease that ran out is claimable again, from where the cursor stands; the old holder's
    // token no longer moves it.
    let later = now() + chrono::Duration::seconds(60);
    let again = claim_stream(store, &sink, later, 10_000).await;
    let retaken = again.iter().find(|c| c.tenant_id == tenant).expect("claimable after the lease").clone();
    assert_eq!(retaken.acked_seq, 2);
    assert!(!advance(store, &sink, &claim, 3).await);
    assert!(advance(store, &sink, &retaken, 3).await);
    assert_eq!(backlog(store, &sink).await.pending, before.pending, "nothing owed once acknowledged");
    let (s, t, token) = (sink.clone(), tenant.clone(), retaken.lease_token.clone());
    store.write(move |tx| async move { tx.release_stream_cursor(&s, &t, &token).await }.boxed()).await.unwrap();
    assert!(claim_stream(store, &sink, later, 10_000).await.iter().all(|c| c.tenant_id != tenant), "nothing owed");
    one_more_event(store, &tenant, "STREAM-MORE").await;
    let owed_again = claim_stream(store, &sink, now(), 10_000).await;
    assert_eq!(owed_again.iter().find(|c| c.tenant_id == tenant).map(|c| c.acked_seq), Some(3), "released, then owed");
}

/// One more event (an order's) for `tenant`.
async fn one_more_event(store: &Arc<dyn Store>, tenant: &TenantId, reference: &str) {
    insert_order(store, tenant, reference).await.unwrap();
}
