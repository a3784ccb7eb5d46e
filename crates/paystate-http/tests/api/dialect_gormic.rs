//! Gormic Order Management: the document's four samples, the status mapping, every rule code,
//! refunds up to and over the limit (also concurrently), corrections, idempotent confirm and
//! delete, `can` for every status, cross-organization access and malformed bodies.

use crate::api_test;
use crate::helpers::{TestApp, assert_problem};
use paystate_domain::Source;
use paystate_store::Scope;
use reqwest::{Method, Response};
use serde_json::{Value, json};

/// A Gormic client: an `api-key` limited to this dialect and the tenant's id as `organization-id`.
pub(crate) struct Om<'a> {
    app: &'a TestApp,
    key: String,
    organization: String,
}

impl<'a> Om<'a> {
    pub(crate) async fn new(app: &'a TestApp) -> Om<'a> {
        let key = app.key(Scope::Write, Some(Source::Gormic)).await;
        Om { app, key, organization: app.tenant_id.to_string() }
    }

    pub(crate) fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.app
            .client
            .request(method, self.app.url(path))
            .header("api-key", &self.key)
            .header("organization-id", &self.organization)
    }

    pub(crate) async fn create(&self, params: Value) -> Response {
        self.request(Method::POST, "/v1/om/payments").json(&json!({"params": params})).send().await.unwrap()
    }

    pub(crate) async fn update(&self, uid: &str, params: Value) -> Response {
        self.request(Method::PATCH, &format!("/v1/om/payments/{uid}"))
            .json(&json!({"params": params}))
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn confirm(&self, uid: &str, params: Option<Value>) -> Response {
        let request = self.request(Method::PATCH, &format!("/v1/om/payments/{uid}/confirm"));
        match params {
            Some(params) => request.json(&json!({"params": params})),
            None => request,
        }
        .send()
        .await
        .unwrap()
    }

    pub(crate) async fn delete(&self, uid: &str) -> Response {
        self.request(Method::DELETE, &format!("/v1/om/payments/{uid}")).send().await.unwrap()
    }

    /// Creates a payment and answers its id.
    pub(crate) async fn payment(&self, params: Value) -> String {
        let data = ok(self.create(params.clone()).await).await;
        data["id"].as_str().unwrap_or_else(|| panic!("{params}: {data}")).to_owned()
    }

    pub(crate) async fn receipt(&self, order: &str, amount: f64, status: &str) -> String {
        self.payment(json!({"orderId": order, "type": "receipt", "amount": amount, "status": status})).await
    }

    pub(crate) async fn refund(&self, order: &str, source: &str, amount: f64, status: &str) -> Response {
        self.create(
            json!({"orderId": order, "type": "refund", "sourcePaymentId": source, "amount": amount, "status": status}),
        )
        .await
    }

    /// The order's items as Gormic shows them (by confirming a complete payment of it, which changes nothing).
    pub(crate) async fn items_of(&self, complete_uid: &str) -> Vec<Value> {
        ok(self.confirm(complete_uid, None).await).await["items"].as_array().unwrap().clone()
    }
}

/// Asserts a 200 in Gormic's envelope; answers `data`.
pub(crate) async fn ok(response: Response) -> Value {
    let status = response.status();
    let request_id = response.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected = vec!["app", "service", "warnings", "instanceId", "requestId", "data"];
    expected.sort_unstable();
    assert_eq!(keys, expected, "{body}");
    assert_eq!(body["app"], "paystate");
    assert_eq!(body["service"], "om");
    assert_eq!(body["warnings"], json!([]));
    assert_eq!(body["instanceId"], "test-instance");
    assert_eq!(body["requestId"].as_str(), request_id.as_deref());
    body["data"].clone()
}

/// Asserts a refusal `{"error": {"code", "message"}}` with this status and code; answers the message.
pub(crate) async fn refused(response: Response, status: u16, code: &str) -> String {
    let got = response.status();
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(got, status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    assert_eq!(body["error"].as_object().unwrap().len(), 2, "{body}");
    body["error"]["message"].as_str().unwrap().to_owned()
}

async fn method(app: &TestApp, code: &str, visible: bool) -> String {
    let body = json!({
        "code": code,
        "locales": {
            "en": {"name": format!("{code} (en)"), "description": "Pay at the counter"},
            "ar": {"name": format!("{code} (ar)"), "description": "الدفع عند الصندوق"}
        },
        "visible": visible
    });
    let created: Value = app.post("/v1/payment-methods", body).await.json().await.unwrap();
    created["id"].as_str().unwrap().to_owned()
}

pub(crate) async fn native_payment(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/v1/payments/{id}")).await.json().await.unwrap()
}

async fn set_order_state(app: &TestApp, order: &str, state: &str) {
    let response = app.post(&format!("/v1/orders/{order}/state"), json!({"state": state})).await;
    assert_eq!(response.status(), 200);
}

pub(crate) fn item<'v>(items: &'v [Value], id: &str) -> &'v Value {
    items.iter().find(|i| i["id"] == id).unwrap_or_else(|| panic!("{id} is not among the items"))
}

const ITEM_KEYS: [&str; 20] = [
    "type",
    "status",
    "completedAt",
    "reversedAt",
    "custom",
    "amount",
    "sourcePaymentId",
    "transactionRef",
    "attrs",
    "invoiceId",
    "note",
    "createdAt",
    "createdVia",
    "createdBy",
    "updatedAt",
    "updatedVia",
    "updatedBy",
    "id",
    "can",
    "methodUid",
];

const METHOD_KEYS: [&str; 9] =
    ["locales", "visible", "createdAt", "createdVia", "createdBy", "updatedAt", "updatedVia", "updatedBy", "id"];

/// Keys of the first occurrence of `anchor` in a raw JSON text appear in this order.
fn in_order(text: &str, anchor: &str, keys: &[&str]) {
    let start = text.find(anchor).unwrap();
    let mut last = 0;
    for key in keys {
        let at = text[start..].find(&format!("\"{key}\":")).unwrap_or_else(|| panic!("{key} missing in {text}"));
        assert!(at >= last, "{key} out of the document's order in {text}");
        last = at;
    }
}

