//! The storage conformance suite, each scenario on a fresh SQLite file (as the CLI opens it, and
//! as `paystate serve` does, with a payment cache), and the SQLite-specific checks.

use futures::FutureExt;
use paystate_domain::payment::NewPayment;
use paystate_domain::{Payment, PaymentId, Tenant, TenantId};
use paystate_store::{Store, StoreError, StoreExt, conformance};
use paystate_store_sqlite::{Serving, SqliteOptions, SqliteStore};
use serde_json::json;
use std::sync::Arc;

/// A fresh directory for one test's database, and the default options for a file in it.
fn fresh_database(name: &str) -> (std::path::PathBuf, SqliteOptions) {
    let dir = std::env::temp_dir().join(format!("paystate-{name}-{}", paystate_domain::TenantId::generate()));
    std::fs::create_dir_all(&dir).unwrap();
    let options = SqliteOptions::from_url(&format!("sqlite://{}", dir.join("paystate.db").display())).unwrap();
    (dir, options)
}

/// Runs one scenario of the conformance suite on a fresh file opened with `options_for` the
/// file's default options, then removes the file's directory.
async fn on_a_fresh_file_with(
    name: &str,
    options_for: impl FnOnce(SqliteOptions) -> SqliteOptions,
    scenario: conformance::Scenario,
) {
    let (dir, options) = fresh_database(&format!("conformance-{name}"));
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(options_for(options)).await.unwrap());
    scenario(store).await;
    let _ = std::fs::remove_dir_all(dir);
}

/// The suite on a store as the CLI and the workers open it.
async fn on_a_fresh_file(name: &str, scenario: conformance::Scenario) {
    on_a_fresh_file_with(name, |options| options, scenario).await;
}

/// The suite again, as `paystate serve` opens the store: lookups of payments go through a cache
/// of 24 KB, 16 shards of about one payment each, so that even a scenario's few payments are
/// evicted and read back too.
async fn on_a_fresh_file_served_with_a_payment_cache(name: &str, scenario: conformance::Scenario) {
    on_a_fresh_file_with(name, |options| serving(options, 24 * 1024), scenario).await;
}

mod sqlite_passes_the_conformance_suite {
    paystate_store::conformance_tests!(super::on_a_fresh_file);
}

