//! Concurrent updates of one payment: no lost or regressed update, no 5xx from a busy database.

use crate::api_test;
use crate::helpers::TestApp;
use serde_json::{Value, json};

async fn shuffled_concurrent_reports_never_regress_a_payment(app: TestApp) {
    let order = app.order("C-1", 1000).await;
    let payment = app.payment(order["id"].as_str().unwrap(), 1000, None).await;
    let id = payment["id"].as_str().unwrap().to_owned();
    let chain = ["open", "pending", "authorized", "paid", "reversed"];
    let mut tasks = Vec::new();
    for task in 0..32u64 {
        let (client, url, key) =
            (app.client.clone(), app.url(&format!("/v1/payments/{id}/status")), app.admin_key.clone());
        tasks.push(tokio::spawn(async move {
            let mut seen_5xx = 0;
            // A deterministic shuffle per task: every task reports the chain in its own order.
            for i in 0..200u64 {
                let status = chain[((i * 7 + task * 13 + (i * task) % 5) % 5) as usize];
                let response =
                    client.post(&url).bearer_auth(&key).json(&json!({"status": status})).send().await.unwrap();
                if response.status().is_server_error() {
                    seen_5xx += 1;
                }
                assert!(response.status() == 200, "{status}: {}", response.status());
            }
            seen_5xx
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 0);
    }
    let final_state: Value = app.get(&format!("/v1/payments/{id}")).await.json().await.unwrap();
    assert_eq!(final_state["status"], "reversed");
    assert_eq!(final_state["needs_review"], false);

    // Each applied change is one event, in lattice order, and the version counts them exactly.
    let events: Value = app.get(&format!("/v1/payments/{id}/events?limit=1000")).await.json().await.unwrap();
    let changes: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "payment.status_changed")
        .map(|e| e["data"]["status"].as_str().unwrap())
        .collect();
    let positions: Vec<usize> = changes.iter().map(|s| chain.iter().position(|c| c == s).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{changes:?}");
    assert_eq!(changes.last(), Some(&"reversed"));
    assert_eq!(final_state["version"].as_i64().unwrap(), 1 + changes.len() as i64);
}
api_test!(shuffled_concurrent_reports_never_regress_a_payment);

async fn concurrent_refunds_never_overdraw(app: TestApp) {
    let payment = app.paid_payment("C-2", 1000).await;
    let id = payment["id"].as_str().unwrap().to_owned();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let request = app
            .request(reqwest::Method::POST, &format!("/v1/payments/{id}/refunds"), &app.admin_key)
            .json(&json!({"amount": 100}));
        tasks.push(tokio::spawn(async move { request.send().await.unwrap().status().as_u16() }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 10, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 422).count(), 22, "{statuses:?}");
    let final_state: Value = app.get(&format!("/v1/payments/{id}")).await.json().await.unwrap();
    assert_eq!(final_state["amount_refunded"], 1000);
}
api_test!(concurrent_refunds_never_overdraw);
