//! The console's security and its pages over HTTP: sign-in and its cookie, CSRF, roles, tenant
//! isolation, disabled users, logging out, throttling, and clear 4xx answers for bad input.

use crate::console_test;
use crate::helpers::{TestApp, csrf_in};
use paystate_domain::Role;

async fn signing_in_sets_a_strict_cookie_and_every_page_needs_it(app: TestApp) {
    let anonymous = app.page(None, "/dashboard/payments?q=x").await;
    assert_eq!(anonymous.status(), 303);
    let location = anonymous.headers()["location"].to_str().unwrap();
    assert_eq!(location, "/dashboard/login?next=%2Fdashboard%2Fpayments%3Fq%3Dx", "back here after sign-in");
    for path in ["/dashboard", "/dashboard/review", "/dashboard/payments/pay_x", "/dashboard/no-such-page"] {
        assert_eq!(app.page(None, path).await.status(), 303, "{path}");
    }

    let form = app.page(None, "/dashboard/login").await;
    assert_eq!(form.status(), 200);
    assert_eq!(form.headers()["x-frame-options"], "DENY", "no framing by other sites");
    assert!(form.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert_eq!(form.headers()["cache-control"], "no-store");
    for asset in ["/dashboard/assets/console.css", "/dashboard/assets/console.js"] {
        assert_eq!(app.page(None, asset).await.status(), 200, "{asset} needs no session");
    }
    let html = form.text().await.unwrap();
    assert!(html.contains("name=\"email\"") && html.contains("name=\"password\""));

    let (email, password) = app.user(Role::Viewer).await;
    let wrong = app.post_login(&email, "not the password at all").await;
    let unknown = app.post_login("nobody@shop.example", &password).await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(unknown.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    let (wrong, unknown) = (wrong.text().await.unwrap(), unknown.text().await.unwrap());
    assert!(wrong.contains("The e-mail address or the password is wrong."));
    assert_eq!(wrong.replace(&email, "E"), unknown.replace("nobody@shop.example", "E"), "the same page for both");

    let ok = app.post_login(&email.to_uppercase(), &password).await;
    assert_eq!(ok.status(), 303);
    assert_eq!(ok.headers()["location"], "/dashboard");
    let cookie = ok.headers()["set-cookie"].to_str().unwrap();
    for part in ["paystate_session=pss_", "HttpOnly", "SameSite=Strict", "Path=/dashboard"] {
        assert!(cookie.contains(part), "{cookie} lacks {part}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP gets no Secure flag");

    let behind_tls = app
        .client
        .post(app.url("/dashboard/login"))
        .header("x-forwarded-proto", "https")
        .form(&[("email", email.as_str()), ("password", password.as_str())])
        .send()
        .await
        .unwrap();
    assert!(behind_tls.headers()["set-cookie"].to_str().unwrap().contains("; Secure"));

    let next = app
        .client
        .post(app.url("/dashboard/login"))
        .form(&[("email", email.as_str()), ("password", password.as_str()), ("next", "https://evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(next.headers()["location"], "/dashboard", "no redirect off the console");
}
console_test!(signing_in_sets_a_strict_cookie_and_every_page_needs_it);

async fn forms_without_the_csrf_token_are_refused_and_write_nothing(app: TestApp) {
    let payment = app.conflicted_payment("CSRF-1", "psp-csrf").await;
    let id = payment["id"].as_str().unwrap();
    let (email, password) = app.user(Role::Operator).await;
    let session = app.login(&email, &password).await;
    let before = app.events(id).await.len();
    let path = format!("/dashboard/payments/{id}/resolve");
    let missing = app.form(Some(&session.cookie), &path, &[("reason", "checked with the PSP")]).await;
    assert_eq!(missing.status(), 403);
    let forged = app.form(Some(&session.cookie), &path, &[("reason", "x"), ("csrf", "0000")]).await;
    assert_eq!(forged.status(), 403);
    let foreign_origin = app
        .client
        .post(app.url(&path))
        .header("cookie", &session.cookie)
        .header("origin", "https://evil.example")
        .form(&[("reason", "x"), ("csrf", session.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(foreign_origin.status(), 403);
    assert_eq!(app.events(id).await.len(), before, "nothing written");
    assert_eq!(app.payment(id).await["needs_review"], true);

    let no_reason = app.form(Some(&session.cookie), &path, &[("reason", " "), ("csrf", &session.csrf)]).await;
    assert_eq!(no_reason.status(), 422);

    let done = app
        .form(Some(&session.cookie), &path, &[("reason", "PSP confirms paid"), ("status", ""), ("csrf", &session.csrf)])
        .await;
    assert_eq!(done.status(), 303);
    let events = app.events(id).await;
    let resolved = events.last().unwrap();
    assert_eq!(resolved["type"], "payment.resolved");
    assert_eq!(resolved["source"], "dashboard");
    assert!(resolved["actor"].as_str().unwrap().starts_with("usr_"), "{resolved}");
    assert_eq!(resolved["detail"]["reason"], "PSP confirms paid");
    assert_eq!(app.payment(id).await["needs_review"], false);
}
console_test!(forms_without_the_csrf_token_are_refused_and_write_nothing);

async fn a_viewer_reads_but_cannot_act(app: TestApp) {
    let payment = app.conflicted_payment("VIEW-1", "psp-view").await;
    let id = payment["id"].as_str().unwrap();
    let (email, password) = app.user(Role::Viewer).await;
    let session = app.login(&email, &password).await;
    let page = app.page(Some(&session.cookie), &format!("/dashboard/payments/{id}")).await;
    assert_eq!(page.status(), 200);
    assert!(!page.text().await.unwrap().contains("/resolve\""), "no action forms for a viewer");
    let before = app.events(id).await.len();
    for (path, fields) in [
        (format!("/dashboard/payments/{id}/resolve"), vec![("reason", "mine"), ("csrf", session.csrf.as_str())]),
        (format!("/dashboard/payments/{id}/refunds"), vec![("amount", "1.00"), ("csrf", session.csrf.as_str())]),
        (
            "/dashboard/users".to_owned(),
            vec![("email", "x@shop.example"), ("role", "admin"), ("csrf", session.csrf.as_str())],
        ),
    ] {
        assert_eq!(app.form(Some(&session.cookie), &path, &fields).await.status(), 403, "{path}");
    }
    assert_eq!(app.events(id).await.len(), before, "nothing written");
    assert_eq!(app.ledger.users(&app.tenant_id).await.unwrap().len(), 1);
}
console_test!(a_viewer_reads_but_cannot_act);

async fn another_tenants_payment_answers_404(app: TestApp) {
    let payment = app.conflicted_payment("MINE-1", "psp-mine").await;
    let id = payment["id"].as_str().unwrap();
    let (other, _) = app.ledger.create_tenant("Other shop").await.unwrap();
    let (email, password) = app.user_of(&other.id, Role::Admin).await;
    let session = app.login(&email, &password).await;
    for path in [format!("/dashboard/payments/{id}"), "/dashboard/payments/psp-mine".to_owned()] {
        assert_eq!(app.page(Some(&session.cookie), &path).await.status(), 404, "{path}");
    }
    let list = app.page(Some(&session.cookie), "/dashboard/payments?q=psp-mine").await.text().await.unwrap();
    assert!(!list.contains(id));
    let path = format!("/dashboard/payments/{id}/resolve");
    let resolve = app.form(Some(&session.cookie), &path, &[("reason", "not mine"), ("csrf", &session.csrf)]).await;
    assert_eq!(resolve.status(), 404);
    assert_eq!(app.payment(id).await["needs_review"], true);
}
console_test!(another_tenants_payment_answers_404);

async fn a_disabled_user_and_a_logged_out_session_stop_at_once(app: TestApp) {
    let (email, password) = app.user(Role::Operator).await;
    let (first, second) = (app.login(&email, &password).await, app.login(&email, &password).await);
    let logout = app.form(Some(&first.cookie), "/dashboard/logout", &[("csrf", &first.csrf)]).await;
    assert_eq!(logout.status(), 303);
    assert!(logout.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(app.page(Some(&first.cookie), "/dashboard").await.status(), 303, "logged out");
    assert_eq!(app.page(Some(&second.cookie), "/dashboard").await.status(), 200, "the other session lives");

    let everywhere = app.form(Some(&second.cookie), "/dashboard/logout-everywhere", &[("csrf", &second.csrf)]).await;
    assert_eq!(everywhere.status(), 303);
    assert_eq!(app.page(Some(&second.cookie), "/dashboard").await.status(), 303);

    let third = app.login(&email, &password).await;
    app.ledger.disable_user(&paystate_domain::Actor::cli(app.tenant_id.clone(), "test"), &email).await.unwrap();
    assert_eq!(app.page(Some(&third.cookie), "/dashboard").await.status(), 303, "disabled: the session is dead");
    assert_eq!(app.post_login(&email, &password).await.status(), 401, "and cannot sign in");
    let forged = app.page(Some("paystate_session=pss_forged"), "/dashboard").await;
    assert_eq!(forged.status(), 303);
}
console_test!(a_disabled_user_and_a_logged_out_session_stop_at_once);

async fn sign_in_is_throttled_per_account(app: TestApp) {
    let (email, password) = app.user(Role::Viewer).await;
    for _ in 0..5 {
        assert_eq!(app.post_login(&email, "wrong password, again").await.status(), 401);
    }
    let locked = app.post_login(&email, &password).await;
    assert_eq!(locked.status(), 429, "even the right password waits");
    assert!(locked.headers().get("set-cookie").is_none());
}
console_test!(sign_in_is_throttled_per_account);

async fn pages_show_a_payments_truth_and_refuse_bad_input_with_4xx(app: TestApp) {
    let payment = app.conflicted_payment("PAGE-1", "psp-page").await;
    let id = payment["id"].as_str().unwrap().to_owned();
    let (email, password) = app.user(Role::Admin).await;
    let session = app.login(&email, &password).await;
    let cookie = Some(session.cookie.as_str());

    let overview = app.page(cookie, "/dashboard").await.text().await.unwrap();
    assert!(overview.contains("Need review") && overview.contains("<svg"), "the chart is drawn");
    let search = app.page(cookie, "/dashboard/payments?q=psp-page").await.text().await.unwrap();
    assert!(search.contains(&id) && search.contains("external id"));
    let corrected = app
        .api(
            reqwest::Method::PATCH,
            &format!("/v1/payments/{id}"),
            serde_json::json!({"transaction_ref": "txr-page-1", "correction": true}),
        )
        .await;
    assert_eq!(corrected.status(), 200);
    let by_reference = app.page(cookie, "/dashboard/payments?q=txr-page-1").await.text().await.unwrap();
    assert!(by_reference.contains(&id) && by_reference.contains("transaction reference"), "{by_reference}");
    let by_order = app.page(cookie, "/dashboard/payments?q=PAGE-1").await.text().await.unwrap();
    assert!(by_order.contains(&id) && by_order.contains("order PAGE-1"));
    let filtered = app.page(cookie, "/dashboard/payments?status=paid&needs_review=yes").await.text().await.unwrap();
    assert!(filtered.contains(&id));
    let none = app.page(cookie, "/dashboard/payments?q=nothing-like-this").await;
    assert_eq!(none.status(), 200);
    assert!(none.text().await.unwrap().contains("No payment matches."));

    let page = app.page(cookie, "/dashboard/payments/psp-page").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for text in
        ["payment.stale_update", "outcome-stale", "payment.conflict", "outcome-conflict", "25.00 EUR", "needs review"]
    {
        assert!(html.contains(text), "the payment page lacks {text}");
    }
    assert!(html.contains("It is <strong>paid</strong> because <strong>native</strong>"), "why this state");
    let review = app.page(cookie, "/dashboard/review").await.text().await.unwrap();
    assert!(review.contains("psp-page") && review.contains("said <strong>failed</strong>"));

    assert_eq!(app.page(cookie, "/dashboard/payments/pay_nonsense").await.status(), 404);
    let refunds = format!("/dashboard/payments/{id}/refunds");
    let bad_amount = app.form(cookie, &refunds, &[("amount", "abc"), ("csrf", &session.csrf)]).await;
    assert_eq!(bad_amount.status(), 422);
    let too_precise = app.form(cookie, &refunds, &[("amount", "1.001"), ("csrf", &session.csrf)]).await;
    assert_eq!(too_precise.status(), 422);
    let too_much = app.form(cookie, &refunds, &[("amount", "99.00"), ("csrf", &session.csrf)]).await;
    assert_eq!(too_much.status(), 422);
    let refund =
        app.form(cookie, &refunds, &[("amount", "5.00"), ("reason", "one item"), ("csrf", &session.csrf)]).await;
    assert_eq!(refund.status(), 303);
    let after = app.payment(&id).await;
    assert_eq!(after["amount_refunded"], 500);
    let html = app.page(cookie, &format!("/dashboard/payments/{id}")).await.text().await.unwrap();
    assert!(html.contains("20.00 EUR"), "remaining after the refund");

    // Money follows the currency's exponent.
    let post = reqwest::Method::POST;
    let order = serde_json::json!({"reference": "YEN-1", "currency": "JPY", "total_amount": 1500});
    assert_eq!(app.api(post.clone(), "/v1/orders", order).await.status(), 201);
    let yen = serde_json::json!({"order_id": "YEN-1", "amount": 1500, "external_id": "psp-yen"});
    assert_eq!(app.api(post, "/v1/payments", yen).await.status(), 201);
    let html = app.page(cookie, "/dashboard/payments/psp-yen").await.text().await.unwrap();
    assert!(html.contains("1,500 JPY"));

    // The list's filters, each a deep link; a bad one is a 422 that says which.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let yen =
        app.page(cookie, &format!("/dashboard/payments?currency=jpy&source=native&from={today}&to={today}")).await;
    let yen = yen.text().await.unwrap();
    assert!(yen.contains("psp-yen") && !yen.contains("psp-page"), "currency");
    let euro = app.page(cookie, "/dashboard/payments?currency=EUR").await.text().await.unwrap();
    assert!(euro.contains("psp-page") && !euro.contains("psp-yen"));
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%d").to_string();
    let old = app.page(cookie, &format!("/dashboard/payments?to={yesterday}")).await.text().await.unwrap();
    assert!(old.contains("No payment matches."), "created range");
    let teljoy = app.page(cookie, "/dashboard/payments?source=teljoy").await.text().await.unwrap();
    assert!(teljoy.contains("No payment matches."), "created through");
    let narrowed = app.page(cookie, "/dashboard/payments?q=psp-yen&currency=EUR").await.text().await.unwrap();
    assert!(narrowed.contains("No payment matches."), "the search honours the filters");
    for bad in ["currency=EURO", "source=fax", "from=2025-13-01", "status=lost", "needs_review=maybe"] {
        assert_eq!(app.page(cookie, &format!("/dashboard/payments?{bad}")).await.status(), 422, "{bad}");
    }

    let orders = app.page(cookie, "/dashboard/orders?state=open").await.text().await.unwrap();
    assert!(orders.contains("PAGE-1") && orders.contains("25.00 EUR"));
    let order = app.page(cookie, "/dashboard/orders/PAGE-1").await.text().await.unwrap();
    assert!(order.contains(&id) && order.contains("Order PAGE-1"));
    assert_eq!(app.page(cookie, "/dashboard/orders?state=lost").await.status(), 422);
    assert_eq!(app.page(cookie, "/dashboard/orders/NO-SUCH").await.status(), 404);

    let users = app.page(cookie, "/dashboard/users").await.text().await.unwrap();
    let csrf = csrf_in(&users).unwrap();
    let created = app
        .form(cookie, "/dashboard/users", &[("email", "New@Shop.example"), ("role", "viewer"), ("csrf", &csrf)])
        .await;
    assert_eq!(created.status(), 200);
    assert!(created.text().await.unwrap().contains("new@shop.example"));
    let duplicate = app
        .form(cookie, "/dashboard/users", &[("email", "new@shop.example"), ("role", "viewer"), ("csrf", &csrf)])
        .await;
    assert_eq!(duplicate.status(), 409);
    let bad_role =
        app.form(cookie, "/dashboard/users", &[("email", "x@shop.example"), ("role", "root"), ("csrf", &csrf)]).await;
    assert_eq!(bad_role.status(), 422);
}
console_test!(pages_show_a_payments_truth_and_refuse_bad_input_with_4xx);

async fn api_keys_show_their_secret_once_and_revoke_at_once(app: TestApp) {
    let (email, password) = app.user(Role::Admin).await;
    let session = app.login(&email, &password).await;
    let cookie = Some(session.cookie.as_str());
    let created = app
        .form(
            cookie,
            "/dashboard/keys",
            &[("scope", "read"), ("dialect", ""), ("label", "BI export"), ("csrf", &session.csrf)],
        )
        .await;
    assert_eq!(created.status(), 200);
    let html = created.text().await.unwrap();
    let start = html.find("psk_").expect("the secret, shown once");
    let token: String =
        html[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect();
    let listed = app.page(cookie, "/dashboard/keys").await.text().await.unwrap();
    assert!(!listed.contains(&token) && listed.contains("BI export"), "never shown again");
    let with_key = |token: String| {
        let client = app.client.clone();
        let url = app.url("/v1/payments");
        async move { client.get(url).bearer_auth(token).send().await.unwrap().status() }
    };
    assert_eq!(with_key(token.clone()).await, 200);
    let key_id = format!("key_{}", token.trim_start_matches("psk_").split('_').next().unwrap());
    let revoke = app.form(cookie, &format!("/dashboard/keys/{key_id}/revoke"), &[("csrf", &session.csrf)]).await;
    assert_eq!(revoke.status(), 303);
    assert_eq!(with_key(token).await, 401, "revoked at once");
    let bad_scope = app.form(cookie, "/dashboard/keys", &[("scope", "root"), ("csrf", &session.csrf)]).await;
    assert_eq!(bad_scope.status(), 422);
    let console_dialect = app
        .form(cookie, "/dashboard/keys", &[("scope", "read"), ("dialect", "dashboard"), ("csrf", &session.csrf)])
        .await;
    assert_eq!(console_dialect.status(), 422, "no key for the console itself");

    let (viewer, password) = app.user(Role::Operator).await;
    let operator = app.login(&viewer, &password).await;
    assert_eq!(app.page(Some(&operator.cookie), "/dashboard/keys").await.status(), 403);
}
console_test!(api_keys_show_their_secret_once_and_revoke_at_once);

async fn a_failed_delivery_is_shown_with_its_answer_and_retried(app: TestApp) {
    app.endpoint().await;
    app.paid_payment("HOOK-1", "psp-hook", 1200).await;
    let failed = app.fail_deliveries().await;
    assert!(!failed.is_empty());
    let (email, password) = app.user(Role::Operator).await;
    let session = app.login(&email, &password).await;
    let cookie = Some(session.cookie.as_str());
    let html = app.page(cookie, "/dashboard/webhooks").await.text().await.unwrap();
    assert!(html.contains(&failed[0]) && html.contains("HTTP 500") && html.contains("upstream is down"));
    let overview = app.page(cookie, "/dashboard/payments/psp-hook").await.text().await.unwrap();
    assert!(overview.contains("failed"), "the payment page lists the deliveries it caused");

    let path = format!("/dashboard/webhooks/deliveries/{}/retry", failed[0]);
    assert_eq!(app.form(cookie, &path, &[]).await.status(), 403, "no CSRF, no retry");
    let retried = app.form(cookie, &path, &[("csrf", &session.csrf)]).await;
    assert_eq!(retried.status(), 303);
    let pending = app.page(cookie, "/dashboard/webhooks?state=pending").await.text().await.unwrap();
    assert!(pending.contains(&failed[0]), "pending again");
    let unknown =
        app.form(cookie, "/dashboard/webhooks/deliveries/wd_nonsense/retry", &[("csrf", &session.csrf)]).await;
    assert_eq!(unknown.status(), 404);
    let bad_state = app.page(cookie, "/dashboard/webhooks?state=lost").await;
    assert_eq!(bad_state.status(), 422);

    let (viewer, password) = app.user(Role::Viewer).await;
    let viewer = app.login(&viewer, &password).await;
    let refused = app.form(Some(&viewer.cookie), &path, &[("csrf", &viewer.csrf)]).await;
    assert_eq!(refused.status(), 403);
}
console_test!(a_failed_delivery_is_shown_with_its_answer_and_retried);

async fn a_person_changes_their_password_and_every_session_ends(app: TestApp) {
    let (email, password) = app.user(Role::Viewer).await;
    let (session, other) = (app.login(&email, &password).await, app.login(&email, &password).await);
    let account = app.page(Some(&session.cookie), "/dashboard/users").await;
    assert_eq!(account.status(), 200);
    assert!(account.text().await.unwrap().contains("Change your password"), "a viewer's own account page");
    let path = "/dashboard/account/password";
    let wrong = [
        ("current_password", "not my password!"),
        ("new_password", "a brand new passphrase"),
        ("csrf", session.csrf.as_str()),
    ];
    assert_eq!(app.form(Some(&session.cookie), path, &wrong).await.status(), 422);
    let short =
        [("current_password", "a long enough password"), ("new_password", "short"), ("csrf", session.csrf.as_str())];
    assert_eq!(app.form(Some(&session.cookie), path, &short).await.status(), 422);
    let right = [
        ("current_password", "a long enough password"),
        ("new_password", "a brand new passphrase"),
        ("csrf", session.csrf.as_str()),
    ];
    assert_eq!(app.form(Some(&session.cookie), path, &right).await.status(), 303);
    for cookie in [&session.cookie, &other.cookie] {
        assert_eq!(app.page(Some(cookie), "/dashboard").await.status(), 303, "sessions end with the old password");
    }
    assert_eq!(app.post_login(&email, &password).await.status(), 401);
    app.login(&email, "a brand new passphrase").await;
}
console_test!(a_person_changes_their_password_and_every_session_ends);

async fn a_refund_form_submitted_twice_refunds_once(app: TestApp) {
    let payment = app.paid_payment("TWICE-1", "psp-twice", 5000).await;
    let id = payment["id"].as_str().unwrap();
    let (email, password) = app.user(Role::Operator).await;
    let session = app.login(&email, &password).await;
    let html = app.page(Some(&session.cookie), &format!("/dashboard/payments/{id}")).await.text().await.unwrap();
    let marker = "name=\"once\" value=\"";
    let start = html.find(marker).expect("the refund form carries its token") + marker.len();
    let once = html[start..start + html[start..].find('"').unwrap()].to_owned();
    let path = format!("/dashboard/payments/{id}/refunds");
    let fields =
        [("amount", "10.00"), ("reason", "one item back"), ("once", once.as_str()), ("csrf", session.csrf.as_str())];
    // A double click: both submissions are answered as done, one refund is recorded.
    for _ in 0..2 {
        assert_eq!(app.form(Some(&session.cookie), &path, &fields).await.status(), 303);
    }
    assert_eq!(app.payment(id).await["amount_refunded"], 1000);
    let refunds = app.events(id).await.iter().filter(|e| e["type"] == "payment.refunded").count();
    assert_eq!(refunds, 1);
    // A new render is a new form: its refund is recorded too.
    let again =
        [("amount", "5.00"), ("reason", "another"), ("once", "0193a0b0c0d0e0f0"), ("csrf", session.csrf.as_str())];
    assert_eq!(app.form(Some(&session.cookie), &path, &again).await.status(), 303);
    assert_eq!(app.payment(id).await["amount_refunded"], 1500);
}
console_test!(a_refund_form_submitted_twice_refunds_once);
