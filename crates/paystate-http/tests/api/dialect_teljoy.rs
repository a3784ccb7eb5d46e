//! Placeholder replaced by the teljoy dialect's tests.
