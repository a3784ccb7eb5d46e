//! The body's binding, validation, statuses, seeds and trust checks, without a database.

use super::*;
use serde_json::json;

/// The seed of the document's JavaScript example, verbatim.
const DOCUMENT_SEED: &str = "ew0KCQkJCQkJIm5hbWUiOiJISVNFTlNFIDEwMEw1RiAxMDAmcXVvdDsgTEFTRVIgVFYxIiwNCgkJCQkJCSJza3UiOiIxMDBMNUYiLA0KCQkJCQkJInF1YW50aXR5IjoiMSIsDQoJCQkJCQkicHJpY2UiOiIxMjY1Ny4wMCIsDQoJCQkJCQkiZGVzY3JpcHRpb24iOiAic3RyaW5nIiwNCgkJCQkJCSJicmFuZCI6ICJzdHJpbmciLA0KCQkJCQkJIm1lcmNoYW50X3Byb2R1Y3RfaWQiOiI1Mzc4MyIsDQoJCQkJCQkidmVuZG9yIjogew0KCQkJCQkJCSJ2ZW5kb3JfaWQiOiAic3RyaW5nIiwNCgkJCQkJCQkidXJsIjogInN0cmluZyIsDQoJCQkJCQkJIm5hbWUiOiAic3RyaW5nIg0KCQkJCQkJfSwNCgkJCQkJCSJpbWFnZXMiOiBbDQoJCQkJCQkJImh0dHBzOi8vYXRvbWljdGVzdC5jby56YS93cC1jb250ZW50L3VwbG9hZHMvMjAyMS8xMS8xMDBMNUYuanBlZyIgDQoJCQkJCQldLA0KCQkJCQkJImJhcmNvZGVzIjogWw0KCQkJCQkJCSIiDQoJCQkJCQldLA0KCQkJCQkJImNhdGVnb3JpZXMiOiBbIA0KCQkJCQkJXSwNCgkJCQkJCSJwcm9wZXJ0aWVzIjogWw0KCQkJCQkJCXsNCgkJCQkJCQkia2V5IjogInN0cmluZyIsDQoJCQkJCQkJInZhbHVlIjogInN0cmluZyINCgkJCQkJCQl9DQoJCQkJCQldDQoJCQkJCX0s";

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn the_documents_seed_is_one_product_list_item() {
    let decoded = decode_seed(DOCUMENT_SEED).unwrap();
    let list = decoded.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["sku"], "100L5F");
    assert_eq!(list[0]["name"], "HISENSE 100L5F 100&quot; LASER TV1");
    assert_eq!(list[0]["vendor"]["name"], "string");
    assert_eq!(list[0]["properties"][0]["key"], "string");
}

