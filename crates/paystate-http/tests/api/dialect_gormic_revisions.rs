//! Gormic as other revisions of its material show it: the integer `type` and `status` of an older
//! documentation revision (refused as `InvalidParameter`, never a 500), and the members Gormic's
//! OpenAPI marks nullable (`sourcePaymentId`, `transactionRef`, `note`), whose `null` is absent.

use crate::api_test;
use crate::dialect_gormic::{Om, item, native_payment, ok, refused};
use crate::helpers::TestApp;
use serde_json::{Value, json};

async fn integer_type_and_status_are_invalid_parameters(app: TestApp) {
    let om = Om::new(&app).await;
    let order = app.order("OLD-1", 1000).await;
    let order_id = order["id"].as_str().unwrap();

    // The older revision's sample: type 1, status 1.
    let message = refused(
        om.create(json!({"orderId": order_id, "type": 1, "status": 1, "amount": 10})).await,
        400,
        "InvalidParameter",
    )
    .await;
    assert_eq!(
        message,
        "params.type: must be receipt or refund (a string; the numeric codes of an older Gormic revision are not \
         accepted)"
    );
    let message = refused(
        om.create(json!({"orderId": order_id, "type": "receipt", "status": 1, "amount": 10})).await,
        400,
        "InvalidParameter",
    )
    .await;
    assert_eq!(
        message,
        "params.status: must be complete, pending, progress or reversed (a string; the numeric codes of an older \
         Gormic revision are not accepted)"
    );
    // Other numbers and other types are refused alike.
    for (params, field) in [
        (json!({"orderId": order_id, "type": 2, "amount": 10}), "params.type"),
        (json!({"orderId": order_id, "type": 1.0, "amount": 10}), "params.type"),
        (json!({"orderId": order_id, "type": -1, "amount": 10}), "params.type"),
        (json!({"orderId": order_id, "type": "1", "amount": 10}), "params.type"),
        (json!({"orderId": order_id, "type": true, "amount": 10}), "params.type"),
        (json!({"orderId": order_id, "type": "receipt", "status": 0, "amount": 10}), "params.status"),
        (json!({"orderId": order_id, "type": "receipt", "status": [1], "amount": 10}), "params.status"),
        (json!({"orderId": order_id, "type": "receipt", "status": "1", "amount": 10}), "params.status"),
    ] {
        let message = refused(om.create(params.clone()).await, 400, "InvalidParameter").await;
        assert!(message.starts_with(field), "{params}: {message}");
    }
    // A raw body with a huge integer, as a hand-written client might send it.
    let raw = format!(
        r#"{{"params": {{"orderId": "{order_id}", "type": 18446744073709551616, "status": 1, "amount": 10}}}}"#
    );
    let response = om
        .request(reqwest::Method::POST, "/v1/om/payments")
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    refused(response, 400, "InvalidParameter").await;

    // Nothing was created; a PATCH and a confirm with an integer status are refused the same way.
    let listed: Value = app.get(&format!("/v1/payments?order_id={order_id}")).await.json().await.unwrap();
    assert_eq!(listed["data"], json!([]));
    let uid = om.receipt(order_id, 10.0, "pending").await;
    let version = native_payment(&app, &uid).await["version"].clone();
    for status in [json!(1), json!(3), json!(2.5)] {
        let message = refused(om.update(&uid, json!({"status": status})).await, 400, "InvalidParameter").await;
        assert!(message.starts_with("params.status"), "{message}");
    }
    assert_eq!(native_payment(&app, &uid).await["version"], version, "nothing written");
}
api_test!(integer_type_and_status_are_invalid_parameters);

