-- Outgoing webhooks: endpoints with sealed secrets, the outbox of deliveries and their attempts.
-- Events about a webhook endpoint belong to no order, so events.order_id becomes nullable;
-- SQLite cannot drop a NOT NULL constraint in place, so the table is rebuilt with its rows.

CREATE TABLE events_new (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    seq           INTEGER NOT NULL,
    type          TEXT NOT NULL,
    payment_id    TEXT,
    order_id      TEXT,
    source        TEXT NOT NULL,
    actor         TEXT NOT NULL,
    request_id    TEXT NOT NULL,
    request_body  TEXT,
    data          TEXT NOT NULL,
    detail        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    UNIQUE (tenant_id, seq)
) STRICT;
INSERT INTO events_new SELECT id, tenant_id, seq, type, payment_id, order_id, source, actor, request_id,
    request_body, data, detail, created_at FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_by_payment ON events(tenant_id, payment_id, seq);

CREATE TABLE webhook_endpoints (
    id                   TEXT PRIMARY KEY,
    tenant_id            TEXT NOT NULL REFERENCES tenants(id),
    url                  TEXT NOT NULL,
    -- A JSON array of event types, or ["*"].
    events               TEXT NOT NULL,
    description          TEXT,
    enabled              INTEGER NOT NULL,
    disabled_reason      TEXT,
    disabled_at          TEXT,
    failing_since        TEXT,
    -- Sealed (XChaCha20-Poly1305) signing secrets: never stored in clear.
    secret               BLOB NOT NULL,
    previous_secret      BLOB,
    previous_expires_at  TEXT,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
) STRICT;
CREATE INDEX webhook_endpoints_by_tenant ON webhook_endpoints(tenant_id, id);

CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id         TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    payload          TEXT NOT NULL,
    state            TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    step             INTEGER NOT NULL,
    next_attempt_at  TEXT,
    last_attempt_at  TEXT,
    lease_until      TEXT,
    lease_token      TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
) STRICT;
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries(endpoint_id, id);
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries(tenant_id, event_id);
-- The dispatchers' queue: only pending deliveries, by due time.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE state = 'pending';

CREATE TABLE webhook_attempts (
    id                INTEGER PRIMARY KEY,
    delivery_id       TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    at                TEXT NOT NULL,
    status_code       INTEGER,
    latency_ms        INTEGER NOT NULL,
    response_excerpt  TEXT,
    error             TEXT
) STRICT;
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts(delivery_id, id);
