//! The Teljoy dialect as Teljoy's own WooCommerce plugins use it: the status report they build by
//! hand (lowercase keys, tabs, extra headers, a compact JSON seed), statuses other plugins add,
//! and the read-back `GET /api/status/{transaction-id}` with its `trust_signature`.

use crate::api_test;
use crate::dialect_teljoy::{
    ALLOWED, assert_errors, assert_success, assert_teljoy_problem, kinds, md5_hex, order_with_payment, payment,
    payment_events, report, seed_of, send, set_verify_trust,
};
use crate::helpers::TestApp;
use paystate_domain::Source;
use paystate_store::Scope;
use reqwest::{Method, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// What the plugins check: hex SHA-256 of (hex MD5 of the order id, then the seed they sent).
fn signature(order_id: &str, seed: &str) -> String {
    hex::encode(Sha256::digest(format!("{}{seed}", md5_hex(order_id)).as_bytes()))
}

/// A status report as the plugins write it: by hand, tab-indented, lowercase keys, an empty
/// `alt_trust_value`.
fn plugin_body(status: &str, order_id: &str, seed: &str) -> String {
    format!(
        "{{\n\t\"status\": \"{status}\",\n\t\"trust_value\": \"{}\",\n\t\"trust_seed\": \"{seed}\",\n\t\"alt_trust_value\": \"\"\n}}",
        md5_hex(order_id)
    )
}

/// The headers the plugins add beside the key.
fn plugin_request(app: &TestApp, method: Method, path: &str, key: &str) -> reqwest::RequestBuilder {
    app.client
        .request(method, app.url(path))
        .header("api-key", key)
        .header("api-version", "1.2")
        .header("environment", r#"{"platform":"woocommerce","platform_version":"8.9.3","plugin_version":"2.4.1"}"#)
        .header(
            "user-agent",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
        )
}

async fn read(app: &TestApp, path: &str, key: &str) -> Response {
    plugin_request(app, Method::GET, path, key).send().await.unwrap()
}

/// Asserts a 200 read-back; answers its body.
async fn assert_read(response: Response) -> Value {
    let status = response.status();
    let content_type = response.headers()["content-type"].clone();
    let cache = response.headers().get("cache-control").cloned();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    assert_eq!(content_type, "application/json; charset=utf-8");
    assert_eq!(cache.unwrap(), "no-store");
    let body: Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["order_id", "status", "trust_signature"], "{text}");
    body
}

async fn native_status(app: &TestApp, id: &str, status: &str) {
    let response = app.post(&format!("/v1/payments/{id}/status"), json!({"status": status})).await;
    assert_eq!(response.status(), 200, "{status}");
}

async fn the_plugins_hand_built_report_and_read_back_work(app: TestApp) {
    let id = order_with_payment(&app, "51234", Some("7d1f9c60-2f3e-4c0e-9a51-0b6f4f1b2c3d")).await;
    let key = app.key(Scope::Write, Some(Source::Teljoy)).await;
    // Current plugins: a compact JSON array of the order's products.
    let seed = seed_of(
        &json!([{"sku":"100L5F","quantity":1,"price":"12657.00"},{"sku":"HDMI-2","quantity":2,"price":"99.00"}]),
    );
    let path = "/api/status/7d1f9c60-2f3e-4c0e-9a51-0b6f4f1b2c3d";
    for status in ["pending", "processing"] {
        let response = plugin_request(&app, Method::POST, path, &key)
            .header("content-type", "application/json; charset=UTF-8")
            .body(plugin_body(status, "51234", &seed))
            .send()
            .await
            .unwrap();
        assert_success(response).await;
    }
    let paid = payment(&app, &id).await;
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["attrs"]["teljoy"]["trust_seed"], seed, "the seed is kept with the payment");
    let events = payment_events(&app, &id).await;
    assert_eq!(
        kinds(&events),
        ["payment.created", "payment.updated", "payment.status_changed", "payment.status_changed"]
    );
    let kept: Value = serde_json::from_str(events[3]["request_body"].as_str().unwrap()).unwrap();
    assert_eq!(kept["alt_trust_value"], "");
    assert_eq!(kept["trust_Seed_decoded"][1]["sku"], "HDMI-2");

    // The plugins read it back at the same path, and under /v1, by either id.
    let expected = json!({"order_id": "51234", "status": "complete", "trust_signature": signature("51234", &seed)});
    for path in [path.to_owned(), format!("/api/v1/status/{id}"), format!("/api/status/{id}")] {
        assert_eq!(assert_read(read(&app, &path, &key).await).await, expected, "{path}");
    }
    // HEAD answers the headers of GET.
    let head = plugin_request(&app, Method::HEAD, path, &key).send().await.unwrap();
    assert_eq!(head.status(), 200);
    // Reading changes nothing.
    assert_eq!(payment(&app, &id).await["version"], paid["version"]);

    // The document's own seed, a fragment that is not valid JSON, is kept as sent and signed so.
    let fragment = crate::dialect_teljoy::DOCUMENT_SEED;
    let other = order_with_payment(&app, "76144", None).await;
    let response = plugin_request(&app, Method::POST, &format!("/api/status/{other}"), &key)
        .header("content-type", "application/json")
        .body(plugin_body("on-hold", "76144", fragment))
        .send()
        .await
        .unwrap();
    assert_success(response).await;
    let back = assert_read(read(&app, &format!("/api/status/{other}"), &key).await).await;
    assert_eq!(
        back,
        json!({"order_id": "76144", "status": "pending", "trust_signature": signature("76144", fragment)})
    );
}
api_test!(the_plugins_hand_built_report_and_read_back_work);

