//! The Teljoy dialect: `POST /api/v1/status/{payment-id}` and `/api/status/{payment-id}`, with
//! the document's own examples, every WooCommerce status, the trust checks, both key places,
//! tenants, conflicts, replays and bad input.

use crate::api_test;
use crate::helpers::TestApp;
use base64::Engine;
use paystate_domain::Source;
use paystate_store::Scope;
use reqwest::{Method, Response};
use serde_json::{Value, json};

/// The `trust_seed` of the document's JavaScript example, verbatim: base64 of one product object
/// followed by a comma, with CRLF and tabs.
pub(crate) const DOCUMENT_SEED: &str = "ew0KCQkJCQkJIm5hbWUiOiJISVNFTlNFIDEwMEw1RiAxMDAmcXVvdDsgTEFTRVIgVFYxIiwNCgkJCQkJCSJza3UiOiIxMDBMNUYiLA0KCQkJCQkJInF1YW50aXR5IjoiMSIsDQoJCQkJCQkicHJpY2UiOiIxMjY1Ny4wMCIsDQoJCQkJCQkiZGVzY3JpcHRpb24iOiAic3RyaW5nIiwNCgkJCQkJCSJicmFuZCI6ICJzdHJpbmciLA0KCQkJCQkJIm1lcmNoYW50X3Byb2R1Y3RfaWQiOiI1Mzc4MyIsDQoJCQkJCQkidmVuZG9yIjogew0KCQkJCQkJCSJ2ZW5kb3JfaWQiOiAic3RyaW5nIiwNCgkJCQkJCQkidXJsIjogInN0cmluZyIsDQoJCQkJCQkJIm5hbWUiOiAic3RyaW5nIg0KCQkJCQkJfSwNCgkJCQkJCSJpbWFnZXMiOiBbDQoJCQkJCQkJImh0dHBzOi8vYXRvbWljdGVzdC5jby56YS93cC1jb250ZW50L3VwbG9hZHMvMjAyMS8xMS8xMDBMNUYuanBlZyIgDQoJCQkJCQldLA0KCQkJCQkJImJhcmNvZGVzIjogWw0KCQkJCQkJCSIiDQoJCQkJCQldLA0KCQkJCQkJImNhdGVnb3JpZXMiOiBbIA0KCQkJCQkJXSwNCgkJCQkJCSJwcm9wZXJ0aWVzIjogWw0KCQkJCQkJCXsNCgkJCQkJCQkia2V5IjogInN0cmluZyIsDQoJCQkJCQkJInZhbHVlIjogInN0cmluZyINCgkJCQkJCQl9DQoJCQkJCQldDQoJCQkJCX0s";
/// The document's `trust_value`: md5("76144").
const DOCUMENT_TRUST_VALUE: &str = "c10cd9445121e4ed6ad0ab47cdde2882";

pub(crate) const ALLOWED: &str = "The status field must be one of: pending, on-hold, processing, completed, \
    cancelled, refunded, failed, checkout-draft (WooCommerce order statuses without the wc- prefix; statuses added by \
    other plugins are not accepted).";

pub(crate) fn md5_hex(text: &str) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(text.as_bytes()))
}

pub(crate) fn seed_of(products: &Value) -> String {
    base64::engine::general_purpose::STANDARD.encode(products.to_string())
}

/// A valid report for an order reference: status, trust value and a product list seed.
pub(crate) fn report(status: &str, reference: &str) -> Value {
    json!({"status": status, "trust_Value": md5_hex(reference), "trust_Seed": seed_of(&json!([{"sku": "A-1", "quantity": "1"}]))})
}

/// POSTs a JSON body, with the key in the `api-key` header when given.
pub(crate) async fn send(app: &TestApp, path: &str, key: Option<&str>, body: &Value) -> Response {
    send_raw(app, path, key, "application/json", body.to_string()).await
}

