//! The crash test (issue 19): drives a real `paystate serve` with concurrent writers, `kill -9`s
//! it at random moments, restarts it, resends what got no answer, and checks what the server kept:
//! every acknowledged write present exactly once, nothing present that was not sent, no payment
//! moved backwards, event numbers gap-free per tenant, amounts equal to their events, and every
//! event's webhook delivered at least once with a valid signature; and a backup taken under load,
//! restored, holds what was acknowledged before it began. Prints a table and fails when anything
//! is violated. `bench/crash.sh` builds and runs it; bench/README.md has the figures.

mod backup;
mod check;
mod hooks;
mod server;
mod workload;
mod writer;

use crate::load::Random;
use anyhow::{Context, Result, bail};
use server::Server;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use workload::{Outcome, Shared};

/// How many payments per tenant have their own trail (`GET /v1/payments/{id}/events`) compared
/// with the tenant's log: enough to catch a read path that disagrees, few enough to stay quick.
const TRAIL_SAMPLE: usize = 300;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreChoice {
    Sqlite,
    Postgres,
    Both,
}

#[derive(clap::Args, Clone)]
pub struct CrashArgs {
    /// The store(s) to crash, one after the other.
    #[arg(long, value_enum, default_value = "both")]
    pub store: StoreChoice,
    /// `kill -9`s per store [default: 50 on SQLite, 20 on PostgreSQL; 3 with --quick].
    #[arg(long)]
    pub kills: Option<usize>,
    /// CI's run: 3 kills per store unless --kills says otherwise, about two minutes per store.
    #[arg(long)]
    pub quick: bool,
    /// Concurrent writers.
    #[arg(long, default_value_t = 32)]
    pub writers: usize,
    /// Requests per second of all writers together, 0 for as fast as the server answers (the
    /// default: a kill then interrupts about one request per writer; paced at a few hundred a
    /// second, SQLite answers so fast that a kill rarely finds a request in flight).
    #[arg(long, default_value_t = 0)]
    pub rate: u32,
    /// The shortest time the server runs between two kills, in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub min_up_ms: u64,
    /// The longest time the server runs between two kills, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    pub max_up_ms: u64,
    /// After the last kill, how long to keep resending requests whose Idempotency-Key is still
    /// claimed (409), in seconds: a claim a crash left is taken over after a minute.
    #[arg(long, default_value_t = 75)]
    pub drain_seconds: u64,
    /// After the drain, how long to wait at most for every event's webhook, in seconds (a
    /// delivery leased by a killed server may wait up to 60 s before it is sent again).
    #[arg(long, default_value_t = 120)]
    pub webhook_wait_seconds: u64,
    #[arg(long, default_value_t = 2)]
    pub tenants: usize,
    /// The PostgreSQL server to create the run's database on (dropped at the end).
    #[arg(long, env = "PAYSTATE_TEST_POSTGRES_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres_url: String,
    /// The paystate binary (default: `paystate` beside this binary).
    #[arg(long)]
    pub server: Option<PathBuf>,
    /// Send no `Idempotency-Key`: a control run, whose creates and adjustments without an answer
    /// are never resent, so the checks must pass even while resent keyed requests apply twice.
    #[arg(long)]
    pub without_keys: bool,
    /// Keep the run's temporary directory (the SQLite database, the server's log).
    #[arg(long)]
    pub keep_files: bool,
    /// The seed of the random choices (default: from the clock); printed so that a run can be
    /// repeated.
    #[arg(long)]
    pub seed: Option<u64>,
}

/// One store's run, as the table shows it.
struct Report {
    store: &'static str,
    kills: usize,
    sent: usize,
    acked: usize,
    resent: usize,
    unknown: usize,
    restart_ms: Vec<u128>,
    /// Per kind of request (operation, API, with or without a key): sent, acknowledged, resent,
    /// unknown outcome.
    by_kind: BTreeMap<String, [usize; 4]>,
    findings: check::Findings,
    webhooks: WebhookFigures,
    /// The backup taken halfway through the kills, restored and checked.
    backup: Option<backup::BackupReport>,
    seconds: f64,
}

#[derive(Default)]
struct WebhookFigures {
    events: usize,
    delivered: usize,
    duplicates: usize,
    invalid: u64,
    waited_seconds: f64,
    /// From the last kill until every event's webhook had arrived (or the wait ended).
    after_last_kill_seconds: f64,
}