async fn statuses_other_plugins_add_are_refused_naming_the_field(app: TestApp) {
    let key = app.key(Scope::Write, Some(Source::Teljoy)).await;
    let id = order_with_payment(&app, "S-1", None).await;
    let path = format!("/api/status/{id}");
    for status in ["shipped", "ready-to-ship", "delivered", "wc-completed", "draft", "trash", "partially-paid"] {
        assert_errors(send(&app, &path, Some(&key), &report(status, "S-1")).await, json!({"status": [ALLOWED]})).await;
    }
    assert_eq!(payment(&app, &id).await["version"], 1, "a refused report writes nothing");

    // WooCommerce's own checkout draft is known: the first status a payment has, so it never moves one.
    assert_success(send(&app, &path, Some(&key), &report("checkout-draft", "S-1")).await).await;
    assert_eq!(payment(&app, &id).await["status"], "open");
    assert_success(send(&app, &path, Some(&key), &report("completed", "S-1")).await).await;
    assert_success(send(&app, &path, Some(&key), &report("Checkout-Draft", "S-1")).await).await;
    let paid = payment(&app, &id).await;
    assert_eq!(paid["status"], "paid");
    assert_eq!(kinds(&payment_events(&app, &id).await).last().unwrap(), "payment.stale_update");
}
api_test!(statuses_other_plugins_add_are_refused_naming_the_field);

async fn every_status_reads_back_as_one_of_the_five(app: TestApp) {
    let key = app.key(Scope::Read, Some(Source::Teljoy)).await;
    let order = app.order("R-77", 1000).await;
    let order_id = order["id"].as_str().unwrap();
    // (native statuses reported in turn, what the plugins read)
    let table: [(&[&str], &str); 8] = [
        (&[], "pending"),
        (&["pending"], "pending"),
        (&["authorized"], "confirmed"),
        (&["paid"], "complete"),
        (&["failed"], "failed"),
        (&["expired"], "cancelled"),
        (&["canceled"], "cancelled"),
        (&["paid", "reversed"], "cancelled"),
    ];
    for (statuses, expected) in table {
        let id = app.payment(order_id, 1000, None).await["id"].as_str().unwrap().to_owned();
        for status in statuses {
            native_status(&app, &id, status).await;
        }
        let back = assert_read(read(&app, &format!("/api/status/{id}"), &key).await).await;
        assert_eq!(back["status"], expected, "{statuses:?}");
        assert_eq!(back["order_id"], "R-77");
        // No seed was ever sent: the signature covers the order id alone.
        assert_eq!(back["trust_signature"], signature("R-77", ""));
    }

    // A refund is a fact about a paid payment: still complete.
    let refunded = app.payment(order_id, 1000, None).await["id"].as_str().unwrap().to_owned();
    native_status(&app, &refunded, "paid").await;
    let response = app.post(&format!("/v1/payments/{refunded}/refunds"), json!({})).await;
    assert_eq!(response.status(), 200);
    let back = assert_read(read(&app, &format!("/api/v1/status/{refunded}"), &key).await).await;
    assert_eq!(back["status"], "complete");

    // A deleted payment is cancelled for the shop.
    let deleted = app.payment(order_id, 1000, None).await["id"].as_str().unwrap().to_owned();
    let response =
        app.request(Method::DELETE, &format!("/v1/payments/{deleted}"), &app.admin_key).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let back = assert_read(read(&app, &format!("/api/status/{deleted}"), &key).await).await;
    assert_eq!(back["status"], "cancelled");
}
api_test!(every_status_reads_back_as_one_of_the_five);

