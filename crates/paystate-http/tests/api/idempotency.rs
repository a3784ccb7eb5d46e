//! `Idempotency-Key`: replay, mismatch and in-flight requests.

use crate::api_test;
use crate::helpers::{TestApp, assert_problem};
use futures::FutureExt;
use paystate_store::{IdempotencyKey, StoreExt};
use serde_json::{Value, json};

async fn a_replay_answers_the_first_response(app: TestApp) {
    let send = |body: Value, key: &'static str| {
        app.request(reqwest::Method::POST, "/v1/orders", &app.admin_key)
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let first = send(json!({"reference": "I-1", "currency": "EUR"}), "key-1").await.unwrap();
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();

    let replay = send(json!({"reference": "I-1", "currency": "EUR"}), "key-1").await.unwrap();
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let replayed: Value = replay.json().await.unwrap();
    assert_eq!(replayed, first);
    let orders: Value = app.get("/v1/orders").await.json().await.unwrap();
    assert_eq!(orders["data"].as_array().unwrap().len(), 1, "the replay created nothing");

    let mismatch = send(json!({"reference": "I-2", "currency": "EUR"}), "key-1").await.unwrap();
    assert_problem(mismatch, 422, "idempotency-key-reused").await;

    // A 4xx wrote nothing, so it is not kept: the same request runs (and is refused) again.
    let bad = send(json!({"reference": "I-3", "currency": "XXQ"}), "key-2").await.unwrap();
    assert_eq!(bad.status(), 400);
    let bad_again = send(json!({"reference": "I-3", "currency": "XXQ"}), "key-2").await.unwrap();
    assert_eq!(bad_again.status(), 400);
    assert!(bad_again.headers().get("idempotent-replayed").is_none());

    // Keys are per tenant.
    let (_, other_key) = app.other_tenant().await;
    let other = app
        .request(reqwest::Method::POST, "/v1/orders", &other_key)
        .header("idempotency-key", "key-1")
        .json(&json!({"reference": "I-1", "currency": "EUR"}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 201);
    assert!(other.headers().get("idempotent-replayed").is_none());

    let invalid = app
        .request(reqwest::Method::POST, "/v1/orders", &app.admin_key)
        .header("idempotency-key", "")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_problem(invalid, 400, "invalid-request").await;
}
api_test!(a_replay_answers_the_first_response);

async fn concurrent_requests_with_one_key_apply_once(app: TestApp) {
    // Identical requests racing with one key: one creates, every other waits for it and replays it.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let request = app
            .request(reqwest::Method::POST, "/v1/orders", &app.admin_key)
            .header("idempotency-key", "race")
            .json(&json!({"reference": "F-2", "currency": "EUR"}));
        tasks.push(tokio::spawn(async move {
            let response = request.send().await.unwrap();
            let replayed = response.headers().get("idempotent-replayed").is_some();
            (response.status().as_u16(), replayed, response.json::<Value>().await.unwrap()["id"].clone())
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    assert!(answers.iter().all(|(status, _, id)| *status == 201 && *id == answers[0].2), "{answers:?}");
    assert_eq!(answers.iter().filter(|(_, replayed, _)| !replayed).count(), 1, "{answers:?}");
    let orders: Value = app.get("/v1/orders?reference=F-2").await.json().await.unwrap();
    assert_eq!(orders["data"].as_array().unwrap().len(), 1);
}
api_test!(concurrent_requests_with_one_key_apply_once);

/// A paid payment of 10.00 EUR, by its id.
async fn paid_payment(app: &TestApp, reference: &str) -> String {
    let order = json!({"reference": reference, "currency": "EUR", "total_amount": 1000});
    assert_eq!(app.post("/v1/orders", order).await.status(), 201);
    let payment: Value =
        app.post("/v1/payments", json!({"order_id": reference, "amount": 1000})).await.json().await.unwrap();
    let id = payment["id"].as_str().unwrap().to_owned();
    assert_eq!(app.post(&format!("/v1/payments/{id}/status"), json!({"status": "paid"})).await.status(), 200);
    id
}

async fn a_retry_after_a_lost_answer_replays_and_never_refunds_twice(app: TestApp) {
    let id = paid_payment(&app, "L-1").await;
    let refund = || {
        app.request(reqwest::Method::POST, &format!("/v1/payments/{id}/refunds"), &app.admin_key)
            .header("idempotency-key", "refund-1")
            .json(&json!({"amount": 300, "reason": "one item back"}))
            .send()
    };
    // The refund commits, but the process "dies" before it answers.
    app.faults.lose_answers_after_commit(1);
    let lost = refund().await.unwrap();
    assert_problem(lost, 500, "internal").await;
    let retried = refund().await.unwrap();
    assert_eq!(retried.status(), 200);
    assert_eq!(retried.headers()["idempotent-replayed"], "true");
    assert_eq!(retried.headers()["paystate-outcome"], "applied", "a replay repeats the outcome header");
    let replayed: Value = retried.json().await.unwrap();
    assert_eq!(replayed["amount_refunded"], 300);
    let payment: Value = app.get(&format!("/v1/payments/{id}")).await.json().await.unwrap();
    assert_eq!(payment["amount_refunded"], 300, "refunded once");
    let events: Value = app.get(&format!("/v1/payments/{id}/events")).await.json().await.unwrap();
    let refunds = events["data"].as_array().unwrap().iter().filter(|e| e["type"] == "payment.refunded").count();
    assert_eq!(refunds, 1);

    // A create without an external id is just as safe: one payment, however often retried.
    let create = || {
        app.request(reqwest::Method::POST, "/v1/payments", &app.admin_key)
            .header("idempotency-key", "create-1")
            .json(&json!({"order_id": "L-1", "amount": 100}))
            .send()
    };
    app.faults.lose_answers_after_commit(1);
    assert_eq!(create().await.unwrap().status(), 500);
    let again = create().await.unwrap();
    assert_eq!((again.status().as_u16(), again.headers()["idempotent-replayed"].to_str().unwrap()), (201, "true"));
    let payments: Value = app.get("/v1/payments?order_id=L-1").await.json().await.unwrap();
    assert_eq!(payments["data"].as_array().unwrap().len(), 2);

    // A conflict is an answer like any other: recorded once, replayed as the same 409.
    let report = || {
        app.request(reqwest::Method::POST, &format!("/v1/payments/{id}/status"), &app.admin_key)
            .header("idempotency-key", "late-failure")
            .json(&json!({"status": "failed"}))
            .send()
    };
    app.faults.lose_answers_after_commit(1);
    assert_eq!(report().await.unwrap().status(), 500);
    let conflict = report().await.unwrap();
    assert_eq!(conflict.headers()["idempotent-replayed"], "true");
    assert_problem(conflict, 409, "status-conflict").await;
    let events: Value = app.get(&format!("/v1/payments/{id}/events")).await.json().await.unwrap();
    let conflicts = events["data"].as_array().unwrap().iter().filter(|e| e["type"] == "payment.conflict").count();
    assert_eq!(conflicts, 1);
}
api_test!(a_retry_after_a_lost_answer_replays_and_never_refunds_twice);

async fn a_request_refused_without_writing_leaves_its_key_free(app: TestApp) {
    let id = paid_payment(&app, "R-1").await;
    let refund = |amount: i64| {
        app.request(reqwest::Method::POST, &format!("/v1/payments/{id}/refunds"), &app.admin_key)
            .header("idempotency-key", "refund-x")
            .json(&json!({"amount": amount}))
            .send()
    };
    assert_problem(refund(5000).await.unwrap(), 422, "exceeds-available").await;
    // Nothing was written, so nothing is replayed: the corrected request runs.
    let corrected = refund(500).await.unwrap();
    assert_eq!(corrected.status(), 200);
    assert!(corrected.headers().get("idempotent-replayed").is_none());
    // From now on the key belongs to that request.
    assert_problem(refund(600).await.unwrap(), 422, "idempotency-key-reused").await;
}
api_test!(a_request_refused_without_writing_leaves_its_key_free);

async fn a_claim_left_unanswered_by_an_older_paystate_is_taken_over(app: TestApp) {
    // Older releases claimed a key in a transaction of its own; a crash left the claim alone.
    let key = IdempotencyKey { tenant_id: app.tenant_id.clone(), key: "old".into(), fingerprint: "whatever".into() };
    app.ledger
        .store()
        .write(move |tx| async move { tx.claim_idempotency(&key, paystate_store::now()).await }.boxed())
        .await
        .unwrap();
    let response = app
        .request(reqwest::Method::POST, "/v1/orders", &app.admin_key)
        .header("idempotency-key", "old")
        .json(&json!({"reference": "O-1", "currency": "EUR"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert!(response.headers().get("idempotent-replayed").is_none());
}
api_test!(a_claim_left_unanswered_by_an_older_paystate_is_taken_over);