async fn the_documents_four_samples(app: TestApp) {
    let om = Om::new(&app).await;
    let order = app.order("G-1", 1000).await;
    let order_id = order["id"].as_str().unwrap();
    let card = method(&app, "card", true).await;
    let first = om.receipt(order_id, 2.0, "complete").await;
    let key_id = format!("key_{}", om.key.split('_').nth(1).unwrap());

    // 1. Create, with every field of the sample.
    let response = om
        .create(json!({
            "orderId": order_id,
            "type": "receipt",
            "custom": true,
            "amount": 1,
            "methodId": card,
            "customerUid": "text",
            "status": "complete",
            "sourcePaymentId": first,
            "transactionRef": "text",
            "attrs": {},
            "invoiceId": "text",
            "note": "text"
        }))
        .await;
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let raw = response.text().await.unwrap();
    in_order(&raw, "{", &["app", "service", "warnings", "instanceId", "requestId", "data"]);
    let body: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(body["requestId"], request_id.as_str());
    assert_eq!(body["data"].as_object().unwrap().len(), 1);
    let created = body["data"]["id"].as_str().unwrap().to_owned();
    assert!(created.starts_with("pay_"));
    let native = native_payment(&app, &created).await;
    assert_eq!(native["status"], "paid");
    assert_eq!(native["amount"], 100);
    assert_eq!(native["custom"], true);
    assert_eq!(native["source_payment_id"], first.as_str());
    assert_eq!(native["attrs"], json!({"_gormic": {"customerUid": "text"}}), "customerUid is kept");
    assert_eq!(native["created_via"], "gormic");

    // 2. Update, with every field of the sample (here on a pending receipt, which it completes).
    let pending =
        om.payment(json!({"orderId": order_id, "type": "receipt", "amount": 5, "sourcePaymentId": first})).await;
    let data = ok(om
        .update(
            &pending,
            json!({
                "id": pending,
                "orderId": order_id,
                "amount": 1,
                "methodId": card,
                "custom": true,
                "correction": true,
                "customerUid": "text",
                "status": "complete",
                "sourcePaymentId": first,
                "transactionRef": "text",
                "attrs": {},
                "note": "text"
            }),
        )
        .await)
    .await;
    assert_eq!(data, json!({"success": true}));
    let native = native_payment(&app, &pending).await;
    assert_eq!((native["status"].as_str(), native["amount"].as_i64()), (Some("paid"), Some(100)));
    assert_eq!(native["method_id"], card.as_str());

    // 3. Confirm, with the sample's body.
    let to_confirm = om.receipt(order_id, 1.5, "pending").await;
    let response = om
        .confirm(
            &to_confirm,
            Some(json!({
                "id": to_confirm,
                "orderId": order_id,
                "customerUid": "text",
                "transactionRef": "text",
                "attrs": {"till": 3}
            })),
        )
        .await;
    let raw = response.text().await.unwrap();
    in_order(&raw, "\"items\"", &ITEM_KEYS);
    in_order(&raw, "\"paymentMethods\"", &METHOD_KEYS);
    let body: Value = serde_json::from_str(&raw).unwrap();
    let data = &body["data"];
    assert_eq!(data.as_object().unwrap().len(), 2);
    let items = data["items"].as_array().unwrap();
    assert_eq!(items.len(), 4, "the order's payments after the change");
    for item in items {
        let mut keys: Vec<&str> = item.as_object().unwrap().keys().map(String::as_str).collect();
        let mut expected = ITEM_KEYS.to_vec();
        keys.sort_unstable();
        expected.sort_unstable();
        assert_eq!(keys, expected);
    }
    let confirmed = item(items, &to_confirm);
    assert_eq!(confirmed["type"], "receipt");
    assert_eq!(confirmed["status"], "complete");
    assert!(confirmed["completedAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(confirmed["reversedAt"], Value::Null);
    assert_eq!(confirmed["amount"], json!(1.5));
    assert_eq!(confirmed["transactionRef"], "text");
    assert_eq!(confirmed["attrs"], json!({"till": 3}), "the reserved member is never shown");
    assert_eq!(confirmed["createdVia"], "gormic");
    assert_eq!(confirmed["updatedVia"], "gormic");
    assert_eq!(confirmed["createdBy"], key_id.as_str());
    assert_eq!(confirmed["updatedBy"], key_id.as_str());
    assert_eq!(confirmed["methodUid"], Value::Null);
    assert_eq!(confirmed["can"], json!(["reverse", "refund"]));
    let sample = item(items, &created);
    assert_eq!((sample["amount"].clone(), sample["custom"].clone()), (json!(1), json!(true)));
    assert_eq!(sample["invoiceId"], "text");
    assert_eq!(sample["note"], "text");
    assert_eq!(sample["sourcePaymentId"], first.as_str());
    assert_eq!(sample["methodUid"], card.as_str());
    let methods = data["paymentMethods"].as_array().unwrap();
    assert_eq!(methods.len(), 1, "only the methods the items use");
    assert_eq!(methods[0]["id"], card.as_str());
    assert_eq!(methods[0]["visible"], true);
    assert_eq!(methods[0]["locales"]["en"], json!({"name": "card (en)", "description": "Pay at the counter"}));
    assert_eq!(methods[0]["locales"]["ar"]["name"], "card (ar)");
    assert_eq!(methods[0]["createdVia"], "native");

    // 4. Delete.
    let to_delete = om.receipt(order_id, 3.0, "pending").await;
    let data = ok(om.delete(&to_delete).await).await;
    let items = data["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert!(items.iter().all(|i| i["id"] != to_delete.as_str()));
    assert_eq!(data["paymentMethods"].as_array().unwrap().len(), 1);
}
api_test!(the_documents_four_samples);

async fn statuses_map_to_the_canonical_machine(app: TestApp) {
    let om = Om::new(&app).await;
    let order = app.order("G-2", 1000).await;
    let order_id = order["id"].as_str().unwrap();
    let default = om.payment(json!({"orderId": order_id, "type": "receipt", "amount": "2.50"})).await;
    let progress = om.receipt(order_id, 1.0, "progress").await;
    let complete = om.receipt(order_id, 1.0, "complete").await;
    let reversed = om.receipt(order_id, 1.0, "reversed").await;
    for (id, canonical) in [(&default, "pending"), (&progress, "pending"), (&complete, "paid"), (&reversed, "canceled")]
    {
        assert_eq!(native_payment(&app, id).await["status"], canonical);
    }
    let items = om.items_of(&complete).await;
    assert_eq!(item(&items, &default)["status"], "pending");
    assert_eq!(item(&items, &default)["amount"], json!(2.5));
    assert_eq!(item(&items, &progress)["status"], "progress");
    assert_eq!(item(&items, &complete)["status"], "complete");
    assert!(item(&items, &complete)["completedAt"].is_string());
    assert_eq!(item(&items, &reversed)["status"], "reversed");
    assert!(item(&items, &reversed)["reversedAt"].is_string());
    assert_eq!(item(&items, &reversed)["completedAt"], Value::Null);

    // pending and progress switch back and forth; a complete payment never goes back.
    ok(om.update(&progress, json!({"status": "pending"})).await).await;
    ok(om.update(&default, json!({"status": "progress"})).await).await;
    let items = om.items_of(&complete).await;
    assert_eq!(item(&items, &progress)["status"], "pending");
    assert_eq!(item(&items, &default)["status"], "progress");
    ok(om.update(&default, json!({"status": "complete"})).await).await;
    assert_eq!(native_payment(&app, &default).await["status"], "paid");
    let message = refused(om.update(&default, json!({"status": "pending"})).await, 400, "INVALID_STATUS").await;
    assert!(message.contains("complete"), "{message}");
    refused(om.update(&reversed, json!({"status": "complete"})).await, 400, "INVALID_STATUS").await;
    ok(om.update(&default, json!({"status": "reversed"})).await).await;
    let reversed_now = native_payment(&app, &default).await;
    assert_eq!(reversed_now["status"], "reversed");
    assert!(reversed_now["reversed_at"].is_string());

    // Payments of other APIs read in Gormic's words.
    let authorized = app.payment(order_id, 100, None).await["id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/payments/{authorized}/status"), json!({"status": "authorized"})).await;
    let failed = app.payment(order_id, 100, None).await["id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/payments/{failed}/status"), json!({"status": "failed"})).await;
    let items = om.items_of(&complete).await;
    assert_eq!(item(&items, &authorized)["status"], "progress");
    assert_eq!(item(&items, &authorized)["createdVia"], "native");
    assert_eq!(item(&items, &failed)["status"], "reversed");

    // Every change is an event made through the status machine, stamped with the dialect.
    let events = app.events(0).await;
    let gormic: Vec<&Value> = events.iter().filter(|e| e["source"] == "gormic").collect();
    assert!(gormic.iter().any(|e| e["type"] == "payment.status_changed" && e["data"]["status"] == "reversed"));
    assert!(gormic.iter().all(|e| e["actor"].as_str().unwrap().starts_with("key_")));
    assert!(gormic.iter().all(|e| !e["request_id"].as_str().unwrap().is_empty()));
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("source=\"gormic\",outcome=\"applied\",status=\"paid\""), "{metrics}");
}
api_test!(statuses_map_to_the_canonical_machine);

