//! The `paystate` binary: serves the API, sends webhooks, and manages tenants, keys, webhook
//! endpoints and the schema.
//!
//! Thin by design: it parses flags, environment and an optional TOML file, opens the store the
//! database URL names (a SQLite file by default, PostgreSQL for `postgres://` URLs), and hands
//! over to the library crates.

mod config;
mod users;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use config::Settings;
use paystate_domain::{Actor, EndpointId, KeyId, Source, TenantId};
use paystate_ledger::Ledger;
use paystate_store::{Scope, Store};
use paystate_webhooks::{Dispatcher, DispatcherConfig, NewEndpoint, WebhookError, Webhooks};
use std::sync::Arc;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "paystate", version, about = "The payment state hub: one canonical, audited state per payment.")]
struct Cli {
    /// A TOML file with settings (listen, database_url, omnicasa_prefix, log_format).
    #[arg(long, global = true, env = "PAYSTATE_CONFIG")]
    config: Option<std::path::PathBuf>,
    /// Database URL: a SQLite file (sqlite://paystate.db, the default) or postgres://…
    #[arg(long, global = true, env = "PAYSTATE_DATABASE_URL")]
    database_url: Option<String>,
    /// PostgreSQL: the most connections this instance opens.
    #[arg(long, global = true, env = "PAYSTATE_DB_MAX_CONNECTIONS")]
    db_max_connections: Option<u32>,
    /// PostgreSQL: cut off any statement (a lock wait included) after this many milliseconds.
    #[arg(long, global = true, env = "PAYSTATE_DB_STATEMENT_TIMEOUT_MS")]
    db_statement_timeout_ms: Option<u64>,
    /// PostgreSQL: let up to this many writes of one tenant share a transaction (group commit;
    /// default 64). 1 gives every write a transaction of its own.
    #[arg(long, global = true, env = "PAYSTATE_DB_MAX_BATCH")]
    db_max_batch: Option<usize>,
    /// Log format: text or json.
    #[arg(long, global = true, env = "PAYSTATE_LOG_FORMAT")]
    log_format: Option<String>,
    /// A name unique to this instance that survives its restarts (a host or pod name): a
    /// restarted instance then takes back at once the webhook deliveries it was sending when it
    /// died. The server of a SQLite file needs none (it is the file's only server).
    #[arg(long, global = true, env = "PAYSTATE_INSTANCE_ID")]
    instance_id: Option<String>,
    /// Allow webhook endpoints on loopback, private, link-local and CGNAT addresses.
    #[arg(long, global = true, env = "PAYSTATE_WEBHOOKS_ALLOW_PRIVATE_NETWORKS", value_name = "BOOL")]
    webhooks_allow_private_networks: Option<bool>,
    /// Publish every event to NATS JetStream at this URL (nats://host:4222), from `serve` and
    /// `worker`.
    #[arg(long, global = true, env = "PAYSTATE_NATS_URL")]
    nats_url: Option<String>,
    /// The JetStream stream to publish to (created when missing) [default: PAYSTATE].
    #[arg(long, global = true, env = "PAYSTATE_NATS_STREAM")]
    nats_stream: Option<String>,
    /// The first token(s) of every subject published, `<prefix>.<tenant id>.<event type>`: give
    /// each paystate sharing one NATS account its own [default: paystate].
    #[arg(long, global = true, env = "PAYSTATE_NATS_SUBJECT_PREFIX")]
    nats_subject_prefix: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (native, dialects, ops) and the console (/dashboard) until SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Copy a SQLite database, consistently, while the server runs (PostgreSQL: use pg_dump).
    Backup {
        /// The new file to write the copy to.
        #[arg(long, value_name = "FILE")]
        to: std::path::PathBuf,
    },
    /// Replace a SQLite database with a backup; the server must be stopped.
    Restore {
        /// The backup to restore.
        #[arg(long, value_name = "FILE")]
        from: std::path::PathBuf,
    },
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage webhook endpoints.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Manage the people who sign in to the console (/dashboard).
    #[command(subcommand)]
    User(users::UserCommand),
    /// Send webhooks (and publish events to NATS, when configured) until SIGINT or SIGTERM,
    /// without serving the API (any number may run).
    Worker {
        /// Serve the dispatcher's metrics (`/metrics`) and `/healthz` on this address.
        #[arg(long, env = "PAYSTATE_WORKER_METRICS_LISTEN")]
        metrics_listen: Option<String>,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "PAYSTATE_LISTEN")]
    listen: Option<String>,
    /// Also serve the Omnicasa route under this prefix (e.g. /api/v3).
    #[arg(long, env = "PAYSTATE_OMNICASA_PREFIX")]
    omnicasa_prefix: Option<String>,
    /// Do not send webhooks from this process (leave them to `paystate worker`).
    #[arg(long, env = "PAYSTATE_NO_WEBHOOK_DISPATCHER")]
    no_webhook_dispatcher: bool,
    /// SQLite: memory for payments kept for reads, in MB [default: 100, some 90,000 payments;
    /// 0 keeps none]. PostgreSQL keeps none: its instances share the database.
    #[arg(long, env = "PAYSTATE_PAYMENT_CACHE_MB", value_name = "MB")]
    payment_cache_mb: Option<usize>,
    /// Disconnect a client that takes longer than this to send a request's headers.
    #[arg(long, env = "PAYSTATE_HEADER_TIMEOUT_SECS", value_name = "SECONDS")]
    header_timeout_secs: Option<u64>,
    /// Answer 408 when a request body stops arriving for this long.
    #[arg(long, env = "PAYSTATE_BODY_TIMEOUT_SECS", value_name = "SECONDS")]
    body_timeout_secs: Option<u64>,
    /// Keep finished (succeeded or failed) webhook deliveries and their attempts this many days.
    #[arg(long, env = "PAYSTATE_WEBHOOK_RETENTION_DAYS", value_name = "DAYS")]
    webhook_retention_days: Option<u32>,
    /// The most connections one client address may hold open at once.
    #[arg(long, env = "PAYSTATE_MAX_CONNECTIONS_PER_ADDRESS", value_name = "N")]
    max_connections_per_address: Option<usize>,
}

