//! Issue 18: changes to the tenant's own set-up (API keys, console users, webhook endpoints,
//! name and settings) are events in the tenant's log, whichever surface made them (native API,
//! CLI), committed with the change, with the key or the CLI as actor, never with a secret; a
//! refused change records nothing.

use crate::api_test;
use crate::helpers::TestApp;
use paystate_domain::{Actor, Role};
use paystate_store::Scope;
use reqwest::Method;
use serde_json::{Value, json};

async fn events(app: &TestApp) -> Vec<Value> {
    let body: Value = app.get("/v1/events?limit=1000").await.json().await.unwrap();
    body["data"].as_array().unwrap().clone()
}

/// The events after `seq`, as (type, source, actor), each checked to belong to no order.
fn audit(events: &[Value], after: usize) -> Vec<(String, String, String)> {
    events[after..]
        .iter()
        .map(|e| {
            assert!(e["order_id"].is_null() && e["payment_id"].is_null(), "a set-up event has no order: {e}");
            let text = |field: &str| e[field].as_str().unwrap().to_owned();
            (text("type"), text("source"), text("actor"))
        })
        .collect()
}

fn of<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

async fn admin_actions_through_the_native_api_are_audited_with_the_key(app: TestApp) {
    let keys: Value = app.get("/v1/api-keys").await.json().await.unwrap();
    let admin = keys["data"][0]["key_id"].as_str().unwrap().to_owned();
    let start = events(&app).await.len();

    let created = app.post("/v1/api-keys", json!({"scope": "read", "label": "reporting"})).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let (key_id, token) = (created["key_id"].as_str().unwrap(), created["api_key"].as_str().unwrap());
    let renamed =
        app.patch("/v1/tenant", json!({"name": "Renamed shop", "settings": {"teljoy": {"verify_trust": false}}}));
    assert_eq!(renamed.await.status(), 200);
    let hook =
        app.post("/v1/webhook-endpoints", json!({"url": "http://127.0.0.1:9/audit", "events": ["payment.created"]}));
    let hook: Value = hook.await.json().await.unwrap();
    let (endpoint, first_secret) = (hook["id"].as_str().unwrap(), hook["secret"].as_str().unwrap().to_owned());
    let path = format!("/v1/webhook-endpoints/{endpoint}");
    assert_eq!(app.patch(&path, json!({"enabled": false})).await.status(), 200);
    assert_eq!(app.patch(&path, json!({"enabled": true})).await.status(), 200);
    let rotated = app.post(&format!("{path}/rotate-secret"), json!({"grace_period_seconds": 0})).await;
    assert_eq!(rotated.status(), 200);
    let second_secret = rotated.json::<Value>().await.unwrap()["secret"].as_str().unwrap().to_owned();
    let revoked = app.request(Method::DELETE, &format!("/v1/api-keys/{key_id}"), &app.admin_key).send().await;
    assert_eq!(revoked.unwrap().status(), 204);
    let deleted = app.request(Method::DELETE, &path, &app.admin_key).send().await.unwrap();
    assert_eq!(deleted.status(), 204);

    let all = events(&app).await;
    let native = |kind: &str| (kind.to_owned(), "native".to_owned(), admin.clone());
    assert_eq!(
        audit(&all, start),
        [
            "api_key.created",
            "tenant.updated",
            "webhook_endpoint.created",
            "webhook_endpoint.updated",
            "webhook_endpoint.updated",
            "webhook_endpoint.updated",
            "api_key.revoked",
            "webhook_endpoint.deleted"
        ]
        .map(native)
    );
    let key = of(&all, "api_key.created")[0];
    assert_eq!(key["data"]["id"], key_id);
    assert_eq!((&key["data"]["scope"], &key["data"]["label"]), (&json!("read"), &json!("reporting")));
    assert!(of(&all, "api_key.revoked")[0]["data"]["revoked_at"].is_string());
    let tenant = of(&all, "tenant.updated")[0];
    assert_eq!(tenant["detail"]["before"]["name"], "Test shop");
    assert_eq!(tenant["detail"]["after"]["name"], "Renamed shop");
    assert_eq!(tenant["detail"]["after"]["settings"]["teljoy"]["verify_trust"], false);
    assert!(tenant["detail"]["before"]["settings"]["teljoy"].is_null());
    let changes: Vec<&Value> = of(&all, "webhook_endpoint.updated").iter().map(|e| &e["detail"]["change"]).collect();
    assert_eq!(changes, [&json!("disabled"), &json!("enabled"), &json!("rotated")]);
    assert_eq!(of(&all, "webhook_endpoint.created")[0]["data"]["url"], "http://127.0.0.1:9/audit");

    // No secret in the log: not the key's token, its secret part, nor either signing secret.
    let log = serde_json::to_string(&all).unwrap();
    // A token is `psk_<32 hex of the key id>_<secret>`; the secret's base64url may hold `_` itself.
    let key_secret = token.splitn(3, '_').nth(2).unwrap();
    for secret in [token, key_secret, first_secret.as_str(), second_secret.as_str()] {
        assert!(!log.contains(secret), "a secret reached the event log");
    }
    assert!(!log.contains("secret_hash") && !log.contains("\"secret\""));

    // Refused: a key without the admin scope, an invalid setting, an unknown key: no event.
    let before = events(&app).await.len();
    let reader = app.key(Scope::Read, None).await;
    let after_setup = events(&app).await.len();
    assert_eq!(after_setup, before + 1, "the helper's own key is an event too");
    let refused = app.request(Method::POST, "/v1/api-keys", &reader).json(&json!({"scope": "admin"})).send().await;
    assert_eq!(refused.unwrap().status(), 403);
    let refused = app.request(Method::PATCH, "/v1/tenant", &reader).json(&json!({"name": "x"})).send().await;
    assert_eq!(refused.unwrap().status(), 403);
    let refused = app.patch("/v1/tenant", json!({"settings": {"teljoy": {"verify_trust": "maybe"}}})).await;
    assert!(refused.status().is_client_error());
    let unknown = app.request(Method::DELETE, "/v1/api-keys/key_00000000000000000000000000", &app.admin_key).send();
    assert_eq!(unknown.await.unwrap().status(), 404);
    let unknown = app.patch("/v1/webhook-endpoints/we_00000000000000000000000000", json!({"enabled": false})).await;
    assert_eq!(unknown.status(), 404);
    // A change that changes nothing is no event either: revoking twice, the same name again.
    let again = app.request(Method::DELETE, &format!("/v1/api-keys/{key_id}"), &app.admin_key).send().await;
    assert_eq!(again.unwrap().status(), 204);
    assert_eq!(app.patch("/v1/tenant", json!({"name": "Renamed shop"})).await.status(), 200);
    assert_eq!(events(&app).await.len(), after_setup, "nothing recorded for refused or empty changes");
}
api_test!(admin_actions_through_the_native_api_are_audited_with_the_key);

