//! The ops endpoints: health, readiness, request ids, metrics, the OpenAPI document and the docs page.

use crate::api_test;
use crate::helpers::TestApp;

async fn health_readiness_metrics_and_docs(app: TestApp) {
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(health.headers().contains_key("x-request-id"));
    let ready: serde_json::Value = app.client.get(app.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready");

    // A request id the caller sends comes back; an unusable one is replaced.
    let echoed = app.client.get(app.url("/healthz")).header("x-request-id", "abc-123").send().await.unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "abc-123");
    let replaced =
        app.client.get(app.url("/healthz")).header("x-request-id", "bad id with spaces").send().await.unwrap();
    assert_ne!(replaced.headers()["x-request-id"], "bad id with spaces");

    app.order("M-1", 100).await;
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("paystate_http_requests_total{route=\"/v1/orders\",method=\"POST\",status=\"201\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("paystate_http_request_duration_seconds"));

    // The SQLite server reads payments through its cache, and says how it does; PostgreSQL's
    // instances share their database and keep none.
    let order = app.order("M-2", 100).await;
    let payment = app.payment(order["id"].as_str().unwrap(), 100, None).await;
    let path = format!("/v1/payments/{}", payment["id"].as_str().unwrap());
    for _ in 0..2 {
        assert_eq!(app.get(&path).await.status(), 200);
    }
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    if app.ledger.store().backend() == "sqlite" {
        let hits = metrics.lines().find_map(|line| line.strip_prefix("paystate_payment_cache_hits_total "));
        assert!(hits.and_then(|n| n.parse::<u64>().ok()).is_some_and(|n| n >= 2), "{metrics}");
        assert!(metrics.contains("paystate_payment_cache_bytes "), "{metrics}");
    } else {
        assert!(!metrics.contains("paystate_payment_cache"), "{metrics}");
    }

    let openapi: serde_json::Value =
        app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(openapi["paths"]["/v1/payments/{id}/status"]["post"].is_object());
    assert!(openapi["components"]["schemas"]["Payment"].is_object());
    let docs = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    let page = docs.text().await.unwrap();
    assert!(page.contains("swagger"), "the docs page is served by paystate itself");
    assert!(!page.contains("unpkg.com") && !page.contains("cdn."), "no assets from a CDN");

    let missing = app.client.get(app.url("/nope")).send().await.unwrap();
    crate::helpers::assert_problem(missing, 404, "not-found").await;
}
api_test!(health_readiness_metrics_and_docs);
