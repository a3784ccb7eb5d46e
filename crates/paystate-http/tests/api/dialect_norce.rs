//! The Norce Checkout dialect: the payment adapter's update-payment hook.

use crate::api_test;
use crate::helpers::TestApp;
use paystate_domain::Source;
use paystate_store::Scope;
use reqwest::{Method, Response};
use serde_json::{Value, json};

const MERCHANT: &str = "norce";
const CHANNEL: &str = "1";
/// The ids of the document's sample.
pub(crate) const ORDER: &str = "o_yClTSySjyAuuBjmiBlHCjuEcTf";
pub(crate) const PAYMENT: &str = "p_KBiXuYjvYxsezKCQAMuuSKGDaT";

fn path(order: &str, payment: &str) -> String {
    format!("/api/checkout/v1/callback/orders/{order}/payments/{payment}/update-payment")
}

/// A refusal in Norce's adapter shape, `{"code", "message"}`, as `application/json`.
pub(crate) async fn assert_refused(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status, "status");
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(body.get("type").is_none() && body.get("status").is_none(), "not problem+json: {body}");
    body
}

/// Declares the tenant's Norce merchant and answers a key limited to the Norce dialect.
pub(crate) async fn norce_key(app: &TestApp) -> String {
    let patched = app.patch("/v1/tenant", json!({"settings": {"norce": {"merchants": [MERCHANT]}}})).await;
    assert_eq!(patched.status(), 200);
    app.key(Scope::Write, Some(Source::Norce)).await
}

/// A payment entry of a Norce order.
fn norce_payment(id: &str, order: &str, state: &str, amount: f64) -> Value {
    json!({
        "id": id,
        "adapterId": "klarna-checkout",
        "name": "Klarna Checkout",
        "merchant": MERCHANT,
        "channel": CHANNEL,
        "currency": "SEK",
        "type": "default",
        "orderId": order,
        "amount": amount,
        "upperLimitAmount": null,
        "state": state,
        "reference": "7d31e2cf-2d46-4db0-b87d-d65dfaae298f",
        "attributes": {"klarnaOrderId": "f3a1e0c2-44aa-4a1c-9d7e-1f0b7c8d9e10"},
        "actions": []
    })
}

/// The document's sample body, completed into a realistic order.
fn norce_order(id: &str, payments: Vec<Value>) -> Value {
    json!({
        "id": id,
        "merchant": MERCHANT,
        "channel": CHANNEL,
        "reference": "NC-100234",
        "created": "2024-05-02T09:12:44Z",
        "lastModified": "2024-05-02T09:14:03.1234567Z",
        "state": {
            "currentStatus": "Checkout",
            "transitions": [{"status": "Checkout", "timeStamp": "2024-05-02T09:12:44Z"}]
        },
        "culture": "sv-SE",
        "currency": "SEK",
        "country": "SE",
        "cart": {
            "reference": "c-88",
            "items": [{
                "reference": "SKU-1001", "name": "Rain jacket", "quantity": 1, "vatRate": 0.25,
                "price": {"includingVat": 1499.5, "excludingVat": 1199.6},
                "total": {"includingVat": 1499.5, "excludingVat": 1199.6}
            }],
            "discounts": [],
            "total": {"includingVat": 1499.5, "excludingVat": 1199.6},
            "attributes": {}
        },
        "shippings": [{
            "id": "s_pmHreuEBboeezpixrHMDPQlazU", "merchant": MERCHANT, "channel": CHANNEL, "state": "intent",
            "orderId": id, "adapterId": "ingrid-shipping-adapter", "name": "PostNord MyPack Home",
            "total": {"includingVat": 49.0, "excludingVat": 39.2}, "vatRate": 0.25
        }],
        "payments": payments,
        "customer": {
            "billing": {
                "type": "Person", "givenName": "Rosa", "familyName": "Undulatsson",
                "streetAddress": "Adaptivevägen 18", "postalCode": "955 60", "city": "Boden", "country": "SE",
                "email": "rosa@example.com", "phone": "0753892233"
            },
            "shipping": {"type": "Person", "givenName": "Rosa", "familyName": "Undulatsson", "country": "SE"},
            "type": "Person",
            "attributes": {}
        },
        "consents": [{"id": "newsletter", "name": "Newsletter", "value": false}],
        "actions": [],
        "hooks": [{"id": "oh_YxdkQbKeRZcQCbDpXuZkDfXw", "adapterId": "klarna-checkout",
                   "url": "https://paystate.example/api/checkout/v1/callback/orders/{order_id}/payments/{payment_id}/update-payment"}],
        "validations": [],
        "total": {"includingVat": 1548.5, "excludingVat": 1238.8},
        "attributes": {"storeId": "42"},
        "someFieldNorceAddsLater": {"anything": [1, 2]}
    })
}

/// The sample order with one payment (the document's) in `state`.
pub(crate) fn sample(state: &str) -> Value {
    norce_order(ORDER, vec![norce_payment(PAYMENT, ORDER, state, 1548.5)])
}

/// Posts a hook the way Norce does (its curl samples send `application/json-patch+json`).
async fn hook_as(app: &TestApp, key: &str, order: &str, payment: &str, merchant: &str, body: &Value) -> Response {
    app.request(Method::POST, &path(order, payment), key)
        .header("x-merchant", merchant)
        .header("x-channel", CHANNEL)
        .header("content-type", "application/json-patch+json")
        .body(serde_json::to_vec(body).unwrap())
        .send()
        .await
        .unwrap()
}