#[derive(Subcommand)]
enum WebhookCommand {
    /// Create an endpoint and print its signing secret (shown once).
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        url: String,
        /// Comma-separated event types, or * for all.
        #[arg(long, default_value = "*", value_delimiter = ',')]
        events: Vec<String>,
        #[arg(long)]
        description: Option<String>,
        /// Create it disabled.
        #[arg(long)]
        disabled: bool,
        #[arg(long)]
        json: bool,
    },
    /// List a tenant's endpoints (never their secrets).
    List {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete an endpoint with its deliveries.
    Delete {
        #[arg(long)]
        tenant: String,
        endpoint_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Issue a new signing secret; the old one keeps signing for the grace period.
    Rotate {
        #[arg(long)]
        tenant: String,
        endpoint_id: String,
        /// Hours the old secret keeps signing (0 to 168).
        #[arg(long, default_value_t = 24)]
        grace_hours: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant and print its id and first admin API key (shown once).
    Create {
        name: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Issue an API key (its secret is shown once).
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long, value_parser = ["read", "write", "admin"])]
        scope: String,
        /// Limit the key to one dialect.
        #[arg(long, value_parser = ["native", "omnicasa", "norce", "gormic", "teljoy"])]
        dialect: Option<String>,
        /// Expiry as an RFC 3339 time (e.g. 2027-01-01T00:00:00Z).
        #[arg(long)]
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long)]
        label: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List a tenant's keys (never their secrets).
    List {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key.
    Revoke {
        #[arg(long)]
        tenant: String,
        key_id: String,
        #[arg(long)]
        json: bool,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    paystate_webhooks::install_default_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    let database_url =
        cli.database_url.or(settings.database_url.clone()).unwrap_or_else(|| "sqlite://paystate.db".into());
    let log_format = cli.log_format.or(settings.log_format.clone()).unwrap_or_else(|| "text".into());
    let database = config::Database {
        url: database_url,
        max_connections: cli.db_max_connections.or(settings.db_max_connections),
        statement_timeout_ms: cli.db_statement_timeout_ms.or(settings.db_statement_timeout_ms),
        max_batch: cli.db_max_batch.or(settings.db_max_batch),
    };
    let allow_private =
        cli.webhooks_allow_private_networks.or(settings.webhooks_allow_private_networks).unwrap_or(false);
    let instance_id = cli.instance_id.or(settings.instance_id.clone());
    let instance_id = instance_id.as_deref();
    let nats = cli.nats_url.or(settings.nats_url.clone()).map(|url| {
        let stream = cli.nats_stream.or(settings.nats_stream.clone());
        let mut config = paystate_stream::PublisherConfig::new(
            url,
            stream.unwrap_or_else(|| paystate_stream::DEFAULT_STREAM.into()),
        );
        if let Some(prefix) = cli.nats_subject_prefix.or(settings.nats_subject_prefix.clone()) {
            config.subject_prefix = prefix;
        }
        config
    });
    init_logging(&log_format)?;
    match cli.command {
        Command::Serve(args) => {
            let listen = args.listen.or(settings.listen.clone()).unwrap_or_else(|| "127.0.0.1:8080".into());
            let prefix = args.omnicasa_prefix.or(settings.omnicasa_prefix.clone());
            let payment_cache_mb = args
                .payment_cache_mb
                .or(settings.payment_cache_mb)
                .unwrap_or(paystate_store_sqlite::DEFAULT_PAYMENT_CACHE_MB);
            let role = config::Role::Server { payment_cache_mb };
            let defaults = paystate_http::server::ConnectionLimits::default();
            let seconds = std::time::Duration::from_secs;
            let limits = paystate_http::server::ConnectionLimits {
                header_timeout: args
                    .header_timeout_secs
                    .or(settings.header_timeout_secs)
                    .map_or(defaults.header_timeout, seconds),
                body_timeout: args
                    .body_timeout_secs
                    .or(settings.body_timeout_secs)
                    .map_or(defaults.body_timeout, seconds),
                per_address: args
                    .max_connections_per_address
                    .or(settings.max_connections_per_address)
                    .unwrap_or(defaults.per_address),
                ..defaults
            };
            let mut http = paystate_http::HttpConfig { omnicasa_prefix: prefix, limits, ..Default::default() };
            if let Some(days) = args.webhook_retention_days.or(settings.webhook_retention_days) {
                http.webhooks.retention = chrono::TimeDelta::days(i64::from(days.max(1)));
            }
            let instance_id = instance_id.map(str::to_owned);
            let senders = Senders { dispatch: !args.no_webhook_dispatcher, allow_private, nats, instance_id };
            serve(&database, role, &listen, http, senders).await
        }
        Command::Worker { metrics_listen } => worker(&database, allow_private, instance_id, nats, metrics_listen).await,
        Command::Webhook(command) => webhook_command(&database, allow_private, command).await,
        Command::Backup { to } => {
            let path = config::sqlite_path(&database, "backup")?;
            paystate_store_sqlite::backup(&path, &to).with_context(|| format!("cannot back up {}", path.display()))?;
            println!("backed up {} to {}", path.display(), to.display());
            Ok(())
        }
        Command::Restore { from } => {
            let path = config::sqlite_path(&database, "restore")?;
            paystate_store_sqlite::restore(&path, &from)
                .with_context(|| format!("cannot restore {} into {}", from.display(), path.display()))?;
            println!("restored {} from {}", path.display(), from.display());
            Ok(())
        }
        Command::Migrate => {
            let version = config::migrate(&database).await?;
            println!("schema is at version {version}");
            Ok(())
        }
        Command::Tenant(TenantCommand::Create { name, json }) => {
            let ledger = Ledger::new(config::open_store(&database, config::Role::Tool).await?);
            let (tenant, key) = ledger.create_tenant(&name).await?;
            if json {
                println!("{}", serde_json::json!({"tenant_id": tenant.id, "api_key": key.token, "key_id": key.id}));
            } else {
                println!(
                    "tenant  {}\nkey id  {}\napi key {}\n(the API key is shown once: store it now)",
                    tenant.id, key.id, key.token
                );
            }
            Ok(())
        }
        Command::Key(command) => key_command(&database, command).await,
        Command::User(command) => users::run(&database, command).await,
    }
}

async fn key_command(database: &config::Database, command: KeyCommand) -> Result<()> {
    let tenant_id = |raw: &str| TenantId::parse(raw).with_context(|| format!("{raw:?} is not a tenant id (ten_…)"));
    let ledger = Ledger::new(config::open_store(database, config::Role::Tool).await?);
    match command {
        KeyCommand::Create { tenant, scope, dialect, expires_at, label, json } => {
            let scope = Scope::parse(&scope).context("unknown scope")?;
            let dialect = dialect
                .as_deref()
                .map(|d| Source::parse(d).filter(|s| s.takes_keys()).context("unknown dialect"))
                .transpose()?;
            let tenant = tenant_id(&tenant)?;
            let key = ledger
                .create_key(&Actor::cli(tenant.clone(), "key create"), scope, dialect, expires_at, label, None)
                .await
                .map_err(|e| match e {
                    paystate_store::StoreError::NotFound => anyhow::anyhow!("no tenant {tenant}"),
                    other => other.into(),
                })?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"key_id": key.id, "api_key": key.token, "scope": scope.as_str(), "dialect": dialect})
                );
            } else {
                println!("key id  {}\napi key {}\n(the API key is shown once: store it now)", key.id, key.token);
            }
        }
        KeyCommand::List { tenant, json } => {
            let keys = ledger.keys(&tenant_id(&tenant)?).await?;
            let rows: Vec<_> = keys
                .iter()
                .map(|k| {
                    serde_json::json!({
                        "key_id": k.id, "scope": k.scope.as_str(), "dialect": k.dialect, "label": k.label,
                        "created_at": k.created_at, "expires_at": k.expires_at, "revoked_at": k.revoked_at,
                    })
                })
                .collect();
            if json {
                println!("{}", serde_json::Value::Array(rows));
            } else {
                for k in &keys {
                    let state = if k.revoked_at.is_some() { "revoked" } else { "active" };
                    let dialect = k.dialect.map_or("any", |d| d.as_str());
                    println!("{}  {:<5}  {:<8}  {}", k.id, k.scope.as_str(), dialect, state);
                }
            }
        }
        KeyCommand::Revoke { tenant, key_id, json } => {
            let key = KeyId::parse(&key_id).with_context(|| format!("{key_id:?} is not a key id (key_…)"))?;
            match ledger.revoke_key(&Actor::cli(tenant_id(&tenant)?, "key revoke"), &key, None).await {
                Ok(()) => {}
                Err(paystate_store::StoreError::NotFound) => bail!("the tenant has no key {key}"),
                Err(other) => return Err(other.into()),
            }
            if json {
                println!("{}", serde_json::json!({"key_id": key, "revoked": true}));
            } else {
                println!("revoked {key}");
            }
        }
    }
    Ok(())
}

