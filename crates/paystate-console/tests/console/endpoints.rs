//! Webhook endpoints managed in the console by an admin: created with the secret shown once,
//! rotated, disabled and enabled, tested; refused to other roles and other tenants with nothing
//! written, and a form sent twice acts once.

use crate::console_test;
use crate::helpers::{TestApp, once_in, secret_in};
use paystate_domain::Role;
use serde_json::Value;

async fn deliveries(app: &TestApp, endpoint: &str) -> Vec<Value> {
    let path = format!("/v1/webhook-endpoints/{endpoint}/deliveries");
    let body: Value = app.api(reqwest::Method::GET, &path, Value::Null).await.json().await.unwrap();
    body["data"].as_array().unwrap().clone()
}

async fn an_admin_manages_webhook_endpoints(app: TestApp) {
    let (email, password) = app.user(Role::Admin).await;
    let admin = app.login(&email, &password).await;
    let cookie = Some(admin.cookie.as_str());
    let html = app.page(cookie, "/dashboard/webhooks").await.text().await.unwrap();
    assert!(html.contains("Add an endpoint") && html.contains("action=\"/dashboard/webhooks/endpoints\""));
    let once = once_in(&html, "action=\"/dashboard/webhooks/endpoints\"").expect("the form's token");
    let fields = [
        ("csrf", admin.csrf.as_str()),
        ("once", once.as_str()),
        ("url", "http://127.0.0.1:9/orders-hook"),
        ("description", "order service"),
        ("scope", "some"),
        ("events", "payment.status_changed"),
        ("events", "payment.refunded"),
    ];
    let created = app.form(cookie, "/dashboard/webhooks/endpoints", &fields).await;
    assert_eq!(created.status(), 200);
    let html = created.text().await.unwrap();
    let secret = secret_in(&html).expect("the secret, shown once");
    assert!(html.contains("shown this once"));
    let listed = app.endpoints().await;
    assert_eq!(listed.len(), 1);
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    assert!(html.contains(&id));
    assert_eq!(listed[0]["events"], serde_json::json!(["payment.status_changed", "payment.refunded"]));
    assert_eq!(listed[0]["description"], "order service");
    let page = app.page(cookie, "/dashboard/webhooks").await.text().await.unwrap();
    assert!(page.contains("http://127.0.0.1:9/orders-hook") && secret_in(&page).is_none(), "never shown again");

    // The same form again (a double click): one endpoint, no second secret.
    let again = app.form(cookie, "/dashboard/webhooks/endpoints", &fields).await;
    assert_eq!(again.status(), 303);
    assert_eq!(again.headers()["location"], "/dashboard/webhooks?done=again");
    assert_eq!(app.endpoints().await.len(), 1);

    let base = format!("/dashboard/webhooks/endpoints/{id}");
    let once = once_in(&page, &format!("{base}/rotate")).unwrap();
    let rotate = [("csrf", admin.csrf.as_str()), ("once", once.as_str()), ("grace", "0")];
    let rotated = app.form(cookie, &format!("{base}/rotate"), &rotate).await;
    assert_eq!(rotated.status(), 200);
    let html = rotated.text().await.unwrap();
    let new_secret = secret_in(&html).unwrap();
    assert_ne!(new_secret, secret, "a new secret");
    assert!(html.contains("The old secret no longer signs."));
    assert_eq!(app.form(cookie, &format!("{base}/rotate"), &rotate).await.status(), 303, "rotated once");
    let bad_grace = [("csrf", admin.csrf.as_str()), ("grace", "5")];
    assert_eq!(app.form(cookie, &format!("{base}/rotate"), &bad_grace).await.status(), 422);

    let page = app.page(cookie, "/dashboard/webhooks").await.text().await.unwrap();
    let once = once_in(&page, &format!("{base}/test")).unwrap();
    let test = [("csrf", admin.csrf.as_str()), ("once", once.as_str())];
    for _ in 0..2 {
        let tested = app.form(cookie, &format!("{base}/test"), &test).await;
        assert_eq!(tested.status(), 303);
        assert_eq!(tested.headers()["location"], "/dashboard/webhooks?state=pending&done=tested");
    }
    let queued = deliveries(&app, &id).await;
    assert_eq!(queued.len(), 1, "one test for a form sent twice");
    assert_eq!(queued[0]["event_type"], "webhook.test");
    let pending = app.page(cookie, "/dashboard/webhooks?state=pending&done=tested").await.text().await.unwrap();
    assert!(pending.contains("webhook.test") && pending.contains("is queued"));

    let csrf = [("csrf", admin.csrf.as_str())];
    assert_eq!(app.form(cookie, &format!("{base}/disable"), &csrf).await.status(), 303);
    assert_eq!(app.endpoints().await[0]["enabled"], false);
    let page = app.page(cookie, "/dashboard/webhooks?done=disabled").await.text().await.unwrap();
    assert!(page.contains("is disabled") && page.contains(&format!("aria-label=\"Enable {id}\"")));
    assert!(!page.contains(&format!("{base}/test")), "no test for a disabled endpoint");
    assert_eq!(app.form(cookie, &format!("{base}/test"), &csrf).await.status(), 422, "disabled: no test");
    assert_eq!(app.form(cookie, &format!("{base}/enable"), &csrf).await.status(), 303);
    assert_eq!(app.endpoints().await[0]["enabled"], true);

    // Bad input is a 422 that says what; an unknown id a 404; no CSRF a 403.
    let form = |url: &'static str, scope: &'static str| {
        vec![("csrf", admin.csrf.clone()), ("url", url.to_owned()), ("scope", scope.to_owned())]
    };
    let bad_url = app.form(cookie, "/dashboard/webhooks/endpoints", &pairs(&form("ftp://shop.example/x", "all"))).await;
    assert_eq!(bad_url.status(), 422);
    assert!(bad_url.text().await.unwrap().contains("The URL"));
    let no_events =
        app.form(cookie, "/dashboard/webhooks/endpoints", &pairs(&form("http://127.0.0.1:9/b", "some"))).await;
    assert_eq!(no_events.status(), 422);
    assert_eq!(app.form(cookie, "/dashboard/webhooks/endpoints/we_nonsense/disable", &csrf).await.status(), 404);
    assert_eq!(app.form(cookie, &format!("{base}/disable"), &[]).await.status(), 403, "no CSRF");
    let all = app.form(cookie, "/dashboard/webhooks/endpoints", &pairs(&form("http://127.0.0.1:9/all", "all"))).await;
    assert_eq!(all.status(), 200);
    let endpoints = app.endpoints().await;
    assert_eq!(endpoints.len(), 2);
    assert!(endpoints.iter().any(|e| e["events"] == serde_json::json!(["*"])), "every event");
}
console_test!(an_admin_manages_webhook_endpoints);

