//! The storage conformance suite (each scenario a test, with group commit and without) and the
//! PostgreSQL-specific checks (NUL bytes, schema version, row locks, error mapping, secrets in
//! errors), each on a fresh database of the server named by PAYSTATE_TEST_POSTGRES_URL. Without
//! that variable the database tests say so and pass.

use futures::FutureExt;
use futures::future::BoxFuture;
use paystate_domain::payment::NewPayment;
use paystate_domain::{Actor, Order, Payment, Source, Tenant, TenantId};
use paystate_store::{
    EventFilter, OrderFilter, PageRequest, PaymentFilter, StatementLog, Store, StoreError, StoreExt, conformance, now,
};
use paystate_store_postgres::testing::{TestDatabase, test_server_url};
use paystate_store_postgres::{PostgresOptions, PostgresStore, SCHEMA_VERSION, map_error};
use sqlx::{Connection, PgConnection};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

/// Runs `test` against a fresh database, then drops it, even when the test fails.
async fn on_fresh_database(name: &str, test: impl FnOnce(String) -> BoxFuture<'static, ()> + Send) {
    let Some(server) = test_server_url(name) else {
        return;
    };
    let database = TestDatabase::create(&server).await.expect("create a test database");
    let outcome = AssertUnwindSafe(test(database.url.clone())).catch_unwind().await;
    database.drop_database().await.expect("drop the test database");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn open(url: &str) -> Arc<PostgresStore> {
    open_with(PostgresOptions::from_url(url).unwrap()).await
}

async fn open_with(options: PostgresOptions) -> Arc<PostgresStore> {
    Arc::new(PostgresStore::open(options).await.expect("open the store"))
}

fn actor(tenant: &TenantId) -> Actor {
    Actor {
        tenant_id: tenant.clone(),
        key_id: None,
        user_id: None,
        source: Source::Cli,
        request_id: "test".into(),
        request_body: None,
    }
}

async fn tenant_with_order(store: &Arc<PostgresStore>, reference: &str) -> (TenantId, Order) {
    let at = now();
    let tenant = Tenant {
        id: TenantId::generate(),
        name: "T".into(),
        settings: serde_json::json!({}),
        created_at: at,
        updated_at: at,
    };
    let id = tenant.id.clone();
    let (order, event) = conformance::new_order(&id, reference);
    let (written, a) = (order.clone(), actor(&id));
    store
        .write(move |tx| {
            async move {
                tx.insert_tenant(&tenant).await?;
                tx.insert_order(&written).await?;
                tx.record(&a, event);
                Ok(())
            }
            .boxed()
        })
        .await
        .unwrap();
    (id, order)
}

fn new_payment(order: &Order) -> Payment {
    let new = NewPayment { amount: 500, ..Default::default() };
    Payment::create(order, new, &actor(&order.tenant_id), now()).unwrap().0
}

/// Runs one scenario of the conformance suite on a store opened with `options_for` the default
/// options of a fresh database, then closes the store and drops the database.
async fn on_a_fresh_database_with(
    name: &str,
    options_for: fn(PostgresOptions) -> PostgresOptions,
    scenario: conformance::Scenario,
) {
    on_fresh_database(name, move |url| {
        async move {
            let store = open_with(options_for(PostgresOptions::from_url(&url).unwrap())).await;
            assert_eq!(store.backend(), "postgres");
            scenario(store.clone()).await;
            store.close().await;
        }
        .boxed()
    })
    .await;
}

/// The suite with each tenant's writes batched (group commit), the default.
async fn on_a_fresh_database(name: &str, scenario: conformance::Scenario) {
    on_a_fresh_database_with(name, |options| options, scenario).await;
}

/// The same suite with every write in a transaction of its own, as `--db-max-batch 1` sets it.
async fn on_a_fresh_database_without_group_commit(name: &str, scenario: conformance::Scenario) {
    on_a_fresh_database_with(name, |options| PostgresOptions { max_batch: 1, ..options }, scenario).await;
}

mod postgres_passes_the_conformance_suite {
    paystate_store::conformance_tests!(super::on_a_fresh_database);
}

mod postgres_passes_the_conformance_suite_without_group_commit {
    paystate_store::conformance_tests!(super::on_a_fresh_database_without_group_commit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_bytes_are_invalid_values_not_backend_failures() {
    on_fresh_database("nul_bytes_are_invalid_values_not_backend_failures", |url| {
        async move {
            let store = open(&url).await;
            let (tenant, order) = tenant_with_order(&store, "N-1").await;

            // The domain refuses these; the store must refuse them too when a caller bypasses it.
            let mut bad_order =
                Order { id: paystate_domain::OrderId::generate(), reference: "N\0-2".into(), ..order.clone() };
            let written = bad_order.clone();
            let result = store.write(move |tx| async move { tx.insert_order(&written).await }.boxed()).await;
            assert!(matches!(result, Err(StoreError::InvalidValue(_))), "{result:?}");

            bad_order.reference = "N-2".into();
            bad_order.customer = serde_json::json!({"name": "A\0da"});
            let written = bad_order.clone();
            let result = store.write(move |tx| async move { tx.insert_order(&written).await }.boxed()).await;
            assert!(matches!(result, Err(StoreError::InvalidValue(_))), "{result:?}");

            let mut payment = new_payment(&order);
            payment.note = Some("x\0y".into());
            let written = payment.clone();
            let result = store.write(move |tx| async move { tx.insert_payment(&written).await }.boxed()).await;
            assert!(matches!(result, Err(StoreError::InvalidValue(_))), "{result:?}");

            // A refused value inside a job that goes on leaves the job's other writes intact:
            // the check runs before PostgreSQL sees the value, so its transaction is not aborted.
            payment.note = None;
            let (good, mut bad) = (payment.clone(), new_payment(&order));
            bad.external_id = Some("e\0".into());
            store
                .write(move |tx| {
                    async move {
                        tx.insert_payment(&good).await?;
                        assert!(matches!(tx.insert_payment(&bad).await, Err(StoreError::InvalidValue(_))));
                        Ok(())
                    }
                    .boxed()
                })
                .await
                .unwrap();

            // A lookup by a value with a NUL byte finds nothing, as no stored row can hold one.
            let t = tenant.clone();
            let found = store
                .write(move |tx| {
                    async move {
                        Ok((
                            tx.order_by_reference(&t, "N\0-1").await?,
                            tx.payment_by_external_id(&t, "\0").await?,
                            tx.orders(
                                &t,
                                &OrderFilter { reference: Some("\0".into()), ..Default::default() },
                                &PageRequest { after: None, limit: 5 },
                            )
                            .await?,
                            tx.order_by_reference(&t, "N-1").await?.is_some(),
                        ))
                    }
                    .boxed()
                })
                .await
                .unwrap();
            assert_eq!(found, (None, None, vec![], true));
            store.close().await;
        }
        .boxed()
    })
    .await;
}

#[tokio::test]
async fn a_schema_newer_than_the_build_is_refused() {
    on_fresh_database("a_schema_newer_than_the_build_is_refused", |url| {
        async move {
            let options = PostgresOptions::from_url(&url).unwrap();
            assert_eq!(PostgresStore::migrate_only(options.clone()).await.unwrap(), SCHEMA_VERSION);
            // Opening an up-to-date database applies nothing and succeeds.
            PostgresStore::open(options.clone()).await.unwrap().close().await;

            let mut conn = PgConnection::connect(&url).await.unwrap();
            sqlx::query("UPDATE paystate_schema SET version = version + 1").execute(&mut conn).await.unwrap();
            conn.close().await.unwrap();

            let refused = PostgresStore::open(options.clone()).await;
            assert!(
                matches!(refused, Err(StoreError::SchemaTooNew { found, known }) if found == SCHEMA_VERSION + 1 && known == SCHEMA_VERSION),
                "{:?}",
                refused.err()
            );
            let refused = PostgresStore::migrate_only(options).await;
            assert!(matches!(refused, Err(StoreError::SchemaTooNew { .. })), "{refused:?}");
        }
        .boxed()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrators_take_turns() {
    on_fresh_database("concurrent_migrators_take_turns", |url| {
        async move {
            let options = PostgresOptions::from_url(&url).unwrap();
            let runs: Vec<_> = (0..6).map(|_| tokio::spawn(PostgresStore::migrate_only(options.clone()))).collect();
            for run in runs {
                assert_eq!(run.await.unwrap().unwrap(), SCHEMA_VERSION);
            }
        }
        .boxed()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_of_one_payment_take_turns() {
    on_fresh_database("concurrent_updates_of_one_payment_take_turns", |url| {
        async move {
            // Two stores stand for two instances sharing the database.
            let stores = [open(&url).await, open(&url).await];
            let (tenant, order) = tenant_with_order(&stores[0], "L-1").await;
            let payment = new_payment(&order);
            let written = payment.clone();
            stores[0].write(move |tx| async move { tx.insert_payment(&written).await }.boxed()).await.unwrap();

            // Each job reads, waits a little (so the jobs overlap) and writes version + 1. Without
            // the row lock two jobs would read one version and one would get VersionConflict.
            let mut tasks = Vec::new();
            for i in 0..16 {
                let (store, tenant, id) = (stores[i % 2].clone(), tenant.clone(), payment.id.clone());
                tasks.push(tokio::spawn(async move {
                    store
                        .write(move |tx| {
                            async move {
                                let mut current = tx.payment(&tenant, &id).await?.expect("the payment");
                                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                                let count = current.attrs.get("n").and_then(serde_json::Value::as_i64).unwrap_or(0);
                                current.attrs = serde_json::json!({"n": count + 1});
                                current.version += 1;
                                tx.update_payment(&current).await
                            }
                            .boxed()
                        })
                        .await
                }));
            }
            for task in tasks {
                task.await.unwrap().expect("every update wins its turn");
            }
            let (t, id) = (tenant.clone(), payment.id.clone());
            let last = stores[0].read(move |r| async move { r.payment(&t, &id).await }.boxed()).await.unwrap().unwrap();
            assert_eq!(last.version, payment.version + 16);
            assert_eq!(last.attrs, serde_json::json!({"n": 16}));
            for store in stores {
                store.close().await;
            }
        }
        .boxed()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_goes_on_after_a_failed_statement_is_not_reported_committed() {
    on_fresh_database("a_job_that_goes_on_after_a_failed_statement_is_not_reported_committed", |url| {
        async move {
            let store = open(&url).await;
            let (tenant, order) = tenant_with_order(&store, "A-1").await;
            let duplicate = Order { id: paystate_domain::OrderId::generate(), ..order.clone() };
            let other = Order { id: paystate_domain::OrderId::generate(), reference: "A-2".into(), ..order.clone() };
            let result = store
                .write(move |tx| {
                    async move {
                        // The job swallows the duplicate and writes on; PostgreSQL has aborted the
                        // transaction, so the store must answer an error, not Ok.
                        assert!(matches!(tx.insert_order(&duplicate).await, Err(StoreError::Duplicate("reference"))));
                        let _ = tx.insert_order(&other).await;
                        Ok(())
                    }
                    .boxed()
                })
                .await;
            assert!(matches!(result, Err(StoreError::Backend(_))), "{result:?}");
            let t = tenant.clone();
            let missing =
                store.read(move |r| async move { r.order_by_reference(&t, "A-2").await }.boxed()).await.unwrap();
            assert_eq!(missing, None);
            store.close().await;
        }
        .boxed()
    })
    .await;
}

/// Two instances batching writes of one tenant: each batch locks two payments in the opposite
/// order of the other's. Without a common first lock the batches deadlock and PostgreSQL fails a
/// job; each batch first takes its tenant's event counter, so they take turns and all commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_of_two_instances_take_turns_instead_of_deadlocking() {
    two_instances_write_two_payments_in_opposite_orders("batches_of_two_instances_take_turns", 64).await;
}

/// The same with the second instance not batching (`--db-max-batch 1`, or an instance midway
/// through a configuration change): its jobs take the tenant's counter first as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batching_and_a_non_batching_instance_take_turns_instead_of_deadlocking() {
    two_instances_write_two_payments_in_opposite_orders("a_batching_and_a_non_batching_instance", 1).await;
}

async fn two_instances_write_two_payments_in_opposite_orders(name: &str, second_max_batch: usize) {
    on_fresh_database(name, |url| {
        async move {
            let options = PostgresOptions { max_batch: 64, ..PostgresOptions::from_url(&url).unwrap() };
            let second = PostgresOptions { max_batch: second_max_batch, ..options.clone() };
            let stores = [open_with(options).await, open_with(second).await];
            let (tenant, order) = tenant_with_order(&stores[0], "B-1").await;
            let mut payments = Vec::new();
            for _ in 0..2 {
                let new = NewPayment { amount: 100, ..Default::default() };
                let (payment, event) = Payment::create(&order, new, &actor(&tenant), now()).unwrap();
                let (written, a) = (payment.clone(), actor(&tenant));
                stores[0]
                    .write(move |tx| {
                        async move {
                            tx.insert_payment(&written).await?;
                            tx.record(&a, event);
                            Ok(())
                        }
                        .boxed()
                    })
                    .await
                    .unwrap();
                payments.push(payment);
            }

            // Each store's lane is held by a job waiting for `go` while two more queue behind it
            // (so they share the next batch): store 0 locks payment 0 then 1, store 1 the reverse.
            // (The holders are not awaited: the second one waits for the first's counter lock.)
            let (go, _) = tokio::sync::broadcast::channel::<()>(1);
            let mut holders = Vec::new();
            let mut jobs = Vec::new();
            for (index, store) in stores.iter().enumerate() {
                let mut wait = go.subscribe();
                let (s, t) = (store.clone(), tenant.clone());
                holders.push(tokio::spawn(async move {
                    s.write_for(&t, move |_tx| {
                        async move {
                            let _ = wait.recv().await;
                            Ok(())
                        }
                        .boxed()
                    })
                    .await
                }));
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                let sequence = if index == 0 { [0, 1] } else { [1, 0] };
                for which in sequence {
                    let (s, t, p, a) = (store.clone(), tenant.clone(), payments[which].clone(), actor(&tenant));
                    let o = order.clone();
                    jobs.push(tokio::spawn(async move {
                        s.write_for(&t.clone(), move |tx| {
                            async move {
                                let mut current = tx.payment(&t, &p.id).await?.expect("the payment");
                                // Both batches hold their first payment before either asks for its second.
                                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                                current.version += 1;
                                tx.update_payment(&current).await?;
                                let new = NewPayment { amount: 1, ..Default::default() };
                                let (_, event) = Payment::create(&o, new, &a, now()).unwrap();
                                tx.record(&a, event);
                                Ok(())
                            }
                            .boxed()
                        })
                        .await
                    }));
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
            let _ = go.send(());
            for holder in holders {
                holder.await.unwrap().unwrap();
            }
            for job in jobs {
                job.await.unwrap().expect("no job fails as a deadlock victim");
            }
            for store in stores {
                store.close().await;
            }
        }
        .boxed()
    })
    .await;
}

/// Ends every session of the test database but the caller's, as a server restart would.
async fn end_other_sessions(url: &str) {
    let mut admin = PgConnection::connect(url).await.unwrap();
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .execute(&mut admin)
    .await
    .unwrap();
    admin.close().await.unwrap();
}

/// A pooled connection the server ended (a restart, a failover) is found out and replaced: a
/// job that starts with BEGIN moves to a new connection before anything of it has run; a lookup
/// (no BEGIN) fails once with Busy, a retryable 503, and the next one gets a new connection.
#[tokio::test]
async fn a_connection_the_server_ended_is_replaced() {
    on_fresh_database("a_connection_the_server_ended_is_replaced", |url| {
        async move {
            let options = PostgresOptions { max_connections: 1, ..PostgresOptions::from_url(&url).unwrap() };
            let store = open_with(options).await;
            let (tenant, order) = tenant_with_order(&store, "E-1").await;
            let find = |store: &Arc<PostgresStore>, lock: bool| {
                let (store, t, id) = (store.clone(), tenant.clone(), order.id.clone());
                async move {
                    if lock {
                        store.write(move |tx| async move { tx.order(&t, &id).await }.boxed()).await
                    } else {
                        store.lookup(move |r| async move { r.order(&t, &id).await }.boxed()).await
                    }
                }
            };

            end_other_sessions(&url).await;
            assert_eq!(
                find(&store, true).await.expect("a write on a new connection").map(|o| o.id),
                Some(order.id.clone())
            );

            end_other_sessions(&url).await;
            let first = find(&store, false).await;
            assert!(matches!(first, Err(StoreError::Busy)), "{first:?}");
            assert_eq!(find(&store, false).await.unwrap().map(|o| o.id), Some(order.id.clone()));
            store.close().await;
        }
        .boxed()
    })
    .await;
}

/// A job whose future is dropped half way (its caller went away) must not leave its connection
/// in the pool with a transaction open: it would hold its row locks, and the next job on that
/// connection would write into it. The pool rolls it back before lending it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_dropped_half_way_leaves_no_transaction_behind() {
    on_fresh_database("a_job_dropped_half_way_leaves_no_transaction_behind", |url| {
        async move {
            let options = PostgresOptions { max_connections: 1, ..PostgresOptions::from_url(&url).unwrap() };
            let store = open_with(options).await;
            let (tenant, order) = tenant_with_order(&store, "D-1").await;
            let (locked, is_locked) = tokio::sync::oneshot::channel::<()>();
            let (s, t, id) = (store.clone(), tenant.clone(), order.id.clone());
            let abandoned = tokio::spawn(async move {
                s.write(move |tx| {
                    async move {
                        tx.order(&t, &id).await?;
                        let _ = locked.send(());
                        futures::future::pending::<()>().await;
                        Ok(())
                    }
                    .boxed()
                })
                .await
            });
            is_locked.await.unwrap();
            abandoned.abort();
            assert!(abandoned.await.unwrap_err().is_cancelled());

            // The only connection's place is free again, and the order's row lock is gone: another
            // instance, which gives up on a lock after 2 s, gets it.
            let mut other = PostgresOptions::from_url(&url).unwrap();
            other.statement_timeout = std::time::Duration::from_secs(2);
            let other = open_with(other).await;
            let (t, id) = (tenant.clone(), order.id.clone());
            other.write(move |tx| async move { tx.order(&t, &id).await }.boxed()).await.expect("the lock was released");
            let (t, id) = (tenant.clone(), order.id.clone());
            let again = store.write(move |tx| async move { tx.order(&t, &id).await }.boxed()).await;
            assert_eq!(again.unwrap().map(|o| o.id), Some(order.id.clone()));
            let (t, id) = (tenant.clone(), order.id.clone());
            let looked_up = store.lookup(move |r| async move { r.order(&t, &id).await }.boxed()).await.unwrap();
            assert_eq!(looked_up.map(|o| o.id), Some(order.id));
            other.close().await;
            store.close().await;
        }
        .boxed()
    })
    .await;
}

#[tokio::test]
async fn database_errors_map_to_store_errors() {
    on_fresh_database("database_errors_map_to_store_errors", |url| {
        async move {
            let mut conn = PgConnection::connect(&url).await.unwrap();
            let error = |sql: &'static str| sqlx::query(sql);
            let out_of_range = error("SELECT '2147483648'::int4").execute(&mut conn).await.unwrap_err();
            assert!(matches!(map_error(out_of_range), StoreError::InvalidValue(_)));
            let jsonb_nul = error(r#"SELECT '{"a": "\u0000"}'::jsonb"#).execute(&mut conn).await.unwrap_err();
            assert!(matches!(map_error(jsonb_nul), StoreError::InvalidValue(_)));
            let text_nul = sqlx::query("SELECT $1::text").bind("a\0b").execute(&mut conn).await.unwrap_err();
            let mapped = map_error(text_nul);
            assert!(matches!(&mapped, StoreError::InvalidValue(text) if !text.contains("a\0b")), "{mapped:?}");
            error("CREATE TEMP TABLE short (v varchar(2))").execute(&mut conn).await.unwrap();
            let too_long = error("INSERT INTO short VALUES ('abc')").execute(&mut conn).await.unwrap_err();
            assert!(matches!(map_error(too_long), StoreError::InvalidValue(_)));
            error("SET statement_timeout = '20ms'").execute(&mut conn).await.unwrap();
            let timeout = error("SELECT pg_sleep(1)").execute(&mut conn).await.unwrap_err();
            assert!(matches!(map_error(timeout), StoreError::Busy));
            error("SET statement_timeout = 0").execute(&mut conn).await.unwrap();
            let other = error("SELECT * FROM no_such_table").execute(&mut conn).await.unwrap_err();
            assert!(matches!(map_error(other), StoreError::Backend(_)));
            conn.close().await.unwrap();
        }
        .boxed()
    })
    .await;
}

#[tokio::test]
async fn a_statement_past_the_timeout_answers_busy() {
    on_fresh_database("a_statement_past_the_timeout_answers_busy", |url| {
        async move {
            let mut options = PostgresOptions::from_url(&url).unwrap();
            options.statement_timeout = std::time::Duration::from_millis(200);
            let store = open_with(options).await;
            let (tenant, order) = tenant_with_order(&store, "T-1").await;
            // One job holds the order's row lock; another waits for it past its statement timeout.
            let (held, release) = tokio::sync::oneshot::channel::<()>();
            let (locked, is_locked) = tokio::sync::oneshot::channel::<()>();
            let (s, t, id) = (store.clone(), tenant.clone(), order.id.clone());
            let holder = tokio::spawn(async move {
                s.write(move |tx| {
                    async move {
                        tx.order(&t, &id).await?;
                        let _ = locked.send(());
                        let _ = release.await;
                        Ok(())
                    }
                    .boxed()
                })
                .await
            });
            is_locked.await.unwrap();
            let (t, id) = (tenant.clone(), order.id.clone());
            let waited = store.write(move |tx| async move { tx.order(&t, &id).await }.boxed()).await;
            assert!(matches!(waited, Err(StoreError::Busy)), "{waited:?}");
            drop(held);
            holder.await.unwrap().unwrap();
            store.close().await;
        }
        .boxed()
    })
    .await;
}

#[tokio::test]
async fn urls_are_read_and_passwords_never_shown() {
    assert!(PostgresOptions::from_url("postgres://u@localhost/db").is_ok());
    assert!(PostgresOptions::from_url("postgresql://u@localhost:5433/db?sslmode=require").is_ok());
    assert!(matches!(PostgresOptions::from_url("mysql://u@localhost/db"), Err(StoreError::InvalidValue(_))));
    assert!(matches!(
        PostgresOptions::from_url("postgres://u@localhost/db?sslmode=bogus"),
        Err(StoreError::InvalidValue(_))
    ));

    let url = "postgres://app:hunter2-secret@127.0.0.1:1/paystate?sslmode=disable";
    let mut options = PostgresOptions::from_url(url).unwrap();
    assert!(!format!("{options:?}").contains("hunter2"), "{options:?}");
    // Nothing listens on port 1: the connection fails, and its error must not carry the password.
    options.acquire_timeout = std::time::Duration::from_secs(2);
    let error = PostgresStore::open(options.clone()).await.err().expect("no server on port 1").to_string();
    assert!(!error.contains("hunter2") && error.contains("127.0.0.1:1"), "{error}");
    let error = PostgresStore::migrate_only(options).await.unwrap_err().to_string();
    assert!(!error.contains("hunter2"), "{error}");
}

/// After a few runs PostgreSQL plans a prepared statement once for all values (a generic plan).
/// Each filtered list must still reach its rows through the index of its filter then, not read
/// every row of the tenant: `($2::text IS NULL OR order_id = $2)` did, 31 ms a list with 25,000
/// payments, inside write batches that hold the tenant's lane.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_lists_use_their_index_in_a_generic_plan() {
    on_fresh_database("filtered_lists_use_their_index_in_a_generic_plan", |url| {
        async move {
            let store = open(&url).await;
            let (tenant, order) = tenant_with_order(&store, "R-0").await;
            let actor = actor(&tenant);
            let first = new_payment(&order);
            let (payment_id, order_id) = (first.id.clone(), order.id.clone());
            store
                .write(move |tx| {
                    async move {
                        for n in 1..3000 {
                            let (order, event) = conformance::new_order(&actor.tenant_id, &format!("R-{n}"));
                            tx.insert_order(&order).await?;
                            tx.insert_payment(&new_payment(&order)).await?;
                            tx.record(&actor, event);
                        }
                        tx.insert_payment(&first).await
                    }
                    .boxed()
                })
                .await
                .unwrap();
            let mut admin = PgConnection::connect(&url).await.unwrap();
            sqlx::raw_sql("ANALYZE").execute(&mut admin).await.unwrap();

            let page = PageRequest { after: None, limit: 10 };
            let by_order = PaymentFilter { order_id: Some(order_id), ..Default::default() };
            let (t, p) = (tenant.clone(), page.clone());
            let sql =
                statement_of(store.lookup(move |r| async move { r.payments(&t, &by_order, &p).await }.boxed())).await;
            assert_plan_uses(&mut admin, &sql, "payments_by_order").await;

            let by_reference = OrderFilter { reference: Some("R-7".into()), state: None };
            let (t, p) = (tenant.clone(), page.clone());
            let sql =
                statement_of(store.lookup(move |r| async move { r.orders(&t, &by_reference, &p).await }.boxed())).await;
            assert_plan_uses(&mut admin, &sql, "orders_unique_reference").await;

            let of_payment = EventFilter { after_seq: 0, payment_id: Some(payment_id), limit: 10 };
            let t = tenant.clone();
            let sql = statement_of(store.lookup(move |r| async move { r.events(&t, &of_payment).await }.boxed())).await;
            assert_plan_uses(&mut admin, &sql, "events_by_payment").await;
            store.close().await;
        }
        .boxed()
    })
    .await;
}

/// The last statement a store call ran (its list), as the store noted it.
async fn statement_of<T>(call: impl std::future::Future<Output = paystate_store::StoreResult<T>>) -> String {
    let log = StatementLog::new();
    log.clone().scope(call).await.unwrap();
    log.statements().pop().expect("the call ran a statement")
}

/// Checks that PostgreSQL's generic plan for `sql` reads through `index`.
async fn assert_plan_uses(admin: &mut PgConnection, sql: &str, index: &str) {
    let parameters = (1..=20).filter(|n| sql.contains(&format!("${n}"))).count();
    let nulls = vec!["NULL"; parameters].join(", ");
    let script = format!("SET plan_cache_mode = force_generic_plan; DEALLOCATE ALL; PREPARE listed AS {sql}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(script)).execute(&mut *admin).await.unwrap();
    let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN EXECUTE listed({nulls})")))
        .fetch_all(&mut *admin)
        .await
        .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains(index), "the generic plan of {sql} does not use {index}:\n{plan}");
}
