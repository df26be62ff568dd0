-- llm-proxy schema, SQLite dialect. Keep in step with migrations/postgres/V1__init.sql.
-- UUIDs are TEXT (hyphenated, lower case); timestamps are INTEGER microseconds since the Unix
-- epoch (UTC); booleans are INTEGER 0/1; JSON is TEXT.

CREATE TABLE projects (
    id             TEXT    PRIMARY KEY NOT NULL,
    name           TEXT    NOT NULL UNIQUE,
    is_active      INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    deactivated_at INTEGER,
    rate_limit_rpm INTEGER CHECK (rate_limit_rpm >= 0),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

-- Provider API keys, AES-256-GCM (12-byte nonce || ciphertext || tag). Never stored in clear.
CREATE TABLE project_provider_keys (
    project_id TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    provider   TEXT    NOT NULL,
    ciphertext BLOB    NOT NULL,
    key_hint   TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, provider)
) WITHOUT ROWID;

CREATE TABLE tokens (
    id             TEXT    PRIMARY KEY NOT NULL,
    project_id     TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    -- SHA-256 hex of the secret; the secret itself is never stored.
    token_hash     TEXT    NOT NULL UNIQUE,
    obfuscated     TEXT    NOT NULL,
    expires_at     INTEGER,
    is_active      INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    deactivated_at INTEGER,
    max_requests   INTEGER CHECK (max_requests >= 0),
    request_count  INTEGER NOT NULL DEFAULT 0 CHECK (request_count >= 0),
    rate_limit_rpm INTEGER CHECK (rate_limit_rpm >= 0),
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER
);
CREATE INDEX tokens_project_created_idx ON tokens (project_id, created_at DESC, id DESC);
CREATE INDEX tokens_created_idx ON tokens (created_at DESC, id DESC);
CREATE INDEX tokens_active_expiry_idx ON tokens (expires_at) WHERE is_active = 1;
CREATE INDEX tokens_deactivated_idx ON tokens (deactivated_at) WHERE is_active = 0;

-- No foreign keys: the audit trail outlives pruned tokens.
CREATE TABLE audit_events (
    id         TEXT    PRIMARY KEY NOT NULL,
    timestamp  INTEGER NOT NULL,
    action     TEXT    NOT NULL,
    actor      TEXT    NOT NULL,
    project_id TEXT,
    token_id   TEXT,
    request_id TEXT,
    client_ip  TEXT,
    outcome    TEXT    NOT NULL CHECK (outcome IN ('success', 'failure')),
    reason     TEXT,
    metadata   TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_timestamp_idx ON audit_events (timestamp DESC, id DESC);
CREATE INDEX audit_events_project_idx ON audit_events (project_id, timestamp DESC);
CREATE INDEX audit_events_token_idx ON audit_events (token_id, timestamp DESC);
CREATE INDEX audit_events_action_idx ON audit_events (action, timestamp DESC);
CREATE INDEX audit_events_request_idx ON audit_events (request_id);

-- Hourly usage ledger. A request without a token is recorded under the nil UUID and a request
-- without a model under '' so both can be part of the primary key.
CREATE TABLE usage_hourly (
    project_id        TEXT    NOT NULL,
    token_id          TEXT    NOT NULL,
    provider          TEXT    NOT NULL,
    model             TEXT    NOT NULL,
    hour              INTEGER NOT NULL,
    requests          INTEGER NOT NULL DEFAULT 0,
    errors            INTEGER NOT NULL DEFAULT 0,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, token_id, provider, model, hour)
) WITHOUT ROWID;
CREATE INDEX usage_hourly_hour_idx ON usage_hourly (hour);
CREATE INDEX usage_hourly_token_idx ON usage_hourly (token_id, hour);

-- Event ids already counted, so a redelivered event never counts twice.
CREATE TABLE usage_events_seen (
    event_id    TEXT    PRIMARY KEY NOT NULL,
    occurred_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX usage_events_seen_occurred_idx ON usage_events_seen (occurred_at);
