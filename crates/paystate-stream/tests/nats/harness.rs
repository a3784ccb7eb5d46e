//! What the publisher tests share: a store with tenants and events, a NATS server (the shared
//! one, or one of a test's own that it can stop), and reading the stream back.

use async_nats::jetstream;
use futures::FutureExt;
use paystate_domain::order::NewOrder;
use paystate_domain::{Actor, Currency, Source, TenantId};
use paystate_ledger::Ledger;
use paystate_store::{Store, StoreExt};
use paystate_stream::{Publisher, PublisherConfig, StreamMetrics};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The shared NATS server's URL (`PAYSTATE_TEST_NATS_URL`, by default the local one), when it
/// answers; tests that need it are skipped with a notice otherwise.
pub async fn shared_nats() -> Option<String> {
    let url = std::env::var("PAYSTATE_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    match async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(2)).connect(&url).await {
        Ok(_) => Some(url),
        Err(_) if std::env::var_os("PAYSTATE_TEST_NATS_URL").is_none() => None,
        Err(error) => panic!("PAYSTATE_TEST_NATS_URL is set but {url} does not answer: {error}"),
    }
}

/// Tests on the shared server take turns: they share one stream.
pub static SHARED: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The stream the shared-server tests use, deleted before and after each; named after this
/// process so that nothing else on the shared server (a stream left by an earlier run, another
/// paystate) can take its name or its subjects.
pub fn test_stream() -> String {
    format!("PAYSTATE_TEST_{}", std::process::id())
}

/// The subject prefix of the test publishers (one subject may belong to one stream only).
pub fn test_prefix() -> String {
    format!("paystate_test_{}", std::process::id())
}

pub async fn delete_stream(url: &str, name: &str) {
    let client = async_nats::connect(url).await.unwrap();
    let _ = jetstream::new(client).delete_stream(name).await;
}

/// A `nats-server -js` of a test's own, on a free port with its own storage directory, which the
/// test may stop and start again.
pub struct OwnNats {
    pub port: u16,
    dir: std::path::PathBuf,
    child: Option<std::process::Child>,
}

impl OwnNats {
    /// `None` (the test is skipped with a notice) when no `nats-server` binary is installed.
    pub async fn start() -> Option<OwnNats> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("paystate-nats-{}", TenantId::generate()));
        let mut server = OwnNats { port, dir, child: None };
        server.resume().await.then_some(server)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port and storage; false when there is no binary.
    pub async fn resume(&mut self) -> bool {
        let binary = ["nats-server", "/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .find(|b| std::process::Command::new(b).arg("--version").output().is_ok());
        let Some(binary) = binary else { return false };
        let child = std::process::Command::new(binary)
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string(), "-sd"])
            .arg(&self.dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while async_nats::connect(self.url()).await.is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }

    /// Kills the server (SIGKILL): what it had not written is lost.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh database: SQLite, or PostgreSQL when `PAYSTATE_TEST_POSTGRES_URL` is set.
pub struct TestStore {
    pub store: Arc<dyn Store>,
    postgres: Option<paystate_store_postgres::testing::TestDatabase>,
    dir: Option<std::path::PathBuf>,
}

