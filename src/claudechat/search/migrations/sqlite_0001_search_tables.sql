-- Turns (units) with their tokenized terms, an FTS5 index over the terms (bm25() ranks
-- them), and one float32 vector per unit and embedder. IF NOT EXISTS: a database made
-- before numbered migrations has these tables already and keeps its rows.

CREATE TABLE IF NOT EXISTS search_units (
    rowid           INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL,
    message_ids     TEXT NOT NULL,
    speaker         TEXT NOT NULL DEFAULT '',
    created_at      TEXT,
    text            TEXT NOT NULL,
    key             TEXT NOT NULL,
    terms           TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS search_units_conversation ON search_units (conversation_id);

CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5 (
    terms,
    content = 'search_units',
    content_rowid = 'rowid',
    tokenize = 'unicode61'
);

CREATE TABLE IF NOT EXISTS search_vectors (
    unit_rowid  INTEGER PRIMARY KEY,
    model       TEXT NOT NULL,
    dim         INTEGER NOT NULL,
    vector      BLOB NOT NULL
);

CREATE TRIGGER IF NOT EXISTS search_units_ai AFTER INSERT ON search_units BEGIN
    INSERT INTO search_fts (rowid, terms) VALUES (new.rowid, new.terms);
END;

CREATE TRIGGER IF NOT EXISTS search_units_ad AFTER DELETE ON search_units BEGIN
    INSERT INTO search_fts (search_fts, rowid, terms) VALUES ('delete', old.rowid, old.terms);
    DELETE FROM search_vectors WHERE unit_rowid = old.rowid;
END;