async fn admin_actions_through_the_cli_are_audited_as_the_cli(app: TestApp) {
    let start = events(&app).await.len();
    let cli = |command: &str| Actor::cli(app.tenant_id.clone(), command);
    let created = app.ledger.create_user(&cli("user create"), "Ana@Shop.example", Role::Operator, None, None).await;
    let created = created.unwrap();
    let password = created.password.clone().unwrap();
    app.ledger.set_role(&cli("user role"), "ana@shop.example", Role::Admin).await.unwrap();
    app.ledger.set_role(&cli("user role"), "ana@shop.example", Role::Admin).await.unwrap();
    app.ledger.disable_user(&cli("user disable"), "ana@shop.example").await.unwrap();
    app.ledger.disable_user(&cli("user disable"), "ana@shop.example").await.unwrap();
    let webhooks = paystate_webhooks::Webhooks::new(app.ledger.store().clone(), app.sealing_key.clone(), true);
    let new = paystate_webhooks::NewEndpoint {
        url: "http://127.0.0.1:9/cli".into(),
        events: vec!["*".into()],
        description: None,
        enabled: true,
    };
    let issued = webhooks.create(&cli("webhook create"), new, None).await.unwrap();
    let rotated =
        webhooks.rotate(&cli("webhook rotate"), &issued.endpoint.id, chrono::TimeDelta::hours(1), None).await.unwrap();
    // A user of another tenant, or an endpoint of another, is not found: nothing is recorded.
    let (other, _) = app.other_tenant().await;
    assert!(app.ledger.disable_user(&Actor::cli(other.clone(), "user disable"), "ana@shop.example").await.is_err());
    assert!(
        webhooks
            .rotate(&Actor::cli(other, "webhook rotate"), &issued.endpoint.id, chrono::TimeDelta::zero(), None)
            .await
            .is_err()
    );

    let all = events(&app).await;
    let cli_event = |kind: &str| (kind.to_owned(), "cli".to_owned(), "cli".to_owned());
    assert_eq!(
        audit(&all, start),
        ["user.created", "user.updated", "user.disabled", "webhook_endpoint.created", "webhook_endpoint.updated"]
            .map(cli_event)
    );
    let user = of(&all, "user.created")[0];
    assert_eq!(user["data"]["id"], created.user.id.as_str());
    assert_eq!((&user["data"]["email"], &user["data"]["role"]), (&json!("ana@shop.example"), &json!("operator")));
    assert!(user["request_id"].as_str().unwrap().starts_with("cli:user create:"));
    let role = of(&all, "user.updated")[0];
    assert_eq!(
        (&role["detail"]["before"]["role"], &role["detail"]["after"]["role"]),
        (&json!("operator"), &json!("admin"))
    );
    assert!(of(&all, "user.disabled")[0]["data"]["disabled_at"].is_string());
    assert_eq!(of(&all, "webhook_endpoint.updated")[0]["detail"]["grace_period_seconds"], 3600);

    let log = serde_json::to_string(&all).unwrap();
    assert!(!log.contains(&password) && !log.contains(&created.user.password_hash) && !log.contains("$argon2"));
    assert!(!log.contains("password"), "no password field, hashed or not");
    for secret in [issued.secret.reveal(), rotated.secret.reveal()] {
        assert!(!log.contains(&secret), "a signing secret reached the event log");
    }
}
api_test!(admin_actions_through_the_cli_are_audited_as_the_cli);
