//! Another tenant's records answer 404 on every route, by id, reference and external id.

use crate::api_test;
use crate::helpers::{TestApp, assert_problem};
use reqwest::Method;
use serde_json::{Value, json};

async fn another_tenants_ids_are_not_found_anywhere(app: TestApp) {
    let order = app.order("T-1", 100).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    let payment = app.payment(&order_id, 100, Some("ext-T-1")).await;
    let payment_id = payment["id"].as_str().unwrap().to_owned();
    let method: Value =
        app.post("/v1/payment-methods", json!({"code": "cash", "locales": {}})).await.json().await.unwrap();
    let method_id = method["id"].as_str().unwrap().to_owned();
    let (_, other) = app.other_tenant().await;

    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/v1/orders/{order_id}"), None),
        (Method::GET, "/v1/orders/T-1".into(), None),
        (Method::PATCH, format!("/v1/orders/{order_id}"), Some(json!({"total_amount": 1}))),
        (Method::POST, format!("/v1/orders/{order_id}/state"), Some(json!({"state": "closed"}))),
        (Method::POST, "/v1/payments".into(), Some(json!({"order_id": order_id, "amount": 1}))),
        (Method::GET, format!("/v1/payments/{payment_id}"), None),
        (Method::GET, "/v1/payments/ext-T-1".into(), None),
        (Method::PATCH, format!("/v1/payments/{payment_id}"), Some(json!({"note": "x"}))),
        (Method::DELETE, format!("/v1/payments/{payment_id}"), None),
        (Method::POST, format!("/v1/payments/{payment_id}/status"), Some(json!({"status": "paid"}))),
        (Method::POST, "/v1/payments/ext-T-1/status".into(), Some(json!({"status": "paid"}))),
        (Method::POST, format!("/v1/payments/{payment_id}/refunds"), Some(json!({}))),
        (Method::POST, format!("/v1/payments/{payment_id}/chargebacks"), Some(json!({}))),
        (Method::POST, format!("/v1/payments/{payment_id}/resolve"), Some(json!({"reason": "x"}))),
        (Method::GET, format!("/v1/payments/{payment_id}/events"), None),
        (Method::GET, format!("/v1/payment-methods/{method_id}"), None),
        (Method::PATCH, format!("/v1/payment-methods/{method_id}"), Some(json!({"visible": false}))),
    ];
    for (method, path, body) in routes {
        let mut request = app.request(method.clone(), &path, &other);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert_problem(response, 404, "not-found").await;
    }
    // Lists and the event trail show nothing of the first tenant.
    for path in [
        "/v1/orders",
        "/v1/payments",
        "/v1/events",
        "/v1/payment-methods",
        &format!("/v1/payments?order_id={order_id}"),
    ] {
        let body: Value = app.request(Method::GET, path, &other).send().await.unwrap().json().await.unwrap();
        assert_eq!(body["data"].as_array().unwrap().len(), 0, "{path}");
    }
    // And nothing changed for the owner.
    let mine: Value = app.get(&format!("/v1/payments/{payment_id}")).await.json().await.unwrap();
    assert_eq!(mine["version"], 1);
}
api_test!(another_tenants_ids_are_not_found_anywhere);