pub async fn run(args: CrashArgs) -> Result<()> {
    let binary = match &args.server {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("paystate"),
    };
    if !binary.exists() {
        bail!("no paystate binary at {} (build it, or pass --server)", binary.display());
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    });
    eprintln!("crash test, seed {seed}");
    let stores: &[&'static str] = match args.store {
        StoreChoice::Sqlite => &["sqlite"],
        StoreChoice::Postgres => &["postgres"],
        StoreChoice::Both => &["sqlite", "postgres"],
    };
    let mut reports = Vec::new();
    for store in stores {
        reports.push(run_store(&args, &binary, store, seed).await?);
    }
    println!("{}", table(&reports));
    println!("{}", kinds(&reports));
    println!("{}", backups(&reports));
    let backup_violations = |r: &Report| r.backup.as_ref().map_or(0, |b| b.findings.total());
    let violations: usize = reports.iter().map(|r| r.findings.total() + backup_violations(r)).sum();
    if violations > 0 {
        for report in &reports {
            for example in &report.findings.examples {
                println!("{}: {example}", report.store);
            }
            for example in report.backup.iter().flat_map(|b| &b.findings.examples) {
                println!("{} backup: {example}", report.store);
            }
        }
        bail!("{violations} violations");
    }
    Ok(())
}

