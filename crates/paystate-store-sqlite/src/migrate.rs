//! Embedded migrations, applied at start-up in order; an unknown newer schema is refused.

use crate::conn::map_error;
use paystate_store::{StoreError, StoreResult};
use rusqlite::Connection;

const MIGRATIONS: &[(i64, &str)] =
    &[(1, include_str!("../migrations/0001_initial.sql")), (2, include_str!("../migrations/0002_webhooks.sql"))];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Brings the schema up to [`SCHEMA_VERSION`]; returns it.
pub fn migrate(conn: &mut Connection) -> StoreResult<i64> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(map_error)?;
    let current: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(map_error)?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew { found: current, known: SCHEMA_VERSION });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(version, _)| *version > current) {
        tx.execute_batch(sql).map_err(map_error)?;
        tx.pragma_update(None, "user_version", version).map_err(map_error)?;
        tracing::info!(version, "applied SQLite migration");
    }
    tx.commit().map_err(map_error)?;
    Ok(SCHEMA_VERSION)
}
