//! Placeholder replaced by the norce dialect's tests.
