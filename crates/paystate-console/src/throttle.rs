//! Login throttling, in the memory of each process: at most [`PER_ACCOUNT`] failed sign-ins per
//! address (e-mail) and [`PER_CLIENT`] per client IP within [`WINDOW`]; past that, sign-in is
//! refused for the rest of the window without checking the password.
//!
//! Kept per instance on purpose: it needs no write per attempt, and argon2's cost already bounds
//! guessing; with N instances behind a balancer an attacker gets at most N times the budget.
//! The IP is the socket's peer: behind a proxy every client shares the proxy's, so the
//! per-account limit is the one that holds.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const PER_ACCOUNT: u32 = 5;
pub const PER_CLIENT: u32 = 30;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// A bound on memory under a flood of made-up addresses: the table starts over past it.
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Throttle {
    /// Whether another attempt for this account from this client may be checked now.
    pub fn allows(&self, account: &str, client: &str) -> bool {
        let Ok(mut table) = self.failures.lock() else { return true };
        let now = Instant::now();
        table.retain(|_, (_, since)| now.duration_since(*since) < WINDOW);
        let count = |key: String| table.get(&key).map_or(0, |(n, _)| *n);
        count(format!("account:{account}")) < PER_ACCOUNT && count(format!("client:{client}")) < PER_CLIENT
    }

    pub fn failed(&self, account: &str, client: &str) {
        let Ok(mut table) = self.failures.lock() else { return };
        if table.len() > MAX_ENTRIES {
            table.clear();
        }
        let now = Instant::now();
        for key in [format!("account:{account}"), format!("client:{client}")] {
            table.entry(key).or_insert((0, now)).0 += 1;
        }
    }

    /// A successful sign-in clears the account's count (not the client's).
    pub fn succeeded(&self, account: &str) {
        if let Ok(mut table) = self.failures.lock() {
            table.remove(&format!("account:{account}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_locked_after_its_failures_and_freed_by_success() {
        let throttle = Throttle::default();
        for _ in 0..PER_ACCOUNT {
            assert!(throttle.allows("ana@shop.example", "10.0.0.1"));
            throttle.failed("ana@shop.example", "10.0.0.1");
        }
        assert!(!throttle.allows("ana@shop.example", "10.0.0.2"), "per account, from anywhere");
        assert!(throttle.allows("bob@shop.example", "10.0.0.1"));
        throttle.succeeded("ana@shop.example");
        assert!(throttle.allows("ana@shop.example", "10.0.0.1"));
    }
}
