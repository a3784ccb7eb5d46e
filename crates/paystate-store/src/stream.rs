//! Cursors of the event stream's sinks (NATS JetStream).
//!
//! The events table is the outbox: a sink needs no row per event, only, per tenant, the `seq` of
//! the last event it acknowledged. Because events are numbered gap-free in commit order, "events
//! after the cursor" are exactly the ones the sink still owes, and the tenants' counters
//! (`event_seq`) say at a glance which tenants have any. A publisher leases a tenant's cursor
//! (a lease time and a token, like webhook deliveries' claims) so that several instances never
//! publish one tenant at the same time, and moves it only after the sink acknowledged.

use paystate_domain::{TenantId, Timestamp};

/// A tenant a publisher holds for one lease, with where its cursor stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamClaim {
    pub tenant_id: TenantId,
    /// The `seq` of the last event the sink acknowledged (0: none yet).
    pub acked_seq: i64,
    /// Proves the lease when the cursor moves; a cursor claimed again after the lease ran out
    /// has another token.
    pub lease_token: String,
}

/// What a sink still owes, across tenants: for the publisher's gauges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamBacklog {
    /// Events after the sink's cursors.
    pub pending: u64,
    /// When the oldest of them was committed.
    pub oldest_pending_at: Option<Timestamp>,
}
