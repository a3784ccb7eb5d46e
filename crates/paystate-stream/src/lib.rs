//! paystate's event stream: every event of a tenant, in `seq` order, to consumers beyond webhooks.
//!
//! The events table is the log: each event is numbered per tenant, gap-free, in commit order,
//! inside the transaction that makes the change. Two readers follow it:
//!
//! - live readers (the native API's Server-Sent Events) read `events after SEQ` again whenever
//!   [`signal::CommitSignal`] says this process committed for their tenant, and at a bounded
//!   interval for commits of other processes;
//! - the [`publisher`] hands every event to NATS JetStream, keeping a per-tenant cursor of the
//!   last acknowledged `seq` in the database (a transactional outbox read by position), leased so
//!   that several instances never publish one tenant at once.

pub mod metrics;
pub mod nats;
pub mod publisher;
pub mod signal;

pub use metrics::StreamMetrics;
pub use publisher::{DEFAULT_STREAM, Publisher, PublisherConfig};
pub use signal::{CommitSignal, SignallingStore};