pub(crate) async fn send_raw(
    app: &TestApp,
    path: &str,
    key: Option<&str>,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> Response {
    let mut request = app.client.post(app.url(path)).header("content-type", content_type).body(body);
    if let Some(key) = key {
        request = request.header("api-key", key);
    }
    request.send().await.unwrap()
}

pub(crate) async fn assert_success(response: Response) {
    let status = response.status();
    let content_type = response.headers().get("content-type").cloned();
    let body = response.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(content_type.unwrap(), "application/json; charset=utf-8");
    assert_eq!(body, r#"{"success":true}"#);
}

/// Asserts ASP.NET Core problem details of `status` whose `traceId` is the request id; answers the body.
pub(crate) async fn assert_teljoy_problem(response: Response, status: u16) -> Value {
    assert_eq!(response.headers()["content-type"], "application/problem+json; charset=utf-8");
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let actual = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(actual, status, "{body}");
    let section = match status {
        400 => "rfc7231#section-6.5.1",
        401 => "rfc7235#section-3.1",
        403 => "rfc7231#section-6.5.3",
        404 => "rfc7231#section-6.5.4",
        405 => "rfc7231#section-6.5.5",
        409 => "rfc7231#section-6.5.8",
        413 => "rfc7231#section-6.5.11",
        415 => "rfc7231#section-6.5.13",
        other => panic!("unexpected status {other}"),
    };
    assert_eq!(body["type"], format!("https://tools.ietf.org/html/{section}"), "{body}");
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string());
    assert_eq!(body["traceId"], request_id);
    if status == 400 {
        assert_eq!(body["title"], "One or more validation errors occurred.");
        assert!(body["errors"].is_object(), "{body}");
    } else {
        assert!(body.get("errors").is_none(), "{body}");
    }
    body
}

/// The validation messages of a 400, by property.
pub(crate) async fn assert_errors(response: Response, expected: Value) {
    let body = assert_teljoy_problem(response, 400).await;
    assert_eq!(body["errors"], expected, "{body}");
}

pub(crate) async fn payment(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/v1/payments/{id}")).await.json().await.unwrap()
}

pub(crate) async fn payment_events(app: &TestApp, payment_id: &str) -> Vec<Value> {
    app.events(0).await.into_iter().filter(|e| e["payment_id"] == payment_id).collect()
}

pub(crate) fn kinds(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect()
}

pub(crate) async fn set_verify_trust(app: &TestApp, value: Value) {
    let response = app.patch("/v1/tenant", json!({"settings": {"teljoy": {"verify_trust": value}}})).await;
    assert_eq!(response.status(), 200);
}

/// An order of `reference` with one payment of external id `external`; answers the payment's id.
pub(crate) async fn order_with_payment(app: &TestApp, reference: &str, external: Option<&str>) -> String {
    let order = app.order(reference, 1265700).await;
    let payment = app.payment(order["id"].as_str().unwrap(), 1265700, external).await;
    payment["id"].as_str().unwrap().to_owned()
}

async fn the_documents_javascript_example_works(app: TestApp) {
    // The shop's order 76144 (md5 c10cd944…) and the provider's payment UUID of the example.
    let id = order_with_payment(&app, "76144", Some("590fbc3e-784e-4519-95b0-08db35c30d2b")).await;
    assert_eq!(md5_hex("76144"), DOCUMENT_TRUST_VALUE);
    let key = app.key(Scope::Write, Some(Source::Teljoy)).await;
    // The example verbatim: lowercase trust keys, the key only in the header, no id in the body.
    let body = format!(
        "{{\"status\":\"cancelled\",\"trust_value\":\"{DOCUMENT_TRUST_VALUE}\",\"trust_seed\":\"{DOCUMENT_SEED}\"}}"
    );
    let response = app
        .client
        .post(app.url("/api/v1/status/590fbc3e-784e-4519-95b0-08db35c30d2b"))
        .header("Accept", "*/*")
        .header("api-key", &key)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_success(response).await;

    let canceled = payment(&app, &id).await;
    assert_eq!(canceled["status"], "canceled");
    assert_eq!(canceled["updated_via"], "teljoy");
    let events = payment_events(&app, &id).await;
    // The seed is kept with the payment first (for the read-back), then the status changes.
    assert_eq!(kinds(&events), ["payment.created", "payment.updated", "payment.status_changed"]);
    assert_eq!(canceled["attrs"]["teljoy"]["trust_seed"], DOCUMENT_SEED);
    let change = &events[2];
    assert_eq!(change["source"], "teljoy");
    assert_eq!(change["request_id"].as_str().unwrap().len(), 36);
    // The decoded product list is kept with the event, and the key is not.
    let kept: Value = serde_json::from_str(change["request_body"].as_str().unwrap()).unwrap();
    assert_eq!(kept["status"], "cancelled");
    assert_eq!(kept["trust_value"], DOCUMENT_TRUST_VALUE);
    assert_eq!(kept["trust_seed"], DOCUMENT_SEED);
    let products = kept["trust_Seed_decoded"].as_array().unwrap();
    assert_eq!(products.len(), 1);
    assert_eq!(products[0]["sku"], "100L5F");
    assert_eq!(products[0]["merchant_product_id"], "53783");
    assert!(!change["request_body"].as_str().unwrap().contains(&key));

    // The same report again, at the plugins' path and by paystate id: accepted, nothing new.
    let body = json!({"status": "cancelled", "trust_value": DOCUMENT_TRUST_VALUE, "trust_seed": DOCUMENT_SEED});
    assert_success(send(&app, &format!("/api/status/{id}"), Some(&key), &body).await).await;
    assert_eq!(payment_events(&app, &id).await.len(), 3);

    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("paystate_payment_reports_total{source=\"teljoy\",outcome=\"applied\",status=\"canceled\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("route=\"/api/v1/status/{payment-id}\""), "the route template is logged, not the id");
}
api_test!(the_documents_javascript_example_works);

