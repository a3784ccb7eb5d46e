//! The harness: a real server on port 0 over a fresh database, console users, sign-in over HTTP
//! with the cookie carried by hand, and a payment that two dialects disagree about.

use paystate_domain::{Role, TenantId};
use paystate_ledger::Ledger;
use paystate_testkit::{Cleanup, Harness, TestStore};
use reqwest::Response;
use serde_json::{Value, json};

pub struct TestApp {
    pub address: String,
    /// Follows no redirects, so tests see the console's 303s.
    pub client: reqwest::Client,
    pub ledger: Ledger,
    pub tenant_id: TenantId,
    pub admin_key: String,
    cleanup: Option<Cleanup>,
}

/// A signed-in browser, as far as HTTP goes: its cookie and its CSRF value.
#[derive(Clone, Debug)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

/// Runs a scenario against SQLite, and against PostgreSQL when `PAYSTATE_TEST_POSTGRES_URL` is set.
#[macro_export]
macro_rules! console_test {
    ($name:ident) => {
        paystate_testkit::scenario!($crate::helpers::TestApp, $name);
    };
}

impl Harness for TestApp {
    fn take_cleanup(&mut self) -> Option<Cleanup> {
        self.cleanup.take()
    }
}

impl TestApp {
    pub async fn sqlite() -> TestApp {
        Self::start(TestStore::sqlite("paystate-console").await).await
    }

    pub async fn postgres() -> Option<TestApp> {
        Some(Self::start(TestStore::postgres().await?).await)
    }

