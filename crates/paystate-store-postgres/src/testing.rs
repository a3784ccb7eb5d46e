//! Throw-away databases for tests against a real PostgreSQL server: each test creates its own
//! uniquely named database on the server and drops it afterwards, so tests run in parallel and
//! leave nothing behind. Used by this crate's tests and by the API tests of other crates.

use crate::error::{redact, url_secrets};
use crate::map_error;
use paystate_store::{StoreError, StoreResult};
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::str::FromStr;

/// The environment variable that names the server tests may create databases on, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres`. Tests skip when it is unset.
pub const TEST_URL_VARIABLE: &str = "PAYSTATE_TEST_POSTGRES_URL";

/// The server URL from [`TEST_URL_VARIABLE`], or `None` (having said on stderr that `test` is
/// skipped) when unset.
pub fn test_server_url(test: &str) -> Option<String> {
    match std::env::var(TEST_URL_VARIABLE) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            // Written to stderr directly: the test harness captures `eprintln!` of passing tests,
            // and a skip must be seen.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: PostgreSQL tests need {TEST_URL_VARIABLE} (e.g. postgres://postgres@127.0.0.1:5432/postgres)"
            );
            None
        }
    }
}

/// A database created for one test; [`TestDatabase::drop_database`] removes it.
#[derive(Debug)]
pub struct TestDatabase {
    /// The URL of the new database: the server URL with its database name replaced.
    pub url: String,
    /// The new database's name, `paystate_test_` and 32 hex digits.
    pub name: String,
    server_url: String,
}

impl TestDatabase {
    /// Creates a fresh, empty database on the server `base_url` points at (any database of it
    /// the user may connect to; the user needs CREATEDB).
    pub async fn create(base_url: &str) -> StoreResult<Self> {
        let unique = paystate_domain::TenantId::generate();
        let name = format!("paystate_test_{}", &unique.as_str()[paystate_domain::TenantId::PREFIX.len()..]);
        // The name is ours (a fixed prefix and hex digits), so splicing it into SQL is safe.
        admin(base_url, format!("CREATE DATABASE \"{name}\"")).await?;
        Ok(Self { url: with_database(base_url, &name), name, server_url: base_url.to_owned() })
    }

    /// Updates the planner's statistics (and the visibility map) of every table, as PostgreSQL's
    /// autovacuum would within a minute of a bulk load: for a benchmark that measures right after
    /// filling the database.
    pub async fn vacuum_analyze(&self) -> StoreResult<()> {
        admin(&self.url, "VACUUM ANALYZE".to_owned()).await
    }

    /// Drops the database, ending any connection still open to it (PostgreSQL 13 or later).
    pub async fn drop_database(self) -> StoreResult<()> {
        admin(&self.server_url, format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)).await
    }
}

/// Runs one statement on its own connection to the server. CREATE and DROP DATABASE refuse to
/// run inside a transaction, so it goes as a simple query, outside any.
async fn admin(server_url: &str, sql: String) -> StoreResult<()> {
    let secrets = url_secrets(server_url);
    let options = PgConnectOptions::from_str(server_url)
        .map_err(|e| StoreError::InvalidValue(redact(format!("the PostgreSQL URL is invalid: {e}"), &secrets)))?;
    let mut conn = PgConnection::connect_with(&options).await.map_err(|e| {
        StoreError::Backend(redact(format!("cannot connect to the PostgreSQL test server: {e}"), &secrets))
    })?;
    let result = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await.map(drop).map_err(map_error);
    let _ = conn.close().await;
    result
}

/// `url` with its path (the database name) replaced by `database`; user, password, host and
/// query parameters stay as they were.
fn with_database(url: &str, database: &str) -> String {
    let (before_query, query) = match url.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (url, None),
    };
    let authority_start = before_query.find("://").map_or(0, |i| i + 3);
    let server = match before_query[authority_start..].find('/') {
        Some(slash) => &before_query[..authority_start + slash],
        None => before_query,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_is_replaced() {
        assert_eq!(with_database("postgres://u:p@h:5432/postgres", "x"), "postgres://u:p@h:5432/x");
        assert_eq!(with_database("postgresql://h", "x"), "postgresql://h/x");
        assert_eq!(with_database("postgres://h/db?sslmode=require", "x"), "postgres://h/x?sslmode=require");
        assert_eq!(with_database("postgres://h?sslmode=disable", "x"), "postgres://h/x?sslmode=disable");
    }
}
