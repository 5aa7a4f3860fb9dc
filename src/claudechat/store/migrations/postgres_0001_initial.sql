-- Conversations, append-only messages (with the figures of their path), summaries, and
-- full-text search on a generated tsvector with a GIN index. Message content is `json`,
-- not `jsonb`: it keeps the key order of tool inputs exactly as the model sent them, so a
-- resumed history is byte-for-byte the one that was cached.

CREATE TABLE conversations (
    id          TEXT PRIMARY KEY,
    title       TEXT,
    created_at  DOUBLE PRECISION NOT NULL,
    updated_at  DOUBLE PRECISION NOT NULL,
    head_id     TEXT,
    version     BIGINT NOT NULL DEFAULT 0,
    model       TEXT,
    system      TEXT,
    metadata    JSONB NOT NULL DEFAULT '{}'
);

CREATE INDEX conversations_by_update ON conversations (updated_at DESC, id DESC);

CREATE TABLE messages (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    parent_id       TEXT REFERENCES messages (id),
    role            TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content         JSON NOT NULL,
    text            TEXT NOT NULL DEFAULT '',
    model           TEXT,
    usage           JSONB,
    stop_reason     TEXT,
    status          TEXT NOT NULL CHECK (status IN ('complete', 'partial', 'error')),
    created_at      DOUBLE PRECISION NOT NULL,
    metadata        JSONB NOT NULL DEFAULT '{}',
    path_messages   BIGINT NOT NULL,
    path_turns      BIGINT NOT NULL,
    path_tokens     BIGINT NOT NULL,
    path_cost_usd   DOUBLE PRECISION NOT NULL,
    path_unpriced   BIGINT NOT NULL,
    tsv             TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED
);

CREATE INDEX messages_by_parent ON messages (parent_id);
CREATE INDEX messages_by_conversation ON messages (conversation_id, seq);
CREATE INDEX messages_text_search ON messages USING GIN (tsv);

CREATE TABLE summaries (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    text            TEXT NOT NULL,
    first_id        TEXT NOT NULL REFERENCES messages (id),
    last_id         TEXT NOT NULL REFERENCES messages (id),
    created_at      DOUBLE PRECISION NOT NULL,
    model           TEXT,
    tokens          BIGINT,
    metadata        JSONB NOT NULL DEFAULT '{}'
);

CREATE INDEX summaries_by_conversation ON summaries (conversation_id, seq);
