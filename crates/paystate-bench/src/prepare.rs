//! The database under test: a fresh SQLite file or PostgreSQL database filled with tenants,
//! orders and payments, and the ceilings measured straight against it.
//!
//! Every tenant is set up for the native API and the four vendor dialects the mix sends status
//! updates through (see each dialect's page in `docs/dialects/`): a write key limited to each
//! dialect, the Norce merchant declared, and every order and payment named the way the Norce
//! dialect looks them up, so that one prepared payment can be updated through any of the APIs.

use crate::Cli;
use crate::load::Measurement;
use anyhow::{Context, Result, bail};
use futures::FutureExt;
use paystate_domain::order::NewOrder;
use paystate_domain::payment::NewPayment;
use paystate_domain::{Actor, Currency, PaymentCommand, PaymentStatus, Source};
use paystate_ledger::Ledger;
use paystate_store::{Scope, Store, StoreExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The statuses every payment walks through, one forward step per update.
pub const CHAIN: [PaymentStatus; 5] = [
    PaymentStatus::Open,
    PaymentStatus::Pending,
    PaymentStatus::Authorized,
    PaymentStatus::Paid,
    PaymentStatus::Reversed,
];

/// The Norce merchant id every bench tenant declares in `settings.norce.merchants` (hooks for an
/// undeclared merchant are answered 404), and the channel its checkout sends.
pub const NORCE_MERCHANT: &str = "bench";
pub const NORCE_CHANNEL: &str = "1";

/// The amount of every prepared order and payment, in cents of EUR.
pub const AMOUNT: i64 = 1999;

/// A tenant and its keys, one per API.
pub struct BenchTenant {
    pub id: paystate_domain::TenantId,
    /// The tenant's first admin key: native updates, reads and creates.
    pub admin: String,
    /// Write keys limited to one dialect each, as the dialects' pages advise.
    pub omnicasa: String,
    pub norce: String,
    pub gormic: String,
    pub teljoy: String,
}

/// One prepared order with its one payment.
pub struct Target {
    pub tenant: Arc<BenchTenant>,
    pub payment_id: String,
    /// The shop's order number `BENCH-{n:07}`, which is the Norce order id.
    pub order_number: String,
    /// The PSP's id of the payment `psp-{n}`, which is the Norce payment id.
    pub psp_id: String,
    /// paystate's order reference, `norce:bench:BENCH-…`. The Norce dialect finds its order and
    /// payment by names it derives from the hook's ids (this reference, and the external id
    /// `norce:bench:BENCH-…:psp-…`): under any other names, a hook would open an order and a
    /// payment of its own. The other dialects take any reference: this is Omnicasa's `OrderId`.
    pub reference: String,
}

pub struct Fixture {
    pub url: String,
    pub targets: Vec<Target>,
    /// How far along [`CHAIN`] each target has been pushed, so that updates keep applying.
    pub progress: Vec<AtomicU8>,
    cleanup: Cleanup,
}

enum Cleanup {
    Directory(std::path::PathBuf),
    Database(paystate_store_postgres::testing::TestDatabase),
}

impl Fixture {
    /// The step of [`CHAIN`] to report next for target `index`: one further each time, then the
    /// last one again (the counter stops rather than wraps, which would send the payment back).
    pub fn next_step(&self, index: usize) -> usize {
        let previous = self.progress[index]
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |step| Some(step.saturating_add(1)))
            .unwrap_or(u8::MAX);
        (previous as usize + 1).min(CHAIN.len() - 1)
    }

    /// The next status to report for target `index`.
    pub fn next_status(&self, index: usize) -> PaymentStatus {
        CHAIN[self.next_step(index)]
    }

    pub async fn cleanup(self) {
        match self.cleanup {
            Cleanup::Directory(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Database(database) => {
                let _ = database.drop_database().await;
            }
        }
    }
}

pub(crate) async fn open(url: &str, max_batch: Option<usize>) -> Result<Arc<dyn Store>> {
    if url.starts_with("postgres") {
        let mut options = paystate_store_postgres::PostgresOptions::from_url(url)?;
        if let Some(max_batch) = max_batch {
            options.max_batch = max_batch;
        }
        Ok(Arc::new(paystate_store_postgres::PostgresStore::open(options).await?))
    } else {
        let mut options = paystate_store_sqlite::SqliteOptions::from_url(url)?;
        if let Some(max_batch) = max_batch {
            options.max_batch = max_batch;
        }
        Ok(Arc::new(paystate_store_sqlite::SqliteStore::open(options).await?))
    }
}

pub async fn prepare(cli: &Cli) -> Result<Fixture> {
    let (url, cleanup) = match cli.database.as_str() {
        "sqlite" => {
            let dir = std::env::temp_dir().join(format!("paystate-bench-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            (format!("sqlite://{}", dir.join("bench.db").display()), Cleanup::Directory(dir))
        }
        "postgres" => {
            let database = paystate_store_postgres::testing::TestDatabase::create(&cli.postgres_url)
                .await
                .context("cannot create the benchmark database")?;
            (database.url.clone(), Cleanup::Database(database))
        }
        other => bail!("unknown database {other:?} (sqlite or postgres)"),
    };
    let store = open(&url, None).await?;
    let ledger = Ledger::new(store);
    let mut tenants = Vec::new();
    for t in 0..cli.tenants.max(1) {
        tenants.push(Arc::new(tenant(&ledger, t).await?));
    }
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let tenants = Arc::new(tenants);
    let mut workers = Vec::new();
    for _ in 0..32 {
        let (ledger, next, tenants, total) = (ledger.clone(), next.clone(), tenants.clone(), cli.orders as u64);
        workers.push(tokio::spawn(async move {
            let mut made = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return Ok::<_, anyhow::Error>(made);
                }
                let tenant = tenants[(n as usize) % tenants.len()].clone();
                let actor = Actor {
                    tenant_id: tenant.id.clone(),
                    key_id: None,
                    user_id: None,
                    source: Source::Cli,
                    request_id: format!("bench-{n}"),
                    request_body: None,
                };
                let (order_number, psp_id) = (format!("BENCH-{n:07}"), format!("psp-{n}"));
                let reference = format!("norce:{NORCE_MERCHANT}:{order_number}");
                let external_id = format!("{reference}:{psp_id}");
                let order_reference = reference.clone();
                let payment = ledger
                    .store()
                    .write_for(&tenant.id, move |tx| {
                        async move {
                            let new = NewOrder {
                                reference: order_reference,
                                currency: Currency::parse("EUR")?,
                                total_amount: AMOUNT,
                                customer: serde_json::json!({"name": "Bench Customer", "email": "bench@example.com"}),
                                attributes: serde_json::json!({"channel": "web"}),
                            };
                            let order = paystate_ledger::jobs::open_order(tx, &actor, new).await?;
                            let new =
                                NewPayment { amount: AMOUNT, external_id: Some(external_id), ..Default::default() };
                            paystate_ledger::jobs::open_payment(tx, &actor, &order, new).await
                        }
                        .boxed()
                    })
                    .await?;
                made.push(Target { tenant, payment_id: payment.id.to_string(), order_number, psp_id, reference });
            }
        }));
    }
    let mut targets = Vec::with_capacity(cli.orders);
    for worker in workers {
        targets.extend(worker.await??);
    }
    eprintln!("  prepared {} orders with payments in {:.1} s", targets.len(), started.elapsed().as_secs_f64());
    if let Cleanup::Database(database) = &cleanup {
        // Without statistics, PostgreSQL takes the order index for unselective and reads all of
        // a tenant's payments to find one order's (13 ms instead of 0.3); pgbench's own set-up
        // ends the same way.
        database.vacuum_analyze().await.context("cannot analyze the benchmark database")?;
    }
    let progress = (0..targets.len()).map(|_| AtomicU8::new(0)).collect();
    Ok(Fixture { url, targets, progress, cleanup })
}

/// A tenant set up for every API the benchmark drives, with its keys.
pub(crate) async fn tenant(ledger: &Ledger, t: usize) -> Result<BenchTenant> {
    let (tenant, admin) = ledger.create_tenant(&format!("Bench tenant {t}")).await?;
    // Norce: the merchant the hooks name must be the tenant's. Teljoy: the trust checks compare
    // `trust_Value` with the MD5 of the order reference, which the load generator cannot compute
    // without a dependency of its own, so they are off, as a tenant may have them (the seed it
    // sends is still decoded and kept with the event).
    let settings = serde_json::json!({"settings": {
        "norce": {"merchants": [NORCE_MERCHANT]},
        "teljoy": {"verify_trust": false},
    }});
    ledger.patch_tenant(&Actor::cli(tenant.id.clone(), "bench prepare"), settings, |_| Ok(()), None).await?;
    let key = async |dialect: Source| -> Result<String> {
        let label = format!("bench {}", dialect.as_str());
        Ok(ledger
            .create_key(
                &Actor::cli(tenant.id.clone(), "bench prepare"),
                Scope::Write,
                Some(dialect),
                None,
                Some(label),
                None,
            )
            .await?
            .token)
    };
    Ok(BenchTenant {
        omnicasa: key(Source::Omnicasa).await?,
        norce: key(Source::Norce).await?,
        gormic: key(Source::Gormic).await?,
        teljoy: key(Source::Teljoy).await?,
        id: tenant.id,
        admin: admin.token,
    })
}

/// The update transaction of a status report run straight against the store, no HTTP, one
/// commit per update (either store limited to batches of one), 64 at a time.
pub async fn store_ceiling(cli: &Cli, fixture: &Fixture, duration: Duration) -> Result<Measurement> {
    let store = open(&fixture.url, Some(1)).await?;
    let ledger = Ledger::new(store);
    let deadline = Instant::now() + duration;
    let done = AtomicU64::new(0);
    let errors = AtomicU64::new(0);
    let started = Instant::now();
    let tasks = (0..cli.connections).map(|task| {
        let (ledger, done, errors) = (&ledger, &done, &errors);
        async move {
            let mut random = crate::load::Random::new(task as u64 + 7);
            while Instant::now() < deadline {
                let index = random.below(fixture.targets.len());
                let target = &fixture.targets[index];
                let actor = Actor {
                    tenant_id: target.tenant.id.clone(),
                    key_id: None,
                    user_id: None,
                    source: Source::Cli,
                    request_id: String::new(),
                    request_body: None,
                };
                let command = PaymentCommand::ReportStatus { status: fixture.next_status(index), paid_at: None };
                match ledger.command(&actor, &target.payment_id, command, None, None).await {
                    Ok(_) => done.fetch_add(1, Ordering::Relaxed),
                    Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                };
            }
        }
    });
    futures::future::join_all(tasks).await;
    let seconds = started.elapsed().as_secs_f64();
    Ok(Measurement::counted("ceiling: store, one commit per update", done.into_inner(), errors.into_inner(), seconds))
}

/// Which of PostgreSQL's own rates [`pgbench_ceiling`] measures.
#[derive(Clone, Copy)]
pub enum PgbenchCeiling {
    /// The update transaction: lock the payment, update it, number and insert the event.
    Update,
    /// A read of one payment's document by its id, the statement behind `GET /v1/payments/{id}`.
    Read,
}

/// PostgreSQL's own rate for the equivalent of a paystate request, measured by pgbench at 16
/// clients on the same machine (pgbench and PostgreSQL share its cores, as the load generator and
/// paystate do). pgbench draws a number and looks the payment's id up in a table of the prepared
/// ids, so each transaction does one more index lookup than paystate's.
pub async fn pgbench_ceiling(
    cli: &Cli,
    fixture: &Fixture,
    duration: Duration,
    ceiling: PgbenchCeiling,
) -> Result<Measurement> {
    let psql = |sql: &str| {
        std::process::Command::new("psql").args(["-q", "-v", "ON_ERROR_STOP=1", &fixture.url, "-c", sql]).output()
    };
    let setup = psql(
        "DROP TABLE IF EXISTS bench_ids; \
         CREATE TABLE bench_ids AS SELECT (row_number() OVER ())::int AS n, id, tenant_id, order_id FROM payments; \
         ALTER TABLE bench_ids ADD PRIMARY KEY (n);",
    )
    .context("psql is needed for the pgbench ceiling")?;
    if !setup.status.success() {
        bail!("psql failed: {}", String::from_utf8_lossy(&setup.stderr));
    }
    let (name, transaction) = match ceiling {
        PgbenchCeiling::Update => (
            "ceiling: pgbench, equivalent transaction",
            "BEGIN;\n\
             SELECT doc FROM payments WHERE id = (SELECT id FROM bench_ids WHERE n = :n) FOR NO KEY UPDATE;\n\
             UPDATE payments SET version = version + 1, doc = jsonb_set(doc, '{version}', to_jsonb(version + 1)) WHERE id = (SELECT id FROM bench_ids WHERE n = :n);\n\
             WITH next AS (UPDATE tenants SET event_seq = event_seq + 1 WHERE id = (SELECT tenant_id FROM bench_ids WHERE n = :n) RETURNING id, event_seq) \
             INSERT INTO events (id, tenant_id, seq, type, payment_id, order_id, source, actor, request_id, request_body, data, detail, created_at) \
             SELECT 'evt_' || md5(random()::text), next.id, next.event_seq, 'payment.status_changed', b.id, b.order_id, 'native', 'bench', 'bench', NULL, p.doc, '{}'::jsonb, now() \
             FROM next, bench_ids b JOIN payments p ON p.id = b.id WHERE b.n = :n;\n\
             COMMIT;\n",
        ),
        PgbenchCeiling::Read => (
            "ceiling: pgbench, read of one payment",
            "SELECT p.doc FROM bench_ids b JOIN payments p ON p.tenant_id = b.tenant_id AND p.id = b.id WHERE b.n = :n;\n",
        ),
    };
    let script = std::env::temp_dir().join(format!("paystate-pgbench-{}.sql", std::process::id()));
    std::fs::write(&script, format!("\\set n random(1, {})\n{transaction}", fixture.targets.len()))?;
    let clients = cli.connections.clamp(1, 16).to_string();
    let output = tokio::process::Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-c", &clients, "-j", "2", "-T", &duration.as_secs().max(1).to_string(), "-f"])
        .arg(&script)
        .arg(&fixture.url)
        .output()
        .await
        .context("pgbench is needed for the pgbench ceiling")?;
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&output.stdout);
    let tps = text
        .lines()
        .find_map(|line| {
            line.strip_prefix("tps = ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
        })
        .with_context(|| format!("no tps in pgbench's output: {text} {}", String::from_utf8_lossy(&output.stderr)))?;
    let transactions = text
        .lines()
        .find_map(|line| {
            line.strip_prefix("number of transactions actually processed: ")
                .and_then(|v| v.split('/').next())
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
        .unwrap_or(0);
    let failed = text
        .lines()
        .find_map(|line| {
            line.strip_prefix("number of failed transactions: ")
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let mut measurement = Measurement::counted(name, transactions, failed, duration.as_secs_f64());
    measurement.throughput = tps;
    Ok(measurement)
}
