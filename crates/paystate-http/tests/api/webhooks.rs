//! Outgoing webhooks end to end: endpoints through the API, deliveries through real dispatchers
//! to a real HTTP receiver on 127.0.0.1, signatures checked the way a receiver checks them.

use crate::api_test;
use crate::helpers::{TestApp, assert_problem};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use paystate_webhooks::{Dispatcher, DispatcherConfig, WebhookMetrics};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the receiver answers to one request.
#[derive(Clone, Debug)]
enum Reply {
    Status(u16),
    RetryAfter(u16, u64),
    /// Answers 200 after this long (longer than the dispatcher's timeout: a timeout).
    Slow(Duration),
    Redirect(&'static str),
}

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    id: String,
    timestamp: String,
    signature: String,
    body: String,
    at: Instant,
}

#[derive(Clone, Default)]
struct Receiver {
    replies: Arc<Mutex<VecDeque<Reply>>>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// A receiver on 127.0.0.1:0 answering `replies` in turn, then 200 "ok"; answers its URL.
    async fn start(replies: Vec<Reply>) -> (Receiver, String) {
        let receiver = Receiver { replies: Arc::new(Mutex::new(replies.into())), ..Default::default() };
        let state = receiver.clone();
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let state = state.clone();
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
                let header =
                    |name: &str| parts.headers.get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
                state.received.lock().unwrap().push(Received {
                    path: parts.uri.path().to_owned(),
                    id: header("webhook-id"),
                    timestamp: header("webhook-timestamp"),
                    signature: header("webhook-signature"),
                    body: String::from_utf8(body.to_vec()).unwrap(),
                    at: Instant::now(),
                });
                let reply = state.replies.lock().unwrap().pop_front().unwrap_or(Reply::Status(200));
                use axum::response::IntoResponse;
                let status = |code: u16| axum::http::StatusCode::from_u16(code).unwrap();
                match reply {
                    Reply::Status(code) => (status(code), "ok").into_response(),
                    Reply::RetryAfter(code, seconds) => {
                        (status(code), [("retry-after", seconds.to_string())], "later").into_response()
                    }
                    Reply::Slow(delay) => {
                        tokio::time::sleep(delay).await;
                        (status(200), "late").into_response()
                    }
                    Reply::Redirect(to) => (status(302), [("location", to)], "moved").into_response(),
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// Verifies a request as a receiver would, per Standard Webhooks: HMAC-SHA256 of
/// `id.timestamp.body` keyed with the secret's decoded bytes, against any `v1,` signature.
fn verifies(secret: &str, request: &Received) -> bool {
    let key = STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", request.id, request.timestamp, request.body).as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    request.signature.split(' ').any(|signature| signature == expected)
}

/// Fast rules for tests: retries after 200 ms (three of them), a 1 s timeout.
fn fast_config() -> DispatcherConfig {
    DispatcherConfig {
        schedule: vec![
            Duration::ZERO,
            Duration::from_millis(200),
            Duration::from_millis(200),
            Duration::from_millis(200),
        ],
        jitter: 0.0,
        timeout: Duration::from_secs(1),
        lease: Duration::from_secs(5),
        poll_interval: Duration::from_millis(50),
        batch_size: 8,
        stats_interval: Duration::from_millis(100),
        allow_private_networks: true,
        ..DispatcherConfig::default()
    }
}

/// A dispatcher on the app's database; it stops when the returned sender is dropped.
fn start_dispatcher(app: &TestApp, config: DispatcherConfig) -> tokio::sync::oneshot::Sender<()> {
    let dispatcher =
        Dispatcher::new(app.ledger.store().clone(), app.sealing_key.clone(), config, WebhookMetrics::default())
            .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(dispatcher.run(async move {
        let _ = stopped.await;
    }));
    stop
}

async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the first delivery to endpoint `id` is in `state`.
async fn first_delivery_reaches(app: &TestApp, id: &str, state: &str, what: &str) {
    wait_for(what, || async { deliveries_of_endpoint(app, id).await[0]["state"] == state }).await;
}

/// Waits until endpoint `id` has `value` in `field`.
async fn endpoint_reaches(app: &TestApp, id: &str, field: &str, value: Value, what: &str) {
    wait_for(what, || async {
        let endpoint: Value = app.get(&format!("/v1/webhook-endpoints/{id}")).await.json().await.unwrap();
        endpoint[field] == value
    })
    .await;
}

/// Creates an endpoint; answers its id and secret.
async fn endpoint(app: &TestApp, url: &str, events: Value) -> (String, String) {
    let response = app.post("/v1/webhook-endpoints", json!({"url": url, "events": events})).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    (body["id"].as_str().unwrap().to_owned(), body["secret"].as_str().unwrap().to_owned())
}

async fn deliveries_of_endpoint(app: &TestApp, id: &str) -> Vec<Value> {
    let body: Value = app.get(&format!("/v1/webhook-endpoints/{id}/deliveries?limit=100")).await.json().await.unwrap();
    body["data"].as_array().unwrap().clone()
}

async fn endpoints_are_managed_and_the_secret_is_shown_once(app: TestApp) {
    let create = || {
        let body =
            json!({"url": "https://hooks.example.com/in", "events": ["payment.status_changed"], "description": "ERP"});
        app.request(Method::POST, "/v1/webhook-endpoints", &app.admin_key)
            .header("idempotency-key", "create-hook-1")
            .json(&body)
            .send()
    };
    let created = create().await.unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("we_"));
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(STANDARD.decode(&secret[6..]).unwrap().len(), 32);
    assert_eq!(created["enabled"], true);
    assert_eq!(created["events"], json!(["payment.status_changed"]));

    // A replay of the creation does not show the secret again.
    let replayed = create().await.unwrap();
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    let replayed: Value = replayed.json().await.unwrap();
    assert_eq!(replayed["id"], created["id"]);
    assert_eq!(replayed["secret"], Value::Null);

    let one: Value = app.get(&format!("/v1/webhook-endpoints/{id}")).await.json().await.unwrap();
    assert_eq!(one["url"], "https://hooks.example.com/in");
    assert!(one.get("secret").is_none(), "{one}");
    let listed: Value = app.get("/v1/webhook-endpoints").await.json().await.unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains("whsec_"));

    let patched: Value = app
        .patch(&format!("/v1/webhook-endpoints/{id}"), json!({"events": ["*"], "description": null, "enabled": false}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!((patched["events"].clone(), patched["description"].clone()), (json!(["*"]), Value::Null));
    assert_eq!(patched["enabled"], false);

    for (body, field) in [
        (json!({"url": "ftp://hooks.example.com/", "events": ["*"]}), "url"),
        (json!({"url": "https://user:pw@hooks.example.com/", "events": ["*"]}), "url"),
        (json!({"url": "https://hooks.example.com/", "events": ["payment.paid"]}), "events"),
        (json!({"url": "https://hooks.example.com/", "events": []}), "events"),
    ] {
        let problem = assert_problem(app.post("/v1/webhook-endpoints", body).await, 400, "invalid-request").await;
        assert_eq!(problem["field"], field);
    }
    let write_key = app.key(paystate_store::Scope::Write, None).await;
    let refused = app
        .request(Method::POST, "/v1/webhook-endpoints", &write_key)
        .json(&json!({"url": "https://hooks.example.com/", "events": ["*"]}))
        .send()
        .await
        .unwrap();
    assert_problem(refused, 403, "forbidden").await;
    let (_, other_key) = app.other_tenant().await;
    let foreign = app.request(Method::GET, &format!("/v1/webhook-endpoints/{id}"), &other_key).send().await.unwrap();
    assert_problem(foreign, 404, "not-found").await;

    // The dispatcher's own source is no dialect a key may be limited to.
    let system_key = app.post("/v1/api-keys", json!({"scope": "write", "dialect": "system"})).await;
    assert_problem(system_key, 400, "invalid-request").await;

    let deleted =
        app.request(Method::DELETE, &format!("/v1/webhook-endpoints/{id}"), &app.admin_key).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    assert_problem(app.get(&format!("/v1/webhook-endpoints/{id}")).await, 404, "not-found").await;
}
api_test!(endpoints_are_managed_and_the_secret_is_shown_once);

async fn deliveries_are_signed_and_verify_as_a_receiver_would(app: TestApp) {
    let (receiver, url) = Receiver::start(vec![]).await;
    let (endpoint_id, secret) = endpoint(&app, &url, json!(["*"])).await;
    let (_, _other_secret) = endpoint(&app, &url, json!(["order.updated"])).await;
    let payment = app.paid_payment("S-1", 1500).await;
    let _stop = start_dispatcher(&app, fast_config());
    wait_for("five deliveries", || async { receiver.received().len() >= 5 }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = receiver.received();
    // `*` takes the tenant's set-up events too: the creation of both endpoints (its own included).
    let mut types: Vec<String> = received
        .iter()
        .map(|r| serde_json::from_str::<Value>(&r.body).unwrap()["type"].as_str().unwrap().to_owned())
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            "order.created",
            "payment.created",
            "payment.status_changed",
            "webhook_endpoint.created",
            "webhook_endpoint.created"
        ],
        "none for order.updated"
    );

    let events = app.events(0).await;
    // Deliveries go out concurrently, so they may arrive in any order: receivers order by seq.
    for request in &received {
        assert!(verifies(&secret, request), "the signature verifies with the endpoint's secret");
        assert_eq!(request.path, "/hooks");
        let event = events.iter().find(|e| e["id"] == request.id.as_str()).expect("webhook-id is the event id");
        let sent_at: i64 = request.timestamp.parse().unwrap();
        assert!((chrono::Utc::now().timestamp() - sent_at).abs() < 60);
        let body: Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(body["type"], event["type"]);
        assert_eq!(body["data"]["seq"], event["seq"]);
        assert!(body["timestamp"].as_str().is_some());
        let mut tampered = request.clone();
        tampered.body = tampered.body.replace("\"seq\"", "\"sequence\"");
        assert!(!verifies(&secret, &tampered));
    }
    let trail = app.trail(0).await;
    let last = received.iter().find(|r| r.id == trail[2]["id"].as_str().unwrap()).unwrap();
    let last: Value = serde_json::from_str(&last.body).unwrap();
    assert_eq!(last["type"], "payment.status_changed");
    assert_eq!(last["data"]["id"], payment["id"]);
    assert_eq!(last["data"]["status"], "paid");

    let event_id = trail[2]["id"].as_str().unwrap();
    let log: Value = app.get(&format!("/v1/events/{event_id}/deliveries")).await.json().await.unwrap();
    let delivery = &log["data"][0];
    assert_eq!(delivery["endpoint_id"], endpoint_id.as_str());
    assert_eq!(delivery["state"], "succeeded");
    assert_eq!(delivery["attempt_count"], 1);
    assert_eq!(delivery["attempts"][0]["status_code"], 200);
    assert_eq!(delivery["attempts"][0]["response_excerpt"], "ok");
    assert!(delivery["attempts"][0]["latency_ms"].as_u64().is_some());
    assert_eq!(delivery["payload"]["type"], "payment.status_changed");
}
api_test!(deliveries_are_signed_and_verify_as_a_receiver_would);

async fn a_rotated_secret_signs_beside_the_old_one(app: TestApp) {
    let (receiver, url) = Receiver::start(vec![]).await;
    let (id, old) = endpoint(&app, &url, json!(["order.created"])).await;
    let rotated = app.post(&format!("/v1/webhook-endpoints/{id}/rotate-secret"), json!({})).await;
    assert_eq!(rotated.status(), 200);
    let rotated: Value = rotated.json().await.unwrap();
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(rotated["previous_secret_expires_at"].as_str().is_some());
    let _stop = start_dispatcher(&app, fast_config());
    app.order("R-1", 100).await;
    wait_for("the first delivery", || async { receiver.received().len() == 1 }).await;
    let request = &receiver.received()[0];
    let signatures: Vec<&str> = request.signature.split(' ').collect();
    assert_eq!(signatures.len(), 2, "both secrets sign during the grace period");
    assert!(verifies(&old, request) && verifies(&new, request));
    for (secret, signature) in [(&new, signatures[0]), (&old, signatures[1])] {
        let alone = Received { signature: signature.to_owned(), ..request.clone() };
        assert!(verifies(secret, &alone), "each signature verifies with its own secret");
    }

    // Without a grace period the previous secret stops at once.
    let rotated: Value = app
        .post(&format!("/v1/webhook-endpoints/{id}/rotate-secret"), json!({"grace_period_seconds": 0}))
        .await
        .json()
        .await
        .unwrap();
    let newest = rotated["secret"].as_str().unwrap().to_owned();
    assert_eq!(rotated["previous_secret_expires_at"], Value::Null);
    app.order("R-2", 100).await;
    wait_for("the second delivery", || async { receiver.received().len() == 2 }).await;
    let request = &receiver.received()[1];
    assert_eq!(request.signature.split(' ').count(), 1);
    assert!(verifies(&newest, request));
    assert!(!verifies(&new, request) && !verifies(&old, request));
    let bad = app.post(&format!("/v1/webhook-endpoints/{id}/rotate-secret"), json!({"grace_period_seconds": -1})).await;
    assert_problem(bad, 400, "invalid-request").await;
}
api_test!(a_rotated_secret_signs_beside_the_old_one);

async fn failures_are_retried_after_a_500_and_a_timeout(app: TestApp) {
    let (receiver, url) =
        Receiver::start(vec![Reply::Status(500), Reply::Slow(Duration::from_millis(2500)), Reply::Status(200)]).await;
    let (id, secret) = endpoint(&app, &url, json!(["order.created"])).await;
    let _stop = start_dispatcher(&app, fast_config());
    app.order("T-1", 100).await;
    first_delivery_reaches(&app, &id, "succeeded", "success after two failures").await;
    let delivery = &deliveries_of_endpoint(&app, &id).await[0];
    let attempts = delivery["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    assert_eq!(attempts[0]["status_code"], 500);
    assert_eq!(attempts[1]["status_code"], Value::Null);
    assert!(attempts[1]["error"].as_str().unwrap().contains("timed out"), "{}", attempts[1]);
    assert_eq!(attempts[2]["status_code"], 200);
    let received = receiver.received();
    assert!(received.iter().all(|r| r.id == received[0].id), "webhook-id is stable across retries");
    assert!(received.iter().all(|r| verifies(&secret, r)));
}
api_test!(failures_are_retried_after_a_500_and_a_timeout);

async fn retry_after_is_honoured(app: TestApp) {
    let (receiver, url) = Receiver::start(vec![Reply::RetryAfter(503, 2)]).await;
    let (id, _) = endpoint(&app, &url, json!(["order.created"])).await;
    let _stop = start_dispatcher(&app, fast_config());
    app.order("RA-1", 100).await;
    wait_for("the retry", || async { receiver.received().len() == 2 }).await;
    let received = receiver.received();
    let gap = received[1].at - received[0].at;
    assert!(gap >= Duration::from_millis(1900), "the retry waited {gap:?}, not the 2 s asked for");
    let delivery = &deliveries_of_endpoint(&app, &id).await[0];
    assert_eq!(delivery["attempts"][0]["status_code"], 503);
}
api_test!(retry_after_is_honoured);

async fn gone_disables_the_endpoint_and_records_an_event(app: TestApp) {
    let (_, gone_url) = Receiver::start(vec![Reply::Status(410)]).await;
    let (watcher, watcher_url) = Receiver::start(vec![]).await;
    let (id, _) = endpoint(&app, &gone_url, json!(["order.created"])).await;
    let (_, watcher_secret) = endpoint(&app, &watcher_url, json!(["webhook_endpoint.disabled"])).await;
    let _stop = start_dispatcher(&app, fast_config());
    app.order("G-1", 100).await;
    endpoint_reaches(&app, &id, "enabled", json!(false), "the endpoint to be disabled").await;
    let endpoint: Value = app.get(&format!("/v1/webhook-endpoints/{id}")).await.json().await.unwrap();
    assert_eq!(endpoint["disabled_reason"], "gone");
    assert!(endpoint["disabled_at"].as_str().is_some());
    let delivery = &deliveries_of_endpoint(&app, &id).await[0];
    assert_eq!((delivery["state"].clone(), delivery["attempt_count"].clone()), (json!("failed"), json!(1)));

    let events = app.events(0).await;
    let disabled = events.iter().find(|e| e["type"] == "webhook_endpoint.disabled").expect("the disabling is an event");
    assert_eq!(disabled["order_id"], Value::Null);
    assert_eq!(disabled["source"], "system");
    assert_eq!(disabled["data"]["id"], id.as_str());
    assert_eq!(disabled["detail"]["reason"], "gone");
    assert_eq!(disabled["detail"]["status_code"], 410);
    wait_for("the watcher's notice", || async { !watcher.received().is_empty() }).await;
    let notice = &watcher.received()[0];
    assert!(verifies(&watcher_secret, notice));
    assert!(notice.body.contains("webhook_endpoint.disabled"));

    // Nothing more goes to a disabled endpoint; enabling it again forgets why it was disabled.
    app.order("G-2", 100).await;
    assert_eq!(deliveries_of_endpoint(&app, &id).await.len(), 1);
    let enabled: Value =
        app.patch(&format!("/v1/webhook-endpoints/{id}"), json!({"enabled": true})).await.json().await.unwrap();
    assert_eq!((enabled["enabled"].clone(), enabled["disabled_reason"].clone()), (json!(true), Value::Null));
}
api_test!(gone_disables_the_endpoint_and_records_an_event);

async fn an_endpoint_failing_long_enough_is_disabled(app: TestApp) {
    let (_, url) = Receiver::start(vec![Reply::Status(500), Reply::Status(500)]).await;
    let (id, _) = endpoint(&app, &url, json!(["*"])).await;
    // Five days in production; here the first failure already counts as "long enough".
    let _stop = start_dispatcher(&app, DispatcherConfig { disable_after: Duration::ZERO, ..fast_config() });
    app.order("F-1", 100).await;
    endpoint_reaches(&app, &id, "disabled_reason", json!("failing"), "the endpoint to be disabled").await;
    let endpoint: Value = app.get(&format!("/v1/webhook-endpoints/{id}")).await.json().await.unwrap();
    assert_eq!(endpoint["enabled"], false);
    assert!(endpoint["failing_since"].as_str().is_some());
    let events = app.events(0).await;
    let disabled = events.iter().find(|e| e["type"] == "webhook_endpoint.disabled").unwrap();
    assert_eq!(disabled["detail"]["reason"], "failing");
    // The delivery keeps its schedule; it waits while the endpoint is disabled.
    let delivery = &deliveries_of_endpoint(&app, &id).await[0];
    assert_eq!(delivery["state"], "pending");
    assert!(delivery["next_attempt_at"].as_str().is_some());
}
api_test!(an_endpoint_failing_long_enough_is_disabled);

async fn redirects_are_not_followed(app: TestApp) {
    let (receiver, url) = Receiver::start(vec![Reply::Redirect("/elsewhere")]).await;
    let (id, _) = endpoint(&app, &url, json!(["order.created"])).await;
    let _stop = start_dispatcher(&app, fast_config());
    app.order("RD-1", 100).await;
    wait_for("the retry after the redirect", || async { receiver.received().len() >= 2 }).await;
    assert!(receiver.received().iter().all(|r| r.path == "/hooks"), "the redirect target was never requested");
    let delivery = &deliveries_of_endpoint(&app, &id).await[0];
    assert_eq!(delivery["attempts"][0]["status_code"], 302);
}
api_test!(redirects_are_not_followed);

async fn loopback_is_refused_unless_private_networks_are_allowed(app: TestApp) {
    let (receiver, url) = Receiver::start(vec![]).await;
    let (id, _) = endpoint(&app, &url, json!(["order.created"])).await;
    app.order("SS-1", 100).await;
    let guarded = DispatcherConfig { allow_private_networks: false, ..fast_config() };
    let dispatcher =
        Dispatcher::new(app.ledger.store().clone(), app.sealing_key.clone(), guarded, WebhookMetrics::default())
            .unwrap();
    assert_eq!(dispatcher.run_once().await.unwrap(), 1);
    let delivery = &deliveries_of_endpoint(&app, &id).await[0];
    let error = delivery["attempts"][0]["error"].as_str().unwrap();
    assert!(error.contains("refused by the SSRF guard") && error.contains("loopback"), "{error}");
    assert_eq!(delivery["attempts"][0]["status_code"], Value::Null);
    assert_eq!(delivery["state"], "pending");
    assert!(receiver.received().is_empty(), "nothing reached the receiver");

    // With the switch on, the retry goes through.
    tokio::time::sleep(Duration::from_millis(250)).await;
    let open =
        Dispatcher::new(app.ledger.store().clone(), app.sealing_key.clone(), fast_config(), WebhookMetrics::default())
            .unwrap();
    assert_eq!(open.run_once().await.unwrap(), 1);
    assert_eq!(receiver.received().len(), 1);
}
api_test!(loopback_is_refused_unless_private_networks_are_allowed);

async fn two_dispatchers_send_each_delivery_once(app: TestApp) {
    let (receiver, url) = Receiver::start(vec![]).await;
    endpoint(&app, &url, json!(["order.created"])).await;
    for i in 0..20 {
        app.order(&format!("D-{i}"), 100).await;
    }
    // Two instances, each under its own name: a dispatcher starting takes back the leases of its
    // own name, so two sharing one would hand each other's deliveries out twice.
    let config = |owner: &str| DispatcherConfig { batch_size: 3, owner: owner.into(), ..fast_config() };
    let (_a, _b) = (start_dispatcher(&app, config("instance-a")), start_dispatcher(&app, config("instance-b")));
    wait_for("twenty deliveries", || async { receiver.received().len() >= 20 }).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = receiver.received();
    let ids: std::collections::HashSet<&str> = received.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 20);
    assert_eq!(received.len(), 20, "no delivery was sent twice");
}
api_test!(two_dispatchers_send_each_delivery_once);

async fn a_crash_between_commit_and_send_still_delivers(app: TestApp) {
    let (receiver, url) = Receiver::start(vec![]).await;
    let (id, secret) = endpoint(&app, &url, json!(["*"])).await;
    // No dispatcher runs: the process "crashed" right after the change committed.
    app.order("C-1", 100).await;
    let mut pending = deliveries_of_endpoint(&app, &id).await;
    // `*` took the endpoint's own creation too (committed with the endpoint); then the order's.
    let mut types: Vec<&str> = pending.iter().map(|d| d["event_type"].as_str().unwrap()).collect();
    types.sort();
    assert_eq!(types, ["order.created", "webhook_endpoint.created"], "the delivery row committed with the change");
    pending.retain(|d| d["event_type"] == "order.created");
    assert_eq!((pending[0]["state"].clone(), pending[0]["attempt_count"].clone()), (json!("pending"), json!(0)));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(receiver.received().is_empty(), "nothing is sent from inside a request");

    // A dispatcher started later (the restarted process) sends it.
    let _stop = start_dispatcher(&app, fast_config());
    wait_for("the deliveries after the restart", || async { receiver.received().len() == 2 }).await;
    assert!(receiver.received().iter().all(|r| verifies(&secret, r)));
}
api_test!(a_crash_between_commit_and_send_still_delivers);

async fn deliveries_are_retried_by_hand_and_tests_go_through_the_outbox(app: TestApp) {
    let replies = vec![Reply::Status(500); 4];
    let (receiver, url) = Receiver::start(replies).await;
    let (id, secret) = endpoint(&app, &url, json!(["order.created"])).await;
    let _stop = start_dispatcher(&app, fast_config());
    app.order("M-1", 100).await;
    first_delivery_reaches(&app, &id, "failed", "the schedule to run out").await;
    assert_eq!(receiver.received().len(), 4, "the first attempt and three retries");
    let failed: Value =
        app.get(&format!("/v1/webhook-endpoints/{id}/deliveries?state=failed")).await.json().await.unwrap();
    assert_eq!(failed["data"].as_array().unwrap().len(), 1);

    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let retried: Value = app
        .post(&format!("/v1/webhook-endpoints/{id}/retry-failed"), json!({"since": since}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(retried["retried"], 1);
    first_delivery_reaches(&app, &id, "succeeded", "the retried delivery").await;

    let delivery_id = deliveries_of_endpoint(&app, &id).await[0]["id"].as_str().unwrap().to_owned();
    let again = app.post(&format!("/v1/webhook-deliveries/{delivery_id}/retry"), json!({})).await;
    assert_eq!(again.status(), 202);
    wait_for("the resent delivery", || async { receiver.received().len() == 6 }).await;
    // The receiver answers before the dispatcher records the attempt: wait for the record too.
    wait_for("the resent attempt recorded", || {
        let app = &app;
        let delivery_id = delivery_id.clone();
        async move {
            let one: Value = app.get(&format!("/v1/webhook-deliveries/{delivery_id}")).await.json().await.unwrap();
            one["attempt_count"] == 6
        }
    })
    .await;
    let one: Value = app.get(&format!("/v1/webhook-deliveries/{delivery_id}")).await.json().await.unwrap();
    assert_eq!(one["attempt_count"], 6);

    let test = app.post(&format!("/v1/webhook-endpoints/{id}/test"), json!({})).await;
    assert_eq!(test.status(), 202);
    let test: Value = test.json().await.unwrap();
    assert_eq!(test["event_type"], "webhook.test");
    wait_for("the test message", || async { receiver.received().len() == 7 }).await;
    let message = &receiver.received()[6];
    assert!(verifies(&secret, message));
    assert!(message.body.contains("webhook.test"));
    assert_eq!(message.id, test["event_id"].as_str().unwrap());
    assert_problem(
        app.post("/v1/webhook-deliveries/wd_0000000000000000000000000000000a/retry", json!({})).await,
        404,
        "not-found",
    )
    .await;
}
api_test!(deliveries_are_retried_by_hand_and_tests_go_through_the_outbox);

async fn serve_runs_a_dispatcher_and_exposes_its_metrics(app: TestApp) {
    let (receiver, url) = Receiver::start(vec![]).await;
    endpoint(&app, &url, json!(["order.created"])).await;
    // A second instance on the same database, with its own dispatcher.
    let webhooks = paystate_http::WebhookSettings {
        sealing_key: app.sealing_key.clone(),
        allow_private_networks: true,
        dispatcher: Some(fast_config()),
        retention: chrono::TimeDelta::days(paystate_http::DEFAULT_WEBHOOK_RETENTION_DAYS),
    };
    let config = paystate_http::HttpConfig { webhooks, ..Default::default() };
    let state = paystate_http::AppState::new(app.ledger.clone(), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let second = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(paystate_http::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    app.order("SV-1", 100).await;
    wait_for("the delivery", || async { receiver.received().len() == 1 }).await;
    // The receiver answers before the dispatcher counts the attempt: wait for the count too.
    let scrape = || async { reqwest::get(format!("{second}/metrics")).await.unwrap().text().await.unwrap() };
    wait_for("the counted attempt", || async {
        scrape().await.contains("paystate_webhook_deliveries_total{outcome=\"succeeded\"} 1")
    })
    .await;
    let metrics = scrape().await;
    assert!(metrics.contains("paystate_webhook_deliveries_total{outcome=\"succeeded\"} 1"), "{metrics}");
    assert!(metrics.contains("paystate_webhook_attempt_duration_seconds"));
    assert!(metrics.contains("paystate_webhook_outbox_pending"));
    assert!(metrics.contains("paystate_webhook_outbox_oldest_pending_age_seconds"));
    drop(stop);
    server.await.unwrap().unwrap();
}
api_test!(serve_runs_a_dispatcher_and_exposes_its_metrics);
