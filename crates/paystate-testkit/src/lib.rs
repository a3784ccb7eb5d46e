//! What the HTTP and console test harnesses share: a fresh store for each scenario (SQLite in a
//! folder of its own, or a PostgreSQL database of its own when `PAYSTATE_TEST_POSTGRES_URL` is
//! set), dropped when the scenario is done, and the macro that runs a scenario on both.

use futures::future::BoxFuture;
use paystate_domain::TenantId;
use paystate_store::{FaultInjection, Store};
use std::future::Future;
use std::sync::Arc;

/// Drops what a scenario's store left behind (the SQLite folder, the PostgreSQL database).
pub type Cleanup = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send + Sync>;

/// A fresh store to serve a scenario over.
pub struct TestStore {
    pub store: Arc<dyn Store>,
    /// Makes the store lose the answers of its next commits, as a crash right after COMMIT would.
    pub faults: FaultInjection,
    /// The PostgreSQL database's URL, for a second instance on it (`None` on SQLite).
    pub database_url: Option<String>,
    pub cleanup: Cleanup,
}

impl TestStore {
    /// A SQLite store in a new folder `{prefix}-{id}` of the temporary folder, opened as
    /// `paystate serve` opens it: the server lock held, payments cached for lookups.
    pub async fn sqlite(prefix: &str) -> TestStore {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", TenantId::generate()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("paystate.db").display());
        let mut options = paystate_store_sqlite::SqliteOptions::from_url(&url).unwrap();
        let faults = options.faults.clone();
        let serving =
            paystate_store_sqlite::Serving::with_payment_cache_mb(paystate_store_sqlite::DEFAULT_PAYMENT_CACHE_MB);
        options.serving = Some(serving);
        let store = Arc::new(paystate_store_sqlite::SqliteStore::open(options).await.unwrap());
        let cleanup = move || -> BoxFuture<'static, ()> {
            Box::pin(async move {
                let _ = std::fs::remove_dir_all(dir);
            })
        };
        TestStore { store, faults, database_url: None, cleanup: Box::new(cleanup) }
    }

    /// A PostgreSQL store over a new database, or `None` without `PAYSTATE_TEST_POSTGRES_URL`.
    pub async fn postgres() -> Option<TestStore> {
        let base = std::env::var("PAYSTATE_TEST_POSTGRES_URL").ok()?;
        let database = paystate_store_postgres::testing::TestDatabase::create(&base).await.unwrap();
        let url = database.url.clone();
        let options = paystate_store_postgres::PostgresOptions::from_url(&url).unwrap();
        let faults = options.faults.clone();
        let store = Arc::new(paystate_store_postgres::PostgresStore::open(options).await.unwrap());
        let cleanup = move || -> BoxFuture<'static, ()> {
            Box::pin(async move {
                let _ = database.drop_database().await;
            })
        };
        Some(TestStore { store, faults, database_url: Some(url), cleanup: Box::new(cleanup) })
    }
}

/// A test harness that owns a store's [`Cleanup`] until its scenario has run.
pub trait Harness: Send + Sized + 'static {
    /// The cleanup, taken out before the scenario gets the harness.
    fn take_cleanup(&mut self) -> Option<Cleanup>;

    /// Runs the scenario, then drops the store whether it passed or not.
    fn run<F, Fut>(mut self, scenario: F) -> impl Future<Output = ()>
    where
        F: FnOnce(Self) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        async move {
            let cleanup = self.take_cleanup();
            let outcome = tokio::spawn(scenario(self)).await;
            if let Some(cleanup) = cleanup {
                cleanup().await;
            }
            if let Err(error) = outcome {
                std::panic::resume_unwind(error.into_panic());
            }
        }
    }
}

/// `scenario!(Harness, name)`: the tests `name::sqlite` and `name::postgres` (skipped without
/// `PAYSTATE_TEST_POSTGRES_URL`), each running `async fn name(app: Harness)` on a harness of its
/// own. The harness has `async fn sqlite() -> Self` and `async fn postgres() -> Option<Self>`.
#[macro_export]
macro_rules! scenario {
    ($harness:ty, $name:ident) => {
        mod $name {
            use $crate::Harness as _;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                <$harness>::sqlite().await.run(super::$name).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match <$harness>::postgres().await {
                    Some(app) => app.run(super::$name).await,
                    None => eprintln!("skipped: PostgreSQL tests need PAYSTATE_TEST_POSTGRES_URL"),
                }
            }
        }
    };
}
