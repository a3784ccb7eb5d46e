//! The storage conformance suite against a fresh SQLite file.

use paystate_store::Store;
use paystate_store_sqlite::{SqliteOptions, SqliteStore};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_passes_the_conformance_suite() {
    let dir = std::env::temp_dir().join(format!("paystate-conformance-{}", paystate_domain::TenantId::generate()));
    std::fs::create_dir_all(&dir).unwrap();
    let options = SqliteOptions::from_url(&format!("sqlite://{}", dir.join("paystate.db").display())).unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(options).await.unwrap());
    paystate_store::conformance::run_all(store).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn url_options_are_read_and_unknown_ones_refused() {
    let options = SqliteOptions::from_url("sqlite://./x.db?synchronous=normal").unwrap();
    assert_eq!(options.path, std::path::PathBuf::from("./x.db"));
    assert_eq!(options.synchronous, paystate_store_sqlite::Synchronous::Normal);
    assert!(SqliteOptions::from_url("sqlite://x.db?journal=off").is_err());
    assert!(SqliteOptions::from_url("sqlite://").is_err());
}
