//! Snapshots of the tenant's set-up records for the audit trail, written field by field so that
//! a secret, a password or a hash of either can never slip into an event.

use paystate_store::{ApiKeyRecord, UserRecord};
use serde_json::{Value, json};

/// An API key as its events show it: never the secret or its hash.
pub fn key(record: &ApiKeyRecord) -> Value {
    json!({
        "id": record.id,
        "scope": record.scope.as_str(),
        "dialect": record.dialect,
        "label": record.label,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "revoked_at": record.revoked_at,
    })
}

/// A console user as their events show them: never the password hash.
pub fn user(record: &UserRecord) -> Value {
    json!({
        "id": record.id,
        "email": record.email,
        "role": record.role,
        "disabled_at": record.disabled_at,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    })
}