async fn every_rule_has_its_code_and_writes_nothing(app: TestApp) {
    let om = Om::new(&app).await;
    let order = app.order("G-3", 1000).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    let other_order = app.order("G-3b", 1000).await;
    let other_order_id = other_order["id"].as_str().unwrap().to_owned();
    let hidden = method(&app, "voucher", false).await;
    let complete = om.receipt(&order_id, 10.0, "complete").await;
    let pending = om.receipt(&order_id, 10.0, "pending").await;
    let reversed = om.receipt(&order_id, 10.0, "reversed").await;
    let elsewhere = om.receipt(&other_order_id, 10.0, "complete").await;
    let (_, other_key) = app.other_tenant().await;
    let foreign = app.post_json_as("/v1/payment-methods", &other_key, json!({"code": "cash", "locales": {}})).await;
    let before = app.events(0).await.len();

    let receipt = |extra: Value| {
        let mut params = json!({"orderId": order_id, "type": "receipt", "amount": 1});
        params.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        params
    };
    let invalid = [
        (json!({"type": "receipt", "amount": 1}), "params.orderId"),
        (json!({"orderId": order_id, "amount": 1}), "params.type"),
        (receipt(json!({"type": "gift"})), "params.type"),
        (receipt(json!({"status": "done"})), "params.status"),
        (receipt(json!({"status": "COMPLETE"})), "params.status"),
        (json!({"orderId": order_id, "type": "receipt"}), "params.amount"),
        (receipt(json!({"amount": 1.001})), "params.amount"),
        (receipt(json!({"amount": "1.001"})), "params.amount"),
        (receipt(json!({"amount": 0})), "params.amount"),
        (receipt(json!({"amount": -5})), "params.amount"),
        (receipt(json!({"amount": -0.5})), "params.amount"),
        (receipt(json!({"amount": "abc"})), "params.amount"),
        (receipt(json!({"amount": true})), "params.amount"),
        (receipt(json!({"amount": 1e20})), "params.amount"),
        (receipt(json!({"custom": "yes"})), "params.custom"),
        (receipt(json!({"attrs": [1]})), "params.attrs"),
        (receipt(json!({"attrs": {"_gormic": {"booked": true}}})), "params.attrs"),
        (receipt(json!({"note": 5})), "params.note"),
        (receipt(json!({"note": "x".repeat(2001)})), "params.note"),
        (receipt(json!({"orderId": ""})), "params.orderId"),
        (receipt(json!({"customerUid": "a\nb"})), "params.customerUid"),
        (receipt(json!({"currency": "EUR"})), "params"),
        (receipt(json!({"type": "refund"})), "params.sourcePaymentId"),
        (receipt(json!({"type": "refund", "sourcePaymentId": pending})), "params.sourcePaymentId"),
        (receipt(json!({"type": "refund", "sourcePaymentId": reversed})), "params.sourcePaymentId"),
        (receipt(json!({"type": "refund", "sourcePaymentId": elsewhere})), "params.sourcePaymentId"),
        (receipt(json!({"type": "refund", "sourcePaymentId": "pay_nope"})), "params.sourcePaymentId"),
    ];
    for (params, field) in invalid {
        let message = refused(om.create(params.clone()).await, 400, "InvalidParameter").await;
        assert!(message.starts_with(&format!("{field}:")), "{params}: {message}");
    }
    for method_id in [json!("pm_0000000000000000000000000000000a"), json!("cash"), json!(hidden), foreign["id"].clone()]
    {
        let message = refused(om.create(receipt(json!({"methodId": method_id}))).await, 400, "MethodNotFound").await;
        assert!(message.contains("methodId"), "{message}");
        refused(om.update(&pending, json!({"methodId": method_id})).await, 400, "MethodNotFound").await;
    }

    for (action, response) in [
        ("confirm a reversed payment", om.confirm(&reversed, None).await),
        ("update a complete one without correction", om.update(&complete, json!({"note": "x"})).await),
        ("delete a complete one", om.delete(&complete).await),
        ("delete a reversed one", om.delete(&reversed).await),
        ("move a complete one back", om.update(&complete, json!({"status": "progress"})).await),
    ] {
        let message = refused(response, 400, "INVALID_STATUS").await;
        assert!(!message.is_empty(), "{action}");
    }
    refused(om.create(receipt(json!({"orderId": "no-such-order"}))).await, 404, "NOT_FOUND").await;
    refused(om.update("pay_0000000000000000000000000000000a", json!({})).await, 404, "NOT_FOUND").await;
    refused(om.update(&pending, json!({"id": complete})).await, 400, "InvalidParameter").await;
    refused(om.update(&pending, json!({"orderId": other_order_id})).await, 400, "InvalidParameter").await;
    refused(om.update(&pending, json!({"sourcePaymentId": complete})).await, 400, "InvalidParameter").await;
    refused(om.update(&pending, json!({"type": "refund"})).await, 400, "InvalidParameter").await;
    assert_eq!(app.events(0).await.len(), before, "no refusal writes anything");
    // A method may be named by its code, too.
    let cash = method(&app, "cash", true).await;
    ok(om.update(&pending, json!({"methodId": "cash"})).await).await;
    assert_eq!(native_payment(&app, &pending).await["method_id"], cash.as_str());

    // A closed order and a canceled order take no changes at all.
    for (state, code) in [("closed", "ORDER_CLOSED"), ("canceled", "ORDER_CANCELED")] {
        let order = app.order(&format!("G-3-{state}"), 1000).await;
        let id = order["id"].as_str().unwrap();
        let paid = om.receipt(id, 5.0, "complete").await;
        let open = om.receipt(id, 5.0, "pending").await;
        set_order_state(&app, id, state).await;
        let before = app.events(0).await.len();
        refused(om.create(json!({"orderId": id, "type": "receipt", "amount": 1})).await, 400, code).await;
        refused(om.refund(id, &paid, 1.0, "complete").await, 400, code).await;
        refused(om.update(&open, json!({"note": "late"})).await, 400, code).await;
        refused(om.confirm(&open, None).await, 400, code).await;
        refused(om.delete(&open).await, 400, code).await;
        refused(om.update(&paid, json!({"status": "reversed"})).await, 400, code).await;
        assert_eq!(app.events(0).await.len(), before);
    }
}
api_test!(every_rule_has_its_code_and_writes_nothing);

