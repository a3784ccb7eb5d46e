//! The hook's body read without a database: every field named, every amount exact.

use super::*;
use serde_json::json;

fn ids() -> Ids {
    Ids { order_id: "o_1".into(), payment_id: "p_1".into(), merchant: "norce".into(), channel: "se".into() }
}

fn order(payment: Value) -> Value {
    json!({"id": "o_1", "merchant": "norce", "channel": "se", "currency": "SEK", "payments": [payment]})
}

fn invalid(body: Value) -> Invalid {
    match parse(&body, ids()) {
        Err(BodyError::Invalid(invalid)) => invalid,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_complete_order_is_read() {
    let body = json!({
        "id": "o_1", "merchant": "norce", "channel": "se", "currency": "sek",
        "lastModified": "2024-05-01T10:00:00.1234567Z", "state": {"currentStatus": "Checkout"},
        "total": {"includingVat": 199.95}, "customer": {"type": "person"}, "unknownField": [1],
        "payments": [
            {"id": "p_0", "state": "whatever-not-ours", "amount": "not checked"},
            {"id": "p_1", "state": "Reserved", "amount": 199.95, "currency": "SEK", "adapterId": "klarna",
             "name": "Klarna", "type": "Default", "reference": "", "actions": [{}]}
        ]
    });
    let hook = parse(&body, ids()).unwrap();
    assert_eq!(hook.update.currency.code(), "SEK");
    assert_eq!(hook.update.total, Some(19995));
    assert_eq!(hook.update.customer, json!({"type": "person"}));
    assert!(hook.update.order_snapshot.get("unknownField").is_none());
    assert_eq!(hook.sent.payment.index, 1);
    assert_eq!(hook.update.payment.amount, 19995);
    assert_eq!(hook.sent.payment.state, NorcePaymentState::Reserved);
    assert_eq!(hook.sent.payment.state_text, "Reserved");
    assert_eq!(hook.update.payment.method_codes, ["klarna", "Klarna"]);
    assert_eq!(hook.update.payment.transaction_ref, None);
    assert!(hook.sent.payment.reference_member);
    assert_eq!(
        hook.update.payment.snapshot,
        json!({"id": "p_1", "adapterId": "klarna", "name": "Klarna", "type": "Default", "actions": [{}]})
    );
    assert_eq!(hook.update.payment.reported, ReportedState::Status(PaymentStatus::Authorized));
    assert_eq!((hook.update.order_reference.as_str(), hook.update.merchant.as_str()), ("norce:norce:o_1", "norce"));
    assert_eq!(hook.update.payment_external_id, "norce:norce:o_1:p_1");
    let held = (hook.update.snapshot_modified_at)(&hook.update.order_snapshot);
    assert_eq!((held, hook.update.modified_at.is_some()), (hook.update.modified_at, true));
}

#[test]
fn amounts_convert_exactly_or_are_refused() {
    let amount = |value: Value| parse(&order(json!({"id": "p_1", "state": "intent", "amount": value})), ids());
    assert_eq!(amount(json!(10)).unwrap().update.payment.amount, 1000);
    assert_eq!(amount(json!(0.1)).unwrap().update.payment.amount, 10);
    // Numbers as they are written on the wire, which a double would round.
    for (text, minor) in [("199.95", Some(19995)), ("1.5e2", Some(15000)), ("9.999999999999999999", None)] {
        let raw: Value = serde_json::from_str(text).unwrap();
        assert_eq!(amount(raw).ok().map(|hook| hook.update.payment.amount), minor, "{text}");
    }
    for text in ["10.000000000000000001", "1e-400", "-0.0"] {
        let raw: Value = serde_json::from_str(text).unwrap();
        assert!(matches!(amount(raw), Err(BodyError::Invalid(_))), "{text}");
    }
    for bad in [json!(1.001), json!(-1), json!(-0.5), json!("199.95"), json!(1e20), json!(true)] {
        match amount(bad.clone()) {
            Err(BodyError::Invalid(invalid)) => assert_eq!(invalid.field, "payments[0].amount", "{bad}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn every_used_field_is_type_checked_and_named() {
    let cases = [
        (json!({"id": 5}), "id"),
        (json!({"id": "o_2"}), "id"),
        (json!({"merchant": "other"}), "merchant"),
        (json!({"channel": null}), "channel"),
        (json!({"currency": "XXQ"}), "currency"),
        (json!({"lastModified": "yesterday"}), "lastModified"),
        (json!({"state": {"currentStatus": "gone"}}), "state.currentStatus"),
        (json!({"state": "checkout"}), "state"),
        (json!({"total": {"includingVat": 1.001}}), "total.includingVat"),
        (json!({"customer": []}), "customer"),
        (json!({"cart": 1}), "cart"),
        (json!({"attributes": "x"}), "attributes"),
        (json!({"payments": {}}), "payments"),
        (json!({"payments": [1]}), "payments[0]"),
        (json!({"payments": [{"state": "intent"}]}), "payments[0].id"),
        (json!({"payments": [{"id": "p_1", "amount": 1}]}), "payments[0].state"),
        (json!({"payments": [{"id": "p_1", "amount": 1, "state": "paid"}]}), "payments[0].state"),
        (json!({"payments": [{"id": "p_1", "state": "intent"}]}), "payments[0].amount"),
        (
            json!({"payments": [{"id": "p_1", "state": "intent", "amount": 1, "currency": "EUR"}]}),
            "payments[0].currency",
        ),
        (json!({"payments": [{"id": "p_1", "state": "intent", "amount": 1, "orderId": "o_9"}]}), "payments[0].orderId"),
        (json!({"payments": [{"id": "p_1", "state": "intent", "amount": 1, "type": "gift"}]}), "payments[0].type"),
        (json!({"payments": [{"id": "p_1", "state": "intent", "amount": 1, "reference": 7}]}), "payments[0].reference"),
        (
            json!({"payments": [{"id": "p_1", "state": "intent", "amount": 1, "attributes": []}]}),
            "payments[0].attributes",
        ),
        (json!({"payments": [{"id": "p_1", "state": "intent", "amount": 1}, {"id": "p_1"}]}), "payments[1].id"),
    ];
    for (change, field) in cases {
        let mut body = order(json!({"id": "p_1", "state": "intent", "amount": 1}));
        for (key, value) in change.as_object().unwrap() {
            body[key] = value.clone();
        }
        assert_eq!(invalid(body.clone()).field, field, "{body}");
    }
    assert_eq!(invalid(json!([1])).field, "body");
    let mut missing = order(json!({"id": "p_1", "state": "intent", "amount": 1}));
    missing.as_object_mut().unwrap().remove("currency");
    assert_eq!(invalid(missing).detail(), "currency is required");
    let unknown = parse(&order(json!({"id": "p_2", "state": "intent", "amount": 1})), ids());
    assert_eq!(unknown.unwrap_err(), BodyError::PaymentNotInOrder { payment_id: "p_1".into() });
}

#[test]
fn ids_are_bounded_and_colon_free() {
    assert!(check_id("x-merchant", "norce").is_ok());
    assert!(check_id("x-merchant", "").is_err());
    assert!(check_id("order_id", "a:b").is_err());
    assert!(check_id("order_id", &"o".repeat(65)).is_err());
    assert!(check_id("order_id", "o\u{7}").is_err());
    let longest = "x".repeat(MAX_ID_CHARS);
    assert!(payment_external_id(&longest, &longest, &longest).chars().count() <= 200);
}
