//! The event stream's benchmark: how many events per second reach consumers, and how long after
//! commit, through the live stream (`GET /v1/events/stream`) and through NATS JetStream.
//!
//! One process serves paystate on port 0 (SQLite, or PostgreSQL with `--database postgres`) with
//! its NATS publisher, while `--writers` clients create orders over HTTP (one event each) for
//! `--seconds`. An SSE consumer and a JetStream ordered consumer read every event; each event's
//! lag is the time it was received minus its `created_at`, which the store stamps inside the
//! committing transaction (so the lag includes the commit's own flush). Rates count from the
//! first write to the last event each consumer received. Before that, `--backlog` events written
//! before the server started measure how fast each path drains a backlog (the publisher's and
//! the stream's own ceiling, which the live phase's writers do not reach).

use anyhow::{Context, Result, bail};
use clap::Parser;
use futures::StreamExt;
use hdrhistogram::Histogram;
use paystate_ledger::Ledger;
use paystate_store::Store;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(name = "paystate-events-bench", about = "Events per second and commit-to-consumer lag, SSE and NATS")]
struct Cli {
    /// sqlite or postgres.
    #[arg(long, default_value = "sqlite")]
    database: String,
    #[arg(long, env = "PAYSTATE_BENCH_POSTGRES_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
    /// A NATS server with JetStream; the benchmark uses (and then deletes) the stream PAYSTATE_BENCH.
    #[arg(long, env = "PAYSTATE_BENCH_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent HTTP writers.
    #[arg(long, default_value_t = 32)]
    writers: usize,
    /// Events written before the server starts: how fast each consumer catches up on a backlog
    /// is the rate at which paystate can hand events out.
    #[arg(long, default_value_t = 20_000)]
    backlog: u64,
    /// Two seconds with 4 writers, to keep the benchmark from rotting.
    #[arg(long)]
    smoke: bool,
}

const STREAM: &str = "PAYSTATE_BENCH";

/// What one consumer saw.
struct Consumed {
    events: u64,
    last_at: Instant,
    lag_us: Histogram<u64>,
    /// Events received so far, for the main task to see the backlog drained.
    progress: Arc<AtomicU64>,
    /// The first events, written before the server started: their lag says nothing.
    backlog: u64,
}

fn lag_since(created_at: &str) -> Option<u64> {
    let created = chrono::DateTime::parse_from_rfc3339(created_at).ok()?.with_timezone(&chrono::Utc);
    u64::try_from((chrono::Utc::now() - created).num_microseconds()?).ok()
}

/// Reads the SSE stream until `expected` events (or the patience) ran out.
async fn consume_sse(
    base: String,
    key: String,
    expected: Arc<AtomicU64>,
    done: Arc<AtomicU64>,
    mut seen: Consumed,
) -> Result<Consumed> {
    let mut response = reqwest::Client::new().get(format!("{base}/v1/events/stream")).bearer_auth(key).send().await?;
    let mut buffer = String::new();
    while !seen.complete(&expected, &done) {
        let Ok(chunk) = tokio::time::timeout(Duration::from_secs(30), response.chunk()).await else { break };
        let Some(chunk) = chunk? else { break };
        buffer.push_str(std::str::from_utf8(&chunk)?);
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if let Some(data) = block.lines().find_map(|line| line.strip_prefix("data: ")) {
                let event: serde_json::Value = serde_json::from_str(data)?;
                seen.record(event["created_at"].as_str());
            }
        }
    }
    Ok(seen)
}

