-- Users of the service and what belongs to them. Every conversation has an owner; those
-- made before users existed belong to the default user `local` (the CLI's). Secrets are
-- never stored in clear: API keys and session tokens as their SHA-256, passwords as
-- argon2id hashes. Spend rows are reserved before a turn and settled after it, so several
-- workers enforce one limit. `stop_requested` asks the worker holding the turn to stop.

ALTER TABLE conversations
    ADD COLUMN owner TEXT NOT NULL DEFAULT 'local',
    ADD COLUMN stop_requested BOOLEAN NOT NULL DEFAULT FALSE;

CREATE INDEX conversations_by_owner ON conversations (owner, updated_at DESC, id DESC);

CREATE TABLE users (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL UNIQUE,
    created_at         DOUBLE PRECISION NOT NULL,
    is_admin           BOOLEAN NOT NULL DEFAULT FALSE,
    password_hash      TEXT,
    usd_per_day        DOUBLE PRECISION,
    usd_per_month      DOUBLE PRECISION,
    concurrent_streams INTEGER
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key_hash     TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_at   DOUBLE PRECISION NOT NULL,
    last_used_at DOUBLE PRECISION,
    revoked_at   DOUBLE PRECISION
);

CREATE INDEX api_keys_by_user ON api_keys (user_id, created_at);

CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);

CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);

CREATE TABLE spend (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    conversation_id TEXT,
    usd             DOUBLE PRECISION NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('reserved', 'settled')),
    created_at      DOUBLE PRECISION NOT NULL
);

CREATE INDEX spend_by_user ON spend (user_id, created_at);
CREATE INDEX spend_by_time ON spend (created_at);

INSERT INTO users (id, name, created_at, is_admin)
VALUES ('local', 'local', extract(epoch FROM clock_timestamp())::DOUBLE PRECISION, FALSE);