    async fn start(TestStore { store, cleanup, .. }: TestStore) -> TestApp {
        paystate_webhooks::install_default_crypto_provider();
        let ledger = Ledger::new(store);
        // Webhook endpoints of the tests point at 127.0.0.1; no dispatcher runs (tests fail deliveries).
        let mut config = paystate_http::HttpConfig::default();
        config.webhooks.allow_private_networks = true;
        let state = paystate_http::AppState::new(ledger.clone(), config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(paystate_http::serve(listener, state, std::future::pending()));
        let (tenant, key) = ledger.create_tenant("Console shop").await.unwrap();
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        TestApp { address, client, ledger, tenant_id: tenant.id, admin_key: key.token, cleanup: Some(cleanup) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A console user of the test tenant with a known password; answers (email, password).
    pub async fn user(&self, role: Role) -> (String, String) {
        self.user_of(&self.tenant_id.clone(), role).await
    }

    pub async fn user_of(&self, tenant: &TenantId, role: Role) -> (String, String) {
        // A person's address, as people have them: unique per test by the id's last digits.
        let id = paystate_domain::UserId::generate().to_string();
        let email = format!("{}.{}@shop.example", role.as_str(), &id[id.len() - 10..]);
        let password = "a long enough password".to_owned();
        self.ledger
            .create_user(
                &paystate_domain::Actor::cli(tenant.clone(), "test"),
                &email,
                role,
                Some(password.clone()),
                None,
            )
            .await
            .unwrap();
        (email, password)
    }

    pub async fn post_login(&self, email: &str, password: &str) -> Response {
        self.client
            .post(self.url("/dashboard/login"))
            .form(&[("email", email), ("password", password)])
            .send()
            .await
            .unwrap()
    }

    /// Signs in and reads the session's CSRF value from a page.
    pub async fn login(&self, email: &str, password: &str) -> Session {
        let response = self.post_login(email, password).await;
        assert_eq!(response.status(), 303, "signing in {email}");
        let set_cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        let page = self.page(Some(&cookie), "/dashboard").await;
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        Session { cookie, csrf: csrf_in(&html).expect("a CSRF field on the overview") }
    }

    pub async fn page(&self, cookie: Option<&str>, path: &str) -> Response {
        let mut request = self.client.get(self.url(path));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.unwrap()
    }

    pub async fn form(&self, cookie: Option<&str>, path: &str, fields: &[(&str, &str)]) -> Response {
        let mut request = self.client.post(self.url(path)).form(fields);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.unwrap()
    }

    pub async fn api(&self, method: reqwest::Method, path: &str, body: Value) -> Response {
        let request = self.client.request(method, self.url(path)).bearer_auth(&self.admin_key);
        let request = if body.is_null() { request } else { request.json(&body) };
        request.send().await.unwrap()
    }

    /// A paid payment of a new order (EUR) with this external id; answers its JSON.
    pub async fn paid_payment(&self, reference: &str, external_id: &str, amount: i64) -> Value {
        let post = reqwest::Method::POST;
        let order = json!({"reference": reference, "currency": "EUR", "total_amount": amount});
        assert_eq!(self.api(post.clone(), "/v1/orders", order).await.status(), 201);
        let payment = json!({"order_id": reference, "amount": amount, "external_id": external_id});
        assert_eq!(self.api(post.clone(), "/v1/payments", payment).await.status(), 201);
        let paid = self.api(post, &format!("/v1/payments/{external_id}/status"), json!({"status": "paid"})).await;
        assert_eq!(paid.status(), 200);
        paid.json().await.unwrap()
    }

    /// A paid payment that then got a stale report and a conflicting one (flagged for review).
    pub async fn conflicted_payment(&self, reference: &str, external_id: &str) -> Value {
        self.paid_payment(reference, external_id, 2500).await;
        let post = reqwest::Method::POST;
        let path = format!("/v1/payments/{external_id}/status");
        let stale = self.api(post.clone(), &path, json!({"status": "pending"})).await;
        assert_eq!(stale.status(), 200);
        let conflict = self.api(post, &path, json!({"status": "failed"})).await;
        assert_eq!(conflict.status(), 409);
        self.payment(external_id).await
    }

    pub async fn payment(&self, id: &str) -> Value {
        let response = self.api(reqwest::Method::GET, &format!("/v1/payments/{id}"), Value::Null).await;
        response.json().await.unwrap()
    }

    pub async fn events(&self, payment: &str) -> Vec<Value> {
        let path = format!("/v1/payments/{payment}/events");
        let body: Value = self.api(reqwest::Method::GET, &path, Value::Null).await.json().await.unwrap();
        body["data"].as_array().unwrap().clone()
    }
}

/// The value of the first hidden CSRF field of a page.
pub fn csrf_in(html: &str) -> Option<String> {
    let start = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

impl TestApp {
    /// An endpoint that subscribes to every event (nothing listens there; no dispatcher runs).
    pub async fn endpoint(&self) -> String {
        let body = json!({"url": "http://127.0.0.1:9/hook", "events": ["*"]});
        let response = self.api(reqwest::Method::POST, "/v1/webhook-endpoints", body).await;
        assert_eq!(response.status(), 201);
        let created: Value = response.json().await.unwrap();
        created["id"].as_str().unwrap().to_owned()
    }

    /// Makes every due delivery fail for good, as a dispatcher would after a 500: claimed,
    /// attempted once, no more tries. Answers their ids.
    pub async fn fail_deliveries(&self) -> Vec<String> {
        use futures::FutureExt;
        use paystate_store::{AttemptOutcome, AttemptRecord, NextStep, StoreExt};
        let now = paystate_ledger::now();
        self.ledger
            .store()
            .write(move |tx| {
                async move {
                    let claimed =
                        tx.claim_deliveries(now, now + chrono::Duration::seconds(60), 100, "console-test").await?;
                    let mut ids = Vec::new();
                    for claim in claimed {
                        let attempt = AttemptRecord {
                            delivery_id: claim.delivery.id.clone(),
                            at: now,
                            status_code: Some(500),
                            latency_ms: 12,
                            response_excerpt: Some("upstream is down".into()),
                            error: None,
                        };
                        let outcome = AttemptOutcome {
                            tenant_id: claim.delivery.tenant_id.clone(),
                            lease_token: claim.lease_token,
                            attempt,
                            next: NextStep::Failed,
                        };
                        tx.record_attempt(&outcome).await?;
                        ids.push(claim.delivery.id.to_string());
                    }
                    Ok(ids)
                }
                .boxed()
            })
            .await
            .unwrap()
    }
}

/// The value of the first hidden `once` field of a page at or after `from` (a form's token).
pub fn once_in(html: &str, from: &str) -> Option<String> {
    let marker = "name=\"once\" value=\"";
    let offset = html.find(from)?;
    let start = html[offset..].find(marker)? + offset + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// The `whsec_…` signing secret shown on a page, if any.
pub fn secret_in(html: &str) -> Option<String> {
    let start = html.find("whsec_")?;
    Some(html[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || "_+/=".contains(*c)).collect())
}

impl TestApp {
    /// The tenant's webhook endpoints as the API lists them.
    pub async fn endpoints(&self) -> Vec<Value> {
        let body: Value =
            self.api(reqwest::Method::GET, "/v1/webhook-endpoints", Value::Null).await.json().await.unwrap();
        body["data"].as_array().unwrap().clone()
    }

    /// An admin of a second tenant, signed in: answers its session.
    pub async fn other_tenant_admin(&self) -> Session {
        let (other, _) = self.ledger.create_tenant("Another shop").await.unwrap();
        let (email, password) = self.user_of(&other.id, Role::Admin).await;
        self.login(&email, &password).await
    }
}