async fn webhook_command(database: &config::Database, allow_private: bool, command: WebhookCommand) -> Result<()> {
    let tenant_id = |raw: &str| TenantId::parse(raw).with_context(|| format!("{raw:?} is not a tenant id (ten_…)"));
    let endpoint_id =
        |raw: &str| EndpointId::parse(raw).with_context(|| format!("{raw:?} is not an endpoint id (we_…)"));
    let store = config::open_store(database, config::Role::Tool).await?;
    let webhooks = Webhooks::new(store, config::sealing_key(&database.url)?, allow_private);
    let explain = |error: WebhookError| match error {
        WebhookError::Store(paystate_store::StoreError::NotFound) => anyhow::anyhow!("no such tenant or endpoint"),
        other => anyhow::anyhow!(other),
    };
    match command {
        WebhookCommand::Create { tenant, url, events, description, disabled, json } => {
            let new = NewEndpoint { url, events, description, enabled: !disabled };
            let issued = webhooks
                .create(&Actor::cli(tenant_id(&tenant)?, "webhook create"), new, None)
                .await
                .map_err(explain)?;
            let e = &issued.endpoint;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"id": e.id, "url": e.url, "events": e.events, "enabled": e.enabled, "secret": issued.secret.reveal()})
                );
            } else {
                println!(
                    "endpoint {}\nsecret   {}\n(the secret is shown once: store it now)",
                    e.id,
                    issued.secret.reveal()
                );
            }
        }
        WebhookCommand::List { tenant, json } => {
            let tenant = tenant_id(&tenant)?;
            let mut all = Vec::new();
            let mut after = None;
            loop {
                let page = webhooks
                    .endpoints(&tenant, paystate_store::PageRequest { after: after.clone(), limit: 100 })
                    .await
                    .map_err(explain)?;
                all.extend(page.data);
                if !page.has_more {
                    break;
                }
                after = page.next_cursor;
            }
            if json {
                println!("{}", serde_json::to_value(&all)?);
            } else {
                for e in &all {
                    let state = if e.enabled { "enabled" } else { e.disabled_reason.as_deref().unwrap_or("disabled") };
                    println!("{}  {:<8}  {}  {}", e.id, state, e.url, e.events.as_slice().join(","));
                }
            }
        }
        WebhookCommand::Delete { tenant, endpoint_id: raw, json } => {
            let id = endpoint_id(&raw)?;
            webhooks.delete(&Actor::cli(tenant_id(&tenant)?, "webhook delete"), &id, None).await.map_err(explain)?;
            if json {
                println!("{}", serde_json::json!({"id": id, "deleted": true}));
            } else {
                println!("deleted {id}");
            }
        }
        WebhookCommand::Rotate { tenant, endpoint_id: raw, grace_hours, json } => {
            let grace = chrono::TimeDelta::try_hours(grace_hours).context("the grace period is out of range")?;
            let issued = webhooks
                .rotate(&Actor::cli(tenant_id(&tenant)?, "webhook rotate"), &endpoint_id(&raw)?, grace, None)
                .await
                .map_err(explain)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"id": issued.endpoint.id, "secret": issued.secret.reveal(), "previous_secret_expires_at": issued.previous_expires_at})
                );
            } else {
                println!(
                    "endpoint {}\nsecret   {}\n(the secret is shown once: store it now)",
                    issued.endpoint.id,
                    issued.secret.reveal()
                );
                if let Some(until) = issued.previous_expires_at {
                    println!("the previous secret keeps signing until {until}");
                }
            }
        }
    }
    Ok(())
}