impl TestStore {
    pub async fn new() -> TestStore {
        if let Ok(base) = std::env::var("PAYSTATE_TEST_POSTGRES_URL") {
            let database = paystate_store_postgres::testing::TestDatabase::create(&base).await.unwrap();
            let options = paystate_store_postgres::PostgresOptions::from_url(&database.url).unwrap();
            let store = Arc::new(paystate_store_postgres::PostgresStore::open(options).await.unwrap());
            return TestStore { store, postgres: Some(database), dir: None };
        }
        let dir = std::env::temp_dir().join(format!("paystate-stream-{}", TenantId::generate()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("paystate.db").display());
        let options = paystate_store_sqlite::SqliteOptions::from_url(&url).unwrap();
        let store = Arc::new(paystate_store_sqlite::SqliteStore::open(options).await.unwrap());
        TestStore { store, postgres: None, dir: Some(dir) }
    }

    /// Drops the database (call once the publishers stopped).
    pub async fn finish(self) {
        if let Some(database) = self.postgres {
            let _ = database.drop_database().await;
        }
        if let Some(dir) = self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub fn actor(tenant: &TenantId) -> Actor {
    Actor {
        tenant_id: tenant.clone(),
        key_id: None,
        source: Source::Cli,
        request_id: "nats-test".into(),
        request_body: None,
        user_id: None,
    }
}

/// Writes `count` orders (one event each) for `tenant`, `writers` at a time.
pub async fn write_orders(ledger: &Ledger, tenant: &TenantId, prefix: &str, count: usize) {
    let writes = (0..count).map(|i| {
        let (ledger, actor) = (ledger.clone(), actor(tenant));
        let new = NewOrder {
            reference: format!("{prefix}-{i}"),
            currency: Currency::parse("EUR").unwrap(),
            total_amount: 100,
            customer: serde_json::Value::Null,
            attributes: serde_json::Value::Null,
        };
        async move { ledger.create_order(&actor, new, None).await.unwrap() }
    });
    futures::future::join_all(writes).await;
}

/// A publisher with test timings: short lease, poll and backoff.
pub fn publisher(store: &Arc<dyn Store>, url: &str, stream: &str, metrics: &StreamMetrics) -> Publisher {
    let mut config = PublisherConfig::new(url, stream);
    config.subject_prefix = test_prefix();
    config.lease = Duration::from_secs(2);
    config.poll_interval = Duration::from_millis(100);
    config.timeout = Duration::from_secs(2);
    config.min_backoff = Duration::from_millis(100);
    config.max_backoff = Duration::from_millis(500);
    config.page = 50;
    config.stats_interval = Duration::from_millis(200);
    Publisher::new(store.clone(), config, metrics.clone(), None)
}

/// Waits until the sink owes nothing and every tenant's events are in the stream.
pub async fn wait_published(store: &Arc<dyn Store>, sink: &str, patience: Duration) {
    let deadline = Instant::now() + patience;
    loop {
        let sink = sink.to_owned();
        let backlog = store.read(move |r| async move { r.stream_backlog(&sink).await }.boxed()).await.unwrap();
        if backlog.pending == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "still {} events to publish", backlog.pending);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One message as stored in the stream.
#[derive(Debug, Clone)]
pub struct Stored {
    pub subject: String,
    pub msg_id: String,
    pub seq: i64,
    pub event: serde_json::Value,
}

/// Every message of the stream, in stream order, grouped by tenant.
pub async fn read_stream(url: &str, name: &str) -> HashMap<String, Vec<Stored>> {
    let context = jetstream::new(async_nats::connect(url).await.unwrap());
    let mut stream = context.get_stream(name).await.unwrap();
    let state = stream.info().await.unwrap().state.clone();
    let mut by_tenant: HashMap<String, Vec<Stored>> = HashMap::new();
    for sequence in state.first_sequence..=state.last_sequence {
        let message = stream.get_raw_message(sequence).await.unwrap();
        let header = |name: &str| message.headers.get(name).unwrap().as_str().to_owned();
        let event: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        let tenant = message.subject.split('.').nth(1).unwrap().to_owned();
        let stored = Stored {
            subject: message.subject.to_string(),
            msg_id: header("Nats-Msg-Id"),
            seq: header("Paystate-Seq").parse().unwrap(),
            event,
        };
        by_tenant.entry(tenant).or_default().push(stored);
    }
    by_tenant
}

/// Asserts that the stream holds each of the tenant's events exactly once, in `seq` order, as
/// the store has them.
pub async fn assert_complete(store: &Arc<dyn Store>, tenant: &TenantId, stored: &[Stored], count: usize) {
    let t = tenant.clone();
    let filter = paystate_store::EventFilter { after_seq: 0, payment_id: None, limit: 100_000 };
    let events = store.read(move |r| async move { r.events(&t, &filter).await }.boxed()).await.unwrap();
    assert_eq!(events.len(), count);
    let seqs: Vec<i64> = stored.iter().map(|s| s.seq).collect();
    let expected: Vec<i64> = (1..=count as i64).collect();
    assert_eq!(seqs, expected, "each event once, in seq order");
    for (message, event) in stored.iter().zip(&events) {
        assert_eq!(message.msg_id, event.id.as_str());
        assert_eq!(message.subject, format!("{}.{}.{}", test_prefix(), tenant.as_str(), event.kind.as_str()));
        assert_eq!(message.event, serde_json::to_value(event).unwrap(), "the event as the API lists it");
    }
}