async fn the_documents_json_example_is_checked_then_accepted_without_trust_checks(app: TestApp) {
    let id = order_with_payment(&app, "76144", Some("b8f2d832-72e2-4e47-8b8a-7f6a3a3e7abe")).await;
    let key = app.key(Scope::Write, Some(Source::Teljoy)).await;
    // The document's JSON example, with a real key in place of "your-api-key".
    let example = json!({
      "apiKey": key,
      "id": "b8f2d832-72e2-4e47-8b8a-7f6a3a3e7abe",
      "status": "completed",
      "trust_Seed": "your-trust-seed",
      "trust_Value": "your-trust-value",
      "alt_Trust_Value": "your-alt-trust-value"
    });
    let path = "/api/v1/status/b8f2d832-72e2-4e47-8b8a-7f6a3a3e7abe";
    // Its trust fields are placeholders: with the checks on (the default) both are named.
    assert_errors(
        send(&app, path, None, &example).await,
        json!({
            "trust_Seed": ["The trust_Seed field must be base64."],
            "trust_Value": ["The trust_Value field must be the MD5 hex of the order id."]
        }),
    )
    .await;
    assert_eq!(payment(&app, &id).await["status"], "open");
    assert_eq!(kinds(&payment_events(&app, &id).await), ["payment.created"]);

    // A tenant that turns the checks off gets the example accepted as it is.
    set_verify_trust(&app, json!(false)).await;
    assert_success(send(&app, path, None, &example).await).await;
    let paid = payment(&app, &id).await;
    assert_eq!(paid["status"], "paid");
    assert!(paid["paid_at"].is_string());
    let events = payment_events(&app, &id).await;
    let kept: Value = serde_json::from_str(events.last().unwrap()["request_body"].as_str().unwrap()).unwrap();
    assert_eq!(
        kept,
        json!({
          "id": "b8f2d832-72e2-4e47-8b8a-7f6a3a3e7abe",
          "status": "completed",
          "trust_Seed": "your-trust-seed",
          "trust_Value": "your-trust-value",
          "alt_Trust_Value": "your-alt-trust-value"
        }),
        "kept without the apiKey; a seed that does not decode is kept as received"
    );
}
api_test!(the_documents_json_example_is_checked_then_accepted_without_trust_checks);

async fn every_woocommerce_status_maps_to_the_canonical_machine(app: TestApp) {
    let key = app.key(Scope::Write, Some(Source::Teljoy)).await;
    let order = app.order("W-100", 5000).await;
    let order_id = order["id"].as_str().unwrap();
    for (sent, expected) in [
        ("pending", "pending"),
        ("On-Hold", "pending"),
        ("processing", "paid"),
        ("COMPLETED", "paid"),
        ("Cancelled", "canceled"),
        ("failed", "failed"),
    ] {
        let payment_id = app.payment(order_id, 5000, None).await["id"].as_str().unwrap().to_owned();
        assert_success(send(&app, &format!("/api/v1/status/{payment_id}"), Some(&key), &report(sent, "W-100")).await)
            .await;
        assert_eq!(payment(&app, &payment_id).await["status"], expected, "{sent}");
        let events = payment_events(&app, &payment_id).await;
        assert_eq!(kinds(&events), ["payment.created", "payment.updated", "payment.status_changed"], "{sent}");
    }

    // refunded: a full refund of a paid payment, which stays paid; a repeat changes nothing.
    let payment_id = app.payment(order_id, 5000, Some("wc-refund-1")).await["id"].as_str().unwrap().to_owned();
    let path = "/api/v1/status/wc-refund-1";
    assert_success(send(&app, path, Some(&key), &report("completed", "W-100")).await).await;
    assert_success(send(&app, path, Some(&key), &report("Refunded", "W-100")).await).await;
    let refunded = payment(&app, &payment_id).await;
    assert_eq!(refunded["status"], "paid");
    assert_eq!(refunded["amount_refunded"], 5000);
    assert_eq!(refunded["has_refunds"], true);
    assert_success(send(&app, path, Some(&key), &report("refunded", "W-100")).await).await;
    assert_eq!(payment(&app, &payment_id).await["version"], refunded["version"]);
    let events = payment_events(&app, &payment_id).await;
    assert_eq!(kinds(&events), ["payment.created", "payment.updated", "payment.status_changed", "payment.refunded"]);
    assert_eq!(events[3]["detail"]["amount"], 5000);

    // Anything else is a 400 naming the accepted values, and changes nothing.
    let open = app.payment(order_id, 5000, None).await["id"].as_str().unwrap().to_owned();
    for other in ["canceled", "paid", "wc-completed", "done", " completed"] {
        assert_errors(
            send(&app, &format!("/api/v1/status/{open}"), Some(&key), &report(other, "W-100")).await,
            json!({"status": [ALLOWED]}),
        )
        .await;
    }
    let mut missing = report("x", "W-100");
    missing.as_object_mut().unwrap().remove("status");
    assert_errors(
        send(&app, &format!("/api/v1/status/{open}"), Some(&key), &missing).await,
        json!({"status": ["The status field is required."]}),
    )
    .await;
    assert_eq!(payment(&app, &open).await["version"], 1);
}
api_test!(every_woocommerce_status_maps_to_the_canonical_machine);