async fn null_nullable_members_are_absent(app: TestApp) {
    let om = Om::new(&app).await;
    let order = app.order("NUL-1", 10000).await;
    let order_id = order["id"].as_str().unwrap();

    // Create: a receipt with every nullable member null, as a generated client sends it.
    let receipt = om
        .payment(json!({"orderId": order_id, "type": "receipt", "amount": 50, "status": "complete",
            "sourcePaymentId": null, "transactionRef": null, "note": null}))
        .await;
    let native = native_payment(&app, &receipt).await;
    assert_eq!(
        (&native["source_payment_id"], &native["transaction_ref"], &native["note"]),
        (&Value::Null, &Value::Null, &Value::Null)
    );
    // A refund still needs its source: null is no source.
    let message = refused(
        om.create(json!({"orderId": order_id, "type": "refund", "amount": 5, "sourcePaymentId": null})).await,
        400,
        "InvalidParameter",
    )
    .await;
    assert!(message.starts_with("params.sourcePaymentId"), "{message}");

    // PATCH: null leaves the field as it is, on a pending payment and on a complete one (where a
    // change would need a correction).
    let pending = om
        .payment(json!({"orderId": order_id, "type": "receipt", "amount": 20, "transactionRef": "psp-1",
            "note": "till 3", "sourcePaymentId": null}))
        .await;
    let nulls = json!({"sourcePaymentId": null, "transactionRef": null, "note": null});
    let mut amount = nulls.clone();
    amount["amount"] = json!(25);
    assert_eq!(ok(om.update(&pending, amount).await).await, json!({"success": true}));
    let native = native_payment(&app, &pending).await;
    assert_eq!((native["amount"].as_i64(), native["transaction_ref"].as_str()), (Some(2500), Some("psp-1")));
    assert_eq!(native["note"], "till 3");
    let mut complete = nulls.clone();
    complete["status"] = json!("complete");
    ok(om.update(&pending, complete).await).await;
    let version = native_payment(&app, &pending).await["version"].clone();
    ok(om.update(&pending, nulls.clone()).await).await;
    let refund = om
        .create(json!({"orderId": order_id, "type": "refund", "amount": 5, "sourcePaymentId": pending,
            "transactionRef": null, "note": null, "status": "complete"}))
        .await;
    let refund = ok(refund).await["id"].as_str().unwrap().to_owned();
    // The refund's source given as null on PATCH is no attempt to change it.
    ok(om.update(&refund, json!({"sourcePaymentId": null, "note": null})).await).await;
    assert_eq!(native_payment(&app, &refund).await["source_payment_id"], pending.as_str());
    let native = native_payment(&app, &pending).await;
    assert_eq!(native["transaction_ref"], "psp-1", "null cleared nothing");
    assert!(native["version"].as_i64() > version.as_i64(), "the refund was booked on it");

    // Confirm: a null transactionRef confirms again without being an edit.
    let items = ok(om.confirm(&pending, Some(json!({"transactionRef": null}))).await).await["items"].clone();
    let shown = item(items.as_array().unwrap(), &pending);
    assert_eq!((shown["transactionRef"].as_str(), shown["note"].as_str()), (Some("psp-1"), Some("till 3")));

    // To clear them, a PATCH sends the empty string (a complete payment needs a correction).
    let clear = json!({"transactionRef": "", "note": ""});
    refused(om.update(&pending, clear.clone()).await, 400, "INVALID_STATUS").await;
    let open = om
        .payment(json!({"orderId": order_id, "type": "receipt", "amount": 1, "transactionRef": "x", "note": "y"}))
        .await;
    ok(om.update(&open, clear.clone()).await).await;
    let native = native_payment(&app, &open).await;
    assert_eq!((&native["transaction_ref"], &native["note"]), (&Value::Null, &Value::Null));
    let mut corrected = clear;
    corrected["correction"] = json!(true);
    ok(om.update(&pending, corrected).await).await;
    let native = native_payment(&app, &pending).await;
    assert_eq!((&native["transaction_ref"], &native["note"]), (&Value::Null, &Value::Null));
    // An empty string on create is no value either.
    let empty = om
        .payment(json!({"orderId": order_id, "type": "receipt", "amount": 1, "transactionRef": "", "note": ""}))
        .await;
    let native = native_payment(&app, &empty).await;
    assert_eq!((&native["transaction_ref"], &native["note"]), (&Value::Null, &Value::Null));
}
api_test!(null_nullable_members_are_absent);

async fn the_openapi_document_marks_them_nullable(app: TestApp) {
    let openapi: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let schemas = &openapi["components"]["schemas"];
    for (schema, members) in [
        ("gormic.CreateParams", &["sourcePaymentId", "transactionRef", "note"][..]),
        ("gormic.UpdateParams", &["sourcePaymentId", "transactionRef", "note"][..]),
        ("gormic.ConfirmParams", &["transactionRef"][..]),
    ] {
        for member in members {
            let property = &schemas[schema]["properties"][member];
            assert!(property.to_string().contains("null"), "{schema}.{member}: {property}");
        }
    }
    // The older revision's integers are not among the values the schema allows.
    let kind = &schemas["gormic.CreateParams"]["properties"]["type"];
    assert_eq!(kind["enum"], serde_json::json!(["receipt", "refund"]), "{kind}");
}
api_test!(the_openapi_document_marks_them_nullable);