async fn refunds_up_to_and_over_the_limit(app: TestApp) {
    let om = Om::new(&app).await;
    let order = app.order("G-4", 10000).await;
    let order_id = order["id"].as_str().unwrap();
    let a = om.receipt(order_id, 60.0, "complete").await;
    let b = om.receipt(order_id, 40.0, "complete").await;

    // A refund that completes is booked on its receipt, so the native API shows it.
    let first = ok(om.refund(order_id, &a, 50.0, "complete").await).await["id"].as_str().unwrap().to_owned();
    let a_native = native_payment(&app, &a).await;
    assert_eq!((a_native["amount_refunded"].as_i64(), a_native["has_refunds"].as_bool()), (Some(5000), Some(true)));
    let first_native = native_payment(&app, &first).await;
    assert_eq!((first_native["type"].as_str(), first_native["status"].as_str()), (Some("refund"), Some("paid")));

    let message = refused(om.refund(order_id, &a, 10.01, "complete").await, 400, "LIMIT_REACHED").await;
    assert!(message.contains("10.01") && message.contains(&a), "{message}");
    // A pending refund reserves its amount.
    let pending = ok(om.refund(order_id, &a, 10.0, "pending").await).await["id"].as_str().unwrap().to_owned();
    refused(om.refund(order_id, &a, 0.01, "pending").await, 400, "LIMIT_REACHED").await;
    refused(om.update(&pending, json!({"amount": 10.01})).await, 400, "LIMIT_REACHED").await;
    let items = om.items_of(&a).await;
    assert_eq!(item(&items, &a)["can"], json!(["reverse"]), "nothing left to refund");
    assert_eq!(item(&items, &b)["can"], json!(["reverse", "refund"]));
    assert_eq!(item(&items, &pending)["can"], json!(["confirm", "update", "delete", "reverse"]));
    assert_eq!(item(&items, &first)["can"], json!([]), "a completed refund is final");
    assert_eq!(item(&items, &first)["sourcePaymentId"], a.as_str());
    assert_eq!(item(&items, &first)["type"], "refund");

    // Up to the limit: the pending refund completes, then B is refunded in full.
    ok(om.confirm(&pending, None).await).await;
    assert_eq!(native_payment(&app, &a).await["amount_refunded"], 6000);
    ok(om.refund(order_id, &b, 40.0, "complete").await).await;
    refused(om.refund(order_id, &b, 0.01, "complete").await, 400, "LIMIT_REACHED").await;
    refused(om.refund(order_id, &a, 0.01, "progress").await, 400, "LIMIT_REACHED").await;
    let refunded: i64 =
        app.get(&format!("/v1/payments?order_id={order_id}")).await.json::<Value>().await.unwrap()["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["type"] == "refund" && p["status"] == "paid")
            .map(|p| p["amount"].as_i64().unwrap())
            .sum();
    assert_eq!(refunded, 10000, "refunds reach exactly what the receipts paid");
    // The native API sees the receipt as fully refunded and refuses more.
    let native_refund = app.post(&format!("/v1/payments/{a}/refunds"), json!({"amount": 1})).await;
    assert_eq!(native_refund.status(), 422);

    // A completed refund cannot be reversed or have its amount corrected; a receipt's amount
    // cannot be corrected below what was refunded of it.
    refused(om.update(&first, json!({"status": "reversed"})).await, 400, "INVALID_STATUS").await;
    refused(om.update(&first, json!({"amount": 40, "correction": true})).await, 400, "INVALID_STATUS").await;
    refused(om.update(&a, json!({"amount": 59.99, "correction": true})).await, 400, "LIMIT_REACHED").await;
    ok(om.update(&first, json!({"note": "returned goods", "correction": true})).await).await;

    // Refunds recorded through another API count too: a native refund leaves less for Gormic.
    let c = om.receipt(order_id, 20.0, "complete").await;
    let waiting = ok(om.refund(order_id, &c, 15.0, "pending").await).await["id"].as_str().unwrap().to_owned();
    assert_eq!(app.post(&format!("/v1/payments/{c}/refunds"), json!({"amount": 1000})).await.status(), 200);
    let items = om.items_of(&a).await;
    assert_eq!(item(&items, &waiting)["can"], json!(["update", "delete", "reverse"]), "confirm would overdraw");
    refused(om.confirm(&waiting, None).await, 400, "LIMIT_REACHED").await;
    ok(om.update(&waiting, json!({"amount": 10})).await).await;
    ok(om.confirm(&waiting, None).await).await;
    assert_eq!(native_payment(&app, &c).await["amount_refunded"], 2000);
}
api_test!(refunds_up_to_and_over_the_limit);

async fn concurrent_refunds_cannot_overdraw(app: TestApp) {
    let om = Om::new(&app).await;
    let order = app.order("G-5", 10000).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    let receipt = om.receipt(&order_id, 100.0, "complete").await;
    let mut tasks = Vec::new();
    for task in 0..16 {
        let (client, url, key, organization) =
            (app.client.clone(), app.url("/v1/om/payments"), om.key.clone(), om.organization.clone());
        let body = json!({"params": {
            "orderId": order_id, "type": "refund", "sourcePaymentId": receipt, "amount": 10,
            "status": if task % 2 == 0 { "complete" } else { "pending" }
        }});
        tasks.push(tokio::spawn(async move {
            let response = client
                .post(url)
                .header("api-key", key)
                .header("organization-id", organization)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            (status, body)
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            200 => accepted += 1,
            400 => assert_eq!(body["error"]["code"], "LIMIT_REACHED", "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(accepted, 10, "exactly what the receipt paid, not a cent more");
    let items = om.items_of(&receipt).await;
    let reserved: f64 = items.iter().filter(|i| i["type"] == "refund").map(|i| i["amount"].as_f64().unwrap()).sum();
    assert_eq!(reserved, 100.0);
    let pending: Vec<&Value> = items.iter().filter(|i| i["status"] == "pending").collect();
    for refund in &pending {
        ok(om.confirm(refund["id"].as_str().unwrap(), None).await).await;
    }
    assert_eq!(native_payment(&app, &receipt).await["amount_refunded"], 10000);
}
api_test!(concurrent_refunds_cannot_overdraw);

async fn a_complete_payment_changes_only_with_correction(app: TestApp) {
    let om = Om::new(&app).await;
    let order = app.order("G-6", 10000).await;
    let order_id = order["id"].as_str().unwrap();
    let card = method(&app, "card", true).await;
    let paid = om.receipt(order_id, 25.0, "complete").await;
    let before = app.events(0).await.len();
    refused(om.update(&paid, json!({"amount": 20})).await, 400, "INVALID_STATUS").await;
    refused(om.update(&paid, json!({"methodId": card, "correction": false})).await, 400, "INVALID_STATUS").await;
    assert_eq!(app.events(0).await.len(), before);
    // Sending what the payment already holds is no change, so no correction is needed.
    ok(om.update(&paid, json!({"amount": 25, "status": "complete"})).await).await;
    assert_eq!(app.events(0).await.len(), before);

    ok(om.update(&paid, json!({"amount": 20, "methodId": card, "note": "typo", "correction": true})).await).await;
    let event = app.events(0).await.pop().unwrap();
    assert_eq!(event["type"], "payment.updated");
    assert_eq!(event["source"], "gormic");
    assert_eq!(event["payment_id"], paid.as_str());
    assert_eq!(event["detail"]["correction"], true);
    assert_eq!(event["detail"]["before"]["amount"], 2500);
    assert_eq!(event["detail"]["after"]["amount"], 2000);
    assert_eq!(event["detail"]["after"]["method_id"], card.as_str());
    assert!(event["request_body"].as_str().unwrap().contains("\"correction\":true"));
    let native = native_payment(&app, &paid).await;
    assert_eq!((native["status"].as_str(), native["amount"].as_i64()), (Some("paid"), Some(2000)));
    // Reversing needs no correction (it is a status change, not an edit).
    ok(om.update(&paid, json!({"status": "reversed"})).await).await;
    refused(om.update(&paid, json!({"note": "x"})).await, 400, "INVALID_STATUS").await;
    ok(om.update(&paid, json!({"note": "x", "correction": true})).await).await;
}
api_test!(a_complete_payment_changes_only_with_correction);

async fn confirm_twice_is_idempotent(app: TestApp) {
    let om = Om::new(&app).await;
    let order = app.order("G-7", 10000).await;
    let order_id = order["id"].as_str().unwrap();
    let receipt = om.receipt(order_id, 30.0, "progress").await;
    let first = ok(om.confirm(&receipt, Some(json!({"transactionRef": "psp-1"}))).await).await;
    let events = app.events(0).await.len();
    let second = ok(om.confirm(&receipt, Some(json!({"transactionRef": "psp-1"}))).await).await;
    assert_eq!(first, second);
    let third = ok(om.confirm(&receipt, None).await).await;
    assert_eq!(first, third);
    assert_eq!(app.events(0).await.len(), events, "a repeated confirm records nothing");
    assert_eq!(item(first["items"].as_array().unwrap(), &receipt)["status"], "complete");
    // A different transactionRef on a complete payment would be an edit.
    refused(om.confirm(&receipt, Some(json!({"transactionRef": "psp-2"}))).await, 400, "INVALID_STATUS").await;

    // A refund confirmed twice is booked once.
    let refund = ok(om.refund(order_id, &receipt, 12.5, "pending").await).await["id"].as_str().unwrap().to_owned();
    ok(om.confirm(&refund, None).await).await;
    ok(om.confirm(&refund, None).await).await;
    assert_eq!(native_payment(&app, &receipt).await["amount_refunded"], 1250);
    let kinds: Vec<String> = app.events(0).await.iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "payment.refunded").count(), 1);
}
api_test!(confirm_twice_is_idempotent);

async fn delete_removes_only_what_is_not_complete(app: TestApp) {
    let om = Om::new(&app).await;
    let order = app.order("G-8", 10000).await;
    let order_id = order["id"].as_str().unwrap();
    let complete = om.receipt(order_id, 10.0, "complete").await;
    let pending = om.receipt(order_id, 10.0, "pending").await;
    let message = refused(om.delete(&complete).await, 400, "INVALID_STATUS").await;
    assert!(message.contains("complete"), "{message}");
    assert_eq!(native_payment(&app, &complete).await["deleted_at"], Value::Null);

    let data = ok(om.delete(&pending).await).await;
    let ids: Vec<&str> = data["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [complete.as_str()]);
    assert!(native_payment(&app, &pending).await["deleted_at"].is_string(), "a soft delete");
    let last = app.events(0).await.pop().unwrap();
    assert_eq!((last["type"].as_str(), last["source"].as_str()), (Some("payment.deleted"), Some("gormic")));
    let events = app.events(0).await.len();
    assert_eq!(ok(om.delete(&pending).await).await, data, "deleting again answers the same");
    assert_eq!(app.events(0).await.len(), events);
    refused(om.update(&pending, json!({"note": "x"})).await, 404, "NOT_FOUND").await;
    refused(om.confirm(&pending, None).await, 404, "NOT_FOUND").await;
}
api_test!(delete_removes_only_what_is_not_complete);

/// The states `can` is checked in: each builds a fresh order and one payment in that state.
const STATES: [&str; 11] = [
    "pending receipt",
    "progress receipt",
    "complete receipt",
    "refunded receipt",
    "reversed receipt",
    "pending refund",
    "complete refund",
    "reversed refund",
    "authorized (native)",
    "failed (native)",
    "pending of a closed order",
];

async fn build(app: &TestApp, om: &Om<'_>, state: &str, n: usize) -> (String, String) {
    let order = app.order(&format!("G-9-{n}"), 10000).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    let uid = match state {
        "pending receipt" => om.receipt(&order_id, 10.0, "pending").await,
        "progress receipt" => om.receipt(&order_id, 10.0, "progress").await,
        "complete receipt" => om.receipt(&order_id, 10.0, "complete").await,
        "refunded receipt" => {
            let receipt = om.receipt(&order_id, 10.0, "complete").await;
            ok(om.refund(&order_id, &receipt, 10.0, "complete").await).await;
            receipt
        }
        "reversed receipt" => om.receipt(&order_id, 10.0, "reversed").await,
        "pending refund" | "complete refund" | "reversed refund" => {
            let receipt = om.receipt(&order_id, 10.0, "complete").await;
            let status = state.split(' ').next().unwrap();
            ok(om.refund(&order_id, &receipt, 4.0, status).await).await["id"].as_str().unwrap().to_owned()
        }
        "authorized (native)" | "failed (native)" => {
            let id = app.payment(&order_id, 1000, None).await["id"].as_str().unwrap().to_owned();
            let status = state.split(' ').next().unwrap();
            app.post(&format!("/v1/payments/{id}/status"), json!({"status": status})).await;
            id
        }
        "pending of a closed order" => {
            let id = om.receipt(&order_id, 10.0, "pending").await;
            set_order_state(app, &order_id, "closed").await;
            id
        }
        other => panic!("{other}"),
    };
    (order_id, uid)
}

/// Tries one action; answers whether it changed something. A refusal must be a 400; an
/// action that is already done (confirming a complete payment) answers 200 and changes nothing.
async fn attempt(app: &TestApp, om: &Om<'_>, action: &str, order_id: &str, uid: &str) -> bool {
    let version = native_payment(app, uid).await["version"].as_i64().unwrap();
    let response = match action {
        "confirm" => om.confirm(uid, None).await,
        "update" => om.update(uid, json!({"note": "changed"})).await,
        "delete" => om.delete(uid).await,
        "reverse" => om.update(uid, json!({"status": "reversed"})).await,
        "refund" => om.refund(order_id, uid, 0.01, "pending").await,
        other => panic!("{other}"),
    };
    let status = response.status().as_u16();
    assert!(status == 200 || status == 400, "{action}: {status} {}", response.text().await.unwrap());
    let changed = action == "refund" || native_payment(app, uid).await["version"].as_i64().unwrap() > version;
    status == 200 && changed
}

async fn can_lists_exactly_the_actions_that_succeed(app: TestApp) {
    let om = Om::new(&app).await;
    let expected: [(&str, &[&str]); 11] = [
        ("pending receipt", &["confirm", "update", "delete", "reverse"]),
        ("progress receipt", &["confirm", "update", "delete", "reverse"]),
        ("complete receipt", &["reverse", "refund"]),
        ("refunded receipt", &["reverse"]),
        ("reversed receipt", &[]),
        ("pending refund", &["confirm", "update", "delete", "reverse"]),
        ("complete refund", &[]),
        ("reversed refund", &[]),
        ("authorized (native)", &["confirm", "update", "delete", "reverse"]),
        ("failed (native)", &["update", "delete"]),
        ("pending of a closed order", &[]),
    ];
    let mut n = 0;
    for (state, can) in expected {
        assert!(STATES.contains(&state));
        n += 1;
        let (_, uid) = build(&app, &om, state, n).await;
        let payment = native_payment(&app, &uid).await;
        let shown = shown_can(&app, &om, &payment).await;
        assert_eq!(shown, can, "can of a {state}");
        // Every listed action succeeds and every other one is refused, each on a fresh copy.
        for action in ["confirm", "update", "delete", "reverse", "refund"] {
            n += 1;
            let (order_id, uid) = build(&app, &om, state, n).await;
            let succeeded = attempt(&app, &om, action, &order_id, &uid).await;
            assert_eq!(succeeded, can.contains(&action), "{action} on a {state}");
        }
    }
}
api_test!(can_lists_exactly_the_actions_that_succeed);

/// The `can` Gormic shows for a payment: a helper payment of its order is created and deleted,
/// and deleting it again (which changes nothing, even on a closed order) answers the items.
async fn shown_can(app: &TestApp, om: &Om<'_>, payment: &Value) -> Vec<String> {
    let order_id = payment["order_id"].as_str().unwrap();
    let order: Value = app.get(&format!("/v1/orders/{order_id}")).await.json().await.unwrap();
    let closed = order["state"] == "closed";
    if closed {
        set_order_state(app, order_id, "open").await;
    }
    let helper = om.receipt(order_id, 0.01, "pending").await;
    ok(om.delete(&helper).await).await;
    if closed {
        set_order_state(app, order_id, "closed").await;
    }
    let items = ok(om.delete(&helper).await).await["items"].as_array().unwrap().clone();
    let id = payment["id"].as_str().unwrap();
    item(&items, id)["can"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect()
}

async fn credentials_and_organizations(app: TestApp) {
    let om = Om::new(&app).await;
    let order = app.order("G-10", 10000).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    let uid = om.receipt(&order_id, 10.0, "pending").await;
    let (other_tenant, other_key) = app.other_tenant().await;
    let before = app.trail(0).await.len();
    let body = json!({"params": {"orderId": order_id, "type": "receipt", "amount": 1}});

    let send = |key: Option<&str>, organization: Option<&str>| {
        let mut request = app.client.post(app.url("/v1/om/payments")).json(&body);
        if let Some(key) = key {
            request = request.header("api-key", key);
        }
        if let Some(organization) = organization {
            request = request.header("organization-id", organization);
        }
        request.send()
    };
    let tenant = app.tenant_id.to_string();
    let native_only = app.key(Scope::Write, Some(Source::Norce)).await;
    let mut bodies = Vec::new();
    for (case, response) in [
        ("no api-key", send(None, Some(&tenant)).await.unwrap()),
        ("no organization-id", send(Some(&om.key), None).await.unwrap()),
        ("unknown key", send(Some("ps_live_nope"), Some(&tenant)).await.unwrap()),
        ("wrong secret", send(Some(&format!("{}x", om.key)), Some(&tenant)).await.unwrap()),
        ("the key with another organization", send(Some(&om.key), Some(other_tenant.as_str())).await.unwrap()),
        ("another tenant's key with ours", send(Some(&other_key), Some(&tenant)).await.unwrap()),
        ("a key limited to another dialect", send(Some(&native_only), Some(&tenant)).await.unwrap()),
        (
            "a bearer token instead",
            app.client.post(app.url("/v1/om/payments")).bearer_auth(&om.key).json(&body).send().await.unwrap(),
        ),
    ] {
        assert_eq!(response.status(), 401, "{case}");
        bodies.push(response.text().await.unwrap());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "every credential failure looks the same: {bodies:?}");
    let body401: Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(body401["error"]["code"], "UNAUTHORIZED");

    // A read-only key may not change anything.
    let reader = app.key(Scope::Read, Some(Source::Gormic)).await;
    refused(send(Some(&reader), Some(&tenant)).await.unwrap(), 403, "FORBIDDEN").await;

    // Another tenant, with its own valid credentials, finds nothing of ours.
    let theirs = Om { app: &app, key: other_key.clone(), organization: other_tenant.to_string() };
    refused(theirs.update(&uid, json!({"note": "x"})).await, 404, "NOT_FOUND").await;
    refused(theirs.confirm(&uid, None).await, 404, "NOT_FOUND").await;
    refused(theirs.delete(&uid).await, 404, "NOT_FOUND").await;
    refused(theirs.create(json!({"orderId": order_id, "type": "receipt", "amount": 1})).await, 404, "NOT_FOUND").await;
    refused(theirs.create(json!({"orderId": "G-10", "type": "receipt", "amount": 1})).await, 404, "NOT_FOUND").await;
    assert_eq!(app.trail(0).await.len(), before, "nothing changed");

    // The organization may also be named by the tenant's Gormic alias.
    let patched = app.patch("/v1/tenant", json!({"settings": {"gormic": {"organization_id": "acme-42"}}})).await;
    assert_eq!(patched.status(), 200);
    let aliased = Om { app: &app, key: om.key.clone(), organization: "acme-42".into() };
    ok(aliased.update(&uid, json!({"note": "via alias"})).await).await;
    assert_eq!(send(Some(&om.key), Some("acme-43")).await.unwrap().status(), 401);
    ok(om.update(&uid, json!({"note": "via id"})).await).await;
    // An unrestricted (native) write key works too.
    let plain = Om { app: &app, key: app.key(Scope::Write, None).await, organization: tenant.clone() };
    ok(plain.confirm(&uid, None).await).await;
}
api_test!(credentials_and_organizations);

async fn malformed_bodies_are_refused_in_gormics_format(app: TestApp) {
    let om = Om::new(&app).await;
    let order = app.order("G-11", 10000).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    let uid = om.receipt(&order_id, 10.0, "pending").await;
    let before = app.events(0).await.len();
    let raw = |method: Method, path: &str, content_type: &str, body: Vec<u8>| {
        om.request(method, path).header("content-type", content_type).body(body).send()
    };
    let valid = format!(r#"{{"params": {{"orderId": "{order_id}", "type": "receipt", "amount": 1}}}}"#);
    let nested = format!("{{\"params\": {{\"attrs\": {}{}}}}}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let cases: Vec<(&str, String)> = vec![
        ("malformed JSON", "{\"params\": ".into()),
        ("empty body", String::new()),
        ("not an object", "[]".into()),
        ("a string", "\"params\"".into()),
        ("params not an object", r#"{"params": [1]}"#.into()),
        ("params null", r#"{"params": null}"#.into()),
        ("no params", r#"{"orderId": "x"}"#.into()),
        ("members beside params", format!(r#"{{"params": {{}}, "meta": 1, "x": {valid}}}"#)),
        ("NaN", format!(r#"{{"params": {{"orderId": "{order_id}", "type": "receipt", "amount": NaN}}}}"#)),
        (
            "overflowing number",
            format!(r#"{{"params": {{"orderId": "{order_id}", "type": "receipt", "amount": 99999999999999999999}}}}"#),
        ),
        (
            "escaped NUL",
            format!(r#"{{"params": {{"orderId": "{order_id}", "type": "receipt", "amount": 1, "note": "a\u0000"}}}}"#),
        ),
        (
            "raw NUL",
            format!(
                "{{\"params\": {{\"orderId\": \"{order_id}\", \"type\": \"receipt\", \"amount\": 1, \"note\": \"a\0\"}}}}"
            ),
        ),
        ("deep nesting", nested),
        ("trailing garbage", format!("{valid} x")),
        // Precision a double would round away (to 10.00) is refused, not rounded.
        (
            "too precise just below",
            format!(r#"{{"params": {{"orderId": "{order_id}", "type": "receipt", "amount": 9.999999999999999999}}}}"#),
        ),
        (
            "too precise just above",
            format!(r#"{{"params": {{"orderId": "{order_id}", "type": "receipt", "amount": 10.000000000000000001}}}}"#),
        ),
        ("vanishing", format!(r#"{{"params": {{"orderId": "{order_id}", "type": "receipt", "amount": 1e-400}}}}"#)),
    ];
    for (case, body) in cases {
        let response = raw(Method::POST, "/v1/om/payments", "application/json", body.into_bytes()).await.unwrap();
        let message = refused(response, 400, "InvalidParameter").await;
        assert!(message.starts_with("body") || message.starts_with("params"), "{case}: {message}");
    }
    let response =
        raw(Method::PATCH, &format!("/v1/om/payments/{uid}"), "application/json", b"{".to_vec()).await.unwrap();
    refused(response, 400, "InvalidParameter").await;
    let response = raw(Method::PATCH, &format!("/v1/om/payments/{uid}/confirm"), "application/json", b"[]".to_vec())
        .await
        .unwrap();
    refused(response, 400, "InvalidParameter").await;
    let response = raw(Method::POST, "/v1/om/payments", "text/xml", valid.clone().into_bytes()).await.unwrap();
    refused(response, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    let (status, body) = oversized(&app, &om).await;
    assert_eq!(status, "HTTP/1.1 413 Payload Too Large");
    assert_eq!(body["error"]["code"], "PAYLOAD_TOO_LARGE");
    assert_eq!(app.events(0).await.len(), before, "no half write");
    refused(om.request(Method::GET, "/v1/om/payments").send().await.unwrap(), 405, "METHOD_NOT_ALLOWED").await;
    refused(
        om.request(Method::POST, &format!("/v1/om/payments/{uid}")).send().await.unwrap(),
        405,
        "METHOD_NOT_ALLOWED",
    )
    .await;

    // A body without a content type is read as JSON; a charset parameter is fine.
    let response = om.request(Method::POST, "/v1/om/payments").body(valid.clone()).send().await.unwrap();
    ok(response).await;
    let response =
        raw(Method::POST, "/v1/om/payments", "application/json; charset=utf-8", valid.into_bytes()).await.unwrap();
    ok(response).await;
}
api_test!(malformed_bodies_are_refused_in_gormics_format);

/// Announces a 2 MiB body and sends its start: the answer is 413 without reading it all.
async fn oversized(app: &TestApp, om: &Om<'_>) -> (String, Value) {
    let headers = [
        ("api-key", om.key.as_str()),
        ("organization-id", om.organization.as_str()),
        ("content-type", "application/json"),
    ];
    let answer =
        crate::helpers::oversized_request(app, "POST /v1/om/payments", &headers, "{\"params\": {\"note\": \"").await;
    (answer.status, serde_json::from_str(&answer.body).unwrap())
}

async fn the_openapi_document_lists_the_routes(app: TestApp) {
    let document: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(document["paths"]["/v1/om/payments"]["post"].is_object());
    assert!(document["paths"]["/v1/om/payments/{uid}"]["patch"].is_object());
    assert!(document["paths"]["/v1/om/payments/{uid}"]["delete"].is_object());
    assert!(document["paths"]["/v1/om/payments/{uid}/confirm"]["patch"].is_object());
    assert!(document["components"]["schemas"]["gormic.Payment"].is_object());
    assert_eq!(document["components"]["securitySchemes"]["gormic_api_key"]["name"], "api-key");
}
api_test!(the_openapi_document_lists_the_routes);

async fn a_void_then_a_capture_is_a_conflict(app: TestApp) {
    let om = Om::new(&app).await;
    let order = app.order("G-V", 1000).await;
    let order_id = order["id"].as_str().unwrap();
    let uid = om.receipt(order_id, 4.0, "pending").await;
    // Gormic reverses the payment before it was captured: a void.
    let voided = om.update(&uid, json!({"status": "reversed"})).await;
    assert_eq!(voided.status(), 200);
    assert_eq!(native_payment(&app, &uid).await["status"], "canceled");
    // The provider then reports the capture: that contradicts the void, it is not old news.
    let capture = app.post(&format!("/v1/payments/{uid}/status"), json!({"status": "paid"})).await;
    assert_problem(capture, 409, "status-conflict").await;
    let payment = native_payment(&app, &uid).await;
    assert_eq!((payment["status"].as_str(), payment["needs_review"].as_bool()), (Some("canceled"), Some(true)));
    // Through Gormic the voided payment reads reversed, and confirming it is refused.
    let confirm = om.confirm(&uid, None).await;
    assert_eq!(confirm.status(), 400);
    let refused: Value = confirm.json().await.unwrap();
    assert_eq!(refused["error"]["code"], "INVALID_STATUS");

    // A reversal of a captured payment stays a reversal: a late capture report is then stale.
    let paid = om.receipt(order_id, 1.0, "complete").await;
    assert_eq!(om.update(&paid, json!({"status": "reversed"})).await.status(), 200);
    assert_eq!(native_payment(&app, &paid).await["status"], "reversed");
    let late = app.post(&format!("/v1/payments/{paid}/status"), json!({"status": "paid"})).await;
    assert_eq!(late.headers()["paystate-outcome"], "stale");
}
api_test!(a_void_then_a_capture_is_a_conflict);
