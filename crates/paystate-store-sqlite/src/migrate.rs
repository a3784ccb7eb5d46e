//! Embedded migrations, applied at start-up in order; an unknown newer schema is refused.

use crate::error::map_error;
use paystate_store::{StoreError, StoreResult};
use rusqlite::Connection;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_webhook_migration_keeps_the_events_and_frees_order_id() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0].1).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute_batch(
            "INSERT INTO tenants (id, name, settings, created_at, updated_at) VALUES ('ten_1', 'T', '{}', 'x', 'x');
             INSERT INTO events (id, tenant_id, seq, type, payment_id, order_id, source, actor, request_id, request_body,
                 data, detail, created_at)
             VALUES ('evt_1', 'ten_1', 1, 'order.created', NULL, 'ord_1', 'cli', 'cli', 'r', NULL, '{}', '{}', 'x');",
        )
        .unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), SCHEMA_VERSION);
        let order: String = conn.query_row("SELECT order_id FROM events WHERE id = 'evt_1'", [], |r| r.get(0)).unwrap();
        assert_eq!(order, "ord_1");
        conn.execute(
            "INSERT INTO events (id, tenant_id, seq, type, order_id, source, actor, request_id, data, detail, created_at)
             VALUES ('evt_2', 'ten_1', 2, 'webhook_endpoint.disabled', NULL, 'system', 'system', 'r', '{}', '{}', 'x')",
            [],
        )
        .unwrap();
        let duplicate = conn.execute(
            "INSERT INTO events (id, tenant_id, seq, type, order_id, source, actor, request_id, data, detail, created_at)
             VALUES ('evt_3', 'ten_1', 2, 'order.created', 'ord_1', 'cli', 'cli', 'r', '{}', '{}', 'x')",
            [],
        );
        assert!(duplicate.is_err(), "(tenant_id, seq) stays unique");
        let indexes: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'events_by_payment'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexes, 1);
    }
}
