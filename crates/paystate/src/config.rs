//! Settings from an optional TOML file, and opening the store a database URL names.

use anyhow::{Context, Result};
use paystate_store::Store;
use serde::Deserialize;
use std::sync::Arc;

/// The TOML file's keys; flags and `PAYSTATE_*` variables win over it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub omnicasa_prefix: Option<String>,
    pub log_format: Option<String>,
    pub db_max_connections: Option<u32>,
    pub db_statement_timeout_ms: Option<u64>,
    pub db_max_batch: Option<usize>,
    pub payment_cache_mb: Option<usize>,
    pub webhooks_allow_private_networks: Option<bool>,
    pub instance_id: Option<String>,
    pub header_timeout_secs: Option<u64>,
    pub body_timeout_secs: Option<u64>,
    pub max_connections_per_address: Option<usize>,
    pub webhook_retention_days: Option<u32>,
    pub nats_url: Option<String>,
    pub nats_stream: Option<String>,
    pub nats_subject_prefix: Option<String>,
}

/// Where the data lives, and how to talk to it.
pub struct Database {
    pub url: String,
    pub max_connections: Option<u32>,
    pub statement_timeout_ms: Option<u64>,
    pub max_batch: Option<usize>,
}

impl Database {
    fn postgres_options(&self) -> Result<paystate_store_postgres::PostgresOptions> {
        let mut options = paystate_store_postgres::PostgresOptions::from_url(&self.url)?;
        if let Some(max) = self.max_connections {
            anyhow::ensure!(max > 0, "--db-max-connections must be at least 1");
            options.max_connections = max;
        }
        if let Some(ms) = self.statement_timeout_ms {
            options.statement_timeout = std::time::Duration::from_millis(ms);
        }
        if let Some(max) = self.max_batch {
            anyhow::ensure!(max > 0, "--db-max-batch must be at least 1");
            options.max_batch = max;
        }
        Ok(options)
    }
}

impl Settings {
    pub fn load(path: Option<&std::path::Path>) -> Result<Self> {
        let Some(path) = path else { return Ok(Settings::default()) };
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid settings in {}", path.display()))
    }
}

/// The SQLite file a command works on; PostgreSQL has its own tools for it (`pg_dump`).
pub fn sqlite_path(database: &Database, command: &str) -> Result<std::path::PathBuf> {
    if is_postgres(&database.url) {
        anyhow::bail!(
            "paystate {command} works on SQLite files; back up and restore PostgreSQL with pg_dump and pg_restore (see the README)"
        );
    }
    Ok(paystate_store_sqlite::SqliteOptions::from_url(&database.url)?.path)
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Who opens the store.
#[derive(Clone, Copy, Debug)]
pub enum Role {
    /// `paystate serve`: on SQLite it holds the file's server lock (one server per file) and
    /// keeps payments in memory for reads, up to `payment_cache_mb` MB.
    Server { payment_cache_mb: usize },
    /// The CLI and webhook workers, which may run beside a server.
    Tool,
}

/// Opens the store the URL names, applying migrations.
pub async fn open_store(database: &Database, role: Role) -> Result<Arc<dyn Store>> {
    let url = database.url.as_str();
    if is_postgres(url) {
        let options = database.postgres_options()?;
        let store = paystate_store_postgres::PostgresStore::open(options)
            .await
            .context("cannot open the PostgreSQL database")?;
        Ok(Arc::new(store))
    } else {
        let mut options = paystate_store_sqlite::SqliteOptions::from_url(url)?;
        if let Role::Server { payment_cache_mb } = role {
            options.serving = Some(paystate_store_sqlite::Serving::with_payment_cache_mb(payment_cache_mb));
        }
        let path = options.path.display().to_string();
        let store = paystate_store_sqlite::SqliteStore::open(options)
            .await
            .with_context(|| format!("cannot open the SQLite database {path}"))?;
        Ok(Arc::new(store))
    }
}

/// Applies pending migrations; answers the schema version.
pub async fn migrate(database: &Database) -> Result<i64> {
    let url = database.url.as_str();
    if is_postgres(url) {
        let options = database.postgres_options()?;
        Ok(paystate_store_postgres::PostgresStore::migrate_only(options)
            .await
            .context("cannot migrate the PostgreSQL database")?)
    } else {
        let options = paystate_store_sqlite::SqliteOptions::from_url(url)?;
        Ok(paystate_store_sqlite::SqliteStore::migrate_only(options)
            .await
            .context("cannot migrate the SQLite database")?)
    }
}

/// The key that seals webhook secrets: `PAYSTATE_SEALING_KEY`, or a key file created on first
/// use next to the SQLite database (`paystate.sealing-key`), or in the working directory for
/// PostgreSQL, where several instances must instead share `PAYSTATE_SEALING_KEY`.
pub fn sealing_key(database_url: &str) -> Result<paystate_webhooks::SealingKey> {
    use paystate_webhooks::sealing::KeyOrigin;
    let file = if is_postgres(database_url) {
        std::path::PathBuf::from(KEY_FILE)
    } else {
        let options = paystate_store_sqlite::SqliteOptions::from_url(database_url)?;
        match options.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join(KEY_FILE),
            _ => std::path::PathBuf::from(KEY_FILE),
        }
    };
    let (key, origin) = paystate_webhooks::SealingKey::load(&file).context("cannot load the sealing key")?;
    match origin {
        KeyOrigin::Environment => tracing::debug!("the sealing key comes from PAYSTATE_SEALING_KEY"),
        KeyOrigin::NewFile(path) => tracing::info!(
            path = %path.display(),
            "created a sealing key file for webhook secrets; keep it (and back it up) with the database"
        ),
        KeyOrigin::File(path) => tracing::debug!(path = %path.display(), "read the sealing key file"),
    }
    if is_postgres(database_url) && std::env::var_os(paystate_webhooks::sealing::SEALING_KEY_VARIABLE).is_none() {
        tracing::warn!(
            "the sealing key is a local file; instances sharing this PostgreSQL database must all set the same PAYSTATE_SEALING_KEY"
        );
    }
    Ok(key)
}

const KEY_FILE: &str = "paystate.sealing-key";
