//! The events page (newest first, filtered, paged, one tenant's only) and the forms that must
//! act once when sent twice: resolving a conflict, creating and revoking a key, adding a user.

use crate::console_test;
use crate::helpers::{TestApp, csrf_in, once_in};
use paystate_domain::Role;

/// The event numbers of a feed page's rows, in the order shown.
fn rows(html: &str) -> Vec<i64> {
    html.split("data-label=\"Event\">").skip(1).map(|rest| rest[..rest.find('<').unwrap()].parse().unwrap()).collect()
}

async fn the_event_feed_is_newest_first_filtered_and_paged(app: TestApp) {
    let conflicted = app.conflicted_payment("FEED-1", "psp-feed").await;
    let id = conflicted["id"].as_str().unwrap().to_owned();
    for n in 0..20 {
        app.paid_payment(&format!("FEED-P{n}"), &format!("psp-feed-{n}"), 100 + n).await;
    }
    let (email, password) = app.user(Role::Viewer).await;
    let session = app.login(&email, &password).await;
    let cookie = Some(session.cookie.as_str());

    let first = app.page(cookie, "/dashboard/events").await;
    assert_eq!(first.status(), 200);
    let first = first.text().await.unwrap();
    let (local, domain) = email.split_once('@').unwrap();
    let header = format!("<span class=\"local\">{local}</span><span class=\"domain\">@{domain}</span>");
    assert!(first.contains(&header), "the header names the person by their address");
    let seqs = rows(&first);
    assert_eq!(seqs.len(), 50, "a page of 50");
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first: {seqs:?}");
    let total = seqs[0];
    assert!(total >= 65, "3 events per paid payment, 5 for the conflicted one: {total}");
    let next = format!("/dashboard/events?before={}", seqs[49]);
    assert!(first.contains(&format!("href=\"{next}\"")), "a cursor to older events");
    let second = rows(&app.page(cookie, &next).await.text().await.unwrap());
    assert_eq!(second.first(), Some(&(seqs[49] - 1)), "no gap and no overlap");
    assert_eq!(*second.last().unwrap(), 1);
    assert_eq!(seqs.len() + second.len(), total as usize, "every event once");

    let conflicts = app.page(cookie, "/dashboard/events?type=payment.conflict").await.text().await.unwrap();
    assert_eq!(rows(&conflicts).len(), 1);
    assert!(conflicts.contains(&format!("href=\"/dashboard/payments/{id}#event-")), "linked to its payment");
    let native =
        app.page(cookie, "/dashboard/events?type=payment.stale_update&source=native").await.text().await.unwrap();
    assert_eq!(rows(&native).len(), 1);
    let teljoy = app.page(cookie, "/dashboard/events?source=teljoy").await.text().await.unwrap();
    assert!(rows(&teljoy).is_empty() && teljoy.contains("No event matches."));
    for bad in ["type=payment.lost", "source=fax", "before=-3", "before=x"] {
        assert_eq!(app.page(cookie, &format!("/dashboard/events?{bad}")).await.status(), 422, "{bad}");
    }
    let old = app.page(cookie, "/dashboard/events?before=2").await.text().await.unwrap();
    assert_eq!(rows(&old), vec![1]);

    let other = app.other_tenant_admin().await;
    let theirs = app.page(Some(&other.cookie), "/dashboard/events").await.text().await.unwrap();
    // Its own feed holds only its own set-up: the creation of the admin who reads it.
    assert_eq!(rows(&theirs), vec![1], "another tenant's feed is its own");
    assert!(theirs.contains("user.created") && !theirs.contains(&id));
}
console_test!(the_event_feed_is_newest_first_filtered_and_paged);

