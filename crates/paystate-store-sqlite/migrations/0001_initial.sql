-- The ledger: tenants, keys, orders, payments, methods, the event trail and idempotency records.
-- Payments, orders and methods keep their full record as a JSON document (`doc`) beside the
-- columns that queries filter, sort or constrain on; times are UTC RFC 3339 with microseconds,
-- so text order is time order.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    settings    TEXT NOT NULL,
    event_seq   INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    secret_hash  BLOB NOT NULL,
    scope        TEXT NOT NULL,
    dialect      TEXT,
    label        TEXT,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    revoked_at   TEXT
) STRICT;
CREATE INDEX api_keys_by_tenant ON api_keys(tenant_id, id);

CREATE TABLE orders (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    reference   TEXT NOT NULL,
    state       TEXT NOT NULL,
    version     INTEGER NOT NULL,
    doc         TEXT NOT NULL,
    UNIQUE (tenant_id, reference)
) STRICT;
CREATE INDEX orders_by_tenant ON orders(tenant_id, id);

CREATE TABLE payment_methods (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    code        TEXT NOT NULL,
    doc         TEXT NOT NULL,
    UNIQUE (tenant_id, code)
) STRICT;

CREATE TABLE payments (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    order_id      TEXT NOT NULL REFERENCES orders(id),
    external_id   TEXT,
    status        TEXT NOT NULL,
    needs_review  INTEGER NOT NULL,
    deleted       INTEGER NOT NULL,
    version       INTEGER NOT NULL,
    doc           TEXT NOT NULL,
    UNIQUE (tenant_id, external_id)
) STRICT;
CREATE INDEX payments_by_tenant ON payments(tenant_id, id);
CREATE INDEX payments_by_order ON payments(order_id, id);

CREATE TABLE events (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    seq           INTEGER NOT NULL,
    type          TEXT NOT NULL,
    payment_id    TEXT,
    order_id      TEXT NOT NULL,
    source        TEXT NOT NULL,
    actor         TEXT NOT NULL,
    request_id    TEXT NOT NULL,
    request_body  TEXT,
    data          TEXT NOT NULL,
    detail        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    UNIQUE (tenant_id, seq)
) STRICT;
CREATE INDEX events_by_payment ON events(tenant_id, payment_id, seq);

CREATE TABLE idempotency_keys (
    tenant_id     TEXT NOT NULL,
    key           TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    status        INTEGER,
    content_type  TEXT,
    body          BLOB,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, key)
) STRICT;
CREATE INDEX idempotency_keys_by_age ON idempotency_keys(created_at);
