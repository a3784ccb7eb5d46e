//! Placeholder replaced by the omnicasa dialect's tests.