mod sqlite_serving_with_a_payment_cache_passes_the_conformance_suite {
    paystate_store::conformance_tests!(super::on_a_fresh_file_served_with_a_payment_cache);
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

/// The options of the process that serves the API, with `payment_cache_bytes` for payments
/// (one weighs about 1.1 KB, and the cache is split in 16 shards).
fn serving(options: SqliteOptions, payment_cache_bytes: usize) -> SqliteOptions {
    SqliteOptions { serving: Some(Serving { payment_cache_bytes }), ..options }
}

#[tokio::test]
async fn a_second_server_on_one_file_is_refused_and_tools_open_it_beside_the_server() {
    let (dir, options) = fresh_database("server-lock");
    let server = SqliteStore::open(serving(options.clone(), 1 << 20)).await.unwrap();
    let refused = SqliteStore::open(serving(options.clone(), 0)).await;
    assert!(matches!(&refused, Err(StoreError::InUse(message)) if message.contains("another paystate server")));
    let tool = SqliteStore::open(options.clone()).await.expect("the CLI and workers open the file beside a server");
    drop(server);
    let next = SqliteStore::open(serving(options, 1 << 20)).await.expect("the lock goes with the server");
    drop((tool, next));
    let _ = std::fs::remove_dir_all(dir);
}

async fn new_payments(store: &Arc<dyn Store>, count: usize) -> (TenantId, Vec<PaymentId>) {
    let now = chrono::Utc::now();
    let tenant = Tenant {
        id: TenantId::generate(),
        name: "Cache".into(),
        settings: json!({}),
        created_at: now,
        updated_at: now,
    };
    let (order, _) = conformance::new_order(&tenant.id, "CACHE-1");
    let actor = conformance::actor(&tenant.id);
    let payments: Vec<Payment> = (0..count)
        .map(|_| Payment::create(&order, NewPayment { amount: 10, ..Default::default() }, &actor, now).unwrap().0)
        .collect();
    let (id, ids) = (tenant.id.clone(), payments.iter().map(|p| p.id.clone()).collect());
    store
        .write(move |tx| {
            async move {
                tx.insert_tenant(&tenant).await?;
                tx.insert_order(&order).await?;
                for payment in &payments {
                    tx.insert_payment(payment).await?;
                }
                Ok(())
            }
            .boxed()
        })
        .await
        .unwrap();
    (id, ids)
}

async fn looked_up(store: &Arc<dyn Store>, tenant: &TenantId, id: &PaymentId) -> Payment {
    let (tenant, id) = (tenant.clone(), id.clone());
    store.lookup(move |r| async move { r.payment(&tenant, &id).await }.boxed()).await.unwrap().expect("the payment")
}

/// Writers bump payments (each a new version, noted in `note`) while readers look them up from
/// a cache that holds fewer of them than there are. A writer's lookup right after its write sees
/// that version or a later one; no lookup goes back to an older version; a job that failed after
/// writing is never seen; and in the end every lookup agrees with a read of the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_lookups_follow_every_commit_and_no_failed_job() {
    let (dir, options) = fresh_database("payment-cache");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(serving(options, 40 * 1024)).await.unwrap());
    let (tenant, ids) = new_payments(&store, 40).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));

    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (store, tenant, ids, stop) = (store.clone(), tenant.clone(), ids.clone(), stop.clone());
            tokio::spawn(async move {
                let mut seen = std::collections::HashMap::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    for id in &ids {
                        let payment = looked_up(&store, &tenant, id).await;
                        assert_ne!(payment.note.as_deref(), Some("failed"), "a failed job's write was seen");
                        let last = seen.insert(id.clone(), payment.version).unwrap_or(0);
                        assert!(payment.version >= last, "went back from version {last} to {}", payment.version);
                    }
                }
            })
        })
        .collect();

    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let (store, tenant, ids) = (store.clone(), tenant.clone(), ids.clone());
            tokio::spawn(async move {
                for round in 0..60usize {
                    let id = ids[(writer * 7 + round * 3) % ids.len()].clone();
                    let fail = round % 5 == 4;
                    let (t, i) = (tenant.clone(), id.clone());
                    let written = store
                        .write_for(&tenant, move |tx| {
                            async move {
                                let payment = tx.payment(&t, &i).await?.ok_or(StoreError::NotFound)?;
                                let note =
                                    if fail { "failed".to_owned() } else { format!("writer {writer} round {round}") };
                                let next = Payment { version: payment.version + 1, note: Some(note), ..payment };
                                tx.update_payment(&next).await?;
                                if fail {
                                    Err(StoreError::InvalidValue("made to fail".into()))
                                } else {
                                    Ok(next.version)
                                }
                            }
                            .boxed()
                        })
                        .await;
                    match written {
                        Ok(version) => {
                            let seen = looked_up(&store, &tenant, &id).await;
                            assert!(seen.version >= version, "wrote version {version}, then read {}", seen.version);
                        }
                        Err(error) => assert!(fail, "{error}"),
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        reader.await.unwrap();
    }
    for id in &ids {
        let cached = looked_up(&store, &tenant, id).await;
        let (t, i) = (tenant.clone(), id.clone());
        let stored = store.read(move |r| async move { r.payment(&t, &i).await }.boxed()).await.unwrap().unwrap();
        assert_eq!(cached, stored);
    }
    let stats = store.payment_cache().expect("a serving store caches payments");
    assert!(stats.hits > 0 && stats.misses > 0, "{stats:?}");
    let kept = stats.payments as usize;
    assert!(kept > 0 && kept < ids.len(), "the cache held {kept} of the {} payments", ids.len());
    assert!(stats.bytes <= 40 * 1024, "{stats:?}");
    // Another tenant's payment is not found, cached or not.
    let other = TenantId::generate();
    let (o, i) = (other.clone(), ids[0].clone());
    assert!(store.lookup(move |r| async move { r.payment(&o, &i).await }.boxed()).await.unwrap().is_none());
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
}

/// Inserts a tenant named `name` through `store`.
async fn tenant_named(store: &SqliteStore, name: &str) -> TenantId {
    let now = paystate_store::now();
    let tenant =
        Tenant { id: TenantId::generate(), name: name.into(), settings: json!({}), created_at: now, updated_at: now };
    let id = tenant.id.clone();
    store.write(move |tx| async move { tx.insert_tenant(&tenant).await }.boxed()).await.unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_restores_what_was_committed_before_it() {
    let (dir, options) = fresh_database("backup");
    let database = options.path.clone();
    let serving = SqliteOptions { serving: Some(Serving { payment_cache_bytes: 0 }), ..options.clone() };
    let store = SqliteStore::open(serving).await.unwrap();
    let before = tenant_named(&store, "before").await;
    let copy = dir.join("backup.db");
    // Taken while the server holds the file and keeps writing.
    let writer = {
        let store = Arc::new(store);
        let writing = store.clone();
        let task = tokio::spawn(async move {
            for i in 0..50 {
                tenant_named(&writing, &format!("during-{i}")).await;
            }
        });
        let path = (database.clone(), copy.clone());
        tokio::task::spawn_blocking(move || paystate_store_sqlite::backup(&path.0, &path.1)).await.unwrap().unwrap();
        task.await.unwrap();
        store
    };
    let after = tenant_named(&writer, "after").await;
    assert!(
        matches!(paystate_store_sqlite::backup(&database, &copy), Err(StoreError::InvalidValue(_))),
        "no overwrite"
    );
    // Restoring needs the server gone: its lock is held.
    assert!(matches!(paystate_store_sqlite::restore(&database, &copy), Err(StoreError::InUse(_))));
    drop(writer);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    paystate_store_sqlite::restore(&database, &copy).unwrap();
    let restored = SqliteStore::open(options).await.unwrap();
    let (b, a) = (before.clone(), after.clone());
    let (found_before, found_after) =
        restored.read(move |r| async move { Ok((r.tenant(&b).await?, r.tenant(&a).await?)) }.boxed()).await.unwrap();
    assert_eq!(found_before.map(|t| t.name), Some("before".into()));
    assert!(found_after.is_none(), "written after the backup, gone with the restore");
    // Not a paystate database: refused.
    let empty = dir.join("empty.db");
    rusqlite::Connection::open(&empty).unwrap().execute_batch("CREATE TABLE x (y)").unwrap();
    assert!(matches!(paystate_store_sqlite::restore(&dir.join("other.db"), &empty), Err(StoreError::InvalidValue(_))));
    let _ = std::fs::remove_dir_all(dir);
}
