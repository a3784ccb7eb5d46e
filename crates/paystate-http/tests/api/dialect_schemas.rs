//! What each dialect's OpenAPI schema describes is what its parser accepts.
//!
//! For each dialect's write operation, a realistic body is checked against the request schema
//! the server publishes at `/openapi.json`, then varied member by member: a member the schema
//! requires, left out, must be refused by the server; a member given a value of a type the
//! schema does not allow must be refused; a member the schema leaves optional, left out, must be
//! accepted. A schema written beside a parser that drifts from it fails here.

use crate::api_test;
use crate::dialect_gormic::Om;
use crate::helpers::TestApp;
use paystate_domain::Source;
use paystate_store::Scope;
use reqwest::Response;
use serde_json::{Value, json};

/// The subset of JSON Schema the document uses for request bodies: `$ref`, `type` (one or a
/// list), `enum`, `required`, `properties`, `additionalProperties: false`, `items`, string
/// lengths and `oneOf`/`anyOf`/`allOf`. Patterns and formats are not checked.
fn conforms(doc: &Value, schema: &Value, value: &Value) -> bool {
    let schema = resolve(doc, schema);
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.iter().any(|kind| is_of_type(value, kind)) {
            return false;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return false;
    }
    for (key, any) in [("oneOf", true), ("anyOf", true), ("allOf", false)] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let mut results = options.iter().map(|option| conforms(doc, option, value));
            let ok = if any { results.any(|ok| ok) } else { results.all(|ok| ok) };
            if !ok {
                return false;
            }
        }
    }
    match value {
        Value::Object(members) => {
            let required = schema.get("required").and_then(Value::as_array).cloned().unwrap_or_default();
            if required.iter().filter_map(Value::as_str).any(|name| members.get(name).is_none_or(Value::is_null)) {
                return false;
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
            members.iter().all(|(name, member)| match properties.and_then(|p| p.get(name)) {
                Some(property) => conforms(doc, property, member),
                None => !closed,
            })
        }
        Value::Array(items) => match schema.get("items") {
            Some(item) => items.iter().all(|member| conforms(doc, item, member)),
            None => true,
        },
        Value::String(text) => {
            let length = text.chars().count() as u64;
            let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0);
            let max = schema.get("maxLength").and_then(Value::as_u64).unwrap_or(u64::MAX);
            (min..=max).contains(&length)
        }
        _ => true,
    }
}

fn is_of_type(value: &Value, kind: &str) -> bool {
    match kind {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    }
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            resolve(doc, doc.pointer(pointer).unwrap_or_else(|| panic!("{reference} is not in the document")))
        }
        None => schema,
    }
}

/// One operation under test: how to send a body, and the object of the body whose members vary.
struct Operation<'a> {
    name: &'a str,
    /// The schema of the varied object (`#/components/schemas/...`).
    schema: &'a str,
    /// Where the varied object sits in the body (a JSON Pointer; "" for the root).
    at: &'a str,
}

