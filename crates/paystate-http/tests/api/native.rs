//! The native API's resources, following the README's walk-through.

use crate::api_test;
use crate::helpers::{TestApp, assert_problem};
use serde_json::{Value, json};

async fn walkthrough_order_payment_status_events(app: TestApp) {
    let order = app.order("A-1001", 2500).await;
    assert_eq!(order["reference"], "A-1001");
    assert_eq!(order["currency"], "EUR");
    assert_eq!(order["total_amount"], 2500);
    assert_eq!(order["state"], "open");
    let order_id = order["id"].as_str().unwrap();
    assert!(order_id.starts_with("ord_"));

    let payment = app.payment(order_id, 2500, Some("psp-7f3a")).await;
    assert!(payment["id"].as_str().unwrap().starts_with("pay_"));
    for (field, value) in [
        ("order_id", json!(order_id)),
        ("external_id", json!("psp-7f3a")),
        ("type", json!("receipt")),
        ("amount", json!(2500)),
        ("currency", json!("EUR")),
        ("status", json!("open")),
        ("amount_refunded", json!(0)),
        ("amount_charged_back", json!(0)),
        ("has_refunds", json!(false)),
        ("has_chargebacks", json!(false)),
        ("needs_review", json!(false)),
        ("paid_at", Value::Null),
        ("version", json!(1)),
    ] {
        assert_eq!(payment[field], value, "{field}");
    }

    // Any lookup by id also takes the external id.
    let by_external: Value = app.get("/v1/payments/psp-7f3a").await.json().await.unwrap();
    assert_eq!(by_external["id"], payment["id"]);

    let paid = app
        .post("/v1/payments/psp-7f3a/status", json!({"status": "paid", "paid_at": "2025-12-11T02:03:02+01:00"}))
        .await;
    assert_eq!(paid.status(), 200);
    assert_eq!(paid.headers()["paystate-outcome"], "applied");
    let paid: Value = paid.json().await.unwrap();
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["paid_at"], "2025-12-11T01:03:02Z");
    assert_eq!(paid["version"], 2);

    let listed: Value = app.get(&format!("/v1/payments?order_id={order_id}")).await.json().await.unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["has_more"], false);

    let events = app.events(0).await;
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["order.created", "payment.created", "payment.status_changed"]);
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3]);
    let changed = &events[2];
    assert_eq!(changed["payment_id"], payment["id"]);
    assert_eq!(changed["order_id"], order_id);
    assert_eq!(changed["source"], "native");
    assert_eq!(changed["data"]["status"], "paid");
    assert_eq!(changed["detail"]["previous_status"], "open");
    assert!(changed["request_body"].as_str().unwrap().contains("\"paid\""));
    assert!(changed["actor"].as_str().unwrap().starts_with("key_"));
    assert!(!changed["request_id"].as_str().unwrap().is_empty());

    let after: Value = app.get("/v1/events?after=2").await.json().await.unwrap();
    assert_eq!(after["data"].as_array().unwrap().len(), 1);
    let of_payment: Value =
        app.get(&format!("/v1/payments/{}/events", payment["id"].as_str().unwrap())).await.json().await.unwrap();
    assert_eq!(of_payment["data"].as_array().unwrap().len(), 2);
}
api_test!(walkthrough_order_payment_status_events);

