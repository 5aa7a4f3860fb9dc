-- Turns (units) with a tsvector of their tokenized terms under a GIN index, their length
-- in terms (for BM25), and one float32 vector per unit. IF NOT EXISTS: a database made
-- before numbered migrations has these tables already and keeps its rows.

CREATE TABLE IF NOT EXISTS search_units (
    seq             BIGSERIAL UNIQUE,
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    message_ids     TEXT NOT NULL,
    speaker         TEXT NOT NULL DEFAULT '',
    created_at      TEXT,
    text            TEXT NOT NULL,
    key             TEXT NOT NULL,
    terms           TSVECTOR NOT NULL,
    length          INTEGER NOT NULL DEFAULT 0,
    embedding_model TEXT,
    embedding       BYTEA
);

CREATE INDEX IF NOT EXISTS search_units_terms ON search_units USING GIN (terms);
CREATE INDEX IF NOT EXISTS search_units_conversation ON search_units (conversation_id);
