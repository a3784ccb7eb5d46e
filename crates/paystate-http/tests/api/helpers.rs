//! The test harness: a real paystate server on port 0 over a fresh database, and a client.

use paystate_domain::TenantId;
use paystate_ledger::Ledger;
use paystate_store::Store;
use paystate_testkit::{Cleanup, Harness, TestStore};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};
use std::sync::Arc;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub ledger: Ledger,
    pub tenant_id: TenantId,
    /// The tenant's first admin key.
    pub admin_key: String,
    /// The key the server seals webhook secrets with (dispatchers of a test need it too).
    pub sealing_key: paystate_webhooks::SealingKey,
    /// Makes the store lose the answers of its next commits, as a crash right after COMMIT would.
    pub faults: paystate_store::FaultInjection,
    /// The PostgreSQL database's URL, for a second instance on it (`None` on SQLite).
    pub database_url: Option<String>,
    cleanup: Option<Cleanup>,
}

/// Runs a scenario against SQLite, or against PostgreSQL when `PAYSTATE_TEST_POSTGRES_URL` is set.
#[macro_export]
macro_rules! api_test {
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
        Self::sqlite_with(test_limits()).await
    }

    /// A SQLite server with its own connection limits (short timeouts for the slow-client tests).
    pub async fn sqlite_with(limits: paystate_http::server::ConnectionLimits) -> TestApp {
        Self::start(TestStore::sqlite("paystate-api").await, limits).await
    }

    pub async fn postgres() -> Option<TestApp> {
        Some(Self::start(TestStore::postgres().await?, test_limits()).await)
    }

    async fn start(test_store: TestStore, limits: paystate_http::server::ConnectionLimits) -> TestApp {
        let TestStore { store, faults, database_url, cleanup } = test_store;
        paystate_webhooks::install_default_crypto_provider();
        let ledger = Ledger::new(store);
        let sealing_key = paystate_webhooks::SealingKey::generate().unwrap();
        let address = serve_on(ledger.clone(), sealing_key.clone(), limits).await;
        let (tenant, key) = ledger.create_tenant("Test shop").await.unwrap();
        TestApp {
            address,
            client: reqwest::Client::new(),
            ledger,
            tenant_id: tenant.id,
            admin_key: key.token,
            sealing_key,
            faults,
            database_url,
            cleanup: Some(cleanup),
        }
    }

    /// Another server on the same PostgreSQL database, as a second instance of a deployment;
    /// answers its address (`http://…`), or `None` on SQLite, which one server holds alone.
    pub async fn second_instance(&self) -> Option<String> {
        let url = self.database_url.as_ref()?;
        let options = paystate_store_postgres::PostgresOptions::from_url(url).unwrap();
        let store: Arc<dyn Store> = Arc::new(paystate_store_postgres::PostgresStore::open(options).await.unwrap());
        Some(serve_on(Ledger::new(store), self.sealing_key.clone(), test_limits()).await)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn request(&self, method: Method, path: &str, key: &str) -> RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(key)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path, &self.admin_key).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.request(Method::POST, path, &self.admin_key).json(&body).send().await.unwrap()
    }

    pub async fn patch(&self, path: &str, body: Value) -> Response {
        self.request(Method::PATCH, path, &self.admin_key).json(&body).send().await.unwrap()
    }

    /// GETs `path` with `key`; answers the body as JSON.
    pub async fn get_json_as(&self, path: &str, key: &str) -> Value {
        self.request(Method::GET, path, key).send().await.unwrap().json().await.unwrap()
    }

    /// POSTs `body` to `path` with `key`; answers the body of the answer as JSON.
    pub async fn post_json_as(&self, path: &str, key: &str, body: Value) -> Value {
        self.request(Method::POST, path, key).json(&body).send().await.unwrap().json().await.unwrap()
    }

    /// A second tenant with its own admin key.
    pub async fn other_tenant(&self) -> (TenantId, String) {
        let (tenant, key) = self.ledger.create_tenant("Other shop").await.unwrap();
        (tenant.id, key.token)
    }

    pub async fn key(&self, scope: paystate_store::Scope, dialect: Option<paystate_domain::Source>) -> String {
        self.key_of(&self.tenant_id, scope, dialect).await
    }

    /// A key of `tenant` (the test tenant's, or another's from `other_tenant`): answers its token.
    pub async fn key_of(
        &self,
        tenant: &TenantId,
        scope: paystate_store::Scope,
        dialect: Option<paystate_domain::Source>,
    ) -> String {
        let actor = paystate_domain::Actor::cli(tenant.clone(), "test");
        self.ledger.create_key(&actor, scope, dialect, None, None, None).await.unwrap().token
    }

    /// A key of scope write for `dialect`, created and revoked at once: answers its token.
    pub async fn revoked_key(&self, dialect: paystate_domain::Source) -> String {
        let actor = paystate_domain::Actor::cli(self.tenant_id.clone(), "test");
        let scope = paystate_store::Scope::Write;
        let issued = self.ledger.create_key(&actor, scope, Some(dialect), None, None, None).await.unwrap();
        self.ledger.revoke_key(&actor, &issued.id, None).await.unwrap();
        issued.token
    }

    /// Creates an order (EUR) and answers its JSON.
    pub async fn order(&self, reference: &str, total: i64) -> Value {
        let response =
            self.post("/v1/orders", json!({"reference": reference, "currency": "EUR", "total_amount": total})).await;
        assert_eq!(response.status(), 201, "creating order {reference}");
        response.json().await.unwrap()
    }

    /// Creates a payment of an order and answers its JSON.
    pub async fn payment(&self, order_id: &str, amount: i64, external_id: Option<&str>) -> Value {
        let mut body = json!({"order_id": order_id, "amount": amount});
        if let Some(external) = external_id {
            body["external_id"] = external.into();
        }
        let response = self.post("/v1/payments", body).await;
        assert_eq!(response.status(), 201, "creating a payment");
        response.json().await.unwrap()
    }

    /// An order with one payment; answers the payment.
    pub async fn paid_payment(&self, reference: &str, amount: i64) -> Value {
        let order = self.order(reference, amount).await;
        let payment = self.payment(order["id"].as_str().unwrap(), amount, None).await;
        let id = payment["id"].as_str().unwrap();
        let response = self.post(&format!("/v1/payments/{id}/status"), json!({"status": "paid"})).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    pub async fn events(&self, after: i64) -> Vec<Value> {
        let body: Value = self.get(&format!("/v1/events?after={after}&limit=1000")).await.json().await.unwrap();
        body["data"].as_array().unwrap().clone()
    }

    /// The events of orders and payments after `after`: the log without the tenant's set-up.
    /// Creating a key or changing the settings is an event too (`api_key.created`,
    /// `tenant.updated`, asserted in `audit.rs`); tests of what requests did to orders and
    /// payments read this, so that the keys and settings they make first are not counted.
    pub async fn trail(&self, after: i64) -> Vec<Value> {
        self.events(after).await.into_iter().filter(|e| !e["order_id"].is_null()).collect()
    }
}