/// The production dispatcher settings, with the private-network switch and, when the instance
/// has a lasting name, the owner of its leases.
fn dispatcher_config(allow_private: bool, owner: Option<String>) -> DispatcherConfig {
    let defaults = DispatcherConfig::default();
    DispatcherConfig {
        allow_private_networks: allow_private,
        owner: owner.unwrap_or(defaults.owner.clone()),
        ..defaults
    }
}

/// Who holds the leases of `paystate serve`'s dispatcher: on SQLite the file's one server (its
/// lock guarantees that no other server runs), elsewhere the instance's lasting name, if given.
fn serve_lease_owner(database: &config::Database, instance_id: Option<&str>) -> Option<String> {
    if !database.url.starts_with("postgres") {
        return Some("sqlite-server".into());
    }
    instance_id.map(|id| format!("serve:{id}"))
}

/// What `serve` sends out besides answers: webhooks, and events to NATS.
struct Senders {
    dispatch: bool,
    allow_private: bool,
    nats: Option<paystate_stream::PublisherConfig>,
    /// The instance's lasting name, if it has one (see `--instance-id`).
    instance_id: Option<String>,
}

async fn worker(
    database: &config::Database,
    allow_private: bool,
    instance_id: Option<&str>,
    nats: Option<paystate_stream::PublisherConfig>,
    metrics_listen: Option<String>,
) -> Result<()> {
    let store: Arc<dyn Store> = config::open_store(database, config::Role::Tool).await?;
    let sealing = config::sealing_key(&database.url)?;
    let metrics = Arc::new(paystate_http::observe::Metrics::default());
    if let Some(listen) = metrics_listen {
        let listener =
            tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("cannot listen on {listen}"))?;
        tracing::info!(address = %listener.local_addr()?, "serving the worker's metrics");
        tokio::spawn(paystate_http::ops::serve_metrics(listener, metrics.clone()));
    }
    let owner = instance_id.map(|id| format!("worker:{id}"));
    let dispatcher =
        Dispatcher::new(store.clone(), sealing, dispatcher_config(allow_private, owner), metrics.webhooks.clone())?;
    // One signal, watched by the dispatcher and the publisher alike.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let until_stopped = move || {
        let mut stopping = stopping.clone();
        async move {
            let _ = stopping.wait_for(|stopping| *stopping).await;
        }
    };
    let publisher = match nats {
        Some(config) => {
            // The worker commits no events itself: the publisher polls for them.
            let publisher = paystate_stream::Publisher::new(store.clone(), config, metrics.stream.clone(), None);
            publisher.check().await.context("cannot publish to NATS")?;
            tracing::info!("paystate worker is publishing events to NATS");
            Some(tokio::spawn(publisher.run(until_stopped())))
        }
        None => None,
    };
    tracing::info!(database = store.backend(), "paystate worker is sending webhooks");
    dispatcher.run(until_stopped()).await;
    if let Some(publisher) = publisher {
        let _ = publisher.await;
    }
    Ok(())
}