async fn run_store(args: &CrashArgs, binary: &Path, store: &'static str, seed: u64) -> Result<Report> {
    let started = Instant::now();
    let kills = args.kills.unwrap_or(match (args.quick, store) {
        (true, _) => 3,
        (false, "sqlite") => 50,
        (false, _) => 20,
    });
    let dir = std::env::temp_dir().join(format!("paystate-crash-{}-{store}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (url, database) = match store {
        "sqlite" => (format!("sqlite://{}", dir.join("crash.db").display()), None),
        _ => {
            let database = paystate_store_postgres::testing::TestDatabase::create(&args.postgres_url)
                .await
                .context("cannot create the crash test's PostgreSQL database")?;
            (database.url.clone(), Some(database))
        }
    };
    // Interrupted, the run still ends its server (dropped with the future) and its database.
    let result = tokio::select! {
        result = crash(args, binary, store, seed, kills, &url, &dir) => result,
        () = interrupted() => Err(anyhow::anyhow!("interrupted")),
    };
    if let Some(database) = database {
        let _ = database.drop_database().await;
    }
    if args.keep_files {
        eprintln!("{store}: the run's files (the server's log) stay in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let mut report = result?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Ctrl-C or SIGTERM.
async fn interrupted() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn crash(
    args: &CrashArgs,
    binary: &Path,
    store: &'static str,
    seed: u64,
    kills: usize,
    url: &str,
    dir: &Path,
) -> Result<Report> {
    // Tenants and their keys, straight in the store before any server runs.
    let mut keys = Vec::new();
    {
        let ledger = paystate_ledger::Ledger::new(crate::prepare::open(url, None).await?);
        for t in 0..args.tenants.max(1) {
            let tenant = crate::prepare::tenant(&ledger, t).await?;
            keys.push(workload::Keys {
                tenant_id: tenant.id.to_string(),
                admin: tenant.admin,
                omnicasa: tenant.omnicasa,
                teljoy: tenant.teljoy,
                norce: tenant.norce,
                gormic: tenant.gormic,
            });
        }
    }
    let deliveries = Arc::new(hooks::Deliveries::default());
    let (hook_port, receiver) = hooks::start(deliveries.clone()).await?;
    let mut server = Server::new(binary, url, dir)?;
    server.start().await?;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    for (t, tenant) in keys.iter().enumerate() {
        let endpoint: serde_json::Value = client
            .post(format!("{}/v1/webhook-endpoints", server.base))
            .bearer_auth(&tenant.admin)
            .json(&serde_json::json!({"url": format!("http://127.0.0.1:{hook_port}/hook/{t}"), "events": ["*"]}))
            .send()
            .await
            .map_err(reqwest::Error::without_url)?
            .error_for_status()
            .map_err(reqwest::Error::without_url)?
            .json()
            .await?;
        deliveries.set_secret(t, endpoint["secret"].as_str().context("no secret in the endpoint's answer")?)?;
    }

    let mut random = Random::new(seed ^ store.len() as u64);
    let shared = Arc::new(Shared {
        base: server.base.clone(),
        client: reqwest::Client::builder().pool_max_idle_per_host(args.writers).build()?,
        tenants: keys,
        run: format!("crash{:x}", seed % 0xff_ffff),
        pause: match args.rate {
            0 => Duration::ZERO,
            rate => Duration::from_secs_f64(args.writers.max(1) as f64 / rate as f64),
        },
        with_keys: !args.without_keys,
        stop: false.into(),
        records: Default::default(),
        deferred: Default::default(),
    });
    let writers: Vec<_> = (0..args.writers.max(1))
        .map(|w| {
            let shared = shared.clone();
            let seed = seed.wrapping_add(w as u64 * 7919);
            tokio::spawn(async move { writer::writer(&shared, w, seed).await })
        })
        .collect();
    let mut restart_ms = Vec::new();
    let mut last_kill = Instant::now();
    let mut snapshot = None;
    for k in 0..kills {
        let span = args.max_up_ms.saturating_sub(args.min_up_ms) as usize + 1;
        tokio::time::sleep(Duration::from_millis(args.min_up_ms + random.below(span) as u64)).await;
        server.kill();
        last_kill = Instant::now();
        restart_ms.push(server.start().await.with_context(|| format!("restart after kill {}", k + 1))?.as_millis());
        eprintln!("{store}: kill {}/{kills}, restarted in {} ms", k + 1, restart_ms.last().unwrap_or(&0));
        if k == kills / 2 {
            // Halfway, under the full load: a backup the way the README says to take one.
            tokio::time::sleep(Duration::from_millis(args.min_up_ms)).await;
            let records = shared.records.lock().expect("records").clone();
            let (binary, url, dir) = (binary.to_owned(), url.to_owned(), dir.to_owned());
            let taken = tokio::task::spawn_blocking(move || backup::take(&binary, store, &url, &dir, &records));
            let taken = taken.await??;
            eprintln!("{store}: backup under load taken in {} ms", taken.took_ms);
            snapshot = Some(taken);
        }
    }
    // Some load after the last restart, so that the last kill's requests are resent and seen.
    tokio::time::sleep(Duration::from_millis(args.max_up_ms)).await;
    shared.stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await?;
    }
    let waiting = shared.deferred.lock().expect("deferred").len();
    let drain = Instant::now();
    let left = shared.drain(Duration::from_secs(args.drain_seconds)).await;
    eprintln!(
        "{store}: {waiting} requests waited for their key's claim; {left} still claimed after {:.1} s",
        drain.elapsed().as_secs_f64()
    );

    // Every event's webhook, waited for within the bound.
    let waited = Instant::now();
    let mut events = Vec::new();
    for tenant in &shared.tenants {
        events.push(check::events(&client, &server.base, &tenant.admin).await?);
    }
    // The workload's events: the set-up's (keys made before any endpoint existed) owe no webhook.
    let ids: HashSet<String> = events
        .iter()
        .flatten()
        .filter(|e| !check::is_set_up(e))
        .filter_map(|e| e["id"].as_str().map(str::to_owned))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(args.webhook_wait_seconds);
    while Instant::now() < deadline && deliveries.delivered(&ids) < ids.len() {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let counts = deliveries.counts();
    let webhooks = WebhookFigures {
        events: ids.len(),
        delivered: ids.iter().filter(|id| counts.contains_key(*id)).count(),
        duplicates: counts.values().map(|&n| n.saturating_sub(1) as usize).sum(),
        invalid: deliveries.invalid.load(Ordering::Relaxed),
        waited_seconds: waited.elapsed().as_secs_f64(),
        after_last_kill_seconds: last_kill.elapsed().as_secs_f64(),
    };
    eprintln!(
        "{store}: {} of {} events' webhooks delivered after a wait of {:.1} s, {:.1} s after the last kill ({} received, {} duplicates)",
        webhooks.delivered,
        webhooks.events,
        webhooks.waited_seconds,
        webhooks.after_last_kill_seconds,
        deliveries.received.load(Ordering::Relaxed),
        webhooks.duplicates
    );

    let mut findings = check::Findings::default();
    // Every writer and the drain are done: the records are final.
    let records = std::mem::take(&mut *shared.records.lock().expect("records"));
    let prefix = format!("{}-", shared.run);
    for (t, tenant) in shared.tenants.iter().enumerate() {
        let payments = check::payments(&client, &server.base, &tenant.admin).await?;
        let mine: Vec<&workload::Record> = records.iter().filter(|r| r.tenant == t).collect();
        check::check(&mut findings, &prefix, &mine, &events[t], &payments);
        for id in check::trails_agree(&client, &server.base, &tenant.admin, &events[t], TRAIL_SAMPLE).await? {
            findings.violations.entry("payment trail differs from the log").and_modify(|n| *n += 1).or_insert(1);
            findings.examples.push(format!("payment trail differs from the log: {id}"));
        }
    }
    for _ in webhooks.delivered..webhooks.events {
        findings.violations.entry("webhook never delivered").and_modify(|n| *n += 1).or_insert(1);
    }
    if webhooks.invalid > 0 {
        findings.violations.insert("webhook signature invalid", webhooks.invalid as usize);
    }
    server.kill();
    receiver.abort();
    let backup = match snapshot {
        Some(snapshot) => Some(restore_and_check(args, binary, store, &snapshot, dir, &shared, &records).await?),
        None => None,
    };
    let mut by_kind: BTreeMap<String, [usize; 4]> = BTreeMap::new();
    for r in &records {
        let kind = format!("{:?} {:?} {}", r.op, r.api, if r.keyed { "with key" } else { "without key" });
        let counts = by_kind.entry(kind).or_default();
        counts[0] += 1;
        counts[1] += usize::from(r.outcome == Outcome::Acked);
        counts[2] += usize::from(r.resent);
        counts[3] += usize::from(r.outcome == Outcome::Unknown);
    }
    Ok(Report {
        by_kind,
        store,
        kills,
        sent: records.len(),
        acked: records.iter().filter(|r| r.outcome == Outcome::Acked).count(),
        resent: records.iter().filter(|r| r.resent).count(),
        unknown: records.iter().filter(|r| r.outcome == Outcome::Unknown).count(),
        restart_ms,
        findings,
        webhooks,
        backup,
        seconds: 0.0,
    })
}

/// Restores the backup into a fresh database beside the live one (with the sealing key kept
/// beside it, as the README says) and checks it.
async fn restore_and_check(
    args: &CrashArgs,
    binary: &Path,
    store: &'static str,
    snapshot: &backup::Snapshot,
    dir: &Path,
    shared: &Shared,
    records: &[workload::Record],
) -> Result<backup::BackupReport> {
    if store == "sqlite" {
        let restored = dir.join("restored");
        std::fs::create_dir_all(&restored)?;
        std::fs::copy(dir.join("paystate.sealing-key"), restored.join("paystate.sealing-key"))
            .context("the sealing key beside the database")?;
        let url = format!("sqlite://{}", restored.join("crash.db").display());
        return backup::verify(binary, store, snapshot, &url, dir, shared, records).await;
    }
    let database = paystate_store_postgres::testing::TestDatabase::create(&args.postgres_url)
        .await
        .context("cannot create the database to restore the backup into")?;
    let report = backup::verify(binary, store, snapshot, &database.url, dir, shared, records).await;
    let _ = database.drop_database().await;
    report
}

fn table(reports: &[Report]) -> String {
    let mut text = String::from(
        "\n| store | kills | sent | acknowledged | resent | unknown outcome (applied) | events | duplicates | double refunds (keyed) | webhooks delivered / events | webhook duplicates | restart ms (mean / max) | violations | duration s |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|\n",
    );
    for r in reports {
        let mean = r.restart_ms.iter().sum::<u128>() / r.restart_ms.len().max(1) as u128;
        let max = r.restart_ms.iter().max().copied().unwrap_or(0);
        let violations: BTreeMap<_, _> = r.findings.violations.iter().collect();
        let violations = if violations.is_empty() {
            "none".to_owned()
        } else {
            violations.iter().map(|(kind, n)| format!("{kind}: {n}")).collect::<Vec<_>>().join("; ")
        };
        text.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} ({}) | {} | {} | {} ({}) | {} / {} | {} | {mean} / {max} | {violations} | {:.0} |\n",
            r.store,
            r.kills,
            r.sent,
            r.acked,
            r.resent,
            r.unknown,
            r.findings.unknown_applied,
            r.findings.events,
            r.findings.duplicates,
            r.findings.double_refunds,
            r.findings.double_refunds_keyed,
            r.webhooks.delivered,
            r.webhooks.events,
            r.webhooks.duplicates,
            r.seconds
        ));
    }
    text
}

/// The backups taken under load, restored and checked.
fn backups(reports: &[Report]) -> String {
    let mut text = String::from(
        "| store | backup under load, ms | writes acknowledged before it | events restored | violations |\n|---|---:|---:|---:|---|\n",
    );
    for r in reports {
        let Some(backup) = &r.backup else { continue };
        let violations: Vec<String> =
            backup.findings.violations.iter().map(|(kind, n)| format!("{kind}: {n}")).collect();
        let violations = if violations.is_empty() { "none".to_owned() } else { violations.join("; ") };
        text.push_str(&format!(
            "| {} | {} | {} | {} | {violations} |\n",
            r.store, backup.took_ms, backup.acked_before, backup.events
        ));
    }
    text
}

/// The requests by kind: what each store's writers sent and what became of it.
fn kinds(reports: &[Report]) -> String {
    let mut text = String::from(
        "| store | request | sent | acknowledged | resent | unknown outcome |\n|---|---|---:|---:|---:|---:|\n",
    );
    for r in reports {
        for (kind, [sent, acked, resent, unknown]) in &r.by_kind {
            text.push_str(&format!("| {} | {kind} | {sent} | {acked} | {resent} | {unknown} |\n", r.store));
        }
    }
    text
}
