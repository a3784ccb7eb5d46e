//! The status machine through the API: advance, repeat, stale, conflict and resolution.

use crate::api_test;
use crate::helpers::{TestApp, assert_problem};
use serde_json::{Value, json};

async fn report(app: &TestApp, id: &str, status: &str) -> reqwest::Response {
    app.post(&format!("/v1/payments/{id}/status"), json!({"status": status})).await
}

async fn stale_repeat_and_conflict_are_answered_and_recorded(app: TestApp) {
    let payment = app.paid_payment("S-1", 1000).await;
    let id = payment["id"].as_str().unwrap();

    let repeat = report(&app, id, "paid").await;
    assert_eq!(repeat.status(), 200);
    assert_eq!(repeat.headers()["paystate-outcome"], "unchanged");
    let stale = report(&app, id, "pending").await;
    assert_eq!(stale.status(), 200);
    assert_eq!(stale.headers()["paystate-outcome"], "stale");
    let stale: Value = stale.json().await.unwrap();
    assert_eq!(stale["status"], "paid");
    assert_eq!(stale["version"], 2, "a stale report changes nothing");

    let conflict = report(&app, id, "failed").await;
    let problem = assert_problem(conflict, 409, "status-conflict").await;
    assert_eq!(problem["current_status"], "paid");
    assert_eq!(problem["reported_status"], "failed");
    let flagged: Value = app.get(&format!("/v1/payments/{id}")).await.json().await.unwrap();
    assert_eq!(flagged["status"], "paid");
    assert_eq!(flagged["needs_review"], true);
    let review: Value = app.get("/v1/payments?needs_review=true").await.json().await.unwrap();
    assert_eq!(review["data"].as_array().unwrap().len(), 1);

    let kinds: Vec<String> = app.events(0).await.iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(
        kinds,
        ["order.created", "payment.created", "payment.status_changed", "payment.stale_update", "payment.conflict"]
    );

    // Only an admin settles a conflict, and only with a reason.
    let writer = app.key(paystate_store::Scope::Write, None).await;
    let refused = app
        .request(reqwest::Method::POST, &format!("/v1/payments/{id}/resolve"), &writer)
        .json(&json!({"reason": "checked"}))
        .send()
        .await
        .unwrap();
    assert_problem(refused, 403, "forbidden").await;
    let no_reason = app.post(&format!("/v1/payments/{id}/resolve"), json!({"reason": " "})).await;
    assert_problem(no_reason, 400, "invalid-request").await;
    let resolved = app
        .post(&format!("/v1/payments/{id}/resolve"), json!({"reason": "PSP confirmed the capture", "status": "paid"}))
        .await;
    assert_eq!(resolved.status(), 200);
    let resolved: Value = resolved.json().await.unwrap();
    assert_eq!(resolved["needs_review"], false);
    let last = app.events(0).await.pop().unwrap();
    assert_eq!(last["type"], "payment.resolved");
    assert_eq!(last["detail"]["reason"], "PSP confirmed the capture");
}
api_test!(stale_repeat_and_conflict_are_answered_and_recorded);

async fn every_status_is_reachable_and_settled_ones_stay(app: TestApp) {
    let order = app.order("S-2", 100).await;
    let order_id = order["id"].as_str().unwrap();
    for terminal in ["paid", "failed", "expired", "canceled"] {
        let payment = app.payment(order_id, 100, None).await;
        let id = payment["id"].as_str().unwrap();
        for step in ["pending", "authorized", terminal] {
            let response = report(&app, id, step).await;
            assert_eq!(response.status(), 200, "{step}");
            assert_eq!(response.headers()["paystate-outcome"], "applied");
        }
        for other in ["paid", "failed", "expired", "canceled"].into_iter().filter(|s| *s != terminal) {
            assert_eq!(report(&app, id, other).await.status(), 409, "{other} after {terminal}");
        }
    }
    let payment = app.paid_payment("S-3", 10).await;
    let id = payment["id"].as_str().unwrap();
    let reversed: Value = report(&app, id, "reversed").await.json().await.unwrap();
    assert_eq!(reversed["status"], "reversed");
    assert!(reversed["reversed_at"].is_string());
    assert_eq!(report(&app, id, "paid").await.headers()["paystate-outcome"], "stale");

    let unknown = report(&app, id, "refunded").await;
    assert_problem(unknown, 400, "invalid-request").await;
}
api_test!(every_status_is_reachable_and_settled_ones_stay);