/// Checks `operation` with `body`; `send(body, n)` sends the `n`th variant (fresh records each
/// time where a variant could change what the next one meets).
async fn check<F, Fut>(doc: &Value, operation: Operation<'_>, body: Value, send: F)
where
    F: Fn(Value, usize) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let root = json!({"$ref": format!("#/components/schemas/{}", operation.schema)});
    let name = operation.name;
    let object = body.pointer(operation.at).and_then(Value::as_object).cloned().expect("the varied object");
    let properties = resolve(doc, &root).get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
    for (member, value) in &object {
        let fits = properties.get(member).is_none_or(|property| conforms(doc, property, value));
        assert!(fits, "{name}: the sample's {member} must conform to its schema: {}", properties[member]);
    }
    assert!(conforms(doc, &root, &Value::Object(object.clone())), "{name}: the sample must conform to its schema");
    let (mut sent, mut failures) = (0, Vec::new());
    expect(&send, &mut sent, &mut failures, name, body.clone(), true, "the sample".into()).await;

    let schema = resolve(doc, &root);
    let required: Vec<&str> =
        schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    for (member, property) in &properties {
        let Some(present) = object.get(member) else { continue };
        let mut without = object.clone();
        without.remove(member);
        let is_required = required.contains(&member.as_str());
        assert_eq!(
            conforms(doc, &root, &Value::Object(without.clone())),
            !is_required,
            "{name}: the validator reads {member}'s requiredness"
        );
        let variant = replaced(&body, operation.at, without);
        expect(&send, &mut sent, &mut failures, name, variant, !is_required, format!("leaving out {member}")).await;

        let wrong = [json!({"unexpected": true}), json!("unexpected"), json!(12345), json!(true), json!([1])]
            .into_iter()
            .find(|candidate| !conforms(doc, property, candidate) && candidate != present);
        if let Some(wrong) = wrong {
            let mut changed = object.clone();
            changed.insert(member.clone(), wrong.clone());
            let variant = replaced(&body, operation.at, changed);
            expect(&send, &mut sent, &mut failures, name, variant, false, format!("{member} = {wrong}")).await;
        }
    }
    assert!(failures.is_empty(), "the schema and the parser disagree:\n{}", failures.join("\n"));
    assert!(sent > 3, "{name}: the sample exercised too few members");
}

/// Sends one variant and checks that it is accepted (2xx) or refused (4xx).
async fn expect<F, Fut>(
    send: &F,
    sent: &mut usize,
    failures: &mut Vec<String>,
    name: &str,
    variant: Value,
    accepted: bool,
    what: String,
) where
    F: Fn(Value, usize) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    *sent += 1;
    let response = send(variant, *sent).await;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    if accepted && !(200..300).contains(&status) {
        failures.push(format!("{name}: {what} must be accepted, got {status}: {text}"));
    }
    if !accepted && !(400..500).contains(&status) {
        failures.push(format!("{name}: {what} must be refused with a 4xx, got {status}: {text}"));
    }
}

fn replaced(body: &Value, at: &str, object: serde_json::Map<String, Value>) -> Value {
    let mut body = body.clone();
    *body.pointer_mut(at).expect("the varied object") = Value::Object(object);
    body
}

async fn document(app: &TestApp) -> Value {
    app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap()
}

// --- Norce ----------------------------------------------------------------------------------

fn norce_order(id: &str) -> Value {
    json!({
        "id": id, "merchant": "norce", "channel": "1", "reference": "NC-1", "currency": "SEK",
        "created": "2024-05-02T09:12:44Z", "lastModified": "2024-05-02T09:14:03Z", "culture": "sv-SE", "country": "SE",
        "state": {"currentStatus": "Checkout"},
        "cart": {"reference": "c-1", "items": []},
        "total": {"includingVat": 100.5, "excludingVat": 80.4},
        "customer": {"type": "Person"}, "attributes": {"storeId": "42"},
        "actions": [], "consents": [], "hooks": [], "shippings": [], "validations": [],
        "payments": [{
            "id": "p-1", "adapterId": "klarna-checkout", "name": "Klarna", "merchant": "norce", "channel": "1",
            "currency": "SEK", "type": "default", "orderId": id, "amount": 100.5, "upperLimitAmount": null,
            "state": "intent", "reference": "psp-1", "attributes": {"k": "v"}, "actions": []
        }]
    })
}

