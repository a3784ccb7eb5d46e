//! paystate-http's integration tests: each starts the real server on port 0 over a fresh
//! database (SQLite; PostgreSQL too when `PAYSTATE_TEST_POSTGRES_URL` is set).

mod helpers;

mod audit;
mod bad_input;
mod concurrency;
mod credentials;
mod dialect_gormic;
mod dialect_gormic_revisions;
mod dialect_norce;
mod dialect_omnicasa;
mod dialect_schemas;
mod dialect_teljoy;
mod dialect_teljoy_plugins;
mod idempotency;
mod isolation;
mod native;
mod ops;
mod refund_cap;
mod schema_agreement;
mod slow_clients;
mod status_machine;
mod stream;
mod webhooks;