async fn trust_mismatches_and_bad_seeds_are_named(app: TestApp) {
    let id = order_with_payment(&app, "T-500", None).await;
    let key = app.key(Scope::Write, None).await;
    let path = format!("/api/v1/status/{id}");
    let good_seed = seed_of(&json!([{"sku": "A-1"}]));
    let cases = [
        (
            "trust value of another order",
            json!({"status": "completed", "trust_Value": md5_hex("T-501"), "trust_Seed": good_seed}),
            json!({"trust_Value": ["The trust_Value field must be the MD5 hex of the order id."]}),
        ),
        (
            "trust value of the payment id",
            json!({"status": "completed", "trust_Value": md5_hex(&id), "trust_Seed": good_seed}),
            json!({"trust_Value": ["The trust_Value field must be the MD5 hex of the order id."]}),
        ),
        (
            "invalid base64",
            json!({"status": "completed", "trust_Value": md5_hex("T-500"), "trust_Seed": "not base64!"}),
            json!({"trust_Seed": ["The trust_Seed field must be base64."]}),
        ),
        (
            "base64 of something that is not JSON",
            json!({"status": "completed", "trust_Value": md5_hex("T-500"), "trust_Seed": base64::engine::general_purpose::STANDARD.encode("sku=A-1")}),
            json!({"trust_Seed": ["The trust_Seed field must be base64 of the order's product list in JSON."]}),
        ),
        (
            "both missing",
            json!({"status": "completed", "alt_Trust_Value": "x"}),
            json!({"trust_Seed": ["The trust_Seed field is required."], "trust_Value": ["The trust_Value field is required."]}),
        ),
        (
            "empty strings are missing",
            json!({"status": "completed", "trust_Value": "", "trust_Seed": null}),
            json!({"trust_Seed": ["The trust_Seed field is required."], "trust_Value": ["The trust_Value field is required."]}),
        ),
    ];
    for (case, body, expected) in &cases {
        let response = send(&app, &path, Some(&key), body).await;
        let problem = assert_teljoy_problem(response, 400).await;
        assert_eq!(&problem["errors"], expected, "{case}");
    }
    assert_eq!(payment(&app, &id).await["version"], 1, "nothing written");
    assert_eq!(payment_events(&app, &id).await.len(), 1);

    // The hex is compared case-insensitively, and a JSON object is a document too.
    let upper = json!({"status": "processing", "trust_Value": md5_hex("T-500").to_uppercase(),
        "trust_Seed": seed_of(&json!({"items": [{"sku": "A-1"}]})), "alt_Trust_Value": "alt-1"});
    assert_success(send(&app, &path, Some(&key), &upper).await).await;
    let events = payment_events(&app, &id).await;
    let kept: Value = serde_json::from_str(events.last().unwrap()["request_body"].as_str().unwrap()).unwrap();
    assert_eq!(kept["trust_Seed_decoded"], json!({"items": [{"sku": "A-1"}]}));
    assert_eq!(kept["alt_Trust_Value"], "alt-1");

    // A setting other than a boolean is refused when written, and the checks stay on; false
    // turns them off.
    let other = order_with_payment(&app, "T-600", None).await;
    let other_path = format!("/api/v1/status/{other}");
    let refused = app.patch("/v1/tenant", json!({"settings": {"teljoy": {"verify_trust": "false"}}})).await;
    assert_eq!(refused.status(), 400);
    assert_teljoy_problem(send(&app, &other_path, Some(&key), &cases[0].1).await, 400).await;
    set_verify_trust(&app, json!(false)).await;
    for (case, body, _) in &cases {
        let mut body = body.clone();
        body["status"] = "pending".into();
        assert_success(send(&app, &other_path, Some(&key), &body).await).await;
        assert_eq!(payment(&app, &other).await["status"], "pending", "{case}");
    }
    let kept: Value =
        serde_json::from_str(payment_events(&app, &other).await[1]["request_body"].as_str().unwrap()).unwrap();
    assert_eq!(kept["trust_Seed_decoded"], json!([{"sku": "A-1"}]), "a seed that decodes is still kept");
}
api_test!(trust_mismatches_and_bad_seeds_are_named);