async fn serve(
    database: &config::Database,
    role: config::Role,
    listen: &str,
    http: paystate_http::HttpConfig,
    senders: Senders,
) -> Result<()> {
    let Senders { dispatch, allow_private, nats, instance_id } = senders;
    let store: Arc<dyn Store> = config::open_store(database, role).await?;
    let sealing_key = config::sealing_key(&database.url)?;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    let webhooks = paystate_http::WebhookSettings {
        sealing_key,
        allow_private_networks: allow_private,
        dispatcher: dispatch
            .then(|| dispatcher_config(allow_private, serve_lease_owner(database, instance_id.as_deref()))),
        retention: http.webhooks.retention,
    };
    let config = paystate_http::HttpConfig { webhooks, nats, ..http };
    let state = paystate_http::AppState::new(Ledger::new(store.clone()), config);
    tracing::info!(%address, database = store.backend(), "paystate is serving");
    paystate_http::serve(listener, state, shutdown_signal()).await.context("the server failed")?;
    tracing::info!("paystate stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => return interrupt.await.unwrap_or(()),
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down: finishing requests in flight");
}

fn init_logging(format: &str) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PAYSTATE_LOG").unwrap_or_else(|_| "info".into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        "json" => builder.json().init(),
        "text" => builder.init(),
        other => bail!("unknown log format {other:?} (text or json)"),
    }
    Ok(())
}
