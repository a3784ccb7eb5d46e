//! What the OpenAPI document promises, the server does: the answers Schemathesis found at odds
//! with it (bench/schemathesis.sh), each fixed on the side that was wrong.

use crate::api_test;
use crate::helpers::{TestApp, assert_problem};
use reqwest::Method;
use serde_json::{Value, json};

async fn raw(app: &TestApp, method: Method, path: &str, content_type: &str, body: &str) -> reqwest::Response {
    app.request(method, path, &app.admin_key)
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn settings_must_be_an_object_or_null(app: TestApp) {
    let set = app.patch("/v1/tenant", json!({"settings": {"teljoy": {"verify_trust": true}}})).await;
    assert_eq!(set.status(), 200);
    for settings in ["[null, null]", "5", "\"x\"", "true", "[]"] {
        let body = format!(r#"{{"name": "Renamed", "settings": {settings}}}"#);
        let patched = raw(&app, Method::PATCH, "/v1/tenant", "application/merge-patch+json", &body).await;
        assert_eq!(assert_problem(patched, 400, "invalid-request").await["field"], "settings", "{settings}");
    }
    let tenant: Value = app.get("/v1/tenant").await.json().await.unwrap();
    assert_eq!(tenant["settings"], json!({"teljoy": {"verify_trust": true}}), "nothing was wiped");
    assert_ne!(tenant["name"], "Renamed", "a refused patch changes nothing");
    let cleared = app.patch("/v1/tenant", json!({"settings": null})).await;
    assert_eq!(cleared.status(), 200);
    assert_eq!(cleared.json::<Value>().await.unwrap()["settings"], json!({}));
}
api_test!(settings_must_be_an_object_or_null);

async fn a_negative_after_is_refused_even_beside_last_event_id(app: TestApp) {
    let response = app
        .request(Method::GET, "/v1/events/stream?after=-1", &app.admin_key)
        .header("last-event-id", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(assert_problem(response, 400, "invalid-request").await["field"], "after");
    let response = app
        .request(Method::GET, "/v1/events/stream", &app.admin_key)
        .header("last-event-id", "-3")
        .send()
        .await
        .unwrap();
    assert_eq!(assert_problem(response, 400, "invalid-request").await["field"], "Last-Event-ID");
}
api_test!(a_negative_after_is_refused_even_beside_last_event_id);

async fn a_key_that_would_already_have_expired_is_422(app: TestApp) {
    let past = app.post("/v1/api-keys", json!({"scope": "write", "expires_at": "2000-01-01T00:00:00Z"})).await;
    assert_eq!(assert_problem(past, 422, "already-expired").await["field"], "expires_at");
    let future = app.post("/v1/api-keys", json!({"scope": "write", "expires_at": "2999-01-01T00:00:00Z"})).await;
    assert_eq!(future.status(), 201);
    let malformed = app.post("/v1/api-keys", json!({"scope": "write", "expires_at": "soon"})).await;
    assert_problem(malformed, 400, "invalid-request").await;
}
api_test!(a_key_that_would_already_have_expired_is_422);

async fn whole_numbers_with_a_fraction_of_zeros_are_integers_everywhere(app: TestApp) {
    let created =
        app.post("/v1/webhook-endpoints", json!({"url": "https://hooks.example.com/a", "events": ["*"]})).await;
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/webhook-endpoints/{id}/rotate-secret");
    for whole in ["49.0", "4.9e1", "49"] {
        let rotated =
            raw(&app, Method::POST, &path, "application/json", &format!(r#"{{"grace_period_seconds": {whole}}}"#))
                .await;
        assert_eq!(rotated.status(), 200, "{whole}");
        assert!(rotated.json::<Value>().await.unwrap()["previous_secret_expires_at"].is_string(), "{whole}");
    }
    for refused in ["49.5", "1e400", "\"49\""] {
        let rotated =
            raw(&app, Method::POST, &path, "application/json", &format!(r#"{{"grace_period_seconds": {refused}}}"#))
                .await;
        assert_problem(rotated, 400, "invalid-request").await;
    }
    // The optional body is an object when it is there: an array or null is no options.
    for refused in ["[]", "null", "[49]", "\"x\""] {
        let rotated = raw(&app, Method::POST, &path, "application/json", refused).await;
        assert_problem(rotated, 400, "invalid-request").await;
    }
}
api_test!(whole_numbers_with_a_fraction_of_zeros_are_integers_everywhere);

async fn an_escaped_backslash_before_u0000_is_no_nul(app: TestApp) {
    // The JSON text "A\\u0000" is the seven characters A\u0000: no NUL in it.
    let created =
        raw(&app, Method::POST, "/v1/orders", "application/json", r#"{"reference": "A\\u0000", "currency": "EUR"}"#)
            .await;
    assert_eq!(created.status(), 201);
    let order: Value = created.json().await.unwrap();
    assert_eq!(order["reference"], "A\\u0000");
    let payment = app.payment(order["id"].as_str().unwrap(), 100, None).await;
    for nul in [r#"{"reference": "A\u0000", "currency": "EUR"}"#, r#"{"reference": "A\\\u0000", "currency": "EUR"}"#] {
        let refused = raw(&app, Method::POST, "/v1/orders", "application/json", nul).await;
        assert_problem(refused, 400, "invalid-request").await;
    }
    // XML has no escape for NUL: the text \u0000 in an Omnicasa XML body is only text.
    let xml = r#"<UpdatePaymentOrderParameter xmlns="http://schemas.datacontract.org/2004/07/OmnicasaApiv3.Parameters"><OrderId>A\u0000</OrderId><StatusId>2</StatusId></UpdatePaymentOrderParameter>"#;
    let answer = app
        .client
        .post(app.url(&format!("/payment/update-order/{}", app.admin_key)))
        .header("content-type", "application/xml")
        .body(xml)
        .send()
        .await
        .unwrap();
    let status = answer.status();
    let text = answer.text().await.unwrap();
    assert_eq!(status, 200, "the order A\\u0000 exists: {text}");
    assert!(text.contains("<Success>true</Success>"), "{text}");
    let paid: Value = app.get(&format!("/v1/payments/{}", payment["id"].as_str().unwrap())).await.json().await.unwrap();
    assert_eq!(paid["status"], "paid");
}
api_test!(an_escaped_backslash_before_u0000_is_no_nul);

async fn unknown_records_named_in_a_payment_are_404(app: TestApp) {
    let order = app.order("U-1", 100).await;
    let order_id = order["id"].as_str().unwrap();
    let missing_method = "pm_0192f3c4000000000000000000000000";
    let refund = json!({"order_id": order_id, "amount": 1, "type": "refund", "source_payment_id": "pay_0192f3c4000000000000000000000000"});
    let refused = app.post("/v1/payments", refund).await;
    assert_eq!(assert_problem(refused, 404, "not-found").await["field"], "source_payment_id");
    let refused =
        app.post("/v1/payments", json!({"order_id": order_id, "amount": 1, "method_id": missing_method})).await;
    assert_eq!(assert_problem(refused, 404, "not-found").await["field"], "method_id");
    let malformed = app.post("/v1/payments", json!({"order_id": order_id, "amount": 1, "method_id": ""})).await;
    assert_eq!(assert_problem(malformed, 400, "invalid-request").await["field"], "method_id");
    let payment = app.payment(order_id, 100, None).await;
    let id = payment["id"].as_str().unwrap();
    let refused = app.patch(&format!("/v1/payments/{id}"), json!({"method_id": missing_method})).await;
    assert_eq!(assert_problem(refused, 404, "not-found").await["field"], "method_id");
    let unchanged: Value = app.get(&format!("/v1/payments/{id}")).await.json().await.unwrap();
    assert_eq!(unchanged["version"], payment["version"]);
    assert!(app.events(0).await.iter().all(|e| e["type"] != "payment.updated"));
}
api_test!(unknown_records_named_in_a_payment_are_404);

async fn webhook_urls_are_uris_and_a_disabled_endpoint_takes_no_test(app: TestApp) {
    for url in [
        "https://hooks.example.com/?%Y9",
        "https://hooks.example.com/a b",
        "https://hooks.example.com/{x}",
        "https://d.example.net*",
    ] {
        let refused = app.post("/v1/webhook-endpoints", json!({"url": url, "events": ["*"]})).await;
        assert_eq!(assert_problem(refused, 400, "invalid-request").await["field"], "url", "{url}");
    }
    let created = app
        .post("/v1/webhook-endpoints", json!({"url": "HTTPS://Hooks.Example.com/in?a=%20b&c=d;e", "events": ["*"]}))
        .await;
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let disabled = app.patch(&format!("/v1/webhook-endpoints/{id}"), json!({"enabled": false})).await;
    assert_eq!(disabled.status(), 200);
    let test = app.request(Method::POST, &format!("/v1/webhook-endpoints/{id}/test"), &app.admin_key).send().await;
    let refused = assert_problem(test.unwrap(), 422, "endpoint-disabled").await;
    assert_eq!(refused["field"], "enabled");
}
api_test!(webhook_urls_are_uris_and_a_disabled_endpoint_takes_no_test);

async fn omnicasa_reads_a_whole_status_id_written_with_a_fraction(app: TestApp) {
    let order = app.order("O-2", 100).await;
    let payment = app.payment(order["id"].as_str().unwrap(), 100, None).await;
    let route = format!("/payment/update-order/{}", app.admin_key);
    let send = |body: &'static str| {
        app.client.post(app.url(&route)).header("content-type", "application/json").body(body).send()
    };
    let refused = send(r#"{"OrderId": "O-2", "StatusId": 2.5}"#).await.unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.json::<Value>().await.unwrap()["Code"], 8);
    let paid = send(r#"{"OrderId": "O-2", "StatusId": 2.0}"#).await.unwrap();
    assert_eq!(paid.status(), 200);
    let now: Value = app.get(&format!("/v1/payments/{}", payment["id"].as_str().unwrap())).await.json().await.unwrap();
    assert_eq!(now["status"], "paid");
}
api_test!(omnicasa_reads_a_whole_status_id_written_with_a_fraction);
