-- The memory tool's files: a /memories tree per user, shared by all of the user's
-- conversations (conversation_id NULL) or kept to one conversation. A row is a file
-- (content is its text) or a directory (content NULL); `path` is below /memories with no
-- leading slash ('notes/coffee.md'). A conversation's own tree goes with it.

CREATE TABLE memories (
    owner           TEXT NOT NULL,
    conversation_id TEXT REFERENCES conversations (id) ON DELETE CASCADE,
    path            TEXT NOT NULL,
    content         TEXT,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL
);

CREATE UNIQUE INDEX memories_by_path ON memories (owner, COALESCE(conversation_id, ''), path);
