-- The event stream's sinks (NATS JetStream): per sink and tenant, the seq of the last event the
-- sink acknowledged, and the lease of the publisher that holds the tenant. The events table is
-- the outbox; this cursor says how far along it each sink is.

CREATE TABLE event_stream_cursors (
    sink         TEXT NOT NULL,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    acked_seq    INTEGER NOT NULL DEFAULT 0,
    lease_until  TEXT,
    lease_token  TEXT,
    -- When a publisher last claimed the tenant: the least recently served go first.
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (sink, tenant_id)
) STRICT;