async fn properties_bind_case_insensitively_and_the_body_id_must_match(app: TestApp) {
    let key = app.key(Scope::Write, Some(Source::Teljoy)).await;
    let id = order_with_payment(&app, "C-1", Some("ext-C-1")).await;
    let body = json!({"STATUS": "on-hold", "TRUST_VALUE": md5_hex("C-1"), "Trust_Seed": seed_of(&json!([])),
        "APIKEY": key, "ID": "ext-C-1", "unknown": {"ignored": true}});
    assert_success(send(&app, "/api/v1/status/ext-C-1", None, &body).await).await;
    assert_eq!(payment(&app, &id).await["status"], "pending");

    // The body's id may name the payment by either of its ids; another id is refused.
    let mut by_paystate_id = report("completed", "C-1");
    by_paystate_id["id"] = id.clone().into();
    assert_success(send(&app, "/api/v1/status/ext-C-1", Some(&key), &by_paystate_id).await).await;
    assert_eq!(payment(&app, &id).await["status"], "paid");

    let other = order_with_payment(&app, "C-2", Some("ext-C-2")).await;
    for wrong in ["ext-C-1", id.as_str(), "b8f2d832-72e2-4e47-8b8a-7f6a3a3e7abe"] {
        let mut body = report("completed", "C-2");
        body["Id"] = wrong.into();
        assert_errors(
            send(&app, "/api/v1/status/ext-C-2", Some(&key), &body).await,
            json!({"id": ["The id field must equal the payment id in the path."]}),
        )
        .await;
    }
    assert_eq!(payment(&app, &other).await["version"], 1);

    // One property in two spellings, and wrong types, are refused without guessing.
    let mut twice = report("completed", "C-2");
    twice["STATUS"] = "cancelled".into();
    assert_errors(
        send(&app, "/api/v1/status/ext-C-2", Some(&key), &twice).await,
        json!({"status": ["The status field was given more than once."]}),
    )
    .await;
    let typed = json!({"status": 3, "trust_Value": ["x"], "trust_Seed": {"a": 1}, "id": 7});
    assert_errors(
        send(&app, "/api/v1/status/ext-C-2", Some(&key), &typed).await,
        json!({
            "id": ["The id field must be a string."],
            "status": ["The status field must be a string."],
            "trust_Seed": ["The trust_Seed field must be a string."],
            "trust_Value": ["The trust_Value field must be a string."]
        }),
    )
    .await;
    assert_eq!(payment(&app, &other).await["version"], 1);
}
api_test!(properties_bind_case_insensitively_and_the_body_id_must_match);