pub(crate) async fn hook(app: &TestApp, key: &str, body: &Value) -> Response {
    let order = body["id"].as_str().unwrap().to_owned();
    let payment = body["payments"].as_array().unwrap().last().unwrap()["id"].as_str().unwrap().to_owned();
    hook_as(app, key, &order, &payment, MERCHANT, body).await
}

/// Posts a hook that must succeed and answers its JSON Patch.
async fn ok(app: &TestApp, key: &str, body: &Value) -> Value {
    let response = hook(app, key, body).await;
    assert_eq!(response.status(), 200, "{body}");
    assert_eq!(response.headers()["content-type"], "application/json");
    let operations: Value = response.json().await.unwrap();
    assert!(operations.is_array(), "{operations}");
    operations
}

/// Applies a JSON Patch answer to the order that was sent, with an RFC 6902 implementation.
fn applied(body: &Value, operations: &Value) -> Value {
    let patch: json_patch::Patch = serde_json::from_value(operations.clone()).unwrap();
    let mut document = body.clone();
    json_patch::patch(&mut document, &patch).unwrap_or_else(|e| panic!("{operations} does not apply: {e}"));
    document
}

pub(crate) async fn ours(app: &TestApp, order: &str, payment: &str) -> Value {
    let response = app.get(&format!("/v1/payments/norce:{MERCHANT}:{order}:{payment}")).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn our_order(app: &TestApp, order: &str) -> Value {
    let response = app.get(&format!("/v1/orders/norce:{MERCHANT}:{order}")).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn kinds(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect()
}

async fn the_documents_sample_creates_the_order_and_its_payment(app: TestApp) {
    let key = norce_key(&app).await;
    let method: Value = app
        .post("/v1/payment-methods", json!({"code": "klarna-checkout", "locales": {"en": {"name": "Klarna"}}}))
        .await
        .json()
        .await
        .unwrap();
    let body = sample("Intent");
    assert_eq!(ok(&app, &key, &body).await, json!([]));

    let order = our_order(&app, ORDER).await;
    assert_eq!(order["reference"], format!("norce:{MERCHANT}:{ORDER}"));
    assert_eq!(order["currency"], "SEK");
    assert_eq!(order["total_amount"], 154850);
    assert_eq!(order["customer"], body["customer"]);
    let kept = &order["attributes"]["norce"];
    for field in
        ["id", "merchant", "channel", "reference", "culture", "country", "state", "cart", "total", "attributes"]
    {
        assert_eq!(kept[field], body[field], "{field} is kept as it came");
    }
    assert!(kept.get("someFieldNorceAddsLater").is_none());

    let payment = ours(&app, ORDER, PAYMENT).await;
    assert_eq!(payment["order_id"], order["id"]);
    assert_eq!(payment["status"], "open");
    assert_eq!(payment["amount"], 154850);
    assert_eq!(payment["currency"], "SEK");
    assert_eq!(payment["method_id"], method["id"]);
    assert_eq!(payment["transaction_ref"], "7d31e2cf-2d46-4db0-b87d-d65dfaae298f");
    assert_eq!(payment["attrs"]["norce"]["adapterId"], "klarna-checkout");
    assert_eq!(payment["attrs"]["norce"]["attributes"], body["payments"][0]["attributes"]);
    assert_eq!(payment["created_via"], "norce");

    let events = app.trail(0).await;
    assert_eq!(kinds(&events), ["order.created", "payment.created"]);
    for event in &events {
        assert_eq!(event["source"], "norce");
        let recorded: Value = serde_json::from_str(event["request_body"].as_str().unwrap()).unwrap();
        assert_eq!(recorded, body, "the hook's body is kept for the audit trail");
    }

    // The checkout moves on: the cart grows and the payment is reserved, then captured.
    let mut later = sample("Reserved");
    later["lastModified"] = json!("2024-05-02T09:20:00Z");
    later["state"]["currentStatus"] = json!("Processing");
    later["total"]["includingVat"] = json!(1598.5);
    later["payments"][0]["amount"] = json!(1598.5);
    assert_eq!(ok(&app, &key, &later).await, json!([]));
    let order = our_order(&app, ORDER).await;
    assert_eq!(order["total_amount"], 159850);
    assert_eq!(order["attributes"]["norce"]["state"]["currentStatus"], "Processing");
    let payment = ours(&app, ORDER, PAYMENT).await;
    assert_eq!((payment["status"].as_str(), payment["amount"].as_i64()), (Some("authorized"), Some(159850)));
    later["payments"][0]["state"] = json!("Captured");
    assert_eq!(ok(&app, &key, &later).await, json!([]));
    let payment = ours(&app, ORDER, PAYMENT).await;
    assert_eq!(payment["status"], "paid");
    assert!(payment["paid_at"].is_string());
}
api_test!(the_documents_sample_creates_the_order_and_its_payment);

async fn every_norce_state_maps_to_the_canonical_machine(app: TestApp) {
    let key = norce_key(&app).await;
    let table = [
        ("intent", "open"),
        ("Processing", "pending"),
        ("pending", "pending"),
        ("Confirmed", "authorized"),
        ("reserved", "authorized"),
        ("CAPTURED", "paid"),
        ("credited", "paid"),
        ("Declined", "failed"),
        ("failed", "failed"),
        ("Removed", "canceled"),
        // Norce's current specifications add these two.
        ("Cancelled", "canceled"),
        ("REFUNDED", "paid"),
    ];
    for (index, (state, status)) in table.into_iter().enumerate() {
        let (order_id, payment_id) = (format!("o_map{index}"), format!("p_map{index}"));
        let body = norce_order(&order_id, vec![norce_payment(&payment_id, &order_id, state, 100.25)]);
        assert_eq!(ok(&app, &key, &body).await, json!([]), "{state}");
        let payment = ours(&app, &order_id, &payment_id).await;
        assert_eq!(payment["status"], status, "{state}");
        let credited = state == "credited" || state == "REFUNDED";
        assert_eq!(payment["has_refunds"], credited, "{state}");
        assert_eq!(payment["amount_refunded"], if credited { 10025 } else { 0 }, "{state}");
    }

    // One payment through its whole life, each hook answered with agreement.
    let body = |state: &str| norce_order("o_life", vec![norce_payment("p_life", "o_life", state, 10.0)]);
    for state in ["Intent", "Processing", "Confirmed", "Reserved", "Captured", "Credited"] {
        assert_eq!(ok(&app, &key, &body(state)).await, json!([]), "{state}");
    }
    let payment = ours(&app, "o_life", "p_life").await;
    assert_eq!(payment["status"], "paid");
    assert_eq!(payment["amount_refunded"], 1000);
    let events: Vec<Value> = app.events(0).await.into_iter().filter(|e| e["payment_id"] == payment["id"]).collect();
    assert_eq!(
        kinds(&events),
        [
            "payment.created",
            "payment.status_changed",
            "payment.status_changed",
            "payment.status_changed",
            "payment.refunded"
        ]
    );
    let statuses: Vec<&str> = events[1..4].iter().map(|e| e["data"]["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["pending", "authorized", "paid"]);

    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("paystate_payment_reports_total{source=\"norce\",outcome=\"applied\",status=\"paid\"}"),
        "{metrics}"
    );
}
api_test!(every_norce_state_maps_to_the_canonical_machine);

async fn repeated_hooks_change_nothing(app: TestApp) {
    let key = norce_key(&app).await;
    for state in ["Reserved", "Credited"] {
        let body = sample(state);
        assert_eq!(ok(&app, &key, &body).await, json!([]));
        let (events, payment, order) =
            (app.events(0).await, ours(&app, ORDER, PAYMENT).await, our_order(&app, ORDER).await);
        for _ in 0..2 {
            assert_eq!(ok(&app, &key, &body).await, json!([]), "a replay of {state}");
        }
        assert_eq!(app.events(0).await, events, "a replay records nothing");
        assert_eq!(ours(&app, ORDER, PAYMENT).await, payment);
        assert_eq!(our_order(&app, ORDER).await, order);
    }
    let payment = ours(&app, ORDER, PAYMENT).await;
    assert_eq!(payment["amount_refunded"], 154850, "credited once, refunded once");
}
api_test!(repeated_hooks_change_nothing);

async fn a_stale_hook_changes_nothing_and_is_answered_with_what_paystate_knows(app: TestApp) {
    let key = norce_key(&app).await;
    let mut reserved = sample("Reserved");
    reserved["lastModified"] = json!("2024-05-02T10:00:00Z");
    assert_eq!(ok(&app, &key, &reserved).await, json!([]));
    // Another channel (the native API) learns first that the payment was captured.
    let external = format!("norce:{MERCHANT}:{ORDER}:{PAYMENT}");
    let paid = app.post(&format!("/v1/payments/{external}/status"), json!({"status": "paid"})).await;
    assert_eq!(paid.status(), 200);
    let (payment, order) = (ours(&app, ORDER, PAYMENT).await, our_order(&app, ORDER).await);

    // A late hook: an older order with another cart and amount, the payment still reserved.
    let mut late = sample("Reserved");
    late["lastModified"] = json!("2024-05-02T09:59:00Z");
    late["cart"]["reference"] = json!("c-old");
    late["total"]["includingVat"] = json!(1000.0);
    late["payments"][0]["amount"] = json!(1000.0);
    let operations = ok(&app, &key, &late).await;
    assert_eq!(operations, json!([{"op": "replace", "path": "/payments/0/state", "value": "Captured"}]));
    let patched = applied(&late, &operations);
    assert_eq!(patched["payments"][0]["state"], "Captured");

    assert_eq!(ours(&app, ORDER, PAYMENT).await, payment, "the payment is as it was");
    assert_eq!(our_order(&app, ORDER).await, order, "the order keeps the newer cart");
    let last = app.events(0).await.pop().unwrap();
    assert_eq!(last["type"], "payment.stale_update");
    assert_eq!(last["source"], "norce");
    assert_eq!(last["detail"]["reported_status"], "authorized");

    // The checkout applies the patch and calls again: now the order agrees, and it is still
    // older than what paystate holds, so neither the order nor the payment's amount go back.
    assert_eq!(ok(&app, &key, &patched).await, json!([]));
    assert_eq!(our_order(&app, ORDER).await, order);
    assert_eq!(ours(&app, ORDER, PAYMENT).await["amount"], 154850);

    // Credited in paystate: a late "captured" is answered with the credit, and changes nothing.
    let mut credited = sample("credited");
    credited["lastModified"] = json!("2024-05-02T11:00:00Z");
    assert_eq!(ok(&app, &key, &credited).await, json!([]));
    let events = app.events(0).await;
    let operations = ok(&app, &key, &sample("captured")).await;
    assert_eq!(operations, json!([{"op": "replace", "path": "/payments/0/state", "value": "credited"}]));
    let operations = ok(&app, &key, &sample("INTENT")).await;
    assert_eq!(operations, json!([{"op": "replace", "path": "/payments/0/state", "value": "CREDITED"}]));
    let after = app.events(0).await;
    assert_eq!(kinds(&after[events.len()..]), ["payment.stale_update"], "only the late intent is recorded");
}
api_test!(a_stale_hook_changes_nothing_and_is_answered_with_what_paystate_knows);

async fn a_hook_contradicting_a_settled_payment_is_a_400_conflict(app: TestApp) {
    let key = norce_key(&app).await;
    assert_eq!(ok(&app, &key, &sample("Captured")).await, json!([]));
    let order = our_order(&app, ORDER).await;

    let mut failed = sample("Failed");
    failed["lastModified"] = json!("2024-06-01T00:00:00Z");
    failed["cart"]["reference"] = json!("c-other");
    let problem = assert_refused(hook(&app, &key, &failed).await, 400, "order-conflict").await;
    assert_eq!(problem["field"], "payments[0].state");
    assert_eq!(problem["current_status"], "paid");
    assert_eq!(problem["reported_state"], "Failed");
    assert_eq!(problem["current_state"], "Captured");
    assert_eq!(problem["payment_id"], PAYMENT);
    let detail = problem["message"].as_str().unwrap();
    assert!(detail.contains("payments[0].state") && detail.contains("paid") && detail.contains("Failed"), "{detail}");

    let payment = ours(&app, ORDER, PAYMENT).await;
    assert_eq!(payment["status"], "paid");
    assert_eq!(payment["needs_review"], true);
    assert_eq!(our_order(&app, ORDER).await, order, "a contradicting hook does not touch the order");
    let last = app.events(0).await.pop().unwrap();
    assert_eq!((last["type"].as_str(), last["source"].as_str()), (Some("payment.conflict"), Some("norce")));
    let review: Value = app.get("/v1/payments?needs_review=true").await.json().await.unwrap();
    assert_eq!(review["data"][0]["id"], payment["id"]);

    // A credit of a payment that was removed contradicts it too.
    let removed = norce_order("o_removed", vec![norce_payment("p_removed", "o_removed", "removed", 5.0)]);
    assert_eq!(ok(&app, &key, &removed).await, json!([]));
    let credited = norce_order("o_removed", vec![norce_payment("p_removed", "o_removed", "credited", 5.0)]);
    let problem = assert_refused(hook(&app, &key, &credited).await, 400, "order-conflict").await;
    assert_eq!(problem["current_status"], "canceled");
    assert_eq!(ours(&app, "o_removed", "p_removed").await["needs_review"], true);
}
api_test!(a_hook_contradicting_a_settled_payment_is_a_400_conflict);

async fn missing_headers_and_mismatched_ids_are_400s_that_write_nothing(app: TestApp) {
    let key = norce_key(&app).await;
    let body = sample("Intent");
    let send = |merchant: Option<&str>, channel: Option<&str>, order: &str| {
        let mut request = app.request(Method::POST, &path(order, PAYMENT), &key).json(&body);
        if let Some(merchant) = merchant {
            request = request.header("x-merchant", merchant);
        }
        if let Some(channel) = channel {
            request = request.header("x-channel", channel);
        }
        request.send()
    };
    let cases = [
        (send(None, Some(CHANNEL), ORDER).await.unwrap(), "x-merchant"),
        (send(Some(MERCHANT), None, ORDER).await.unwrap(), "x-channel"),
        (send(Some(""), Some(CHANNEL), ORDER).await.unwrap(), "x-merchant"),
        (send(Some(MERCHANT), Some("2"), ORDER).await.unwrap(), "channel"),
        (send(Some(MERCHANT), Some(CHANNEL), "o_another").await.unwrap(), "id"),
        (send(Some(MERCHANT), Some(CHANNEL), "o:colon").await.unwrap(), "order_id"),
    ];
    for (response, field) in cases {
        let problem = assert_refused(response, 400, "order-bad-request").await;
        assert_eq!(problem["field"], field, "{problem}");
        assert!(problem["message"].as_str().unwrap().contains(field), "{problem}");
    }
    // The body's merchant must be the header's (both tenant merchants).
    app.patch("/v1/tenant", json!({"settings": {"norce": {"merchants": [MERCHANT, "norce-outlet"]}}})).await;
    let response = hook_as(&app, &key, ORDER, PAYMENT, "norce-outlet", &body).await;
    assert_eq!(assert_refused(response, 400, "order-bad-request").await["field"], "merchant");
    assert!(app.trail(0).await.is_empty());
}
api_test!(missing_headers_and_mismatched_ids_are_400s_that_write_nothing);

async fn an_unknown_payment_id_is_a_404(app: TestApp) {
    let key = norce_key(&app).await;
    let response = hook_as(&app, &key, ORDER, "p_notInTheOrder", MERCHANT, &sample("Intent")).await;
    let problem = assert_refused(response, 404, "payment-not-found").await;
    assert_eq!(problem["field"], "payment_id");
    assert!(problem["message"].as_str().unwrap().contains("p_notInTheOrder"));
    assert!(app.trail(0).await.is_empty());
}
api_test!(an_unknown_payment_id_is_a_404);

async fn another_tenants_merchant_is_a_404(app: TestApp) {
    let key = norce_key(&app).await;
    assert_eq!(ok(&app, &key, &sample("Reserved")).await, json!([]));
    let (payment, order, events) =
        (ours(&app, ORDER, PAYMENT).await, our_order(&app, ORDER).await, app.events(0).await);

    let (_, other) = app.other_tenant().await;
    let response = hook_as(&app, &other, ORDER, PAYMENT, MERCHANT, &sample("Failed")).await;
    let problem = assert_refused(response, 404, "order-not-found").await;
    assert_eq!(problem["field"], "x-merchant");
    assert!(problem["message"].as_str().unwrap().contains("settings.norce.merchants"));
    // The other tenant declares a merchant of its own: still not ours.
    let patched = app
        .request(Method::PATCH, "/v1/tenant", &other)
        .json(&json!({"settings": {"norce": {"merchants": ["other-shop"]}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let response = hook_as(&app, &other, ORDER, PAYMENT, MERCHANT, &sample("Failed")).await;
    assert_refused(response, 404, "order-not-found").await;
    // Its own merchant with the same Norce ids is its own order, not ours.
    let mut its_own = sample("Failed");
    its_own["merchant"] = json!("other-shop");
    let response = hook_as(&app, &other, ORDER, PAYMENT, "other-shop", &its_own).await;
    assert_eq!(response.status(), 200);
    // And a merchant the tenant never declared is refused for the tenant's own key too.
    let mut undeclared = sample("Failed");
    undeclared["merchant"] = json!("unknown");
    assert_refused(hook_as(&app, &key, ORDER, PAYMENT, "unknown", &undeclared).await, 404, "order-not-found").await;

    assert_eq!(ours(&app, ORDER, PAYMENT).await, payment);
    assert_eq!(our_order(&app, ORDER).await, order);
    assert_eq!(app.events(0).await, events);
}
api_test!(another_tenants_merchant_is_a_404);

/// The property the checkout relies on: whatever paystate holds and whatever the order says, the
/// answer applies to the order that was sent, and the patched order then agrees with paystate.
async fn the_answer_always_applies_to_the_order_that_was_sent(app: TestApp) {
    let key = norce_key(&app).await;
    // How paystate comes to hold each status: Norce hooks, then reports through the native API.
    let holdings: [(&str, &[&str], Option<&str>); 9] = [
        ("open", &["intent"], None),
        ("pending", &["processing"], None),
        ("authorized", &["confirmed"], None),
        ("paid", &["captured"], None),
        ("credited", &["captured", "credited"], None),
        ("failed", &["declined"], None),
        ("canceled", &["removed"], None),
        ("expired", &["intent"], Some("expired")),
        ("reversed", &["captured"], Some("reversed")),
    ];
    let casings: [fn(&str) -> String; 3] = [str::to_owned, |s| s.to_uppercase(), |s| s[..1].to_uppercase() + &s[1..]];
    let references = [json!("psp-2"), Value::Null, json!(""), json!("absent")];
    let (mut answered, mut patched_states, mut added_references, mut conflicts) = (0, 0, 0, 0);
    let mut case = 0;
    for (holding, hooks, native) in holdings {
        for sent in [
            "intent",
            "processing",
            "pending",
            "confirmed",
            "reserved",
            "captured",
            "credited",
            "declined",
            "failed",
            "removed",
        ] {
            case += 1;
            let (order_id, payment_id) = (format!("o_prop{case}"), format!("p_prop{case}"));
            // Another payment comes first in the order, so the answer must point at the right entry.
            let voucher =
                json!({"id": format!("v_prop{case}"), "state": "captured", "amount": 10.0, "type": "voucher"});
            let body = |state: &str| {
                norce_order(&order_id, vec![voucher.clone(), norce_payment(&payment_id, &order_id, state, 20.0)])
            };
            for state in hooks {
                assert_eq!(hook(&app, &key, &body(state)).await.status(), 200, "{holding}: {state}");
            }
            if let Some(status) = native {
                let external = format!("norce:{MERCHANT}:{order_id}:{payment_id}");
                let reported = app.post(&format!("/v1/payments/{external}/status"), json!({"status": status})).await;
                assert_eq!(reported.status(), 200);
            }

            let mut sent_body = body(&casings[case % 3](sent));
            match &references[case % 4] {
                Value::String(absent) if absent == "absent" => {
                    sent_body["payments"][1].as_object_mut().unwrap().remove("reference");
                }
                reference => sent_body["payments"][1]["reference"] = reference.clone(),
            }
            let response = hook(&app, &key, &sent_body).await;
            if response.status() == 400 {
                let problem = assert_refused(response, 400, "order-conflict").await;
                assert_eq!(problem["field"], "payments[1].state");
                conflicts += 1;
                continue;
            }
            assert_eq!(response.status(), 200, "{holding} then {sent}");
            let operations: Value = response.json().await.unwrap();
            answered += 1;
            for operation in operations.as_array().unwrap() {
                let path = operation["path"].as_str().unwrap();
                assert!(path.starts_with("/payments/1/"), "{operation}");
                patched_states += usize::from(path.ends_with("/state"));
                added_references += usize::from(operation["op"] == "add");
            }
            let patched = applied(&sent_body, &operations);
            let again = ok(&app, &key, &patched).await;
            assert_eq!(again, json!([]), "{holding} then {sent}: the patched order agrees with paystate");
        }
    }
    assert_eq!(answered + conflicts, 90);
    assert!(answered >= 60 && conflicts >= 10, "{answered} answered, {conflicts} conflicts");
    assert!(patched_states >= 20, "{patched_states} states written back");
    assert!(added_references >= 10, "{added_references} references added");
}
api_test!(the_answer_always_applies_to_the_order_that_was_sent);

async fn amounts_convert_exactly_by_the_currencys_exponent(app: TestApp) {
    let key = norce_key(&app).await;
    for (index, (currency, amount, minor)) in [
        ("SEK", json!(199.95), 19995),
        ("JPY", json!(1200), 1200),
        ("KWD", json!(1.234), 1234),
        ("EUR", json!(0.1), 10),
    ]
    .into_iter()
    .enumerate()
    {
        let (order_id, payment_id) = (format!("o_amount{index}"), format!("p_amount{index}"));
        let mut entry = norce_payment(&payment_id, &order_id, "intent", 0.0);
        entry["currency"] = json!(currency);
        entry["amount"] = amount;
        let mut body = norce_order(&order_id, vec![entry]);
        body["currency"] = json!(currency);
        body["total"] = json!({"includingVat": body["payments"][0]["amount"]});
        assert_eq!(ok(&app, &key, &body).await, json!([]), "{currency}");
        assert_eq!(ours(&app, &order_id, &payment_id).await["amount"], minor, "{currency}");
        assert_eq!(our_order(&app, &order_id).await["total_amount"], minor, "{currency}");
    }

    let refusals = [
        (json!(1.001), "has more decimals than SEK has (2)"),
        (json!(-5), "must not be negative"),
        (json!(-0.5), "must not be negative"),
        (json!("199.95"), "must be a JSON number"),
        (json!(1e17), "out of range"),
    ];
    let before = app.events(0).await;
    for (amount, message) in refusals {
        let mut body = sample("Intent");
        body["payments"][0]["amount"] = amount.clone();
        let problem = assert_refused(hook(&app, &key, &body).await, 400, "order-bad-request").await;
        assert_eq!(problem["field"], "payments[0].amount", "{amount}");
        let detail = problem["message"].as_str().unwrap();
        assert!(detail.starts_with("payments[0].amount ") && detail.contains(message), "{amount}: {detail}");
    }
    // NaN is not JSON at all.
    let text = serde_json::to_string(&sample("Intent")).unwrap().replace("\"amount\":1548.5", "\"amount\":NaN");
    assert!(text.contains("NaN"));
    let response = app
        .request(Method::POST, &path(ORDER, PAYMENT), &key)
        .header("x-merchant", MERCHANT)
        .header("x-channel", CHANNEL)
        .header("content-type", "application/json")
        .body(text)
        .send()
        .await
        .unwrap();
    assert_eq!(assert_refused(response, 400, "order-bad-request").await["field"], "body");
    assert_eq!(app.events(0).await, before, "a refused hook writes nothing");
}
api_test!(amounts_convert_exactly_by_the_currencys_exponent);

async fn bad_bodies_and_credentials_are_refused_in_norces_shape(app: TestApp) {
    let key = norce_key(&app).await;
    let send = |key: Option<&str>, content_type: &str, body: Vec<u8>| {
        let mut request = app
            .client
            .post(app.url(&path(ORDER, PAYMENT)))
            .header("x-merchant", MERCHANT)
            .header("x-channel", CHANNEL)
            .header("content-type", content_type)
            .body(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send()
    };
    let body = serde_json::to_vec(&sample("Intent")).unwrap();

    // Credentials: none, unknown and wrong look the same; limited keys are told why.
    let none = assert_refused(send(None, "application/json", body.clone()).await.unwrap(), 401, "unauthorized").await;
    let unknown = send(Some("ps_nope"), "application/json", body.clone()).await.unwrap();
    assert_eq!(assert_refused(unknown, 401, "unauthorized").await, none);
    let last = if key.ends_with('a') { 'b' } else { 'a' };
    let wrong = format!("{}{last}", &key[..key.len() - 1]);
    assert_eq!(
        assert_refused(send(Some(&wrong), "application/json", body.clone()).await.unwrap(), 401, "unauthorized").await,
        none
    );
    let gormic = app.key(Scope::Write, Some(Source::Gormic)).await;
    assert_refused(send(Some(&gormic), "application/json", body.clone()).await.unwrap(), 403, "forbidden").await;
    let reader = app.key(Scope::Read, Some(Source::Norce)).await;
    assert_refused(send(Some(&reader), "application/json", body.clone()).await.unwrap(), 403, "forbidden").await;
    // An unlimited key works as well as a Norce one.
    let unlimited = app.key(Scope::Write, None).await;
    assert_eq!(send(Some(&unlimited), "application/json; charset=utf-8", body.clone()).await.unwrap().status(), 200);

    let refusals: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("text/xml", body.clone(), 400, "Content-Type"),
        ("application/json", b"{\"id\": ".to_vec(), 400, "body"),
        ("application/json", b"[]".to_vec(), 400, "body"),
        (
            "application/json",
            String::from_utf8(body.clone()).unwrap().replace("NC-100234", "NC\\u0000").into_bytes(),
            400,
            "body",
        ),
        (
            "application/json",
            serde_json::to_vec(&{
                let mut b = sample("Intent");
                b["currency"] = json!("XXQ");
                b
            })
            .unwrap(),
            400,
            "currency",
        ),
        (
            "application/json",
            serde_json::to_vec(&{
                let mut b = sample("Intent");
                b["payments"][0]["state"] = json!("paid");
                b
            })
            .unwrap(),
            400,
            "payments[0].state",
        ),
        (
            "application/json",
            serde_json::to_vec(&{
                let mut b = sample("Intent");
                b["customer"] = json!("Rosa");
                b
            })
            .unwrap(),
            400,
            "customer",
        ),
    ];
    let before = app.events(0).await;
    for (content_type, bytes, status, field) in refusals {
        let response = send(Some(&key), content_type, bytes).await.unwrap();
        let problem = assert_refused(response, status, "order-bad-request").await;
        assert_eq!(problem["field"], field, "{problem}");
    }
    // A body announced larger than 1 MiB is refused before it is read (a raw request, because the
    // server closes the connection without reading what a client would still be sending).
    let bearer = format!("Bearer {key}");
    let headers = [
        ("authorization", bearer.as_str()),
        ("x-merchant", MERCHANT),
        ("x-channel", CHANNEL),
        ("content-type", "application/json"),
    ];
    let answer =
        crate::helpers::oversized_request(&app, &format!("POST {}", path(ORDER, PAYMENT)), &headers, "{").await;
    assert_eq!(answer.status.to_ascii_lowercase(), "http/1.1 413 payload too large");
    assert!(answer.headers.contains(&"content-type: application/json".to_owned()), "{:?}", answer.headers);

    // The order's currency does not change.
    let mut euros = sample("Intent");
    euros["currency"] = json!("EUR");
    euros["payments"][0]["currency"] = json!("EUR");
    let problem = assert_refused(hook(&app, &key, &euros).await, 400, "order-bad-request").await;
    assert_eq!(problem["field"], "currency");
    assert_eq!(app.events(0).await, before);

    // The route and its schemas are in the OpenAPI document.
    let openapi: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let operation = &openapi["paths"][path("{order_id}", "{payment_id}")]["post"];
    let body = &operation["requestBody"];
    assert!(body["content"]["application/json"].is_object(), "{operation}");
    assert!(body["description"].as_str().unwrap().contains("application/json-patch+json"), "{operation}");
    for (name, pattern) in [("order_id", "^[^:"), ("x-merchant", "^[!-9;-~]{1,64}$")] {
        let parameter = operation["parameters"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap();
        assert!(parameter["schema"]["pattern"].as_str().unwrap().starts_with(pattern), "{parameter}");
    }
    assert!(openapi["components"]["schemas"]["NorceOrder"].is_object());
    assert!(openapi["components"]["schemas"]["NorcePatchOperation"].is_object());
}
api_test!(bad_bodies_and_credentials_are_refused_in_norces_shape);

async fn the_key_may_come_without_the_bearer_word(app: TestApp) {
    let key = norce_key(&app).await;
    let send = |authorization: String| {
        app.client
            .post(app.url(&path(ORDER, PAYMENT)))
            .header("authorization", authorization)
            .header("x-merchant", MERCHANT)
            .header("x-channel", CHANNEL)
            .header("content-type", "application/json-patch+json")
            .json(&sample("Intent"))
            .send()
    };
    // Norce's own curl samples: `Authorization: <key>`.
    assert_eq!(send(key.clone()).await.unwrap().status(), 200);
    assert_eq!(send(format!("bearer {key}")).await.unwrap().status(), 200);
    // Another scheme is no key, and a wrong bare key is refused like a wrong bearer one.
    let basic = assert_refused(send(format!("Basic {key}")).await.unwrap(), 401, "unauthorized").await;
    let wrong = assert_refused(send(format!("{key}x")).await.unwrap(), 401, "unauthorized").await;
    assert_eq!(basic, wrong);
}
api_test!(the_key_may_come_without_the_bearer_word);

/// A hook registered with `version: "v1"`: Order API v1's body. Its payments have no
/// `merchant`/`channel` but `actions` and `recurring`; its order has `notifications`.
fn v1_order(state: &str) -> Value {
    let mut order = sample(state);
    let payment = order["payments"][0].as_object_mut().unwrap();
    payment.remove("merchant");
    payment.remove("channel");
    payment.insert(
        "actions".into(),
        json!([{"adapterId": "klarna-checkout", "id": "a_1", "type": "redirect", "url": "https://pay.example/a_1"}]),
    );
    payment.insert("recurring".into(), json!(false));
    order["notifications"] = json!([{"type": "email", "sent": "2024-05-02T09:14:03Z"}]);
    order
}

async fn v0_and_v1_bodies_both_work(app: TestApp) {
    let key = norce_key(&app).await;
    assert_eq!(ok(&app, &key, &v1_order("Reserved")).await, json!([]));
    assert_eq!(ours(&app, ORDER, PAYMENT).await["status"], "authorized");
    // A v0 hook for the same payment, then a v1 one again: one payment moving forward.
    assert_eq!(ok(&app, &key, &sample("Captured")).await, json!([]));
    assert_eq!(ok(&app, &key, &v1_order("Refunded")).await, json!([]));
    let payment = ours(&app, ORDER, PAYMENT).await;
    assert_eq!((payment["status"].as_str(), payment["amount_refunded"].as_i64()), (Some("paid"), Some(154850)));
    assert_eq!(payment["attrs"]["norce"]["actions"][0]["type"], "redirect", "the v1 entry is kept as it came");
    // v1 fields are type-checked like the others: actions must be a list.
    let mut bad = v1_order("Refunded");
    bad["payments"][0]["actions"] = json!("redirect");
    assert_eq!(
        assert_refused(hook(&app, &key, &bad).await, 400, "order-bad-request").await["field"],
        "payments[0].actions"
    );
}
api_test!(v0_and_v1_bodies_both_work);

async fn cancelled_and_refunded_are_read_and_written_back_in_every_norces_words(app: TestApp) {
    let key = norce_key(&app).await;
    // A cancelled payment that a late hook calls pending: stale, answered with `removed`, which
    // every Norce version knows.
    assert_eq!(ok(&app, &key, &sample("Cancelled")).await, json!([]));
    let answer = ok(&app, &key, &sample("Pending")).await;
    assert_eq!(answer, json!([{"op": "replace", "path": "/payments/0/state", "value": "Removed"}]));
    // `cancelled` for a paid payment contradicts it: a conflict, flagged for review.
    let paid = norce_order("o_paid", vec![norce_payment("p_paid", "o_paid", "Captured", 10.0)]);
    assert_eq!(ok(&app, &key, &paid).await, json!([]));
    let cancelled = norce_order("o_paid", vec![norce_payment("p_paid", "o_paid", "cancelled", 10.0)]);
    let refused = assert_refused(hook(&app, &key, &cancelled).await, 400, "order-conflict").await;
    assert_eq!(
        (refused["current_state"].as_str(), refused["current_status"].as_str()),
        (Some("captured"), Some("paid"))
    );
    assert_eq!(refused["field"], "payments[0].state");
    // `refunded` pays back what remains, once: a repeat changes nothing, and a late `captured`
    // is answered with `credited`.
    let refunded = norce_order("o_paid", vec![norce_payment("p_paid", "o_paid", "refunded", 10.0)]);
    assert_eq!(ok(&app, &key, &refunded).await, json!([]));
    assert_eq!(ok(&app, &key, &refunded).await, json!([]));
    let payment = ours(&app, "o_paid", "p_paid").await;
    assert_eq!(payment["amount_refunded"], 1000);
    let answer = ok(&app, &key, &paid).await;
    assert_eq!(answer, json!([{"op": "replace", "path": "/payments/0/state", "value": "Credited"}]));
}
api_test!(cancelled_and_refunded_are_read_and_written_back_in_every_norces_words);

/// Norce may deliver the first hooks of an order at the same time: one order and one payment result.
async fn simultaneous_first_hooks_make_one_order_and_one_payment(app: TestApp) {
    let key = norce_key(&app).await;
    let body = sample("Reserved");
    let hooks = (0..6).map(|_| hook(&app, &key, &body));
    for response in futures::future::join_all(hooks).await {
        let status = response.status();
        assert_eq!((status, response.text().await.unwrap()), (reqwest::StatusCode::OK, "[]".to_owned()));
    }
    let events = app.trail(0).await;
    assert_eq!(kinds(&events), ["order.created", "payment.created", "payment.status_changed"]);
    let orders: Value = app.get("/v1/orders").await.json().await.unwrap();
    assert_eq!(orders["data"].as_array().unwrap().len(), 1);
    assert_eq!(ours(&app, ORDER, PAYMENT).await["status"], "authorized");
}
api_test!(simultaneous_first_hooks_make_one_order_and_one_payment);

/// What was done through the native API is respected; each case is a 400 naming the field.
async fn native_changes_are_respected(app: TestApp) {
    let key = norce_key(&app).await;
    // An external id made by hand for a payment of another order.
    let native = app.order("N-1", 500).await;
    app.payment(native["id"].as_str().unwrap(), 500, Some(&format!("norce:{MERCHANT}:o_hand:p_hand"))).await;
    let body = norce_order("o_hand", vec![norce_payment("p_hand", "o_hand", "captured", 5.0)]);
    let problem = assert_refused(hook(&app, &key, &body).await, 400, "order-bad-request").await;
    assert_eq!(problem["field"], "payments[0].id");

    // A payment deleted in paystate takes no more updates.
    let body = |state: &str| norce_order("o_del", vec![norce_payment("p_del", "o_del", state, 5.0)]);
    assert_eq!(ok(&app, &key, &body("intent")).await, json!([]));
    let deleted =
        app.request(Method::DELETE, &format!("/v1/payments/norce:{MERCHANT}:o_del:p_del"), &app.admin_key).send().await;
    assert_eq!(deleted.unwrap().status(), 200);
    let problem = assert_refused(hook(&app, &key, &body("reserved")).await, 400, "order-bad-request").await;
    assert_eq!(problem["field"], "payments[0].id");
    assert!(problem["message"].as_str().unwrap().contains("deleted"), "{problem}");

    // An order closed in paystate takes no new payment.
    let closed = app.post(&format!("/v1/orders/norce:{MERCHANT}:o_del/state"), json!({"state": "closed"})).await;
    assert_eq!(closed.status(), 200);
    let mut another = body("intent");
    another["payments"] = json!([norce_payment("p_new", "o_del", "intent", 5.0)]);
    let problem = assert_refused(hook(&app, &key, &another).await, 400, "order-bad-request").await;
    assert_eq!(problem["field"], "id");
    assert!(problem["message"].as_str().unwrap().contains("closed"), "{problem}");
}
api_test!(native_changes_are_respected);
