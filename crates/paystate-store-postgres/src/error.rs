//! How PostgreSQL failures become [`StoreError`]s, and the checks that keep values PostgreSQL
//! cannot store (NUL bytes) from reaching it at all.

use paystate_store::StoreError;

/// Unique constraints by name (see `migrations/0001_initial.sql`) and the field each one guards.
/// The constraint name is the reliable part of a unique violation; its message is for humans.
const UNIQUE_FIELDS: &[(&str, &str)] = &[
    ("orders_unique_reference", "reference"),
    ("payments_unique_external_id", "external_id"),
    ("payment_methods_unique_code", "code"),
    ("idempotency_keys_unique_key", "key"),
    ("console_users_unique_email", "email"),
];

/// Maps a sqlx error to a store error.
///
/// Unique violations name their field; contention and timeouts answer [`StoreError::Busy`]
/// (the caller may retry); values PostgreSQL refuses answer [`StoreError::InvalidValue`] with a
/// fixed text, never the value; anything else is [`StoreError::Backend`] for the server log.
pub fn map_error(error: sqlx::Error) -> StoreError {
    if ends_connection(&error) {
        // The connection is gone (a restart, a failover, a network cut): worth retrying.
        return StoreError::Busy;
    }
    if let sqlx::Error::Database(db) = &error {
        let code = db.code();
        match code.as_deref() {
            Some("23505") => {
                let field = db
                    .constraint()
                    .and_then(|name| UNIQUE_FIELDS.iter().find(|(constraint, _)| *constraint == name))
                    .map(|(_, field)| *field);
                if let Some(field) = field {
                    return StoreError::Duplicate(field);
                }
            }
            // serialization_failure, deadlock_detected, lock_not_available (lock_timeout),
            // query_canceled (statement_timeout): all say "try again later".
            Some("40001" | "40P01" | "55P03" | "57014") => return StoreError::Busy,
            // character_not_in_repertoire (a NUL in text), untranslatable_character (a
            // \u0000 escape in JSONB).
            Some("22021" | "22P05") => {
                return StoreError::InvalidValue("a text contains a character PostgreSQL cannot store (NUL)".into());
            }
            Some("22003") => {
                return StoreError::InvalidValue("a number is out of range".into());
            }
            Some("22001") => return StoreError::InvalidValue("a text is too long".into()),
            _ => {}
        }
    }
    StoreError::Backend(error.to_string())
}

/// Whether the error leaves the connection unusable: an I/O error, or the server ending the
/// session (class 08, connection exception; class 57P, operator intervention such as a shutdown
/// or an idle-session timeout).
pub(crate) fn ends_connection(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}

/// Refuses texts with a NUL byte before they reach PostgreSQL: TEXT cannot hold one, and the
/// server's refusal would also abort the whole transaction.
pub(crate) fn check_text(field: &'static str, value: &str) -> Result<(), StoreError> {
    if value.contains('\0') {
        return Err(StoreError::InvalidValue(format!("{field} contains a NUL byte")));
    }
    Ok(())
}

pub(crate) fn check_opt_text(field: &'static str, value: Option<&str>) -> Result<(), StoreError> {
    value.map_or(Ok(()), |value| check_text(field, value))
}

/// Serializes a JSON document, refusing one that holds a NUL character anywhere (in a string or
/// a key). serde_json writes NUL as the escape `\u0000`, which JSONB refuses.
pub(crate) fn json_text<T: serde::Serialize + ?Sized>(field: &'static str, value: &T) -> Result<String, StoreError> {
    let text =
        serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("cannot serialize {field}: {e}")))?;
    if has_nul_escape(&text) {
        return Err(StoreError::InvalidValue(format!("{field} contains a NUL character")));
    }
    Ok(text)
}

/// Whether serialized JSON holds a `\u0000` escape. Backslashes only occur in escapes, so
/// skipping the character after each one keeps an escaped backslash followed by `u0000` (a
/// literal text, not a NUL) from matching.
fn has_nul_escape(json: &str) -> bool {
    let bytes = json.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if bytes[i + 1..].starts_with(b"u0000") {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// Removes every secret (a URL's password) from a text bound for an error or a log.
pub(crate) fn redact(text: String, secrets: &[String]) -> String {
    secrets.iter().filter(|secret| !secret.is_empty()).fold(text, |text, secret| {
        if text.contains(secret.as_str()) { text.replace(secret.as_str(), "***") } else { text }
    })
}

/// The password of a PostgreSQL URL, as written and percent-decoded, from its user info or a
/// `password=` query parameter.
pub(crate) fn url_secrets(url: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if let Some((userinfo, _)) = authority.rsplit_once('@')
        && let Some((_, password)) = userinfo.split_once(':')
    {
        secrets.push(password.to_owned());
    }
    if let Some((_, query)) = rest.split_once('?') {
        for pair in query.split(['&', '#']) {
            if let Some(("password", value)) = pair.split_once('=') {
                secrets.push(value.to_owned());
            }
        }
    }
    // sqlx decodes the user info with percent-decoding and the query as a form (`+` is a space).
    let decoded: Vec<String> =
        secrets.iter().flat_map(|s| [percent_decode(s, false), percent_decode(s, true)]).collect();
    secrets.extend(decoded);
    secrets.retain(|s| !s.is_empty());
    secrets.sort();
    secrets.dedup();
    // Longest first, so that a secret containing another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets
}

fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The URL with its password replaced by `***`, for Debug output and logs.
pub(crate) fn redact_url(url: &str) -> String {
    redact(url.to_owned(), &url_secrets(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_escapes_are_found_and_escaped_backslashes_are_not() {
        assert!(has_nul_escape(&serde_json::json!({"a": "x\0y"}).to_string()));
        assert!(has_nul_escape(&serde_json::json!({"k\0": 1}).to_string()));
        assert!(!has_nul_escape(&serde_json::json!({"a": "\\u0000"}).to_string()));
        assert!(!has_nul_escape(&serde_json::json!({"a": "\u{1}\\"}).to_string()));
    }

    #[test]
    fn passwords_are_found_and_redacted() {
        let url = "postgres://app:s%40cret@db:5432/pay?sslmode=require&password=other";
        let secrets = url_secrets(url);
        assert!(secrets.contains(&"s%40cret".to_owned()));
        assert!(secrets.contains(&"s@cret".to_owned()));
        assert!(secrets.contains(&"other".to_owned()));
        let text = redact(format!("failed: {url} / s@cret"), &secrets);
        assert!(!text.contains("cret") && !text.contains("other"), "{text}");
        assert_eq!(redact_url("postgres://app@db/pay"), "postgres://app@db/pay");
    }
}
