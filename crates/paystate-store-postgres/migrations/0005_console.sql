-- The operator console: its users and their sessions, kept in the database so that every
-- instance serving one database knows them. A session row holds the SHA-256 of its token only
-- (the browser's cookie holds the token), and a user row an argon2id hash, never a password.
-- The unique constraint's name is how the store maps a violation to its field (src/error.rs).

CREATE TABLE console_users (
    id             TEXT COLLATE "C" PRIMARY KEY,
    tenant_id      TEXT COLLATE "C" NOT NULL REFERENCES tenants(id),
    -- Lowercased by the ledger before it is stored, so uniqueness ignores case.
    email          TEXT NOT NULL,
    role           TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    disabled_at    TIMESTAMPTZ,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    CONSTRAINT console_users_unique_email UNIQUE (tenant_id, email)
);
-- Sign-in looks a person up by address alone (the tenant is not typed in).
CREATE INDEX console_users_by_email ON console_users(email);

CREATE TABLE console_sessions (
    token_hash     BYTEA PRIMARY KEY,
    tenant_id      TEXT COLLATE "C" NOT NULL REFERENCES tenants(id),
    user_id        TEXT COLLATE "C" NOT NULL REFERENCES console_users(id),
    created_at     TIMESTAMPTZ NOT NULL,
    last_seen_at   TIMESTAMPTZ NOT NULL,
    revoked_at     TIMESTAMPTZ
);
CREATE INDEX console_sessions_by_user ON console_sessions(user_id);
CREATE INDEX console_sessions_by_age ON console_sessions(created_at);

-- The overview counts payments per status and the last 24 hours of events per source and type;
-- these indexes hold every column those counts read, so they never touch the rows themselves.
-- `deleted` comes last so that lists by tenant and id keep preferring payments_by_tenant.
CREATE INDEX payments_by_status ON payments(tenant_id, status, needs_review, deleted);
CREATE INDEX events_by_time ON events(tenant_id, created_at, source, type);