async fn the_key_comes_from_the_header_or_the_body_and_must_agree(app: TestApp) {
    let key = app.key(Scope::Write, Some(Source::Teljoy)).await;
    let other_key = app.key(Scope::Write, Some(Source::Teljoy)).await;
    let order = app.order("K-1", 100).await;
    let order_id = order["id"].as_str().unwrap();
    let mut paths = Vec::new();
    for _ in 0..4 {
        let id = app.payment(order_id, 100, None).await["id"].as_str().unwrap().to_owned();
        paths.push((id.clone(), format!("/api/v1/status/{id}")));
    }
    let with_key = |k: &str| {
        let mut body = report("completed", "K-1");
        body["apiKey"] = k.into();
        body
    };

    // Header only, body only, both agreeing.
    assert_success(send(&app, &paths[0].1, Some(&key), &report("completed", "K-1")).await).await;
    assert_success(send(&app, &paths[1].1, None, &with_key(&key)).await).await;
    assert_success(send(&app, &paths[2].1, Some(&key), &with_key(&key)).await).await;
    for (id, _) in &paths[..3] {
        assert_eq!(payment(&app, id).await["status"], "paid");
    }

    // Both present and different: refused before either is tried, even when both are valid keys.
    let (id, path) = &paths[3];
    for (header, body) in [(&key, &other_key), (&key, &"psk_nope".to_owned()), (&"psk_nope".to_owned(), &key)] {
        assert_errors(
            send(&app, path, Some(header), &with_key(body)).await,
            json!({"apiKey": ["The apiKey field must equal the api-key header."]}),
        )
        .await;
    }

    // Missing: the document's validation shape, exactly.
    let response = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .header("x-request-id", "698b5f0f-6a3e-4d7b-a2e6-9025a1a7cf8e")
        .body(report("completed", "K-1").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"type":"https://tools.ietf.org/html/rfc7231#section-6.5.1","title":"One or more validation errors occurred.","status":400,"traceId":"698b5f0f-6a3e-4d7b-a2e6-9025a1a7cf8e","errors":{"apiKey":["The apiKey field is required."]}}"#
    );
    // An empty header and a null property are missing too; all errors come at once.
    let mut null_key = with_key("x");
    null_key["apiKey"] = Value::Null;
    null_key["status"] = "nope".into();
    assert_errors(
        send(&app, path, Some(""), &null_key).await,
        json!({"apiKey": ["The apiKey field is required."], "status": [ALLOWED]}),
    )
    .await;

    // Unknown, wrong, garbage, revoked: one 401, the same body every time (same trace id sent).
    let mut wrong_secret = key.clone();
    let last = wrong_secret.pop().unwrap();
    wrong_secret.push(if last == 'A' { 'B' } else { 'A' });
    let revoked = app.revoked_key(Source::Teljoy).await;
    let mut bodies = Vec::new();
    for presented in [
        "psk_0192f3c4000000000000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        wrong_secret.as_str(),
        "not-a-key",
        revoked.as_str(),
    ] {
        for in_header in [true, false] {
            let (header, body) =
                if in_header { (Some(presented), report("completed", "K-1")) } else { (None, with_key(presented)) };
            let mut request = app
                .client
                .post(app.url(path))
                .header("content-type", "application/json")
                .header("x-request-id", "trace-401")
                .body(body.to_string());
            if let Some(header) = header {
                request = request.header("api-key", header);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401);
            assert_eq!(response.headers()["content-type"], "application/problem+json; charset=utf-8");
            bodies.push(response.text().await.unwrap());
        }
    }
    assert!(bodies.iter().all(|b| *b == bodies[0]), "{bodies:?}");
    assert_eq!(
        bodies[0],
        r#"{"type":"https://tools.ietf.org/html/rfc7235#section-3.1","title":"Unauthorized","status":401,"traceId":"trace-401"}"#
    );

    // A key limited to another API, or a read-only key, is refused with 403.
    let gormic = app.key(Scope::Admin, Some(Source::Gormic)).await;
    let read = app.key(Scope::Read, Some(Source::Teljoy)).await;
    for refused in [gormic, read] {
        assert_teljoy_problem(send(&app, path, Some(&refused), &report("completed", "K-1")).await, 403).await;
    }
    // An unlimited admin key works here too.
    assert_success(send(&app, path, Some(&app.admin_key), &report("pending", "K-1")).await).await;
    assert_eq!(payment(&app, id).await["status"], "pending");
}
api_test!(the_key_comes_from_the_header_or_the_body_and_must_agree);

async fn another_tenants_payment_is_not_found(app: TestApp) {
    let id = order_with_payment(&app, "76144", Some("590fbc3e-784e-4519-95b0-08db35c30d2b")).await;
    let (other_tenant, other_admin) = app.other_tenant().await;
    let other_key = app.key_of(&other_tenant, Scope::Write, Some(Source::Teljoy)).await;
    let body = report("completed", "76144");
    for path in [
        format!("/api/v1/status/{id}"),
        "/api/v1/status/590fbc3e-784e-4519-95b0-08db35c30d2b".into(),
        format!("/api/status/{id}"),
    ] {
        let response = send(&app, &path, Some(&other_key), &body).await;
        let problem = assert_teljoy_problem(response, 404).await;
        assert_eq!(problem["title"], "Not Found");
    }
    let untouched = payment(&app, &id).await;
    assert_eq!((untouched["version"].as_i64(), untouched["status"].as_str()), (Some(1), Some("open")));

    // The other tenant's own order 76144 with the same external id is theirs alone.
    let create = |path: &'static str, body: Value| app.post_json_as(path, &other_admin, body);
    let theirs = create("/v1/orders", json!({"reference": "76144", "currency": "ZAR", "total_amount": 100})).await;
    let theirs = create(
        "/v1/payments",
        json!({"order_id": theirs["id"], "amount": 100, "external_id": "590fbc3e-784e-4519-95b0-08db35c30d2b"}),
    )
    .await;
    let path = "/api/v1/status/590fbc3e-784e-4519-95b0-08db35c30d2b";
    assert_success(send(&app, path, Some(&other_key), &body).await).await;
    let theirs = app.get_json_as(&format!("/v1/payments/{}", theirs["id"].as_str().unwrap()), &other_admin).await;
    assert_eq!(theirs["status"], "paid");
    assert_eq!(payment(&app, &id).await["status"], "open", "ours did not move");

    // Ids no payment can have, and unknown ones, are 404 too; unauthenticated callers get 401 first.
    let key = app.key(Scope::Write, Some(Source::Teljoy)).await;
    let long = format!("/api/v1/status/{}", "x".repeat(300));
    for path in
        ["/api/v1/status/nope", "/api/v1/status/pay_0192f3c4000000000000000000000000", "/api/v1/status/a%0Ab", &long]
    {
        assert_teljoy_problem(send(&app, path, Some(&key), &body).await, 404).await;
    }
    assert_teljoy_problem(send(&app, "/api/v1/status/nope", Some("psk_x"), &body).await, 401).await;
}
api_test!(another_tenants_payment_is_not_found);