async fn forms_sent_twice_act_once(app: TestApp) {
    let payment = app.conflicted_payment("ONCE-1", "psp-once").await;
    let id = payment["id"].as_str().unwrap().to_owned();
    let (email, password) = app.user(Role::Admin).await;
    let session = app.login(&email, &password).await;
    let cookie = Some(session.cookie.as_str());
    let csrf = session.csrf.as_str();

    let html = app.page(cookie, &format!("/dashboard/payments/{id}")).await.text().await.unwrap();
    let resolve = format!("/dashboard/payments/{id}/resolve");
    let once = once_in(&html, &resolve).expect("the resolve form carries a token");
    let fields = [("reason", "PSP shows it paid"), ("status", ""), ("once", once.as_str()), ("csrf", csrf)];
    for _ in 0..2 {
        let answer = app.form(cookie, &resolve, &fields).await;
        assert_eq!(answer.status(), 303);
        assert_eq!(answer.headers()["location"], format!("/dashboard/payments/{id}?done=resolved"));
    }
    let resolutions = app.events(&id).await.iter().filter(|e| e["type"] == "payment.resolved").count();
    assert_eq!(resolutions, 1, "resolved once");

    let keys = app.page(cookie, "/dashboard/keys").await.text().await.unwrap();
    let once = once_in(&keys, "action=\"/dashboard/keys\"").expect("the key form carries a token");
    let count = |app: &TestApp| {
        let (ledger, tenant) = (app.ledger.clone(), app.tenant_id.clone());
        async move { ledger.keys(&tenant).await.unwrap().len() }
    };
    let before = count(&app).await;
    let create = [("scope", "read"), ("dialect", ""), ("label", "twice"), ("once", once.as_str()), ("csrf", csrf)];
    let first = app.form(cookie, "/dashboard/keys", &create).await;
    assert_eq!(first.status(), 200);
    assert!(first.text().await.unwrap().contains("psk_"));
    let second = app.form(cookie, "/dashboard/keys", &create).await;
    assert_eq!(second.status(), 303);
    assert_eq!(second.headers()["location"], "/dashboard/keys?done=again");
    assert_eq!(count(&app).await, before + 1, "one key");
    let notice = app.page(cookie, "/dashboard/keys?done=again").await.text().await.unwrap();
    assert!(notice.contains("sent twice") && !notice.contains("psk_"));

    let key = app.ledger.keys(&app.tenant_id).await.unwrap().into_iter().find(|k| k.label.as_deref() == Some("twice"));
    let key = key.unwrap().id.to_string();
    let keys = app.page(cookie, "/dashboard/keys").await.text().await.unwrap();
    let revoke = format!("/dashboard/keys/{key}/revoke");
    let once = once_in(&keys, &revoke).expect("the revoke form carries a token");
    for _ in 0..2 {
        let answer = app.form(cookie, &revoke, &[("once", once.as_str()), ("csrf", csrf)]).await;
        assert_eq!(answer.status(), 303);
    }
    let revoked = app.ledger.keys(&app.tenant_id).await.unwrap().into_iter().find(|k| k.id.to_string() == key);
    assert!(revoked.unwrap().revoked_at.is_some());

    let users = app.page(cookie, "/dashboard/users").await.text().await.unwrap();
    let once = once_in(&users, "action=\"/dashboard/users\"").expect("the user form carries a token");
    let add = [("email", "twice@shop.example"), ("role", "viewer"), ("once", once.as_str()), ("csrf", csrf)];
    let first = app.form(cookie, "/dashboard/users", &add).await;
    assert_eq!(first.status(), 200);
    assert!(first.text().await.unwrap().contains("Their password, shown this once"));
    let second = app.form(cookie, "/dashboard/users", &add).await;
    assert_eq!(second.status(), 303, "not a 409 that hides the first answer");
    assert_eq!(second.headers()["location"], "/dashboard/users?done=again");
    let added = app.ledger.users(&app.tenant_id).await.unwrap();
    assert_eq!(added.iter().filter(|u| u.email == "twice@shop.example").count(), 1);
    assert!(csrf_in(&users).is_some());
}
console_test!(forms_sent_twice_act_once);
