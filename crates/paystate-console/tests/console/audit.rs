//! Issue 18: every administrative action taken in the console (API keys, users, webhook
//! endpoints, dialect settings) goes through the ledger and is an event with the person as
//! actor and `dashboard` as source, never with a secret; a refused action records nothing.

use crate::console_test;
use crate::helpers::{TestApp, secret_in};
use paystate_domain::Role;
use serde_json::Value;

async fn events(app: &TestApp) -> Vec<Value> {
    let body: Value = app.api(reqwest::Method::GET, "/v1/events?limit=1000", Value::Null).await.json().await.unwrap();
    body["data"].as_array().unwrap().clone()
}

fn token_in(html: &str) -> String {
    let start = html.find("psk_").expect("the key, shown once");
    html[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || "_-".contains(*c)).collect()
}

async fn admin_actions_in_the_console_are_audited_with_the_person(app: TestApp) {
    let (email, password) = app.user(Role::Admin).await;
    let admin = app.login(&email, &password).await;
    let admin_id = app.ledger.user(&app.tenant_id, &email).await.unwrap().id.to_string();
    let (operator_email, operator_password) = app.user(Role::Operator).await;
    let operator = app.login(&operator_email, &operator_password).await;
    let cookie = Some(admin.cookie.as_str());
    let csrf = admin.csrf.as_str();
    let start = events(&app).await.len();

    let fields = [("scope", "read"), ("label", "console key"), ("csrf", csrf)];
    let created = app.form(cookie, "/dashboard/keys", &fields).await;
    assert_eq!(created.status(), 200);
    let token = token_in(&created.text().await.unwrap());
    let key = app.ledger.keys(&app.tenant_id).await.unwrap();
    let key = key.iter().find(|k| k.label.as_deref() == Some("console key")).unwrap().id.to_string();
    assert_eq!(app.form(cookie, &format!("/dashboard/keys/{key}/revoke"), &[("csrf", csrf)]).await.status(), 303);

    let fields = [("email", "new@shop.example"), ("role", "viewer"), ("csrf", csrf)];
    assert_eq!(app.form(cookie, "/dashboard/users", &fields).await.status(), 200);
    let new_user = app.ledger.user(&app.tenant_id, "new@shop.example").await.unwrap();
    let users_page = app.page(cookie, "/dashboard/users").await.text().await.unwrap();
    assert!(users_page.contains(&format!("/dashboard/users/{}/role", new_user.id)), "a role form per person");
    assert!(!users_page.contains(&format!("/dashboard/users/{admin_id}/role")), "never for oneself");
    let promoted = app
        .form(cookie, &format!("/dashboard/users/{}/role", new_user.id), &[("csrf", csrf), ("role", "operator")])
        .await;
    assert_eq!(promoted.status(), 303);
    assert_eq!(app.ledger.user(&app.tenant_id, "new@shop.example").await.unwrap().role, Role::Operator);
    let disabled = app.form(cookie, &format!("/dashboard/users/{}/disable", new_user.id), &[("csrf", csrf)]).await;
    assert_eq!(disabled.status(), 303);

    let fields = [("csrf", csrf), ("url", "http://127.0.0.1:9/console-audit"), ("scope", "all")];
    let created = app.form(cookie, "/dashboard/webhooks/endpoints", &fields).await;
    assert_eq!(created.status(), 200);
    let first_secret = secret_in(&created.text().await.unwrap()).unwrap();
    let endpoint = app.endpoints().await[0]["id"].as_str().unwrap().to_owned();
    let base = format!("/dashboard/webhooks/endpoints/{endpoint}");
    assert_eq!(app.form(cookie, &format!("{base}/disable"), &[("csrf", csrf)]).await.status(), 303);
    assert_eq!(app.form(cookie, &format!("{base}/enable"), &[("csrf", csrf)]).await.status(), 303);
    let rotated = app.form(cookie, &format!("{base}/rotate"), &[("csrf", csrf), ("grace", "0")]).await;
    assert_eq!(rotated.status(), 200);
    let second_secret = secret_in(&rotated.text().await.unwrap()).unwrap();
    let saved = app.form(cookie, "/dashboard/settings/teljoy", &[("csrf", csrf), ("verify_trust", "false")]).await;
    assert_eq!(saved.status(), 303);

    let all = events(&app).await;
    let recorded: Vec<(&str, &str, &str)> = all[start..]
        .iter()
        .map(|e| {
            assert!(e["order_id"].is_null() && e["payment_id"].is_null(), "no order: {e}");
            assert!(e["request_body"].as_str().unwrap().contains("\"action\"") || e["type"] == "tenant.updated");
            (e["type"].as_str().unwrap(), e["source"].as_str().unwrap(), e["actor"].as_str().unwrap())
        })
        .collect();
    let expected = [
        "api_key.created",
        "api_key.revoked",
        "user.created",
        "user.updated",
        "user.disabled",
        "webhook_endpoint.created",
        "webhook_endpoint.updated",
        "webhook_endpoint.updated",
        "webhook_endpoint.updated",
        "tenant.updated",
    ]
    .map(|kind| (kind, "dashboard", admin_id.as_str()));
    assert_eq!(recorded, expected);
    let by_type = |kind: &str| all[start..].iter().find(|e| e["type"] == kind).unwrap().clone();
    assert_eq!(by_type("api_key.created")["data"]["id"], key.as_str());
    assert_eq!(by_type("user.created")["data"]["email"], "new@shop.example");
    assert_eq!(by_type("user.disabled")["data"]["id"], new_user.id.as_str());
    let updated = by_type("user.updated");
    assert_eq!(
        (updated["detail"]["before"]["role"].as_str(), updated["detail"]["after"]["role"].as_str()),
        (Some("viewer"), Some("operator"))
    );
    assert_eq!(by_type("tenant.updated")["detail"]["after"]["settings"]["teljoy"]["verify_trust"], false);
    let changes: Vec<&Value> = all[start..]
        .iter()
        .filter(|e| e["type"] == "webhook_endpoint.updated")
        .map(|e| &e["detail"]["change"])
        .collect();
    assert_eq!(changes, ["disabled", "enabled", "rotated"].map(Value::from).iter().collect::<Vec<_>>());

    // No secret in the log: not the key, not a signing secret, not a password hash.
    let log = serde_json::to_string(&all).unwrap();
    for secret in [token.as_str(), first_secret.as_str(), second_secret.as_str(), new_user.password_hash.as_str()] {
        assert!(!log.contains(secret), "a secret reached the event log");
    }
    assert!(!log.contains("$argon2") && !log.contains("secret_hash") && !log.contains("password"));

    // The feed names what each set-up event is about.
    let feed = app.page(cookie, "/dashboard/events").await.text().await.unwrap();
    assert!(feed.contains("api_key.revoked") && feed.contains(&format!("key <span class=\"mono\">{key}</span>")));
    assert!(feed.contains("tenant.updated") && feed.contains("user.disabled"));

    // Refused: another role, no CSRF, a bad setting, disabling oneself. Nothing is recorded.
    let before = events(&app).await.len();
    let op = Some(operator.cookie.as_str());
    let ocsrf = operator.csrf.as_str();
    assert_eq!(app.form(op, "/dashboard/keys", &[("scope", "read"), ("csrf", ocsrf)]).await.status(), 403);
    assert_eq!(app.form(op, &format!("/dashboard/keys/{key}/revoke"), &[("csrf", ocsrf)]).await.status(), 403);
    assert_eq!(
        app.form(op, "/dashboard/users", &[("email", "x@shop.example"), ("role", "admin"), ("csrf", ocsrf)])
            .await
            .status(),
        403
    );
    assert_eq!(app.form(op, &format!("{base}/disable"), &[("csrf", ocsrf)]).await.status(), 403);
    assert_eq!(
        app.form(op, "/dashboard/settings/teljoy", &[("csrf", ocsrf), ("verify_trust", "true")]).await.status(),
        403
    );
    assert_eq!(app.form(cookie, "/dashboard/keys", &[("scope", "read")]).await.status(), 403, "no CSRF");
    let bad = app.form(cookie, "/dashboard/settings/teljoy", &[("csrf", csrf), ("verify_trust", "perhaps")]).await;
    assert_eq!(bad.status(), 422);
    let myself = app.form(cookie, &format!("/dashboard/users/{admin_id}/disable"), &[("csrf", csrf)]).await;
    assert_eq!(myself.status(), 422);
    let role_of = |id: &str| format!("/dashboard/users/{id}/role");
    assert_eq!(app.form(cookie, &role_of(&admin_id), &[("csrf", csrf), ("role", "viewer")]).await.status(), 422);
    let operator_id = app.ledger.user(&app.tenant_id, &operator_email).await.unwrap().id.to_string();
    assert_eq!(app.form(op, &role_of(&admin_id), &[("csrf", ocsrf), ("role", "viewer")]).await.status(), 403);
    assert_eq!(app.form(cookie, &role_of(&operator_id), &[("role", "admin")]).await.status(), 403, "no CSRF");
    assert_eq!(app.form(cookie, &role_of(&operator_id), &[("csrf", csrf), ("role", "owner")]).await.status(), 422);
    assert_eq!(events(&app).await.len(), before, "a refused action records nothing");
}
console_test!(admin_actions_in_the_console_are_audited_with_the_person);
