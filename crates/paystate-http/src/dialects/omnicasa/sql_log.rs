//! `IsWriteLogSQL`: a request of either route may ask for the SQL statements it ran to be written
//! to the server log. A layer over both routes notes every statement of the request, from its
//! first extractor (the credential check included) to its answer; the handler writes them when
//! the request asked for it.

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use paystate_store::StatementLog;
use std::convert::Infallible;

/// The layer: runs the request inside a [`StatementLog`] scope of its own.
pub async fn note_statements(mut request: Request, next: Next) -> Response {
    let statements = StatementLog::new();
    request.extensions_mut().insert(statements.clone());
    statements.scope(next.run(request)).await
}

/// The statements of this request so far, for the handler to write when asked.
pub struct SqlLog {
    statements: StatementLog,
    request_id: String,
}

impl<S: Send + Sync> FromRequestParts<S> for SqlLog {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        // Outside the layer (never on Omnicasa's routes) the log stays empty.
        let statements = parts.extensions.get::<StatementLog>().cloned().unwrap_or_default();
        Ok(SqlLog { statements, request_id: crate::auth::request_id(parts) })
    }
}

impl SqlLog {
    /// Writes the statements run so far when the request asked for it (`IsWriteLogSQL`).
    pub fn write_if(&self, asked: bool) {
        if asked {
            write(&self.statements, &self.request_id);
        }
    }
}

/// `IsWriteLogSQL`: the statements this request ran, as templates whose parameters are
/// placeholders (the values are never logged), at info level with the request id.
fn write(statements: &StatementLog, request_id: &str) {
    let statements = statements.statements();
    tracing::info!(
        request_id = %request_id,
        count = statements.len(),
        "Omnicasa IsWriteLogSQL: the SQL statements of this request follow"
    );
    for (index, sql) in statements.iter().enumerate() {
        tracing::info!(
            request_id = %request_id,
            n = index + 1,
            sql = %sql,
            parameters = %redacted_parameters(sql),
            "Omnicasa IsWriteLogSQL"
        );
    }
}

/// How the parameters of a statement appear in the log: counted, never shown.
fn redacted_parameters(sql: &str) -> String {
    let bytes = sql.as_bytes();
    let mut highest = 0u32;
    for (index, byte) in bytes.iter().enumerate() {
        if matches!(byte, b'?' | b'$') {
            let digits: String =
                bytes[index + 1..].iter().take_while(|b| b.is_ascii_digit()).map(|&b| b as char).collect();
            highest = highest.max(digits.parse().unwrap_or(0));
        }
    }
    if highest == 0 { "none".into() } else { format!("{highest} redacted") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_counted_never_shown() {
        assert_eq!(redacted_parameters("SELECT doc FROM orders WHERE tenant_id = ?1 AND reference = ?2"), "2 redacted");
        assert_eq!(redacted_parameters("UPDATE t SET a = $3 WHERE id = $1 AND v = $12 - 1"), "12 redacted");
        assert_eq!(redacted_parameters("COMMIT"), "none");
    }
}
