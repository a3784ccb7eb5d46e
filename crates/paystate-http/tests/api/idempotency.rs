//! `Idempotency-Key`: replay, mismatch and in-flight requests.

use crate::api_test;
use crate::helpers::{TestApp, assert_problem};
use futures::FutureExt;
use paystate_store::{IdempotencyClaim, StoreExt};
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

    // A 4xx is stored and replayed too.
    let bad = send(json!({"reference": "I-3", "currency": "XXQ"}), "key-2").await.unwrap();
    assert_eq!(bad.status(), 400);
    let bad_again = send(json!({"reference": "I-3", "currency": "XXQ"}), "key-2").await.unwrap();
    assert_eq!(bad_again.status(), 400);
    assert_eq!(bad_again.headers()["idempotent-replayed"], "true");

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

async fn a_request_in_flight_with_the_same_key_is_refused(app: TestApp) {
    let body = json!({"reference": "F-1", "currency": "EUR"});
    // Claim the key as a request that is running right now would.
    let fingerprint = {
        use sha2::Digest;
        let mut digest = sha2::Sha256::new();
        digest.update(b"POST /v1/orders\n");
        digest.update(serde_json::to_vec(&body).unwrap());
        hex::encode(digest.finalize())
    };
    let claim = IdempotencyClaim {
        tenant_id: app.tenant_id.clone(),
        key: "busy".into(),
        fingerprint,
        now: paystate_store::now(),
        stale_before: paystate_store::now() - chrono::Duration::minutes(1),
    };
    app.ledger.store().write(move |tx| async move { tx.claim_idempotency(&claim).await }.boxed()).await.unwrap();
    let concurrent = app
        .request(reqwest::Method::POST, "/v1/orders", &app.admin_key)
        .header("idempotency-key", "busy")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(concurrent, 409, "idempotency-key-in-use").await;

    // Truly concurrent identical requests: one creates, the others replay or are told to wait.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let request = app
            .request(reqwest::Method::POST, "/v1/orders", &app.admin_key)
            .header("idempotency-key", "race")
            .json(&json!({"reference": "F-2", "currency": "EUR"}));
        tasks.push(tokio::spawn(async move { request.send().await.unwrap().status().as_u16() }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "{statuses:?}");
    assert!(statuses.contains(&201));
    let orders: Value = app.get("/v1/orders?reference=F-2").await.json().await.unwrap();
    assert_eq!(orders["data"].as_array().unwrap().len(), 1);
}
api_test!(a_request_in_flight_with_the_same_key_is_refused);