async fn orders_list_filter_paginate_and_change_state(app: TestApp) {
    for i in 0..5 {
        app.order(&format!("L-{i}"), 100).await;
    }
    let first: Value = app.get("/v1/orders?limit=2").await.json().await.unwrap();
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    assert_eq!(first["has_more"], true);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = app.get(&format!("/v1/orders?limit=10&cursor={cursor}")).await.json().await.unwrap();
    let refs: Vec<&str> = second["data"].as_array().unwrap().iter().map(|o| o["reference"].as_str().unwrap()).collect();
    assert_eq!(refs, ["L-2", "L-3", "L-4"]);
    assert_eq!(second["next_cursor"], Value::Null);

    let closed: Value = app.post("/v1/orders/L-1/state", json!({"state": "closed"})).await.json().await.unwrap();
    assert_eq!(closed["state"], "closed");
    let filtered: Value = app.get("/v1/orders?state=closed").await.json().await.unwrap();
    assert_eq!(filtered["data"].as_array().unwrap().len(), 1);
    let by_ref: Value = app.get("/v1/orders?reference=L-3").await.json().await.unwrap();
    assert_eq!(by_ref["data"][0]["reference"], "L-3");

    // A closed order takes no new payments; a canceled order is final.
    let refused = app.post("/v1/payments", json!({"order_id": "L-1", "amount": 5})).await;
    assert_problem(refused, 422, "order-not-open").await;
    assert_eq!(app.post("/v1/orders/L-2/state", json!({"state": "canceled"})).await.status(), 200);
    let reopen = app.post("/v1/orders/L-2/state", json!({"state": "open"})).await;
    assert_problem(reopen, 422, "order-not-open").await;

    let patched: Value = app
        .patch("/v1/orders/L-3", json!({"customer": {"name": "Ada"}, "total_amount": 999}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(patched["customer"]["name"], "Ada");
    assert_eq!(patched["total_amount"], 999);

    let duplicate = app.post("/v1/orders", json!({"reference": "L-3", "currency": "EUR"})).await;
    let body = assert_problem(duplicate, 409, "duplicate").await;
    assert_eq!(body["field"], "reference");
}
api_test!(orders_list_filter_paginate_and_change_state);

async fn refunds_and_chargebacks_adjust_a_paid_payment(app: TestApp) {
    let payment = app.paid_payment("R-1", 1000).await;
    let id = payment["id"].as_str().unwrap();
    let refunded: Value = app
        .post(&format!("/v1/payments/{id}/refunds"), json!({"amount": 300, "reason": "damaged"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(refunded["status"], "paid");
    assert_eq!(refunded["amount_refunded"], 300);
    assert_eq!(refunded["has_refunds"], true);

    let over = app.post(&format!("/v1/payments/{id}/refunds"), json!({"amount": 701})).await;
    assert_problem(over, 422, "exceeds-available").await;
    let charged: Value =
        app.post(&format!("/v1/payments/{id}/chargebacks"), json!({"amount": 200})).await.json().await.unwrap();
    assert_eq!(charged["amount_charged_back"], 200);
    assert_eq!(charged["has_chargebacks"], true);
    // Without an amount a refund takes what remains.
    let rest: Value = app.post(&format!("/v1/payments/{id}/refunds"), json!({})).await.json().await.unwrap();
    assert_eq!(rest["amount_refunded"], 800);
    let again = app.post(&format!("/v1/payments/{id}/refunds"), json!({})).await;
    assert_eq!(again.headers()["paystate-outcome"], "unchanged");

    let events = app.events(0).await;
    let refund_event = events.iter().find(|e| e["type"] == "payment.refunded").unwrap();
    assert_eq!(refund_event["detail"]["amount"], 300);
    assert_eq!(refund_event["detail"]["reason"], "damaged");

    // A refund of a payment that was never paid is a conflict.
    let order = app.order("R-2", 100).await;
    let open = app.payment(order["id"].as_str().unwrap(), 100, None).await;
    let conflict =
        app.post(&format!("/v1/payments/{}/refunds", open["id"].as_str().unwrap()), json!({"amount": 10})).await;
    assert_problem(conflict, 409, "status-conflict").await;
}
api_test!(refunds_and_chargebacks_adjust_a_paid_payment);

async fn payment_fields_update_delete_and_methods(app: TestApp) {
    let method = app
        .post("/v1/payment-methods", json!({"code": "card", "locales": {"en": {"name": "Card", "description": "Visa"}, "nl": {"name": "Kaart"}}}))
        .await;
    assert_eq!(method.status(), 201);
    let method: Value = method.json().await.unwrap();
    let method_id = method["id"].as_str().unwrap();
    assert_eq!(method["visible"], true);
    let methods: Value = app.get("/v1/payment-methods").await.json().await.unwrap();
    assert_eq!(methods["data"].as_array().unwrap().len(), 1);
    let hidden: Value =
        app.patch(&format!("/v1/payment-methods/{method_id}"), json!({"visible": false})).await.json().await.unwrap();
    assert_eq!(hidden["visible"], false);

    let order = app.order("U-1", 500).await;
    let payment = app.payment(order["id"].as_str().unwrap(), 500, None).await;
    let id = payment["id"].as_str().unwrap();
    let updated: Value = app
        .patch(
            &format!("/v1/payments/{id}"),
            json!({"method_id": method_id, "note": "till 3", "amount": 450, "attrs": {"till": 3}}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(updated["method_id"], method_id);
    assert_eq!(updated["amount"], 450);
    let cleared: Value = app.patch(&format!("/v1/payments/{id}"), json!({"note": null})).await.json().await.unwrap();
    assert_eq!(cleared["note"], Value::Null);
    let unknown_method =
        app.patch(&format!("/v1/payments/{id}"), json!({"method_id": "pm_0192f3c4000000000000000000000000"})).await;
    // Well-formed but not one of the tenant's methods: 404, naming the field.
    assert_eq!(assert_problem(unknown_method, 404, "not-found").await["field"], "method_id");

    let deleted =
        app.request(reqwest::Method::DELETE, &format!("/v1/payments/{id}"), &app.admin_key).send().await.unwrap();
    assert_eq!(deleted.status(), 200);
    let deleted: Value = deleted.json().await.unwrap();
    assert!(deleted["deleted_at"].is_string());
    let listed: Value =
        app.get(&format!("/v1/payments?order_id={}", order["id"].as_str().unwrap())).await.json().await.unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 0);
    let after_delete = app.post(&format!("/v1/payments/{id}/status"), json!({"status": "paid"})).await;
    assert_problem(after_delete, 422, "deleted").await;

    // A paid payment changes only by correction, and is never deleted.
    let paid = app.paid_payment("U-2", 700).await;
    let pid = paid["id"].as_str().unwrap();
    let refused = app.patch(&format!("/v1/payments/{pid}"), json!({"amount": 800})).await;
    assert_problem(refused, 422, "not-allowed").await;
    let corrected: Value = app
        .patch(&format!("/v1/payments/{pid}"), json!({"amount": 800, "correction": true}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(corrected["amount"], 800);
    let events = app.events(0).await;
    let correction = events.iter().rev().find(|e| e["type"] == "payment.updated").unwrap();
    assert_eq!(correction["detail"]["before"]["amount"], 700);
    assert_eq!(correction["detail"]["after"]["amount"], 800);
    let no_delete =
        app.request(reqwest::Method::DELETE, &format!("/v1/payments/{pid}"), &app.admin_key).send().await.unwrap();
    assert_problem(no_delete, 422, "not-allowed").await;
}
api_test!(payment_fields_update_delete_and_methods);

async fn tenant_settings_merge_patch_and_keys(app: TestApp) {
    let tenant: Value = app.get("/v1/tenant").await.json().await.unwrap();
    assert_eq!(tenant["name"], "Test shop");
    let patched = app
        .request(reqwest::Method::PATCH, "/v1/tenant", &app.admin_key)
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"settings": {"norce": {"merchants": ["m1"]}, "omnicasa": {"timezone": "Europe/Brussels"}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let patched: Value = app.patch("/v1/tenant", json!({"settings": {"omnicasa": null}})).await.json().await.unwrap();
    assert_eq!(patched["settings"], json!({"norce": {"merchants": ["m1"]}}));

    // Dialect settings are vetted when written, so a typo cannot break a dialect later.
    for bad in [
        json!({"omnicasa": {"timezone": "Mars/Olympus"}}),
        json!({"omnicasa": {"currency": "EURO"}}),
        json!({"omnicasa": {"create_unknown_orders": "yes"}}),
        json!({"norce": {"merchants": "m1"}}),
        json!({"norce": {"merchants": [1]}}),
        json!({"gormic": {"organization_id": ""}}),
        json!({"teljoy": {"verify_trust": "false"}}),
        json!({"teljoy": true}),
    ] {
        let refused = app.patch("/v1/tenant", json!({"settings": bad})).await;
        let problem = assert_problem(refused, 400, "invalid-request").await;
        assert_eq!(problem["field"], "settings", "{bad}");
    }
    let unchanged: Value = app.get("/v1/tenant").await.json().await.unwrap();
    assert_eq!(unchanged["settings"], json!({"norce": {"merchants": ["m1"]}}));

    let write_key = app.key(paystate_store::Scope::Write, None).await;
    let forbidden =
        app.request(reqwest::Method::PATCH, "/v1/tenant", &write_key).json(&json!({"name": "x"})).send().await.unwrap();
    assert_problem(forbidden, 403, "forbidden").await;

    let create_key = || {
        app.request(reqwest::Method::POST, "/v1/api-keys", &app.admin_key)
            .header("idempotency-key", "new-key")
            .json(&json!({"scope": "read", "dialect": "teljoy", "label": "shop"}))
            .send()
    };
    let issued = create_key().await.unwrap();
    assert_eq!(issued.status(), 201);
    let issued: Value = issued.json().await.unwrap();
    // A replay does not show the secret again (and so it is never stored for replays).
    let replayed = create_key().await.unwrap();
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    let replayed: Value = replayed.json().await.unwrap();
    assert_eq!(replayed["key_id"], issued["key_id"]);
    assert_eq!(replayed["api_key"], Value::Null);
    assert!(issued["api_key"].as_str().unwrap().starts_with("psk_"));
    let listed: Value = app.get("/v1/api-keys").await.json().await.unwrap();
    let text = listed.to_string();
    assert!(!text.contains(issued["api_key"].as_str().unwrap()), "a listing never shows a secret");
    assert_eq!(listed["data"].as_array().unwrap().len(), 3);
    let key_id = issued["key_id"].as_str().unwrap();
    let revoked =
        app.request(reqwest::Method::DELETE, &format!("/v1/api-keys/{key_id}"), &app.admin_key).send().await.unwrap();
    assert_eq!(revoked.status(), 204);
}
api_test!(tenant_settings_merge_patch_and_keys);
