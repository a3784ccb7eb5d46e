//! How SQLite's errors become store errors: busy and locked are [`StoreError::Busy`] (retryable),
//! a unique violation names the field it is about, anything else is a backend failure.

use paystate_store::StoreError;

/// Maps a SQLite error to a store error; unique violations name the field they are about.
pub(crate) fn map_error(error: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(failure, message) = &error {
        match failure.code {
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => return StoreError::Busy,
            rusqlite::ErrorCode::ConstraintViolation => {
                let message = message.as_deref().unwrap_or_default();
                for field in ["reference", "external_id", "code", "key", "email"] {
                    if message.starts_with("UNIQUE") && message.contains(&format!(".{field}")) {
                        return StoreError::Duplicate(field);
                    }
                }
            }
            _ => {}
        }
    }
    StoreError::Backend(error.to_string())
}
