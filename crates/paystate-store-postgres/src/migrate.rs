//! Embedded migrations and the schema version table: applied in order under an advisory lock,
//! so `paystate migrate` and starting instances may run at once; a newer schema is refused.
//!
//! The version lives in a one-row table `paystate_schema(version)` rather than sqlx's
//! `_sqlx_migrations`: "is the schema newer than this build?" is then one integer comparison,
//! and an operator can read (or, in a test, bump) it by hand.

use crate::error::map_error;
use paystate_store::{StoreError, StoreResult};
use sqlx::{Connection, PgConnection};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_initial.sql")),
    (2, include_str!("../migrations/0002_webhooks.sql")),
    (3, include_str!("../migrations/0003_idempotency_answers.sql")),
    (4, include_str!("../migrations/0004_event_stream.sql")),
    (5, include_str!("../migrations/0005_console.sql")),
    (6, include_str!("../migrations/0006_transaction_refs.sql")),
];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// The advisory lock every migrator takes: "paystate" in ASCII, so it is recognisable in
/// `pg_locks` and unlikely to collide with another application's key.
const MIGRATION_LOCK: i64 = 0x7061_7973_7461_7465;

/// Brings the schema up to [`SCHEMA_VERSION`] in one transaction; returns it.
pub(crate) async fn migrate(conn: &mut PgConnection) -> StoreResult<i64> {
    let mut tx = conn.begin().await.map_err(map_error)?;
    // A migration may rewrite large tables, and waiting for another migrator is expected: the
    // pool's statement timeout must not cut either short. The setting ends with the transaction.
    sqlx::query("SET LOCAL statement_timeout = 0").execute(&mut *tx).await.map_err(map_error)?;
    // Released at COMMIT or ROLLBACK, so a crashed migrator cannot leave it held.
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(MIGRATION_LOCK).execute(&mut *tx).await.map_err(map_error)?;

    // Checked before creating: CREATE TABLE IF NOT EXISTS needs the CREATE privilege even when the
    // table exists, and a serving role that only reads and writes rows may lack it.
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('paystate_schema') IS NOT NULL")
        .fetch_one(&mut *tx)
        .await
        .map_err(map_error)?;
    if !exists {
        sqlx::raw_sql(
            "CREATE TABLE paystate_schema (
                 singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
                 version   BIGINT NOT NULL
             );
             INSERT INTO paystate_schema (version) VALUES (0);",
        )
        .execute(&mut *tx)
        .await
        .map_err(map_error)?;
    }
    let current: i64 =
        sqlx::query_scalar("SELECT version FROM paystate_schema").fetch_one(&mut *tx).await.map_err(map_error)?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew { found: current, known: SCHEMA_VERSION });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(version, _)| *version > current) {
        sqlx::raw_sql(*sql).execute(&mut *tx).await.map_err(map_error)?;
        sqlx::query("UPDATE paystate_schema SET version = $1")
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        tracing::info!(version, "applied PostgreSQL migration");
    }
    tx.commit().await.map_err(map_error)?;
    Ok(SCHEMA_VERSION)
}