/// The production limits, but a write stall of 8 s: long enough for the slow-consumer test to read
/// what it stalled on, short enough for the frozen-consumer test to see its connection closed.
pub fn test_limits() -> paystate_http::server::ConnectionLimits {
    paystate_http::server::ConnectionLimits { write_stall: std::time::Duration::from_secs(8), ..Default::default() }
}

/// Starts a server over `ledger` on port 0 and answers its address.
async fn serve_on(
    ledger: Ledger,
    sealing_key: paystate_webhooks::SealingKey,
    limits: paystate_http::server::ConnectionLimits,
) -> String {
    // Webhook receivers of the tests listen on 127.0.0.1; tests start their own dispatchers.
    let webhooks = paystate_http::WebhookSettings {
        sealing_key,
        allow_private_networks: true,
        dispatcher: None,
        retention: chrono::TimeDelta::days(paystate_http::DEFAULT_WEBHOOK_RETENTION_DAYS),
    };
    // A short read-ahead and stall timeout, so that a stalled event stream consumer is dropped
    // within a test's patience; a long poll interval, so that a stream that sees a commit at
    // once can only have been woken by it.
    let stream = paystate_http::native::stream::StreamSettings {
        poll_interval: std::time::Duration::from_secs(10),
        buffer: 8,
        stall_timeout: std::time::Duration::from_secs(2),
        ..Default::default()
    };
    let config = paystate_http::HttpConfig {
        omnicasa_prefix: Some("/api/v3".into()),
        instance_id: "test-instance".into(),
        webhooks,
        stream,
        nats: None,
        limits,
    };
    let state = paystate_http::AppState::new(ledger, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(paystate_http::serve(listener, state, std::future::pending()));
    address
}

/// Asserts a problem+json answer of the given status and `type` suffix; answers the body.
pub async fn assert_problem(response: Response, status: u16, kind: &str) -> Value {
    assert_eq!(response.status(), status, "status");
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], format!("https://paystate.dev/problems/{kind}"), "{body}");
    assert_eq!(body["status"], status);
    body
}

/// What came back on a raw connection.
pub struct RawAnswer {
    /// The status line, e.g. `HTTP/1.1 413 Payload Too Large`.
    pub status: String,
    /// The header lines, lowercased.
    pub headers: Vec<String>,
    pub body: String,
}

/// Announces a 2 MiB body on a connection of its own and sends only its first 64 KiB: the server
/// must answer 413 before reading it all. (A pooled client that insists on writing the whole body
/// may see the connection close instead, so this speaks HTTP/1.1 by hand.)
pub async fn oversized_request(
    app: &TestApp,
    method_and_path: &str,
    headers: &[(&str, &str)],
    body_start: &str,
) -> RawAnswer {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut head = format!("{method_and_path} HTTP/1.1\r\nhost: {address}\r\ncontent-length: {}\r\n", 2 * 1024 * 1024);
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.push_str(body_start);
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&vec![b'x'; 64 * 1024]).await.unwrap();
    let mut reader = tokio::io::BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).await.unwrap();
    let (mut lines, mut length) = (Vec::new(), 0);
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        let line = line.trim_end().to_ascii_lowercase();
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap();
        }
        lines.push(line);
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.unwrap();
    RawAnswer { status: status.trim_end().to_owned(), headers: lines, body: String::from_utf8(body).unwrap() }
}
