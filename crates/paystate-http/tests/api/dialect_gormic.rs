//! Placeholder replaced by the gormic dialect's tests.