/// Reads the JetStream stream with an ordered consumer until `expected` events arrived.
async fn consume_nats(
    url: String,
    expected: Arc<AtomicU64>,
    done: Arc<AtomicU64>,
    mut seen: Consumed,
) -> Result<Consumed> {
    let context = async_nats::jetstream::new(async_nats::connect(&url).await?);
    let stream = loop {
        // The publisher creates the stream once it runs.
        if let Ok(stream) = context.get_stream(STREAM).await {
            break stream;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let consumer = stream.create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default()).await?;
    let mut messages = consumer.messages().await?;
    while !seen.complete(&expected, &done) {
        let Ok(Some(message)) = tokio::time::timeout(Duration::from_secs(30), messages.next()).await else { break };
        let event: serde_json::Value = serde_json::from_slice(&message?.payload)?;
        seen.record(event["created_at"].as_str());
    }
    Ok(seen)
}

impl Consumed {
    fn new(progress: Arc<AtomicU64>, backlog: u64) -> Self {
        let lag_us = Histogram::new(3).expect("a valid histogram");
        Self { events: 0, last_at: Instant::now(), lag_us, progress, backlog }
    }

    fn record(&mut self, created_at: Option<&str>) {
        self.events += 1;
        self.last_at = Instant::now();
        self.progress.store(self.events, Ordering::Release);
        if self.events <= self.backlog {
            return;
        }
        if let Some(lag) = created_at.and_then(lag_since) {
            let _ = self.lag_us.record(lag.max(1));
        }
    }

    /// Done once the writers stopped and every event they wrote arrived.
    fn complete(&self, expected: &AtomicU64, done: &AtomicU64) -> bool {
        done.load(Ordering::Acquire) == 1 && self.events >= expected.load(Ordering::Acquire)
    }
}

async fn open_store(cli: &Cli) -> Result<(Arc<dyn Store>, Option<paystate_store_postgres::testing::TestDatabase>)> {
    if cli.database == "postgres" {
        let database = paystate_store_postgres::testing::TestDatabase::create(&cli.postgres_url).await?;
        let options = paystate_store_postgres::PostgresOptions::from_url(&database.url)?;
        let store = paystate_store_postgres::PostgresStore::open(options).await?;
        return Ok((Arc::new(store), Some(database)));
    }
    let dir = std::env::temp_dir().join(format!("paystate-events-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut options = paystate_store_sqlite::SqliteOptions::from_url(&format!("sqlite://{}/p.db", dir.display()))?;
    options.serving =
        Some(paystate_store_sqlite::Serving::with_payment_cache_mb(paystate_store_sqlite::DEFAULT_PAYMENT_CACHE_MB));
    Ok((Arc::new(paystate_store_sqlite::SqliteStore::open(options).await?), None))
}

/// Writes `count` orders (one event each) through the ledger, 64 at a time.
async fn write_backlog(ledger: &Ledger, tenant: &paystate_domain::TenantId, count: u64) -> Result<()> {
    let actor = paystate_domain::Actor {
        tenant_id: tenant.clone(),
        key_id: None,
        source: paystate_domain::Source::Cli,
        request_id: "backlog".into(),
        request_body: None,
        user_id: None,
    };
    let mut written = 0;
    while written < count {
        let chunk = (written..count.min(written + 64)).map(|i| {
            let new = paystate_domain::order::NewOrder {
                reference: format!("BACKLOG-{i}"),
                currency: paystate_domain::Currency::parse("EUR").expect("EUR"),
                total_amount: 100,
                customer: serde_json::Value::Null,
                attributes: serde_json::Value::Null,
            };
            ledger.create_order(&actor, new, None)
        });
        for result in futures::future::join_all(chunk).await {
            result?;
        }
        written = count.min(written + 64);
    }
    Ok(())
}

fn summary(name: &str, seen: &Consumed, started: Instant) -> String {
    let live = seen.events.saturating_sub(seen.backlog);
    let seconds = (seen.last_at - started).as_secs_f64().max(f64::EPSILON);
    let ms = |q: f64| seen.lag_us.value_at_quantile(q) as f64 / 1000.0;
    format!(
        "| {name} | {} | {:.0} | {:.1} | {:.1} | {:.1} |",
        live,
        live as f64 / seconds,
        ms(0.5),
        ms(0.99),
        seen.lag_us.max() as f64 / 1000.0
    )
}

async fn run(cli: Cli) -> Result<()> {
    let (seconds, writers, backlog) = if cli.smoke { (2, 4, 200) } else { (cli.seconds, cli.writers, cli.backlog) };
    let nats = async_nats::connect(&cli.nats_url).await.with_context(|| format!("no NATS at {}", cli.nats_url))?;
    let _ = async_nats::jetstream::new(nats).delete_stream(STREAM).await;
    let (store, postgres) = open_store(&cli).await?;
    let ledger = Ledger::new(store);
    let (tenant, key) = ledger.create_tenant("Bench").await?;
    write_backlog(&ledger, &tenant.id, backlog).await?;
    let config = paystate_http::HttpConfig {
        nats: Some(paystate_stream::PublisherConfig {
            // Its own subjects: a paystate on the same NATS server keeps `paystate.>`.
            subject_prefix: "paystate_bench".into(),
            ..paystate_stream::PublisherConfig::new(cli.nats_url.clone(), STREAM)
        }),
        ..Default::default()
    };
    let state = paystate_http::AppState::new(ledger, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(paystate_http::serve(listener, state, async move {
        let _ = stopped.await;
    }));

    let served_at = Instant::now();
    let (expected, done) = (Arc::new(AtomicU64::new(backlog)), Arc::new(AtomicU64::new(0)));
    let (sse_progress, nats_progress) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let seen = Consumed::new(sse_progress.clone(), backlog);
    let sse = tokio::spawn(consume_sse(base.clone(), key.token.clone(), expected.clone(), done.clone(), seen));
    let seen = Consumed::new(nats_progress.clone(), backlog);
    let jetstream = tokio::spawn(consume_nats(cli.nats_url.clone(), expected.clone(), done.clone(), seen));
    let (mut sse_caught_up, mut nats_caught_up) = (None, None);
    let patience = Instant::now() + Duration::from_secs(120);
    while sse_caught_up.is_none() || nats_caught_up.is_none() {
        if sse_caught_up.is_none() && sse_progress.load(Ordering::Acquire) >= backlog {
            sse_caught_up = Some(served_at.elapsed());
        }
        if nats_caught_up.is_none() && nats_progress.load(Ordering::Acquire) >= backlog {
            nats_caught_up = Some(served_at.elapsed());
        }
        if Instant::now() > patience {
            bail!("the backlog was not drained within two minutes");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rate = |took: Option<Duration>| backlog as f64 / took.unwrap_or_default().as_secs_f64().max(f64::EPSILON);
    println!(
        "backlog of {backlog} events drained: SSE in {:.2} s ({:.0}/s), NATS JetStream in {:.2} s ({:.0}/s)",
        sse_caught_up.unwrap_or_default().as_secs_f64(),
        rate(sse_caught_up),
        nats_caught_up.unwrap_or_default().as_secs_f64(),
        rate(nats_caught_up)
    );

    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let client = reqwest::Client::new();
    let tasks = (0..writers).map(|writer| {
        let (client, base, key, expected) = (client.clone(), base.clone(), key.token.clone(), expected.clone());
        async move {
            let mut i = 0;
            while Instant::now() < deadline {
                let body =
                    serde_json::json!({"reference": format!("B-{writer}-{i}"), "currency": "EUR", "total_amount": 100});
                let response = client.post(format!("{base}/v1/orders")).bearer_auth(&key).json(&body).send().await;
                if response.is_ok_and(|r| r.status() == 201) {
                    expected.fetch_add(1, Ordering::AcqRel);
                }
                i += 1;
            }
        }
    });
    futures::future::join_all(tasks).await;
    let written = expected.load(Ordering::Acquire) - backlog;
    let write_seconds = started.elapsed().as_secs_f64();
    done.store(1, Ordering::Release);
    let (sse, jetstream) = (sse.await??, jetstream.await??);
    let _ = stop.send(());
    let _ = server.await;
    let nats = async_nats::connect(&cli.nats_url).await?;
    let _ = async_nats::jetstream::new(nats).delete_stream(STREAM).await;
    if let Some(database) = postgres {
        let _ = database.drop_database().await;
    }

    println!(
        "{} events written by {writers} writers in {write_seconds:.1} s: {:.0}/s",
        written,
        written as f64 / write_seconds
    );
    println!("| consumer ({}) | events | events/s | lag p50 ms | lag p99 ms | lag max ms |", cli.database);
    println!("|---|---:|---:|---:|---:|---:|");
    println!("{}", summary("SSE `GET /v1/events/stream`", &sse, started));
    println!("{}", summary("NATS JetStream ordered consumer", &jetstream, started));
    if sse.events < written + backlog || jetstream.events < written + backlog {
        bail!("events missing: wrote {written}, SSE got {}, NATS got {}", sse.events, jetstream.events);
    }
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    paystate_webhooks::install_default_crypto_provider();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(cli))
}
