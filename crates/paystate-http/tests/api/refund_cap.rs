//! The per-receipt refund cap holds on every surface: refund payments created or confirmed
//! through the native API and through Gormic draw on one receipt alike, and each API refuses
//! what exceeds it in its own format (native: 422 `exceeds-available`; Gormic: LIMIT_REACHED).

use crate::api_test;
use crate::dialect_gormic::{Om, item, ok, refused};
use crate::helpers::{TestApp, assert_problem};
use serde_json::{Value, json};

/// An order of 100.00 EUR with a receipt of 100.00 paid through Gormic: (order id, receipt id).
async fn paid_receipt(app: &TestApp, om: &Om<'_>, reference: &str) -> (String, String) {
    let order = app.order(reference, 10_000).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    let receipt = om.receipt(&order_id, 100.0, "complete").await;
    (order_id, receipt)
}

/// A refund payment of `amount` minor units created through the native API.
async fn native_refund(app: &TestApp, order_id: &str, receipt: &str, amount: i64) -> reqwest::Response {
    let body = json!({"order_id": order_id, "type": "refund", "source_payment_id": receipt, "amount": amount});
    app.post("/v1/payments", body).await
}

async fn report_paid(app: &TestApp, id: &str) -> reqwest::Response {
    app.post(&format!("/v1/payments/{id}/status"), json!({"status": "paid"})).await
}

api_test!(a_native_refund_is_capped_by_what_gormic_refunded);
async fn a_native_refund_is_capped_by_what_gormic_refunded(app: TestApp) {
    let om = Om::new(&app).await;
    let (order_id, receipt) = paid_receipt(&app, &om, "CAP-1").await;
    ok(om.refund(&order_id, &receipt, 60.0, "complete").await).await;

    // 50.00 of the 40.00 left: refused, and nothing is written.
    let problem = assert_problem(native_refund(&app, &order_id, &receipt, 5_000).await, 422, "exceeds-available").await;
    assert_eq!(problem["detail"], "amount 5000 exceeds the 4000 still available", "{problem}");
    let payments: Value = app.get(&format!("/v1/payments?order_id={order_id}")).await.json().await.unwrap();
    assert_eq!(payments["data"].as_array().unwrap().len(), 2, "{payments}");

    // 40.00 fits, and may be reported paid.
    let response = native_refund(&app, &order_id, &receipt, 4_000).await;
    assert_eq!(response.status(), 201);
    let refund: Value = response.json().await.unwrap();
    let refund_id = refund["id"].as_str().unwrap();
    assert_eq!(report_paid(&app, refund_id).await.status(), 200);

    // The receipt is spent on both surfaces.
    assert_problem(native_refund(&app, &order_id, &receipt, 1).await, 422, "exceeds-available").await;
    let message = refused(om.refund(&order_id, &receipt, 0.01, "pending").await, 400, "LIMIT_REACHED").await;
    assert!(message.contains("exceeds the 0 still refundable"), "{message}");
    let items = om.items_of(&receipt).await;
    let can = item(&items, &receipt)["can"].as_array().unwrap().clone();
    assert!(!can.contains(&json!("refund")), "{can:?}");
}

api_test!(a_gormic_refund_is_capped_by_what_the_native_api_refunded);
async fn a_gormic_refund_is_capped_by_what_the_native_api_refunded(app: TestApp) {
    let om = Om::new(&app).await;
    let (order_id, receipt) = paid_receipt(&app, &om, "CAP-2").await;
    let response = native_refund(&app, &order_id, &receipt, 6_000).await;
    assert_eq!(response.status(), 201);

    // An open native refund of 60.00 is spoken for: 50.00 more is refused, 40.00 fits.
    let message = refused(om.refund(&order_id, &receipt, 50.0, "complete").await, 400, "LIMIT_REACHED").await;
    assert_eq!(message, format!("a refund of 50 exceeds the 40 still refundable of payment {receipt}"));
    ok(om.refund(&order_id, &receipt, 40.0, "complete").await).await;
    assert_problem(native_refund(&app, &order_id, &receipt, 1).await, 422, "exceeds-available").await;
}

api_test!(a_refund_is_confirmed_only_while_its_receipt_covers_it);
async fn a_refund_is_confirmed_only_while_its_receipt_covers_it(app: TestApp) {
    let om = Om::new(&app).await;
    let (order_id, receipt) = paid_receipt(&app, &om, "CAP-3").await;
    let native: Value = native_refund(&app, &order_id, &receipt, 3_000).await.json().await.unwrap();
    let native_id = native["id"].as_str().unwrap().to_owned();
    let gormic = ok(om.refund(&order_id, &receipt, 20.0, "pending").await).await["id"].as_str().unwrap().to_owned();

    // The receipt is reversed: neither refund may become money any more, on either surface.
    ok(om.update(&receipt, json!({"status": "reversed"})).await).await;
    assert_problem(report_paid(&app, &native_id).await, 422, "exceeds-available").await;
    assert_eq!(app.get(&format!("/v1/payments/{native_id}")).await.json::<Value>().await.unwrap()["status"], "open");
    refused(om.confirm(&native_id, None).await, 400, "INVALID_STATUS").await;
    refused(om.confirm(&gormic, None).await, 400, "INVALID_STATUS").await;
}
