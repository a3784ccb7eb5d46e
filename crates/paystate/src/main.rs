//! The `paystate` binary: serves the API and manages tenants, keys and the schema.
//!
//! Thin by design: it parses flags, environment and an optional TOML file, opens the store the
//! database URL names (a SQLite file by default, PostgreSQL for `postgres://` URLs), and hands
//! over to the library crates.

mod config;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use config::Settings;
use paystate_domain::{KeyId, Source, TenantId};
use paystate_ledger::Ledger;
use paystate_store::{Scope, Store};
use std::sync::Arc;

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
    /// Log format: text or json.
    #[arg(long, global = true, env = "PAYSTATE_LOG_FORMAT")]
    log_format: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (native, dialects, ops) until SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "PAYSTATE_LISTEN")]
    listen: Option<String>,
    /// Also serve the Omnicasa route under this prefix (e.g. /api/v3).
    #[arg(long, env = "PAYSTATE_OMNICASA_PREFIX")]
    omnicasa_prefix: Option<String>,
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
    };
    init_logging(&log_format)?;
    match cli.command {
        Command::Serve(args) => {
            let listen = args.listen.or(settings.listen.clone()).unwrap_or_else(|| "127.0.0.1:8080".into());
            let prefix = args.omnicasa_prefix.or(settings.omnicasa_prefix.clone());
            serve(&database, &listen, prefix).await
        }
        Command::Migrate => {
            let version = config::migrate(&database).await?;
            println!("schema is at version {version}");
            Ok(())
        }
        Command::Tenant(TenantCommand::Create { name, json }) => {
            let ledger = Ledger::new(config::open_store(&database).await?);
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
    }
}

async fn key_command(database: &config::Database, command: KeyCommand) -> Result<()> {
    let tenant_id = |raw: &str| TenantId::parse(raw).with_context(|| format!("{raw:?} is not a tenant id (ten_…)"));
    let ledger = Ledger::new(config::open_store(database).await?);
    match command {
        KeyCommand::Create { tenant, scope, dialect, expires_at, label, json } => {
            let scope = Scope::parse(&scope).context("unknown scope")?;
            let dialect = dialect.as_deref().map(|d| Source::parse(d).context("unknown dialect")).transpose()?;
            let tenant = tenant_id(&tenant)?;
            let key = ledger.create_key(&tenant, scope, dialect, expires_at, label).await.map_err(|e| match e {
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
            match ledger.revoke_key(&tenant_id(&tenant)?, &key).await {
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

async fn serve(database: &config::Database, listen: &str, omnicasa_prefix: Option<String>) -> Result<()> {
    let store: Arc<dyn Store> = config::open_store(database).await?;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    let config = paystate_http::HttpConfig { omnicasa_prefix, ..Default::default() };
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
