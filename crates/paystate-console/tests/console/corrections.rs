//! Correcting a payment's fields in the console: a reason required, the change recorded once as
//! its own audited event (the person, the reason, before and after), shown on the timeline; bad
//! input answered on the form with a 4xx; other roles and other tenants refused, nothing written.

use crate::console_test;
use crate::helpers::{Session, TestApp, once_in};
use paystate_domain::Role;
use serde_json::Value;

/// The correction form's fields as the page renders them, with `changes` laid over them.
async fn correction(app: &TestApp, session: &Session, id: &str, changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let html = app.page(Some(&session.cookie), &format!("/dashboard/payments/{id}")).await.text().await.unwrap();
    let form = &html[html.find("/correct\"").expect("a correction form")..];
    let mut fields = vec![
        ("csrf".to_owned(), session.csrf.clone()),
        ("once".to_owned(), once_in(form, "").unwrap()),
        ("version".to_owned(), value_after(form, "name=\"version\"")),
        ("amount".to_owned(), value_after(form, "name=\"amount\"")),
        ("external_id".to_owned(), value_after(form, "name=\"external_id\"")),
        ("transaction_ref".to_owned(), value_after(form, "name=\"transaction_ref\"")),
        ("invoice_id".to_owned(), value_after(form, "name=\"invoice_id\"")),
        ("note".to_owned(), text_after(form, "name=\"note\"")),
    ];
    for (name, value) in changes {
        fields.retain(|(k, _)| k != name);
        fields.push(((*name).to_owned(), (*value).to_owned()));
    }
    fields
}

/// The text of the textarea that `marker` names.
fn text_after(html: &str, marker: &str) -> String {
    let from = html.find(marker).unwrap_or_else(|| panic!("no {marker}"));
    let start = from + html[from..].find('>').unwrap() + 1;
    html[start..start + html[start..].find("</textarea>").unwrap()].to_owned()
}

