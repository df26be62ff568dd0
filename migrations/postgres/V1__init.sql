-- llm-proxy schema, Postgres dialect. Keep in step with migrations/sqlite/V1__init.sql.

CREATE TABLE projects (
    id             UUID        PRIMARY KEY,
    name           TEXT        NOT NULL,
    is_active      BOOLEAN     NOT NULL DEFAULT TRUE,
    deactivated_at TIMESTAMPTZ,
    rate_limit_rpm INTEGER     CHECK (rate_limit_rpm >= 0),
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    CONSTRAINT projects_name_key UNIQUE (name)
);

-- Provider API keys, AES-256-GCM (12-byte nonce || ciphertext || tag). Never stored in clear.
CREATE TABLE project_provider_keys (
    project_id UUID        NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    provider   TEXT        NOT NULL,
    ciphertext BYTEA       NOT NULL,
    key_hint   TEXT        NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (project_id, provider)
);

CREATE TABLE tokens (
    id             UUID        PRIMARY KEY,
    project_id     UUID        NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    -- SHA-256 hex of the secret; the secret itself is never stored.
    token_hash     TEXT        NOT NULL,
    obfuscated     TEXT        NOT NULL,
    expires_at     TIMESTAMPTZ,
    is_active      BOOLEAN     NOT NULL DEFAULT TRUE,
    deactivated_at TIMESTAMPTZ,
    max_requests   BIGINT      CHECK (max_requests >= 0),
    request_count  BIGINT      NOT NULL DEFAULT 0 CHECK (request_count >= 0),
    rate_limit_rpm INTEGER     CHECK (rate_limit_rpm >= 0),
    created_at     TIMESTAMPTZ NOT NULL,
    last_used_at   TIMESTAMPTZ,
    CONSTRAINT tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX tokens_project_created_idx ON tokens (project_id, created_at DESC, id DESC);
CREATE INDEX tokens_created_idx ON tokens (created_at DESC, id DESC);
CREATE INDEX tokens_active_expiry_idx ON tokens (expires_at) WHERE is_active;
CREATE INDEX tokens_deactivated_idx ON tokens (deactivated_at) WHERE NOT is_active;

-- No foreign keys: the audit trail outlives pruned tokens.
CREATE TABLE audit_events (
    id         UUID        PRIMARY KEY,
    timestamp  TIMESTAMPTZ NOT NULL,
    action     TEXT        NOT NULL,
    actor      TEXT        NOT NULL,
    project_id UUID,
    token_id   UUID,
    request_id TEXT,
    client_ip  TEXT,
    outcome    TEXT        NOT NULL CHECK (outcome IN ('success', 'failure')),
    reason     TEXT,
    metadata   JSONB       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_events_timestamp_idx ON audit_events (timestamp DESC, id DESC);
CREATE INDEX audit_events_project_idx ON audit_events (project_id, timestamp DESC);
CREATE INDEX audit_events_token_idx ON audit_events (token_id, timestamp DESC);
CREATE INDEX audit_events_action_idx ON audit_events (action, timestamp DESC);
CREATE INDEX audit_events_request_idx ON audit_events (request_id);

-- Hourly usage ledger. A request without a token is recorded under the nil UUID and a request
-- without a model under '' so both can be part of the primary key.
CREATE TABLE usage_hourly (
    project_id        UUID        NOT NULL,
    token_id          UUID        NOT NULL,
    provider          TEXT        NOT NULL,
    model             TEXT        NOT NULL,
    hour              TIMESTAMPTZ NOT NULL,
    requests          BIGINT      NOT NULL DEFAULT 0,
    errors            BIGINT      NOT NULL DEFAULT 0,
    prompt_tokens     BIGINT      NOT NULL DEFAULT 0,
    completion_tokens BIGINT      NOT NULL DEFAULT 0,
    cached_tokens     BIGINT      NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, token_id, provider, model, hour)
);
CREATE INDEX usage_hourly_hour_idx ON usage_hourly (hour);
CREATE INDEX usage_hourly_token_idx ON usage_hourly (token_id, hour);

-- Event ids already counted, so a redelivered event never counts twice.
CREATE TABLE usage_events_seen (
    event_id    UUID        PRIMARY KEY,
    occurred_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX usage_events_seen_occurred_idx ON usage_events_seen (occurred_at);
