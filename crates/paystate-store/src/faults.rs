//! Fault injection for tests: a store can be told to lose the answers of its next commits, as a
//! process that dies right after COMMIT and before it answers would. The change is durable, the
//! caller hears only an error, and a retry must find the change done rather than do it again.
//!
//! Nothing in the binary arms it; tests hand a [`FaultInjection`] to a store's options and arm it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// Shared between a test and the store it opened. Disarmed by default.
#[derive(Clone, Debug, Default)]
pub struct FaultInjection(Arc<AtomicU32>);

impl FaultInjection {
    /// The next `commits` commits (each batch of jobs commits once) answer every caller with
    /// [`crate::StoreError::Backend`] after they are durable.
    pub fn lose_answers_after_commit(&self, commits: u32) {
        self.0.store(commits, Ordering::SeqCst);
    }

    /// Called by a backend after each successful commit: true when this commit's answers are lost.
    pub fn answer_lost(&self) -> bool {
        self.0.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(1)).is_ok()
    }
}

/// The error callers of a commit whose answers were lost receive.
pub fn lost_answer() -> crate::StoreError {
    crate::StoreError::Backend("injected fault: the commit succeeded but its answer was lost".into())
}
