//! The storage conformance suite against a fresh SQLite file.

use futures::FutureExt;
use paystate_store::{Store, StoreExt};
use paystate_store_sqlite::{SqliteOptions, SqliteStore};
use std::sync::Arc;

/// A fresh directory for one test's database, and the default options for a file in it.
fn fresh_database(name: &str) -> (std::path::PathBuf, SqliteOptions) {
    let dir = std::env::temp_dir().join(format!("paystate-{name}-{}", paystate_domain::TenantId::generate()));
    std::fs::create_dir_all(&dir).unwrap();
    let options = SqliteOptions::from_url(&format!("sqlite://{}", dir.join("paystate.db").display())).unwrap();
    (dir, options)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_passes_the_conformance_suite() {
    let (dir, options) = fresh_database("conformance");
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

/// Under writes that never pause, a checkpoint alone never catches up with the writer and the WAL
/// would grow for as long as the load lasts; the writer catches up between two batches once the
/// WAL is long, and the WAL starts over, cut back to its limit, with every write kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_starts_over_under_writes_that_never_pause() {
    let (dir, mut options) = fresh_database("wal");
    options.wal_restart_frames = 64;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(options).await.unwrap());
    // Each tenant carries about two pages of settings: 4,800 of them are some 10,000 WAL frames
    // (40 MB), where the WAL may hold 64 before it starts over.
    let writers = (0..16).map(|writer| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut written = Vec::new();
            for n in 0..300 {
                let now = chrono::Utc::now();
                let tenant = paystate_domain::Tenant {
                    id: paystate_domain::TenantId::generate(),
                    name: format!("Writer {writer} tenant {n}"),
                    settings: serde_json::json!({ "padding": "x".repeat(6000) }),
                    created_at: now,
                    updated_at: now,
                };
                written.push(tenant.id.clone());
                store.write(move |tx| async move { tx.insert_tenant(&tenant).await }.boxed()).await.unwrap();
            }
            written
        })
    });
    let mut written = Vec::new();
    for writer in writers {
        written.extend(writer.await.unwrap());
    }
    let wal = std::fs::metadata(dir.join("paystate.db-wal")).unwrap().len();
    assert!(wal < 4 * 1024 * 1024, "the WAL grew to {wal} bytes");
    for id in written {
        let found = store.read(move |r| async move { r.tenant(&id).await }.boxed()).await.unwrap();
        assert!(found.is_some(), "a tenant written is missing");
    }
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
}