async fn the_signature_follows_the_seed_the_shop_sent_last(app: TestApp) {
    let key = app.key(Scope::Write, Some(Source::Teljoy)).await;
    let id = order_with_payment(&app, "G-9", None).await;
    let path = format!("/api/status/{id}");
    let first = seed_of(&json!([{"sku": "A"}]));
    let second = seed_of(&json!([{"sku": "A"}, {"sku": "B"}]));
    let send_seed = |status: &'static str, seed: String| {
        let body = json!({"status": status, "trust_value": md5_hex("G-9"), "trust_seed": seed});
        let path = path.clone();
        let key = key.clone();
        let app = &app;
        async move { send(app, &path, Some(&key), &body).await }
    };

    // Paid through the native API first: the shop's first report changes no status, and its seed
    // is still kept (a settled payment's field changes only as an audited correction).
    native_status(&app, &id, "paid").await;
    assert_success(send_seed("completed", first.clone()).await).await;
    let back = assert_read(read(&app, &path, &key).await).await;
    assert_eq!(back["trust_signature"], signature("G-9", &first));
    let events = payment_events(&app, &id).await;
    assert_eq!(kinds(&events), ["payment.created", "payment.status_changed", "payment.updated"]);
    assert_eq!(events[2]["source"], "teljoy");
    assert_eq!(events[2]["detail"]["correction"], true);
    assert_eq!(events[2]["detail"]["after"]["attrs"]["teljoy"]["trust_seed"], first);

    // The same seed again writes nothing; a new one (the order was edited) replaces it.
    assert_success(send_seed("completed", first.clone()).await).await;
    assert_eq!(payment_events(&app, &id).await.len(), 3);
    assert_success(send_seed("completed", second.clone()).await).await;
    let back = assert_read(read(&app, &path, &key).await).await;
    assert_eq!(back["trust_signature"], signature("G-9", &second));

    // A seed that fails the trust checks is not kept (nothing is written).
    let response = send_seed("completed", "not base64!".into()).await;
    assert_teljoy_problem(response, 400).await;
    assert_eq!(payment(&app, &id).await["attrs"]["teljoy"]["trust_seed"], second);

    // With the checks off, the seed is kept as sent, whatever it is; other attrs stay.
    let other = order_with_payment(&app, "G-10", None).await;
    let response = app.patch(&format!("/v1/payments/{other}"), json!({"attrs": {"till": 3}})).await;
    assert_eq!(response.status(), 200);
    set_verify_trust(&app, json!(false)).await;
    let body = json!({"status": "pending", "trust_seed": "your-trust-seed"});
    assert_success(send(&app, &format!("/api/status/{other}"), Some(&key), &body).await).await;
    assert_eq!(payment(&app, &other).await["attrs"], json!({"till": 3, "teljoy": {"trust_seed": "your-trust-seed"}}));
    let back = assert_read(read(&app, &format!("/api/status/{other}"), &key).await).await;
    assert_eq!(back["trust_signature"], signature("G-10", "your-trust-seed"));
}
api_test!(the_signature_follows_the_seed_the_shop_sent_last);

