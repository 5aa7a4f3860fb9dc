-- The turn lease: the writer that holds a conversation's next turn, until when (store clock).
-- A writer claims it before storing a user message or sending a request, and releases it
-- when the turn ends; an expired lease is free, so a crashed writer blocks nobody for long.

ALTER TABLE conversations ADD COLUMN lease_owner TEXT;
ALTER TABLE conversations ADD COLUMN lease_expires REAL;
