//! The dialect settings page: admins change them, vetted exactly as `PATCH /v1/tenant` vets
//! them (a bad value answered on its form with a 422, nothing written); viewers and operators
//! read them without forms and are refused (403) when they post anyway.

use crate::console_test;
use crate::helpers::{Session, TestApp, once_in};
use paystate_domain::Role;
use serde_json::{Value, json};

async fn settings(app: &TestApp) -> Value {
    let tenant: Value = app.api(reqwest::Method::GET, "/v1/tenant", Value::Null).await.json().await.unwrap();
    tenant["settings"].clone()
}

async fn save(app: &TestApp, session: &Session, dialect: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let mut all = vec![("csrf", session.csrf.as_str())];
    all.extend_from_slice(fields);
    app.form(Some(&session.cookie), &format!("/dashboard/settings/{dialect}"), &all).await
}

async fn an_admin_saves_dialect_settings_vetted_as_the_api_vets_them(app: TestApp) {
    let (email, password) = app.user(Role::Admin).await;
    let admin = app.login(&email, &password).await;
    let cookie = Some(admin.cookie.as_str());
    let page = app.page(cookie, "/dashboard/settings").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for dialect in ["omnicasa", "norce", "gormic", "teljoy"] {
        assert!(html.contains(&format!("action=\"/dashboard/settings/{dialect}\"")), "a form for {dialect}");
        assert!(html.contains(&format!("docs/dialects/{dialect}.md")), "{dialect} links its guide");
    }
    assert!(html.contains("default: Europe/Brussels") && html.contains("<option value=\"Europe/Amsterdam\">"));

    // A form sent twice saves once (the once-token); the currency is stored as its code reads.
    let once = once_in(&html, "/dashboard/settings/omnicasa").unwrap();
    let omnicasa = [
        ("once", once.as_str()),
        ("timezone", "Europe/Amsterdam"),
        ("create_unknown_orders", "true"),
        ("currency", "usd"),
    ];
    for _ in 0..2 {
        let saved = save(&app, &admin, "omnicasa", &omnicasa).await;
        assert_eq!(saved.status(), 303);
        assert_eq!(saved.headers()["location"], "/dashboard/settings?done=omnicasa#omnicasa");
    }
    let expected = json!({"timezone": "Europe/Amsterdam", "create_unknown_orders": true, "currency": "USD"});
    assert_eq!(settings(&app).await["omnicasa"], expected);
    let html = app.page(cookie, "/dashboard/settings?done=omnicasa").await.text().await.unwrap();
    assert!(html.contains("The Omnicasa settings are saved") && html.contains("value=\"Europe/Amsterdam\""));

    assert_eq!(save(&app, &admin, "norce", &[("merchants", " norce \r\nshop-2\n")]).await.status(), 303);
    assert_eq!(save(&app, &admin, "gormic", &[("organization_id", "acme-42")]).await.status(), 303);
    assert_eq!(save(&app, &admin, "teljoy", &[("verify_trust", "false")]).await.status(), 303);
    let saved = settings(&app).await;
    assert_eq!(saved["norce"]["merchants"], json!(["norce", "shop-2"]));
    assert_eq!(saved["gormic"]["organization_id"], "acme-42");
    assert_eq!(saved["teljoy"]["verify_trust"], false);

    // Each bad value: a 422 that says what is wrong on that dialect's form; nothing written.
    for (dialect, fields, says) in [
        ("omnicasa", vec![("timezone", "Europe/Brusels")], "“Europe/Brusels” is not an IANA time zone name"),
        ("omnicasa", vec![("currency", "EURO")], "“EURO” is not an ISO 4217 currency code"),
        ("omnicasa", vec![("currency", "XAU")], "“XAU” is not an ISO 4217 currency code"),
        ("omnicasa", vec![("create_unknown_orders", "maybe")], "pick yes, no or the default"),
        ("norce", vec![("merchants", "m1\n\nm2")], "line 2 is empty"),
        ("norce", vec![("merchants", "m1\u{0}")], "must not contain a NUL character"),
        ("teljoy", vec![("verify_trust", "False")], "pick yes, no or the default"),
    ] {
        let refused = save(&app, &admin, dialect, &fields).await;
        assert_eq!(refused.status(), 422, "{says}");
        let html = refused.text().await.unwrap();
        assert!(html.contains(says), "{says}: {html}");
        assert!(html.contains(&format!("id=\"{dialect}-error\"")), "shown on the {dialect} form");
        assert!(html.contains("aria-invalid=\"true\""), "the field is marked");
        if fields[0].0 == "timezone" {
            assert!(html.contains("value=\"Europe/Brusels\""), "what was typed is kept");
        }
    }
    assert_eq!(settings(&app).await, saved, "nothing written");
    // The API refuses what the page refuses: one rule for both.
    let api = app.api(
        reqwest::Method::PATCH,
        "/v1/tenant",
        json!({"settings": {"omnicasa": {"timezone": "Europe/Brusels"}}}),
    );
    assert_eq!(api.await.status(), 400);

    // An empty field removes the setting: its default applies again.
    let cleared =
        save(&app, &admin, "omnicasa", &[("timezone", ""), ("create_unknown_orders", ""), ("currency", "EUR")]).await;
    assert_eq!(cleared.status(), 303);
    assert_eq!(settings(&app).await["omnicasa"], json!({"currency": "EUR"}));

    assert_eq!(save(&app, &admin, "stripe", &[]).await.status(), 404, "no such dialect");
    let forged = app.form(cookie, "/dashboard/settings/gormic", &[("organization_id", "forged")]).await;
    assert_eq!(forged.status(), 403, "no CSRF token");
    assert_eq!(settings(&app).await["gormic"]["organization_id"], "acme-42");
}
console_test!(an_admin_saves_dialect_settings_vetted_as_the_api_vets_them);

async fn viewers_and_operators_read_dialect_settings_without_forms(app: TestApp) {
    let patch = json!({"settings": {"norce": {"merchants": ["norce"]}, "teljoy": {"verify_trust": false}}});
    assert_eq!(app.api(reqwest::Method::PATCH, "/v1/tenant", patch).await.status(), 200);
    let before = settings(&app).await;
    for role in [Role::Viewer, Role::Operator] {
        let (email, password) = app.user(role).await;
        let session = app.login(&email, &password).await;
        let page = app.page(Some(&session.cookie), "/dashboard/settings").await;
        assert_eq!(page.status(), 200, "{role:?} reads");
        let html = page.text().await.unwrap();
        assert!(html.contains("<code>norce</code>") && html.contains("default: Europe/Brussels"), "{role:?}");
        assert!(!html.contains("/dashboard/settings/"), "{role:?}: no forms");
        assert!(html.contains("href=\"/dashboard/settings\" aria-current=\"page\""), "under Settings");
        let refused = save(&app, &session, "teljoy", &[("verify_trust", "true")]).await;
        assert_eq!(refused.status(), 403, "{role:?}");
    }
    assert_eq!(settings(&app).await, before, "nothing written");
}
console_test!(viewers_and_operators_read_dialect_settings_without_forms);