async fn the_read_back_needs_one_good_key_of_the_tenant(app: TestApp) {
    let id = order_with_payment(&app, "76144", Some("590fbc3e-784e-4519-95b0-08db35c30d2b")).await;
    let path = format!("/api/status/{id}");
    let key = app.key(Scope::Write, Some(Source::Teljoy)).await;
    let other_key = app.key(Scope::Write, Some(Source::Teljoy)).await;
    let mut wrong_secret = key.clone();
    let last = wrong_secret.pop().unwrap();
    wrong_secret.push(if last == 'A' { 'B' } else { 'A' });
    let revoked = app.revoked_key(Source::Teljoy).await;

    // Missing, empty, repeated (even twice the same valid key, or two valid keys), unknown,
    // wrong, revoked: one 401, the same body every time.
    let mut bodies = Vec::new();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("missing", vec![]),
        ("empty", vec![""]),
        ("blank", vec!["  "]),
        ("repeated", vec![&key, &key]),
        ("two keys", vec![&key, &other_key]),
        ("unknown", vec!["psk_0192f3c4000000000000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]),
        ("wrong", vec![&wrong_secret]),
        ("garbage", vec!["not-a-key"]),
        ("revoked", vec![&revoked]),
    ];
    for (case, keys) in cases {
        let mut request = app.client.get(app.url(&path)).header("x-request-id", "trace-401");
        for key in keys {
            request = request.header("api-key", key);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{case}");
        assert_eq!(response.headers()["content-type"], "application/problem+json; charset=utf-8", "{case}");
        bodies.push(response.text().await.unwrap());
    }
    assert!(bodies.iter().all(|b| *b == bodies[0]), "{bodies:?}");
    assert_eq!(
        bodies[0],
        r#"{"type":"https://tools.ietf.org/html/rfc7235#section-3.1","title":"Unauthorized","status":401,"traceId":"trace-401"}"#
    );
    // The body's apiKey of the status report is no way in: a GET has no body to carry it.
    let response = app
        .client
        .get(app.url(&path))
        .header("content-type", "application/json")
        .body(json!({"apiKey": key}).to_string())
        .send()
        .await
        .unwrap();
    assert_teljoy_problem(response, 401).await;

    // Any scope reads; an unlimited admin key too; a key limited to another API is 403.
    for reader in
        [app.key(Scope::Read, Some(Source::Teljoy)).await, app.key(Scope::Read, None).await, app.admin_key.clone()]
    {
        assert_eq!(assert_read(read(&app, &path, &reader).await).await["order_id"], "76144");
    }
    let gormic = app.key(Scope::Admin, Some(Source::Gormic)).await;
    assert_teljoy_problem(read(&app, &path, &gormic).await, 403).await;

    // Another tenant's transaction, by either id, is not found; so are ids no payment can have.
    let (other_tenant, _) = app.other_tenant().await;
    let theirs = app.key_of(&other_tenant, Scope::Write, Some(Source::Teljoy)).await;
    let long = format!("/api/status/{}", "x".repeat(300));
    for path in [
        path.clone(),
        "/api/v1/status/590fbc3e-784e-4519-95b0-08db35c30d2b".to_owned(),
        "/api/status/pay_0192f3c4000000000000000000000000".to_owned(),
        "/api/status/a%0Ab".to_owned(),
        long,
    ] {
        let problem = assert_teljoy_problem(read(&app, &path, &theirs).await, 404).await;
        assert_eq!(problem["title"], "Not Found", "{path}");
    }
    // Unauthenticated callers learn nothing of ids: 401 before 404.
    assert_teljoy_problem(read(&app, "/api/status/nope", "psk_x").await, 401).await;
}
api_test!(the_read_back_needs_one_good_key_of_the_tenant);

async fn the_read_back_is_in_the_openapi_document(app: TestApp) {
    let openapi: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    for path in ["/api/v1/status/{payment-id}", "/api/status/{payment-id}"] {
        let operation = &openapi["paths"][path]["get"];
        assert!(operation["operationId"].as_str().unwrap().starts_with("teljoy_read_status"), "{path}");
        assert_eq!(operation["parameters"][0]["name"], "payment-id");
        assert_eq!(operation["security"][0]["teljoy_api_key"], json!([]));
        for code in ["200", "401", "403", "404", "500", "503"] {
            assert!(operation["responses"][code]["description"].is_string(), "{path} {code}");
        }
        let schema = &operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"];
        assert_eq!(schema, "#/components/schemas/TeljoyStatusReadBack", "{path}");
    }
    let schema = &openapi["components"]["schemas"]["TeljoyStatusReadBack"];
    for member in ["order_id", "status", "trust_signature"] {
        assert!(schema["properties"][member].is_object(), "{member}");
    }
    let request = &openapi["components"]["schemas"]["TeljoyStatusRequest"]["properties"]["status"]["pattern"];
    assert!(request.as_str().unwrap().contains("checkout-draft"));
}
api_test!(the_read_back_is_in_the_openapi_document);