/// The `value` attribute that follows `marker`.
fn value_after(html: &str, marker: &str) -> String {
    let from = html.find(marker).unwrap_or_else(|| panic!("no {marker}"));
    let start = from + html[from..].find("value=\"").unwrap() + "value=\"".len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

async fn post(app: &TestApp, session: &Session, id: &str, fields: &[(String, String)]) -> reqwest::Response {
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    app.form(Some(&session.cookie), &format!("/dashboard/payments/{id}/correct"), &fields).await
}

fn updates(events: &[Value]) -> Vec<&Value> {
    events.iter().filter(|e| e["type"] == "payment.updated").collect()
}

async fn an_operator_corrects_a_paid_payment_with_a_reason(app: TestApp) {
    let payment = app.paid_payment("FIX-1", "psp-fix", 2500).await;
    let id = payment["id"].as_str().unwrap().to_owned();
    let (email, password) = app.user(Role::Operator).await;
    let session = app.login(&email, &password).await;
    let before = app.events(&id).await.len();

    // Refused before anything is read or written: no CSRF token.
    let mut forged = correction(&app, &session, &id, &[("note", "x"), ("reason", "r")]).await;
    forged.retain(|(k, _)| k != "csrf");
    assert_eq!(post(&app, &session, &id, &forged).await.status(), 403);

    // Bad input: a 422 whose page says what is wrong on the form, keeps what was typed, and writes nothing.
    let long = "n".repeat(2001);
    for (changes, says) in [
        (vec![("note", "checked"), ("reason", " ")], "a reason is required"),
        (vec![("amount", "24.999"), ("reason", "r")], "EUR has 2 decimals: 24.999 has more."),
        (vec![("amount", "-1.00"), ("reason", "r")], "The amount cannot be negative."),
        (vec![("amount", "24,50"), ("reason", "r")], "as digits with a dot before the decimals"),
        (vec![("amount", "10000000000000000"), ("reason", "r")], "The amount is too large."),
        (vec![("note", long.as_str()), ("reason", "r")], "The note must be at most 2000 characters."),
        (vec![("transaction_ref", "tx\u{1}1"), ("reason", "r")], "must not contain control characters"),
        (vec![("invoice_id", "a\tb"), ("reason", "r")], "must not contain control characters"),
        (vec![("method_id", "pm_nonsense"), ("reason", "r")], "Pick a method from the list."),
        (vec![("reason", "nothing really")], "Nothing to correct"),
    ] {
        let fields = correction(&app, &session, &id, &changes).await;
        let refused = post(&app, &session, &id, &fields).await;
        assert_eq!(refused.status(), 422, "{says}");
        let html = refused.text().await.unwrap();
        assert!(html.contains(says), "{says}: {html}");
        assert!(html.contains("role=\"alert\"") && html.contains("<details open"), "shown on the open form");
    }
    let kept =
        post(&app, &session, &id, &correction(&app, &session, &id, &[("amount", "24.999"), ("note", "keep me")]).await)
            .await;
    let kept = kept.text().await.unwrap();
    assert!(kept.contains("value=\"24.999\"") && kept.contains(">keep me</textarea>"), "what was typed is kept");
    assert!(kept.contains("aria-invalid=\"true\" aria-describedby=\"fix-amount-error\""), "the field is marked");
    assert_eq!(app.events(&id).await.len(), before, "nothing written");
    assert_eq!(app.payment(&id).await["amount"], 2500);

    // The correction, sent twice (a double click): recorded once, as its own event.
    let fields = correction(
        &app,
        &session,
        &id,
        &[
            ("amount", "24.50"),
            ("transaction_ref", "tx-123"),
            ("invoice_id", "INV-9"),
            ("note", "per the PSP statement"),
            ("reason", "PSP statement says 24.50"),
        ],
    )
    .await;
    for _ in 0..2 {
        let done = post(&app, &session, &id, &fields).await;
        assert_eq!(done.status(), 303);
        assert_eq!(done.headers()["location"], format!("/dashboard/payments/{id}?done=corrected#timeline").as_str());
    }
    let events = app.events(&id).await;
    let updated = updates(&events);
    assert_eq!(updated.len(), 1, "one event for a form sent twice");
    let event = updated[0];
    assert_eq!(event["source"], "dashboard");
    assert!(event["actor"].as_str().unwrap().starts_with("usr_"), "{event}");
    assert_eq!(event["detail"]["reason"], "PSP statement says 24.50");
    assert_eq!(event["detail"]["correction"], true, "a paid payment's change is an audited correction");
    let (was, now) = (&event["detail"]["before"], &event["detail"]["after"]);
    assert_eq!((was["amount"].as_i64(), now["amount"].as_i64()), (Some(2500), Some(2450)));
    assert_eq!((&was["transaction_ref"], &now["transaction_ref"]), (&Value::Null, &Value::from("tx-123")));
    assert_eq!(now["invoice_id"], "INV-9");
    let asked: Value = serde_json::from_str(event["request_body"].as_str().unwrap()).unwrap();
    assert_eq!(asked["changes"]["amount"], 2450, "the request body says what the person asked");
    let after = app.payment(&id).await;
    assert_eq!((after["amount"].as_i64(), after["status"].as_str()), (Some(2450), Some("paid")));
    assert_eq!(after["note"], "per the PSP statement");

    let page = app.page(Some(&session.cookie), &format!("/dashboard/payments/{id}?done=corrected")).await;
    let html = page.text().await.unwrap();
    assert!(html.contains("The correction is recorded"));
    for shown in [
        "<del>25.00 EUR</del> → <ins>24.50 EUR</ins>",
        "<span class=\"none\">none</span> → <ins>tx-123</ins>",
        "correction of a settled payment",
        "reason: PSP statement says 24.50",
        &email,
    ] {
        assert!(html.contains(shown), "the timeline lacks {shown}");
    }

    // A form rendered before that change does not overwrite it.
    let mut stale = correction(&app, &session, &id, &[("note", "an older view"), ("reason", "late")]).await;
    stale.retain(|(k, _)| k != "version");
    stale.push(("version".into(), was["version"].to_string()));
    let conflict = post(&app, &session, &id, &stale).await;
    assert_eq!(conflict.status(), 409);
    assert!(conflict.text().await.unwrap().contains("The payment changed since this form was opened."));

    // Not below what was refunded; cleared fields are cleared.
    let refunds = format!("/dashboard/payments/{id}/refunds");
    let refund = app.form(Some(&session.cookie), &refunds, &[("amount", "10.00"), ("csrf", &session.csrf)]).await;
    assert_eq!(refund.status(), 303);
    let below = correction(&app, &session, &id, &[("amount", "9.99"), ("reason", "r")]).await;
    let below = post(&app, &session, &id, &below).await;
    assert_eq!(below.status(), 422);
    assert!(below.text().await.unwrap().contains("below what was already refunded"));
    let cleared =
        correction(&app, &session, &id, &[("amount", "24.50"), ("note", ""), ("reason", "note was wrong")]).await;
    assert_eq!(post(&app, &session, &id, &cleared).await.status(), 303);
    assert_eq!(app.payment(&id).await["note"], Value::Null);
    assert_eq!(updates(&app.events(&id).await).len(), 2);

    // Amounts follow the currency's exponent.
    let post_api = reqwest::Method::POST;
    let order = serde_json::json!({"reference": "FIX-YEN", "currency": "JPY", "total_amount": 1500});
    assert_eq!(app.api(post_api.clone(), "/v1/orders", order).await.status(), 201);
    let yen = serde_json::json!({"order_id": "FIX-YEN", "amount": 1500, "external_id": "psp-fix-yen"});
    let yen: Value = app.api(post_api, "/v1/payments", yen).await.json().await.unwrap();
    let yen = yen["id"].as_str().unwrap();
    let fractional = correction(&app, &session, yen, &[("amount", "1500.5"), ("reason", "r")]).await;
    let fractional = post(&app, &session, yen, &fractional).await;
    assert_eq!(fractional.status(), 422);
    assert!(fractional.text().await.unwrap().contains("JPY has no decimals"));
    let whole = correction(&app, &session, yen, &[("amount", "1400"), ("reason", "discount forgotten")]).await;
    assert_eq!(post(&app, &session, yen, &whole).await.status(), 303);
    let yen_after = app.payment(yen).await;
    assert_eq!(yen_after["amount"], 1400);
    let event = app.events(yen).await.into_iter().find(|e| e["type"] == "payment.updated").unwrap();
    assert_eq!(event["detail"]["correction"], false, "an open payment's change is not a settled one's correction");
}
console_test!(an_operator_corrects_a_paid_payment_with_a_reason);

async fn only_operators_and_admins_of_the_tenant_correct_fields(app: TestApp) {
    let payment = app.paid_payment("FIX-2", "psp-fix-2", 1000).await;
    let id = payment["id"].as_str().unwrap().to_owned();
    let (admin, password) = app.user(Role::Admin).await;
    let admin = app.login(&admin, &password).await;
    let fields = correction(&app, &admin, &id, &[("invoice_id", "INV-1"), ("reason", "forged")]).await;
    let before = app.events(&id).await.len();

    let (viewer, password) = app.user(Role::Viewer).await;
    let viewer = app.login(&viewer, &password).await;
    let page = app.page(Some(&viewer.cookie), &format!("/dashboard/payments/{id}")).await.text().await.unwrap();
    assert!(!page.contains("/correct\"") && !page.contains("Correct fields"), "no correction form for a viewer");
    let as_viewer: Vec<_> =
        fields.iter().map(|(k, v)| (k.clone(), if k == "csrf" { viewer.csrf.clone() } else { v.clone() })).collect();
    assert_eq!(post(&app, &viewer, &id, &as_viewer).await.status(), 403);

    let other = app.other_tenant_admin().await;
    let as_other: Vec<_> =
        fields.iter().map(|(k, v)| (k.clone(), if k == "csrf" { other.csrf.clone() } else { v.clone() })).collect();
    assert_eq!(post(&app, &other, &id, &as_other).await.status(), 404, "another tenant's payment");
    assert_eq!(post(&app, &other, "psp-fix-2", &as_other).await.status(), 404, "by its external id too");
    assert_eq!(app.events(&id).await.len(), before, "nothing written");
    assert_eq!(app.payment(&id).await["invoice_id"], Value::Null);

    let fields = correction(&app, &admin, &id, &[("invoice_id", "INV-1"), ("reason", "the invoice was missing")]).await;
    assert_eq!(post(&app, &admin, &id, &fields).await.status(), 303, "an admin corrects too");
    assert_eq!(app.payment(&id).await["invoice_id"], "INV-1");
}
console_test!(only_operators_and_admins_of_the_tenant_correct_fields);
