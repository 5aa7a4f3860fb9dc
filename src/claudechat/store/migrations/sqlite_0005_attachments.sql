-- Attachments (images, PDFs) stored once by content: a blob row per SHA-256 of the bytes,
-- however many messages carry it. A message's content keeps a reference in place of the
-- base64 data (source type `claudechat_blob`, never sent as is), and `message_blobs` lists
-- what each message references, so a blob no message uses any more can be deleted.

CREATE TABLE blobs (
    sha256     TEXT PRIMARY KEY,
    media_type TEXT NOT NULL,
    size       INTEGER NOT NULL,
    data       BLOB NOT NULL,
    created_at REAL NOT NULL
);

CREATE TABLE message_blobs (
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    sha256     TEXT NOT NULL REFERENCES blobs (sha256),
    PRIMARY KEY (message_id, sha256)
);

CREATE INDEX message_blobs_by_blob ON message_blobs (sha256);
