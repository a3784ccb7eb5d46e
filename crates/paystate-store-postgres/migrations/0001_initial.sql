-- The ledger: tenants, keys, orders, payments, methods, the event trail and idempotency records.
-- The same tables as the SQLite store. Payments, orders and methods keep their full record as a
-- JSON document (`doc`, JSONB) beside the columns that queries filter, sort or constrain on.
-- Ids use the "C" collation: they sort bytewise, as in SQLite, so cursor pagination
-- (`id > $after ORDER BY id`) means the same on every backend and host locale.
-- Unique constraints carry explicit names: the store maps a violation to the field it guards
-- by that name (see src/error.rs), so rename them only together.

CREATE TABLE tenants (
    id          TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT NOT NULL,
    settings    JSONB NOT NULL,
    -- The last event number handed out; bumped by each event in the writing transaction.
    event_seq   BIGINT NOT NULL DEFAULT 0,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT COLLATE "C" PRIMARY KEY,
    tenant_id    TEXT COLLATE "C" NOT NULL REFERENCES tenants(id),
    secret_hash  BYTEA NOT NULL,
    scope        TEXT NOT NULL,
    dialect      TEXT,
    label        TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX api_keys_by_tenant ON api_keys(tenant_id, id);

CREATE TABLE orders (
    id          TEXT COLLATE "C" PRIMARY KEY,
    tenant_id   TEXT COLLATE "C" NOT NULL REFERENCES tenants(id),
    reference   TEXT NOT NULL,
    state       TEXT NOT NULL,
    version     BIGINT NOT NULL,
    doc         JSONB NOT NULL,
    CONSTRAINT orders_unique_reference UNIQUE (tenant_id, reference)
);
CREATE INDEX orders_by_tenant ON orders(tenant_id, id);

CREATE TABLE payment_methods (
    id          TEXT COLLATE "C" PRIMARY KEY,
    tenant_id   TEXT COLLATE "C" NOT NULL REFERENCES tenants(id),
    code        TEXT NOT NULL,
    doc         JSONB NOT NULL,
    CONSTRAINT payment_methods_unique_code UNIQUE (tenant_id, code)
);

CREATE TABLE payments (
    id            TEXT COLLATE "C" PRIMARY KEY,
    tenant_id     TEXT COLLATE "C" NOT NULL REFERENCES tenants(id),
    order_id      TEXT COLLATE "C" NOT NULL REFERENCES orders(id),
    external_id   TEXT,
    status        TEXT NOT NULL,
    needs_review  BOOLEAN NOT NULL,
    deleted       BOOLEAN NOT NULL,
    version       BIGINT NOT NULL,
    doc           JSONB NOT NULL,
    -- NULLs are distinct: any number of payments may lack an external id.
    CONSTRAINT payments_unique_external_id UNIQUE (tenant_id, external_id)
);
CREATE INDEX payments_by_tenant ON payments(tenant_id, id);
CREATE INDEX payments_by_order ON payments(order_id, id);

CREATE TABLE events (
    id            TEXT COLLATE "C" PRIMARY KEY,
    tenant_id     TEXT COLLATE "C" NOT NULL REFERENCES tenants(id),
    seq           BIGINT NOT NULL,
    type          TEXT NOT NULL,
    payment_id    TEXT COLLATE "C",
    order_id      TEXT COLLATE "C" NOT NULL,
    source        TEXT NOT NULL,
    actor         TEXT NOT NULL,
    request_id    TEXT NOT NULL,
    request_body  TEXT,
    data          JSONB NOT NULL,
    detail        JSONB NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    CONSTRAINT events_unique_seq UNIQUE (tenant_id, seq)
);
CREATE INDEX events_by_payment ON events(tenant_id, payment_id, seq);

CREATE TABLE idempotency_keys (
    tenant_id     TEXT COLLATE "C" NOT NULL,
    key           TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    status        INTEGER,
    content_type  TEXT,
    body          BYTEA,
    created_at    TIMESTAMPTZ NOT NULL,
    CONSTRAINT idempotency_keys_unique_key PRIMARY KEY (tenant_id, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys(created_at);
