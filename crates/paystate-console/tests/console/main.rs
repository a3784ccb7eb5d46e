//! The console end to end: a real paystate server on port 0 over a fresh database (SQLite, and
//! PostgreSQL when `PAYSTATE_TEST_POSTGRES_URL` is set), driven over HTTP and in headless Chromium.

mod audit;
mod browser;
mod corrections;
mod endpoints;
mod export;
mod feed;
mod helpers;
mod page_times;
mod security;
mod settings;
