//! Real-browser scenarios in headless Chromium through chromedriver (Debian's `chromium` and
//! `chromium-driver`; `scripts/test.sh` installs them). Without them these tests fail loudly:
//! a browser suite that silently passes would prove nothing.
//!
//! Every page visited is saved as a screenshot under `<target>/console-screenshots/` (at 1280 px
//! and at 390 px wide), never in the source tree.

use crate::console_test;
use crate::helpers::TestApp;
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use paystate_domain::Role;
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver of this test, with one browser session; both end on drop or `close`.
struct Browser {
    driver: Child,
    client: Option<Client>,
    profile: PathBuf,
    shots: PathBuf,
    label: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// `<target>/console-screenshots`, found from the test binary (`<target>/debug/deps/console-…`),
/// so that it follows `CARGO_TARGET_DIR`.
fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).expect("the test binary lives in <target>/<profile>/deps");
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Browser {
    async fn start(label: &str) -> Browser {
        for program in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(program).exists(),
                "{program} is missing: install Debian's chromium and chromium-driver (scripts/test.sh does)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = std::env::temp_dir().join(format!("paystate-chromium-{}", paystate_domain::UserId::generate()));
        std::fs::create_dir_all(&profile).unwrap();
        let mut browser = Browser { driver, client: None, profile, shots: screenshot_dir(), label: label.to_owned() };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // No network here: without these flags Chromium waits on updates, sync and QUIC probes.
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--proxy-server=http://127.0.0.1:9",
            "--proxy-bypass-list=127.0.0.1;localhost",
            "--window-size=1280,900",
        ];
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", browser.profile.display()));
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), json!({"binary": CHROMIUM, "args": args}));
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session through chromedriver");
        browser.client = Some(client);
        browser
    }

    fn client(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    /// Saves the whole page at 1280 px and at 390 px wide.
    async fn shoot(&self, name: &str) {
        let client = self.client();
        for (width, height, suffix) in [(1280, 900, "wide"), (390, 844, "narrow")] {
            client.set_window_size(width, height).await.unwrap();
            // A screenshot holds the window only: grow the window to the page's full height.
            let full = client.execute("return document.documentElement.scrollHeight", vec![]).await.unwrap();
            let full = full.as_u64().unwrap_or(u64::from(height)).clamp(u64::from(height), 6000) as u32;
            client.set_window_size(width, full + 140).await.unwrap();
            let png = client.screenshot().await.unwrap();
            std::fs::write(self.shots.join(format!("{}-{name}-{suffix}.png", self.label)), png).unwrap();
        }
        client.set_window_size(1280, 900).await.unwrap();
    }

    async fn text(&self) -> String {
        self.client().find(Locator::Css("body")).await.unwrap().text().await.unwrap()
    }

    /// The page's text once it contains `needle`: a click that submits a form returns before
    /// the next page has loaded, so every step waits for what it expects (10 s at most).
    async fn wait_for(&self, needle: &str) -> String {
        for _ in 0..100 {
            if let Ok(body) = self.client().find(Locator::Css("body")).await
                && let Ok(text) = body.text().await
                && text.contains(needle)
            {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page never showed {needle:?}; it shows:\n{}", self.text().await);
    }

    async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
    }
}

/// A payment Gormic reported paid, then Teljoy reported pending (stale) and canceled (conflict).
async fn two_dialects_disagree(app: &TestApp) -> String {
    let post = reqwest::Method::POST;
    let order = json!({"reference": "E2E-1", "currency": "EUR", "total_amount": 4990});
    assert_eq!(app.api(post.clone(), "/v1/orders", order).await.status(), 201);
    let payment = json!({"order_id": "E2E-1", "amount": 4990, "external_id": "psp-e2e-77"});
    let created: serde_json::Value = app.api(post.clone(), "/v1/payments", payment).await.json().await.unwrap();
    let settings = json!({"settings": {"teljoy": {"verify_trust": false}}});
    assert_eq!(app.api(reqwest::Method::PATCH, "/v1/tenant", settings).await.status(), 200);
    let teljoy = |status: &str| {
        app.client
            .post(app.url("/api/v1/status/psp-e2e-77"))
            .header("api-key", &app.admin_key)
            .json(&json!({"status": status}))
            .send()
    };
    let gormic = app
        .client
        .patch(app.url("/v1/om/payments/psp-e2e-77"))
        .header("api-key", &app.admin_key)
        .header("organization-id", app.tenant_id.as_str())
        .json(&json!({"params": {"status": "complete"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(gormic.status(), 200, "gormic: paid");
    assert_eq!(teljoy("on-hold").await.unwrap().status(), 200, "teljoy: a stale pending");
    let conflict = app
        .client
        .post(app.url("/api/v1/status/psp-e2e-77"))
        .header("api-key", &app.admin_key)
        .json(&json!({"status": "cancelled"}))
        .send()
        .await
        .unwrap();
    assert_eq!(conflict.status(), 409, "teljoy: canceled after paid contradicts");
    created["id"].as_str().unwrap().to_owned()
}

async fn an_operator_finds_a_payment_reads_its_timeline_resolves_and_refunds(app: TestApp) {
    let id = two_dialects_disagree(&app).await;
    let (email, password) = app.user(Role::Operator).await;
    let browser = Browser::start(&format!("{}-operator", app.ledger.store().backend())).await;
    // The browser closes whether the journey passed or not; a failure is then re-raised.
    let outcome = std::panic::AssertUnwindSafe(journey(&app, &browser, &id, &email, &password)).catch_unwind().await;
    browser.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    let payment = app.payment(&id).await;
    assert_eq!(payment["needs_review"], false);
    assert_eq!(payment["amount_refunded"], 1000);
    let events = app.events(&id).await;
    let by_console: Vec<_> = events.iter().filter(|e| e["source"] == "dashboard").collect();
    assert_eq!(by_console.len(), 3, "the resolution, the refund and the correction, by the person");
    assert_eq!(payment["transaction_ref"], "TX-E2E-1");
}
console_test!(an_operator_finds_a_payment_reads_its_timeline_resolves_and_refunds);

/// Sign in, find the payment by its external id, read its timeline and the review queue,
/// resolve the conflict, record a refund, log out: every page photographed.
async fn journey(app: &TestApp, browser: &Browser, id: &str, email: &str, password: &str) {
    let client = browser.client();
    client.goto(&app.url("/dashboard/payments")).await.unwrap();
    assert!(client.current_url().await.unwrap().path().ends_with("/dashboard/login"), "no session: sign in first");
    browser.shoot("login").await;
    client.find(Locator::Css("input[name=email]")).await.unwrap().send_keys(email).await.unwrap();
    client.find(Locator::Css("input[name=password]")).await.unwrap().send_keys(password).await.unwrap();
    client.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    browser.wait_for("Oldest first").await;
    assert_eq!(client.current_url().await.unwrap().path(), "/dashboard/payments", "back where it asked to go");

    client.goto(&app.url("/dashboard")).await.unwrap();
    assert!(browser.text().await.contains("Need review"));
    browser.shoot("overview").await;

    let search = client.find(Locator::Css("input[name=q]")).await.unwrap();
    search.send_keys("psp-e2e-77").await.unwrap();
    search.send_keys("\u{E007}").await.unwrap();
    let found = browser.wait_for("Searched for").await;
    assert!(found.contains("the payment with external id “psp-e2e-77”"), "{found}");
    browser.shoot("search").await;
    client.find(Locator::LinkText(id)).await.unwrap().click().await.unwrap();

    let page = browser.wait_for("Timeline").await;
    for text in ["payment.stale_update", "stale", "payment.conflict", "conflict", "gormic", "teljoy", "needs review"] {
        assert!(page.contains(text), "the payment page lacks {text}");
    }
    assert!(page.contains("It is paid because gormic reported it"), "why this state");
    assert!(page.contains("1 later report was stale"), "why this state");
    browser.shoot("payment").await;

    client.goto(&app.url("/dashboard/review")).await.unwrap();
    let review = browser.text().await;
    assert!(review.contains("gormic said paid") && review.contains("teljoy said canceled"), "{review}");
    browser.shoot("review").await;

    client.goto(&app.url(&format!("/dashboard/payments/{id}"))).await.unwrap();
    client.find(Locator::Id("resolve-reason")).await.unwrap().send_keys("PSP dashboard shows it paid").await.unwrap();
    client.find(Locator::Css("form[action$='/resolve'] button")).await.unwrap().click().await.unwrap();
    let resolved = browser.wait_for("The conflict is resolved").await;
    assert!(resolved.contains("The conflict is resolved"), "{resolved}");
    assert!(resolved.contains("payment.resolved") && resolved.contains("PSP dashboard shows it paid"));
    assert!(resolved.contains("1 later report contradicted it and was settled"), "{resolved}");
    assert!(resolved.contains(email), "the person is named in the timeline");

    client.find(Locator::Id("refunds-amount")).await.unwrap().send_keys("10.00").await.unwrap();
    client.find(Locator::Id("refunds-reason")).await.unwrap().send_keys("one item returned").await.unwrap();
    client.find(Locator::Css("form[action$='/refunds'] button")).await.unwrap().click().await.unwrap();
    let refunded = browser.wait_for("The refund is recorded").await;
    assert!(refunded.contains("The refund is recorded") && refunded.contains("39.90 EUR"), "{refunded}");
    browser.shoot("payment-after-actions").await;
    correct_a_field(browser).await;

    client.find(Locator::Css("form[action='/dashboard/logout'] button")).await.unwrap().click().await.unwrap();
    browser.wait_for("Sign in").await;
    client.goto(&app.url("/dashboard")).await.unwrap();
    assert!(client.current_url().await.unwrap().path().ends_with("/dashboard/login"), "logged out");
}

async fn an_admin_creates_and_revokes_a_key_and_retries_a_failed_delivery(app: TestApp) {
    app.endpoint().await;
    app.paid_payment("HOOK-E2E", "psp-hook-e2e", 990).await;
    let failed = app.fail_deliveries().await;
    let (email, password) = app.user(Role::Admin).await;
    let browser = Browser::start(&format!("{}-admin", app.ledger.store().backend())).await;
    let outcome =
        std::panic::AssertUnwindSafe(administer(&app, &browser, &failed[0], &email, &password)).catch_unwind().await;
    browser.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
console_test!(an_admin_creates_and_revokes_a_key_and_retries_a_failed_delivery);

async fn administer(app: &TestApp, browser: &Browser, delivery: &str, email: &str, password: &str) {
    let client = browser.client();
    client.goto(&app.url("/dashboard/login")).await.unwrap();
    client.find(Locator::Css("input[name=email]")).await.unwrap().send_keys(email).await.unwrap();
    client.find(Locator::Css("input[name=password]")).await.unwrap().send_keys(password).await.unwrap();
    client.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    browser.wait_for("Overview").await;

    client.goto(&app.url("/dashboard/webhooks")).await.unwrap();
    let page = browser.text().await;
    assert!(page.contains(delivery) && page.contains("HTTP 500"), "{page}");
    browser.shoot("webhooks").await;
    client.find(Locator::Css(&format!("button[aria-label='Retry {delivery}']"))).await.unwrap().click().await.unwrap();
    let page = browser.wait_for("queued to be sent again").await;
    assert!(page.contains("queued to be sent again") && page.contains(delivery));

    manage_an_endpoint(app, browser).await;

    client.goto(&app.url("/dashboard/events")).await.unwrap();
    let feed = browser.wait_for("Newest first").await;
    assert!(feed.contains("payment.status_changed") && feed.contains("pay_"), "{feed}");
    browser.shoot("events").await;

    client.goto(&app.url("/dashboard/keys")).await.unwrap();
    client.find(Locator::Id("key-label")).await.unwrap().send_keys("warehouse sync").await.unwrap();
    client.find(Locator::Css("form[action='/dashboard/keys'] button")).await.unwrap().click().await.unwrap();
    browser.wait_for("shown this once").await;
    let secret = client.find(Locator::Id("new-secret")).await.unwrap().text().await.unwrap();
    assert!(secret.starts_with("psk_"), "{secret}");
    browser.shoot("key-created").await;
    let status = app.client.get(app.url("/v1/payments")).bearer_auth(&secret).send().await.unwrap().status();
    assert_eq!(status, 200, "the new key works");
    client.goto(&app.url("/dashboard/keys")).await.unwrap();
    assert!(!browser.text().await.contains(&secret), "the secret is never shown again");
    let key_id = format!("key_{}", secret.trim_start_matches("psk_").split('_').next().unwrap());
    client.find(Locator::Css(&format!("button[aria-label='Revoke {key_id}']"))).await.unwrap().click().await.unwrap();
    browser.wait_for("revoked").await;
    let status = app.client.get(app.url("/v1/payments")).bearer_auth(&secret).send().await.unwrap().status();
    assert_eq!(status, 401, "revoked");
    browser.shoot("keys").await;

    client.goto(&app.url("/dashboard/users")).await.unwrap();
    browser.shoot("users").await;

    change_a_dialect_setting(app, browser).await;
}

/// Open the correction form, be told plainly what is wrong with an amount, then save it.
async fn correct_a_field(browser: &Browser) {
    let client = browser.client();
    client.find(Locator::Css("#correct summary")).await.unwrap().click().await.unwrap();
    let amount = client.find(Locator::Id("fix-amount")).await.unwrap();
    amount.clear().await.unwrap();
    amount.send_keys("49.901").await.unwrap();
    client.find(Locator::Id("fix-transaction_ref")).await.unwrap().send_keys("TX-E2E-1").await.unwrap();
    let reason = "The PSP statement names the transaction";
    client.find(Locator::Id("fix-reason")).await.unwrap().send_keys(reason).await.unwrap();
    client.find(Locator::Css("form[action$='/correct'] button")).await.unwrap().click().await.unwrap();
    let refused = browser.wait_for("EUR has 2 decimals").await;
    assert!(refused.contains("EUR has 2 decimals: 49.901 has more."), "{refused}");
    browser.shoot("correction-refused").await;
    let amount = client.find(Locator::Id("fix-amount")).await.unwrap();
    amount.clear().await.unwrap();
    amount.send_keys("49.90").await.unwrap();
    client.find(Locator::Css("form[action$='/correct'] button")).await.unwrap().click().await.unwrap();
    let corrected = browser.wait_for("The correction is recorded").await;
    for text in ["payment.updated", "correction of a settled payment", "none → TX-E2E-1", reason] {
        assert!(corrected.contains(text), "the timeline lacks {text}: {corrected}");
    }
    browser.shoot("payment-corrected").await;
}

/// Settings: a mistyped time zone is refused on its form, the right one is saved.
async fn change_a_dialect_setting(app: &TestApp, browser: &Browser) {
    let client = browser.client();
    client.goto(&app.url("/dashboard/settings")).await.unwrap();
    browser.wait_for("Dialect settings").await;
    browser.shoot("settings").await;
    let zone = client.find(Locator::Id("omnicasa-timezone")).await.unwrap();
    zone.send_keys("Europe/Brusels").await.unwrap();
    let save = "form[action='/dashboard/settings/omnicasa'] button";
    client.find(Locator::Css(save)).await.unwrap().click().await.unwrap();
    let refused = browser.wait_for("is not an IANA time zone").await;
    assert!(refused.contains("“Europe/Brusels” is not an IANA time zone name"), "{refused}");
    browser.shoot("settings-refused").await;
    let zone = client.find(Locator::Id("omnicasa-timezone")).await.unwrap();
    zone.clear().await.unwrap();
    zone.send_keys("Europe/Amsterdam").await.unwrap();
    client.find(Locator::Css(save)).await.unwrap().click().await.unwrap();
    browser.wait_for("The Omnicasa settings are saved").await;
    browser.shoot("settings-saved").await;
    let tenant: serde_json::Value =
        app.api(reqwest::Method::GET, "/v1/tenant", serde_json::Value::Null).await.json().await.unwrap();
    assert_eq!(tenant["settings"]["omnicasa"]["timezone"], "Europe/Amsterdam");
}

/// Add an endpoint (its secret shown once), send it a test, disable and enable it: by clicks.
async fn manage_an_endpoint(app: &TestApp, browser: &Browser) {
    let client = browser.client();
    client.goto(&app.url("/dashboard/webhooks")).await.unwrap();
    let url = "http://127.0.0.1:9/e2e-hook";
    client.find(Locator::Id("endpoint-url")).await.unwrap().send_keys(url).await.unwrap();
    client.find(Locator::Id("endpoint-description")).await.unwrap().send_keys("warehouse").await.unwrap();
    client
        .find(Locator::Css("form[action='/dashboard/webhooks/endpoints'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.wait_for("Its signing secret, shown this once").await;
    let secret = client.find(Locator::Id("new-secret")).await.unwrap().text().await.unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    browser.shoot("endpoint-created").await;
    let endpoints = app.endpoints().await;
    let id = endpoints.iter().find(|e| e["url"] == url).expect("created")["id"].as_str().unwrap().to_owned();

    client.goto(&app.url("/dashboard/webhooks")).await.unwrap();
    assert!(!browser.text().await.contains(&secret), "the secret is never shown again");
    let button = |label: String| async move {
        client.find(Locator::Css(&format!("button[aria-label='{label}']"))).await.unwrap().click().await.unwrap();
    };
    button(format!("Send a test event to {id}")).await;
    let pending = browser.wait_for("webhook.test message is queued").await;
    assert!(pending.contains("webhook.test"), "{pending}");
    button(format!("Disable {id}")).await;
    browser.wait_for("The endpoint is disabled").await;
    assert_eq!(app.endpoints().await.iter().find(|e| e["id"] == id.as_str()).unwrap()["enabled"], false);
    browser.shoot("webhooks-managed").await;
    button(format!("Enable {id}")).await;
    browser.wait_for("The endpoint is enabled").await;
    assert_eq!(app.endpoints().await.iter().find(|e| e["id"] == id.as_str()).unwrap()["enabled"], true);
}
