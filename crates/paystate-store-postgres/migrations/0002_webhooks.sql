-- Outgoing webhooks: endpoints with sealed secrets, the outbox of deliveries and their attempts.
-- Events about a webhook endpoint belong to no order, so events.order_id becomes nullable.

ALTER TABLE events ALTER COLUMN order_id DROP NOT NULL;

CREATE TABLE webhook_endpoints (
    id                   TEXT COLLATE "C" PRIMARY KEY,
    tenant_id            TEXT COLLATE "C" NOT NULL REFERENCES tenants(id),
    url                  TEXT NOT NULL,
    -- A JSON array of event types, or ["*"].
    events               JSONB NOT NULL,
    description          TEXT,
    enabled              BOOLEAN NOT NULL,
    disabled_reason      TEXT,
    disabled_at          TIMESTAMPTZ,
    failing_since        TIMESTAMPTZ,
    -- Sealed (XChaCha20-Poly1305) signing secrets: never stored in clear.
    secret               BYTEA NOT NULL,
    previous_secret      BYTEA,
    previous_expires_at  TIMESTAMPTZ,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_endpoints_by_tenant ON webhook_endpoints(tenant_id, id);

CREATE TABLE webhook_deliveries (
    id               TEXT COLLATE "C" PRIMARY KEY,
    tenant_id        TEXT COLLATE "C" NOT NULL,
    endpoint_id      TEXT COLLATE "C" NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id         TEXT COLLATE "C" NOT NULL,
    event_type       TEXT NOT NULL,
    -- The exact body every attempt sends (TEXT, not JSONB, which would reorder its keys).
    payload          TEXT NOT NULL,
    state            TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    step             INTEGER NOT NULL,
    next_attempt_at  TIMESTAMPTZ,
    last_attempt_at  TIMESTAMPTZ,
    lease_until      TIMESTAMPTZ,
    lease_token      TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries(endpoint_id, id);
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries(tenant_id, event_id);
-- The dispatchers' queue: only pending deliveries, by due time.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE state = 'pending';

CREATE TABLE webhook_attempts (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id       TEXT COLLATE "C" NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    at                TIMESTAMPTZ NOT NULL,
    status_code       INTEGER,
    latency_ms        INTEGER NOT NULL,
    response_excerpt  TEXT,
    error             TEXT
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts(delivery_id, id);