async fn completed_after_cancelled_is_a_conflict_flagged_for_review(app: TestApp) {
    let key = app.key(Scope::Write, Some(Source::Teljoy)).await;
    let id = order_with_payment(&app, "X-1", Some("ext-X-1")).await;
    let path = "/api/v1/status/ext-X-1";
    assert_success(send(&app, path, Some(&key), &report("cancelled", "X-1")).await).await;
    for _ in 0..2 {
        let response = send(&app, path, Some(&key), &report("completed", "X-1")).await;
        let problem = assert_teljoy_problem(response, 409).await;
        assert_eq!(problem["title"], "Conflict");
        assert_eq!(
            problem["detail"],
            "The payment is canceled; the status \"completed\" contradicts it. The report is recorded and the payment is flagged for review."
        );
    }
    let flagged = payment(&app, &id).await;
    assert_eq!(flagged["status"], "canceled", "a conflict never moves the payment");
    assert_eq!(flagged["needs_review"], true);
    let events = payment_events(&app, &id).await;
    assert_eq!(
        kinds(&events),
        ["payment.created", "payment.updated", "payment.status_changed", "payment.conflict", "payment.conflict"]
    );
    assert_eq!(events[3]["detail"]["reported_status"], "paid");
    assert_eq!(events[3]["detail"]["current_status"], "canceled");
    let review: Value = app.get("/v1/payments?needs_review=true").await.json().await.unwrap();
    assert_eq!(review["data"][0]["id"], id);

    // A refund of a payment that was never paid contradicts it as well.
    let unpaid = order_with_payment(&app, "X-2", None).await;
    let response = send(&app, &format!("/api/v1/status/{unpaid}"), Some(&key), &report("refunded", "X-2")).await;
    assert_teljoy_problem(response, 409).await;
    let unpaid = payment(&app, &unpaid).await;
    assert_eq!((unpaid["status"].as_str(), unpaid["needs_review"].as_bool()), (Some("open"), Some(true)));
    assert_eq!(unpaid["amount_refunded"], 0);

    // A deleted payment takes no report.
    let deleted = order_with_payment(&app, "X-3", None).await;
    let response =
        app.request(Method::DELETE, &format!("/v1/payments/{deleted}"), &app.admin_key).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let response = send(&app, &format!("/api/v1/status/{deleted}"), Some(&key), &report("completed", "X-3")).await;
    assert_teljoy_problem(response, 409).await;
}
api_test!(completed_after_cancelled_is_a_conflict_flagged_for_review);

async fn replays_and_late_reports_are_accepted_once(app: TestApp) {
    let key = app.key(Scope::Write, Some(Source::Teljoy)).await;
    let id = order_with_payment(&app, "R-1", None).await;
    let path = format!("/api/v1/status/{id}");
    for _ in 0..3 {
        assert_success(send(&app, &path, Some(&key), &report("processing", "R-1")).await).await;
    }
    assert_success(send(&app, &path, Some(&key), &report("completed", "R-1")).await).await;
    let paid = payment(&app, &id).await;
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["version"], 3, "the seed kept, then one change for four reports of paid");
    // A pending delivered late is acknowledged and recorded, and changes nothing.
    assert_success(send(&app, &path, Some(&key), &report("on-hold", "R-1")).await).await;
    assert_eq!(payment(&app, &id).await["status"], "paid");
    let events = payment_events(&app, &id).await;
    assert_eq!(
        kinds(&events),
        ["payment.created", "payment.updated", "payment.status_changed", "payment.stale_update"]
    );

    // Concurrent identical reports: one change, every answer a success.
    let id = order_with_payment(&app, "R-2", None).await;
    let path = format!("/api/status/{id}");
    let body = report("completed", "R-2");
    let answers = futures::future::join_all((0..6).map(|_| send(&app, &path, Some(&key), &body))).await;
    for answer in answers {
        assert_success(answer).await;
    }
    assert_eq!(
        kinds(&payment_events(&app, &id).await),
        ["payment.created", "payment.updated", "payment.status_changed"]
    );
}
api_test!(replays_and_late_reports_are_accepted_once);