#[test]
fn seeds_are_json_documents_or_list_items() {
    assert_eq!(decode_seed(&b64(r#"[{"sku":"A"},{"sku":"B"}]"#)).unwrap(), json!([{"sku":"A"},{"sku":"B"}]));
    assert_eq!(decode_seed(&b64(r#"{"sku":"A"}"#)).unwrap(), json!({"sku":"A"}));
    assert_eq!(
        decode_seed(&b64("{\"sku\":\"A\"},\r\n{\"sku\":\"B\"},\r\n")).unwrap(),
        json!([{"sku":"A"},{"sku":"B"}])
    );
    assert_eq!(decode_seed(&b64("\u{feff}[]")).unwrap(), json!([]));
    // Without padding, as some encoders write it.
    assert_eq!(decode_seed(b64("[1]").trim_end_matches('=')).unwrap(), json!([1]));
}

#[test]
fn other_seeds_are_refused() {
    assert_eq!(decode_seed("your-trust-seed"), Err(SeedError::NotBase64));
    assert_eq!(decode_seed("%%%%"), Err(SeedError::NotBase64));
    assert_eq!(decode_seed(&b64("not json")), Err(SeedError::NotProductList));
    assert_eq!(decode_seed(&b64("42")), Err(SeedError::NotProductList));
    assert_eq!(decode_seed(&b64("\"text\"")), Err(SeedError::NotProductList));
    assert_eq!(decode_seed(&b64("1, 2,")), Err(SeedError::NotProductList), "items must be objects");
    assert_eq!(decode_seed(&b64("{}],[{}")), Err(SeedError::NotProductList), "no escaping the brackets");
    assert_eq!(decode_seed(&b64(",")), Err(SeedError::NotProductList));
    assert_eq!(decode_seed(""), Err(SeedError::NotProductList));
    let latin1 = base64::engine::general_purpose::STANDARD.encode([b'[', 0xe9, b']']);
    assert_eq!(decode_seed(&latin1), Err(SeedError::NotProductList));
}

#[test]
fn trust_value_is_md5_hex_of_the_order_id() {
    assert_eq!(trust_value("76144"), "c10cd9445121e4ed6ad0ab47cdde2882");
    assert!(trust_value_matches("C10CD9445121E4ED6AD0AB47CDDE2882", "76144"));
    assert!(!trust_value_matches("c10cd9445121e4ed6ad0ab47cdde2882", "76145"));
}

#[test]
fn properties_bind_case_insensitively_and_once() {
    let body = json!({"TRUST_SEED": "a", "trust_value": "b", "Alt_trust_value": "c", "STATUS": "Completed",
        "apikey": "k", "ID": "p", "other": 5});
    let (update, errors) = bind(body.as_object().unwrap());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(update.trust_seed.as_deref(), Some("a"));
    assert_eq!(update.trust_value.as_deref(), Some("b"));
    assert_eq!(update.alt_trust_value.as_deref(), Some("c"));
    assert_eq!(update.status.as_deref(), Some("Completed"));
    assert_eq!(update.api_key.as_deref(), Some("k"));
    assert_eq!(update.id.as_deref(), Some("p"));
    assert!(!format!("{update:?}").contains("\"k\""), "the key is not printed");

    let body = json!({"status": 5, "trust_Seed": "a", "trust_seed": "b", "id": "", "apiKey": null});
    let (update, errors) = bind(body.as_object().unwrap());
    assert_eq!(errors.0["status"], ["The status field must be a string."]);
    assert_eq!(errors.0["trust_Seed"], ["The trust_Seed field was given more than once."]);
    assert_eq!(update.id, None, "an empty string is not given");
    assert_eq!(update.api_key, None);
}

/// A body, validated with `key` as the header's presented key.
fn validated(body: Value, key: Option<&str>) -> Result<Report, Errors> {
    let object = body.as_object().unwrap();
    let (update, errors) = bind(object);
    report(object, update, key.map(str::to_owned), errors)
}

#[test]
fn a_report_is_refused_with_all_its_messages_at_once() {
    let (update, mut errors) = bind(json!({"status": "shipped", "id": 5}).as_object().unwrap());
    errors.required(API_KEY);
    let errors = report(&Map::new(), update, None, errors).err().unwrap();
    assert_eq!(errors.0[API_KEY], ["The apiKey field is required."]);
    assert_eq!(errors.0[STATUS], [WooStatus::allowed_message()]);
    assert_eq!(errors.0[ID], ["The id field must be a string."]);
    let errors = validated(json!({"status": ""}), Some("k")).err().unwrap();
    assert_eq!(errors.0[STATUS], ["The status field is required."], "an empty string is not given");
    let errors = validated(json!({"status": false}), Some("k")).err().unwrap();
    assert_eq!(errors.0[STATUS], ["The status field must be a string."], "one message, not also required");
}

#[test]
fn a_valid_report_becomes_the_ledgers_input_with_the_seed_kept() {
    let seed = b64(r#"[{"sku":"A"}]"#);
    let body = json!({"status": "Completed", "trust_Seed": seed, "apiKey": "psk_secret"});
    let report = validated(body, Some("psk_secret")).unwrap();
    assert_eq!((report.api_key.as_str(), report.status), ("psk_secret", WooStatus::Completed));
    assert!(!report.audit_body.contains("psk_secret"), "{}", report.audit_body);
    let input = ledger_report(&report, "ext-1".into());
    assert_eq!(input.payment, "ext-1");
    assert_eq!(input.command, WooStatus::Completed.command());
    let kept = input.keep.unwrap();
    assert_eq!((kept.section.as_str(), kept.key.as_str(), kept.value), ("teljoy", "trust_seed", json!(seed)));
    // A seed that does not decode is kept as sent all the same (when the tenant does not verify).
    let report = validated(json!({"status": "failed", "trust_Seed": "%%"}), Some("k")).unwrap();
    assert_eq!(ledger_report(&report, "p".into()).keep.unwrap().value, json!("%%"));
    assert_eq!(ledger_report(&validated(json!({"status": "failed"}), Some("k")).unwrap(), "p".into()).keep, None);
}

#[test]
fn the_trust_checks_run_on_the_payment_and_its_order() {
    let stamps = json!({"created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z"});
    let with = |base: Value| {
        let mut value = base;
        value.as_object_mut().unwrap().extend(stamps.as_object().unwrap().clone());
        value
    };
    let mut tenant: paystate_domain::Tenant =
        serde_json::from_value(with(json!({"id": "ten_0192f3c4000000000000000000000000", "name": "Shop",
            "settings": {}})))
        .unwrap();
    let order: paystate_domain::Order = serde_json::from_value(with(json!({
        "id": "ord_0192f3c4000000000000000000000000", "tenant_id": "ten_0192f3c4000000000000000000000000",
        "reference": "76144", "currency": "ZAR", "total_amount": 100, "state": "open", "customer": null,
        "attributes": {}, "created_via": "native", "updated_via": "native", "version": 1
    })))
    .unwrap();
    let payment: paystate_domain::Payment = serde_json::from_value(with(json!({
        "id": "pay_0192f3c4000000000000000000000000", "tenant_id": "ten_0192f3c4000000000000000000000000",
        "order_id": "ord_0192f3c4000000000000000000000000", "external_id": "ext-1", "type": "receipt",
        "source_payment_id": null, "method_id": null, "amount": 100, "currency": "ZAR", "status": "open",
        "amount_refunded": 0, "amount_charged_back": 0, "has_refunds": false, "has_chargebacks": false,
        "paid_at": null, "completed_at": null, "reversed_at": null, "transaction_ref": null,
        "invoice_id": null, "note": null, "attrs": {}, "custom": false, "needs_review": false,
        "deleted_at": null, "created_by": "key", "created_via": "native", "updated_by": "key",
        "updated_via": "native", "version": 1
    })))
    .unwrap();
    let run = |body: Value, tenant: &paystate_domain::Tenant| {
        let report = validated(body, Some("k")).unwrap();
        report.check.run("ext-1", ReportContext { tenant, order: &order, payment: &payment })
    };
    let good = json!({"status": "completed", "id": "pay_0192f3c4000000000000000000000000",
        "trust_Value": "C10CD9445121E4ED6AD0AB47CDDE2882", "trust_Seed": b64("[]")});
    assert_eq!(run(good, &tenant), Ok(()));
    let errors = run(json!({"status": "completed", "id": "other", "trust_Value": "00", "trust_Seed": "%"}), &tenant)
        .unwrap_err();
    assert_eq!(errors.0[ID], ["The id field must equal the payment id in the path."]);
    assert_eq!(errors.0[TRUST_VALUE], ["The trust_Value field must be the MD5 hex of the order id."]);
    assert_eq!(errors.0[TRUST_SEED], [SeedError::NotBase64.message()]);
    let errors = run(json!({"status": "completed"}), &tenant).unwrap_err();
    assert_eq!(errors.0.keys().collect::<Vec<_>>(), [TRUST_SEED, TRUST_VALUE], "both required");
    tenant.settings = json!({"teljoy": {"verify_trust": false}});
    assert_eq!(run(json!({"status": "completed", "trust_Value": "00"}), &tenant), Ok(()), "not verified");
    let errors = run(json!({"status": "completed", "id": "other"}), &tenant).unwrap_err();
    assert_eq!(errors.0.keys().collect::<Vec<_>>(), [ID], "the id is checked all the same");
}

#[test]
fn woocommerce_statuses_map_to_the_canonical_machine() {
    let report = |status| PaymentCommand::ReportStatus { status, paid_at: None };
    let table = [
        ("pending", report(PaymentStatus::Pending)),
        ("ON-HOLD", report(PaymentStatus::Pending)),
        ("Processing", report(PaymentStatus::Paid)),
        ("completed", report(PaymentStatus::Paid)),
        ("cancelled", report(PaymentStatus::Canceled)),
        ("failed", report(PaymentStatus::Failed)),
        (
            "refunded",
            PaymentCommand::Adjust { kind: Adjustment::Refund, amount: None, missing: MissingAmount::Remaining },
        ),
        ("checkout-draft", report(PaymentStatus::Open)),
    ];
    for (text, command) in table {
        assert_eq!(WooStatus::parse(text).unwrap().command(), command, "{text}");
    }
    for other in ["canceled", "paid", "wc-completed", "on hold", " completed", "", "draft", "shipped"] {
        assert_eq!(WooStatus::parse(other), None, "{other}");
    }
    assert_eq!(
        WooStatus::allowed_message(),
        "The status field must be one of: pending, on-hold, processing, completed, cancelled, refunded, failed, \
         checkout-draft (WooCommerce order statuses without the wc- prefix; statuses added by other plugins are \
         not accepted)."
    );
}

#[test]
fn the_audit_copy_has_no_api_key_and_the_decoded_seed() {
    let body = json!({"APIKEY": "psk_secret", "status": "completed", "trust_Seed_decoded": "forged"});
    let copy: Value =
        serde_json::from_str(&audit_body(body.as_object().unwrap(), Some(&json!([{"sku": "A"}])))).unwrap();
    assert_eq!(copy, json!({"status": "completed", "trust_Seed_decoded": [{"sku": "A"}]}));
    let copy: Value = serde_json::from_str(&audit_body(body.as_object().unwrap(), None)).unwrap();
    assert_eq!(copy, json!({"status": "completed"}));
}
