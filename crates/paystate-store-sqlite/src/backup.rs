//! Online backups of a SQLite database, and restoring one.
//!
//! A backup copies the database with SQLite's online backup API in one step, inside one read
//! transaction: a consistent snapshot of everything committed when it began, taken while the
//! server keeps writing (in WAL mode readers and the writer do not block each other). A restore
//! copies a backup over the database the same way, and only while no server serves the file
//! (it takes the file's server lock for the time it runs).

use crate::error::map_error;
use paystate_store::{StoreError, StoreResult};
use rusqlite::backup::Backup;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

/// Copies the database at `database` into a new file `to` (refused when `to` exists).
pub fn backup(database: &Path, to: &Path) -> StoreResult<()> {
    if to.exists() {
        return Err(StoreError::InvalidValue(format!("{} exists; a backup goes to a new file", to.display())));
    }
    if !database.exists() {
        return Err(StoreError::InvalidValue(format!("there is no database at {}", database.display())));
    }
    let source = Connection::open_with_flags(database, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(map_error)?;
    source.busy_timeout(std::time::Duration::from_secs(5)).map_err(map_error)?;
    let mut target = Connection::open(to).map_err(map_error)?;
    copy(&source, &mut target)?;
    // The copy is a plain database file, whatever the source's journal mode.
    target.pragma_update(None, "journal_mode", "DELETE").map_err(map_error)?;
    Ok(())
}

/// Replaces the database at `database` with the backup `from`, while no server serves it.
pub fn restore(database: &Path, from: &Path) -> StoreResult<()> {
    let source = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(map_error)?;
    let version: i64 = source.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(map_error)?;
    if version == 0 {
        return Err(StoreError::InvalidValue(format!("{} is not a paystate database", from.display())));
    }
    if version > crate::SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew { found: version, known: crate::SCHEMA_VERSION });
    }
    let _lock = crate::lock_for_serving(database)?;
    let mut target = Connection::open(database).map_err(map_error)?;
    target.busy_timeout(std::time::Duration::from_secs(5)).map_err(map_error)?;
    copy(&source, &mut target)
}

/// Copies every page of `source` into `target` in one step: one consistent snapshot.
fn copy(source: &Connection, target: &mut Connection) -> StoreResult<()> {
    let backup = Backup::new(source, target).map_err(map_error)?;
    match backup.step(-1).map_err(map_error)? {
        rusqlite::backup::StepResult::Done => Ok(()),
        other => Err(StoreError::Busy).inspect_err(|_| tracing::warn!(?other, "the backup could not finish")),
    }
}