async fn bad_input_gets_a_4xx_problem_and_writes_nothing(app: TestApp) {
    let key = app.key(Scope::Write, Some(Source::Teljoy)).await;
    let id = order_with_payment(&app, "B-1", None).await;
    let path = format!("/api/v1/status/{id}");
    let json = "application/json";
    let deep = format!("{{\"status\": \"completed\", \"x\": {}{}}}", "[".repeat(10_000), "]".repeat(10_000));
    let cases: Vec<(&str, &str, String, Value)> = vec![
        ("malformed", json, "{\"status\": ".into(), json!({"$": ["The request body is not valid JSON."]})),
        ("not an object", json, "[]".into(), json!({"$": ["The request body must be a JSON object."]})),
        ("a string", json, "\"completed\"".into(), json!({"$": ["The request body must be a JSON object."]})),
        ("empty", json, String::new(), json!({"": ["A non-empty request body is required."]})),
        ("deep nesting", json, deep, json!({"$": ["The request body is not valid JSON."]})),
        ("NaN", json, "{\"status\": NaN}".into(), json!({"$": ["The request body is not valid JSON."]})),
        (
            "escaped NUL",
            json,
            "{\"status\": \"completed\\u0000\"}".into(),
            json!({"$": ["NUL characters are not accepted."]}),
        ),
        ("raw NUL", json, "{\"status\": \"completed\0\"}".into(), json!({"$": ["NUL characters are not accepted."]})),
        (
            "text/json is JSON",
            "text/json; charset=utf-8",
            "{}".into(),
            json!({"status": ["The status field is required."]}),
        ),
    ];
    for (case, content_type, body, expected) in cases {
        let response = send_raw(&app, &path, Some(&key), content_type, body).await;
        let problem = assert_teljoy_problem(response, 400).await;
        assert_eq!(problem["errors"], expected, "{case}");
    }
    for content_type in ["application/x-www-form-urlencoded", "text/plain"] {
        let response = send_raw(&app, &path, Some(&key), content_type, "status=completed").await;
        assert_teljoy_problem(response, 415).await;
    }
    let no_type = app.client.post(app.url(&path)).header("api-key", &key).body("{}").send().await.unwrap();
    assert_teljoy_problem(no_type, 415).await;
    // An oversized body on a connection of its own (a client writing it all may see the close).
    let headers = [("api-key", key.as_str()), ("content-type", json)];
    let huge = crate::helpers::oversized_request(&app, &format!("POST {path}"), &headers, "{\"status\": \"").await;
    assert_eq!(huge.status, "HTTP/1.1 413 Payload Too Large");
    let problem: Value = serde_json::from_str(&huge.body).unwrap();
    assert_eq!(problem["status"], 413);
    assert!(problem["traceId"].is_string(), "{problem}");
    for method in [Method::PUT, Method::PATCH, Method::DELETE] {
        let response = app.client.request(method.clone(), app.url(&path)).header("api-key", &key).send().await.unwrap();
        assert_eq!(response.headers()["allow"], "GET, HEAD, POST", "{method}");
        assert_teljoy_problem(response, 405).await;
    }
    let untouched = payment(&app, &id).await;
    assert_eq!(untouched["version"], 1);
    assert_eq!(payment_events(&app, &id).await.len(), 1);
}
api_test!(bad_input_gets_a_4xx_problem_and_writes_nothing);

async fn the_endpoint_is_in_the_openapi_document(app: TestApp) {
    let openapi: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    for path in ["/api/v1/status/{payment-id}", "/api/status/{payment-id}"] {
        let operation = &openapi["paths"][path]["post"];
        assert!(operation.is_object(), "{path}");
        assert_eq!(operation["parameters"][0]["name"], "payment-id");
        assert!(operation["operationId"].as_str().unwrap().starts_with("teljoy_"), "{path}");
        for code in ["200", "400", "401", "403", "404", "409", "415", "500"] {
            assert!(operation["responses"][code]["description"].is_string(), "{path} {code}");
        }
    }
    let schemas = &openapi["components"]["schemas"];
    for name in ["TeljoyStatusRequest", "TeljoyStatusResponse", "TeljoyProblem"] {
        assert!(schemas[name].is_object(), "{name}");
    }
    assert!(schemas["TeljoyStatusRequest"]["properties"]["trust_Seed"].is_object());
    assert_eq!(openapi["components"]["securitySchemes"]["teljoy_api_key"]["name"], "api-key");
}
api_test!(the_endpoint_is_in_the_openapi_document);