fn pairs<'a>(fields: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    fields.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn only_admins_of_the_tenant_manage_endpoints(app: TestApp) {
    let id = app.endpoint().await;
    let base = format!("/dashboard/webhooks/endpoints/{id}");
    let before = app.endpoints().await;
    for role in [Role::Viewer, Role::Operator] {
        let (email, password) = app.user(role).await;
        let session = app.login(&email, &password).await;
        let cookie = Some(session.cookie.as_str());
        let page = app.page(cookie, "/dashboard/webhooks").await.text().await.unwrap();
        assert!(page.contains(&id), "{role:?} reads the endpoints");
        assert!(
            !page.contains("Add an endpoint") && !page.contains("/dashboard/webhooks/endpoints"),
            "{role:?}: no forms"
        );
        let csrf = session.csrf.as_str();
        let create = [("csrf", csrf), ("url", "http://127.0.0.1:9/forged"), ("scope", "all")];
        assert_eq!(app.form(cookie, "/dashboard/webhooks/endpoints", &create).await.status(), 403, "{role:?}");
        for action in ["rotate", "disable", "test"] {
            let fields = [("csrf", csrf), ("grace", "0")];
            assert_eq!(app.form(cookie, &format!("{base}/{action}"), &fields).await.status(), 403, "{role:?} {action}");
        }
    }
    let other = app.other_tenant_admin().await;
    let cookie = Some(other.cookie.as_str());
    for action in ["rotate", "disable", "enable", "test"] {
        let fields = [("csrf", other.csrf.as_str()), ("grace", "0")];
        assert_eq!(
            app.form(cookie, &format!("{base}/{action}"), &fields).await.status(),
            404,
            "another tenant: {action}"
        );
    }
    let page = app.page(cookie, "/dashboard/webhooks").await.text().await.unwrap();
    assert!(!page.contains(&id), "another tenant's endpoint is not listed");
    assert_eq!(app.endpoints().await, before, "nothing written");
    // The endpoint takes every event, the set-up's included (its own creation, the users made
    // above): what matters is that none of them is a test.
    let queued = deliveries(&app, &id).await;
    assert!(queued.iter().all(|d| d["event_type"] != "webhook.test"), "no test was queued: {queued:?}");
}
console_test!(only_admins_of_the_tenant_manage_endpoints);