async fn norce_agrees_with_its_schema(app: TestApp) {
    let doc = document(&app).await;
    assert_eq!(app.patch("/v1/tenant", json!({"settings": {"norce": {"merchants": ["norce"]}}})).await.status(), 200);
    let key = app.key(Scope::Write, Some(Source::Norce)).await;
    let (app, key) = (&app, &key);
    let send = move |mut body: Value, n: usize| async move {
        let order = format!("o-{n}");
        // Each variant is a new order; the body names it wherever the sample named the order.
        if body.get("id").is_some_and(Value::is_string) {
            body["id"] = json!(order);
        }
        if body.pointer("/payments/0/orderId").is_some_and(Value::is_string) {
            body["payments"][0]["orderId"] = json!(order);
        }
        let path = format!("/api/checkout/v1/callback/orders/{order}/payments/p-1/update-payment");
        let request = app.request(reqwest::Method::POST, &path, key).header("x-merchant", "norce");
        request.header("x-channel", "1").json(&body).send().await.unwrap()
    };
    let payment = Operation { name: "norce payment", schema: "NorcePayment", at: "/payments/0" };
    check(&doc, payment, norce_order("o-0"), send).await;
    let order = Operation { name: "norce order", schema: "NorceOrder", at: "" };
    check(&doc, order, norce_order("o-0"), send).await;
}
api_test!(norce_agrees_with_its_schema);

// --- Gormic ---------------------------------------------------------------------------------

async fn gormic_agrees_with_its_schema(app: TestApp) {
    let doc = document(&app).await;
    app.order("GORMIC-SCHEMA", 1_000_000).await;
    let om = Om::new(&app).await;
    let body = json!({"params": {
        "orderId": "GORMIC-SCHEMA", "type": "receipt", "amount": "10.00", "status": "pending", "custom": false,
        "customerUid": "c-1", "invoiceId": "inv-1", "note": "a note", "transactionRef": "psp-1",
        "attrs": {"desk": "3"}
    }});
    let om = &om;
    let send = move |body: Value, _| async move {
        om.request(reqwest::Method::POST, "/v1/om/payments").json(&body).send().await.unwrap()
    };
    check(&doc, Operation { name: "gormic create", schema: "gormic.CreateParams", at: "/params" }, body, send).await;
}
api_test!(gormic_agrees_with_its_schema);

// --- Teljoy ---------------------------------------------------------------------------------

async fn teljoy_agrees_with_its_schema(app: TestApp) {
    let doc = document(&app).await;
    // The trust members are required unless the tenant turns the check off, as their
    // descriptions say (a schema cannot depend on a tenant's settings): here it is off.
    crate::dialect_teljoy::set_verify_trust(&app, json!(false)).await;
    let payment = crate::dialect_teljoy::order_with_payment(&app, "TELJOY-SCHEMA", Some("tj-1")).await;
    let key = app.key(Scope::Write, Some(Source::Teljoy)).await;
    let mut body = crate::dialect_teljoy::report("processing", "TELJOY-SCHEMA");
    body["id"] = json!(payment);
    body["alt_Trust_Value"] = json!("kept");
    body["apiKey"] = json!(key);
    let path = format!("/api/status/{payment}");
    let (app, path, key) = (&app, &path, &key);
    let send = move |body: Value, _| async move { crate::dialect_teljoy::send(app, path, Some(key), &body).await };
    check(&doc, Operation { name: "teljoy status", schema: "TeljoyStatusRequest", at: "" }, body, send).await;
}
api_test!(teljoy_agrees_with_its_schema);

// --- Omnicasa -------------------------------------------------------------------------------

async fn omnicasa_agrees_with_its_schema(app: TestApp) {
    let doc = document(&app).await;
    let order = app.order("OMNICASA-SCHEMA", 100_000).await;
    app.payment(order["id"].as_str().unwrap(), 100_000, None).await;
    let key = app.key(Scope::Write, Some(Source::Omnicasa)).await;
    let body = json!({
        "OrderId": "OMNICASA-SCHEMA", "StatusId": 2, "PaidAt": "2020-11-25 14:30:00", "LanguageId": 3,
        "IsWriteLogSQL": false
    });
    let path = format!("/payment/update-order/{key}");
    let (app, path) = (&app, &path);
    let send = move |body: Value, _| async move { app.client.post(app.url(path)).json(&body).send().await.unwrap() };
    let operation = Operation { name: "omnicasa update", schema: "UpdatePaymentOrderParameter", at: "" };
    check(&doc, operation, body, send).await;
}
api_test!(omnicasa_agrees_with_its_schema);
