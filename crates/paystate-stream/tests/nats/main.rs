//! The publisher against a real NATS server with JetStream: every event once and in order per
//! tenant, with two publishers sharing a database; a publisher killed mid-publish; NATS down
//! during a load; an incompatible stream refused.

mod harness;

use harness::*;
use paystate_ledger::Ledger;
use paystate_stream::{StreamMetrics, nats::NatsError};
use std::time::Duration;

/// Runs a publisher until the answered sender is used or dropped.
fn spawn(publisher: paystate_stream::Publisher) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(publisher.run(async move {
        let _ = stopped.await;
    }));
    (stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_once_and_in_order_per_tenant() {
    let Some(url) = shared_nats().await else {
        eprintln!("skipped: no NATS server answers (set PAYSTATE_TEST_NATS_URL)");
        return;
    };
    let _turn = SHARED.lock().await;
    delete_stream(&url, &test_stream()).await;
    let db = TestStore::new().await;
    let ledger = Ledger::new(db.store.clone());
    // Two publishers on one database, as two instances: the lease keeps each tenant with one.
    let (first, second) = (StreamMetrics::default(), StreamMetrics::default());
    let (stop_first, first_task) = spawn(publisher(&db.store, &url, &test_stream(), &first));
    let (stop_second, second_task) = spawn(publisher(&db.store, &url, &test_stream(), &second));
    let mut tenants = Vec::new();
    for name in ["A", "B", "C"] {
        tenants.push(ledger.create_tenant(name).await.unwrap().0.id);
    }
    let writes = tenants.iter().map(|tenant| write_orders(&ledger, tenant, "O", 150));
    futures::future::join_all(writes).await;
    wait_published(&db.store, &format!("nats:{}", test_stream()), Duration::from_secs(60)).await;
    let stored = read_stream(&url, &test_stream()).await;
    for tenant in &tenants {
        assert_complete(&db.store, tenant, &stored[tenant.as_str()], 150).await;
    }
    assert_eq!(stored.len(), 3);
    assert!(first.published_total() + second.published_total() >= 450);

    // The stream was created with durable defaults.
    let context = async_nats::jetstream::new(async_nats::connect(&url).await.unwrap());
    let config = context.get_stream(test_stream()).await.unwrap().cached_info().config.clone();
    assert_eq!(config.storage, async_nats::jetstream::stream::StorageType::File);
    assert_eq!(config.subjects, [format!("{}.>", test_prefix())]);
    assert!(config.duplicate_window >= Duration::from_secs(120));

    let _ = (stop_first.send(()), stop_second.send(()));
    let _ = (first_task.await, second_task.await);
    delete_stream(&url, &test_stream()).await;
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_killed_mid_publish_loses_nothing_and_its_copies_are_dropped() {
    let Some(url) = shared_nats().await else {
        eprintln!("skipped: no NATS server answers (set PAYSTATE_TEST_NATS_URL)");
        return;
    };
    let _turn = SHARED.lock().await;
    delete_stream(&url, &test_stream()).await;
    let db = TestStore::new().await;
    let ledger = Ledger::new(db.store.clone());
    let tenant = ledger.create_tenant("Killed").await.unwrap().0.id;
    write_orders(&ledger, &tenant, "K", 400).await;

    let killed = StreamMetrics::default();
    let (_stop, task) = spawn(publisher(&db.store, &url, &test_stream(), &killed));
    while killed.published_total() < 75 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Like kill -9: no release of its lease, its cursor wherever the last page left it.
    task.abort();
    let _ = task.await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = stored_count(&url).await;
    assert!(before < 400, "killed mid-publish ({before} stored)");

    let next = StreamMetrics::default();
    let (stop, task) = spawn(publisher(&db.store, &url, &test_stream(), &next));
    wait_published(&db.store, &format!("nats:{}", test_stream()), Duration::from_secs(60)).await;
    let stored = read_stream(&url, &test_stream()).await;
    assert_complete(&db.store, &tenant, &stored[tenant.as_str()], 400).await;
    // What the killed publisher had published after its last cursor move was sent again, and
    // dropped by JetStream (assert_complete saw each event once).
    assert_eq!(before + next.published_total() - next.duplicates_total(), 400, "only the copies were dropped");
    eprintln!(
        "killed with {before} events stored; the next publisher sent {}, {} of them dropped as duplicates",
        next.published_total(),
        next.duplicates_total()
    );
    let _ = stop.send(());
    let _ = task.await;
    delete_stream(&url, &test_stream()).await;
    db.finish().await;
}

/// How many messages the test stream holds.
async fn stored_count(url: &str) -> u64 {
    let context = async_nats::jetstream::new(async_nats::connect(url).await.unwrap());
    let mut stream = context.get_stream(test_stream()).await.unwrap();
    stream.info().await.unwrap().state.messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_down_during_a_load_loses_nothing() {
    let Some(mut nats) = OwnNats::start().await else {
        eprintln!("skipped: no nats-server binary (apt-get install nats-server)");
        return;
    };
    let db = TestStore::new().await;
    let ledger = Ledger::new(db.store.clone());
    let tenant = ledger.create_tenant("Outage").await.unwrap().0.id;
    let metrics = StreamMetrics::default();
    let (stop, task) = spawn(publisher(&db.store, &nats.url(), "PAYSTATE", &metrics));
    write_orders(&ledger, &tenant, "BEFORE", 100).await;
    while metrics.published_total() < 20 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    nats.stop();
    // Writes go on while NATS is down; publishing fails and backs off.
    write_orders(&ledger, &tenant, "DURING", 200).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while metrics.failures_total() == 0 {
        assert!(std::time::Instant::now() < deadline, "publishing failed while NATS was down");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(metrics.published_total() < 300);
    assert!(nats.resume().await);
    write_orders(&ledger, &tenant, "AFTER", 50).await;
    wait_published(&db.store, "nats:PAYSTATE", Duration::from_secs(60)).await;
    let stored = read_stream(&nats.url(), "PAYSTATE").await;
    assert_complete(&db.store, &tenant, &stored[tenant.as_str()], 350).await;
    let _ = stop.send(());
    let _ = task.await;
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incompatible_stream_is_refused_with_a_clear_error() {
    let Some(nats) = OwnNats::start().await else {
        eprintln!("skipped: no nats-server binary (apt-get install nats-server)");
        return;
    };
    let context = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let memory = async_nats::jetstream::stream::Config {
        storage: async_nats::jetstream::stream::StorageType::Memory,
        ..paystate_stream::nats::default_config("VOLATILE", &test_prefix())
    };
    context.create_stream(memory).await.unwrap();
    let db = TestStore::new().await;
    let metrics = StreamMetrics::default();
    let refused = publisher(&db.store, &nats.url(), "VOLATILE", &metrics).check().await;
    match refused {
        Err(NatsError::Incompatible { stream, reason }) => {
            assert_eq!(stream, "VOLATILE");
            assert!(reason.contains("memory"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // A missing stream is created; an unreachable server is not an error (the publisher waits).
    context.delete_stream("VOLATILE").await.unwrap();
    assert!(publisher(&db.store, &nats.url(), "FRESH", &metrics).check().await.unwrap());
    let created = context.get_stream("FRESH").await.unwrap().cached_info().config.clone();
    assert_eq!(created.storage, async_nats::jetstream::stream::StorageType::File);
    // A second stream cannot take the same subjects: the refusal says what to change.
    match publisher(&db.store, &nats.url(), "SECOND", &metrics).check().await {
        Err(NatsError::Incompatible { reason, .. }) => {
            assert!(reason.contains("another stream already takes"), "{reason}");
            assert!(reason.contains("--nats-subject-prefix"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let mut wildcard = paystate_stream::PublisherConfig::new(nats.url(), "FRESH");
    wildcard.subject_prefix = "paystate.*".into();
    let wildcard = paystate_stream::Publisher::new(db.store.clone(), wildcard, metrics.clone(), None);
    assert!(matches!(wildcard.check().await, Err(NatsError::InvalidPrefix(_))));
    assert!(!publisher(&db.store, "nats://127.0.0.1:1", "PAYSTATE", &metrics).check().await.unwrap());
    db.finish().await;
}
