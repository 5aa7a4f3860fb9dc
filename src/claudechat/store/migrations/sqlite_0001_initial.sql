-- Conversations, append-only messages (with the figures of their path), summaries, FTS5.

CREATE TABLE conversations (
    id          TEXT PRIMARY KEY,
    title       TEXT,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    head_id     TEXT,
    version     INTEGER NOT NULL DEFAULT 0,
    model       TEXT,
    system      TEXT,
    metadata    TEXT NOT NULL DEFAULT '{}'
);

CREATE INDEX conversations_by_update ON conversations (updated_at DESC, id DESC);

CREATE TABLE messages (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    parent_id       TEXT REFERENCES messages (id),
    role            TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content         TEXT NOT NULL,
    text            TEXT NOT NULL DEFAULT '',
    model           TEXT,
    usage           TEXT,
    stop_reason     TEXT,
    status          TEXT NOT NULL CHECK (status IN ('complete', 'partial', 'error')),
    created_at      REAL NOT NULL,
    metadata        TEXT NOT NULL DEFAULT '{}',
    path_messages   INTEGER NOT NULL,
    path_turns      INTEGER NOT NULL,
    path_tokens     INTEGER NOT NULL,
    path_cost_usd   REAL NOT NULL,
    path_unpriced   INTEGER NOT NULL
);

CREATE INDEX messages_by_parent ON messages (parent_id);
CREATE INDEX messages_by_conversation ON messages (conversation_id, seq);

CREATE TABLE summaries (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    text            TEXT NOT NULL,
    first_id        TEXT NOT NULL REFERENCES messages (id),
    last_id         TEXT NOT NULL REFERENCES messages (id),
    created_at      REAL NOT NULL,
    model           TEXT,
    tokens          INTEGER,
    metadata        TEXT NOT NULL DEFAULT '{}'
);

CREATE INDEX summaries_by_conversation ON summaries (conversation_id, seq);

CREATE VIRTUAL TABLE messages_fts USING fts5 (
    text,
    content = 'messages',
    content_rowid = 'seq',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.seq, new.text);
END;

CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.seq, old.text);
END;

CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.seq, old.text);
    INSERT INTO messages_fts (rowid, text) VALUES (new.seq, new.text);
END;
