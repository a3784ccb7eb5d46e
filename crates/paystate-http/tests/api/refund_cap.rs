//! The per-receipt refund cap holds on every surface: refund payments created or confirmed
//! through the native API and through Gormic draw on one receipt alike, and each API refuses
//! what exceeds it in its own format (native: 422 `exceeds-available`; Gormic: LIMIT_REACHED).
//! It holds on every path that moves money of a receipt: a refund's new amount, a refund that
//! becomes paid by a resolve, a receipt's lowered amount, and refunds recorded as adjustments of
//! the receipt itself; a provider's report beyond the cap is recorded as a conflict.

use crate::api_test;
use crate::dialect_gormic::{Om, item, ok, refused};
use crate::dialect_norce;
use crate::dialect_teljoy::{self, assert_teljoy_problem, order_with_payment};
use crate::helpers::{TestApp, assert_problem};
use paystate_domain::Source;
use paystate_store::Scope;
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

async fn patch_amount(app: &TestApp, id: &str, body: Value) -> reqwest::Response {
    app.patch(&format!("/v1/payments/{id}"), body).await
}

async fn native(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/v1/payments/{id}")).await.json().await.unwrap()
}

/// The id of a native refund payment that was created (201).
async fn created(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

api_test!(a_refunds_amount_changes_only_within_the_cap_and_never_once_paid);
async fn a_refunds_amount_changes_only_within_the_cap_and_never_once_paid(app: TestApp) {
    let om = Om::new(&app).await;
    let (order_id, receipt) = paid_receipt(&app, &om, "CAP-4").await;
    let open = created(native_refund(&app, &order_id, &receipt, 3_000).await).await;

    // An open refund grows only within what its receipt has left (100.00, of which it takes 30.00).
    let problem =
        assert_problem(patch_amount(&app, &open, json!({"amount": 10_001})).await, 422, "exceeds-available").await;
    assert_eq!(problem["detail"], "amount 10001 exceeds the 10000 still available", "{problem}");
    assert_eq!(native(&app, &open).await["amount"], 3_000);
    assert_eq!(patch_amount(&app, &open, json!({"amount": 10_000})).await.status(), 200);
    assert_eq!(patch_amount(&app, &open, json!({"amount": 6_000})).await.status(), 200, "lowering always fits");
    // What the native refund reserves is what Gormic sees: 40.00 left.
    refused(om.refund(&order_id, &receipt, 40.01, "complete").await, 400, "LIMIT_REACHED").await;
    ok(om.refund(&order_id, &receipt, 10.0, "pending").await).await;
    assert_problem(patch_amount(&app, &open, json!({"amount": 9_001})).await, 422, "exceeds-available").await;

    // A paid refund's amount is final on both surfaces, correction or not.
    assert_eq!(report_paid(&app, &open).await.status(), 200);
    let correction = json!({"amount": 1_000, "correction": true});
    assert_problem(patch_amount(&app, &open, correction.clone()).await, 422, "not-allowed").await;
    assert_problem(patch_amount(&app, &open, json!({"amount": 9_000, "correction": true})).await, 422, "not-allowed")
        .await;
    refused(om.update(&open, json!({"amount": 10, "correction": true})).await, 400, "INVALID_STATUS").await;
    assert_eq!(native(&app, &open).await["amount"], 6_000);
    // Its other fields still take a correction.
    assert_eq!(patch_amount(&app, &open, json!({"note": "returned", "correction": true})).await.status(), 200);
}

api_test!(a_paid_receipt_is_not_lowered_below_what_its_refund_payments_take);
async fn a_paid_receipt_is_not_lowered_below_what_its_refund_payments_take(app: TestApp) {
    let om = Om::new(&app).await;
    let (order_id, receipt) = paid_receipt(&app, &om, "CAP-5").await;
    let native_open = created(native_refund(&app, &order_id, &receipt, 3_000).await).await;
    let paid = created(native_refund(&app, &order_id, &receipt, 2_000).await).await;
    assert_eq!(report_paid(&app, &paid).await.status(), 200);

    // 50.00 of refund payments (one open, one paid through the native API) take from the receipt.
    let lowered = json!({"amount": 4_999, "correction": true});
    let problem = assert_problem(patch_amount(&app, &receipt, lowered).await, 400, "invalid-request").await;
    assert_eq!(problem["field"], "amount", "{problem}");
    refused(om.update(&receipt, json!({"amount": 49.99, "correction": true})).await, 400, "LIMIT_REACHED").await;
    assert_eq!(native(&app, &receipt).await["amount"], 10_000);
    assert_eq!(patch_amount(&app, &receipt, json!({"amount": 5_000, "correction": true})).await.status(), 200);
    // The open refund may then not grow, nor the receipt give it room by being lowered again.
    assert_problem(patch_amount(&app, &native_open, json!({"amount": 3_001})).await, 422, "exceeds-available").await;
}

api_test!(a_checkouts_correction_does_not_lower_a_receipt_below_its_refund_payments);
async fn a_checkouts_correction_does_not_lower_a_receipt_below_its_refund_payments(app: TestApp) {
    use dialect_norce::{ORDER, PAYMENT, assert_refused, hook, norce_key, ours, sample};
    let key = norce_key(&app).await;
    assert_eq!(hook(&app, &key, &sample("Captured")).await.status(), 200);
    let receipt = ours(&app, ORDER, PAYMENT).await;
    let (order_id, receipt_id) = (receipt["order_id"].as_str().unwrap(), receipt["id"].as_str().unwrap());
    created(native_refund(&app, order_id, receipt_id, 100_000).await).await;

    // The checkout says the payment is 500.00 now; 1000.00 of it is being refunded.
    let mut corrected = sample("Captured");
    corrected["payments"][0]["amount"] = json!(500.0);
    let problem = assert_refused(hook(&app, &key, &corrected).await, 400, "order-bad-request").await;
    assert_eq!(problem["field"], "payments[0].amount", "{problem}");
    assert_eq!(ours(&app, ORDER, PAYMENT).await["amount"], 154_850);
    corrected["payments"][0]["amount"] = json!(1000.0);
    assert_eq!(hook(&app, &key, &corrected).await.status(), 200);
    assert_eq!(ours(&app, ORDER, PAYMENT).await["amount"], 100_000);
}

api_test!(a_resolve_makes_a_refund_paid_only_within_the_cap);
async fn a_resolve_makes_a_refund_paid_only_within_the_cap(app: TestApp) {
    let om = Om::new(&app).await;
    let (order_id, receipt) = paid_receipt(&app, &om, "CAP-6").await;
    let first = created(native_refund(&app, &order_id, &receipt, 6_000).await).await;
    let second = created(native_refund(&app, &order_id, &receipt, 4_000).await).await;
    let resolve = |id: String| {
        let app = &app;
        async move {
            let body = json!({"reason": "the PSP paid it", "status": "paid"});
            app.post(&format!("/v1/payments/{id}/resolve"), body).await
        }
    };
    assert_eq!(resolve(first.clone()).await.status(), 200);
    // The receipt is reversed: the second refund may not become money, by a resolve either.
    ok(om.update(&receipt, json!({"status": "reversed"})).await).await;
    let problem = assert_problem(resolve(second.clone()).await, 422, "exceeds-available").await;
    assert_eq!(problem["detail"], "amount 4000 exceeds the 0 still available", "{problem}");
    assert_eq!(native(&app, &second).await["status"], "open");
    refused(om.confirm(&second, None).await, 400, "INVALID_STATUS").await;
}

api_test!(a_refund_recorded_on_the_receipt_counts_refund_payments_already_paid);
async fn a_refund_recorded_on_the_receipt_counts_refund_payments_already_paid(app: TestApp) {
    let om = Om::new(&app).await;
    let (order_id, receipt) = paid_receipt(&app, &om, "CAP-7").await;
    // 60.00 went back through a refund payment completed through the native API (not booked).
    let paid = created(native_refund(&app, &order_id, &receipt, 6_000).await).await;
    assert_eq!(report_paid(&app, &paid).await.status(), 200);

    let refund = |amount: Value| {
        let app = &app;
        let path = format!("/v1/payments/{receipt}/refunds");
        async move { app.post(&path, json!({"amount": amount})).await }
    };
    let problem = assert_problem(refund(json!(4_001)).await, 422, "exceeds-available").await;
    assert_eq!(problem["detail"], "amount 4001 exceeds the 4000 still available", "{problem}");
    // "Refund what remains" is 100.00 of the receipt alone: 60.00 of it are already gone.
    assert_problem(refund(Value::Null).await, 422, "exceeds-available").await;
    assert_eq!(native(&app, &receipt).await["amount_refunded"], 0);
    assert_eq!(refund(json!(4_000)).await.status(), 200);
    assert_eq!(native(&app, &receipt).await["amount_refunded"], 4_000);
    // Nothing is left on either surface.
    assert_problem(refund(json!(1)).await, 422, "exceeds-available").await;
    refused(om.refund(&order_id, &receipt, 0.01, "pending").await, 400, "LIMIT_REACHED").await;
}

api_test!(a_providers_refund_beyond_the_cap_is_a_conflict_flagged_for_review);
async fn a_providers_refund_beyond_the_cap_is_a_conflict_flagged_for_review(app: TestApp) {
    // Teljoy: the order is paid, 2657.00 of it went back through a native refund payment, and
    // Teljoy then says all of it was refunded.
    let key = app.key(Scope::Write, Some(Source::Teljoy)).await;
    let id = order_with_payment(&app, "CAP-8", Some("ext-CAP-8")).await;
    let path = "/api/v1/status/ext-CAP-8";
    let report = |status| dialect_teljoy::report(status, "CAP-8");
    dialect_teljoy::assert_success(dialect_teljoy::send(&app, path, Some(&key), &report("completed")).await).await;
    let order_id = native(&app, &id).await["order_id"].as_str().unwrap().to_owned();
    let paid = created(native_refund(&app, &order_id, &id, 265_700).await).await;
    assert_eq!(report_paid(&app, &paid).await.status(), 200);
    let response = dialect_teljoy::send(&app, path, Some(&key), &report("refunded")).await;
    assert_teljoy_problem(response, 409).await;
    let flagged = native(&app, &id).await;
    assert_eq!((flagged["needs_review"].as_bool(), flagged["amount_refunded"].as_i64()), (Some(true), Some(0)));
    let last = app.events(0).await.pop().unwrap();
    assert_eq!((last["type"].as_str(), last["source"].as_str()), (Some("payment.conflict"), Some("teljoy")));

    // Norce: the same with a checkout's credit.
    use dialect_norce::{ORDER, PAYMENT, assert_refused, hook, norce_key, ours, sample};
    let key = norce_key(&app).await;
    assert_eq!(hook(&app, &key, &sample("Captured")).await.status(), 200);
    let receipt = ours(&app, ORDER, PAYMENT).await;
    let (order_id, receipt_id) = (receipt["order_id"].as_str().unwrap(), receipt["id"].as_str().unwrap());
    let paid = created(native_refund(&app, order_id, receipt_id, 50_000).await).await;
    assert_eq!(report_paid(&app, &paid).await.status(), 200);
    let mut credited = sample("credited");
    credited["lastModified"] = json!("2024-05-02T11:00:00Z");
    assert_refused(hook(&app, &key, &credited).await, 400, "order-conflict").await;
    let flagged = ours(&app, ORDER, PAYMENT).await;
    assert_eq!((flagged["needs_review"].as_bool(), flagged["amount_refunded"].as_i64()), (Some(true), Some(0)));
    assert_eq!(flagged["status"], "paid");
}

api_test!(a_refund_of_a_receipt_not_yet_paid_waits_for_it);
async fn a_refund_of_a_receipt_not_yet_paid_waits_for_it(app: TestApp) {
    let om = Om::new(&app).await;
    let order = app.order("CAP-9", 10_000).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    let receipt = app.payment(&order_id, 10_000, None).await["id"].as_str().unwrap().to_owned();

    // Created while the receipt is open (as before the cap), even for more than it pays.
    let refund = created(native_refund(&app, &order_id, &receipt, 4_000).await).await;
    let too_much = created(native_refund(&app, &order_id, &receipt, 10_001).await).await;
    assert_eq!(patch_amount(&app, &refund, json!({"amount": 7_000})).await.status(), 200);
    // Gormic keeps its own rule: a refund names a completed receipt.
    refused(om.refund(&order_id, &receipt, 10.0, "pending").await, 400, "InvalidParameter").await;
    // Neither becomes money before the receipt is paid.
    assert_problem(report_paid(&app, &refund).await, 422, "exceeds-available").await;

    assert_eq!(report_paid(&app, &receipt).await.status(), 200);
    // Once it is paid, both refunds reserve (170.01 of 100.00): neither grows, and only what fits completes.
    assert_problem(patch_amount(&app, &refund, json!({"amount": 7_001})).await, 422, "exceeds-available").await;
    assert_problem(report_paid(&app, &too_much).await, 422, "exceeds-available").await;
    assert_problem(report_paid(&app, &refund).await, 422, "exceeds-available").await;
    assert_eq!(app.post(&format!("/v1/payments/{too_much}/status"), json!({"status": "canceled"})).await.status(), 200);
    assert_eq!(report_paid(&app, &refund).await.status(), 200);
    assert_problem(native_refund(&app, &order_id, &receipt, 3_001).await, 422, "exceeds-available").await;
}

api_test!(a_refund_of_nothing_needs_a_paid_receipt_on_both_surfaces);
async fn a_refund_of_nothing_needs_a_paid_receipt_on_both_surfaces(app: TestApp) {
    let om = Om::new(&app).await;
    let (order_id, receipt) = paid_receipt(&app, &om, "CAP-10").await;
    let nothing = created(native_refund(&app, &order_id, &receipt, 0).await).await;
    let other = created(native_refund(&app, &order_id, &receipt, 0).await).await;
    assert_eq!(report_paid(&app, &other).await.status(), 200, "a refund of nothing fits a paid receipt");

    ok(om.update(&receipt, json!({"status": "reversed"})).await).await;
    // The receipt is reversed: neither surface completes a refund of it, not even of nothing.
    let problem = assert_problem(report_paid(&app, &nothing).await, 400, "invalid-request").await;
    assert_eq!(problem["field"], "source_payment_id", "{problem}");
    refused(om.confirm(&nothing, None).await, 400, "INVALID_STATUS").await;
    assert_eq!(native(&app, &nothing).await["status"], "open");
    let body = json!({"reason": "checked", "status": "paid"});
    assert_problem(app.post(&format!("/v1/payments/{nothing}/resolve"), body).await, 400, "invalid-request").await;
    // Nor is one created against it.
    assert_problem(native_refund(&app, &order_id, &receipt, 0).await, 400, "invalid-request").await;
    assert_problem(native_refund(&app, &order_id, &receipt, 1).await, 422, "exceeds-available").await;
}

api_test!(no_caller_but_the_desk_marks_a_refund_booked);
async fn no_caller_but_the_desk_marks_a_refund_booked(app: TestApp) {
    let om = Om::new(&app).await;
    let (order_id, receipt) = paid_receipt(&app, &om, "CAP-11").await;
    // A refund marked booked would not count against its receipt: the native API cannot mark one.
    let marked = json!({"_gormic": {"booked": true}, "till": 3});
    let body = json!({"order_id": order_id, "type": "refund", "source_payment_id": receipt, "amount": 6_000,
        "attrs": marked});
    let first = created(app.post("/v1/payments", body).await).await;
    assert_eq!(native(&app, &first).await["attrs"], json!({"till": 3}));
    let second = created(native_refund(&app, &order_id, &receipt, 2_000).await).await;
    assert_eq!(patch_amount(&app, &second, json!({"attrs": marked})).await.status(), 200);
    assert_eq!(native(&app, &second).await["attrs"], json!({"till": 3}));
    assert_eq!(report_paid(&app, &first).await.status(), 200);
    assert_eq!(report_paid(&app, &second).await.status(), 200);
    // Both still count: 20.00 is left, on both surfaces.
    refused(om.refund(&order_id, &receipt, 20.01, "complete").await, 400, "LIMIT_REACHED").await;
    assert_problem(native_refund(&app, &order_id, &receipt, 2_001).await, 422, "exceeds-available").await;

    // A refund the desk completed stays booked whatever the native API writes in its attrs.
    let booked = ok(om.refund(&order_id, &receipt, 20.0, "complete").await).await["id"].as_str().unwrap().to_owned();
    let cleared = json!({"attrs": {}, "correction": true});
    assert_eq!(patch_amount(&app, &booked, cleared).await.status(), 200);
    assert_eq!(native(&app, &booked).await["attrs"], json!({"_gormic": {"booked": true}}));
    assert_eq!(native(&app, &receipt).await["amount_refunded"], 2_000);
    refused(om.refund(&order_id, &receipt, 0.01, "complete").await, 400, "LIMIT_REACHED").await;
}
