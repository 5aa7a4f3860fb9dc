-- Each unit names the turn before it in the same session, so that a search can lift a
-- turn whose successor matches (an answer often repeats what it answers). Units indexed
-- before keep '' (no link) until `claudechat reindex`.

ALTER TABLE search_units ADD COLUMN previous TEXT NOT NULL DEFAULT '';
