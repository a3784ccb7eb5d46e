//! paystate's benchmark.
//!
//! One command prepares a realistic database (orders with payments over several tenants), starts
//! a real `paystate serve` process on it, drives it over HTTP with a mix of traffic, and in the
//! same run measures the ceilings it is judged against: the update transaction straight against
//! the store with one commit per update (no HTTP), `pgbench` running the equivalent update
//! transaction and read on PostgreSQL, and a bare axum JSON echo server under the same load
//! generator. It prints a summary with paystate/ceiling ratios and appends every measurement as a
//! JSON line to `--out`.
//!
//! `paystate-bench crash` is the crash test instead (`bench/crash.sh`, see the `crash` module).

mod crash;
mod load;
mod prepare;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use load::{Measurement, Traffic};
use prepare::PgbenchCeiling;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Clone)]
#[command(name = "paystate-bench", about = "Benchmarks paystate over real HTTP against its own ceilings")]
pub struct Cli {
    /// sqlite or postgres.
    #[arg(long, default_value = "sqlite")]
    pub database: String,
    /// The PostgreSQL server to create the benchmark database on.
    #[arg(long, env = "PAYSTATE_BENCH_POSTGRES_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres_url: String,
    /// Orders to prepare, each with one payment.
    #[arg(long, default_value_t = 100_000)]
    pub orders: usize,
    #[arg(long, default_value_t = 4)]
    pub tenants: usize,
    /// Seconds each measurement runs.
    #[arg(long, default_value_t = 15)]
    pub seconds: u64,
    /// Concurrent connections of the load generator.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Threads of the load generator, each an event loop of its own (as wrk's `-t`).
    #[arg(long, default_value_t = 2)]
    pub client_threads: usize,
    /// The paystate binary to benchmark (default: `paystate` beside this binary).
    #[arg(long)]
    pub server: Option<PathBuf>,
    /// Append the measurements as JSON lines to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// A few seconds on a small database, to keep the benchmark from rotting (CI); no targets.
    #[arg(long)]
    pub smoke: bool,
    /// Drive only this traffic through paystate (the ceilings still run): to iterate on one
    /// measurement without waiting for the others.
    #[arg(long, value_enum)]
    pub only: Option<Traffic>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Clone)]
pub enum Command {
    /// The framework ceiling: a bare axum server that echoes JSON (started by the benchmark).
    #[command(hide = true)]
    EchoServer { listen: String },
    /// The crash test: kill -9 a loaded server again and again, then check what it kept.
    Crash(crash::CrashArgs),
}

fn main() -> Result<()> {
    let mut cli = Cli::parse();
    if cli.smoke {
        cli.orders = cli.orders.min(2_000);
        cli.seconds = cli.seconds.min(2);
        cli.connections = cli.connections.min(16);
    }
    if cli.orders < cli.connections.max(1) {
        // Each connection updates payments of its own, so that one payment's updates stay in order.
        bail!("--orders ({}) must be at least --connections ({})", cli.orders, cli.connections);
    }
    paystate_webhooks::install_default_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command.clone() {
        Some(Command::EchoServer { listen }) => runtime.block_on(load::echo_server(&listen)),
        Some(Command::Crash(args)) => runtime.block_on(crash::run(args)),
        None => runtime.block_on(run(cli)),
    }
}

async fn run(cli: Cli) -> Result<()> {
    let duration = Duration::from_secs(cli.seconds);
    let server_binary = match &cli.server {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("paystate"),
    };
    if !server_binary.exists() {
        bail!("no paystate binary at {} (build it, or pass --server)", server_binary.display());
    }
    eprintln!("preparing {} orders over {} tenants on {}…", cli.orders, cli.tenants, cli.database);
    let fixture = prepare::prepare(&cli).await?;
    let mut measurements: Vec<Measurement> = Vec::new();

    eprintln!("ceiling: the update transaction straight against the store, one commit per update…");
    measurements.push(prepare::store_ceiling(&cli, &fixture, duration).await?);
    if cli.database == "postgres" {
        for ceiling in [PgbenchCeiling::Update, PgbenchCeiling::Read] {
            match prepare::pgbench_ceiling(&cli, &fixture, duration, ceiling).await {
                Ok(measurement) => measurements.push(measurement),
                Err(error) => eprintln!("pgbench ceiling skipped: {error:#}"),
            }
        }
    }

    let server = load::Server::start(&server_binary, &fixture.url).await?;
    let chosen = |traffic: &Traffic| cli.only.is_none_or(|only| only == *traffic);
    for traffic in [Traffic::StatusUpdates, Traffic::Reads, Traffic::Mixed].into_iter().filter(chosen) {
        eprintln!("{}…", traffic.name());
        measurements
            .push(load::drive(&server.base, &fixture, traffic, cli.connections, cli.client_threads, duration).await);
    }
    let peak_memory = server.peak_memory_kib();
    drop(server);

    let echo = load::Server::start_echo().await?;
    eprintln!("ceiling: bare axum JSON echo…");
    measurements
        .push(load::drive(&echo.base, &fixture, Traffic::Echo, cli.connections, cli.client_threads, duration).await);
    drop(echo);
    fixture.cleanup().await;

    let summary = load::summary(&cli, &measurements, peak_memory);
    println!("{summary}");
    if let Some(path) = &cli.out {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        for measurement in &measurements {
            writeln!(file, "{}", measurement.to_json(&cli, peak_memory))?;
        }
    }
    let errors: u64 = measurements.iter().map(|m| m.errors).sum();
    if errors > 0 {
        bail!("{errors} requests failed");
    }
    Ok(())
}
