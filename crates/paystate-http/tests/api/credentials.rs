//! Credentials: missing, unknown, wrong, revoked, expired, under-scoped and dialect-limited keys.

use crate::api_test;
use crate::helpers::{TestApp, assert_problem};
use paystate_domain::Source;
use paystate_store::Scope;
use reqwest::Method;
use serde_json::json;

async fn unknown_and_wrong_keys_get_the_same_401(app: TestApp) {
    let missing = app.client.get(app.url("/v1/orders")).send().await.unwrap();
    let missing = assert_problem(missing, 401, "unauthorized").await;

    let unknown = app
        .request(
            Method::GET,
            "/v1/orders",
            "psk_0192f3c4000000000000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )
        .send()
        .await
        .unwrap();
    let unknown = assert_problem(unknown, 401, "unauthorized").await;
    let mut wrong_secret = app.admin_key.clone();
    let last = wrong_secret.pop().unwrap();
    wrong_secret.push(if last == 'A' { 'B' } else { 'A' });
    let wrong = app.request(Method::GET, "/v1/orders", &wrong_secret).send().await.unwrap();
    let wrong = assert_problem(wrong, 401, "unauthorized").await;
    let garbage = app.request(Method::GET, "/v1/orders", "not-a-key").send().await.unwrap();
    let garbage = assert_problem(garbage, 401, "unauthorized").await;
    assert_eq!(unknown, wrong);
    assert_eq!(missing, wrong);
    assert_eq!(garbage, wrong);
    let basic = app.client.get(app.url("/v1/orders")).basic_auth("x", Some(&app.admin_key)).send().await.unwrap();
    assert_problem(basic, 401, "unauthorized").await;

    // Revoked and expired keys are refused the same way.
    let key = app
        .ledger
        .create_key(&paystate_domain::Actor::cli(app.tenant_id.clone(), "test"), Scope::Admin, None, None, None, None)
        .await
        .unwrap();
    assert_eq!(app.request(Method::GET, "/v1/orders", &key.token).send().await.unwrap().status(), 200);
    app.ledger.revoke_key(&paystate_domain::Actor::cli(app.tenant_id.clone(), "test"), &key.id, None).await.unwrap();
    let revoked = app.request(Method::GET, "/v1/orders", &key.token).send().await.unwrap();
    assert_eq!(assert_problem(revoked, 401, "unauthorized").await, wrong);
    let soon = paystate_store::now() + chrono::Duration::milliseconds(300);
    let expiring = app
        .ledger
        .create_key(
            &paystate_domain::Actor::cli(app.tenant_id.clone(), "test"),
            Scope::Admin,
            None,
            Some(soon),
            None,
            None,
        )
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let expired = app.request(Method::GET, "/v1/orders", &expiring.token).send().await.unwrap();
    assert_problem(expired, 401, "unauthorized").await;
}
api_test!(unknown_and_wrong_keys_get_the_same_401);

async fn scopes_and_dialect_limits_are_enforced(app: TestApp) {
    let read = app.key(Scope::Read, None).await;
    assert_eq!(app.request(Method::GET, "/v1/orders", &read).send().await.unwrap().status(), 200);
    let write_attempt = app
        .request(Method::POST, "/v1/orders", &read)
        .json(&json!({"reference": "x", "currency": "EUR"}))
        .send()
        .await
        .unwrap();
    assert_problem(write_attempt, 403, "forbidden").await;

    let write = app.key(Scope::Write, None).await;
    let created = app
        .request(Method::POST, "/v1/orders", &write)
        .json(&json!({"reference": "x", "currency": "EUR"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let keys = app.request(Method::GET, "/v1/api-keys", &write).send().await.unwrap();
    assert_problem(keys, 403, "forbidden").await;

    for dialect in [Source::Omnicasa, Source::Norce, Source::Gormic, Source::Teljoy] {
        let limited = app.key(Scope::Admin, Some(dialect)).await;
        let refused = app.request(Method::GET, "/v1/orders", &limited).send().await.unwrap();
        assert_problem(refused, 403, "forbidden").await;
    }
    let native_only = app.key(Scope::Read, Some(Source::Native)).await;
    assert_eq!(app.request(Method::GET, "/v1/orders", &native_only).send().await.unwrap().status(), 200);
}
api_test!(scopes_and_dialect_limits_are_enforced);

async fn a_repeated_credential_is_refused_on_every_surface(app: TestApp) {
    let (_, other_key) = app.other_tenant().await;
    // Two bearer keys, even of two tenants, are ambiguous: neither is taken.
    let twice = app
        .client
        .get(app.url("/v1/orders"))
        .header("authorization", format!("Bearer {}", app.admin_key))
        .header("authorization", format!("Bearer {other_key}"))
        .send()
        .await
        .unwrap();
    assert_problem(twice, 401, "unauthorized").await;
    let same_twice = app
        .client
        .get(app.url("/v1/orders"))
        .header("authorization", format!("Bearer {}", app.admin_key))
        .header("authorization", format!("Bearer {}", app.admin_key))
        .send()
        .await
        .unwrap();
    assert_problem(same_twice, 401, "unauthorized").await;
    // Gormic's api-key header, twice.
    let gormic = app
        .client
        .post(app.url("/v1/om/payments"))
        .header("api-key", &app.admin_key)
        .header("api-key", &other_key)
        .header("organization-id", app.tenant_id.as_str())
        .json(&json!({"params": {"orderId": "G-1", "type": "receipt"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(gormic.status(), 401);
    let body: serde_json::Value = gormic.json().await.unwrap();
    assert_eq!(body["error"]["code"], "UNAUTHORIZED");
}
api_test!(a_repeated_credential_is_refused_on_every_surface);
