//! An opt-in record of the SQL statements a request runs, for API surfaces whose callers may ask
//! to see them in the server log (a vendor API's "log the SQL of this call" debug flag).
//!
//! A handler runs its work inside [`StatementLog::scope`]. A backend looks up
//! [`StatementLog::current`] when a job starts (on the task that asked for the job, before it
//! hands the job to another thread) and notes every statement it runs for that job, transaction
//! control included, until the job ends. Only statement templates are noted: placeholders
//! (`?1`, `$1`), never the values bound to them, so nothing a caller sent reaches the log.
//! Outside a scope nothing is recorded and the cost is one thread-local lookup per job.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// The statements noted so far, shared by the handler that reads them and the backend that
/// fills them.
#[derive(Clone, Debug, Default)]
pub struct StatementLog(Arc<Mutex<Vec<String>>>);

thread_local! {
    static CURRENT: RefCell<Option<StatementLog>> = const { RefCell::new(None) };
}

impl StatementLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes one statement template.
    pub fn note(&self, sql: &str) {
        if let Ok(mut statements) = self.0.lock() {
            statements.push(sql.to_owned());
        }
    }

    /// The statements noted so far, in the order they ran.
    pub fn statements(&self) -> Vec<String> {
        self.0.lock().map(|statements| statements.clone()).unwrap_or_default()
    }

    /// The log of the scope the calling code runs in, if any.
    pub fn current() -> Option<StatementLog> {
        CURRENT.with(|current| current.borrow().clone())
    }

    /// Runs `future` with this log as [`StatementLog::current`] whenever it is polled.
    pub fn scope<F: Future>(self, future: F) -> Scoped<F> {
        Scoped { log: self, future: Box::pin(future) }
    }
}

/// A future running inside a [`StatementLog`] scope; see [`StatementLog::scope`].
pub struct Scoped<F> {
    log: StatementLog,
    future: Pin<Box<F>>,
}

/// Restores the previous scope when a poll ends, a panicking one included.
struct Restore(Option<StatementLog>);

impl Drop for Restore {
    fn drop(&mut self) {
        let previous = self.0.take();
        CURRENT.with(|current| *current.borrow_mut() = previous);
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let previous = CURRENT.with(|current| current.borrow_mut().replace(self.log.clone()));
        let _restore = Restore(previous);
        self.future.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scope_is_visible_while_polled_and_only_then() {
        let log = StatementLog::new();
        assert!(StatementLog::current().is_none());
        let seen = futures::executor::block_on(log.clone().scope(async {
            let inner = StatementLog::current().expect("inside the scope");
            inner.note("SELECT 1");
            let nested = StatementLog::new();
            nested.clone().scope(async { StatementLog::current().unwrap().note("SELECT 2") }).await;
            StatementLog::current().unwrap().note("SELECT 3");
            nested.statements()
        }));
        assert_eq!(seen, ["SELECT 2"]);
        assert_eq!(log.statements(), ["SELECT 1", "SELECT 3"]);
        assert!(StatementLog::current().is_none());
    }
}
