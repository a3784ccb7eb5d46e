//! Bad input gets a clear 4xx problem, never a 5xx or a half write.

use crate::api_test;
use crate::helpers::{TestApp, assert_problem};
use reqwest::Method;
use serde_json::{Value, json};

async fn send_raw(app: &TestApp, path: &str, content_type: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
    app.request(Method::POST, path, &app.admin_key)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn malformed_bodies_are_refused_with_4xx(app: TestApp) {
    let cases: Vec<(&str, String)> = vec![
        ("malformed JSON", "{\"reference\": ".into()),
        ("wrong type", json!({"reference": 5, "currency": "EUR"}).to_string()),
        ("unknown field", json!({"reference": "B-1", "currency": "EUR", "id": "ord_x"}).to_string()),
        ("mass assignment", json!({"reference": "B-1", "currency": "EUR", "state": "closed"}).to_string()),
        ("unknown currency", json!({"reference": "B-1", "currency": "XXQ"}).to_string()),
        ("non-monetary currency", json!({"reference": "B-1", "currency": "XAU"}).to_string()),
        ("decimal amount", json!({"reference": "B-1", "currency": "EUR", "total_amount": 10.5}).to_string()),
        ("negative amount", json!({"reference": "B-1", "currency": "EUR", "total_amount": -1}).to_string()),
        (
            "overflowing amount",
            "{\"reference\": \"B-1\", \"currency\": \"EUR\", \"total_amount\": 99999999999999999999}".into(),
        ),
        ("too large amount", json!({"reference": "B-1", "currency": "EUR", "total_amount": i64::MAX}).to_string()),
        ("NaN", "{\"reference\": \"B-1\", \"currency\": \"EUR\", \"total_amount\": NaN}".into()),
        ("NUL in a string", "{\"reference\": \"B\\u0000-1\", \"currency\": \"EUR\"}".into()),
        (
            "NUL in attributes",
            "{\"reference\": \"B-1\", \"currency\": \"EUR\", \"attributes\": {\"a\": \"\\u0000\"}}".into(),
        ),
        ("control characters", json!({"reference": "B\n1", "currency": "EUR"}).to_string()),
        ("empty reference", json!({"reference": "", "currency": "EUR"}).to_string()),
        ("long reference", json!({"reference": "x".repeat(201), "currency": "EUR"}).to_string()),
        ("attributes not an object", json!({"reference": "B-1", "currency": "EUR", "attributes": [1]}).to_string()),
        (
            "deep nesting",
            format!(
                "{{\"reference\": \"B-1\", \"currency\": \"EUR\", \"customer\": {}{}}}",
                "[".repeat(10_000),
                "]".repeat(10_000)
            ),
        ),
        ("not an object", "[]".into()),
        ("empty body", String::new()),
    ];
    for (case, body) in cases {
        let response = send_raw(&app, "/v1/orders", "application/json", body).await;
        assert_eq!(response.status(), 400, "{case}");
        let problem: Value = response.json().await.unwrap();
        assert!(problem["detail"].is_string(), "{case}: {problem}");
    }
    let key = format!("Bearer {}", app.admin_key);
    let answer = crate::helpers::oversized_request(
        &app,
        "POST /v1/orders",
        &[("authorization", &key), ("content-type", "application/json")],
        "{\"reference\": \"",
    )
    .await;
    assert_eq!(answer.status, "HTTP/1.1 413 Payload Too Large");
    assert!(answer.headers.contains(&"content-type: application/problem+json".to_owned()));
    let form = send_raw(&app, "/v1/orders", "application/x-www-form-urlencoded", "reference=B-1").await;
    assert_problem(form, 415, "unsupported-media-type").await;
    let orders: Value = app.get("/v1/orders").await.json().await.unwrap();
    assert_eq!(orders["data"].as_array().unwrap().len(), 0, "no half writes");
    assert!(app.events(0).await.is_empty());
}
api_test!(malformed_bodies_are_refused_with_4xx);

async fn bad_payment_input_and_queries(app: TestApp) {
    let order = app.order("B-2", 100).await;
    let order_id = order["id"].as_str().unwrap();
    let jpy: Value = app
        .post("/v1/orders", json!({"reference": "B-3", "currency": "jpy", "total_amount": 500}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(jpy["currency"], "JPY");
    for (case, body, status) in [
        ("currency mismatch", json!({"order_id": order_id, "amount": 1, "currency": "USD"}), 422),
        ("unknown order", json!({"order_id": "nope", "amount": 1}), 404),
        ("negative", json!({"order_id": order_id, "amount": -5}), 400),
        ("decimal", json!({"order_id": order_id, "amount": 1.25}), 400),
        ("string amount", json!({"order_id": order_id, "amount": "12"}), 400),
        ("unknown type", json!({"order_id": order_id, "amount": 1, "type": "gift"}), 400),
        ("refund without source", json!({"order_id": order_id, "amount": 1, "type": "refund"}), 400),
        ("bad method id", json!({"order_id": order_id, "amount": 1, "method_id": "card"}), 400),
        ("status mass-assigned", json!({"order_id": order_id, "amount": 1, "status": "paid"}), 400),
        ("version mass-assigned", json!({"order_id": order_id, "amount": 1, "version": 7}), 400),
    ] {
        let response = app.post("/v1/payments", body).await;
        assert_eq!(response.status(), status, "{case}");
    }
    let payment = app.payment(order_id, 100, None).await;
    let id = payment["id"].as_str().unwrap();
    for (case, body) in [
        ("unknown status", json!({"status": "done"})),
        ("bad paid_at", json!({"status": "paid", "paid_at": "yesterday"})),
        ("extra field", json!({"status": "paid", "amount": 5})),
    ] {
        let response = app.post(&format!("/v1/payments/{id}/status"), body).await;
        assert_eq!(response.status(), 400, "{case}");
    }
    for query in [
        "/v1/orders?limit=0",
        "/v1/orders?limit=1000",
        "/v1/orders?state=gone",
        "/v1/orders?bogus=1",
        "/v1/events?after=-1",
        "/v1/events?limit=x",
    ] {
        assert_eq!(app.get(query).await.status(), 400, "{query}");
    }
    let unchanged: Value = app.get(&format!("/v1/payments/{id}")).await.json().await.unwrap();
    assert_eq!(unchanged["version"], 1);
}
api_test!(bad_payment_input_and_queries);

async fn cursors_and_customers_are_checked_alike_on_every_store(app: TestApp) {
    // A cursor is an id this API handed out; a NUL (or any control character) is none.
    for query in ["/v1/orders?cursor=%00", "/v1/payments?cursor=ord%00x", "/v1/orders?cursor="] {
        let refused = assert_problem(app.get(query).await, 400, "invalid-request").await;
        assert_eq!(refused["field"], "cursor", "{query}");
    }
    // A customer is an object (or null), on create and on patch alike.
    for customer in [json!(false), json!(42), json!("me"), json!([1])] {
        let created =
            app.post("/v1/orders", json!({"reference": "C-0", "currency": "EUR", "customer": customer})).await;
        assert_eq!(assert_problem(created, 400, "invalid-request").await["field"], "customer");
    }
    let order: Value =
        app.post("/v1/orders", json!({"reference": "C-1", "currency": "EUR"})).await.json().await.unwrap();
    let id = order["id"].as_str().unwrap();
    for customer in [json!(false), json!(42)] {
        let patched = app.patch(&format!("/v1/orders/{id}"), json!({"customer": customer})).await;
        assert_eq!(assert_problem(patched, 400, "invalid-request").await["field"], "customer");
    }
    let patched = app.patch(&format!("/v1/orders/{id}"), json!({"customer": {"name": "Ada"}})).await;
    assert_eq!(patched.status(), 200);
    let unchanged: Value = app.get(&format!("/v1/orders/{id}")).await.json().await.unwrap();
    assert_eq!(unchanged["customer"], json!({"name": "Ada"}));
}
api_test!(cursors_and_customers_are_checked_alike_on_every_store);

async fn whole_amounts_written_with_a_fraction_or_an_exponent_are_read_exactly(app: TestApp) {
    // JSON Schema's integer includes 1250.0: such an amount is the integer it denotes, read from
    // its text (never a double); a fraction that is not zero is still refused.
    let create = |body| send_raw(&app, "/v1/orders", "application/json", body);
    let created = create(r#"{"reference": "W-1", "currency": "EUR", "total_amount": 1250.0}"#).await;
    assert_eq!(created.status(), 201);
    let order: Value = created.json().await.unwrap();
    assert_eq!(order["total_amount"], 1250);
    let created = create(r#"{"reference": "W-2", "currency": "EUR", "total_amount": 9007199254740993.0e-1}"#).await;
    assert_problem(created, 400, "invalid-request").await;
    let created = create(r#"{"reference": "W-3", "currency": "EUR", "total_amount": 9.99999999999999e14}"#).await;
    assert_eq!(created.json::<Value>().await.unwrap()["total_amount"], 999_999_999_999_999_i64);
    let id = order["id"].as_str().unwrap();
    let payment =
        send_raw(&app, "/v1/payments", "application/json", format!(r#"{{"order_id": "{id}", "amount": 1.25e3}}"#))
            .await;
    assert_eq!(payment.status(), 201);
    let payment: Value = payment.json().await.unwrap();
    assert_eq!(payment["amount"], 1250);
    let payment_id = payment["id"].as_str().unwrap();
    let status = app.post(&format!("/v1/payments/{payment_id}/status"), json!({"status": "paid"})).await;
    assert_eq!(status.status(), 200);
    let refunds = format!("/v1/payments/{payment_id}/refunds");
    let refund = send_raw(&app, &refunds, "application/json", r#"{"amount": 260.0}"#).await;
    assert_eq!(refund.status(), 200);
    assert_eq!(refund.json::<Value>().await.unwrap()["amount_refunded"], 260);
    let refunds = format!("/v1/payments/{payment_id}/refunds");
    let refund = send_raw(&app, &refunds, "application/json", r#"{"amount": 2.605e2}"#).await;
    assert_problem(refund, 400, "invalid-request").await;
}
api_test!(whole_amounts_written_with_a_fraction_or_an_exponent_are_read_exactly);

async fn a_body_that_is_not_an_object_is_refused_and_changes_nothing(app: TestApp) {
    let method: Value = app
        .post("/v1/payment-methods", json!({"code": "card", "locales": {"en": {"name": "Card"}}}))
        .await
        .json()
        .await
        .unwrap();
    let id = method["id"].as_str().unwrap();
    for body in ["[null, null]", "[]", "null", "5", "\"visible\""] {
        let patched = app
            .request(Method::PATCH, &format!("/v1/payment-methods/{id}"), &app.admin_key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_problem(patched, 400, "invalid-request").await;
    }
    let unchanged: Value = app.get(&format!("/v1/payment-methods/{id}")).await.json().await.unwrap();
    assert_eq!(unchanged["updated_at"], method["updated_at"]);
}
api_test!(a_body_that_is_not_an_object_is_refused_and_changes_nothing);
