//! The operator console's story: users and their sessions, and the overview's counts and
//! searches.

use super::{insert_order, insert_payment, new_tenant};
use crate::*;
use futures::FutureExt;
use paystate_domain::{EventType, PaymentStatus, Source};
use std::sync::Arc;

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

pub async fn console_users_and_sessions(store: &Arc<dyn Store>) {
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

pub async fn console_overview_counts(store: &Arc<dyn Store>) {
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
